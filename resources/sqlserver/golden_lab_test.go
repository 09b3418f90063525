package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// goldenLabPassword replaces the "(sensitive)" marker of plan goldens: a
// literal the lab's password policy accepts.
const goldenLabPassword = "N'G0lden-Lab-Str0ng-Passw0rd!'"

// goldenLabCase says how the lab must be prepared for one golden file, or
// what it must answer when the statement cannot succeed there. A golden file
// missing from this table needs no preparation and must succeed: so a new
// statement the lab cannot answer fails TestGoldenStatementsRunInLab.
type goldenLabCase struct {
	setup []string // run first, on the same fresh lab
	// wantErr is the SQL Server error number the lab must answer with.
	wantErr int
	// wantMsg is a fragment of that error's message.
	wantMsg string
}

var goldenLabCases = map[string]goldenLabCase{
	// REGENERATE needs an existing master key.
	"master-key-regenerate.sql": {setup: []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Setup-Str0ng-Passw0rd!';",
	}},
	"master-key-regenerate.plan.sql": {setup: []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Setup-Str0ng-Passw0rd!';",
	}},
	// Adding a password needs an existing master key too.
	"master-key-add-password.sql": {setup: []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Setup-Str0ng-Passw0rd!';",
	}},
	"master-key-add-password.plan.sql": {setup: []string{
		"USE [master]; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Setup-Str0ng-Passw0rd!';",
	}},
	// The quoted name must reach the lab intact for the dynamic SELECT to
	// run on that database's sys.filegroups.
	"filegroup-check-quoted.sql": {setup: []string{
		"CREATE DATABASE [it's ]]odd]; ALTER DATABASE [it's ]]odd] ADD FILEGROUP [fs] CONTAINS FILESTREAM;",
	}},
	// The golden exercises quoting of ] and ' in a name the lab's seed does
	// not have (the lab has no CREATE DATABASE). The lab must parse it and
	// answer 911 naming the database exactly as the unquoted name, proving
	// that [it's] and N'...it''s_...' reached the server intact.
	"backup-windows.sql": {wantErr: 911, wantMsg: "Database 'it's' does not exist"},
}

// diskPath finds the file of BACKUP ... TO DISK = N'...'.
var diskPath = regexp.MustCompile(`(?i)TO\s+DISK\s*=\s*N'((?:[^']|'')*)'`)

// labDirFor is where the lab keeps a server path's directory below fsroot,
// following the lab's mapping: /a/b/x.bak → fsroot/a/b, D:\a\x.bak → fsroot/D/a.
func labDirFor(fsroot, serverPath string) string {
	p := strings.ReplaceAll(serverPath, "''", "'")
	var parts []string
	if len(p) >= 2 && p[1] == ':' {
		parts = append(parts, strings.ToUpper(p[:1]))
		p = p[2:]
	}
	parts = append(parts, strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' })...)
	if len(parts) > 0 {
		parts = parts[:len(parts)-1] // the file itself
	}
	return filepath.Join(append([]string{fsroot}, parts...)...)
}

// goldenToLab turns a golden file's text into a batch the lab can run: the
// redaction marker becomes a password literal, the plan's timestamp
// placeholder a timestamp.
func goldenToLab(text string) string {
	text = strings.ReplaceAll(text, "(sensitive)", goldenLabPassword)
	text = strings.ReplaceAll(text, "<UTC yyyymmddThhmmssZ>", "20260301T120000Z")
	return text
}

func TestGoldenToLab(t *testing.T) {
	tests := []struct{ in, want string }{
		{"PASSWORD = (sensitive);", "PASSWORD = " + goldenLabPassword + ";"},
		{"N'/b/sales_<UTC yyyymmddThhmmssZ>.bak'", "N'/b/sales_20260301T120000Z.bak'"},
		{"SELECT 1;", "SELECT 1;"},
	}
	for _, tt := range tests {
		if got := goldenToLab(tt.in); got != tt.want {
			t.Errorf("goldenToLab(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	dirs := []struct{ path, want string }{
		{"/var/opt/mssql/backup/sales_1.bak", filepath.Join("R", "var", "opt", "mssql", "backup")},
		{`d:\Backup\it''s_1.bak`, filepath.Join("R", "D", "Backup")},
	}
	for _, tt := range dirs {
		if got := labDirFor("R", tt.path); got != tt.want {
			t.Errorf("labDirFor(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// Every statement milink emits has a golden file, and the lab answers the
// same statements: each *.sql golden runs on a fresh lab through go-mssqldb.
func TestGoldenStatementsRunInLab(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden *.sql files")
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			batch := goldenToLab(string(data))
			if strings.Contains(batch, "(sensitive)") || strings.Contains(batch, "<UTC") {
				t.Fatalf("placeholder left in %q", batch)
			}
			c := goldenLabCases[name]
			l := startLab(t, "2019-cu22-linux")
			for _, m := range diskPath.FindAllStringSubmatch(batch, -1) {
				if err := os.MkdirAll(labDirFor(l.fsroot, m[1]), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			db := openLabDB(t, l)
			for _, s := range c.setup {
				if err := runBatch(db, s); err != nil {
					t.Fatalf("setup %q: %v", s, err)
				}
			}
			err = runBatch(db, batch)
			if c.wantErr == 0 {
				if err != nil {
					t.Fatalf("the lab refused the golden statement:\n%s\n%v", batch, err)
				}
				// A backup the lab accepted is a real file.
				for _, m := range diskPath.FindAllStringSubmatch(batch, -1) {
					base := filepath.Base(strings.ReplaceAll(strings.ReplaceAll(m[1], "''", "'"), `\`, "/"))
					if _, err := os.Stat(filepath.Join(labDirFor(l.fsroot, m[1]), base)); err != nil {
						t.Errorf("no backup file for %s: %v", m[1], err)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("the lab accepted the statement, want error %d:\n%s", c.wantErr, batch)
			}
			var se mssql.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a SQL Server error", err)
			}
			if first := errNumbers(se)[0]; first != c.wantErr {
				t.Fatalf("error numbers %v, want %d first: %v", errNumbers(se), c.wantErr, err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not contain %q", err, c.wantMsg)
			}
		})
	}
	// A stale entry would silently test nothing.
	for name := range goldenLabCases {
		if !seen[name] {
			t.Errorf("goldenLabCases names %s, which is not a golden file", name)
		}
	}
}

func errNumbers(se mssql.Error) []int {
	if len(se.All) == 0 {
		return []int{int(se.Number)}
	}
	var out []int
	for _, e := range se.All {
		out = append(out, int(e.Number))
	}
	return out
}

// openLabDB connects to the in-process lab as a DBA's client would.
func openLabDB(t *testing.T, l *lab) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", labPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(l.port)), RawQuery: "encrypt=disable&database=master"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // USE [master] in one batch must hold for the next
	t.Cleanup(func() { db.Close() })
	return db
}

// runBatch runs one batch and reads every result set, so an error raised
// after the first result set is seen too.
func runBatch(db *sql.DB, batch string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, batch)
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		for rows.Next() {
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
