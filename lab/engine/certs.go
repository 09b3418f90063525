package engine

import (
	"crypto/rand"
	"crypto/rc4"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// newCertificate makes a real self-signed X.509 certificate with an RSA
// 2048 key, as CREATE CERTIFICATE does.
func newCertificate(name, subject string, start, expiry time.Time, id int) (*certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject},
		Issuer:       pkix.Name{CommonName: subject},
		NotBefore:    start,
		NotAfter:     expiry,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	tp := sha1.Sum(der)
	return &certificate{Name: name, ID: id, Subject: subject, Start: start, Expiry: expiry, Thumbprint: tp[:],
		Serial: strings.ToLower(fmt.Sprintf("%x", serial.Bytes())), DER: der, Key: pk, KeyEnc: "ENCRYPTED_BY_MASTER_KEY"}, nil
}

// parseCertDate reads EXPIRY_DATE/START_DATE ('3/30/2051', '2051-03-30').
func parseCertDate(s string) (time.Time, bool) {
	t, ok := parseDate(s)
	return t.UTC(), ok
}

func (s *Session) execCreateCert(x *createCertStmt) *sqlError {
	i := s.inst
	if !strings.EqualFold(s.db, "master") {
		return errf(50000, 16, "The lab models certificates in master only; run USE master first.")
	}
	if x.binary != nil {
		return s.createPublicCert(x)
	}
	if x.password != "" {
		if err := passwordComplex(x.password); err != nil {
			return err
		}
	}
	start := time.Now().UTC().Truncate(time.Second)
	if x.start != "" {
		t, ok := parseCertDate(x.start)
		if !ok {
			return errf(241, 16, "Conversion failed when converting date and/or time from character string.")
		}
		start = t
	}
	expiry := start.AddDate(1, 0, 0)
	if x.expiry != "" {
		t, ok := parseCertDate(x.expiry)
		if !ok {
			return errf(241, 16, "Conversion failed when converting date and/or time from character string.")
		}
		expiry = t
	}
	if !expiry.After(start) {
		return errf(15297, 16, "The certificate, asymmetric key, or private key data is invalid.")
	}
	i.mu.Lock()
	if i.cat.cert(x.name) != nil {
		i.mu.Unlock()
		return errf(15232, 16, "A certificate with name '%s' already exists or this certificate already has been added to the database.", x.name)
	}
	if x.password == "" && !s.masterKeyUsableLocked() {
		i.mu.Unlock()
		return errf(15581, 16, "Please create a master key in the database or open the master key in the session before performing this operation.")
	}
	id := i.cat.nextID()
	i.mu.Unlock()
	// Key generation is slow: do it without the lock.
	cert, err := newCertificate(x.name, x.subject, start, expiry, id)
	if err != nil {
		return errf(15297, 16, "The certificate, asymmetric key, or private key data is invalid.")
	}
	if x.password != "" {
		h := hashSecret(x.password)
		cert.KeyEnc, cert.KeyPwd = "ENCRYPTED_BY_PASSWORD", &h
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cat.cert(x.name) != nil {
		return errf(15232, 16, "A certificate with name '%s' already exists or this certificate already has been added to the database.", x.name)
	}
	i.cat.Certificates = append(i.cat.Certificates, cert)
	s.changed = true
	return i.persistLocked()
}

// createPublicCert is CREATE CERTIFICATE ... FROM BINARY: no private key,
// so no master key is needed. A certificate already there under another
// name (same thumbprint) is refused like a name taken.
func (s *Session) createPublicCert(x *createCertStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	taken := errf(15232, 16, "A certificate with name '%s' already exists or this certificate already has been added to the database.", x.name)
	if c.cert(x.name) != nil {
		return taken
	}
	cert, err := publicCert(x.name, x.binary, 0)
	if err != nil {
		return err
	}
	for _, e := range c.Certificates {
		if string(e.Thumbprint) == string(cert.Thumbprint) {
			return taken
		}
	}
	cert.ID = c.nextID()
	c.Certificates = append(c.Certificates, cert)
	s.changed = true
	return i.persistLocked()
}

func (s *Session) execDropCert(x *dropCertStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	ct := c.cert(x.name)
	if ct == nil || !strings.EqualFold(s.db, "master") {
		return errf(15151, 16, "Cannot drop the certificate '%s', because it does not exist or you do not have permission.", x.name)
	}
	for _, e := range c.Endpoints {
		if e.CertID == ct.ID {
			return errf(15352, 16, "The certificate cannot be dropped because one or more entities are either signed or encrypted using it. To continue, correct the problem.")
		}
	}
	for _, k := range c.DEKs {
		if string(k.Thumbprint) == string(ct.Thumbprint) {
			return errf(3716, 16, "The certificate '%s' cannot be dropped because it is bound to one or more database encryption key.", ct.Name)
		}
	}
	out := c.Certificates[:0]
	for _, x := range c.Certificates {
		if x != ct {
			out = append(out, x)
		}
	}
	c.Certificates = out
	s.changed = true
	return i.persistLocked()
}

func (i *Instance) certID(db, name string) any {
	if !strings.EqualFold(db, "master") {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if c := i.cat.cert(name); c != nil {
		return int64(c.ID)
	}
	return nil
}

func (i *Instance) certEncoded(db string, id int) any {
	if !strings.EqualFold(db, "master") {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if c := i.cat.certByID(id); c != nil {
		return append([]byte(nil), c.DER...)
	}
	return nil
}

// unlockKeyLocked returns the certificate's private key if the caller can
// decrypt it: with the master key, or with its password.
func (s *Session) unlockKeyLocked(c *certificate, decPw string) (*rsa.PrivateKey, bool) {
	switch c.KeyEnc {
	case "ENCRYPTED_BY_MASTER_KEY":
		if !s.masterKeyUsableLocked() {
			return nil, false
		}
	case "ENCRYPTED_BY_PASSWORD":
		if c.KeyPwd == nil || !c.KeyPwd.matches(decPw) {
			return nil, false
		}
	default:
		return nil, false
	}
	k, err := x509.ParsePKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, false
	}
	rk, ok := k.(*rsa.PrivateKey)
	return rk, ok
}

// certPrivateKey is CERTPRIVATEKEY: the private key as a PVK blob encrypted
// with encPw; NULL when it cannot be decrypted.
func (i *Instance) certPrivateKey(s *Session, id int, encPw, decPw string) any {
	if !strings.EqualFold(s.db, "master") || passwordComplex(encPw) != nil {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat.certByID(id)
	if c == nil {
		return nil
	}
	k, ok := s.unlockKeyLocked(c, decPw)
	if !ok {
		return nil
	}
	b, err := EncodePVK(k, encPw)
	if err != nil {
		return nil
	}
	return b
}

func (s *Session) execBackupCert(x *backupCertStmt) *sqlError {
	i := s.inst
	cannotWrite := func(f string) *sqlError {
		return errf(15240, 16, "Cannot write into file '%s'. Verify that you have write permissions, that the file path is valid, and that the file does not already exist.", f)
	}
	if x.withKey && (x.keyFile == "" || x.encPassword == "") {
		return syntaxNear(")")
	}
	if x.withKey {
		if err := passwordComplex(x.encPassword); err != nil {
			return err
		}
	}
	i.mu.Lock()
	c := i.cat.cert(x.name)
	if c == nil || !strings.EqualFold(s.db, "master") {
		i.mu.Unlock()
		return errf(15151, 16, "Cannot find the certificate '%s', because it does not exist or you do not have permission.", x.name)
	}
	der := append([]byte(nil), c.DER...)
	var pvk []byte
	if x.withKey {
		k, ok := s.unlockKeyLocked(c, x.decPassword)
		if !ok {
			i.mu.Unlock()
			if c.KeyEnc == "ENCRYPTED_BY_PASSWORD" {
				return errf(15465, 16, "Private key decryption failed. The password may be incorrect.")
			}
			return errf(15581, 16, "Please create a master key in the database or open the master key in the session before performing this operation.")
		}
		var err error
		if pvk, err = EncodePVK(k, x.encPassword); err != nil {
			i.mu.Unlock()
			return errf(15297, 16, "The certificate, asymmetric key, or private key data is invalid.")
		}
	}
	i.mu.Unlock()
	write := func(serverPath string, data []byte) *sqlError {
		hp, ok := i.hostPath(serverPath)
		if !ok {
			return cannotWrite(serverPath)
		}
		if st, err := os.Stat(filepath.Dir(hp)); err != nil || !st.IsDir() {
			return cannotWrite(serverPath)
		}
		f, err := os.OpenFile(hp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return cannotWrite(serverPath)
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return cannotWrite(serverPath)
		}
		return nil
	}
	if err := write(x.file, der); err != nil {
		return err
	}
	if x.withKey {
		if err := write(x.keyFile, pvk); err != nil {
			return err
		}
		i.mu.Lock()
		defer i.mu.Unlock()
		if c := i.cat.cert(x.name); c != nil {
			now := time.Now().UTC()
			c.LastBackup = &now
			s.changed = true
			return i.persistLocked()
		}
	}
	return nil
}

// PVK format (Microsoft's private key file, as written by BACKUP CERTIFICATE
// and returned by CERTPRIVATEKEY): a 24-byte header, the salt, then a
// PRIVATEKEYBLOB whose body (after its 8-byte BLOBHEADER) is RC4-encrypted
// with SHA1(salt || password) truncated to 16 bytes.
const pvkMagic = 0xb0b5f11e

// EncodePVK encodes an RSA private key as a password-protected PVK blob.
func EncodePVK(k *rsa.PrivateKey, password string) ([]byte, error) {
	if len(k.Primes) != 2 {
		return nil, errors.New("pvk: key must have two primes")
	}
	k.Precompute()
	bits := k.N.BitLen()
	half := (bits + 15) / 16
	full := (bits + 7) / 8
	le := func(n *big.Int, size int) []byte {
		b := n.FillBytes(make([]byte, size))
		for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
			b[l], b[r] = b[r], b[l]
		}
		return b
	}
	var blob []byte
	blob = append(blob, 0x07, 0x02, 0, 0)                     // PRIVATEKEYBLOB, version 2
	blob = binary.LittleEndian.AppendUint32(blob, 0x0000a400) // CALG_RSA_KEYX
	blob = append(blob, "RSA2"...)
	blob = binary.LittleEndian.AppendUint32(blob, uint32(bits))
	blob = binary.LittleEndian.AppendUint32(blob, uint32(k.E))
	blob = append(blob, le(k.N, full)...)
	blob = append(blob, le(k.Primes[0], half)...)
	blob = append(blob, le(k.Primes[1], half)...)
	blob = append(blob, le(k.Precomputed.Dp, half)...)
	blob = append(blob, le(k.Precomputed.Dq, half)...)
	blob = append(blob, le(k.Precomputed.Qinv, half)...)
	blob = append(blob, le(k.D, full)...)
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	h := sha1.Sum(append(append([]byte{}, salt...), password...))
	ciph, err := rc4.NewCipher(h[:16])
	if err != nil {
		return nil, err
	}
	ciph.XORKeyStream(blob[8:], blob[8:])
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, pvkMagic)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 1) // key type: AT_KEYEXCHANGE
	out = binary.LittleEndian.AppendUint32(out, 1) // encrypted
	out = binary.LittleEndian.AppendUint32(out, uint32(len(salt)))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(blob)))
	out = append(out, salt...)
	return append(out, blob...), nil
}

