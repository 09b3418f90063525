package sqlserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var (
	linuxDirs   = []string{"/var/opt/mssql/backup", "/var/opt/mssql/backup/", "/mnt/it's backups", "", "/var/opt/mssql/backup"}
	windowsDirs = []string{`D:\Backup`, `D:\`, `\\nas\sql backups\it's`}
)

// The check's T-SQL for each form is reviewed as a file, and runs in the lab
// (TestGoldenStatementsRunInLab runs every golden *.sql).
func TestDirectoryCheckGolden(t *testing.T) {
	tests := []struct{ file, got string }{
		{"dircheck-2017.sql", DirectoryCheckSQL(15, linuxDirs)},
		{"dircheck-2016.sql", DirectoryCheckSQL(13, windowsDirs)},
		{"dircheck-any-version.sql", DirectoryCheckSQL(0, linuxDirs)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) { golden(t, tt.file, tt.got+"\n") })
	}
}

func TestDirectoryCheckSQL(t *testing.T) {
	tests := []struct {
		major int
		dirs  []string
		want  string
	}{
		{15, nil, ""},
		{13, []string{"", " "}, ""},
		{14, []string{"/b"}, "SELECT N'/b' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N'/b');"},
		{16, []string{"/b/", "/b/"}, "SELECT N'/b/' AS backup_directory, file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(N'/b');"},
		{13, []string{`C:\it's`}, "SELECT N'C:\\it''s' AS backup_directory;\nEXEC master.dbo.xp_fileexist N'C:\\it''s';"},
	}
	for _, tt := range tests {
		if got := DirectoryCheckSQL(tt.major, tt.dirs); got != tt.want {
			t.Errorf("DirectoryCheckSQL(%d, %q) =\n%s\nwant\n%s", tt.major, tt.dirs, got, tt.want)
		}
	}
	// The run-time choice quotes each form once more, inside EXEC (N'...').
	any := DirectoryCheckSQL(0, []string{"/it's"})
	if !strings.Contains(any, "EXEC (N'SELECT N''/it''''s'' AS backup_directory") {
		t.Errorf("nested quoting:\n%s", any)
	}
}

func TestCheckedPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/var/opt/mssql/backup", "/var/opt/mssql/backup"},
		{"/var/opt/mssql/backup//", "/var/opt/mssql/backup"},
		{"/", "/"},
		{`D:\Backup\`, `D:\Backup`},
		{`D:\`, `D:\`},
		{`D:`, `D:\`},
		{`\\nas\share\`, `\\nas\share`},
		{`\`, `\`},
	}
	for _, tt := range tests {
		if got := checkedPath(tt.in); got != tt.want {
			t.Errorf("checkedPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMajorVersion(t *testing.T) {
	for in, want := range map[string]int{"15.0.4322.2": 15, "13.0.6300.2": 13, "": 0, "x.1": 0, "-1.0": 0} {
		if got := MajorVersion(in); got != want {
			t.Errorf("MajorVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

// The result sets are recognised by their columns, among the other sets
// of a batch; an xp_fileexist row belongs to the name just before it.
func TestParseDirectoryChecks(t *testing.T) {
	props := resultSet{cols: []string{"banner"}, rows: [][]any{{"x"}}}
	dm := func(dir string, f, d, p bool) resultSet {
		return resultSet{cols: []string{"backup_directory", "file_exists", "file_is_a_directory", "parent_directory_exists"}, rows: [][]any{{dir, f, d, p}}}
	}
	name := func(dir string) resultSet { return resultSet{cols: []string{"backup_directory"}, rows: [][]any{{dir}}} }
	xp := func(f, d, p int64) resultSet {
		return resultSet{cols: []string{"file exists", "file is a directory", "parent directory exists"}, rows: [][]any{{f, d, p}}}
	}
	tests := []struct {
		name string
		sets []resultSet
		want map[string]DirectoryState
	}{
		{"dm_os_file_exists", []resultSet{props, dm("/b", false, true, true), dm("/x/", false, false, true), dm("/f", true, false, true)},
			map[string]DirectoryState{"/b": {Exists: true, ParentExists: true}, "/x/": {ParentExists: true}, "/f": {IsFile: true, ParentExists: true}}},
		{"xp_fileexist", []resultSet{name(`C:\B`), xp(0, 1, 1), props, name(`D:\none`), xp(0, 0, 0)},
			map[string]DirectoryState{`C:\B`: {Exists: true, ParentExists: true}, `D:\none`: {}}},
		{"a check that failed has no answer", []resultSet{name(`C:\B`), props, xp(0, 1, 1), name(`D:\x`)},
			map[string]DirectoryState{}},
		{"nothing", []resultSet{props}, map[string]DirectoryState{}},
	}
	for _, tt := range tests {
		if got := parseDirectoryChecks(tt.sets); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestDirectoryProblem(t *testing.T) {
	tests := []struct {
		st   DirectoryState
		want string
	}{
		{DirectoryState{Exists: true, ParentExists: true}, ""},
		{DirectoryState{IsFile: true, ParentExists: true}, "the backup directory /b on sql_server.sql01 is a file, not a directory"},
		{DirectoryState{ParentExists: true}, "the backup directory /b does not exist on sql_server.sql01 (its parent does; create it there, writable by the SQL Server service account)"},
		{DirectoryState{}, "the backup directory /b does not exist on sql_server.sql01, nor does its parent"},
	}
	for _, tt := range tests {
		if got := tt.st.Problem("/b", "sql_server.sql01"); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.st, got, tt.want)
		}
	}
}

// Against the lab, every form answers from the lab host's real file
// system, on the versions that have it; sys.dm_os_file_exists does not
// exist on 2016 (208), and the run-time choice avoids it there.
func TestDirectoryCheckInLab(t *testing.T) {
	tests := []struct {
		profile string
		major   int
		dirs    []string
		mkdir   []string // below the lab's file-system root
		want    map[string]DirectoryState
		wantErr int
	}{
		{"2019-cu22-linux", 15, []string{"/var/opt/mssql/backup/", "/mnt/it's", "/var/opt/mssql/nope"}, []string{"mnt/it's"},
			map[string]DirectoryState{"/var/opt/mssql/backup/": {Exists: true, ParentExists: true}, "/mnt/it's": {Exists: true, ParentExists: true},
				"/var/opt/mssql/nope": {ParentExists: true}}, 0},
		{"2019-cu22-linux", 13, []string{"/var/opt/mssql/backup", "/no/such"}, nil,
			map[string]DirectoryState{"/var/opt/mssql/backup": {Exists: true, ParentExists: true}, "/no/such": {}}, 0},
		{"2019-cu22-linux", 0, []string{"/var/opt/mssql/backup", "/no/such"}, nil,
			map[string]DirectoryState{"/var/opt/mssql/backup": {Exists: true, ParentExists: true}, "/no/such": {}}, 0},
		{"2016-sp3-windows", 13, []string{`D:\Backup\`, `E:\x`}, []string{"D/Backup"},
			map[string]DirectoryState{`D:\Backup\`: {Exists: true, ParentExists: true}, `E:\x`: {}}, 0},
		{"2016-sp3-windows", 0, []string{`D:\Backup`}, []string{"D/Backup"},
			map[string]DirectoryState{`D:\Backup`: {Exists: true, ParentExists: true}}, 0},
		{"2016-sp3-windows", 15, []string{`D:\Backup`}, nil, nil, 208},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.profile, tt.major), func(t *testing.T) {
			l := startLab(t, tt.profile)
			for _, d := range tt.mkdir {
				if err := os.MkdirAll(filepath.Join(l.fsroot, filepath.FromSlash(d)), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s := l.config()
			i := l.open(t, s)
			q := DirectoryCheckSQL(tt.major, tt.dirs)
			sets, err := i.run(context.Background(), stmt{addr: s.Addr(), what: "checking the backup directories", log: q, text: q})
			if tt.wantErr != 0 {
				if SQLErrorNumber(err) != tt.wantErr {
					t.Fatalf("err = %v, want SQL Server error %d", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := parseDirectoryChecks(sets); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
