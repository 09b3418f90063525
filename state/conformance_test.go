package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/internal/azurite"
	"github.com/milink/milink/resources"
)

// The conformance suite: what every backend must do, run against each of
// them (TestConformance). A backend is named by a spec string so that a
// helper process (a run to kill -9, a racer) opens the very same state:
//
//	local:PATH
//	blob:ENDPOINT|CONTAINER|KEY   (Azurite's account, a 15 s lease)

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Stop()
	os.Exit(code)
}

// testLease is Azure's shortest lease, to keep the crash tests short.
const testLease = 15 * time.Second

func openSpec(spec string) (Backend, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "local":
		return NewLocal(rest), nil
	case "blob":
		f := strings.Split(rest, "|")
		if len(f) != 3 {
			return nil, fmt.Errorf("bad blob spec %q", spec)
		}
		return NewBlob(BlobConfig{StorageAccount: azurite.Account, AccessKey: azurite.Key, Endpoint: f[0], Container: f[1], Key: f[2], LeaseDuration: testLease})
	}
	return nil, fmt.Errorf("bad spec %q", spec)
}

// backendUnderTest makes a fresh, empty state of one backend kind.
type backendUnderTest struct {
	name string
	// fresh returns the spec of a new, empty state.
	fresh func(t *testing.T) string
	// release is how long a killed holder's lock can outlive it.
	release time.Duration
	// raw reads the stored bytes, for the secrets test.
	raw func(t *testing.T, spec string) []byte
}

func backendsUnderTest() []backendUnderTest {
	return []backendUnderTest{
		{
			name:  "local",
			fresh: func(t *testing.T) string { return "local:" + filepath.Join(t.TempDir(), DefaultPath) },
			raw: func(t *testing.T, spec string) []byte {
				path := strings.TrimPrefix(spec, "local:")
				var all []byte
				for _, p := range []string{path, path + ".journal", path + ".backup", path + ".lock.info"} {
					b, _ := os.ReadFile(p)
					all = append(all, b...)
				}
				return all
			},
		},
		{
			name: "azurerm",
			fresh: func(t *testing.T) string {
				srv := azurite.Shared(t)
				return fmt.Sprintf("blob:%s|%s|%s", srv.Endpoint, srv.Container(t), "milink.state.json")
			},
			release: testLease,
			raw: func(t *testing.T, spec string) []byte {
				b := mustOpen(t, spec).(*blobBackend)
				ctx := context.Background()
				var all []byte
				pager := b.cont.NewListBlobsFlatPager(nil)
				for pager.More() {
					page, err := pager.NextPage(ctx)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range page.Segment.BlobItems {
						resp, err := b.cont.NewBlobClient(*it.Name).DownloadStream(ctx, nil)
						if err != nil {
							t.Fatal(err)
						}
						data, _ := readAllClose(resp.Body)
						all = append(all, data...)
					}
				}
				return all
			},
		},
	}
}

func mustOpen(t *testing.T, spec string) Backend {
	t.Helper()
	b, err := openSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	for _, bt := range backendsUnderTest() {
		t.Run(bt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); conformRoundTrip(t, bt) })
			t.Run("LockExclusion", func(t *testing.T) { t.Parallel(); conformLockExclusion(t, bt) })
			t.Run("CrashReleasesLock", func(t *testing.T) { t.Parallel(); conformCrash(t, bt) })
			t.Run("ConditionalWrites", func(t *testing.T) { t.Parallel(); conformConditional(t, bt) })
			t.Run("LineageSerial", func(t *testing.T) { t.Parallel(); conformLineage(t, bt) })
			t.Run("SecretsNeverStored", func(t *testing.T) { t.Parallel(); conformSecrets(t, bt) })
			t.Run("Race", func(t *testing.T) { t.Parallel(); conformRace(t, bt) })
		})
	}
}

