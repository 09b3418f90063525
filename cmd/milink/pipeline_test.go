package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The example pipelines run milink with options; each invocation must be
// one this milink accepts. Every "milink CMD ..." line of the definitions
// (backslash continuations joined, pipeline expressions replaced by a
// word) is parsed with -help appended, which prints the help only once
// every option before it was accepted.
func TestPipelineExamplesUseRealOptions(t *testing.T) {
	expr := regexp.MustCompile(`\$\{\{[^}]*\}\}|\$\([A-Za-z_.]+\)|\$[A-Za-z_]+`)
	invocation := regexp.MustCompile(`(?:^|[\s;&|(])milink ((?:fmt|validate|plan|apply|state|force-unlock|show)(?:\s[^;&|]*)?)$`)
	found := 0
	for _, f := range []string{"github-actions.yml", "azure-pipelines.yml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "pipeline", f))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			m := invocation.FindStringSubmatch(line)
			if m == nil || strings.Contains(line, "go install") {
				continue
			}
			found++
			cmdline := expr.ReplaceAllString(m[1], "x")
			cmdline = strings.Split(cmdline, ">")[0]
			var args []string
			for _, a := range strings.Fields(cmdline) {
				a = strings.Trim(a, `"`)
				// A plan file is an argument, not an option: -help must
				// come before it to be parsed.
				if !strings.HasPrefix(a, "-") && len(args) > 0 {
					continue
				}
				args = append(args, a)
			}
			args = append(args, "-help")
			var out, errw bytes.Buffer
			sio := &stdio{in: strings.NewReader(""), out: &out, err: &errw, getenv: func(string) string { return "" }, environ: func() []string { return nil }}
			if code := run(context.Background(), args, sio); code != exitOK {
				t.Errorf("%s: milink %s: exit %d: %s", f, strings.Join(args, " "), code, errw.String())
			}
		}
	}
	if found < 8 {
		t.Errorf("found %d milink invocations in the examples, want at least 8", found)
	}
}
