package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/milink/milink/internal/azurite"
)

func freshBlob(t testing.TB, workspace string) *blobBackend {
	t.Helper()
	srv := azurite.Shared(t)
	b, err := NewBlob(BlobConfig{StorageAccount: azurite.Account, AccessKey: azurite.Key, Endpoint: srv.Endpoint, Container: srv.Container(t), Key: "milink.state.json", Workspace: workspace, LeaseDuration: testLease})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*blobBackend)
}

func sibling(t *testing.T, b *blobBackend, workspace string) *blobBackend {
	t.Helper()
	cfg := b.cfg
	cfg.Workspace = workspace
	o, err := NewBlob(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*blobBackend)
}

// breakBehindBack breaks the state blob's lease as someone with the
// storage account's key would, without milink.
func breakBehindBack(t *testing.T, b *blobBackend) {
	t.Helper()
	lc, err := lease.NewBlobClient(b.bb, nil)
	if err != nil {
		t.Fatal(err)
	}
	zero := int32(0)
	if _, err := lc.BreakLease(context.Background(), &lease.BlobBreakOptions{BreakPeriod: &zero}); err != nil {
		t.Fatal(err)
	}
}

// A lease broken behind milink's back: the next write is refused before
// anything is written, the lock reports itself lost, and the state is the
// one before.
func TestBlobLeaseBrokenStopsWrites(t *testing.T) {
	ctx := context.Background()
	b := freshBlob(t, "")
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := sample(t)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	breakBehindBack(t, b)
	// Someone else takes the lock and writes.
	other := sibling(t, b, "")
	olk, err := other.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatalf("another run could not lock after the break: %v", err)
	}
	os, err := other.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	os.Set(Resource{Address: "database.other", Kind: "database", Attributes: map[string]any{}})
	if err := other.Record(ctx, os, "database.other"); err != nil {
		t.Fatal(err)
	}

	s.Set(Resource{Address: "database.mine", Kind: "database", Attributes: map[string]any{}})
	err = b.Record(ctx, s, "database.mine")
	if err == nil || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("Record after the lease was broken = %v, want refused for the lease", err)
	}
	w := lk.(Watched)
	select {
	case <-w.Done():
	default:
		t.Error("the lock does not report itself lost")
	}
	if err := b.Save(ctx, s); err == nil {
		t.Error("Save after the lease was lost succeeded")
	}
	if err := lk.Unlock(); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Errorf("Unlock of a lost lock = %v, want it to say so", err)
	}
	if err := olk.Unlock(); err != nil {
		t.Fatal(err)
	}
	got, err := sibling(t, b, "").Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("database.mine") != nil || got.Get("database.other") == nil {
		t.Errorf("stored: %v; want the other run's state only", got.Addresses())
	}
}

// A lease broken with nobody taking it: the renewal notices, and Done is
// closed within a renewal period, before the run's next step.
func TestBlobRenewalNoticesLoss(t *testing.T) {
	ctx := context.Background()
	b := freshBlob(t, "")
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	breakBehindBack(t, b)
	w := lk.(Watched)
	select {
	case <-w.Done():
		if !strings.Contains(w.Err().Error(), "lost") {
			t.Errorf("Err = %v", w.Err())
		}
	case <-time.After(testLease):
		t.Fatal("the renewal did not notice the broken lease")
	}
}

