package host

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ParseStartup's cases are shared with the lab: TestParseStartupSharedCases.

func TestEditGolden(t *testing.T) {
	before, err := os.ReadFile(filepath.Join("testdata", "mssql.conf.before"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		edit func([]byte) []byte
	}{
		{"mssql.conf.hadr.after", before, func(b []byte) []byte { return EditHadr(b, true) }},
		{"mssql.conf.traceflags.after", before, func(b []byte) []byte { return EditTraceFlags(b, []int{9567, 1800, 3226}) }},
		{"mssql.conf.traceflags-exclusive.after", before, func(b []byte) []byte { return EditTraceFlags(b, []int{1800, 9567}) }},
		{"mssql.conf.empty.after", nil, func(b []byte) []byte { return EditTraceFlags(EditHadr(b, true), []int{1800, 9567}) }},
		{"mssql.conf.hadr-off.after", EditHadr(before, true), func(b []byte) []byte { return EditHadr(b, false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.edit(tt.in)
			golden(t, tt.name, string(got))
			// Every line of the input that is not a setting milink owns survives.
			for _, l := range strings.Split(string(before), "\n") {
				if len(tt.in) == 0 || strings.HasPrefix(l, "traceflag") || strings.HasPrefix(l, "hadrenabled") {
					continue
				}
				if !strings.Contains(string(got), l) {
					t.Errorf("line %q was lost", l)
				}
			}
			// Editing is idempotent: the result reads back and re-editing changes nothing.
			if again := tt.edit(got); string(again) != string(got) {
				t.Errorf("second edit changed the file:\n%s", again)
			}
			if _, err := ParseStartup(got); err != nil {
				t.Errorf("result does not parse: %v", err)
			}
		})
	}
}

// fakeTool writes a shell script that logs its arguments, standing in for
// mssql-conf (or systemctl) inside the test's temporary directory.
func fakeTool(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := "#!/bin/sh\necho \"$0 $*\" >> " + filepath.Join(dir, "calls.log") + "\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func calls(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "calls.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestLinuxWithTool(t *testing.T) {
	dir := t.TempDir()
	tool := fakeTool(t, dir, "mssql-conf", `echo "SQL Server needs to be restarted in order to apply this setting."`)
	l := &Linux{Conf: filepath.Join(dir, "mssql.conf"), Tool: tool, On: "host:sql_server.sql01"}
	if !l.ToolPresent() {
		t.Fatal("tool not found")
	}
	ctx := context.Background()
	step, err := l.SetHadr(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if step.Kind != "command" || step.Text != tool+" set hadr.hadrenabled 1" || step.On != "host:sql_server.sql01" {
		t.Errorf("step = %+v", step)
	}
	step, err = l.SetTraceFlags(ctx, []int{9567, 1800}, []int{3226})
	if err != nil {
		t.Fatal(err)
	}
	want := tool + " set hadr.hadrenabled 1\n" + tool + " traceflag 1800 9567 on\n" + tool + " traceflag 3226 off\n"
	if got := calls(t, dir); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	if step.Text != tool+" traceflag 1800 9567 on\n"+tool+" traceflag 3226 off" {
		t.Errorf("step text %q", step.Text)
	}
	// The file is the tool's business: milink did not write it.
	if _, err := os.Stat(l.Conf); !os.IsNotExist(err) {
		t.Errorf("mssql.conf was written although the tool exists: %v", err)
	}
	// Golden plan text with the default paths.
	d := &Linux{Conf: "/var/opt/mssql/mssql.conf", Tool: "/opt/mssql/bin/mssql-conf", RestartCommand: []string{"systemctl", "restart", "mssql-server"}}
	golden(t, "mssql-conf.txt", d.HadrStep(true, true).Text+"\n"+d.TraceFlagsStep(nil, []int{1800, 9567}, nil, true).Text+"\n"+
		d.TraceFlagsStep(nil, nil, []int{3226}, true).Text+"\n"+d.RestartStep().Text+"\n")
	golden(t, "mssql-conf-file-edit.txt", d.HadrStep(true, false).Text+"\n"+d.TraceFlagsStep([]int{3226}, []int{1800, 9567}, nil, false).Text+"\n")
}

func TestLinuxToolFails(t *testing.T) {
	dir := t.TempDir()
	tool := fakeTool(t, dir, "mssql-conf", `echo "This program must be run as superuser" >&2; exit 1`)
	l := &Linux{Conf: filepath.Join(dir, "mssql.conf"), Tool: tool}
	_, err := l.SetHadr(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "must be run as superuser") || !strings.Contains(err.Error(), "set hadr.hadrenabled 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestLinuxEditsFileWithoutTool(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "mssql.conf")
	before, err := os.ReadFile(filepath.Join("testdata", "mssql.conf.before"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, before, 0o640); err != nil {
		t.Fatal(err)
	}
	l := &Linux{Conf: conf, Tool: filepath.Join(dir, "no-such-mssql-conf")}
	if l.ToolPresent() {
		t.Fatal("missing tool reported present")
	}
	ctx := context.Background()
	s, err := l.ReadStartup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Startup{TraceFlags: []int{1800, 3226}}) {
		t.Fatalf("startup before = %+v", s)
	}
	step, err := l.SetHadr(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if step.Kind != "file" || !strings.Contains(step.Text, "[hadr] hadrenabled = 1") {
		t.Errorf("step = %+v", step)
	}
	step, err = l.SetTraceFlags(ctx, []int{9567}, []int{3226})
	if err != nil {
		t.Fatal(err)
	}
	if want := "edit " + conf + ": [traceflag] trace flags 1800, 9567 (lines already there kept as written)"; step.Text != want {
		t.Errorf("step text %q, want %q", step.Text, want)
	}
	s, err = l.ReadStartup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Startup{Hadr: true, TraceFlags: []int{1800, 9567}}) {
		t.Errorf("startup after = %+v", s)
	}
	fi, err := os.Stat(conf)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	got, _ := os.ReadFile(conf)
	if !strings.Contains(string(got), "# flags below added by the DBA") || !strings.Contains(string(got), "memorylimitmb = 4096") {
		t.Errorf("other lines lost:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestReadStartupMissingFile(t *testing.T) {
	l := &Linux{Conf: filepath.Join(t.TempDir(), "absent.conf")}
	s, err := l.ReadStartup(context.Background())
	if err != nil || s.Hadr || len(s.TraceFlags) != 0 {
		t.Fatalf("got %+v, %v; want defaults", s, err)
	}
}

func TestLinuxRestart(t *testing.T) {
	dir := t.TempDir()
	ok := fakeTool(t, dir, "systemctl", "exit 0")
	l := &Linux{RestartCommand: []string{ok, "restart", "mssql-server"}}
	if err := l.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, dir); got != ok+" restart mssql-server\n" {
		t.Errorf("calls %q", got)
	}
	bad := fakeTool(t, dir, "failing", `echo "Failed to restart mssql-server.service: Interactive authentication required." >&2; exit 1`)
	l.RestartCommand = []string{bad, "restart", "mssql-server"}
	err := l.Restart(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Interactive authentication required") {
		t.Fatalf("err = %v", err)
	}
	l.RestartCommand = nil
	if err := l.Restart(context.Background()); err == nil {
		t.Fatal("restart without a command succeeded")
	}
}

func TestCommandText(t *testing.T) {
	tests := map[string][]string{
		"systemctl restart mssql-server":  {"systemctl", "restart", "mssql-server"},
		`pcs resource restart 'my group'`: {"pcs", "resource", "restart", "my group"},
		`echo 'it'\''s' ''`:               {"echo", "it's", ""},
	}
	for want, argv := range tests {
		if got := CommandText(argv); got != want {
			t.Errorf("CommandText(%q) = %s, want %s", argv, got, want)
		}
	}
}

type recordRunner struct{ argv [][]string }

func (r *recordRunner) Run(_ context.Context, argv []string) ([]byte, []byte, error) {
	r.argv = append(r.argv, argv)
	return nil, nil, nil
}

func TestWindowsScriptsGolden(t *testing.T) {
	def := &Windows{}
	named := &Windows{Instance: "SALES'01"}
	golden(t, "windows-hadr-enable.ps1", def.HadrScript(true))
	golden(t, "windows-hadr-enable-named.ps1", named.HadrScript(true))
	golden(t, "windows-traceflags-on.ps1", def.TraceFlagsScript([]int{9567, 1800}, nil))
	golden(t, "windows-traceflags-exclusive.ps1", def.TraceFlagsScript([]int{1800, 9567}, []int{3226}))
	golden(t, "windows-restart.ps1", def.RestartScript())
	golden(t, "windows-restart-named.ps1", named.RestartScript())
	if named.ServiceName() != "MSSQL$SALES'01" {
		t.Errorf("service name %q", named.ServiceName())
	}
	if !strings.Contains(named.HadrScript(true), "'SALES''01'") {
		t.Error("instance name not quoted for PowerShell")
	}

	r := &recordRunner{}
	w := &Windows{Runner: r}
	if _, err := w.SetHadr(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if err := w.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.argv) != 2 || r.argv[0][0] != "powershell.exe" || r.argv[0][len(r.argv[0])-1] != def.HadrScript(true) || r.argv[1][len(r.argv[1])-1] != def.RestartScript() {
		t.Errorf("runner got %q", r.argv)
	}
}

func TestStartupFromRegistry(t *testing.T) {
	key := `HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQLServer\Parameters`
	rows := []RegistryValue{
		{key, "SQLArg0", `-dC:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\master.mdf`},
		{key, "SQLArg1", `-eC:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Log\ERRORLOG`},
		{key, "SQLArg2", `-lC:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\mastlog.ldf`},
		{key, "SQLArg3", "-T9567"},
		{key, "SQLArg4", "-t1800"}, // lower case: not a trace flag
		{key, "SQLArg5", "-T1800"},
		{`HKLM\...\HADR`, "HADR_Enabled", "1"},
	}
	s, err := StartupFromRegistry(rows)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Startup{Hadr: true, TraceFlags: []int{1800, 9567}}) {
		t.Errorf("got %+v", s)
	}
	s, err = StartupFromRegistry([]RegistryValue{{key, "SQLArg3", "-T99999"}, {key, "HADR_Enabled", "0"}})
	if err == nil || s.Hadr || len(s.TraceFlags) != 0 {
		t.Errorf("got %+v, %v", s, err)
	}
}

// Hand-edited files: a repeated [hadr] section with hadrenabled in each (a
// file mssql-conf and milink refuse to read: the edit keeps the first,
// changed, and removes the second copy), and [traceflag] keys with gaps
// (traceflag0, traceflag3: kept, the new flag numbered above them). The
// edit must leave a file that reads back as asked, keeping other lines.
func TestEditUnusualFiles(t *testing.T) {
	dup := []byte("[hadr]\nhadrenabled = 0\n\n[network]\ntcpport = 1433\n\n[hadr]\n# set by hand\nhadrenabled = 0\n")
	for _, on := range []bool{true, false} {
		got := EditHadr(dup, on)
		st, err := ParseStartup(got)
		if err != nil || st.Hadr != on {
			t.Errorf("EditHadr(%v) reads back %v (%v):\n%s", on, st.Hadr, err, got)
		}
		if !strings.Contains(string(got), "# set by hand\n") || !strings.Contains(string(got), "tcpport = 1433\n") {
			t.Errorf("lines lost:\n%s", got)
		}
	}

	gaps := []byte("[traceflag]\ntraceflag0 = 3226\n# keep me\ntraceflag3 = 1800\n\n[memory]\nmemorylimitmb = 4096\n")
	st, err := ParseStartup(gaps)
	if err != nil || !reflect.DeepEqual(st.TraceFlags, []int{1800, 3226}) {
		t.Fatalf("gaps read as %v (%v)", st.TraceFlags, err)
	}
	got := EditTraceFlags(gaps, []int{1800, 3226, 9567})
	want := "[traceflag]\ntraceflag0 = 3226\n# keep me\ntraceflag3 = 1800\ntraceflag4 = 9567\n\n[memory]\nmemorylimitmb = 4096\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