// conformRoundTrip: Save, Record and Load give back what was written; a
// never-written state is New at serial 0.
func conformRoundTrip(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	b := mustOpen(t, spec)
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Load(ctx)
	if err != nil || s.Serial != 0 || len(s.Resources) != 0 {
		t.Fatalf("Load of a new state = %+v, %v", s, err)
	}
	s = sample(t)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		addr := fmt.Sprintf("database.db%d", i)
		s.Set(Resource{Address: addr, Kind: "database", Attributes: map[string]any{"n": float64(i)}})
		if err := b.Record(ctx, s, addr); err != nil {
			t.Fatal(err)
		}
	}
	s.Remove("hadr.sql01")
	if err := b.Record(ctx, s, "hadr.sql01"); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 7 {
		t.Errorf("serial = %d, want 7", s.Serial)
	}
	// Another reader sees every record before the holder compacts.
	got, err := mustOpen(t, spec).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, s)
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	got, err = mustOpen(t, spec).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, s)
}

// conformLockExclusion: a held lock refuses another taker, naming the
// holder; -lock-timeout waits for its release.
func conformLockExclusion(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	h := startHelper(t, "spec-hold-lock", spec)
	id := h.expect(t, "LOCKED")
	b := mustOpen(t, spec)
	_, err := b.Lock(ctx, "plan", 0)
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("Lock while held = %v, want a LockError", err)
	}
	if le.Info.ID != id || le.Info.Operation != "apply" || le.Info.PID != h.cmd.Process.Pid {
		t.Errorf("LockError names %+v, want ID %s, apply, pid %d", le.Info, id, h.cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), id) {
		t.Errorf("message does not name the lock ID: %v", err)
	}
	// force-unlock with another ID is refused, whatever the backend.
	if err := b.ForceUnlock(ctx, "not-"+id); err == nil {
		t.Error("ForceUnlock with a wrong ID succeeded")
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		_ = h.stdin.Close()
	}()
	var notes []string
	wctx := WithProgress(ctx, func(m string) { notes = append(notes, m) })
	lk, err := b.Lock(wctx, "plan", 30*time.Second)
	if err != nil {
		t.Fatalf("Lock with a timeout did not get the released lock: %v", err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// conformCrash: a holder killed with -9 in the middle of recording
// changes frees the lock by itself (at once for the local file's kernel
// lock, when the lease expires for a blob), with nothing typed; what it
// recorded before dying is in the state.
func conformCrash(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	b := mustOpen(t, spec)
	if err := b.Save(ctx, sample(t)); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "spec-record-then-hang", spec, "MILINK_STATE_HELPER_ROUNDS=3")
	for range 4 {
		h.expect(t, "RECORDED")
	}
	h.kill9(t)
	start := time.Now()
	var notes []string
	wctx := WithProgress(ctx, func(m string) { notes = append(notes, m) })
	lk, err := b.Lock(wctx, "apply", bt.release+20*time.Second)
	if err != nil {
		t.Fatalf("the lock of a killed holder was not freed: %v", err)
	}
	defer lk.Unlock()
	if waited := time.Since(start); bt.release > 0 && waited < bt.release/3 {
		t.Errorf("got the lock after %s: the lease of a killed holder was not respected", waited)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "ended without releasing") {
		t.Errorf("the dead holder was not noted: %q", notes)
	}
	s, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Serial != 5 || s.Get("database.db2") == nil || s.Get("hadr.sql01") != nil {
		t.Errorf("after the crash: serial %d, %v; want 5 with db0..db2 and without hadr.sql01", s.Serial, s.Addresses())
	}
}

// conformConditional: a writer whose copy is not the successor of the
// stored state (someone wrote meanwhile) is refused, and the stored state
// stays as the other wrote it.
func conformConditional(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	a, b := mustOpen(t, spec), mustOpen(t, spec)
	if err := a.Save(ctx, sample(t)); err != nil {
		t.Fatal(err)
	}
	sa, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb.Set(Resource{Address: "database.b", Kind: "database", Attributes: map[string]any{}})
	if err := b.Record(ctx, sb, "database.b"); err != nil {
		t.Fatal(err)
	}
	sa.Set(Resource{Address: "database.a", Kind: "database", Attributes: map[string]any{}})
	if err := a.Record(ctx, sa, "database.a"); err == nil {
		t.Error("Record over someone else's newer record succeeded")
	}
	if err := a.Save(ctx, sa); err == nil {
		t.Error("Save over someone else's newer record succeeded")
	}
	got, err := mustOpen(t, spec).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("database.b") == nil || got.Get("database.a") != nil || got.Serial != 2 {
		t.Errorf("stored state: serial %d %v, want the other writer's", got.Serial, got.Addresses())
	}
}

// conformLineage: serial grows by one per write; another lineage or an
// older serial is refused; push follows CheckPush and Replace keeps the
// serial it is given.
func conformLineage(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	b := mustOpen(t, spec)
	s := sample(t)
	for i := int64(1); i <= 3; i++ {
		if err := b.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		if s.Serial != i {
			t.Fatalf("serial = %d after %d saves", s.Serial, i)
		}
	}
	other := sample(t)
	other.Serial = 10
	if err := mustOpen(t, spec).Save(ctx, other); err == nil || !strings.Contains(err.Error(), "lineage") {
		t.Errorf("Save of another lineage = %v, want refused naming the lineage", err)
	}
	old := *s
	old.Serial = 1
	if err := mustOpen(t, spec).Save(ctx, &old); err == nil || !strings.Contains(err.Error(), "serial") {
		t.Errorf("Save of an older serial = %v, want refused", err)
	}

	lk, err := b.Lock(ctx, "push", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	cur, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CheckPush(cur, other, false); err == nil {
		t.Error("push of another lineage without -force allowed")
	}
	if _, _, err := CheckPush(cur, &old, false); err == nil {
		t.Error("push of an older serial without -force allowed")
	}
	out, same, err := CheckPush(cur, other, true)
	if err != nil || same || out.Serial != 10 {
		t.Fatalf("forced push = %+v %v %v", out, same, err)
	}
	if err := b.Replace(ctx, out); err != nil {
		t.Fatal(err)
	}
	got, err := mustOpen(t, spec).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lineage != other.Lineage || got.Serial != 10 {
		t.Errorf("after push: lineage %s serial %d, want %s 10", got.Lineage, got.Serial, other.Lineage)
	}
	// The pushed state goes on from there.
	if err := b.Save(ctx, got); err != nil || got.Serial != 11 {
		t.Errorf("Save after push: serial %d, %v", got.Serial, err)
	}
}

// conformSecrets: a sensitive attribute that is not a fingerprint is
// refused by Save and Record, and the secret is nowhere in what the
// backend stored.
func conformSecrets(t *testing.T, bt backendUnderTest) {
	ctx := context.Background()
	spec := bt.fresh(t)
	b := mustOpen(t, spec)
	lk, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := sample(t)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	const secret = "Sup3rSecretPassw0rd-conformance"
	leak := Resource{Address: "master_key.leak", Kind: "master_key", Attributes: map[string]any{"password": secret}, Sensitive: []string{"password"}}
	s.Set(leak)
	if err := b.Record(ctx, s, "master_key.leak"); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Record of a secret = %v, want refused without the value", err)
	}
	if err := b.Save(ctx, s); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Save of a secret = %v, want refused without the value", err)
	}
	if err := b.Replace(ctx, s); err == nil {
		t.Error("Replace of a secret succeeded")
	}
	s.Set(Resource{Address: "master_key.leak", Kind: "master_key", Attributes: map[string]any{"password": resources.Fingerprint(s.Salt, secret)}, Sensitive: []string{"password"}})
	if err := b.Record(ctx, s, "master_key.leak"); err != nil {
		t.Fatal(err)
	}
	raw := bt.raw(t, spec)
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	raw = append(raw, bt.raw(t, spec)...)
	if strings.Contains(string(raw), secret) {
		t.Error("the secret reached the stored state")
	}
	if !strings.Contains(string(raw), "master_key.leak") {
		t.Error("the fingerprinted resource is missing: the raw read saw nothing")
	}
}

