package engine

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"strings"
)

// ImportedCertificate describes a certificate ImportCertificate added (or
// found already there).
type ImportedCertificate struct {
	Name       string
	Thumbprint []byte
	Added      bool // false: a certificate with that thumbprint was there
}

// ImportCertificate adds a certificate with its private key to master, as
// the managed instance does when a TDE certificate is uploaded through
// Azure Resource Manager (tdeCertificates): the key is protected by the
// instance's own keys (ENCRYPTED_BY_MASTER_KEY), not by a password. It is
// named after its thumbprint (how the real service names it is not
// documented; milink finds it by thumbprint). Importing a certificate that
// is already there changes nothing.
func (i *Instance) ImportCertificate(der []byte, key *rsa.PrivateKey) (ImportedCertificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ImportedCertificate{}, fmt.Errorf("parse certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return ImportedCertificate{}, fmt.Errorf("the private key does not belong to the certificate")
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ImportedCertificate{}, fmt.Errorf("marshal key: %w", err)
	}
	tp := sha1.Sum(der)
	name := fmt.Sprintf("TDECert_%X", tp[:8])
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, c := range i.cat.Certificates {
		if bytes.Equal(c.Thumbprint, tp[:]) {
			return ImportedCertificate{Name: c.Name, Thumbprint: c.Thumbprint}, nil
		}
	}
	subject := cert.Subject.CommonName
	if subject == "" {
		subject = cert.Subject.String()
	}
	i.cat.Certificates = append(i.cat.Certificates, &certificate{
		Name: name, ID: i.cat.nextID(), Subject: subject,
		Start: cert.NotBefore.UTC(), Expiry: cert.NotAfter.UTC(), Thumbprint: tp[:],
		Serial: strings.ToLower(fmt.Sprintf("%x", cert.SerialNumber.Bytes())),
		DER:    append([]byte(nil), der...), Key: pk, KeyEnc: "ENCRYPTED_BY_MASTER_KEY",
	})
	if err := i.persistLocked(); err != nil {
		return ImportedCertificate{}, fmt.Errorf("%s", err.text)
	}
	return ImportedCertificate{Name: name, Thumbprint: tp[:], Added: true}, nil
}
