package tds

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is one certificate for 127.0.0.1 and "labsql", made once per
// test binary, with its PEM in a file a client can be pointed at.
var testCert struct {
	once    sync.Once
	cert    tls.Certificate
	pemPath string
	err     error
}

func labCert(t testing.TB) (*tls.Certificate, string) {
	t.Helper()
	testCert.once.Do(func() {
		certPEM, keyPEM, err := SelfSigned([]string{"labsql", "127.0.0.1"}, time.Hour)
		if err != nil {
			testCert.err = err
			return
		}
		testCert.cert, testCert.err = tls.X509KeyPair(certPEM, keyPEM)
		dir, err := os.MkdirTemp("", "tds-cert-")
		if err != nil {
			testCert.err = err
			return
		}
		testCert.pemPath = filepath.Join(dir, "server.pem")
		if err := os.WriteFile(testCert.pemPath, certPEM, 0o644); err != nil {
			testCert.err = err
		}
	})
	if testCert.err != nil {
		t.Fatal(testCert.err)
	}
	return &testCert.cert, testCert.pemPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testCert.pemPath != "" {
		os.RemoveAll(filepath.Dir(testCert.pemPath))
	}
	os.Exit(code)
}

// TestNegotiateTable is MS-TDS 2.2.6.5's table, from the server's side.
func TestNegotiateTable(t *testing.T) {
	for _, tc := range []struct {
		client        byte
		canTLS, force bool
		answer        byte
		enc           Encryption
		refused       bool
	}{
		{encryptOff, true, false, encryptOff, EncryptionLogin, false},
		{encryptOn, true, false, encryptOn, EncryptionOn, false},
		{encryptReq, true, false, encryptOn, EncryptionOn, false},
		{encryptNotSup, true, false, encryptNotSup, EncryptionNone, false},
		{encryptOff, true, true, encryptOn, EncryptionOn, false},
		{encryptOn, true, true, encryptOn, EncryptionOn, false},
		{encryptNotSup, true, true, encryptReq, EncryptionNone, true},
		{encryptOff, false, false, encryptNotSup, EncryptionNone, false},
		{encryptNotSup, false, false, encryptNotSup, EncryptionNone, false},
		{encryptOn, false, false, encryptNotSup, EncryptionNone, true},
		{encryptReq, false, false, encryptNotSup, EncryptionNone, true},
		{encryptOn, false, true, encryptNotSup, EncryptionNone, true},
		{7, true, false, encryptOn, EncryptionOn, false},
	} {
		got := negotiate(tc.client, tc.canTLS, tc.force)
		if got.answer != tc.answer || got.enc != tc.enc || (got.refuse != "") != tc.refused {
			t.Errorf("negotiate(client %d, cert %v, force %v) = %+v, want answer %d, %s, refused %v",
				tc.client, tc.canTLS, tc.force, got, tc.answer, tc.enc, tc.refused)
		}
	}
}

// TestGoMSSQLEncryption logs in with go-mssqldb under every encrypt
// setting against servers with and without a certificate, Force Encryption
// and TDS 8.0, and checks what the server negotiated.
func TestGoMSSQLEncryption(t *testing.T) {
	cert, pemPath := labCert(t)
	verify := "certificate=" + pemPath + "&hostnameincertificate=labsql"
	type server struct {
		name string
		opts Options
	}
	plain := server{"no certificate", Options{}}
	withCert := server{"certificate", Options{Certificate: cert}}
	forced := server{"forced", Options{Certificate: cert, ForceEncryption: true}}
	strict := server{"2022", Options{Certificate: cert, Strict: true}}
	for _, tc := range []struct {
		srv     server
		extra   string
		want    Encryption
		wantErr string
	}{
		{plain, "encrypt=disable", EncryptionNone, ""},
		{plain, "encrypt=false", EncryptionNone, ""},
		{plain, "encrypt=true&trustservercertificate=true", "", "server does not support encryption"},
		{plain, "encrypt=strict&trustservercertificate=true", "", "TLS Handshake failed"},
		{withCert, "encrypt=disable", EncryptionNone, ""},
		{withCert, "encrypt=false&trustservercertificate=true", EncryptionLogin, ""},
		{withCert, "encrypt=true&trustservercertificate=true", EncryptionOn, ""},
		{withCert, "encrypt=true&" + verify, EncryptionOn, ""},
		{withCert, "encrypt=true", "", "certificate"},
		{withCert, "encrypt=true&certificate=" + pemPath + "&hostnameincertificate=wrong.example", "", "wrong.example"},
		{withCert, "encrypt=strict&" + verify, "", "TLS Handshake failed"},
		// The server answers REQ and closes; go-mssqldb then tries TLS anyway.
		{forced, "encrypt=disable", "", "TLS Handshake failed"},
		{forced, "encrypt=false&" + verify, EncryptionOn, ""},
		{forced, "encrypt=true&" + verify, EncryptionOn, ""},
		{strict, "encrypt=strict&" + verify, EncryptionStrict, ""},
		// go-mssqldb verifies the certificate in strict mode whatever
		// trustservercertificate says, as TDS 8.0 intends.
		{strict, "encrypt=strict&trustservercertificate=true", "", "certificate signed by unknown authority"},
		{strict, "encrypt=strict", "", "certificate"},
		{strict, "encrypt=true&" + verify, EncryptionOn, ""},
	} {
		t.Run(tc.srv.name+"/"+tc.extra, func(t *testing.T) {
			srv, addr := startServer(t, newTestHandler(), tc.srv.opts)
			seen := make(chan Encryption, 4)
			srv.onLogin = func(c *conn) { seen <- c.enc }
			db := openDB(t, addr, tc.extra)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			var n int
			err := db.QueryRowContext(ctx, "select 1").Scan(&n)
			if tc.want == "" {
				if err == nil {
					t.Fatal("query succeeded, want a refused connection")
				}
				if ctx.Err() != nil {
					t.Fatalf("the refusal took the whole timeout: %v", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != 1 {
				t.Fatalf("select 1 = %d, %v", n, err)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("negotiated %s, want %s", got, tc.want)
			}
		})
	}
}
