package labcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/arm"
)

// fakeControl answers the control API's link routes as package lab's
// ControlServer does (tested there against the same Client), so that the
// command is tested without a running lab.
type fakeControl struct {
	mu       sync.Mutex
	requests []string
	links    []arm.LinkStatus
}

func (f *fakeControl) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if body != nil {
		b, _ := json.Marshal(body)
		line += " " + string(b)
	}
	f.requests = append(f.requests, line)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/status":
		w.Write([]byte(`{"servers":[]}`))
	case "/v1/link/status", "/v1/link/advance":
		json.NewEncoder(w).Encode(f.links)
	case "/v1/link/fault":
		w.Write([]byte(`{}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"no route"}`))
	}
}

func startFakeControl(t *testing.T, links []arm.LinkStatus) (*fakeControl, string) {
	t.Helper()
	f := &fakeControl{links: links}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	data, _ := json.Marshal(lab.ControlFile{Address: srv.Listener.Addr().String(), Token: "x", PID: os.Getpid()})
	if err := os.WriteFile(lab.ControlPath(dir), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f, dir
}

func runLab(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestLinkCommand(t *testing.T) {
	links := []arm.LinkStatus{
		{LinkSpec: arm.LinkSpec{Name: "payroll", ReplicationMode: "Async"}, Databases: []arm.LinkDatabase{{
			Name: "payroll", ReplicaState: "LinkSynchronizing", SeedingProgress: "100%", SynchronizationHealth: "HEALTHY", ConnectedState: "CONNECTED",
			LastReceivedLSN: "37000000012800001", LastHardenedLSN: "37000000012000001", SendLagSeconds: 2, RedoLagSeconds: 1}}},
		{LinkSpec: arm.LinkSpec{Name: "sales", ReplicationMode: "Sync", Databases: []string{"sales"}}, Databases: []arm.LinkDatabase{{
			Name: "sales", ReplicaState: "LinkInitError", MostRecentLinkError: "41973: the certificate is not trusted"}}},
	}
	f, dir := startFakeControl(t, links)

	code, out, errs := runLab(t, "link", "status", "-dir", dir)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errs)
	}
	for _, want := range []string{"LINK", "REPLICA STATE", "HARDENED LSN", "payroll", "LinkSynchronizing", "100%", "HEALTHY", "CONNECTED",
		"37000000012800001", "37000000012000001", "2s/1s", "Async", "LinkInitError", "41973: the certificate is not trusted"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runLab(t, "link", "-json", "status", "-dir", dir)
	var got []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got) != 2 || got[1]["replication_mode"] != "Sync" {
		t.Fatalf("status -json: %d %s", code, out)
	}
	if db := got[0]["databases"].([]any)[0].(map[string]any); db["last_hardened_lsn"] != "37000000012000001" || db["replica_state"] != "LinkSynchronizing" ||
		db["send_lag_seconds"] != float64(2) || db["last_hardened_time"] != nil {
		t.Errorf("status -json database: %v", db)
	}

	code, out, errs = runLab(t, "link", "advance", "90s", "-dir", dir)
	if code != 0 || !strings.Contains(out, "advanced by 1m30s") || !strings.Contains(out, "payroll") {
		t.Errorf("advance: %d %s %s", code, out, errs)
	}
	code, out, errs = runLab(t, "link", "fault", "port_closed", "on", "-dir", dir)
	if code != 0 || !strings.Contains(out, "port_closed on") {
		t.Errorf("fault: %d %s %s", code, out, errs)
	}
	want := []string{
		"GET /v1/status", "GET /v1/link/status", "GET /v1/status", "GET /v1/link/status",
		"GET /v1/status", `POST /v1/link/advance {"duration":"1m30s"}`,
		"GET /v1/status", `POST /v1/link/fault {"name":"port_closed","on":true}`,
	}
	if strings.Join(f.requests, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(f.requests, "\n"), strings.Join(want, "\n"))
	}

	// Mistakes are caught before the lab is asked.
	n := len(f.requests)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"link"}, "want a subcommand"},
		{[]string{"link", "stats"}, "unknown subcommand"},
		{[]string{"link", "status", "x"}, "unexpected argument"},
		{[]string{"link", "advance"}, "want one duration"},
		{[]string{"link", "advance", "0s"}, "more than 0"},
		{[]string{"link", "advance", "soon"}, "want a duration"},
		{[]string{"link", "fault", "port_closed"}, "on or off"},
		{[]string{"link", "fault", "port_closed", "yes"}, "on or off"},
		{[]string{"link", "fault", "cosmic_rays", "on"}, "unknown link fault"},
	} {
		code, _, errs := runLab(t, append(tc.args, "-dir", dir)...)
		if code != 1 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, `milink lab link -h`) {
			t.Errorf("%v: %d %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	if len(f.requests) != n {
		t.Errorf("refused commands reached the lab: %v", f.requests[n:])
	}
	code, out, _ = runLab(t, "link", "-h")
	if code != 0 || !strings.Contains(out, "seeding_interrupted") || !strings.Contains(out, "advance DURATION") {
		t.Errorf("help: %d %s", code, out)
	}
	code, out, _ = runLab(t, "-h")
	if code != 0 || !strings.Contains(out, "link") {
		t.Errorf("overview: %s", out)
	}
}

func TestLinkCommandNoLinks(t *testing.T) {
	_, dir := startFakeControl(t, nil)
	code, out, _ := runLab(t, "link", "status", "-dir", dir)
	if code != 0 || !strings.Contains(out, "no links") {
		t.Errorf("%d %s", code, out)
	}
	code, out, _ = runLab(t, "link", "status", "-json", "-dir", dir)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("-json: %d %s", code, out)
	}
}

func TestLinkCommandLabNotRunning(t *testing.T) {
	code, _, errs := runLab(t, "link", "status", "-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "not running") {
		t.Errorf("%d %s", code, errs)
	}
}
