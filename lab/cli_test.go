//go:build unix

// These tests look at the lab process with kill(2) and /proc, which
// Windows has not; there the lab's process handling is in proc_windows.go
// of package labcmd, built (not run) by scripts/test.

package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/labcmd"
)

// milink runs `milink lab ARGS` in-process.
func milink(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = labcmd.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// upLab runs `milink lab up` on a random address in a fresh directory,
// retrying when the address is taken; `down` runs when the test ends.
func upLab(t *testing.T, extra ...string) (dir, address string) {
	t.Helper()
	for range 5 {
		dir = filepath.Join(t.TempDir(), ".milink-lab")
		address = randomBase(t)
		args := append([]string{"up", "-dir", dir, "-address", address, "-restart-delay", "200ms"}, extra...)
		code, out, errs := milink(t, args...)
		if code == 0 {
			t.Cleanup(func() { stopLab(t, dir) })
			return dir, address
		}
		stopLab(t, dir)
		if strings.Contains(errs, "address already in use") {
			continue
		}
		t.Fatalf("milink lab up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	t.Fatal("milink lab up: addresses kept being taken")
	return "", ""
}

// stopLab leaves nothing running, even if the test failed half-way.
func stopLab(t *testing.T, dir string) {
	cf, err := os.ReadFile(lab.ControlPath(dir))
	if code, out, errs := milink(t, "down", "-dir", dir); code != 0 {
		t.Errorf("milink lab down: exit %d: %s%s", code, out, errs)
		var c lab.ControlFile
		if err == nil && json.Unmarshal(cf, &c) == nil && c.PID > 0 {
			syscall.Kill(c.PID, syscall.SIGKILL)
		}
	}
}

func readLabJSON(t *testing.T, dir string) (lab.File, []map[string]any) {
	t.Helper()
	data, err := os.ReadFile(lab.FilePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var f lab.File
	var raw struct {
		Servers []map[string]any `json:"servers"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	return f, raw.Servers
}

func statusJSON(t *testing.T, dir string) map[string]lab.ServerStatus {
	t.Helper()
	code, out, errs := milink(t, "status", "-json", "-dir", dir)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	var st lab.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	m := map[string]lab.ServerStatus{}
	for _, s := range st.Servers {
		m[s.Name] = s
	}
	return m
}

func TestLabCommandLifecycle(t *testing.T) {
	t.Parallel()
	dir, address := upLab(t)

	// lab.json: its shape, its mode, and what it points at.
	info, err := os.Stat(lab.FilePath(dir))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("lab.json mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	f, raw := readLabJSON(t, dir)
	if len(raw) != 2 {
		t.Fatalf("lab.json has %d servers, want 2", len(raw))
	}
	for _, key := range []string{"name", "kind", "address", "port", "user", "password", "mssql_conf", "restart_command", "backup_directory", "profile", "certificate", "force_encryption", "tds8"} {
		for _, s := range raw {
			if _, ok := s[key]; !ok {
				t.Errorf("lab.json server %v has no %q", s["name"], key)
			}
		}
	}
	exe, _ := os.Executable()
	sql01, _ := f.Server("sql01")
	mi01, _ := f.Server("mi01")
	want := lab.ServerInfo{Name: "sql01", Kind: "sqlserver", Address: address, Port: 1433, User: "sa",
		Password: sql01.Password, MSSQLConf: filepath.Join(dir, "sql01", "mssql.conf"),
		RestartCommand:  []string{exe, "lab", "restart", "-dir", dir, "sql01"},
		BackupDirectory: "/var/opt/mssql/backup", Profile: "2019-cu22-linux",
		Certificate:    filepath.Join(dir, "sql01", "tls", "cert.pem"),
		CertificateKey: filepath.Join(dir, "sql01", "tls", "key.pem"),
		// Checked below: they depend on what this machine allows.
		HostFirewall: sql01.HostFirewall, FirewallCommandPrefix: sql01.FirewallCommandPrefix, NoHostFirewall: sql01.NoHostFirewall}
	if !reflect.DeepEqual(sql01, want) {
		t.Fatalf("lab.json sql01 =\n%+v\nwant\n%+v", sql01, want)
	}
	if mi01.Kind != "managed_instance" || mi01.Address != next(address) || mi01.Profile != "managed-instance" || mi01.Password != sql01.Password {
		t.Fatalf("lab.json mi01 = %+v", mi01)
	}
	if len(sql01.Password) < 12 {
		t.Fatal("the generated password is short")
	}
	checkHostFirewall(t, sql01)
	for _, d := range []string{"sql01/fs/var/opt/mssql/data", "sql01/fs/var/opt/mssql/backup"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("missing directory %s", d)
		}
	}
	logData, _ := os.ReadFile(filepath.Join(dir, "lab.log"))
	if strings.Contains(string(logData), sql01.Password) {
		t.Fatal("lab.log contains the password")
	}

	// Up again: already up.
	if code, out, _ := milink(t, "up", "-dir", dir); code != 0 || !strings.Contains(out, "already up") {
		t.Fatalf("second up: exit %d, %q", code, out)
	}
	// Up again with flags that are wrong in themselves: an error, not
	// "already up, flags ignored".
	for _, bad := range []struct{ args []string }{
		{[]string{"-profile", "nope"}},
		{[]string{"-address", "foo"}},
		{[]string{"-address", "10.0.0.2"}},
		{[]string{"-port", "70000"}},
		{[]string{"-restart-delay", "-1s"}},
		{[]string{"-latency", "-5ms"}},
	} {
		code, out, errs := milink(t, append([]string{"up", "-dir", dir}, bad.args...)...)
		if code != 1 || strings.Contains(out, "already up") || !strings.Contains(errs, bad.args[1]) {
			t.Errorf("up %v on a running lab: exit %d\nstdout %q\nstderr %q; want exit 1 naming %s", bad.args, code, out, errs, bad.args[1])
		}
	}
	if st := statusJSON(t, dir)["sql01"]; st.State != lab.StateRunning {
		t.Fatalf("sql01 after a refused up: %s", st.State)
	}

	// Change something that must persist: a master key and a backup.
	db := openInfo(t, sql01)
	mustExec(t, db, "USE master\nCREATE MASTER KEY ENCRYPTION BY PASSWORD = 'Str0ng!Passw0rd-for-tests'")
	mustExec(t, db, "BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/sales.bak' WITH STATS = 50")
	backup := filepath.Join(dir, "sql01", "fs", "var", "opt", "mssql", "backup", "sales.bak")
	if _, err := os.Stat(backup); err != nil {
		t.Fatalf("the backup file is not below the fs root: %v", err)
	}

	// The restart command from lab.json, run as milink's host driver would.
	cmd := osexec.Command(sql01.RestartCommand[0], sql01.RestartCommand[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restart_command: %v\n%s", err, out)
	}
	st := statusJSON(t, dir)
	if st["sql01"].Restarts != 1 || st["mi01"].Restarts != 0 {
		t.Fatalf("restarts after restart_command: sql01 %d mi01 %d", st["sql01"].Restarts, st["mi01"].Restarts)
	}
	if st["sql01"].Logins < 1 || st["sql01"].RoundTrips < 2 || st["sql01"].Changes < 2 {
		t.Fatalf("sql01 counters = %+v", st["sql01"])
	}
	if code, out, _ := milink(t, "status", "-dir", dir); code != 0 || !strings.Contains(out, "ROUND TRIPS") || !strings.Contains(out, "sql01") {
		t.Fatalf("status table: exit %d\n%s", code, out)
	}

	// The statement log shows the changes.
	code, out, errs := milink(t, "log", "sql01", "-changes", "-dir", dir)
	if code != 0 || !strings.Contains(out, "CREATE MASTER KEY") || strings.Contains(out, "SELECT 1") {
		t.Fatalf("log -changes: exit %d %s\n%s", code, errs, out)
	}

	// Faults at run time through the CLI.
	if code, out, errs := milink(t, "fault", "sql01", "-error-at", "1", "-dir", dir); code != 0 || !strings.Contains(out, "error at statement 1") {
		t.Fatalf("fault: exit %d %s %s", code, out, errs)
	}
	db = openInfo(t, sql01) // the old pool's connections died with the restart
	if _, err := db.ExecContext(ctx(t), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("statement after -error-at 1: %v", err)
	}
	if code, _, errs := milink(t, "fault", "nosuch", "-latency", "1s", "-dir", dir); code == 0 || !strings.Contains(errs, "no server") {
		t.Fatalf("fault on an unknown server: exit %d %s", code, errs)
	}
	if code, out, _ := milink(t, "fault", "sql01", "-restart-hangs", "-dir", dir); code != 0 || !strings.Contains(out, "restart hangs") {
		t.Fatalf("fault -restart-hangs: exit %d %s", code, out)
	}
	code, _, errs = milink(t, "restart", "sql01", "-dir", dir)
	if code != 0 || !strings.Contains(errs, "will not come back") {
		t.Fatalf("restart with -restart-hangs: exit %d %s", code, errs)
	}
	if dials(address, 1433) {
		t.Fatal("sql01 accepts connections after a hung restart")
	}
	milink(t, "fault", "sql01", "-clear", "-dir", dir)
	if code, out, errs := milink(t, "restart", "sql01", "-dir", dir); code != 0 || !strings.Contains(out, "restarted") {
		t.Fatalf("restart after clearing: exit %d %s %s", code, out, errs)
	}

	// Down: nothing left running, data stays.
	var cf lab.ControlFile
	data, _ := os.ReadFile(lab.ControlPath(dir))
	json.Unmarshal(data, &cf)
	if code, out, errs := milink(t, "down", "-dir", dir); code != 0 || !strings.Contains(out, "down") {
		t.Fatalf("down: exit %d %s %s", code, out, errs)
	}
	if cf.PID == 0 || syscall.Kill(cf.PID, 0) == nil && !zombie(cf.PID) {
		t.Fatalf("the lab process %d is still running after down", cf.PID)
	}
	if dials(address, 1433) || dials(next(address), 1433) {
		t.Fatal("a server still listens after down")
	}
	if _, err := os.Stat(lab.ControlPath(dir)); err == nil {
		t.Fatal("control.json is left after down")
	}
	if code, _, errs := milink(t, "restart", "sql01", "-dir", dir); code == 0 || !strings.Contains(errs, "not running") {
		t.Fatalf("restart while down: exit %d %q", code, errs)
	}
	if code, _, errs := milink(t, "status", "-dir", dir); code == 0 || !strings.Contains(errs, "not running") {
		t.Fatalf("status while down: exit %d %q", code, errs)
	}
	if code, out, _ := milink(t, "down", "-dir", dir); code != 0 || !strings.Contains(out, "not running") {
		t.Fatalf("down twice: exit %d %q", code, out)
	}

	// Up again without flags: same address, same password, same data.
	code, out, errs = milink(t, "up", "-dir", dir)
	if code != 0 {
		t.Fatalf("second up: exit %d %s %s", code, out, errs)
	}
	f2, _ := readLabJSON(t, dir)
	if s, _ := f2.Server("sql01"); s.Address != address || s.Password != sql01.Password {
		t.Fatalf("after down/up sql01 = %s, password kept %v", s.Address, s.Password == sql01.Password)
	}
	db2 := openInfo(t, sql01)
	if got := scalar(t, db2, "SELECT COUNT(*) FROM sys.symmetric_keys WHERE name LIKE '%DatabaseMasterKey%'"); got != "1" {
		t.Fatalf("master key after down/up: count %s", got)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Fatalf("backup after down/up: %v", err)
	}
	st2 := statusJSON(t, dir)
	if st2["sql01"].Restarts != 3 || st2["sql01"].Changes < st["sql01"].Changes || st2["sql01"].Logins <= st["sql01"].Logins {
		t.Fatalf("counters after down/up: before %+v after %+v", st["sql01"], st2["sql01"])
	}
}

func zombie(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func TestLabCommandHelpAndErrors(t *testing.T) {
	t.Parallel()
	cmds := []string{"up", "serve", "down", "status", "restart", "fault", "log", "profiles"}
	for _, c := range cmds {
		code, out, _ := milink(t, c, "-h")
		if code != 0 || !strings.Contains(out, "Usage: milink lab "+c) {
			t.Errorf("%s -h: exit %d\n%s", c, code, out)
		}
	}
	code, out, _ := milink(t, "-h")
	for _, c := range cmds {
		if !strings.Contains(out, "  "+c) {
			t.Errorf("overview does not list %s", c)
		}
	}
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"nosuch"}, 1, "unknown command"},
		{[]string{"restart", "-dir", dir}, 1, "exactly one server name"},
		{[]string{"restart", "-dir", dir, "sql01"}, 1, "not running"},
		{[]string{"fault", "-dir", dir, "sql01"}, 1, "at least one fault flag"},
		{[]string{"log", "-dir", dir, "sql01"}, 1, "not running"},
		{[]string{"up", "-dir", dir, "-profile", "nosuch"}, 1, "unknown profile"},
		{[]string{"status", "-bogus"}, 1, "flag provided but not defined"},
	}
	for _, tt := range tests {
		code, _, errs := milink(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: exit %d %q, want %d and %q", tt.args, code, errs, tt.code, tt.err)
		}
		// One line, and for a usage mistake a second one pointing to the help.
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if len(lines) > 2 || len(lines) == 2 && !strings.HasPrefix(lines[1], "Run \"milink lab ") {
			t.Errorf("%v: error is not one line: %q", tt.args, errs)
		}
	}
}

func TestLabProfilesCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := milink(t, "profiles")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Fields(line)[0])
	}
	sort.Strings(names)
	for _, want := range []string{"2016-sp3-windows", "2016-azure-connect-windows", "2019-cu15-linux", "2019-cu20-windows",
		"2019-cu22-linux", "2022-rtm-linux", "2022-cu13-windows", "managed-instance"} {
		if i := sort.SearchStrings(names, want); i >= len(names) || names[i] != want {
			t.Errorf("profiles does not list %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "2019-cu22-linux (default)") {
		t.Errorf("the default profile is not marked:\n%s", out)
	}
}

// TestLabUpArmsFaultsPerServer: -fault at "lab up" arms one server's faults,
// counted from the first client statement (up's own login checks do not use
// them up), and leaves the other server alone.
func TestLabUpArmsFaultsPerServer(t *testing.T) {
	t.Parallel()
	dir, _ := upLab(t, "-fault", "sql01:error-at=2,latency=30ms", "-fault", "mi01:drop-at=1", "-fault", "mi01:restart-hangs")
	st := statusJSON(t, dir)
	if f := st["sql01"].Faults; f.ErrorAt != 2 || f.Latency != 30*time.Millisecond || f.DropAt != 0 || f.RestartHangs {
		t.Fatalf("sql01 faults after up: %+v", f)
	}
	if f := st["mi01"].Faults; f.DropAt != 1 || !f.RestartHangs || f.ErrorAt != 0 || f.Latency != 0 {
		t.Fatalf("mi01 faults after up: %+v", f)
	}
	f, _ := readLabJSON(t, dir)
	sql01, _ := f.Server("sql01")
	mi01, _ := f.Server("mi01")

	db := openInfo(t, sql01)
	db.SetMaxOpenConns(1)
	scalar(t, db, "SELECT 1")
	_, err := db.ExecContext(ctx(t), "SELECT 2")
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 50000 {
		t.Fatalf("sql01's second client statement: %v, want injected error 50000", err)
	}
	scalar(t, db, "SELECT 3")

	conn, err := openInfo(t, mi01).Conn(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var v int
	err = conn.QueryRowContext(ctx(t), "SELECT 1").Scan(&v)
	conn.Close()
	if err == nil {
		t.Fatal("mi01's first client statement did not drop the connection")
	}
	code, _, errs := milink(t, "restart", "mi01", "-dir", dir)
	if code != 0 || !strings.Contains(errs, "will not come back") {
		t.Fatalf("restart of mi01 with restart-hangs armed at up: exit %d %s", code, errs)
	}
}

// TestLabRestartFinishesWhenTheClientGivesUp: `milink lab restart` that stops
// waiting (its -timeout, or apply interrupted and the child killed) does not
// leave the server stopped: the lab finishes the restart, as systemd would.
func TestLabRestartFinishesWhenTheClientGivesUp(t *testing.T) {
	t.Parallel()
	dir, _ := upLab(t, "-restart-delay", "1s")
	code, _, errs := milink(t, "restart", "sql01", "-timeout", "200ms", "-dir", dir)
	if code != 1 || !strings.Contains(errs, "still restarting") {
		t.Fatalf("restart that gave up waiting: exit %d %q, want 1 and \"still restarting\"", code, errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := statusJSON(t, dir)["sql01"]
		if s.State == lab.StateRunning && s.Restarts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sql01 after its client gave up: %s (%s), %d restarts; want running", s.State, s.Error, s.Restarts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkHostFirewall checks sql01's simulated host firewall: nft works
// through the prefix, in a namespace of the lab's own, not this machine's.
func checkHostFirewall(t *testing.T, s lab.ServerInfo) {
	t.Helper()
	if !s.HostFirewall {
		if s.NoHostFirewall == "" || len(s.FirewallCommandPrefix) != 0 {
			t.Fatalf("no host firewall, yet no reason or a prefix: %+v", s)
		}
		if os.Getenv("MILINK_REQUIRE_NAMESPACES") != "" {
			t.Fatalf("the lab has no host firewall (%s), and MILINK_REQUIRE_NAMESPACES is set", s.NoHostFirewall)
		}
		t.Logf("the lab has no host firewall here: %s", s.NoHostFirewall)
		return
	}
	run := func(args ...string) (string, error) {
		argv := append(append([]string(nil), s.FirewallCommandPrefix...), args...)
		out, err := osexec.Command(argv[0], argv[1:]...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("nft", "add", "table", "inet", "labcheck"); err != nil {
		t.Fatalf("nft in the lab's host namespace: %v\n%s", err, out)
	}
	if out, err := run("nft", "list", "tables"); err != nil || !strings.Contains(out, "labcheck") {
		t.Fatalf("nft list tables in the lab's host namespace: %v\n%s", err, out)
	}
	// This machine's own ruleset does not have it (when it can be read).
	if out, err := osexec.Command("nft", "list", "tables").CombinedOutput(); err == nil && strings.Contains(string(out), "labcheck") {
		t.Fatal("the lab's host firewall table is in this machine's own ruleset")
	}
	if out, err := run("nft", "delete", "table", "inet", "labcheck"); err != nil {
		t.Fatalf("nft delete: %v\n%s", err, out)
	}
}
