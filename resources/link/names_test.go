package link

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"github.com/milink/milink/resources/azure"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDefaultCertificateName(t *testing.T) {
	tests := []struct{ server, want string }{
		{"sql01", "Cert_sql01_endpoint"},
		{`SQL01\PAYROLL`, "Cert_SQL01_PAYROLL_endpoint"},
		{`a\b\c`, "Cert_a_b_c_endpoint"},
		{"it's", "Cert_it's_endpoint"},
		{"", "Cert__endpoint"},
		{"tab\there", "Cert_tab_here_endpoint"},
		{strings.Repeat("x", 200), "Cert_" + strings.Repeat("x", 114) + "_endpoint"},
		{strings.Repeat("é", 200), "Cert_" + strings.Repeat("é", 114) + "_endpoint"},
	}
	for _, tt := range tests {
		got := DefaultCertificateName(tt.server)
		if got != tt.want {
			t.Errorf("DefaultCertificateName(%q) = %q, want %q", tt.server, got, tt.want)
		}
		if msg := CheckCertificateName(got); msg != "" {
			t.Errorf("DefaultCertificateName(%q) = %q, which is not a valid name: %s", tt.server, got, msg)
		}
	}
}

func TestLinkDefaultNames(t *testing.T) {
	if DefaultAGName("payroll") != "AG_payroll" || DefaultMIAGName("payroll") != "AG_payroll_MI" || DefaultDAGName("payroll") != "payroll" {
		t.Errorf("%s %s %s", DefaultAGName("payroll"), DefaultMIAGName("payroll"), DefaultDAGName("payroll"))
	}
}

func TestCheckCertificateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"Cert_sql01_endpoint", true},
		{"mi01.0123456789ab.database.windows.net", true},
		{`SQL01\PAYROLL`, false},
		{"", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"bad\x00name", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := CheckCertificateName(tt.name) == ""; got != tt.ok {
			t.Errorf("CheckCertificateName(%q) ok = %v, want %v (%s)", tt.name, got, tt.ok, CheckCertificateName(tt.name))
		}
	}
}

func FuzzDefaultCertificateName(f *testing.F) {
	for _, s := range []string{"sql01", `HOST\INST`, "", `\\`, "\xff\xfe", strings.Repeat("\\é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, server string) {
		got := DefaultCertificateName(server)
		if strings.ContainsRune(got, '\\') {
			t.Fatalf("%q holds a backslash", got)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 128 {
			t.Fatalf("%q is not a sysname", got)
		}
		if !strings.HasPrefix(got, "Cert_") || !strings.HasSuffix(got, "_endpoint") {
			t.Fatalf("%q lost its prefix or suffix", got)
		}
		if msg := CheckCertificateName(got); msg != "" {
			t.Fatalf("%q: %s", got, msg)
		}
		if got != DefaultCertificateName(server) {
			t.Fatal("not deterministic")
		}
	})
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		err  bool
	}{
		{"0x0A1b", []byte{0x0a, 0x1b}, false},
		{"0X0a1B", []byte{0x0a, 0x1b}, false},
		{"0a1b", []byte{0x0a, 0x1b}, false},
		{"  0x0A1B\n", []byte{0x0a, 0x1b}, false},
		{"0x", nil, true},
		{"", nil, true},
		{"0xABC", nil, true},
		{"0xZZ", nil, true},
		{"0x 0A", nil, true},
		{"x0A", nil, true},
	}
	for _, tt := range tests {
		got, err := azure.ParseHexBlob(tt.in)
		if (err != nil) != tt.err || !bytes.Equal(got, tt.want) {
			t.Errorf("azure.ParseHexBlob(%q) = %x, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, azure.ErrHex) {
			t.Errorf("azure.ParseHexBlob(%q): %v is not azure.ErrHex", tt.in, err)
		}
	}
}

func FuzzParseHex(f *testing.F) {
	for _, s := range []string{"0x0A1B", "0a1b", "0X", "zz", " 0xff ", "0x0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := azure.ParseHexBlob(s)
		if err != nil {
			return
		}
		if len(b) == 0 {
			t.Fatalf("%q: empty result without an error", s)
		}
		// What it read is what the hex says, whatever the case or prefix.
		trimmed := strings.TrimSpace(s)
		trimmed = strings.TrimPrefix(strings.TrimPrefix(trimmed, "0x"), "0X")
		want, err := hex.DecodeString(strings.ToLower(trimmed))
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%q: %x, hex says %x (%v)", s, b, want, err)
		}
		// And it reads back what FormatHex writes.
		again, err := azure.ParseHexBlob(azure.HexBlob(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%q: round trip %x, %v", s, again, err)
		}
	})
}

