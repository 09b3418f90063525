// Package tde is the tde_certificate kind: the certificate protecting a
// TDE-encrypted database, read on its SQL Server and moved to a managed
// instance, so that the link can replicate the database. The private key
// leaves SQL Server encrypted with a one-time password, is decoded and
// packed into a PFX in memory (package pfx), and is uploaded with the
// managed instance's tdeCertificates call; no file is written anywhere.
package tde

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
	"github.com/milink/milink/resources/tde/pfx"
)

// Kind is the block type.
const Kind = "tde_certificate"

// The attributes naming the two targets.
const (
	attrSQLServer       = "sql_server"
	attrManagedInstance = "managed_instance"
)

// ExpiryWarning is how close to its expiry a certificate is still moved,
// with a warning.
const ExpiryWarning = 30 * 24 * time.Hour

// ManagedInstance is what the kind needs of the managed_instance target:
// the upload (Azure's tdeCertificates POST) and the check that the managed
// instance holds a certificate (its sys.certificates, since Azure has no
// GET for uploaded certificates).
type ManagedInstance interface {
	ImportTDECertificate(ctx context.Context, pfx []byte, password string) error
	HasCertificate(ctx context.Context, thumbprint []byte) (bool, error)
}

// certificateSource is what the kind needs of the SQL Server target
// (*sqlserver.Instance).
type certificateSource interface {
	ExportCertificate(ctx context.Context, addr, name, encPassword, decPassword string) (der, pvk []byte, err error)
}

// protectors is what the kind needs of the SQL Server's observation
// (*sqlserver.Observed).
type protectors interface {
	TDE(database string) (sqlserver.TDEProtector, bool)
}

// Config is a tde_certificate block.
type Config struct {
	Address   string
	DeclRange hcl.Range
	// Database is the TDE-protected database whose certificate moves.
	Database string
	// PrivateKeyPassword decrypts the certificate's private key when a
	// password protects it rather than the master key (CERTPRIVATEKEY's
	// third argument). Sensitive.
	PrivateKeyPassword string
}

// ReadsTDE asks the SQL Server's refresh batch for the TDE protectors.
func (*Config) ReadsTDE() {}

// Kinds returns the tde_certificate kind.
func Kinds() []*resources.Kind { return []*resources.Kind{kind} }

var kind = &resources.Kind{
	Type: Kind,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: attrSQLServer, Required: true}, {Name: attrManagedInstance, Required: true},
		{Name: "database"}, {Name: "private_key_password"},
	}},
	Decode:       decode,
	TargetAttr:   attrSQLServer,
	TargetType:   sqlserver.KindServer,
	OtherTargets: []resources.TargetRef{{Attr: attrManagedInstance, Type: "managed_instance"}},
	Identity: func(cfg any) string {
		if c, ok := cfg.(*Config); ok {
			return c.Database
		}
		return ""
	},
	// Never deleted: the managed instance needs the certificate for as
	// long as any database or backup it protects exists there.
	Removal:   resources.RemoveForget,
	Sensitive: []string{"private_key_password"},
	Impl:      impl{},
}

func decode(b *lang.Body, blk resources.BlockInfo) any {
	c := &Config{Address: blk.Address, DeclRange: b.Range}
	def := blk.Name
	if blk.Key != "" {
		def = blk.Key
	}
	c.Database = b.Str("database", def, false)
	if a := b.Attr("database"); a != nil && !b.Unknown("database") && (c.Database == "" || len([]rune(c.Database)) > 128) {
		b.Errorf(a, "Invalid database name", "A database name has 1 to 128 characters.")
	}
	if b.Unknown("database") {
		c.Database = ""
	}
	c.PrivateKeyPassword = b.Str("private_key_password", "", true)
	return c
}

type impl struct{}

// observed is what Read found.
type observed struct {
	p    sqlserver.TDEProtector
	onMI bool // the managed instance holds a certificate with the thumbprint
}

func diag(c *Config, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: c.DeclRange.Ptr()}}
}

