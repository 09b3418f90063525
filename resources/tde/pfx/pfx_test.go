package pfx

import (
	"bytes"
	"crypto/rand"
	"crypto/rc4"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// key is one 2048-bit key for the package's tests (generating is slow).
func key(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	// A copy: DecodePVK's callers wipe their keys.
	der := x509.MarshalPKCS1PrivateKey(testKey)
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// selfSigned is a certificate for k, as CREATE CERTIFICATE makes one.
func selfSigned(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(20260301),
		Subject:      pkix.Name{CommonName: "TDE certificate for payroll"},
		NotBefore:    time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 3, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// encodePVK writes a PVK as the format's documentation describes it (a
// test fixture; the tests below also read what OpenSSL writes). weak uses
// the 40-bit key of old exports.
func encodePVK(t testing.TB, k *rsa.PrivateKey, password string, weak bool) []byte {
	t.Helper()
	k.Precompute()
	bits := k.N.BitLen()
	full, half := bits/8, bits/16
	le := func(n *big.Int, size int) []byte {
		b := n.FillBytes(make([]byte, size))
		for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
		return b
	}
	blob := []byte{0x07, 0x02, 0, 0}
	blob = binary.LittleEndian.AppendUint32(blob, 0xa400)
	blob = append(blob, "RSA2"...)
	blob = binary.LittleEndian.AppendUint32(blob, uint32(bits))
	blob = binary.LittleEndian.AppendUint32(blob, uint32(k.E))
	for _, v := range []struct {
		n    *big.Int
		size int
	}{{k.N, full}, {k.Primes[0], half}, {k.Primes[1], half}, {k.Precomputed.Dp, half}, {k.Precomputed.Dq, half}, {k.Precomputed.Qinv, half}, {k.D, full}} {
		blob = append(blob, le(v.n, v.size)...)
	}
	salt := bytes.Repeat([]byte{0x5a}, 16)
	sum := sha1.Sum(append(append([]byte{}, salt...), password...))
	rk := sum[:16]
	if weak {
		clear(rk[5:])
	}
	c, err := rc4.NewCipher(rk)
	if err != nil {
		t.Fatal(err)
	}
	c.XORKeyStream(blob[8:], blob[8:])
	var out []byte
	for _, v := range []uint32{pvkMagic, 0, 1, 1, uint32(len(salt)), uint32(len(blob))} {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	return append(append(out, salt...), blob...)
}

func TestDecodePVK(t *testing.T) {
	k := key(t)
	good := encodePVK(t, k, "Str0ng-Passw0rd!", false)
	tests := []struct {
		name     string
		data     []byte
		password string
		wantErr  string
	}{
		{"strong key", good, "Str0ng-Passw0rd!", ""},
		{"40-bit key", encodePVK(t, k, "Str0ng-Passw0rd!", true), "Str0ng-Passw0rd!", ""},
		{"wrong password", good, "Wr0ng-Passw0rd!", "password does not decrypt"},
		{"empty", nil, "Some-Passw0rd!", "shorter than"},
		{"not a PVK", bytes.Repeat([]byte{1}, 64), "Some-Passw0rd!", "not a PVK"},
		{"truncated", good[:len(good)-10], "Str0ng-Passw0rd!", "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePVK(tt.data, []byte(tt.password))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.password) {
					t.Errorf("the error names the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(k) {
				t.Error("decoded key differs from the encoded one")
			}
		})
	}
	if _, err := DecodePVK(good, []byte("Wr0ng-Passw0rd!")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v, want ErrWrongPassword", err)
	}
	// The input is left as it was: the caller zeroes it.
	if !bytes.Equal(good, encodePVKCopy(good)) {
		t.Error("DecodePVK changed its input")
	}
}

func encodePVKCopy(b []byte) []byte { return append([]byte(nil), b...) }

func TestWipeKey(t *testing.T) {
	k := key(t)
	k.Precompute()
	WipeKey(k)
	for name, v := range map[string]*big.Int{"D": k.D, "P": k.Primes[0], "Q": k.Primes[1], "Dp": k.Precomputed.Dp, "Qinv": k.Precomputed.Qinv} {
		if v.Sign() != 0 {
			t.Errorf("%s not wiped", name)
		}
	}
	WipeKey(nil)
}

func TestBuildRoundTrip(t *testing.T) {
	k := key(t)
	der := selfSigned(t, k)
	out, err := Build(der, k, "One-time-Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	pk, cert, err := pkcs12.Decode(out, "One-time-Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Raw, der) || !pk.(*rsa.PrivateKey).Equal(k) {
		t.Error("the PFX does not hold the certificate and key given")
	}
	if _, _, err := pkcs12.Decode(out, "wrong"); err == nil {
		t.Error("the PFX opens with a wrong password")
	}
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(der, other, "x"); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("foreign key: %v", err)
	}
	if _, err := Build([]byte("junk"), k, "x"); err == nil {
		t.Error("junk certificate accepted")
	}
	if _, err := Build(der, k, ""); err == nil {
		t.Error("empty password accepted")
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		pw, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != PasswordLen || !hasEach(pw, lower, upper, digits, symbols) {
			t.Fatalf("password %q lacks a class or length", pw)
		}
		if bytes.ContainsAny(pw, `'"\ `) {
			t.Fatalf("password %q holds a character needing escapes", pw)
		}
		if seen[string(pw)] {
			t.Fatal("a password repeated")
		}
		seen[string(pw)] = true
	}
	if _, err := newPassword(bytes.NewReader(nil)); err == nil {
		t.Error("no error from an empty random source")
	}
}

// openssl returns the path of the openssl binary, or skips.
func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("MILINK_REQUIRE_OPENSSL") != "" {
			t.Fatal("openssl not on PATH, and MILINK_REQUIRE_OPENSSL is set")
		}
		t.Skip("openssl not on PATH (Debian: openssl)")
	}
	return p
}

