package tde_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	_ "github.com/microsoft/go-mssqldb"
	"github.com/zclconf/go-cty/cty"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/milink/milink/config"
	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/internal/labtest"
	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
	"github.com/milink/milink/resources/tde"
	"github.com/milink/milink/state"
)

// miTarget stands for the managed_instance target (branch azure builds the
// real one): it reads each PFX with go-pkcs12 and keeps what it holds.
type miTarget struct {
	addr      string
	mu        sync.Mutex
	certs     []*x509.Certificate
	keys      []*rsa.PrivateKey
	blobs     [][]byte
	passwords []string
}

var mis sync.Map // address → *miTarget, for the test to look into

func (m *miTarget) Address() string { return m.addr }
func (m *miTarget) Close() error    { return nil }
func (m *miTarget) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return miObs{m.addr}, nil
}

func (m *miTarget) ImportTDECertificate(_ context.Context, blob []byte, password string) error {
	key, cert, err := pkcs12.Decode(blob, password)
	if err != nil {
		return fmt.Errorf("InvalidPrivateBlobOrPassword: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.certs = append(m.certs, cert)
	m.keys = append(m.keys, key.(*rsa.PrivateKey))
	m.blobs = append(m.blobs, append([]byte(nil), blob...))
	m.passwords = append(m.passwords, password)
	return nil
}

func (m *miTarget) HasCertificate(_ context.Context, thumbprint []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.certs {
		if tp := sha1.Sum(c.Raw); bytes.Equal(tp[:], thumbprint) {
			return true, nil
		}
	}
	return false, nil
}

type miObs struct{ addr string }

func (o miObs) Summary() resources.TargetSummary {
	return resources.TargetSummary{Address: o.addr, Type: "managed_instance"}
}
func (miObs) Values() map[string]cty.Value { return map[string]cty.Value{} }

type miOpener struct{}

func (miOpener) Open(_ context.Context, _ resources.Env, addr string, _ any) (resources.Target, error) {
	m, _ := mis.LoadOrStore(addr, &miTarget{addr: addr})
	return m.(*miTarget), nil
}

var miKind = &resources.Kind{
	Type:   "managed_instance",
	Role:   resources.RoleTarget,
	Schema: &hcl.BodySchema{},
	Decode: func(*lang.Body, resources.BlockInfo) any { return struct{}{} },
	Impl:   miOpener{},
}

const labPassword = "LabPassw0rd!!"

// registry is milink's kinds with the fake managed_instance in place of
// the real one (whose end-to-end test against the lab's Resource Manager
// is in cmd/milink).
func registry() *resources.Registry {
	all := append(sqlserver.Kinds(), miKind)
	return resources.NewRegistry(append(all, tde.Kinds()...)...)
}

// The real target has what the kind needs.
var _ tde.ManagedInstance = (*azure.ManagedInstance)(nil)

// startLab runs the lab's sql01 (whose payroll is TDE-protected by
// TDECert) behind a real TDS listener.
func startLab(t *testing.T) (port int, inst *engine.Instance) {
	t.Helper()
	dir := t.TempDir()
	p, ok := engine.LookupProfile("2019-cu22-linux")
	if !ok {
		t.Fatal("no lab profile")
	}
	inst, err := engine.Open(engine.Options{Name: "sql01", Profile: p, DataDir: filepath.Join(dir, "data"), FSRoot: filepath.Join(dir, "fs"),
		Login: "sa", Password: labPassword, Seed: "sql01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(engine.Startup{}); err != nil {
		t.Fatal(err)
	}
	return labtest.Serve(t, inst, "sql01"), inst
}

// syncBuffer is the trace log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The kind through the real loader, planner and walker, against the lab's
// SQL Server over go-mssqldb: plan shows the move, apply uploads a PFX the
// managed instance reads, the thumbprints agree, a second plan is empty,
// and no secret reaches the state, the plan file or the trace log.
func TestLabMovesTheCertificate(t *testing.T) {
	port, _ := startLab(t)
	dir := t.TempDir()
	src := fmt.Sprintf(`
variable "sa_password" {
  type      = string
  sensitive = true
}
variable "tde_key_password" {
  type      = string
  sensitive = true
}
sql_server "sql01" {
  address = "127.0.0.1"
  port    = %d
  encrypt = "disable"
  authentication {
    user     = "sa"
    password = var.sa_password
  }
  host {
    mssql_conf      = %q
    mssql_conf_tool = %q
  }
}
managed_instance "mi01" {}
tde_certificate "payroll" {
  sql_server           = sql_server.sql01
  managed_instance     = managed_instance.mi01
  private_key_password = var.tde_key_password
}
`, port, filepath.Join(dir, "mssql.conf"), filepath.Join(dir, "no-mssql-conf"))
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := config.Vars{Args: []string{"sa_password=" + labPassword, "tde_key_password=" + engine.SeedTDECertPassword}}
	reg := registry()
	var logBuf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logBuf})
	backend := state.NewLocal(filepath.Join(dir, "milink.state.json"))
	ctx := context.Background()

	planOnce := func() (*config.Config, *plan.Plan, *state.State, *plan.Session) {
		t.Helper()
		cfg, _, diags := config.Load(dir, reg, vars)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		st, err := backend.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sess := plan.NewSession(resources.Env{Log: log})
		t.Cleanup(sess.Close)
		p, diags := plan.Build(ctx, cfg, st, sess, plan.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg, p, st, sess
	}

	cfg, p, st, sess := planOnce()
	ch := p.Change("tde_certificate.payroll")
	if ch == nil || ch.Action != resources.Create || ch.Target != "sql_server.sql01" || ch.After["certificate"] != "TDECert" {
		t.Fatalf("plan: %+v", ch)
	}
	planFile := filepath.Join(dir, "tde.plan")
	if err := plan.Save(planFile, p, st.Salt); err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx, p, cfg, st, backend, sess, nopEvents{}); err != nil {
		t.Fatal(err)
	}

	v, _ := mis.Load("managed_instance.mi01")
	mi := v.(*miTarget)
	if len(mi.certs) != 1 {
		t.Fatalf("%d certificates uploaded", len(mi.certs))
	}
	// The thumbprint on the managed instance is sql01's, as SQL Server
	// itself reports it.
	db := openDB(t, port)
	var want []byte
	if err := db.QueryRow("SELECT thumbprint FROM master.sys.certificates WHERE name = N'TDECert'").Scan(&want); err != nil {
		t.Fatal(err)
	}
	got := sha1.Sum(mi.certs[0].Raw)
	if !bytes.Equal(got[:], want) || ch.After["thumbprint"] != tde.Thumbprint(want) {
		t.Errorf("thumbprint on mi01 %X, sql01 %X, planned %v", got, want, ch.After["thumbprint"])
	}
	if !mi.certs[0].PublicKey.(*rsa.PublicKey).Equal(&mi.keys[0].PublicKey) {
		t.Error("the uploaded key is not the certificate's")
	}

	_, p2, _, _ := planOnce()
	if ch := p2.Change("tde_certificate.payroll"); ch == nil || ch.Action != resources.NoOp || ch.Before["on_managed_instance"] != true {
		t.Errorf("second plan: %+v", ch)
	}

	// The secrets scan: the state, the plan file, the trace log, every
	// file of the test's directory.
	stateText, err := os.ReadFile(filepath.Join(dir, "milink.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	planText, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stateText), strings.ToUpper(hex.EncodeToString(want))) {
		t.Error("the state does not record the thumbprint")
	}
	keyDER := x509.MarshalPKCS1PrivateKey(mi.keys[0])
	secrets := map[string]string{
		"the PFX password":         mi.passwords[0],
		"the private key password": engine.SeedTDECertPassword,
		"the PFX (base64)":         base64.StdEncoding.EncodeToString(mi.blobs[0])[:64],
		"the PFX (hex)":            hex.EncodeToString(mi.blobs[0])[:64],
		"the private key (hex)":    hex.EncodeToString(keyDER[len(keyDER)-64:]),
		"the private key (base64)": base64.StdEncoding.EncodeToString(keyDER[len(keyDER)-48:]),
		"the private exponent":     mi.keys[0].D.Text(16)[:64],
	}
	places := map[string]string{"state": string(stateText), "plan file": string(planText), "trace log": logBuf.String()}
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, err := os.ReadFile(path); err == nil {
				places[path] = string(b)
			}
		}
		return nil
	})
	for where, text := range places {
		for what, s := range secrets {
			if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%s holds %s", where, what)
			}
		}
	}
	if !strings.Contains(logBuf.String(), `CERTPRIVATEKEY(CERT_ID(N'TDECert'), (sensitive), (sensitive))`) {
		t.Errorf("the trace log does not show the redacted export:\n%s", logBuf.String())
	}
}

