package checks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/resources/host"
)

// The checks run against the real lab: go-mssqldb to sql01 and mi01, the
// mirroring endpoint's real listener, the agent's real TCP connect, and
// bash on this machine as SQL Server's host (all on 127.0.0.0/8).

type labEnv struct {
	lab     *lab.Lab
	sql, mi *sql.DB
	sqlAddr string // sql01's address, where its endpoint listens
	miAddr  string // mi01's address, the "FQDN"
}

func startLab(t *testing.T) *labEnv {
	t.Helper()
	for range 10 {
		l, err := lab.Open(lab.Config{Dir: t.TempDir(), Address: randomBase(t), RestartDelay: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Start(); err != nil {
			l.Close()
			if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		e := &labEnv{lab: l}
		s, _ := l.File().Server(lab.SQLServerName)
		m, _ := l.File().Server(lab.ManagedInstanceName)
		e.sql, e.mi, e.sqlAddr, e.miAddr = openDB(t, s), openDB(t, m), s.Address, m.Address
		return e
	}
	t.Fatal("could not start a lab: addresses kept being taken")
	return nil
}

func randomBase(t *testing.T) string {
	for range 50 {
		base := fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250))
		next := strings.TrimSuffix(base, ".2") + ".3"
		if portFree(base, 1433) && portFree(base, 5022) && portFree(next, 1433) && portFree(next, 5022) {
			return base
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

// silentAddr is a loopback address where nothing listens on 5022.
func silentAddr(t *testing.T) string {
	for range 50 {
		a := fmt.Sprintf("127.%d.%d.9", 10+rand.IntN(240), rand.IntN(250))
		if portFree(a, 5022) {
			return a
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

func portFree(addr string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func openDB(t *testing.T, s lab.ServerInfo) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.User, s.Password), Host: net.JoinHostPort(s.Address, strconv.Itoa(s.Port)),
		RawQuery: "encrypt=disable&dial+timeout=5"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (e *labEnv) exec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *labEnv) masterKey(t *testing.T) {
	e.exec(t, e.sql, "USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Check-Str0ng-Passw0rd!';")
}

// listen opens a port that accepts connections: a redirect port of the
// managed instance, or another process holding SQL Server's port.
func listen(t *testing.T, addr string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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

func (e *labEnv) check() *Check {
	return &Check{
		Name:            "connectivity_check.link",
		SQLServer:       DB{e.sql},
		SQLServerName:   "sql_server.sql01",
		Host:            host.Local{},
		ManagedInstance: DB{e.mi}, ManagedInstanceName: "managed_instance.mi01",
		FQDN:         e.miAddr,
		Address:      e.sqlAddr,
		Port:         5022,
		PollInterval: 50 * time.Millisecond, JobTimeout: 20 * time.Second,
	}
}

// names lists what a catalogue query returns.
func names(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := DB{db}.Query(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, str(r[0]))
	}
	return out
}

// assertClean: neither catalogue holds a test object.
func (e *labEnv) assertClean(t *testing.T) {
	t.Helper()
	for _, q := range []struct {
		db *sql.DB
		q  string
	}{
		{e.sql, "SELECT name FROM sys.endpoints WHERE name LIKE N'milink%'"},
		{e.sql, "SELECT name FROM master.sys.certificates WHERE name LIKE N'milink%'"},
		{e.mi, "SELECT name FROM msdb.dbo.sysjobs"},
	} {
		if got := names(t, q.db, q.q); len(got) != 0 {
			t.Errorf("%s: %v left behind", q.q, got)
		}
	}
}

// statements is a server's statement log, joined.
func (e *labEnv) statements(name string) string {
	s, _ := e.lab.Server(name)
	var b strings.Builder
	for _, st := range s.Engine().StatementLog() {
		b.WriteString(st.Text)
		b.WriteString("\n")
	}
	return b.String()
}

func result(t *testing.T, rep Report, d Direction) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Direction == d {
			return r
		}
	}
	t.Fatalf("no %s result in %+v", d, rep)
	return Result{}
}

func TestBothDirectionsPass(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	listen(t, e.miAddr, 11000) // the lab's mi01 listens on 5022 itself
	c := e.check()
	c.RedirectPort = 11000
	var progress []string
	c.Progress = func(s string) { progress = append(progress, s) }
	rep := c.Run(t.Context())
	if !rep.Passed() || len(rep.Results) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	name := ObjectName(rep.RunID)
	sqlLog, miLog := e.statements(lab.SQLServerName), e.statements(lab.ManagedInstanceName)
	for _, want := range []string{"CREATE CERTIFICATE [" + name + "]", "CREATE ENDPOINT [" + name + "]", "DROP ENDPOINT [" + name + "]", "DROP CERTIFICATE [" + name + "]"} {
		if !strings.Contains(sqlLog, want) {
			t.Errorf("sql01's statement log lacks %q:\n%s", want, sqlLog)
		}
	}
	for _, want := range []string{"sp_add_job @job_name = N'" + name + "'", "sp_start_job @job_name = N'" + name + "'", "sp_delete_job @job_name = N'" + name + "'"} {
		if !strings.Contains(miLog, want) {
			t.Errorf("mi01's statement log lacks %q:\n%s", want, miLog)
		}
	}
	e.assertClean(t)
	if !portFree(e.sqlAddr, 5022) {
		t.Error("the test endpoint still listens")
	}
	if len(progress) == 0 {
		t.Error("no progress reported")
	}
}

func TestManagedInstanceUnreachable(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	c := e.check()
	c.FQDN = silentAddr(t) // where nothing listens
	c.Known = Knowledge{NotApplied: []string{"nsg_rule.mi_inbound"}, HostFirewall: Present}
	rep := c.Run(t.Context())
	r := result(t, rep, ToManagedInstance)
	if r.Status != Failed || !strings.Contains(r.Hop, "host of sql_server.sql01 → "+c.FQDN+":5022") || !strings.Contains(r.Detail, "refused") {
		t.Fatalf("SQL Server → managed instance: %+v", r)
	}
	if len(r.Hints) == 0 || r.Hints[0] != "nsg_rule.mi_inbound is not applied yet" {
		t.Errorf("hints: %q", r.Hints)
	}
	for _, h := range r.Hints {
		if strings.Contains(h, "host firewall") || strings.Contains(h, "firewall of SQL Server's host") {
			t.Errorf("a host firewall hint although its rule is applied: %q", h)
		}
	}
	if o := result(t, rep, ToSQLServer); o.Status != Passed {
		t.Errorf("the other direction: %+v", o)
	}
	e.assertClean(t)
}

func TestEndpointPortTaken(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	listen(t, e.sqlAddr, 5022) // another process holds the endpoint's port
	rep := e.check().Run(t.Context())
	r := result(t, rep, ToSQLServer)
	if r.Status != Failed || r.ErrorNumber != 9692 || !strings.Contains(r.Hop, "mirroring endpoint on port 5022") {
		t.Fatalf("managed instance → SQL Server: %+v", r)
	}
	if len(r.Hints) == 0 || !strings.HasPrefix(r.Hints[0], "endpoint port taken: error 9692") {
		t.Errorf("hints: %q", r.Hints)
	}
	if !strings.Contains(r.Detail, "9692") && !strings.Contains(r.Detail, "in use by another process") {
		t.Errorf("detail loses SQL Server's message: %q", r.Detail)
	}
	if o := result(t, rep, ToManagedInstance); o.Status != Passed {
		t.Errorf("the other direction: %+v", o)
	}
	e.assertClean(t)
}

func TestExistingEndpointIsUsedAndKept(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	e.exec(t, e.sql, "USE [master]; CREATE CERTIFICATE [link_cert] WITH SUBJECT = N'link'; CREATE ENDPOINT [Hadr_endpoint] STATE = STARTED AS TCP (LISTENER_PORT = 5022, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE [link_cert], ENCRYPTION = REQUIRED ALGORITHM AES);")
	rep := e.check().Run(t.Context())
	r := result(t, rep, ToSQLServer)
	if r.Status != Passed || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "created none") {
		t.Fatalf("managed instance → SQL Server: %+v", r)
	}
	if log := e.statements(lab.SQLServerName); strings.Contains(log, "CREATE ENDPOINT ["+Prefix) || strings.Contains(log, "DROP ENDPOINT") {
		t.Errorf("the check created or dropped an endpoint:\n%s", log)
	}
	if got := names(t, e.sql, "SELECT name FROM sys.endpoints WHERE type_desc = N'DATABASE_MIRRORING'"); len(got) != 1 || got[0] != "Hadr_endpoint" {
		t.Errorf("endpoints after the check: %v", got)
	}
	e.assertClean(t)
}

func TestStoppedEndpointIsNotTouched(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	e.exec(t, e.sql, "USE [master]; CREATE CERTIFICATE [link_cert] WITH SUBJECT = N'link'; CREATE ENDPOINT [Hadr_endpoint] STATE = STOPPED AS TCP (LISTENER_PORT = 5022) FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE [link_cert]);")
	r := result(t, e.check().Run(t.Context()), ToSQLServer)
	if r.Status != NotRun || !strings.Contains(r.Detail, "[Hadr_endpoint]") || !strings.Contains(r.Detail, "STOPPED") {
		t.Fatalf("managed instance → SQL Server: %+v", r)
	}
	if log := e.statements(lab.ManagedInstanceName); strings.Contains(log, "sp_add_job") {
		t.Errorf("a job was created although the check could not run:\n%s", log)
	}
}

func TestNoMasterKeyCannotRun(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	r := result(t, e.check().Run(t.Context()), ToSQLServer)
	if r.Status != NotRun || r.ErrorNumber != 15581 || len(r.Hints) != 1 || !strings.Contains(r.Hints[0], "master_key") {
		t.Fatalf("managed instance → SQL Server: %+v", r)
	}
	e.assertClean(t)
}

func TestUnreachableTargetsCannotRun(t *testing.T) {
	c := &Check{SQLServerName: "sql_server.sql01", ManagedInstanceName: "managed_instance.mi01", FQDN: "mi.example",
		ManagedInstanceErr: errors.New("managed_instance.mi01: no authentication block")}
	rep := c.Run(t.Context())
	for _, r := range rep.Results {
		if r.Status != NotRun || r.Detail == "" {
			t.Errorf("%+v", r)
		}
	}
	c.SQLServer = DB{}
	if r := c.toSQLServer(t.Context()); !strings.Contains(r.Detail, "no authentication block") {
		t.Errorf("the reason the managed instance cannot be reached is lost: %+v", r)
	}
	if rep.Passed() {
		t.Error("a report that did not run passed")
	}
}

// interrupting wraps the managed instance and cancels the run once the
// job has started: the job, endpoint and certificate must still go.
type interrupting struct {
	SQL
	cancel context.CancelFunc
}

func (i interrupting) Exec(ctx context.Context, batch string) error {
	err := i.SQL.Exec(ctx, batch)
	if strings.Contains(batch, "sp_start_job") {
		i.cancel()
	}
	return err
}

func TestInterruptedCheckCleansUp(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := e.check()
	c.ManagedInstance = interrupting{SQL: DB{e.mi}, cancel: cancel}
	r := result(t, c.Run(ctx), ToSQLServer)
	if r.Status != NotRun || !strings.Contains(r.Detail, "canceled") {
		t.Fatalf("managed instance → SQL Server after an interrupt: %+v", r)
	}
	e.assertClean(t)
}

func TestLeftoversAreRemoved(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	// What a run killed after creating everything leaves: its endpoint
	// (started, so it would pass for an existing one), certificate, job.
	old := ObjectName("0ld0ld0ld0ld")
	e.exec(t, e.sql, CreateCertificateSQL(old, time.Now().Add(48*time.Hour)))
	e.exec(t, e.sql, CreateEndpointSQL(old, old, 5022))
	e.exec(t, e.mi, AddJobSQL(old, e.sqlAddr, 5022))
	// An object whose name only looks alike is not milink's.
	e.exec(t, e.sql, "USE [master]; CREATE CERTIFICATE [milinkXcheckXmine] WITH SUBJECT = N'not milink''s';")
	rep := e.check().Run(t.Context())
	if len(rep.Removed) != 3 {
		t.Errorf("removed: %q", rep.Removed)
	}
	r := result(t, rep, ToSQLServer)
	if r.Status != Passed || len(r.Notes) != 0 {
		t.Fatalf("managed instance → SQL Server: %+v", r)
	}
	if got := names(t, e.sql, "SELECT name FROM master.sys.certificates WHERE name LIKE N'milink%'"); len(got) != 1 || got[0] != "milinkXcheckXmine" {
		t.Errorf("certificates: %v", got)
	}
	if got := names(t, e.sql, "SELECT name FROM sys.endpoints WHERE name LIKE N'milink%'"); len(got) != 0 {
		t.Errorf("endpoints: %v", got)
	}
	if got := names(t, e.mi, "SELECT name FROM msdb.dbo.sysjobs"); len(got) != 0 {
		t.Errorf("jobs: %v", got)
	}
}
