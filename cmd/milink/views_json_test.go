package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// decodeEvents parses a stream: every line one JSON object with the common
// fields.
func decodeEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", len(events)+1, err, sc.Text())
		}
		for _, k := range []string{"@level", "@message", "@timestamp", "type"} {
			if s, ok := ev[k].(string); !ok || s == "" {
				t.Errorf("line %d: %s missing: %s", len(events)+1, k, sc.Text())
			}
		}
		if ts, _ := ev["@timestamp"].(string); ts != "" {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("line %d: @timestamp %q: %v", len(events)+1, ts, err)
			}
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		t.Fatalf("no events in %q", out)
	}
	return events
}

func types(events []map[string]any) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev["type"].(string))
	}
	return out
}

// The apply -json view: every line valid JSON, the events in order, no
// secret, neither from the configuration nor as a fingerprint.
func TestApplyJSONView(t *testing.T) {
	const secret = "Event-Stream-Secret-42"
	cfg := strings.Replace(unreachable, `password = "x"`, `password = "`+secret+`"`, 1)
	g := &globals{io: &stdio{getenv: func(string) string { return "" }, environ: func() []string { return nil }}}
	g.chdir = cliDir(t, cfg)
	g.io.err = &bytes.Buffer{}
	w, code := g.openWorkspace(&common{})
	if w == nil {
		t.Fatalf("loading: exit %d: %s", code, g.io.err)
	}
	if got := w.redact("login with " + secret + " refused"); strings.Contains(got, secret) {
		t.Fatalf("redact does not know the configuration's secret: %q", got)
	}

	const fp = "hmac-sha256:0123456789abcdef"
	mk := resources.Change{
		Address: "master_key.s1", Kind: "master_key", Target: "sql_server.s1", Action: resources.Create,
		After: map[string]any{"password": fp}, Sensitive: []string{"password"},
		Steps:  []resources.Step{{Kind: "tsql", On: "sql_server.s1", Text: "CREATE MASTER KEY ENCRYPTION BY PASSWORD = (sensitive); -- " + fp}},
		Reason: "no database master key in master",
	}
	hadr := resources.Change{Address: "hadr.s1", Kind: "hadr", Target: "sql_server.s1", Action: resources.Update, Restart: resources.NeedsRestart}
	restart := resources.Change{Address: resources.RestartAddr("sql_server.s1"), Kind: resources.KindRestart, Target: "sql_server.s1",
		Action: resources.Restart, DependsOn: []string{"hadr.s1"}}
	verify := resources.Change{Address: resources.VerifyAddr("sql_server.s1"), Kind: resources.KindVerify, Target: "sql_server.s1",
		Action: resources.Verify, DependsOn: []string{restart.Address}}
	db := resources.Change{Address: "database.sales", Kind: "database", Target: "sql_server.s1", Action: resources.Update}
	dbFailed := resources.Change{Address: "database.payroll", Kind: "database", Target: "sql_server.s1", Action: resources.Update}
	dbSkipped := resources.Change{Address: "database.hr", Kind: "database", Target: "sql_server.s1", Action: resources.Update, DependsOn: []string{"database.payroll"}}
	noop := resources.Change{Address: "database.archive", Kind: "database", Target: "sql_server.s1", Action: resources.NoOp}
	p := &plan.Plan{Changes: []resources.Change{mk, hadr, restart, verify, db, dbFailed, dbSkipped, noop}}

	var out bytes.Buffer
	s := newJSONStream(&out)
	v := newApplyJSON(s, &bytes.Buffer{}, w.redact)
	s.diagnostic(config.JSONDiagnostic{Severity: "warning", Summary: "Deprecated attribute"})
	v.planned(p, false)
	v.applying()
	v.Start(mk)
	v.Progress(mk, "using "+secret+" and "+fp)
	v.Done(mk, 10*time.Millisecond, nil)
	v.Start(hadr)
	v.Done(hadr, time.Millisecond, nil)
	v.Start(restart)
	v.Progress(restart, "running lab restart sql01")
	v.Done(restart, 1500*time.Millisecond, nil)
	v.Start(verify)
	v.Done(verify, time.Millisecond, nil)
	v.Start(db)
	v.Progress(db, "10 percent processed.")
	v.Progress(db, "BACKUP DATABASE successfully processed 2402 pages in 0.084 seconds (223.850 MB/sec).")
	v.Done(db, 2*time.Second, nil)
	v.Start(dbFailed)
	failure := errors.New("database.payroll: login with " + secret + " failed")
	v.Done(dbFailed, time.Second, failure)
	v.Skipped(dbSkipped, "not done: database.payroll, which it depends on, did not complete")
	v.failed(p, state.New(), failure, false)

	text := out.String()
	for _, bad := range []string{secret, "hmac-sha256"} {
		if strings.Contains(text, bad) {
			t.Errorf("the stream shows %q:\n%s", bad, text)
		}
	}
	events := decodeEvents(t, text)
	want := []string{
		"version", "diagnostic",
		"planned_change", "planned_change", "planned_change", "planned_change", "planned_change", "planned_change", "planned_change",
		"change_summary",
		"apply_start", "apply_progress", "apply_complete",
		"apply_start", "apply_complete",
		"apply_start", "apply_progress", "apply_complete",
		"apply_start", "apply_complete",
		"apply_start", "apply_progress", "apply_progress", "apply_complete",
		"apply_start", "apply_errored",
		"apply_skipped",
		"diagnostic", "change_summary",
	}
	if got := types(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("event types:\n got %v\nwant %v", got, want)
	}
	if ev := events[0]; ev["format_version"] != eventsFormatVersion || ev["milink_version"] != version {
		t.Errorf("version line: %v", ev)
	}
	if d := events[1]["diagnostic"].(map[string]any); d["severity"] != "warning" || events[1]["@level"] != "warn" {
		t.Errorf("warning: %v", events[1])
	}
	// The restart is planned and applied under its own address, flagged.
	ch := events[4]["change"].(map[string]any)
	if r := ch["resource"].(map[string]any); r["addr"] != "sql_server.s1:restart" || r["kind"] != "restart" || ch["action"] != "restart" {
		t.Errorf("planned restart: %v", ch)
	}
	if h := events[15]["hook"].(map[string]any); h["action"] != "restart" || h["transient"] != true || events[15]["@message"] != "sql_server.s1: Restarting..." {
		t.Errorf("restart start: %v", events[15])
	}
	if h := events[17]["hook"].(map[string]any); h["elapsed_seconds"] != 1.5 {
		t.Errorf("restart complete: %v", events[17])
	}
	// A backup's progress has its percent; other messages have none.
	if h := events[21]["hook"].(map[string]any); h["percent"] != 10.0 || h["message"] != "10 percent processed." {
		t.Errorf("backup progress: %v", events[21])
	}
	if h := events[22]["hook"].(map[string]any); h["percent"] != nil {
		t.Errorf("percent in %v", events[22])
	}
	if h := events[25]["hook"].(map[string]any); events[25]["@level"] != "error" || !strings.Contains(h["error"].(string), "failed") {
		t.Errorf("errored: %v", events[25])
	}
	if h := events[26]["hook"].(map[string]any); !strings.Contains(h["reason"].(string), "database.payroll") {
		t.Errorf("skipped: %v", events[26])
	}
	if d := events[27]["diagnostic"].(map[string]any); d["severity"] != "error" || events[27]["@level"] != "error" {
		t.Errorf("error diagnostic: %v", events[27])
	}
	// The plan's summary, and the final one: what was done, and that it
	// failed.
	plannedSummary := events[9]["changes"].(map[string]any)
	if plannedSummary["operation"] != "plan" || plannedSummary["add"] != 1.0 || plannedSummary["change"] != 4.0 || plannedSummary["restart"] != 1.0 {
		t.Errorf("plan summary: %v", plannedSummary)
	}
	final := events[len(events)-1]["changes"].(map[string]any)
	wantFinal := map[string]any{"add": 1.0, "change": 2.0, "destroy": 0.0, "restart": 1.0, "forget": 0.0, "operation": "apply", "success": false}
	if !reflect.DeepEqual(final, wantFinal) {
		t.Errorf("final summary: %v, want %v", final, wantFinal)
	}
}

