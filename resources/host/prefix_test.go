package host

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestWithCommandPrefix(t *testing.T) {
	if _, err := exec.LookPath("env"); err != nil {
		t.Skip("env is not installed")
	}
	tests := []struct {
		name   string
		prefix []string
		argv   []string
		want   string
	}{
		{"no prefix runs the command", nil, []string{"echo", "a b"}, "a b"},
		{"the prefix runs the command", []string{"env", "GREETING=hello"}, []string{"sh", "-c", `echo "$GREETING"`}, "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := WithCommandPrefix(Local{}, tt.prefix)
			out, err := tr.Exec(context.Background(), Command{Argv: tt.argv})
			if err != nil {
				t.Fatalf("Exec: %v %s", err, out.Stderr)
			}
			if got := strings.TrimSpace(string(out.Stdout)); got != tt.want {
				t.Errorf("stdout %q, want %q", got, tt.want)
			}
		})
	}
	// The caller's slice is not modified, and the prefix is copied.
	prefix := []string{"env"}
	tr := WithCommandPrefix(Local{}, prefix)
	prefix[0] = "false"
	argv := []string{"true"}
	if _, err := tr.Exec(context.Background(), Command{Argv: argv}); err != nil {
		t.Errorf("the prefix was not copied: %v", err)
	}
	if !reflect.DeepEqual(argv, []string{"true"}) {
		t.Errorf("argv changed: %q", argv)
	}
	if WithCommandPrefix(Local{}, nil) != (Local{}) {
		t.Error("an empty prefix should give the transport itself")
	}
}
