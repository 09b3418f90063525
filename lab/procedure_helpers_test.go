package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procedureSQL returns a T-SQL block of the preparation procedure, verbatim
// from testdata/procedure (see its README.md), with each placeholder
// replaced by the value after it:
//
//	procedureSQL(t, "nethelper.sql", "<SQL_SERVER_ADDRESS>", addr)
//
// A placeholder the block lacks fails the test: the block changed.
func procedureSQL(t *testing.T, name string, placeholderValue ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "procedure", name))
	if err != nil {
		t.Fatalf("procedure block: %v", err)
	}
	if len(placeholderValue)%2 != 0 {
		t.Fatalf("procedure block %s: placeholders and values do not pair up", name)
	}
	text := string(b)
	for i := 0; i < len(placeholderValue); i += 2 {
		if !strings.Contains(text, placeholderValue[i]) {
			t.Fatalf("procedure block %s has no placeholder %s", name, placeholderValue[i])
		}
		text = strings.ReplaceAll(text, placeholderValue[i], placeholderValue[i+1])
	}
	return text
}

// procedureBatches returns the block split at its GO lines, the batches
// sqlcmd or SSMS would send one after the other (go-mssqldb sends a text as
// one batch, and SQL Server does not know GO).
func procedureBatches(t *testing.T, name string, placeholderValue ...string) []string {
	t.Helper()
	var batches []string
	var cur strings.Builder
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			batches = append(batches, cur.String())
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(procedureSQL(t, name, placeholderValue...), "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "GO") {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return batches
}
