package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestSSHConfigChecks(t *testing.T) {
	for _, tt := range []struct {
		cfg  SSHConfig
		want string
	}{
		{SSHConfig{User: "u"}, "no address"},
		{SSHConfig{Address: "db01"}, "ssh @db01:22: no user"},
		{SSHConfig{Address: "db01", User: "u", Port: 70000}, "not a TCP port"},
		{SSHConfig{Address: "win01", User: "u", OS: "windows", Sudo: true}, "sudo is not available on a Windows host"},
		{SSHConfig{Address: "db01", User: "u", OS: "darwin"}, `unknown operating system "darwin"`},
		{SSHConfig{Address: "db01", User: "u", KnownHostsFiles: []string{"/nonexistent"}}, "no way to authenticate"},
	} {
		_, err := DialSSH(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DialSSH(%s): %v, want %q", tt.cfg, err, tt.want)
		}
	}
	c, err := SSHConfig{Address: "db01", User: "u"}.withDefaults()
	if err != nil || c.Port != 22 || c.OS != "linux" || c.SudoCommand != "sudo" || c.ConnectTimeout != 15*time.Second || c.KeepaliveInterval != 5*time.Second || c.KeepaliveCountMax != 3 {
		t.Errorf("defaults %#v (%+v), %v", c, c.Port, err)
	}
}

// No way of printing a configuration shows its secrets.
func TestSSHConfigHidesSecrets(t *testing.T) {
	jump := &SSHConfig{Address: "bastion", User: "jumper", Password: "jump-pw-secret", Passphrase: "jump-pp-secret"}
	cfg := SSHConfig{Address: "2001:db8::1", Port: 2222, User: "dba", Password: "pw-secret", Passphrase: "pp-secret", Jump: jump}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{cfg, &cfg} {
			got := fmt.Sprintf(format, v)
			if strings.Contains(got, "secret") {
				t.Errorf("%s shows a secret: %s", format, got)
			}
		}
	}
	if got, want := cfg.String(), "ssh dba@[2001:db8::1]:2222 via jumper@bastion:22"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSSHSudoRefused(t *testing.T) {
	s := &SSH{cfg: SSHConfig{Address: "db01", User: "dba", Sudo: true, SudoCommand: "sudo"}, label: "ssh dba@db01:22"}
	for stderr, refused := range map[string]bool{
		"sudo: a password is required\n": true,
		"sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n": true,
		"dba is not in the sudoers file.  This incident will be reported.\n":                                                                                                     true, // sudo 1.8 says it without "sudo: "
		"sudo: dba is not in the sudoers file.\n":                                           true,
		"Sorry, user dba is not allowed to execute '/bin/sh' as root on db01.\n":            true,
		"sudo: sorry, user dba is not allowed to execute '/bin/sh -c x' as root on db01.\n": true,
		"mssql-conf: a password is required\n":                                              false,
		"":                                                                                  false,
	} {
		err := s.sudoRefused(Output{Stderr: []byte(stderr), ExitCode: 1}, "mssql-conf set hadr.hadrenabled 1")
		if (err != nil) != refused {
			t.Errorf("%q: %v", stderr, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "ssh dba@db01:22") || !strings.Contains(err.Error(), "mssql-conf set hadr.hadrenabled 1") || !strings.Contains(err.Error(), "NOPASSWD")) {
			t.Errorf("%q: %v", stderr, err)
		}
	}
	s.cfg.Sudo = false
	if err := s.sudoRefused(Output{Stderr: []byte("sudo: a password is required\n"), ExitCode: 1}, "x"); err != nil {
		t.Errorf("without sudo: %v", err)
	}
}

func TestSSHFileErrors(t *testing.T) {
	for msg, want := range map[string]error{
		"cat: /x: No such file or directory":                                                    fs.ErrNotExist,
		"mktemp: failed to create file via template '/etc/.x.milink-XXXXXX': Permission denied": fs.ErrPermission,
		"chmod: changing permissions of '/x': Operation not permitted":                          fs.ErrPermission,
		"milink-error: notexist: Could not find file 'C:\\x.conf'.":                             fs.ErrNotExist,
		"milink-error: permission: Access to the path 'C:\\x.conf' is denied.":                  fs.ErrPermission,
		"cat: /x: Is a directory":                                                               nil,
	} {
		err := &fs.PathError{Op: "open", Path: "/x", Err: &sshFileError{msg: msg, host: "ssh u@h:22"}}
		for _, target := range []error{fs.ErrNotExist, fs.ErrPermission} {
			if errors.Is(err, target) != (target == want) {
				t.Errorf("%q matches %v: %v", msg, target, errors.Is(err, target))
			}
		}
		if !strings.Contains(err.Error(), "ssh u@h:22") {
			t.Errorf("%v does not name the host", err)
		}
	}
}

func TestParseStatLine(t *testing.T) {
	fi, err := parseStatLine("mssql.conf", []byte("milink-stat: 81a0 42 1700000000 999 998\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := fi.Sys().(*SSHFileOwner)
	if fi.Name() != "mssql.conf" || fi.Mode() != 0o640 || fi.Size() != 42 || !fi.ModTime().Equal(time.Unix(1700000000, 0)) || o.UID != 999 || o.GID != 998 {
		t.Errorf("%v %v %v %v %+v", fi.Name(), fi.Mode(), fi.Size(), fi.ModTime(), o)
	}
	for raw, want := range map[uint32]fs.FileMode{
		0o100755: 0o755, 0o040755: fs.ModeDir | 0o755, 0o120777: fs.ModeSymlink | 0o777, 0o104755: fs.ModeSetuid | 0o755,
		0o102755: fs.ModeSetgid | 0o755, 0o041777: fs.ModeDir | fs.ModeSticky | 0o777, 0o010644: fs.ModeNamedPipe | 0o644,
		0o140755: fs.ModeSocket | 0o755, 0o020666: fs.ModeDevice | fs.ModeCharDevice | 0o666, 0o060660: fs.ModeDevice | 0o660,
	} {
		if got := unixMode(raw); got != want {
			t.Errorf("unixMode(%o) = %v, want %v", raw, got, want)
		}
	}
	for _, bad := range []string{"", "milink-stat: 81a0 42", "milink-stat: zz 1 2 3 4", "stat: cannot stat"} {
		if _, err := parseStatLine("x", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The pid line is taken out of stderr however the writes split it, and
// what the login shell printed before it is kept.
func TestSSHStderrPID(t *testing.T) {
	full := "motd noise\n" + sshPIDMarker + "4242\nreal error\n"
	for cut := 0; cut <= len(full); cut++ {
		w := &sshStderr{}
		w.Write([]byte(full[:cut]))
		w.Write([]byte(full[cut:]))
		if w.PID() != 4242 || string(w.Bytes()) != "motd noise\nreal error\n" {
			t.Fatalf("cut %d: pid %d, %q", cut, w.PID(), w.Bytes())
		}
	}
	w := &sshStderr{}
	w.Write([]byte("x" + sshPIDMarker + "1\n"))
	if w.PID() != 0 {
		t.Error("a marker in the middle of a line was taken")
	}
}
