package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// The file operations on a Linux host are small sh scripts run over the
// connection (with sudo when it is on), given the path as "$1": one round
// trip each, the messages of cat, stat and mktemp in the C locale so that
// they can be recognised.

// sshReadMarker comes before the file's contents, so that text printed by
// the login shell's startup files (a .bashrc that echoes) is noticed
// rather than taken for part of the file.
const sshReadMarker = "milink-read:"

const sshReadScript = `LC_ALL=C; export LC_ALL
printf %s '` + sshReadMarker + `' && exec cat -- "$1"`

const sshStatScript = `LC_ALL=C; export LC_ALL
exec stat -L -c 'milink-stat: %f %s %Y %u %g' -- "$1"`

// sshWriteScript replaces "$1" with its standard input atomically: a
// temporary file in the same directory, synced, given the old file's mode
// and owner (or mode "$2" for a new file), renamed over it. A symbolic
// link is kept: the file it points to is replaced. An owner that cannot be
// kept is an error, before anything is replaced.
const sshWriteScript = `LC_ALL=C; export LC_ALL
p=$1
if [ -L "$p" ] && t=$(readlink -f -- "$p") && [ -e "$t" ]; then p=$t; fi
owner=
if [ -e "$p" ]; then
	[ -f "$p" ] || { echo "milink: $p: not a regular file" >&2; exit 1; }
	mode=$(stat -c %a -- "$p") && owner=$(stat -c %u:%g -- "$p") || exit
else
	mode=$2
fi
d=$(dirname -- "$p") && b=$(basename -- "$p") || exit
tmp=$(mktemp "$d/.$b.milink-XXXXXX") || exit
trap 'rm -f -- "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
cat >"$tmp" || exit
sync -- "$tmp" 2>/dev/null || sync
chmod "$mode" "$tmp" || exit
if [ -n "$owner" ]; then
	chown "$owner" "$tmp" 2>/dev/null || { echo "milink: $p: cannot keep its owner $owner (connect as root, or turn sudo on)" >&2; exit 1; }
fi
mv -f -- "$tmp" "$p" || exit
trap - EXIT`

// script runs an sh script with args on the host, through sudo when it is
// on.
func (s *SSH) script(ctx context.Context, name, script string, stdin []byte, args ...string) (Output, error) {
	argv := append([]string{"sh", "-c", script, name}, args...)
	line, stdin, err := s.command(argv, stdin)
	if err != nil {
		return Output{ExitCode: -1}, err
	}
	return s.run(ctx, line, stdin)
}

// fileError is the error of a file operation that ran and failed: sudo's
// refusal, or what the host said, matching fs.ErrNotExist or
// fs.ErrPermission when that is what it said.
func (s *SSH) fileError(op, what, p string, out Output, err error) error {
	if out.ExitCode < 0 {
		return fmt.Errorf("%s %s: %w", op, p, err)
	}
	if refused := s.sudoRefused(out, what); refused != nil {
		return refused
	}
	msg := trimOutput(out.Stderr)
	if msg == "" {
		msg = err.Error()
	}
	return &fs.PathError{Op: op, Path: p, Err: &sshFileError{msg: msg, host: s.label}}
}

// sshFileError is a file operation's failure on the host: the message of
// the program that failed (cat, mktemp, ...).
type sshFileError struct{ msg, host string }

func (e *sshFileError) Error() string {
	switch {
	case errors.Is(e, fs.ErrNotExist):
		return "no such file or directory (" + e.host + ")"
	case errors.Is(e, fs.ErrPermission):
		return "permission denied (" + e.host + ")"
	}
	return e.msg + " (" + e.host + ")"
}

func (e *sshFileError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return strings.Contains(e.msg, "No such file or directory") || strings.Contains(e.msg, "milink-error: notexist:")
	case fs.ErrPermission:
		return strings.Contains(e.msg, "Permission denied") || strings.Contains(e.msg, "Operation not permitted") || strings.Contains(e.msg, "milink-error: permission:")
	}
	return false
}

