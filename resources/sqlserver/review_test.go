package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"github.com/milink/milink/resources/host"
	"reflect"
	"strings"
	"testing"

	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/resources"
)

// databaseChange is the plan's change for one database of the lab.
func databaseChange(t *testing.T, i *Instance, s0 string) resources.Change {
	t.Helper()
	chs, _ := diffAll(i.s, refresh(t, i, i.s), nil, testSalt)
	for _, c := range chs {
		if c.Address == s0 {
			return c
		}
	}
	t.Fatalf("no change for %s", s0)
	return resources.Change{}
}

// Ctrl-C while BACKUP runs: the backup under way is left to finish, as a
// restart is (stopping it halfway helps nobody), and is reported as done
// only because it was seen to finish; nothing new starts afterwards.
func TestLabBackupInterrupted(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	sales := databaseChange(t, i, "database.sales")
	inventory := databaseChange(t, i, "database.inventory")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var progress []string
	res, err := applyChange(ctx, i, s, sales, func(m string) {
		progress = append(progress, m)
		if strings.Contains(m, "percent processed") {
			cancel() // the user presses Ctrl-C at the first progress message
		}
	})
	if err != nil {
		t.Fatalf("the backup under way was stopped: %v", err)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "BACKUP DATABASE successfully processed") {
		t.Errorf("the backup was not seen to finish: %q", progress)
	}
	if res.Attributes["backup_file"] == nil {
		t.Errorf("result %v", res.Attributes)
	}
	_, err = applyChange(ctx, i, s, inventory, nil)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "database.inventory: ") || !strings.Contains(err.Error(), "not started") {
		t.Errorf("after the interrupt: err = %v", err)
	}
	o, err := i.refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := o.Databases["sales"]; !d.LogChain || d.LastFullBackup.IsZero() {
		t.Errorf("sales after the interrupted run: %+v", d)
	}
	if d := o.Databases["inventory"]; !d.LastFullBackup.IsZero() {
		t.Errorf("inventory was backed up after the interrupt: %+v", d)
	}
}

// Apply re-reads only what a change needs: mssql.conf for a Linux startup
// setting (no round trip); for a database of a saved plan, one query, then
// one batch (recovery model, backup and the read of its finish time); for a
// plan made in the same run (fresh), that batch alone. A re-run on a done
// database costs the one query and changes nothing.
func TestLabApplyRoundTrips(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ctx := context.Background()
	chs, _ := diffAll(s, refresh(t, i, s), nil, testSalt)
	byAddr := map[string]resources.Change{}
	for _, c := range chs {
		byAddr[c.Address] = c
	}
	cost := func(addr string, fresh bool) int64 {
		t.Helper()
		before := l.inst.Counters().RoundTrips
		ch := byAddr[addr]
		req := resources.ApplyRequest{Change: ch, Config: configOf(s, addr), Target: i, Salt: testSalt, Progress: quiet, Fresh: fresh}
		if _, err := kindOf(ch.Kind).Impl.(resources.Resource).Apply(ctx, req); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		return l.inst.Counters().RoundTrips - before
	}
	for _, tt := range []struct {
		addr  string
		fresh bool
		want  int64
	}{
		{"hadr.sql01", false, 0},
		{"startup_trace_flags.sql01", false, 0},
		{"database.sales", false, 2},    // read; SET RECOVERY FULL + BACKUP + read the finish time
		{"database.sales", false, 1},    // re-run: read, nothing left to do
		{"database.payroll", true, 1},   // fresh: BACKUP + read, in one batch
		{"database.inventory", true, 1}, // fresh: the same
	} {
		if got := cost(tt.addr, tt.fresh); got != tt.want {
			t.Errorf("%s: %d round trips, want %d", tt.addr, got, tt.want)
		}
	}
	o := refresh(t, i, s)
	for _, name := range []string{"sales", "payroll", "inventory"} {
		if d := o.Databases[name]; d.RecoveryModel != "FULL" || !d.LogChain || d.LastFullBackup.IsZero() {
			t.Errorf("%s after apply: %+v", name, d)
		}
	}
	// The setting was written all the same.
	st, err := i.linux.ReadStartup(ctx)
	if err != nil || !st.Hadr || len(st.TraceFlags) != 2 {
		t.Errorf("mssql.conf: %+v %v", st, err)
	}
}