// apply -json cannot ask for confirmation: without -auto-approve or a plan
// file it fails at once, as a stream (version, then the error) on stdout.
func TestApplyJSONNeedsApproval(t *testing.T) {
	dir := cliDir(t, unreachable)
	code, stdout, stderr := runIn(t, dir, "apply", "-json")
	if code != exitError {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr, "apply -json cannot ask for confirmation: add -auto-approve") {
		t.Errorf("stderr: %s", stderr)
	}
	events := decodeEvents(t, stdout)
	if got := types(events); !reflect.DeepEqual(got, []string{"version", "diagnostic"}) {
		t.Errorf("events %v:\n%s", got, stdout)
	}
	// A flag error is a stream too, and nothing was contacted.
	code, stdout, stderr = runIn(t, dir, "apply", "-json", "-bogus")
	if code != exitError || strings.Contains(stderr, "127.0.0.1") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := types(decodeEvents(t, stdout)); !reflect.DeepEqual(got, []string{"version", "diagnostic"}) {
		t.Errorf("events %v", got)
	}
	// A failure that reported no diagnostic still ends with an error.
	code, stdout, _ = runIn(t, dir, "apply", "-json", "-auto-approve")
	events = decodeEvents(t, stdout)
	if code != exitError || events[len(events)-1]["type"] != "diagnostic" || events[0]["type"] != "version" {
		t.Errorf("exit %d, events %v", code, types(events))
	}
}

// validate -json: one document saying whether the configuration is valid.
func TestValidateJSON(t *testing.T) {
	code, stdout, _ := runIn(t, cliDir(t, unreachable), "validate", "-json")
	doc := decodeValidate(t, stdout)
	if code != exitOK || doc.Valid == nil || !*doc.Valid || doc.Errors != 0 || doc.Diagnostics == nil {
		t.Errorf("exit %d, %s", code, stdout)
	}
	code, stdout, _ = runIn(t, cliDir(t, unreachable+"bogus {}\n"), "validate", "-json")
	doc = decodeValidate(t, stdout)
	if code != exitError || doc.Valid == nil || *doc.Valid || doc.Errors == 0 {
		t.Errorf("exit %d, %s", code, stdout)
	}
}

func decodeValidate(t *testing.T, stdout string) jsonDiagnostics {
	t.Helper()
	var doc jsonDiagnostics
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	return doc
}
