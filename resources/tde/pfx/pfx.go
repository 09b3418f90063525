package pfx

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"software.sslmate.com/src/go-pkcs12"
)

// Build encodes the certificate (DER, as CERTENCODED returns it) and its
// private key as a PKCS#12 protected by password.
//
// The encoding is the legacy one: keys and certificates encrypted with
// PBE-SHA1-3DES, a SHA-1 MAC (go-pkcs12's LegacyDES, OpenSSL's -descert).
// Azure's certificate uploads take that, as pvk2pfx (the tool the
// managed instance's own TDE migration page uses) writes it, and they
// reject the AES-256 encoding OpenSSL 3 and Windows now default to with
// a misleading "wrong password" (MicrosoftDocs/azure-docs#91029,
// #36773). The weaker cipher costs nothing here: the password is random,
// used once, and the PFX exists only in memory and on the TLS connection
// to Azure.
//
// The certificate's public key must be the private key's.
func Build(certDER []byte, key *rsa.PrivateKey, password string) ([]byte, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("pfx: the certificate does not parse: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("pfx: the certificate's key is %T, not RSA", cert.PublicKey)
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, errors.New("pfx: the private key does not belong to the certificate")
	}
	if password == "" {
		return nil, errors.New("pfx: empty password")
	}
	out, err := pkcs12.LegacyDES.Encode(key, cert, nil, password)
	if err != nil {
		return nil, fmt.Errorf("pfx: encoding: %w", err)
	}
	return out, nil
}

// Password alphabets: each class at least once, so that SQL Server's
// password policy (CERTPRIVATEKEY's encryption password must meet it)
// accepts every password. No quote, no backslash: nothing to escape
// anywhere, although every use still quotes.
const (
	lower   = "abcdefghijkmnopqrstuvwxyz"
	upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!#%*+-=?@^_~"
	all     = lower + upper + digits + symbols
)

// PasswordLen is the length of a one-time password: 40 characters from 69
// (about 244 bits).
const PasswordLen = 40

// NewPassword returns a fresh random password, as bytes its user can zero.
func NewPassword() ([]byte, error) { return newPassword(rand.Reader) }

func newPassword(r io.Reader) ([]byte, error) {
	pw := make([]byte, PasswordLen)
	for {
		for i := range pw {
			c, err := pick(r, all)
			if err != nil {
				clear(pw)
				return nil, fmt.Errorf("random password: %w", err)
			}
			pw[i] = c
		}
		if hasEach(pw, lower, upper, digits, symbols) {
			return pw, nil
		}
	}
}

// pick draws one character of alphabet uniformly (rejection sampling).
func pick(r io.Reader, alphabet string) (byte, error) {
	limit := 256 - 256%len(alphabet)
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return alphabet[int(b[0])%len(alphabet)], nil
		}
	}
}

func hasEach(pw []byte, classes ...string) bool {
	for _, cl := range classes {
		found := false
		for _, c := range pw {
			for i := 0; i < len(cl) && !found; i++ {
				found = cl[i] == c
			}
		}
		if !found {
			return false
		}
	}
	return true
}