// DecodePVK decrypts a PVK blob made by EncodePVK (or SQL Server) with its
// password and returns the RSA key.
func DecodePVK(b []byte, password string) (*rsa.PrivateKey, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != pvkMagic {
		return nil, errors.New("pvk: bad header")
	}
	enc := binary.LittleEndian.Uint32(b[12:])
	saltLen := int(binary.LittleEndian.Uint32(b[16:]))
	keyLen := int(binary.LittleEndian.Uint32(b[20:]))
	if saltLen > 64 || keyLen < 20 || len(b) < 24+saltLen+keyLen {
		return nil, errors.New("pvk: truncated")
	}
	salt := b[24 : 24+saltLen]
	blob := append([]byte(nil), b[24+saltLen:24+saltLen+keyLen]...)
	if enc != 0 {
		h := sha1.Sum(append(append([]byte{}, salt...), password...))
		ciph, err := rc4.NewCipher(h[:16])
		if err != nil {
			return nil, err
		}
		ciph.XORKeyStream(blob[8:], blob[8:])
	}
	if string(blob[8:12]) != "RSA2" {
		return nil, errors.New("pvk: wrong password or not an RSA private key")
	}
	bits := int(binary.LittleEndian.Uint32(blob[12:]))
	e := int(binary.LittleEndian.Uint32(blob[16:]))
	half, full := (bits+15)/16, (bits+7)/8
	if len(blob) < 20+full*2+half*5 {
		return nil, errors.New("pvk: truncated key")
	}
	off := 20
	take := func(n int) *big.Int {
		x := append([]byte(nil), blob[off:off+n]...)
		off += n
		for l, r := 0, len(x)-1; l < r; l, r = l+1, r-1 {
			x[l], x[r] = x[r], x[l]
		}
		return new(big.Int).SetBytes(x)
	}
	n := take(full)
	p := take(half)
	q := take(half)
	take(half)
	take(half)
	take(half)
	d := take(full)
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: e}, D: d, Primes: []*big.Int{p, q}}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("pvk: %w", err)
	}
	k.Precompute()
	return k, nil
}
