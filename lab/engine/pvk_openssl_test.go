package engine

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SQL Server's CERTPRIVATEKEY and BACKUP CERTIFICATE ... WITH PRIVATE KEY
// give the private key in Microsoft's PVK format, encrypted with RC4 under
// SHA1(salt || password) (128-bit), which is what pvk2pfx and OpenSSL's
// PVK reader take. These tests check the lab's EncodePVK and DecodePVK
// against OpenSSL, an independent implementation, both ways.

// openssl runs openssl with the legacy provider (PVK encryption is RC4),
// or skips when openssl or that provider is missing.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("MILINK_REQUIRE_OPENSSL") != "" {
			t.Fatal("openssl is required (MILINK_REQUIRE_OPENSSL) but missing")
		}
		t.Skip("openssl is not installed")
	}
	args = append(args, "-provider", "legacy", "-provider", "default")
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "legacy") && strings.Contains(string(out), "provider") && os.Getenv("MILINK_REQUIRE_OPENSSL") == "" {
			t.Skipf("openssl has no legacy provider (RC4): %s", out)
		}
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPVKReadByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const password = "Str0ng!pvk-Pa55"
	b, err := EncodePVK(key, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k.pvk"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	openssl(t, dir, "rsa", "-inform", "PVK", "-in", "k.pvk", "-passin", "pass:"+password, "-outform", "PEM", "-out", "k.pem")
	data, err := os.ReadFile(filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("openssl wrote no PEM: %s", data)
	}
	var got *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		got, _ = k.(*rsa.PrivateKey)
	} else if got, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.Equal(key) {
		t.Fatal("openssl read a different key from the lab's PVK")
	}
	// A wrong password: openssl refuses it.
	cmd := exec.Command("openssl", "rsa", "-inform", "PVK", "-in", "k.pvk", "-passin", "pass:wrong", "-noout", "-provider", "legacy", "-provider", "default")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("openssl accepted a wrong password: %s", out)
	}
}

func TestPVKWrittenByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const password = "An0ther!pvk-Pa55"
	openssl(t, dir, "rsa", "-in", "k.pem", "-outform", "PVK", "-out", "k.pvk", "-passout", "pass:"+password)
	b, err := os.ReadFile(filepath.Join(dir, "k.pvk"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePVK(b, password)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("DecodePVK read a different key from openssl's PVK")
	}
	if _, err := DecodePVK(b, "wrong"); err == nil {
		t.Error("DecodePVK accepted a wrong password")
	}
}