// The lease is renewed: a run holding the lock longer than the lease keeps
// it, and a waiting run is refused with the holder's record.
func TestBlobLeaseRenewed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits past a lease")
	}
	ctx := context.Background()
	b := freshBlob(t, "")
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(testLease + 5*time.Second)
	_, err = sibling(t, b, "").Lock(ctx, "plan", 0)
	var le *LockError
	if !errors.As(err, &le) || le.Info.ID != lk.ID() || !le.ForceUnlockable {
		t.Fatalf("Lock past the first lease = %v, want refused naming %s", err, lk.ID())
	}
	if !strings.Contains(err.Error(), "force-unlock "+lk.ID()) {
		t.Errorf("the message does not say how to force-unlock: %v", err)
	}
	if err := lk.(Watched).Err(); err != nil {
		t.Fatal(err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// force-unlock breaks the lease with the matching ID only.
func TestBlobForceUnlock(t *testing.T) {
	ctx := context.Background()
	b := freshBlob(t, "")
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	o := sibling(t, b, "")
	if err := o.ForceUnlock(ctx, "wrong"); err == nil || !strings.Contains(err.Error(), lk.ID()) {
		t.Errorf("ForceUnlock(wrong) = %v, want refused naming the real ID", err)
	}
	if err := o.ForceUnlock(ctx, lk.ID()); err != nil {
		t.Fatal(err)
	}
	l2, err := o.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatalf("Lock after force-unlock: %v", err)
	}
	if err := l2.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := o.ForceUnlock(ctx, l2.ID()); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("ForceUnlock of a free state = %v", err)
	}
}

// Workspaces are independent states (and locks); each written document is
// kept under versions/.
func TestBlobWorkspacesAndVersions(t *testing.T) {
	ctx := context.Background()
	def := freshBlob(t, "")
	prod := sibling(t, def, "prod")
	if prod.name != "milink.state.jsonenv:prod" {
		t.Errorf("workspace blob = %q", prod.name)
	}
	l1, err := def.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := prod.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatalf("a workspace's lock is not independent: %v", err)
	}
	s := sample(t)
	for range 2 {
		if err := def.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	_ = l1.Unlock()
	_ = l2.Unlock()
	p, err := prod.Load(ctx)
	if err != nil || p.Serial != 0 {
		t.Errorf("prod = %+v %v, want empty", p, err)
	}
	for _, serial := range []int64{1, 2} {
		resp, err := def.cont.NewBlobClient(def.versionName(serial)).DownloadStream(ctx, nil)
		if err != nil {
			t.Fatalf("version %d: %v", serial, err)
		}
		data, _ := readAllClose(resp.Body)
		v, err := Decode(data, "version")
		if err != nil || v.Serial != serial {
			t.Errorf("version %d holds serial %v (%v)", serial, v, err)
		}
	}
}

func TestBlobConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  BlobConfig
		want string
	}{
		{BlobConfig{Container: "c"}, "storage_account"},
		{BlobConfig{StorageAccount: "a"}, "container"},
		{BlobConfig{StorageAccount: "a", Container: "c", LeaseDuration: 5 * time.Second}, "15 to 60"},
		{BlobConfig{StorageAccount: "a", Container: "c", Workspace: "../x"}, "workspace"},
		{BlobConfig{StorageAccount: "a", Container: "c", AccessKey: "not base64 secret!"}, "access_key"},
	} {
		_, err := NewBlob(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && tc.cfg.AccessKey != "" && strings.Contains(err.Error(), tc.cfg.AccessKey) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

// BenchmarkBlobRecord and BenchmarkBlobSave compare, on Azurite, the cost
// of recording one change (a staged block and a block-list commit) with
// rewriting the whole document under an ETag condition, for a small and a
// large state: the first stays flat, the second grows with the state.
func BenchmarkBlobRecord(b *testing.B) { benchBlob(b, true) }
func BenchmarkBlobSave(b *testing.B)   { benchBlob(b, false) }

func benchBlob(b *testing.B, record bool) {
	for _, n := range []int{10, 2000} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			ctx := context.Background()
			bk := freshBlob(b, "")
			bk.compactBytes = 1 << 40 // measure the record, not compaction
			s := New()
			for i := range n {
				s.Set(Resource{Address: fmt.Sprintf("database.db%05d", i), Kind: "database", Target: "sql_server.sql01", Attributes: map[string]any{"recovery_model": "FULL", "last_full_backup": "2024-05-01T10:00:00Z"}})
			}
			if err := bk.Save(ctx, s); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := s.Get("database.db00000")
				r.Attributes["n"] = float64(i)
				var err error
				if record {
					err = bk.Record(ctx, s, r.Address)
				} else {
					err = bk.Save(ctx, s)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