type nopEvents struct{}

func (nopEvents) Start(resources.Change)                      {}
func (nopEvents) Progress(resources.Change, string)           {}
func (nopEvents) Done(resources.Change, time.Duration, error) {}
func (nopEvents) Skipped(resources.Change, string)            {}

func openDB(t *testing.T, port int) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", labPassword),
		Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), RawQuery: "encrypt=disable&database=master"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConfig(t *testing.T) {
	head := `
sql_server "sql01" {
  address = "127.0.0.1"
  authentication {
    user     = "sa"
    password = "x"
  }
}
managed_instance "mi01" {}
`
	tests := []struct {
		name, src string
		want      map[string]string // address → database
		err       string
	}{
		{"label", `tde_certificate "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}`, map[string]string{"tde_certificate.payroll": "payroll"}, ""},
		{"for_each", `tde_certificate "tde" {
  for_each         = toset(["payroll", "hr"])
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}`, map[string]string{`tde_certificate.tde["payroll"]`: "payroll", `tde_certificate.tde["hr"]`: "hr"}, ""},
		{"duplicate", `tde_certificate "a" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  database         = "payroll"
}
tde_certificate "b" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  database         = "PAYROLL"
}`, nil, "Duplicate tde_certificate"},
		{"no managed instance", `tde_certificate "payroll" {
  sql_server = sql_server.sql01
}`, nil, `The argument "managed_instance" is required`},
		{"wrong target type", `tde_certificate "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = sql_server.sql01
}`, nil, `must be a reference to a managed_instance block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(head+tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, _, diags := config.Load(dir, registry(), config.Vars{})
			if tt.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.err) {
					t.Fatalf("diags %v, want %q", diags, tt.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			for addr, db := range tt.want {
				b := cfg.Block(addr)
				if b == nil {
					t.Fatalf("no block %s", addr)
				}
				v, diags := cfg.Decode(b, nil, false)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if c := v.(*tde.Config); c.Database != db || b.Target != "sql_server.sql01" || b.Others["managed_instance"] != "managed_instance.mi01" {
					t.Errorf("%s: database %q, targets %v", addr, c.Database, b.Targets())
				}
			}
		})
	}
}
