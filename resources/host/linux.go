package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/milink/milink/resources"
)

// Linux is SQL Server on Linux: startup settings in mssql.conf, changed with
// mssql-conf when it is installed, otherwise by editing the file. Every
// file and program is reached through Transport.
type Linux struct {
	Conf           string   // path of mssql.conf
	Tool           string   // path of mssql-conf
	RestartCommand []string // e.g. systemctl restart mssql-server
	Transport      Transport
	// Runner, when set, runs the programs instead of Transport, which then
	// only reaches the files. Transitional, see Runner.
	Runner Runner
	On     string // where steps run, for plans: "host:sql_server.sql01"
}

// transport is what every method goes through; a nil Transport is this
// machine.
func (l *Linux) transport() Transport { return transportOf(l.Transport, l.Runner) }

// DetectTool reports whether mssql-conf is on the host: a regular,
// executable file at Tool. An error says the host could not be asked
// (milink must not then guess and edit the file the tool owns).
func (l *Linux) DetectTool(ctx context.Context) (bool, error) {
	if l.Tool == "" {
		return false, nil
	}
	fi, err := l.transport().Stat(ctx, l.Tool)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for mssql-conf: %w", err)
	}
	return fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0, nil
}

// systemdMarker exists while systemd runs as the init system (what
// sd_booted(3) tests); containers usually have none, so systemctl fails
// there.
const systemdMarker = "/run/systemd/system"

// Systemd reports whether the host runs systemd.
func (l *Linux) Systemd(ctx context.Context) (bool, error) {
	fi, err := l.transport().Stat(ctx, systemdMarker)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for systemd (%s): %w", systemdMarker, err)
	}
	return fi.IsDir(), nil
}

// ToolPresent is DetectTool without a context, an error counting as
// absent. Transitional: callers move to DetectTool, which a transport over
// a network needs (a context to give up, an error that is not "absent").
func (l *Linux) ToolPresent() bool {
	ok, _ := l.DetectTool(context.Background())
	return ok
}

// ReadStartup reads HADR and the startup trace flags from mssql.conf. A
// missing file or key means the defaults.
func (l *Linux) ReadStartup(ctx context.Context) (Startup, error) {
	b, err := l.transport().ReadFile(ctx, l.Conf)
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
	useTool, err := l.DetectTool(ctx)
	if err != nil {
		return resources.Step{}, err
	}
	step := l.HadrStep(on, useTool)
	if useTool {
		return step, l.run(ctx, l.hadrArgv(on))
	}
	return step, l.editFile(ctx, func(b []byte) []byte { return EditHadr(b, on) })
}

// SetTraceFlags adds on and removes off from the startup trace flags and
// returns the step it ran.
func (l *Linux) SetTraceFlags(ctx context.Context, on, off []int) (resources.Step, error) {
	useTool, err := l.DetectTool(ctx)
	if err != nil {
		return resources.Step{}, err
	}
	if useTool {
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
	return step, l.editFile(ctx, func(b []byte) []byte { return EditTraceFlags(b, targetFlags(cur.TraceFlags, on, off)) })
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
	return execArgv(ctx, l.transport(), argv, CommandText(argv))
}

// editFile rewrites mssql.conf with edit, through the transport's atomic
// WriteFile (mode and owner kept: SQL Server runs as mssql and must still
// read it). An edit that changes nothing writes nothing; a missing file is
// edited from empty and created 0644, as mssql-conf would.
func (l *Linux) editFile(ctx context.Context, edit func([]byte) []byte) error {
	t := l.transport()
	old, err := t.ReadFile(ctx, l.Conf)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", l.Conf, err)
	}
	b := edit(old)
	if exists && bytes.Equal(b, old) {
		return nil
	}
	return t.WriteFile(ctx, l.Conf, b, 0o644)
}