func TestNormaliseThumbprint(t *testing.T) {
	const tp = "0x73A5E64A3BFF8316FF0EDCCC618A906E4EAE4D74"
	for _, in := range []string{tp, strings.ToLower(tp), strings.TrimPrefix(tp, "0x"), " " + tp + " "} {
		got, err := NormaliseThumbprint(in)
		if err != nil || got != tp {
			t.Errorf("NormaliseThumbprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"0x0102", "", "0xGG" + strings.Repeat("0", 38)} {
		if _, err := NormaliseThumbprint(in); err == nil {
			t.Errorf("NormaliseThumbprint(%q) accepted", in)
		}
	}
	if !SameThumbprint(tp, strings.ToLower(tp[2:])) || SameThumbprint(tp, "0x01") || SameThumbprint("", "") {
		t.Error("SameThumbprint")
	}
	der := []byte("a certificate")
	s := sha1.Sum(der)
	if !bytes.Equal(azure.Thumbprint(der), s[:]) {
		t.Error("Thumbprint is not the SHA-1 of the DER")
	}
}

func FuzzNormaliseThumbprint(f *testing.F) {
	f.Add("0x73A5E64A3BFF8316FF0EDCCC618A906E4EAE4D74")
	f.Add("73a5e64a3bff8316ff0edccc618a906e4eae4d74")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormaliseThumbprint(s)
		if err != nil {
			return
		}
		if len(got) != 42 || !strings.HasPrefix(got, "0x") || strings.ToUpper(got[2:]) != got[2:] {
			t.Fatalf("%q → %q", s, got)
		}
		if again, err := NormaliseThumbprint(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
	})
}

func TestURLs(t *testing.T) {
	if got := EndpointURL("10.0.0.4", 5022); got != "TCP://10.0.0.4:5022" {
		t.Error(got)
	}
	if got := EndpointURL("::1", 5023); got != "TCP://[::1]:5023" {
		t.Error(got)
	}
	if got := MIListenerURL("mi01.abc.database.windows.net", "mi01"); got != "tcp://mi01.abc.database.windows.net:5022;Server=[mi01]" {
		t.Error(got)
	}
}

// The embedded roots are Azure's: their SHA-1 fingerprints are the
// published ones, and they are the DER of Debian's files when present.
func TestRoots(t *testing.T) {
	want := map[string]struct{ sha1, file string }{
		"MicrosoftPKI": {"73A5E64A3BFF8316FF0EDCCC618A906E4EAE4D74", "Microsoft_RSA_Root_Certificate_Authority_2017.crt"},
		"DigiCertPKI":  {"DF3C24F9BFD666761B268073FE06D1CC8D4F82A4", "DigiCert_Global_Root_G2.crt"},
	}
	roots := Roots()
	if len(roots) != 2 || roots[0].Name != "MicrosoftPKI" {
		t.Fatalf("roots %v", roots)
	}
	for _, r := range roots {
		w := want[r.Name]
		if got := strings.ToUpper(hex.EncodeToString(azure.Thumbprint(r.DER))); got != w.sha1 {
			t.Errorf("%s: SHA-1 %s, want %s", r.Name, got, w.sha1)
		}
		pemBytes, err := os.ReadFile("/usr/share/ca-certificates/mozilla/" + w.file)
		if err != nil {
			continue // not a Debian machine: the fingerprint is the proof
		}
		blk, _ := pem.Decode(pemBytes)
		if blk == nil || !bytes.Equal(blk.Bytes, r.DER) {
			t.Errorf("%s differs from %s", r.Name, w.file)
		}
	}
	roots[0].DER[0] ^= 0xff
	if Roots()[0].DER[0] == roots[0].DER[0] {
		t.Error("Roots hands out the embedded bytes")
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"0d", 0, true},
		{"-1d", 0, false},
		{"d", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseDays(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseDays(%q) = %v, %v", tt.in, got, ok)
		}
	}
}
