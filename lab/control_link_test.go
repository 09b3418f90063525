package lab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milink/milink/lab/arm"
)

// fakeLinkControl stands for the link simulation, which has its own tests.
type fakeLinkControl struct {
	mu       sync.Mutex
	advanced time.Duration
	faults   map[string]bool
}

func (f *fakeLinkControl) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advanced += d
}

func (f *fakeLinkControl) SetFault(name string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[name] = on
}

func (f *fakeLinkControl) Links() []arm.LinkStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	seeding := "0%"
	if f.advanced >= time.Minute {
		seeding = "100%"
	}
	return []arm.LinkStatus{
		{LinkSpec: arm.LinkSpec{Name: "sales", ReplicationMode: "Sync"}},
		{LinkSpec: arm.LinkSpec{Name: "payroll", ReplicationMode: "Async"},
			Databases: []arm.LinkDatabase{{Name: "payroll", ReplicaState: "Seeding", SeedingProgress: seeding}}},
	}
}

func startTestControl(t *testing.T, links LinkControl) *Client {
	t.Helper()
	c := &ControlServer{token: "t0ken", links: links}
	srv := httptest.NewServer(c.handler())
	t.Cleanup(srv.Close)
	return &Client{cf: ControlFile{Address: srv.Listener.Addr().String(), Token: "t0ken"}, http: srv.Client()}
}

func TestControlLink(t *testing.T) {
	f := &fakeLinkControl{faults: map[string]bool{}}
	c := startTestControl(t, f)
	ctx := context.Background()
	links, err := c.LinkStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 2 || links[0].Name != "payroll" || links[1].Name != "sales" || links[0].Databases[0].SeedingProgress != "0%" {
		t.Errorf("status (sorted by name): %+v", links)
	}
	links, err = c.LinkAdvance(ctx, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.advanced != 90*time.Second || links[0].Databases[0].SeedingProgress != "100%" {
		t.Errorf("advance: clock %s, links %+v", f.advanced, links)
	}
	if err := c.SetLinkFault(ctx, "port_closed", true); err != nil || !f.faults["port_closed"] {
		t.Errorf("fault on: %v %v", err, f.faults)
	}
	if err := c.SetLinkFault(ctx, "port_closed", false); err != nil || f.faults["port_closed"] {
		t.Errorf("fault off: %v %v", err, f.faults)
	}
	if err := c.SetLinkFault(ctx, "cosmic_rays", true); err == nil || !strings.Contains(err.Error(), "seeding_interrupted") {
		t.Errorf("unknown fault: %v", err)
	}
	for _, d := range []string{"0s", "-5s", "25h", "soon", ""} {
		err := c.call(ctx, http.MethodPost, "/v1/link/advance", map[string]string{"duration": d}, nil)
		if err == nil || !strings.Contains(err.Error(), "duration") {
			t.Errorf("advance %q: %v", d, err)
		}
	}
	if f.advanced != 90*time.Second {
		t.Errorf("refused advances moved the clock: %s", f.advanced)
	}
	bad := &Client{cf: ControlFile{Address: c.cf.Address, Token: "wrong"}, http: c.http}
	if _, err := bad.LinkStatus(ctx); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestControlWithoutLink(t *testing.T) {
	c := startTestControl(t, nil)
	_, err := c.LinkStatus(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no link simulation") {
		t.Errorf("status: %v", err)
	}
	// A fault the simulation would know, but there is no simulation.
	err = c.SetLinkFault(context.Background(), "port_closed", true)
	if err == nil || !strings.Contains(err.Error(), "no link simulation") {
		t.Errorf("fault: %v", err)
	}
}

func TestParseLinkAdvance(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, " 1h30m ": 90 * time.Minute, "24h": 24 * time.Hour,
		"0": 0, "24h1s": 0, "x": 0, "-1m": 0} {
		got, err := ParseLinkAdvance(in)
		if (err == nil) != (want != 0) || got != want {
			t.Errorf("ParseLinkAdvance(%q) = %s, %v", in, got, err)
		}
	}
}