// Read finds the database's protector in the SQL Server's refresh and asks
// the managed instance whether it holds that certificate.
func (impl) Read(ctx context.Context, req resources.DiffRequest) (any, hcl.Diagnostics) {
	c := req.Config.(*Config)
	sql := req.Target.Address()
	obs, ok := req.Observed.(protectors)
	if !ok {
		return nil, diag(c, "No TDE information", fmt.Sprintf("%s: %s did not report its databases' encryption keys.", c.Address, sql))
	}
	p, ok := obs.TDE(c.Database)
	switch {
	case !ok:
		return nil, diag(c, "Database not found", fmt.Sprintf("%s: there is no user database %q on %s.", c.Address, c.Database, sql))
	case p.EncryptionState == 0 || !p.Encrypted:
		return nil, diag(c, "Database not encrypted", fmt.Sprintf("%s: the database %q on %s is not protected by TDE (it has no database encryption key, or encryption is off), so it has no certificate to move. Remove this block, or enable TDE first.", c.Address, p.Database, sql))
	case !strings.EqualFold(p.EncryptorType, "CERTIFICATE"):
		return nil, diag(c, "Not protected by a certificate", fmt.Sprintf("%s: the encryption key of %q on %s is protected by %s, not a certificate; only a certificate can be moved to a managed instance.", c.Address, p.Database, sql, strings.ToLower(p.EncryptorType)))
	case p.Certificate == "":
		return nil, diag(c, "Certificate not found", fmt.Sprintf("%s: no certificate in master on %s has the thumbprint 0x%X that protects %q.", c.Address, sql, p.Thumbprint, p.Database))
	case !p.HasPrivateKey():
		return nil, diag(c, "Certificate without a private key", fmt.Sprintf("%s: certificate %s, which protects %q on %s, has no private key there, so it cannot be moved; restore it with its private key first.", c.Address, p.Certificate, p.Database, sql))
	}
	mi, addr, problem := managedInstance(req.Others[attrManagedInstance].Target)
	if problem != "" {
		return nil, diag(c, "Cannot reach the managed instance", fmt.Sprintf("%s: %s", c.Address, problem))
	}
	has, err := mi.HasCertificate(ctx, p.Thumbprint)
	if err != nil {
		return nil, diag(c, "Cannot read the managed instance's certificates", fmt.Sprintf("%s: %s: %v", c.Address, addr, err))
	}
	return observed{p: p, onMI: has}, nil
}

func managedInstance(t resources.Target) (ManagedInstance, string, string) {
	if t == nil {
		return nil, "", "the managed instance could not be read"
	}
	mi, ok := t.(ManagedInstance)
	if !ok {
		return nil, t.Address(), t.Address() + " cannot hold TDE certificates"
	}
	return mi, t.Address(), ""
}

// Thumbprint is how plans and the state show a thumbprint: 0x and
// upper-case hex, as SQL Server prints varbinary.
func Thumbprint(b []byte) string { return "0x" + strings.ToUpper(hex.EncodeToString(b)) }

func attrs(p sqlserver.TDEProtector, onMI bool) map[string]any {
	return map[string]any{
		"database":            p.Database,
		"certificate":         p.Certificate,
		"thumbprint":          Thumbprint(p.Thumbprint),
		"subject":             p.Subject,
		"expiry":              p.Expiry.UTC().Format(time.RFC3339),
		"on_managed_instance": onMI,
	}
}

// now is the clock of the expiry warning.
var now = time.Now

func (impl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*Config)
	o, ok := req.Read.(observed)
	if !ok {
		return resources.Change{}, diag(c, "Not read", c.Address+": the certificate was not read")
	}
	mi := req.Others[attrManagedInstance].Target.Address()
	ch := resources.Change{
		Action: resources.NoOp,
		Before: attrs(o.p, o.onMI),
		After:  attrs(o.p, true),
	}
	var diags hcl.Diagnostics
	if o.onMI {
		return ch, nil
	}
	ch.Action = resources.Create
	ch.Before = nil
	ch.Reason = fmt.Sprintf("%s has no certificate with the thumbprint of %s, which protects %s", mi, o.p.Certificate, o.p.Database)
	ch.Steps = []resources.Step{
		{Kind: "tsql", On: req.Target.Address(), Text: sqlserver.ExportCertificateSQL(o.p.Certificate, "x", c.PrivateKeyPassword, true)},
		{Kind: "api", On: mi, Text: UploadStep},
		{Kind: "check", On: mi, Text: "sys.certificates holds thumbprint " + Thumbprint(o.p.Thumbprint)},
	}
	if left := o.p.Expiry.Sub(now()); left < ExpiryWarning {
		when := "expires in " + days(left)
		if left <= 0 {
			when = "expired " + days(-left) + " ago"
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "TDE certificate close to its expiry",
			Detail: fmt.Sprintf("%s: certificate %s (%s) %s, on %s. It is moved all the same: SQL Server keeps decrypting with an expired certificate, but rotate it (ALTER DATABASE ENCRYPTION KEY with a new certificate) and move the new one too.",
				c.Address, o.p.Certificate, Thumbprint(o.p.Thumbprint), when, o.p.Expiry.UTC().Format("2006-01-02")),
			Subject: c.DeclRange.Ptr(),
		})
	}
	return ch, diags
}

