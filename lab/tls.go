package lab

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/milink/milink/lab/tds"
)

// TLS is one server's encryption setting, as `lab up -tls NAME:...` gives
// it. The zero value is SQL Server's default: a certificate (the lab's own
// self-signed one), encryption offered, not forced.
type TLS struct {
	// Off: the server has no certificate, so PRELOGIN answers
	// ENCRYPT_NOT_SUP and a client that requires encryption is refused. A
	// real SQL Server always has one (self-signed when none is configured);
	// this is for testing what a client does without it.
	Off bool
	// Force is "Force Encryption" (mssql-conf network.forceencryption = 1):
	// every connection encrypted, a client that cannot encrypt refused.
	Force bool
	// CertFile and KeyFile name a given certificate and its key (PEM);
	// empty means the lab's self-signed certificate.
	CertFile, KeyFile string
}

// ParseTLS reads a -tls value after "NAME:": comma-separated items, each
// "on", "off", "force", "cert=FILE" or "key=FILE".
func ParseTLS(s string) (TLS, error) {
	var t TLS
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		k, v, hasValue := strings.Cut(item, "=")
		switch {
		case item == "on":
			t.Off = false
		case item == "off":
			t.Off = true
		case item == "force":
			t.Force = true
		case hasValue && k == "cert" && v != "":
			t.CertFile = v
		case hasValue && k == "key" && v != "":
			t.KeyFile = v
		default:
			return t, fmt.Errorf("unknown TLS setting %q (want on, off, force, cert=FILE, key=FILE)", item)
		}
	}
	if t.Off && (t.Force || t.CertFile != "") {
		return t, errors.New("TLS setting \"off\" (no certificate) cannot go with force or cert=")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return t, errors.New("TLS setting: give cert=FILE and key=FILE together")
	}
	return t, nil
}

// String is the -tls form of t.
func (t TLS) String() string {
	if t.Off {
		return "off"
	}
	items := []string{"on"}
	if t.Force {
		items = append(items, "force")
	}
	if t.CertFile != "" {
		items = append(items, "cert="+t.CertFile, "key="+t.KeyFile)
	}
	return strings.Join(items, ",")
}

// tlsFromInfo is the setting a previous lab.json recorded, so that a later
// `lab up` without -tls brings back the same servers.
func tlsFromInfo(s ServerInfo, labDir string) TLS {
	if s.Certificate == "" {
		return TLS{Off: true}
	}
	t := TLS{Force: s.ForceEncryption}
	if s.CertificateKey != "" && s.CertificateKey != ownKeyPath(labDir, s.Name) {
		t.CertFile, t.KeyFile = s.Certificate, s.CertificateKey
	}
	return t
}

func ownCertPath(labDir, name string) string { return filepath.Join(labDir, name, "tls", "cert.pem") }
func ownKeyPath(labDir, name string) string  { return filepath.Join(labDir, name, "tls", "key.pem") }

// certFiles returns the certificate and key a server uses: the given ones
// (checked to load), or the lab's self-signed pair, made when missing or
// when it does not name the server's current address. The key is 0600.
func certFiles(t TLS, labDir, name, address string) (certFile, keyFile string, err error) {
	if t.Off {
		return "", "", nil
	}
	if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return "", "", fmt.Errorf("server %s: certificate %s with key %s: %w", name, t.CertFile, t.KeyFile, err)
		}
		return abs(t.CertFile), abs(t.KeyFile), nil
	}
	certFile, keyFile = ownCertPath(labDir, name), ownKeyPath(labDir, name)
	if ok, err := certNames(certFile, keyFile, address); err != nil {
		return "", "", fmt.Errorf("server %s: %w", name, err)
	} else if ok {
		return certFile, keyFile, nil
	}
	certPEM, keyPEM, err := tds.SelfSigned([]string{name, address, "localhost"}, 10*365*24*time.Hour)
	if err != nil {
		return "", "", fmt.Errorf("server %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
		return "", "", fmt.Errorf("server %s: %w", name, err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("server %s: write the TLS key: %w", name, err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("server %s: write the TLS certificate: %w", name, err)
	}
	return certFile, keyFile, nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// certNames reports whether the lab's own certificate exists, loads with
// its key, names address and has not expired.
func certNames(certFile, keyFile, address string) (bool, error) {
	data, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return false, nil // broken or half written: make a new one
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return false, nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, nil
	}
	ip := net.ParseIP(address)
	named := slices.ContainsFunc(cert.IPAddresses, func(a net.IP) bool { return a.Equal(ip) })
	return named && time.Now().Before(cert.NotAfter), nil
}

// offersTDS8 says whether a profile speaks TDS 8.0 (strict): SQL Server
// 2022 (16.x) and later, and Azure SQL Managed Instance.
func offersTDS8(kind, productVersion string) bool {
	if kind == KindManagedInstance {
		return true
	}
	major, _, _ := strings.Cut(productVersion, ".")
	return len(major) > 2 || major >= "16"
}
