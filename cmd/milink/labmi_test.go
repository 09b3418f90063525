package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/kinds"
)

// labManagedInstanceKinds is a managed_instance target for the test
// binary while this branch has none (resources/azure brings the real one,
// reading the instance through Resource Manager): it logs in to the lab's
// mi01 with go-mssqldb and observes its address as its fqdn. It is
// registered only when milink has no managed_instance kind of its own, so
// the scripts that use it (connectivity.txtar) must move to the real
// target once that is merged.
func labManagedInstanceKinds() []*resources.Kind {
	if kinds.Registry().Kind("managed_instance") != nil {
		return nil
	}
	return []*resources.Kind{{
		Type: "managed_instance",
		Role: resources.RoleTarget,
		Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "address", Required: true}, {Name: "port"}, {Name: "user", Required: true}, {Name: "password", Required: true},
			{Name: "fqdn"},
		}},
		Decode: func(b *lang.Body, blk resources.BlockInfo) any {
			return &labMIConfig{addr: blk.Address, host: b.Required("address", false, "in a managed_instance block"), fqdn: b.Str("fqdn", "", false),
				port: b.Int("port", 1433, 1, 65535), user: b.Required("user", false, "in a managed_instance block"),
				password: b.Required("password", true, "in a managed_instance block")}
		},
		Sensitive: []string{"password"},
		Impl:      labMIOpener{},
	}}
}

type labMIConfig struct {
	// fqdn is what the instance observes as its FQDN (default: host): a
	// script points it where nothing listens to make the instance
	// unreachable from SQL Server's host.
	addr, host, fqdn, user, password string
	port                             int
}

type labMIOpener struct{}

func (labMIOpener) Open(ctx context.Context, _ resources.Env, address string, cfg any) (resources.Target, error) {
	c := cfg.(*labMIConfig)
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(c.user, c.password), Host: net.JoinHostPort(c.host, strconv.Itoa(c.port)), RawQuery: "encrypt=disable"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", address, err)
	}
	db.SetMaxOpenConns(1)
	return &labMI{c: c, db: db}, nil
}

type labMI struct {
	c  *labMIConfig
	db *sql.DB
}

func (m *labMI) Address() string { return m.c.addr }
func (m *labMI) Close() error    { return m.db.Close() }

// SQLDB is the connection the connectivity check runs its job through.
func (m *labMI) SQLDB() (*sql.DB, error) { return m.db, nil }

func (m *labMI) Refresh(ctx context.Context, _ []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	var edition int
	if err := m.db.QueryRowContext(ctx, "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int)").Scan(&edition); err != nil || edition != 8 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read " + m.c.addr, Detail: fmt.Sprintf("not a managed instance (EngineEdition %d): %v", edition, err)}}
	}
	return labMIObserved{m.c}, nil
}

type labMIObserved struct{ c *labMIConfig }

func (o labMIObserved) Summary() resources.TargetSummary {
	return resources.TargetSummary{Address: o.c.addr, Type: "managed_instance", Where: o.c.host}
}
func (o labMIObserved) Values() map[string]cty.Value {
	fqdn := o.c.fqdn
	if fqdn == "" {
		fqdn = o.c.host
	}
	return map[string]cty.Value{"fqdn": cty.StringVal(fqdn)}
}

// cmdListen holds a TCP port for the rest of the script, as another
// process would: listen ADDRESS PORT.
func cmdListen(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: listen ADDRESS PORT")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(args[0], args[1]))
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
