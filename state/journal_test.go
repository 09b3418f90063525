package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/resources"
)

// saved returns a local backend whose state file holds sample() at serial 1.
func saved(t *testing.T) (*local, string, *State) {
	t.Helper()
	b, path := newLocal(t)
	s := sample(t)
	if err := b.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return b, path, s
}

// sameState compares two states, instants by value (JSON drops the
// monotonic clock).
func sameState(t *testing.T, got, want *State) {
	t.Helper()
	g, w := *got, *want
	g.Resources = append([]Resource(nil), got.Resources...)
	for i := range g.Resources {
		if i < len(w.Resources) && g.Resources[i].UpdatedAt.Equal(w.Resources[i].UpdatedAt) {
			g.Resources[i].UpdatedAt = w.Resources[i].UpdatedAt
		}
	}
	if !reflect.DeepEqual(&g, &w) {
		t.Errorf("state differs:\n got %+v\nwant %+v", &g, &w)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	b, path, s := saved(t)
	before, _ := os.ReadFile(path)

	s.Set(Resource{Address: "database.hr", Kind: "database", Attributes: map[string]any{"recovery_model": "FULL"}})
	if err := b.Record(ctx, s, "database.hr"); err != nil {
		t.Fatal(err)
	}
	s.Get("database.sales").Attributes["recovery_model"] = "SIMPLE"
	s.Remove("hadr.sql01")
	if err := b.Record(ctx, s, "database.sales", "hadr.sql01", "database.sales"); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 3 {
		t.Errorf("serial = %d, want 3", s.Serial)
	}
	if err := b.Record(ctx, s); err != nil || s.Serial != 3 {
		t.Errorf("Record of nothing: %v, serial %d", err, s.Serial)
	}
	if now, _ := os.ReadFile(path); string(now) != string(before) {
		t.Error("Record rewrote the state file")
	}
	if fi, err := os.Stat(path + ".journal"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal: %v %v", fi, err)
	}
	// Another backend (another process) sees every change.
	got, err := NewLocal(path).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, s)

	// Unlock compacts: the state file holds it all, the journal is gone.
	l, err := b.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(Resource{Address: "database.ops", Kind: "database", Attributes: map[string]any{}})
	if err := b.Record(ctx, s, "database.ops"); err != nil {
		t.Fatal(err)
	}
	beforeUnlock, _ := os.ReadFile(path)
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left after Unlock: %v", err)
	}
	data, _ := os.ReadFile(path)
	fromFile, err := Decode(data, path)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, fromFile, s)
	if bk, _ := os.ReadFile(path + ".backup"); string(bk) != string(beforeUnlock) {
		t.Error("the backup is not the state file as it was before compaction")
	}

	// Save and Record mix: Save writes everything and ends the journal.
	s.Remove("database.ops")
	if err := b.Record(ctx, s, "database.ops"); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Error("Save left the journal")
	}
	got, _ = b.Load(ctx)
	sameState(t, got, s)
}

func TestRecordRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		change  func(t *testing.T, b *local, s *State) (*State, []string)
		wantErr string
	}{
		{"plain secret", func(t *testing.T, b *local, s *State) (*State, []string) {
			s.Set(Resource{Address: "master_key.main", Attributes: map[string]any{"password": "Sup3rSecret!"}, Sensitive: []string{"password"}})
			return s, []string{"master_key.main"}
		}, `master_key.main attribute "password"`},
		{"another lineage", func(t *testing.T, b *local, s *State) (*State, []string) {
			o := New()
			o.Serial = s.Serial
			o.Set(Resource{Address: "x.y"})
			return o, []string{"x.y"}
		}, "lineage"},
		{"stale serial", func(t *testing.T, b *local, s *State) (*State, []string) {
			stale, _ := b.Load(ctx)
			s.Set(Resource{Address: "x.first"})
			if err := b.Record(ctx, s, "x.first"); err != nil {
				t.Fatal(err)
			}
			stale.Set(Resource{Address: "x.second"})
			return stale, []string{"x.second"}
		}, "someone else applied meanwhile"},
		{"empty address", func(t *testing.T, b *local, s *State) (*State, []string) {
			return s, []string{""}
		}, "empty address"},
		{"canceled", func(t *testing.T, b *local, s *State) (*State, []string) {
			s.Set(Resource{Address: "x.y"})
			return s, []string{"x.y"}
		}, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, path, s := saved(t)
			st, addrs := tt.change(t, b, s)
			before, _ := b.Load(ctx)
			journalBefore, _ := os.ReadFile(path + ".journal")
			serial := st.Serial
			rctx := ctx
			if tt.name == "canceled" {
				c, cancel := context.WithCancel(ctx)
				cancel()
				rctx = c
			}
			err := b.Record(rctx, st, addrs...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "Sup3rSecret!") {
				t.Fatalf("error leaks the secret: %v", err)
			}
			if st.Serial != serial {
				t.Errorf("serial moved on a refused Record: %d -> %d", serial, st.Serial)
			}
			if j, _ := os.ReadFile(path + ".journal"); string(j) != string(journalBefore) || strings.Contains(string(j), "Sup3rSecret!") {
				t.Error("the journal changed on a refused Record")
			}
			after, err := b.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, after, before)
		})
	}
}