// conformRace: two processes take and release the lock many times; never
// both at once.
func conformRace(t *testing.T, bt backendUnderTest) {
	spec := bt.fresh(t)
	inside := filepath.Join(t.TempDir(), "inside")
	rounds := "40"
	if testing.Short() {
		rounds = "10"
	}
	var hs []*helper
	for range 2 {
		h := startHelper(t, "spec-race", spec, "MILINK_STATE_HELPER_ROUNDS="+rounds, "MILINK_STATE_HELPER_INSIDE="+inside)
		h.expect(t, "READY")
		hs = append(hs, h)
	}
	for _, h := range hs {
		_, _ = h.stdin.Write([]byte("go\n"))
	}
	total := 0
	for _, h := range hs {
		for {
			line, err := h.out.ReadString('\n')
			if err != nil {
				t.Fatalf("racer ended without DONE: %v", err)
			}
			if strings.HasPrefix(line, "DONE ") {
				won, _ := strconv.Atoi(strings.Fields(line)[1])
				total += won
				break
			}
			t.Errorf("racer: %s", strings.TrimSpace(line))
		}
	}
	if total == 0 {
		t.Error("no racer ever got the lock")
	}
}

func init() {
	helperModes["spec-hold-lock"] = func(spec string) int {
		b, err := openSpec(spec)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		l, err := b.Lock(context.Background(), "apply", 0)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		fmt.Println("LOCKED", l.ID())
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		if err := l.Unlock(); err != nil {
			fmt.Println("ERR", err)
			return 4
		}
		return 0
	}
	// spec-record-then-hang locks, records ROUNDS changes (database.dbN)
	// and the removal of hadr.sql01, saying RECORDED after each, and hangs
	// holding the lock, to be killed.
	helperModes["spec-record-then-hang"] = func(spec string) int {
		rounds, _ := strconv.Atoi(os.Getenv("MILINK_STATE_HELPER_ROUNDS"))
		b, err := openSpec(spec)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		ctx := context.Background()
		if _, err := b.Lock(ctx, "apply", 0); err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		s, err := b.Load(ctx)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		for i := range rounds {
			addr := fmt.Sprintf("database.db%d", i)
			s.Set(Resource{Address: addr, Kind: "database", Attributes: map[string]any{"n": float64(i)}})
			if err := b.Record(ctx, s, addr); err != nil {
				fmt.Println("ERR", err)
				return 3
			}
			fmt.Println("RECORDED", s.Serial)
		}
		s.Remove("hadr.sql01")
		if err := b.Record(ctx, s, "hadr.sql01"); err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		fmt.Println("RECORDED", s.Serial)
		select {}
	}
	// spec-race takes and releases the lock ROUNDS times without waiting
	// when it is held; inside the lock it creates INSIDE exclusively, so
	// two holders at once show as OVERLAP.
	helperModes["spec-race"] = func(spec string) int {
		rounds, _ := strconv.Atoi(os.Getenv("MILINK_STATE_HELPER_ROUNDS"))
		inside := os.Getenv("MILINK_STATE_HELPER_INSIDE")
		b, err := openSpec(spec)
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		fmt.Println("READY x")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		won := 0
		for range rounds {
			l, err := b.Lock(context.Background(), "apply", 0)
			if err != nil {
				var le *LockError
				if !errors.As(err, &le) {
					fmt.Printf("BAD not a LockError: %q\n", err.Error())
				}
				continue
			}
			won++
			f, err := os.OpenFile(inside, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				fmt.Println("OVERLAP", err)
			} else {
				_ = f.Close()
			}
			time.Sleep(2 * time.Millisecond)
			_ = os.Remove(inside)
			if err := l.Unlock(); err != nil {
				fmt.Println("BAD unlock:", err)
			}
		}
		fmt.Println("DONE", won)
		return 0
	}
}

func readAllClose(r io.ReadCloser) ([]byte, error) {
	defer r.Close()
	return io.ReadAll(r)
}
