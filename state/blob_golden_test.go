package state

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/milink/milink/internal/azurite"
	"github.com/milink/milink/internal/golden"
)

// recorder is an HTTP transport that writes down each Blob API call the
// backend makes, in a form that does not change from run to run: the
// method, the path and query (container and IDs replaced by names), the
// headers that carry meaning (conditions, lease actions, metadata names),
// and the status.
type recorder struct {
	mu        sync.Mutex
	container string
	ids       map[string]string
	lines     []string
}

var recordedHeaders = []string{
	"If-Match", "If-None-Match", "X-Ms-Blob-Type", "X-Ms-Lease-Action", "X-Ms-Lease-Break-Period",
	"X-Ms-Lease-Duration", "X-Ms-Lease-Id", "X-Ms-Proposed-Lease-Id",
}

func (r *recorder) name(kind, v string) string {
	if v == "" || v == "*" {
		return v
	}
	if n, ok := r.ids[v]; ok {
		return n
	}
	n := fmt.Sprintf("%s%d", kind, len(r.ids)+1)
	r.ids[v] = n
	return n
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	path := strings.Replace(req.URL.Path, "/"+azurite.Account+"/"+r.container, "/CONTAINER", 1)
	q := req.URL.Query()
	var qs []string
	for k, vs := range q {
		if k == "timeout" {
			continue
		}
		qs = append(qs, k+"="+strings.Join(vs, ","))
	}
	sort.Strings(qs)
	line := req.Method + " " + path
	if len(qs) > 0 {
		line += "?" + strings.Join(qs, "&")
	}
	// The SDK sets some headers with lower-case names, which Get (which
	// canonicalises) would miss.
	header := func(name string) string {
		for k, vs := range req.Header {
			if strings.EqualFold(k, name) && len(vs) > 0 {
				return vs[0]
			}
		}
		return ""
	}
	for _, h := range recordedHeaders {
		v := header(h)
		if v == "" {
			continue
		}
		switch h {
		case "If-Match":
			v = r.name("etag", v)
		case "X-Ms-Lease-Id", "X-Ms-Proposed-Lease-Id":
			v = r.name("lock", v)
		}
		line += fmt.Sprintf(" %s=%s", strings.ToLower(h), v)
	}
	var meta []string
	for k := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-ms-meta-") {
			meta = append(meta, strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "x-ms-meta-")))
		}
	}
	sort.Strings(meta)
	if len(meta) > 0 {
		line += " metadata=" + strings.Join(meta, ",")
	}
	if err != nil {
		line += " -> error"
	} else {
		line += fmt.Sprintf(" -> %d", resp.StatusCode)
	}
	r.lines = append(r.lines, line)
	return resp, err
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.lines, "\n") + "\n"
	r.lines = nil
	return s
}

// TestBlobGoldenCalls pins every Blob API call of a run: lock, load, save,
// record, unlock, and force-unlock, against Azurite.
func TestBlobGoldenCalls(t *testing.T) {
	srv := azurite.Shared(t)
	cont := srv.Container(t)
	rec := &recorder{container: cont, ids: map[string]string{}}
	bk, err := NewBlob(BlobConfig{StorageAccount: azurite.Account, AccessKey: azurite.Key, Endpoint: srv.Endpoint, Container: cont, Key: "milink.state.json", LeaseDuration: testLease, Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out strings.Builder
	step := func(name string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&out, "# %s\n%s\n", name, rec.take())
	}
	var lk Lock
	var s *State
	step("Lock (a new state)", func() (err error) { lk, err = bk.Lock(ctx, "apply", 0); return })
	step("Load", func() (err error) { s, err = bk.Load(ctx); return })
	step("Save", func() error {
		s.Set(Resource{Address: "hadr.sql01", Kind: "hadr", Attributes: map[string]any{}})
		return bk.Save(ctx, s)
	})
	step("Record", func() error {
		s.Set(Resource{Address: "database.sales", Kind: "database", Attributes: map[string]any{}})
		return bk.Record(ctx, s, "database.sales")
	})
	step("Unlock (compacts)", func() error { return lk.Unlock() })
	step("Lock (an existing state)", func() (err error) { lk, err = bk.Lock(ctx, "plan", 0); return })
	step("ForceUnlock", func() error { return bk.ForceUnlock(ctx, lk.ID()) })
	golden.Check(t, "testdata/golden/blob-calls.txt", []byte(out.String()))
}