// The caller's state is ahead of the stored one (it was saved through
// another backend value, say), or the journal ends torn: Record writes the
// whole state instead, and nothing is lost.
func TestRecordFallsBackToSave(t *testing.T) {
	ctx := context.Background()
	b, path, s := saved(t)
	s.Set(Resource{Address: "x.a"})
	if err := b.Record(ctx, s, "x.a"); err != nil {
		t.Fatal(err)
	}
	// A torn last line, as a crash in the middle of an append leaves it.
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"serial":3,"set":[{"addr`)
	_ = f.Close()
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatalf("Load with a torn last line: %v", err)
	}
	sameState(t, got, s)
	s.Set(Resource{Address: "x.b"})
	if err := b.Record(ctx, s, "x.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Error("Record appended after a torn line instead of writing the whole state")
	}
	got, _ = NewLocal(path).Load(ctx)
	sameState(t, got, s)
}

// Past the threshold, Record compacts: the journal never grows without
// bound, whatever the number of records, and nothing is lost.
func TestRecordCompactsAsItGoes(t *testing.T) {
	ctx := context.Background()
	b, path, s := saved(t)
	b.compactBytes = 2 << 10
	compactions := 0
	var last int64
	for i := range 200 {
		addr := "database.db" + strconv.Itoa(i%7)
		s.Set(Resource{Address: addr, Kind: "database", Attributes: map[string]any{"n": float64(i)}})
		if err := b.Record(ctx, s, addr); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + ".journal")
		if errors.Is(err, os.ErrNotExist) {
			compactions++
			continue
		}
		if fi.Size() > 4<<10 {
			t.Fatalf("journal grew to %d bytes", fi.Size())
		}
		last = fi.Size()
	}
	if compactions == 0 {
		t.Errorf("never compacted (journal %d bytes)", last)
	}
	got, err := NewLocal(path).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, s)
}