func run(t *testing.T, dir, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return out
}

// A PFX milink builds is read by OpenSSL: the same certificate and key.
func TestOpenSSLReadsPFX(t *testing.T) {
	bin := openssl(t)
	dir := t.TempDir()
	k := key(t)
	der := selfSigned(t, k)
	pw, err := NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Build(der, k, string(pw))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.pfx"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), pw, 0o600); err != nil {
		t.Fatal(err)
	}
	info := run(t, dir, bin, "pkcs12", "-info", "-in", "c.pfx", "-passin", "file:pw", "-noout")
	// The legacy encoding, which Azure's import accepts.
	if !strings.Contains(string(info), "pbeWithSHA1And3-KeyTripleDES-CBC") {
		t.Errorf("not the 3DES encoding:\n%s", info)
	}
	pemOut := run(t, dir, bin, "pkcs12", "-in", "c.pfx", "-passin", "file:pw", "-nodes")
	var gotCert []byte
	var gotKey any
	for rest := pemOut; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			gotCert = b.Bytes
		case "PRIVATE KEY":
			gotKey, err = x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(gotCert, der) {
		t.Error("openssl read another certificate")
	}
	if rk, ok := gotKey.(*rsa.PrivateKey); !ok || !rk.Equal(k) {
		t.Error("openssl read another key")
	}
	if err := exec.Command(bin, "pkcs12", "-in", filepath.Join(dir, "c.pfx"), "-passin", "pass:wrong", "-noout").Run(); err == nil {
		t.Error("openssl opened the PFX with a wrong password")
	}
}

// A key OpenSSL writes in PVK form decodes to the same key.
func TestDecodeOpenSSLPVK(t *testing.T) {
	bin := openssl(t)
	dir := t.TempDir()
	k := key(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "Open-SSL-Passw0rd!"
	for _, strength := range []string{"-pvk-strong", "-pvk-weak"} {
		t.Run(strength, func(t *testing.T) {
			out := filepath.Join(dir, strength+".pvk")
			// RC4 is in OpenSSL 3's legacy provider.
			args := []string{"rsa", "-in", "k.pem", "-outform", "PVK", strength, "-passout", "pass:" + pw, "-out", out}
			cmd := exec.Command(bin, append(args, "-provider", "legacy", "-provider", "default")...)
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				// OpenSSL 1.1 has no providers.
				if msg2, err2 := exec.Command(bin, args...).CombinedOutput(); err2 != nil {
					t.Fatalf("openssl: %v\n%s\n%s", err, msg, msg2)
				}
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodePVK(data, []byte(pw))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(k) {
				t.Error("decoded key differs from the one OpenSSL wrote")
			}
			if _, err := DecodePVK(data, []byte("Wr0ng!")); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}

func FuzzDecodePVK(f *testing.F) {
	k := key(f)
	f.Add(encodePVK(f, k, "pw", false), "pw")
	f.Add(encodePVK(f, k, "pw", true), "pw")
	f.Add([]byte{0x1e, 0xf1, 0xb5, 0xb0}, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		in := append([]byte(nil), data...)
		got, err := DecodePVK(data, []byte(password))
		if !bytes.Equal(in, data) {
			t.Fatal("DecodePVK changed its input")
		}
		if err == nil && (got == nil || got.Validate() != nil) {
			t.Fatal("no error, but no valid key")
		}
	})
}