// The redaction net also catches the password as it appears inside the
// DSN (userinfo encoding differs from both QueryEscape and PathEscape:
// "@" and ":" escaped, ";" and "$" kept), should a driver or net/url ever
// quote the connection string in an error.
func TestRedactDSNForm(t *testing.T) {
	s := sql01()
	s.Auth.Password = "p@ss;w0rd$(x)"
	err := redact(s, fmt.Errorf("parse %q: invalid port", DSN(s)))
	if strings.Contains(err.Error(), "w0rd") {
		t.Errorf("password left in %v", err)
	}
}

// On Windows, apply re-reads the configured startup settings with one
// query of sys.dm_server_registry (-t is not a trace flag).
func TestLabWindowsStartupReread(t *testing.T) {
	l := startLab(t, "2019-cu20-windows")
	key := `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	if err := l.inst.Start(engine.Startup{Registry: []engine.RegistryValue{
		{Key: key, Name: "SQLArg3", Data: "-T1800"},
		{Key: key, Name: "SQLArg4", Data: "-t9567"},
		{Key: `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\HADR`, Name: "HADR_Enabled", Data: "1"},
	}}); err != nil {
		t.Fatal(err)
	}
	s := l.config()
	s.Host.OS = "windows"
	i := l.open(t, s)
	before := l.inst.Counters().RoundTrips
	st, err := i.startup(context.Background(), "hadr.sql01")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Hadr || !reflect.DeepEqual(st.TraceFlags, []int{1800}) {
		t.Errorf("startup %+v", st)
	}
	if n := l.inst.Counters().RoundTrips - before; n != 1 {
		t.Errorf("%d round trips, want 1", n)
	}
}

// BULK_LOGGED → FULL keeps the log chain: a full backup taken while in
// BULK_LOGGED still counts, so only the recovery model changes; SIMPLE →
// FULL needs a new full backup. Either way the plan says that log backups
// must now run.
func TestLabBulkLoggedKeepsTheLogChain(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ctx := context.Background()
	for _, q := range []string{
		"ALTER DATABASE [payroll] SET RECOVERY BULK_LOGGED",
		"BACKUP DATABASE [payroll] TO DISK = N'/var/opt/mssql/backup/payroll_base.bak'",
	} {
		if err := i.exec(ctx, q, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	chs, diags := diffAll(s, refresh(t, i, s), nil, testSalt)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	byAddr := map[string]resources.Change{}
	for _, c := range chs {
		byAddr[c.Address] = c
	}
	payroll := byAddr["database.payroll"]
	if len(payroll.Steps) != 1 || payroll.Steps[0].Text != RecoveryFullSQL("payroll") || payroll.IsUnknown("last_full_backup") {
		t.Errorf("BULK_LOGGED with a log chain: steps %v, unknown %v; want only SET RECOVERY FULL", payroll.Steps, payroll.Unknown)
	}
	sales := byAddr["database.sales"] // SIMPLE in the lab's catalogue
	if len(sales.Steps) != 2 || !sales.IsUnknown("last_full_backup") {
		t.Errorf("SIMPLE: steps %v; want SET RECOVERY FULL and a backup", sales.Steps)
	}
	for _, c := range []resources.Change{payroll, sales} {
		if !strings.Contains(c.Reason, "log backups") {
			t.Errorf("%s: the reason does not say log backups must now run: %s", c.Address, c.Reason)
		}
	}
}

// The SSH password and key passphrase (and a jump host's) are scrubbed
// from errors like the SQL login's, whatever produced the error.
func TestRedactSSHSecrets(t *testing.T) {
	s := sql01()
	s.Host.Transport = "ssh"
	s.Host.SSH = &host.SSHConfig{User: "dba", Password: "Ssh-Passw0rd-1", Passphrase: "Key-Phrase-22",
		Jump: &host.SSHConfig{User: "jump", Password: "Jump-Passw0rd-3"}}
	err := redact(s, fmt.Errorf("dial: Ssh-Passw0rd-1 / Key-Phrase-22 / Jump-Passw0rd-3"))
	for _, secret := range []string{"Ssh-Passw0rd-1", "Key-Phrase-22", "Jump-Passw0rd-3"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q left in %v", secret, err)
		}
	}
}