// replay: what a journal may and may not contain.
func TestJournalReplay(t *testing.T) {
	ctx := context.Background()
	fp := resources.Fingerprint("salt", "x")
	entry := func(serial int, addr string) string {
		return fmt.Sprintf(`{"serial":%d,"set":[{"address":%q,"kind":"database","attributes":{"n":%d},"updated_at":"2024-05-01T10:00:00Z"}]}`, serial, addr, serial)
	}
	tests := []struct {
		name string
		// journal builds the journal's lines for a state at serial 1.
		journal func(lineage string) []string
		raw     bool // the lines are joined without a final newline
		want    []string
		wantErr string
		serial  int64
	}{
		{"entries applied in order", func(l string) []string {
			return []string{header(l), entry(2, "database.a"), entry(3, "database.b"), `{"serial":4,"remove":["database.a"]}`}
		}, false, []string{"database.b"}, "", 4},
		{"entries the state file has are skipped", func(l string) []string {
			return []string{header(l), entry(1, "database.old"), entry(2, "database.a")}
		}, false, []string{"database.a"}, "", 2},
		{"torn last line ignored", func(l string) []string {
			return []string{header(l), entry(2, "database.a"), `{"serial":3,"set":[{"addre`}
		}, true, []string{"database.a"}, "", 2},
		{"garbage last line ignored", func(l string) []string {
			return []string{header(l), entry(2, "database.a"), "\x00\x00\x00"}
		}, false, []string{"database.a"}, "", 2},
		{"torn header only", func(l string) []string { return []string{`{"milink_state_jou`} }, true, nil, "", 1},
		{"corrupt line in the middle", func(l string) []string {
			return []string{header(l), "{broken", entry(2, "database.a")}
		}, false, nil, "line 2", 0},
		{"not a journal", func(l string) []string { return []string{`{"hello":1}`, entry(2, "database.a")} }, false, nil, "header", 0},
		{"another lineage", func(string) []string { return []string{header("other"), entry(2, "database.a")} }, false, nil, "another state", 0},
		{"gap", func(l string) []string { return []string{header(l), entry(3, "database.a")} }, false, nil, "continues from serial 3", 0},
		{"plain secret", func(l string) []string {
			return []string{header(l), `{"serial":2,"set":[{"address":"master_key.m","attributes":{"password":"Sup3rSecret!"},"sensitive":["password"]}]}`}
		}, false, nil, `master_key.m attribute "password"`, 0},
		{"fingerprint fine", func(l string) []string {
			return []string{header(l), `{"serial":2,"set":[{"address":"master_key.m","attributes":{"password":"` + fp + `"},"sensitive":["password"]}]}`}
		}, false, []string{"master_key.m"}, "", 2},
		{"empty entry", func(l string) []string { return []string{header(l), `{"serial":2}`, entry(3, "database.a")} }, false, nil, "records nothing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, path := newLocal(t)
			s := New()
			if err := b.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			data := strings.Join(tt.journal(s.Lineage), "\n")
			if !tt.raw {
				data += "\n"
			}
			if err := os.WriteFile(path+".journal", []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := NewLocal(path).Load(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path+".journal") {
					t.Fatalf("err = %v, want %q and the journal's path", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "Sup3rSecret!") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				// Left untouched, and no Save can write over it.
				if j, _ := os.ReadFile(path + ".journal"); string(j) != data {
					t.Error("journal changed")
				}
				if err := b.Save(ctx, s); err == nil {
					t.Error("Save wrote over a state whose journal is corrupt")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Addresses(), tt.want) && !(len(tt.want) == 0 && len(got.Addresses()) == 0) {
				t.Errorf("addresses = %v, want %v", got.Addresses(), tt.want)
			}
			if got.Serial != tt.serial {
				t.Errorf("serial = %d, want %d", got.Serial, tt.serial)
			}
		})
	}
}

func header(lineage string) string {
	return fmt.Sprintf(`{"milink_state_journal":%q,"format_version":%d,"lineage":%q}`, journalMagic, FormatVersion, lineage)
}

func TestJournalWithoutStateFile(t *testing.T) {
	b, path := newLocal(t)
	if err := os.WriteFile(path+".journal", []byte(header("l")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "does not") {
		t.Fatalf("err = %v", err)
	}
}

// kill -9 after changes were recorded and before any compaction or
// Unlock: nothing recorded is lost, and the next Lock compacts it.
func TestRecordSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	_, path, _ := saved(t)
	const rounds = 20
	h := startHelper(t, "record-then-hang", path, "MILINK_STATE_HELPER_ROUNDS="+strconv.Itoa(rounds))
	var serial string
	for range rounds + 1 {
		serial = h.expect(t, "RECORDED")
	}
	h.kill9(t)

	b := NewLocal(path)
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatInt(got.Serial, 10) != serial {
		t.Errorf("serial = %d, the killed run had recorded %s", got.Serial, serial)
	}
	for i := range rounds {
		if r := got.Get(fmt.Sprintf("database.db%d", i)); r == nil || r.Attributes["n"] != float64(i) {
			t.Errorf("database.db%d lost: %+v", i, r)
		}
	}
	if got.Get("hadr.sql01") != nil {
		t.Error("the recorded removal of hadr.sql01 was lost")
	}
	l, err := b.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Error("Lock did not compact the killed run's journal")
	}
	again, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, again, got)
}

// kill -9 during compaction, after the new state file is in place and
// before the journal is removed: the journal's entries are all in the
// state file, replay skips them, and recording carries on.
func TestKilledDuringCompaction(t *testing.T) {
	ctx := context.Background()
	_, path, _ := saved(t)
	h := startHelper(t, "compact-then-hang", path)
	serial := h.expect(t, "COMPACTED")
	h.kill9(t)
	if _, err := os.Stat(path + ".journal"); err != nil {
		t.Fatalf("the test meant to leave a journal: %v", err)
	}
	b := NewLocal(path)
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatInt(got.Serial, 10) != serial || got.Get("database.late") == nil {
		t.Fatalf("after the kill: serial %d (want %s), %v", got.Serial, serial, got.Addresses())
	}
	got.Set(Resource{Address: "database.later", Kind: "database", Attributes: map[string]any{}})
	if err := b.Record(ctx, got, "database.later"); err != nil {
		t.Fatal(err)
	}
	again, err := NewLocal(path).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, again, got)
}

// Another backend (another process) compacts the journal meanwhile: the
// next Record sees that the files changed, re-reads them, and carries on.
func TestRecordAfterCompactionElsewhere(t *testing.T) {
	ctx := context.Background()
	b, path, s := saved(t)
	s.Set(Resource{Address: "x.a", UpdatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err := b.Record(ctx, s, "x.a"); err != nil {
		t.Fatal(err)
	}
	// Another backend compacts meanwhile (as another process would).
	other := NewLocal(path).(*local)
	if err := other.compactJournal(); err != nil {
		t.Fatal(err)
	}
	s.Set(Resource{Address: "x.b"})
	if err := b.Record(ctx, s, "x.b"); err != nil {
		t.Fatal(err)
	}
	got, err := other.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, got, s)
}