// UploadStep is how plans show the upload: the PFX and its password are
// made at apply time and never shown.
const UploadStep = `POST tdeCertificates {"properties": {"privateBlob": "(sensitive)", "certPassword": "(sensitive)"}} (a PFX built in memory)`

func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// Apply exports the certificate and its private key with a one-time
// password, builds the PFX in memory with another, uploads it, and checks
// the managed instance now holds the certificate. Safe to run again: a
// certificate already there is not uploaded twice.
func (impl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	ch := req.Change
	c, ok := req.Config.(*Config)
	if !ok || ch.Action != resources.Create {
		return resources.Result{}, fmt.Errorf("%s: cannot %s a TDE certificate", ch.Address, ch.Action)
	}
	progress := req.Progress
	if progress == nil {
		progress = func(string) {}
	}
	src, ok := req.Target.(certificateSource)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: %s cannot export certificates", ch.Address, req.Target.Address())
	}
	mi, miAddr, problem := managedInstance(req.Others[attrManagedInstance])
	if problem != "" {
		return resources.Result{}, fmt.Errorf("%s: %s", ch.Address, problem)
	}
	name, _ := ch.After["certificate"].(string)
	planned, _ := ch.After["thumbprint"].(string)
	want, err := hex.DecodeString(strings.TrimPrefix(planned, "0x"))
	if err != nil || len(want) == 0 || name == "" {
		return resources.Result{}, fmt.Errorf("%s: the plan names no certificate; plan again", ch.Address)
	}
	result := resources.Result{Attributes: ch.After}

	// A re-run after a crash, or a saved plan applied after someone else
	// moved the certificate: nothing to upload.
	if has, err := mi.HasCertificate(ctx, want); err != nil {
		return resources.Result{}, fmt.Errorf("%s: reading %s's certificates: %w", ch.Address, miAddr, err)
	} else if has {
		progress(miAddr + " already holds certificate " + name)
		return result, nil
	}

	blob, pfxPassword, err := buildPFX(ctx, src, c, ch.Address, name, want)
	if err != nil {
		return resources.Result{}, err
	}
	defer clear(blob)
	defer clear(pfxPassword)
	progress(fmt.Sprintf("exported %s from %s and built its PFX in memory", name, req.Target.Address()))
	if err := mi.ImportTDECertificate(ctx, blob, string(pfxPassword)); err != nil {
		return resources.Result{}, fmt.Errorf("%s: uploading certificate %s to %s: %w", ch.Address, name, miAddr, scrub(err, string(pfxPassword), c.PrivateKeyPassword))
	}
	progress("uploaded to " + miAddr)
	has, err := mi.HasCertificate(ctx, want)
	if err != nil {
		return resources.Result{}, fmt.Errorf("%s: uploaded certificate %s, but reading %s's certificates failed: %w", ch.Address, name, miAddr, err)
	}
	if !has {
		return resources.Result{}, fmt.Errorf("%s: uploaded certificate %s, but %s holds no certificate with thumbprint %s", ch.Address, name, miAddr, planned)
	}
	progress(miAddr + " holds thumbprint " + planned)
	return result, nil
}

// buildPFX exports the certificate with a one-time password, checks it is
// the planned one, decodes its key and packs both into a PFX under a
// fresh password. Every intermediate secret is zeroed before it returns.
func buildPFX(ctx context.Context, src certificateSource, c *Config, addr, name string, want []byte) (blob, password []byte, err error) {
	exportPassword, err := pfx.NewPassword()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer clear(exportPassword)
	der, pvk, err := src.ExportCertificate(ctx, addr, name, string(exportPassword), c.PrivateKeyPassword)
	if err != nil {
		return nil, nil, scrub(err, string(exportPassword), c.PrivateKeyPassword)
	}
	defer clear(pvk)
	if tp := sha1.Sum(der); !bytes.Equal(tp[:], want) {
		return nil, nil, fmt.Errorf("%s: certificate %s changed since the plan (thumbprint %s, planned %s); plan again", addr, name, Thumbprint(tp[:]), Thumbprint(want))
	}
	key, err := pfx.DecodePVK(pvk, exportPassword)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: decoding the private key of %s: %w", addr, name, err)
	}
	defer pfx.WipeKey(key)
	password, err = pfx.NewPassword()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", addr, err)
	}
	blob, err = pfx.Build(der, key, string(password))
	if err != nil {
		clear(password)
		return nil, nil, fmt.Errorf("%s: %w", addr, err)
	}
	return blob, password, nil
}

// scrub keeps secrets out of an error's text, whatever produced it.
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, resources.Redacted)
		}
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
