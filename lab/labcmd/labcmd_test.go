package labcmd

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		latency time.Duration
		json    bool
	}{
		{args: []string{"sql01", "-latency", "50ms"}, pos: []string{"sql01"}, latency: 50 * time.Millisecond},
		{args: []string{"-json", "sql01"}, pos: []string{"sql01"}, json: true},
		{args: []string{"a", "-json", "b"}, pos: []string{"a", "b"}, json: true},
		{args: nil, pos: nil},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		latency := fs.Duration("latency", 0, "")
		js := fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !reflect.DeepEqual(pos, tt.pos) || *latency != tt.latency || *js != tt.json {
			t.Errorf("%v: pos %v latency %v json %v", tt.args, pos, *latency, *js)
		}
	}
}

func TestDescribeFaults(t *testing.T) {
	if got := describeFaults(lab.Faults{}); got != "none" {
		t.Errorf("no faults: %q", got)
	}
	got := describeFaults(lab.Faults{Latency: time.Second, DropAt: 2, ErrorAt: 3, RestartHangs: true})
	for _, want := range []string{"latency 1s", "drop the connection at statement 2", "error at statement 3", "restart hangs"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

func TestProcessGone(t *testing.T) {
	if processGone(os.Getpid()) {
		t.Fatal("this process counts as gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no `true` to run:", err)
	}
	pid := cmd.Process.Pid
	// Not yet reaped: a zombie still counts as gone.
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited (zombie) child does not count as gone")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if !processGone(pid) {
		t.Fatal("a reaped child does not count as gone")
	}
}

func TestConnStringEscapes(t *testing.T) {
	s := connString(lab.ServerInfo{User: "sa", Password: "p@ss:w/rd?&", Address: "127.0.0.2", Port: 1433})
	if !strings.HasPrefix(s, "sqlserver://sa:p%40ss%3Aw%2Frd%3F&@127.0.0.2:1433?") || !strings.Contains(s, "encrypt=disable") {
		t.Fatalf("connString = %s", s)
	}
}

func TestFaultFlags(t *testing.T) {
	ms := func(n int) *time.Duration { d := time.Duration(n) * time.Millisecond; return &d }
	n := func(v int64) *int64 { return &v }
	yes, no := true, false
	tests := []struct {
		values []string
		want   faultFlags
		err    string
	}{
		{values: []string{"sql01:drop-at=3"}, want: faultFlags{"sql01": {DropAt: n(3)}}},
		{values: []string{"sql01:error-at=2,latency=20ms", "mi01:restart-hangs"},
			want: faultFlags{"sql01": {ErrorAt: n(2), Latency: ms(20)}, "mi01": {RestartHangs: &yes}}},
		{values: []string{"sql01:latency=5ms", "sql01:restart-hangs=false"}, want: faultFlags{"sql01": {Latency: ms(5), RestartHangs: &no}}},
		{values: []string{"sql02:drop-at=1"}, err: "no server"},
		{values: []string{"sql01"}, err: "NAME:KEY=VALUE"},
		{values: []string{"sql01:drop-at=0"}, err: "from 1"},
		{values: []string{"sql01:error-at=x"}, err: "from 1"},
		{values: []string{"sql01:latency=-1s"}, err: "duration"},
		{values: []string{"sql01:restart-hangs=maybe"}, err: "true or false"},
		{values: []string{"sql01:bogus=1"}, err: "unknown fault"},
	}
	for _, tt := range tests {
		var f faultFlags
		var err error
		for _, v := range tt.values {
			if err = f.Set(v); err != nil {
				break
			}
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.values, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.values, err)
			continue
		}
		if !reflect.DeepEqual(f, tt.want) {
			t.Errorf("%v: got %s, want %s", tt.values, f.String(), tt.want.String())
		}
	}
	// serve's start configuration: -fault overrides -latency for its server only.
	o := labOptions{latency: 10 * time.Millisecond, faults: faultFlags{"sql01": {DropAt: n(4), Latency: ms(1)}}}
	cfg := o.config(nil)
	if got := cfg.Faults["sql01"]; got != (lab.Faults{Latency: time.Millisecond, DropAt: 4}) {
		t.Errorf("sql01 start faults %+v", got)
	}
	if got := cfg.Faults["mi01"]; got != (lab.Faults{Latency: 10 * time.Millisecond}) {
		t.Errorf("mi01 start faults %+v", got)
	}
}