// ReadFile returns the contents of the file at p on the host.
func (s *SSH) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if s.cfg.OS == "windows" {
		return s.readFileWindows(ctx, p)
	}
	out, err := s.script(ctx, "milink-read", sshReadScript, nil, p)
	if err != nil {
		return nil, s.fileError("open", "reading "+p, p, out, err)
	}
	b, ok := bytes.CutPrefix(out.Stdout, []byte(sshReadMarker))
	if !ok {
		return nil, fmt.Errorf("reading %s: %s: the login shell printed %q before the command's output (a startup file such as ~/.bashrc echoes): milink cannot tell the file from it", p, s.label, cutForError(out.Stdout, sshReadMarker))
	}
	return b, nil
}

// cutForError is what b holds before marker, shortened.
func cutForError(b []byte, marker string) string {
	if i := bytes.Index(b, []byte(marker)); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// Stat describes the file at p, following symbolic links. Sys() is an
// *SSHFileOwner.
func (s *SSH) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	if s.cfg.OS == "windows" {
		return s.statWindows(ctx, p)
	}
	out, err := s.script(ctx, "milink-stat", sshStatScript, nil, p)
	if err != nil {
		return nil, s.fileError("stat", "looking at "+p, p, out, err)
	}
	fi, err := parseStatLine(path.Base(p), out.Stdout)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %s: %w", p, s.label, err)
	}
	return fi, nil
}

// parseStatLine reads "milink-stat: %f %s %Y %u %g" (stat -c): the raw
// mode in hex, the size, the modification time, the owner's ids.
func parseStatLine(name string, b []byte) (fs.FileInfo, error) {
	i := bytes.Index(b, []byte("milink-stat: "))
	if i < 0 {
		return nil, fmt.Errorf("unexpected output of stat: %q", b)
	}
	f := strings.Fields(string(b[i+len("milink-stat: "):]))
	if len(f) != 5 {
		return nil, fmt.Errorf("unexpected output of stat: %q", b)
	}
	var n [5]uint64
	for j, base := range []int{16, 10, 10, 10, 10} {
		v, err := strconv.ParseUint(f[j], base, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected output of stat: %q", b)
		}
		n[j] = v
	}
	return &sshFileInfo{
		name:  name,
		size:  int64(n[1]),
		mode:  unixMode(uint32(n[0])),
		mtime: time.Unix(int64(n[2]), 0),
		owner: &SSHFileOwner{UID: int(n[3]), GID: int(n[4])},
	}, nil
}

// unixMode converts a st_mode to an fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// SSHFileOwner is the Sys() of what SSH.Stat returns on Linux: the
// file's numeric owner and group on the host.
type SSHFileOwner struct{ UID, GID int }

type sshFileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	owner *SSHFileOwner
}

func (fi *sshFileInfo) Name() string       { return fi.name }
func (fi *sshFileInfo) Size() int64        { return fi.size }
func (fi *sshFileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *sshFileInfo) ModTime() time.Time { return fi.mtime }
func (fi *sshFileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *sshFileInfo) Sys() any {
	if fi.owner == nil {
		return nil
	}
	return fi.owner
}

// WriteFile replaces the file at p on the host with data atomically (see
// sshWriteScript): an existing file keeps its owner and mode, a new one
// gets perm (0644 when 0).
func (s *SSH) WriteFile(ctx context.Context, p string, data []byte, perm fs.FileMode) error {
	if perm == 0 {
		perm = 0o644
	}
	if s.cfg.OS == "windows" {
		return s.writeFileWindows(ctx, p, data)
	}
	if data == nil {
		data = []byte{}
	}
	out, err := s.script(ctx, "milink-write", sshWriteScript, data, p, strconv.FormatUint(uint64(perm.Perm()), 8))
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, s.fileError("write", "writing "+p, p, out, err))
	}
	return nil
}
