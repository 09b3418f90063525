package sqlserver

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"
)

// TDE: which certificate protects each user database's encryption key.
// The tde_certificate kind (package resources/tde) reads it here, in the
// refresh's one batch, and exports the certificate through ExportCertificate.

// tdeReadSQL is the refresh batch's TDE statement, sent when a block whose
// configuration is a TDEReader is on the instance.
//
//go:embed testdata/golden/tde-read.sql
var tdeReadSQL string

// TDEReader is implemented by the configuration of blocks that need the
// instance's TDE protectors: the refresh batch then reads them (one more
// statement in the same round trip).
type TDEReader interface{ ReadsTDE() }

// TDEProtector is what protects one user database: its encryption key (if
// any) and the certificate in master that encrypts that key.
type TDEProtector struct {
	Database  string
	Encrypted bool // sys.databases.is_encrypted
	// EncryptionState is sys.dm_database_encryption_keys.encryption_state
	// (3 = encrypted, 2 = encryption in progress); 0 when the database has
	// no encryption key.
	EncryptionState int
	EncryptorType   string // CERTIFICATE, ASYMMETRIC KEY
	// The certificate; Certificate is "" when no certificate in master has
	// the encryptor's thumbprint.
	Certificate   string
	CertificateID int
	Subject       string
	Expiry        time.Time
	Thumbprint    []byte // SHA-1 of the certificate's DER
	// KeyEncryption is pvt_key_encryption_type_desc: NO_PRIVATE_KEY,
	// ENCRYPTED_BY_MASTER_KEY, ENCRYPTED_BY_PASSWORD, ...
	KeyEncryption string
}

// HasPrivateKey reports whether SQL Server holds the certificate's private key.
func (p TDEProtector) HasPrivateKey() bool {
	return p.KeyEncryption != "" && p.KeyEncryption != "NO_PRIVATE_KEY"
}

// TDE returns the protector of a user database, found by name as Database
// finds it; ok is false when the database does not exist (or the batch did
// not read TDE: no TDEReader was configured on the instance).
func (o *Observed) TDE(database string) (TDEProtector, bool) {
	if p, ok := o.tde[database]; ok {
		return p, true
	}
	for n, p := range o.tde {
		if strings.EqualFold(n, database) {
			return p, true
		}
	}
	return TDEProtector{}, false
}

// tdeRows reads the result set of tde-read.sql.
func tdeRows(rs resultSet, into map[string]TDEProtector) {
	get := func(r []any, name string) any {
		if i := rs.col(name); i >= 0 {
			return r[i]
		}
		return nil
	}
	for _, r := range rs.rows {
		p := TDEProtector{
			Database:        asString(get(r, "tde_database")),
			Encrypted:       asBool(get(r, "is_encrypted")),
			EncryptionState: asInt(get(r, "encryption_state"), 0),
			EncryptorType:   asString(get(r, "encryptor_type")),
			Certificate:     asString(get(r, "certificate_name")),
			CertificateID:   asInt(get(r, "certificate_id"), 0),
			Subject:         asString(get(r, "subject")),
			KeyEncryption:   asString(get(r, "pvt_key_encryption_type_desc")),
		}
		if t, ok := get(r, "expiry_date").(time.Time); ok {
			p.Expiry = t.UTC()
		}
		if b, ok := get(r, "thumbprint").([]byte); ok {
			p.Thumbprint = append([]byte(nil), b...)
		}
		into[p.Database] = p
	}
}

// ExportCertificateSQL reads a certificate of master and its private key,
// encrypted with encPassword (and decrypted with decPassword when the key
// is protected by a password rather than the master key). redact gives
// the text for plans and logs.
func ExportCertificateSQL(name, encPassword, decPassword string, redact bool) string {
	id := "CERT_ID(" + QuoteString(name) + ")"
	key := "CERTPRIVATEKEY(" + id + ", " + secretLiteral(encPassword, redact)
	if decPassword != "" {
		key += ", " + secretLiteral(decPassword, redact)
	}
	return "USE [master];\nSELECT CERTENCODED(" + id + ") AS certificate, " + key + ") AS private_key;"
}

// ExportCertificate reads the certificate name of master (DER) and its
// private key (PVK, encrypted with encPassword) in one round trip. The
// passwords never reach the log or an error; the caller zeroes what it
// gets. addr is the block the export is for.
func (i *Instance) ExportCertificate(ctx context.Context, addr, name string, encPassword, decPassword string) (der, pvk []byte, err error) {
	st := stmt{addr: addr, what: "exporting certificate " + name,
		log:  ExportCertificateSQL(name, encPassword, decPassword, true),
		text: ExportCertificateSQL(name, encPassword, decPassword, false)}
	sets, err := i.run(ctx, st)
	if err != nil {
		return nil, nil, redactSecrets(err, encPassword, decPassword)
	}
	for _, rs := range sets {
		c, k := rs.col("certificate"), rs.col("private_key")
		if c < 0 || k < 0 || len(rs.rows) != 1 {
			continue
		}
		der, _ = rs.rows[0][c].([]byte)
		pvk, _ = rs.rows[0][k].([]byte)
	}
	switch {
	case der == nil:
		clear(pvk)
		return nil, nil, fmt.Errorf("%s: certificate %s is not in master (CERTENCODED returned NULL)", addr, name)
	case pvk == nil:
		hint := "the master key in master cannot be opened by the service master key"
		if decPassword != "" {
			hint = "private_key_password does not decrypt it"
		}
		return nil, nil, fmt.Errorf("%s: CERTPRIVATEKEY returned NULL for certificate %s: SQL Server cannot decrypt its private key (%s)", addr, name, hint)
	}
	return der, pvk, nil
}

// redactSecrets replaces secrets in an error's text; see redact.
func redactSecrets(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range secrets {
		if len(p) < 4 {
			continue
		}
		for _, form := range []string{p, strings.ReplaceAll(p, "'", "''")} {
			msg = strings.ReplaceAll(msg, form, "(sensitive)")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &messageError{msg: msg, err: err}
}