// mainCase is one `milink lab` invocation and what it must print.
type mainCase struct {
	args   []string
	code   int
	stdout string // a substring that must appear exactly once; "" means no output
	stderr string // exact, unless has
	has    bool   // stderr need only contain stderr
}

func checkMain(t *testing.T, tests []mainCase) {
	t.Helper()
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(context.Background(), tt.args, &out, &errb)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errb.String())
		}
		switch {
		case tt.stdout == "" && out.Len() > 0:
			t.Errorf("%q: stdout %q, want none", tt.args, out.String())
		case tt.stdout != "" && strings.Count(out.String(), tt.stdout) != 1:
			t.Errorf("%q: stdout has %q %d times, want once:\n%s", tt.args, tt.stdout, strings.Count(out.String(), tt.stdout), out.String())
		}
		switch {
		case tt.has && !strings.Contains(errb.String(), tt.stderr):
			t.Errorf("%q: stderr %q lacks %q", tt.args, errb.String(), tt.stderr)
		case !tt.has && errb.String() != tt.stderr:
			t.Errorf("%q: stderr\n%q\nwant\n%q", tt.args, errb.String(), tt.stderr)
		}
	}
}

// TestHelpGoesToStdoutOnce: help that is asked for is printed once, on
// stdout, with exit 0 (the flag package must not print it to stderr too).
func TestHelpGoesToStdoutOnce(t *testing.T) {
	tests := []mainCase{
		{args: []string{"-h"}, code: 0, stdout: "Usage: milink lab COMMAND"},
		{args: []string{"help"}, code: 0, stdout: "Usage: milink lab COMMAND"},
	}
	for _, c := range commands() {
		for _, h := range []string{"-h", "-help", "--help"} {
			tests = append(tests, mainCase{args: []string{c.name, h}, code: 0, stdout: "Usage: milink lab " + c.name})
		}
	}
	checkMain(t, tests)
}

// TestUsageErrorsExitOne: a usage mistake is a short error on stderr and
// exit 1, as the README's exit codes say (2 belongs to plan
// -detailed-exitcode).
func TestUsageErrorsExitOne(t *testing.T) {
	dir := t.TempDir()
	checkMain(t, []mainCase{
		{args: nil, code: 1, stderr: "Usage: milink lab COMMAND", has: true},
		{args: []string{"frob"}, code: 1,
			stderr: "Error: unknown command \"frob\"\nRun \"milink lab -h\" for the list of commands.\n"},
		{args: []string{"up", "-adress", "x"}, code: 1,
			stderr: "Error: flag provided but not defined: -adress\nRun \"milink lab up -h\" for its flags.\n"},
		{args: []string{"status", "-json=maybe"}, code: 1,
			stderr: "Error: invalid boolean value \"maybe\" for -json: parse error\nRun \"milink lab status -h\" for its flags.\n"},
		{args: []string{"restart", "-dir", dir}, code: 1,
			stderr: "Error: want exactly one server name (sql01 or mi01)\nRun \"milink lab restart -h\" for its flags.\n"},
		{args: []string{"fault", "sql01", "-dir", dir}, code: 1,
			stderr: "Error: give at least one fault flag\nRun \"milink lab fault -h\" for its flags.\n"},
		{args: []string{"down", "extra", "-dir", dir}, code: 1,
			stderr: "Error: unexpected argument \"extra\"\nRun \"milink lab down -h\" for its flags.\n"},
	})
}
