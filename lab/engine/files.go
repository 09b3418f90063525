package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The two ways a client asks SQL Server whether a path exists, as the
// service account sees it: sys.dm_os_file_exists(path) (SQL Server 2017 and
// later) and master.dbo.xp_fileexist (every version). Both are
// undocumented; their columns follow reference/sqlserver.md. The lab answers
// them from its real file system below FSRoot, where BACKUP writes its files.

// fileExistsMajor is the first major version with sys.dm_os_file_exists.
const fileExistsMajor = 14

// pathState is what both report: a file is there; a directory is there;
// the directory holding the path is there.
type pathState struct {
	file, dir, parent bool
}

// statServerPath looks a server path up below FSRoot, mapped as BACKUP maps
// it (hostPath). A path the lab cannot map (a URL, a UNC share) does not
// exist. A drive or file-system root always exists and has no parent.
func (i *Instance) statServerPath(p string) pathState {
	if root := strings.TrimRight(strings.TrimSpace(p), `/\`); root == "" || len(root) == 2 && root[1] == ':' {
		if i.opts.FSRoot == "" || strings.TrimSpace(p) == "" {
			return pathState{}
		}
		return pathState{dir: true}
	}
	hp, ok := i.hostPath(p)
	if !ok {
		return pathState{}
	}
	var st pathState
	if fi, err := os.Stat(hp); err == nil {
		st.dir = fi.IsDir()
		st.file = !fi.IsDir()
	}
	if fi, err := os.Stat(filepath.Dir(hp)); err == nil && fi.IsDir() {
		st.parent = true
	}
	return st
}

// serverMajor is the profile's major version (15 for 15.0.4322.2).
func (i *Instance) serverMajor() int {
	n, _ := strconv.Atoi(strings.SplitN(i.opts.Profile.ProductVersion, ".", 2)[0])
	return n
}

// callTableFunction evaluates a table-valued function's arguments (constants
// and variables: the lab has no APPLY) and answers it.
func (s *Session) callTableFunction(fi fromItem, outer *evalCtx) (*table, *sqlError) {
	args := make([]any, len(fi.args))
	for n, e := range fi.args {
		ctx := &evalCtx{s: s, outer: outer}
		v, err := ctx.eval(e)
		if err != nil {
			return nil, err
		}
		args[n] = v
	}
	return s.tableFunction(fi.name, args)
}

// tableFunction answers a table-valued function in FROM.
func (s *Session) tableFunction(parts []string, args []any) (*table, *sqlError) {
	full := strings.Join(parts, ".")
	name := strings.ToLower(parts[len(parts)-1])
	schema := ""
	if len(parts) >= 2 {
		schema = strings.ToLower(parts[len(parts)-2])
	}
	i := s.inst
	if schema != "sys" || name != "dm_os_file_exists" || i.serverMajor() < fileExistsMajor || i.opts.Profile.Kind == "managed_instance" {
		return nil, errf(208, 16, "Invalid object name '%s'.", full)
	}
	if len(args) != 1 {
		return nil, errf(216, 16, "Parameters were not supplied for the function '%s'.", full)
	}
	t := &table{name: name, cols: cols("file_exists", tBit, "file_is_a_directory", tBit, "parent_directory_exists", tBit)}
	if args[0] == nil {
		return t, nil
	}
	st := i.statServerPath(toString(args[0]))
	t.rows = append(t.rows, []any{st.file, st.dir, st.parent})
	return t, nil
}

// xpFileExist is master.dbo.xp_fileexist @path [, @file_exists OUTPUT]:
// one row of three int columns, or with the OUTPUT argument only that
// argument (1 when a file, not a directory, is there) and no result set.
func (s *Session) xpFileExist(args []procArg) *sqlError {
	if len(args) == 0 || args[0].isDef {
		return errf(22027, 15, "Usage:  EXECUTE xp_fileexist <filename> [, <file_exists INT> OUTPUT]")
	}
	var st pathState
	if args[0].v != nil {
		st = s.inst.statServerPath(toString(args[0].v))
	}
	if len(args) > 1 && args[1].output {
		args[1].v = b2i(st.file)
		s.done(-1)
		return nil
	}
	t := &table{cols: cols("File Exists", tInt, "File is a Directory", tInt, "Parent Directory Exists", tInt)}
	t.rows = append(t.rows, []any{b2i(st.file), b2i(st.dir), b2i(st.parent)})
	if err := s.sendTable(t, s.w); err != nil {
		return nil
	}
	s.done(1)
	return nil
}
