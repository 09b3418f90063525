package checks

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/internal/golden"
)

// The statements and commands of a check, as golden files: reviewed as
// files, and every .sql one run by the lab (TestGoldenStatementsRunInLab).
const (
	goldenName = "milink_check_0123456789ab"
	odd        = "milink_check_it's ]odd"
)

var goldenExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenFiles are the files, by name; "sql01:" and "mi01:" say which
// server the lab runs a statement on, in this order.
var goldenFiles = []struct {
	file, server, text string
}{
	{"leftover-jobs.sql", "mi01", LeftoverJobsSQL},
	{"leftover-endpoints.sql", "sql01", LeftoverEndpointsSQL},
	{"leftover-certificates.sql", "sql01", LeftoverCertificatesSQL},
	{"endpoints.sql", "sql01", EndpointsSQL},
	{"create-certificate.sql", "sql01", CreateCertificateSQL(goldenName, goldenExpiry)},
	{"create-endpoint.sql", "sql01", CreateEndpointSQL(goldenName, goldenName, 5022)},
	{"add-job.sql", "mi01", AddJobSQL(goldenName, "127.0.0.1", 5022)},
	{"start-job.sql", "mi01", StartJobSQL(goldenName)},
	{"job-state.sql", "mi01", JobStateSQL(goldenName)},
	{"delete-job.sql", "mi01", DeleteJobSQL(goldenName)},
	{"drop-endpoint.sql", "sql01", DropEndpointSQL(goldenName)},
	{"drop-certificate.sql", "sql01", DropCertificateSQL(goldenName)},
	// Names and an address that need their quoting.
	{"create-certificate-quoted.sql", "sql01", CreateCertificateSQL(odd, goldenExpiry)},
	{"add-job-quoted.sql", "mi01", AddJobSQL(odd, "it's ]odd", 5022)},
	{"delete-job-quoted.sql", "mi01", DeleteJobSQL(odd)},
	{"drop-endpoint-quoted.sql", "sql01", DropEndpointSQL(odd)},
	{"drop-certificate-quoted.sql", "sql01", DropCertificateSQL(odd)},
	// The host commands.
	{"probe-linux.txt", "", ProbeText("linux", "mi01.abc123.database.windows.net", 5022, ProbeTimeout)},
	{"probe-linux-quoted.txt", "", ProbeText("linux", "it's $(odd)", 11000, ProbeTimeout)},
	{"probe-windows.ps1", "", ProbeText("windows", "mi01.abc123.database.windows.net", 5022, ProbeTimeout)},
	{"probe-windows-quoted.ps1", "", ProbeText("windows", "it's $(odd)", 11000, ProbeTimeout)},
}

func TestGolden(t *testing.T) {
	for _, g := range goldenFiles {
		text := g.text
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		golden.Check(t, filepath.Join("testdata", "golden", g.file), []byte(text))
	}
	// Every file there is in the table, so the lab runs every statement.
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	known := map[string]bool{}
	for _, g := range goldenFiles {
		known[g.file] = true
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("%s: a golden file no test produces", f)
		}
	}
}

// TestGoldenStatementsRunInLab runs every golden statement, as the file
// holds it, on the lab's server, in the order of a check: the lab answers
// exactly what milink sends.
func TestGoldenStatementsRunInLab(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	for _, g := range goldenFiles {
		if g.server == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "golden", g.file))
		if err != nil {
			t.Fatal(err)
		}
		db := map[string]*sql.DB{"sql01": e.sql, "mi01": e.mi}[g.server]
		if _, err := db.ExecContext(t.Context(), string(data)); err != nil {
			t.Errorf("%s: the lab refused it: %v", g.file, err)
		}
		switch g.file {
		case "create-endpoint.sql":
			if portFree(e.sqlAddr, 5022) {
				t.Error("the golden endpoint does not listen")
			}
		case "add-job-quoted.sql":
			// The address came through both quotings intact.
			got := names(t, e.mi, "SELECT s.command FROM msdb.dbo.sysjobsteps AS s JOIN msdb.dbo.sysjobs AS j ON j.job_id = s.job_id WHERE j.name = N'milink_check_it''s ]odd'")
			if want := TncCommand("it's ]odd", 5022); len(got) != 1 || got[0] != want {
				t.Errorf("step command %q, want %q", got, want)
			}
		}
	}
	e.assertClean(t)
}
