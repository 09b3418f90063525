package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sys.dm_os_file_exists and xp_fileexist answer from the lab's real file
// system, mapped as BACKUP maps server paths.
func TestFileExists(t *testing.T) {
	l := newLab(t, "2019-cu22-linux", "sql01")
	if err := os.MkdirAll(filepath.Join(l.root, "var", "opt", "mssql", "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.root, "var", "opt", "mssql", "backup", "it's.bak"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := l.session(t)
	tests := []struct {
		path              string
		file, dir, parent bool
	}{
		{"/var/opt/mssql/backup", false, true, true},
		{"/var/opt/mssql/backup/", false, true, true},
		{"/var/opt/mssql/backup/it''s.bak", true, false, true},
		{"/var/opt/mssql/nope", false, false, true},
		{"/no/such/dir", false, false, false},
		{"/", false, true, false},
		{`\\server\share\x`, false, false, false},
		{"/var/../etc", false, false, false},
	}
	for _, tt := range tests {
		lit := "N'" + tt.path + "'"
		r := mustRun(t, s, "SELECT file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists("+lit+");")
		got := []any{r.col(t, 0, "file_exists")[0], r.col(t, 0, "file_is_a_directory")[0], r.col(t, 0, "parent_directory_exists")[0]}
		if want := []any{tt.file, tt.dir, tt.parent}; !reflect.DeepEqual(got, want) {
			t.Errorf("dm_os_file_exists(%s) = %v, want %v", lit, got, want)
		}
		r = mustRun(t, s, "EXEC master.dbo.xp_fileexist "+lit+";")
		got = []any{r.col(t, 0, "File Exists")[0], r.col(t, 0, "File is a Directory")[0], r.col(t, 0, "Parent Directory Exists")[0]}
		if want := []any{b2i(tt.file), b2i(tt.dir), b2i(tt.parent)}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("xp_fileexist %s = %v, want %v", lit, got, want)
		}
	}
	// With an OUTPUT argument: that argument only, and no result set.
	r := mustRun(t, s, "DECLARE @e int; EXEC xp_fileexist N'/var/opt/mssql/backup/it''s.bak', @e OUTPUT; SELECT @e AS e;")
	if len(r.sets) != 1 || fmt.Sprint(r.col(t, 0, "e")) != "[1]" {
		t.Errorf("OUTPUT form: %d sets, e = %v", len(r.sets), r.col(t, 0, "e"))
	}
	// A variable as the argument; an alias on the function.
	r = mustRun(t, s, "DECLARE @d nvarchar(260) = N'/var/opt/mssql/backup'; SELECT f.file_is_a_directory FROM sys.dm_os_file_exists(@d) AS f;")
	if got := r.col(t, 0, "file_is_a_directory"); !reflect.DeepEqual(got, []any{true}) {
		t.Errorf("variable argument: %v", got)
	}
}

// SQL Server 2016 has no sys.dm_os_file_exists: 208, as for any unknown
// object; xp_fileexist works there.
func TestFileExists2016(t *testing.T) {
	l := newLab(t, "2016-sp3-windows", "sql01")
	s := l.session(t)
	r := run(t, s, "SELECT * FROM sys.dm_os_file_exists(N'C:\\Backup');")
	if !reflect.DeepEqual(r.errNumbers(), []int32{208}) {
		t.Errorf("errors %v, want 208", r.errNumbers())
	}
	if err := os.MkdirAll(filepath.Join(l.root, "C", "Backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, s, "EXEC master..xp_fileexist N'C:\\Backup';")
	if got := r.col(t, 0, "File is a Directory"); fmt.Sprint(got) != "[1]" {
		t.Errorf("xp_fileexist C:\\Backup: %v", got)
	}
	r = run(t, s, "EXEC xp_fileexist;")
	if !reflect.DeepEqual(r.errNumbers(), []int32{22027}) {
		t.Errorf("no argument: errors %v", r.errNumbers())
	}
}
