package lab_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// tlsConnString is connString with go-mssqldb's encryption parameters.
func tlsConnString(s lab.ServerInfo, params map[string]string) string {
	q := url.Values{}
	q.Set("dial timeout", "2")
	q.Set("connection timeout", "10")
	for k, v := range params {
		q.Set(k, v)
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.User, s.Password),
		Host: net.JoinHostPort(s.Address, strconv.Itoa(s.Port)), RawQuery: q.Encode()}
	return u.String()
}

func selectOne(s lab.ServerInfo, params map[string]string) error {
	db, err := sql.Open("sqlserver", tlsConnString(s, params))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

// TestLabTLS: the lab makes each server a certificate naming its name and
// address (key 0600), lab.json points at it, go-mssqldb verifies it, the
// 2022 profile and the managed instance speak TDS 8.0 while 2019 does not,
// and Force Encryption and "no certificate" refuse what SQL Server refuses.
func TestLabTLS(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{Profile: "2022-rtm-linux", TLS: map[string]lab.TLS{"mi01": {Force: true}}})
	f := l.File()
	sql01, _ := f.Server("sql01")
	mi01, _ := f.Server("mi01")
	if !sql01.TDS8 || !mi01.TDS8 || sql01.ForceEncryption || !mi01.ForceEncryption {
		t.Fatalf("lab.json TLS settings: sql01 %+v, mi01 %+v", sql01, mi01)
	}
	st, err := os.Stat(sql01.CertificateKey)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: mode %v, %v; want 0600", sql01.CertificateKey, st.Mode().Perm(), err)
	}
	data, err := os.ReadFile(sql01.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname(sql01.Address); err != nil {
		t.Errorf("certificate does not name the address: %v", err)
	}
	if err := cert.VerifyHostname("sql01"); err != nil {
		t.Errorf("certificate does not name the server: %v", err)
	}

	verify := map[string]string{"encrypt": "true", "certificate": sql01.Certificate}
	for _, tc := range []struct {
		name    string
		s       lab.ServerInfo
		params  map[string]string
		wantErr string
	}{
		{"sql01 true verified", sql01, verify, ""},
		{"sql01 strict verified", sql01, map[string]string{"encrypt": "strict", "certificate": sql01.Certificate}, ""},
		{"sql01 strict by name", sql01, map[string]string{"encrypt": "strict", "certificate": sql01.Certificate, "hostnameincertificate": "sql01"}, ""},
		{"sql01 wrong name", sql01, map[string]string{"encrypt": "true", "certificate": sql01.Certificate, "hostnameincertificate": "sql02"}, "sql02"},
		{"sql01 unknown CA", sql01, map[string]string{"encrypt": "true"}, "certificate"},
		{"sql01 disable", sql01, map[string]string{"encrypt": "disable"}, ""},
		{"mi01 forced, disable", mi01, map[string]string{"encrypt": "disable"}, "TLS Handshake failed"},
		{"mi01 forced, false", mi01, map[string]string{"encrypt": "false", "certificate": mi01.Certificate}, ""},
	} {
		err := selectOne(tc.s, tc.params)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestLabTLSOffAndRestore: a server started without a certificate cannot
// encrypt; reopening the lab without settings keeps that, and the other
// server's certificate is kept, not remade.
func TestLabTLSOffAndRestore(t *testing.T) {
	t.Parallel()
	l := startLab(t, lab.Config{TLS: map[string]lab.TLS{"sql01": {Off: true}}})
	f := l.File()
	sql01, _ := f.Server("sql01")
	mi01, _ := f.Server("mi01")
	if sql01.Certificate != "" || sql01.TDS8 {
		t.Fatalf("sql01 without a certificate: %+v", sql01)
	}
	if err := selectOne(sql01, map[string]string{"encrypt": "true", "trustservercertificate": "true"}); err == nil || !strings.Contains(err.Error(), "does not support encryption") {
		t.Errorf("encrypt=true against no certificate: %v", err)
	}
	if err := selectOne(sql01, map[string]string{"encrypt": "false"}); err != nil {
		t.Errorf("encrypt=false against no certificate: %v", err)
	}
	before, err := os.ReadFile(mi01.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Dir()
	l.Close()
	l2, err := lab.Open(lab.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	f2 := l2.File()
	s2, _ := f2.Server("sql01")
	m2, _ := f2.Server("mi01")
	if s2.Certificate != "" {
		t.Errorf("sql01 got a certificate back: %+v", s2)
	}
	after, err := os.ReadFile(filepath.Clean(m2.Certificate))
	if err != nil || string(after) != string(before) {
		t.Errorf("mi01's certificate was remade (%v)", err)
	}
}

func TestParseTLS(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    lab.TLS
		wantErr bool
	}{
		{"on", lab.TLS{}, false},
		{"off", lab.TLS{Off: true}, false},
		{"force", lab.TLS{Force: true}, false},
		{"force,cert=a.pem,key=a.key", lab.TLS{Force: true, CertFile: "a.pem", KeyFile: "a.key"}, false},
		{"off,force", lab.TLS{}, true},
		{"cert=a.pem", lab.TLS{}, true},
		{"strict", lab.TLS{}, true},
	} {
		got, err := lab.ParseTLS(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("ParseTLS(%q) = %+v, %v", tc.in, got, err)
		}
		if !tc.wantErr {
			if back, err := lab.ParseTLS(got.String()); err != nil || back != got {
				t.Errorf("ParseTLS(%q.String() = %q) = %+v, %v", tc.in, got.String(), back, err)
			}
		}
	}
}
