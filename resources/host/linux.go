package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/milink/milink/resources"
)

// Linux is SQL Server on Linux: startup settings in mssql.conf, changed with
// mssql-conf when it is installed, otherwise by editing the file.
type Linux struct {
	Conf           string   // path of mssql.conf
	Tool           string   // path of mssql-conf
	RestartCommand []string // e.g. systemctl restart mssql-server
	Runner         Runner
	On             string // where steps run, for plans: "host:sql_server.sql01"
}

// ToolPresent reports whether mssql-conf exists and is executable. The
// transport is local, so this looks at this machine.
func (l *Linux) ToolPresent() bool {
	if l.Tool == "" {
		return false
	}
	fi, err := os.Stat(l.Tool)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// ReadStartup reads HADR and the startup trace flags from mssql.conf. A
// missing file or key means the defaults.
func (l *Linux) ReadStartup(ctx context.Context) (Startup, error) {
	b, err := os.ReadFile(l.Conf)
	if errors.Is(err, fs.ErrNotExist) {
		return Startup{}, nil
	}
	if err != nil {
		return Startup{}, fmt.Errorf("reading %s: %w", l.Conf, err)
	}
	s, err := ParseStartup(b)
	if err != nil {
		return Startup{}, fmt.Errorf("%s: %w", l.Conf, err)
	}
	return s, nil
}

func boolDigit(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// HadrStep describes, without doing it, how HADR is set.
func (l *Linux) HadrStep(on, useTool bool) resources.Step {
	if useTool {
		return commandStep(l.On, l.hadrArgv(on))
	}
	return resources.Step{Kind: "file", On: l.On, Text: fmt.Sprintf("edit %s: [hadr] hadrenabled = %s", l.Conf, boolDigit(on))}
}

func (l *Linux) hadrArgv(on bool) []string {
	return []string{l.Tool, "set", "hadr.hadrenabled", boolDigit(on)}
}

// TraceFlagsStep describes, without doing it, how the startup trace flags
// change from current: on are added, off removed.
func (l *Linux) TraceFlagsStep(current, on, off []int, useTool bool) resources.Step {
	if useTool {
		var cmds []string
		for _, argv := range l.traceFlagArgvs(on, off) {
			cmds = append(cmds, CommandText(argv))
		}
		return resources.Step{Kind: "command", On: l.On, Text: strings.Join(cmds, "\n")}
	}
	return resources.Step{Kind: "file", On: l.On, Text: fmt.Sprintf("edit %s: [traceflag] %s", l.Conf, describeFlags(targetFlags(current, on, off)))}
}

func (l *Linux) traceFlagArgvs(on, off []int) [][]string {
	var out [][]string
	for _, set := range []struct {
		flags []int
		word  string
	}{{SortedFlags(on), "on"}, {SortedFlags(off), "off"}} {
		if len(set.flags) == 0 {
			continue
		}
		argv := []string{l.Tool, "traceflag"}
		for _, f := range set.flags {
			argv = append(argv, strconv.Itoa(f))
		}
		out = append(out, append(argv, set.word))
	}
	return out
}

// targetFlags is current plus on minus off.
func targetFlags(current, on, off []int) []int {
	drop := map[int]bool{}
	for _, f := range off {
		drop[f] = true
	}
	var out []int
	for _, f := range append(append([]int(nil), current...), on...) {
		if !drop[f] {
			out = append(out, f)
		}
	}
	return SortedFlags(out)
}

// SetHadr configures HADR for the next start and returns the step it ran.
func (l *Linux) SetHadr(ctx context.Context, on bool) (resources.Step, error) {
	if l.ToolPresent() {
		step := l.HadrStep(on, true)
		return step, l.run(ctx, l.hadrArgv(on))
	}
	step := l.HadrStep(on, false)
	return step, l.editFile(func(b []byte) []byte { return EditHadr(b, on) })
}

// SetTraceFlags adds on and removes off from the startup trace flags and
// returns the step it ran.
func (l *Linux) SetTraceFlags(ctx context.Context, on, off []int) (resources.Step, error) {
	if l.ToolPresent() {
		step := l.TraceFlagsStep(nil, on, off, true)
		for _, argv := range l.traceFlagArgvs(on, off) {
			if err := l.run(ctx, argv); err != nil {
				return step, err
			}
		}
		return step, nil
	}
	cur, err := l.ReadStartup(ctx)
	if err != nil {
		return resources.Step{}, err
	}
	step := l.TraceFlagsStep(cur.TraceFlags, on, off, false)
	return step, l.editFile(func(b []byte) []byte { return EditTraceFlags(b, targetFlags(cur.TraceFlags, on, off)) })
}

// RestartStep describes the restart command.
func (l *Linux) RestartStep() resources.Step { return commandStep(l.On, l.RestartCommand) }

// RestartSummary is one line saying what Restart runs.
func (l *Linux) RestartSummary() string { return "running " + CommandText(l.RestartCommand) }

// Restart runs the restart command; its stderr is in the error.
func (l *Linux) Restart(ctx context.Context) error {
	if len(l.RestartCommand) == 0 {
		return errors.New("no restart command configured")
	}
	return l.run(ctx, l.RestartCommand)
}

func (l *Linux) run(ctx context.Context, argv []string) error {
	r := l.Runner
	if r == nil {
		r = Local{}
	}
	_, stderr, err := r.Run(ctx, argv)
	if err != nil {
		if msg := trimOutput(stderr); msg != "" {
			return fmt.Errorf("%s: %w: %s", CommandText(argv), err, msg)
		}
		return fmt.Errorf("%s: %w", CommandText(argv), err)
	}
	return nil
}

// editFile rewrites mssql.conf through a temporary file in the same
// directory and a rename, so a crash never leaves half a file; mode and,
// where the platform allows, owner are kept (SQL Server runs as mssql).
func (l *Linux) editFile(edit func([]byte) []byte) error {
	old, err := os.ReadFile(l.Conf)
	mode := fs.FileMode(0o644)
	var fi fs.FileInfo
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", l.Conf, err)
	default:
		if fi, err = os.Stat(l.Conf); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	b := edit(old)
	if fi != nil && string(b) == string(old) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.Conf), ".mssql.conf.milink-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	if fi != nil {
		keepOwner(tmp.Name(), fi)
	}
	if err := os.Rename(tmp.Name(), l.Conf); err != nil {
		return fmt.Errorf("writing %s: %w", l.Conf, err)
	}
	return nil
}
