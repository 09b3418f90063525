package sqlserver

import (
	"fmt"
	"strconv"
	"strings"
)

// The backup directories of the configuration must exist on the server, as
// the SQL Server service account sees them, before anything is changed: a
// missing one used to fail BACKUP (3201) after the recovery model had
// already been switched. The refresh asks SQL Server, which is the only one
// that can answer for its own file system (on another host, in a container,
// on a share).

// fileExistsMajor is the first major version with sys.dm_os_file_exists
// (SQL Server 2017); before it, master.dbo.xp_fileexist answers.
const fileExistsMajor = 14

// dirColumn names, in every result set of the check, the directory as the
// configuration wrote it; the parser finds the sets by it.
const dirColumn = "backup_directory"

// DirectoryState is what SQL Server reports about one backup directory.
type DirectoryState struct {
	Exists       bool // a directory is there
	IsFile       bool // a file is there instead
	ParentExists bool // the directory that would hold it is there
}

// Problem says what is wrong with a backup directory for the plan, or ""
// when it exists. dir is as configured; server names the instance.
func (d DirectoryState) Problem(dir, server string) string {
	switch {
	case d.Exists:
		return ""
	case d.IsFile:
		return fmt.Sprintf("the backup directory %s on %s is a file, not a directory", dir, server)
	case d.ParentExists:
		return fmt.Sprintf("the backup directory %s does not exist on %s (its parent does; create it there, writable by the SQL Server service account)", dir, server)
	}
	return fmt.Sprintf("the backup directory %s does not exist on %s, nor does its parent", dir, server)
}

// MajorVersion is the major version of a SERVERPROPERTY('ProductVersion')
// such as 15.0.4322.2, or 0 if it has none.
func MajorVersion(productVersion string) int {
	n, err := strconv.Atoi(strings.SplitN(productVersion, ".", 2)[0])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// DirectoryCheckSQL checks that dirs exist on an instance of the given
// major version (MajorVersion): sys.dm_os_file_exists on SQL Server 2017
// (14) and later, master.dbo.xp_fileexist on 2016 and before. Each
// directory gives result sets that carry its configured text in the
// backup_directory column (parseDirectoryChecks reads them), so the
// fragment can go anywhere in a batch. Duplicates and empty strings are
// left out; no directory gives "".
//
// major 0 (unknown, as in the one round trip of the refresh, before the
// version is read) chooses at run time from SERVERPROPERTY('ProductMajorVersion'),
// with each form as dynamic SQL: a batch naming sys.dm_os_file_exists would
// not compile on 2016.
func DirectoryCheckSQL(major int, dirs []string) string {
	dirs = uniqueDirs(dirs)
	if len(dirs) == 0 {
		return ""
	}
	if major > 0 {
		return dirCheck(major, dirs)
	}
	return "IF CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= " + strconv.Itoa(fileExistsMajor) + "\n" +
		"    EXEC (" + QuoteString(dirCheck(fileExistsMajor, dirs)) + ");\n" +
		"ELSE\n" +
		"    EXEC (" + QuoteString(dirCheck(fileExistsMajor-1, dirs)) + ");"
}

// dirCheck is the check in one form.
func dirCheck(major int, dirs []string) string {
	var b strings.Builder
	for n, d := range dirs {
		if n > 0 {
			b.WriteString("\n")
		}
		name, path := QuoteString(d), QuoteString(checkedPath(d))
		if major >= fileExistsMajor {
			b.WriteString("SELECT " + name + " AS " + dirColumn + ", file_exists, file_is_a_directory, parent_directory_exists FROM sys.dm_os_file_exists(" + path + ");")
			continue
		}
		// xp_fileexist's row cannot carry the name: a one-column row
		// naming the directory comes just before it.
		b.WriteString("SELECT " + name + " AS " + dirColumn + ";\nEXEC master.dbo.xp_fileexist " + path + ";")
	}
	return b.String()
}

// uniqueDirs drops empty and repeated directories, keeping the order.
func uniqueDirs(dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if strings.TrimSpace(d) == "" || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// checkedPath is the directory without trailing separators (BackupFile
// adds its own), except a root, which keeps one: "/" and `D:\`.
func checkedPath(dir string) string {
	p := strings.TrimRight(dir, `/\`)
	switch {
	case p == "":
		if strings.HasPrefix(dir, `\`) {
			return `\`
		}
		return "/"
	case len(p) == 2 && p[1] == ':':
		return p + `\`
	}
	return p
}

// parseDirectoryChecks reads the result sets of DirectoryCheckSQL, among
// any others of the batch, recognised by their columns as parseSets does:
// sys.dm_os_file_exists's rows carry backup_directory themselves; an
// xp_fileexist row ("File is a Directory") belongs to the backup_directory
// named by the one-column set just before it. A directory without an
// answer (the check failed for it) is absent from the map.
func parseDirectoryChecks(sets []resultSet) map[string]DirectoryState {
	out := map[string]DirectoryState{}
	pending, havePending := "", false
	for _, rs := range sets {
		name := rs.col(dirColumn)
		switch {
		case name >= 0 && rs.col("file_is_a_directory") >= 0:
			fe, fd, pe := rs.col("file_exists"), rs.col("file_is_a_directory"), rs.col("parent_directory_exists")
			for _, r := range rs.rows {
				out[asString(r[name])] = DirectoryState{IsFile: fe >= 0 && asInt(r[fe], 0) == 1, Exists: asInt(r[fd], 0) == 1,
					ParentExists: pe >= 0 && asInt(r[pe], 0) == 1}
			}
			havePending = false
		case name >= 0 && len(rs.cols) == 1:
			havePending = len(rs.rows) == 1
			if havePending {
				pending = asString(rs.rows[0][name])
			}
		case rs.col("file is a directory") >= 0:
			if havePending && len(rs.rows) == 1 {
				r := rs.rows[0]
				fe, fd, pe := rs.col("file exists"), rs.col("file is a directory"), rs.col("parent directory exists")
				out[pending] = DirectoryState{IsFile: fe >= 0 && asInt(r[fe], 0) == 1, Exists: asInt(r[fd], 0) == 1,
					ParentExists: pe >= 0 && asInt(r[pe], 0) == 1}
			}
			havePending = false
		default:
			havePending = false
		}
	}
	return out
}
