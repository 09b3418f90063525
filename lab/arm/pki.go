package arm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the lab's CA, the HTTPS server's certificate and the key that
// signs access tokens. It is made once into the Azure directory and reused
// across `lab down`/`up`, so that a CA file a user configured stays valid.
type pki struct {
	caFile  string
	tlsCert tls.Certificate
	signer  *rsa.PrivateKey
	kid     string // the signing key's id in the JWKS ("kid" of tokens)
}

const (
	caFile        = "ca.pem"
	caKeyFile     = "ca-key.pem"
	serverFile    = "server.pem"
	serverKeyFile = "server-key.pem"
	signerFile    = "token-signing-key.pem"
)

// loadPKI reads the PKI from dir, making what is missing. A server
// certificate is remade when it no longer covers ip or is about to expire.
func loadPKI(dir string, ips []net.IP) (*pki, error) {
	caCert, caKey, err := loadOrMakeCA(dir)
	if err != nil {
		return nil, err
	}
	tc, err := loadOrMakeServer(dir, caCert, caKey, ips)
	if err != nil {
		return nil, err
	}
	signer, err := loadOrMakeRSA(filepath.Join(dir, signerFile))
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(pub)
	return &pki{caFile: filepath.Join(dir, caFile), tlsCert: tc, signer: signer,
		kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return b.Bytes, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func loadOrMakeCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certDER, err1 := readPEM(filepath.Join(dir, caFile), "CERTIFICATE")
	keyDER, err2 := readPEM(filepath.Join(dir, caKeyFile), "EC PRIVATE KEY")
	if err1 == nil && err2 == nil {
		cert, err := x509.ParseCertificate(certDER)
		if err != nil {
			return nil, nil, fmt.Errorf("lab CA: %w", err)
		}
		key, err := x509.ParseECPrivateKey(keyDER)
		if err != nil {
			return nil, nil, fmt.Errorf("lab CA key: %w", err)
		}
		return cert, key, nil
	}
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("lab CA: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "milink lab CA", Organization: []string{"milink lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, caKeyFile), "EC PRIVATE KEY", kder, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, caFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func loadOrMakeServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, serverFile), filepath.Join(dir, serverKeyFile)
	if tc, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf, err := x509.ParseCertificate(tc.Certificate[0])
		ok := err == nil && time.Until(leaf.NotAfter) > 30*24*time.Hour && leaf.CheckSignatureFrom(ca) == nil
		for _, ip := range ips {
			ok = ok && leaf.VerifyHostname(ip.String()) == nil
		}
		if ok {
			return tc, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "milink lab Azure"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", kder, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

func loadOrMakeRSA(path string) (*rsa.PrivateKey, error) {
	der, err := readPEM(path, "RSA PRIVATE KEY")
	if err == nil {
		return x509.ParsePKCS1PrivateKey(der)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writePEM(path, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}
