package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/resources"
)

func sample(t *testing.T) *State {
	t.Helper()
	s := New()
	s.MilinkVersion = "0.1.0-test"
	s.Set(Resource{
		Address: "master_key.main", Kind: "master_key", Target: "sql_server.sql01",
		Attributes: map[string]any{"password": resources.Fingerprint(s.Salt, "Pa55w0rd!")},
		Sensitive:  []string{"password"},
	})
	s.Set(Resource{
		Address: "database.sales", Kind: "database", Target: "sql_server.sql01",
		Attributes: map[string]any{"recovery_model": "FULL", "last_full_backup": "2024-05-01T10:00:00Z"},
	})
	s.Set(Resource{Address: "hadr.sql01", Kind: "hadr", Target: "sql_server.sql01", Attributes: map[string]any{"enabled": true}})
	return s
}

func TestSetGetRemoveSorted(t *testing.T) {
	s := sample(t)
	want := []string{"database.sales", "hadr.sql01", "master_key.main"}
	if got := s.Addresses(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Addresses = %v, want %v", got, want)
	}
	for i, r := range s.Resources {
		if r.Address != want[i] {
			t.Fatalf("Resources[%d] = %s, want %s (not kept sorted)", i, r.Address, want[i])
		}
		if r.UpdatedAt.IsZero() {
			t.Errorf("%s: UpdatedAt not set", r.Address)
		}
	}
	s.Set(Resource{Address: "database.sales", Kind: "database", Attributes: map[string]any{"recovery_model": "SIMPLE"}})
	if got := s.Get("database.sales").Attributes["recovery_model"]; got != "SIMPLE" {
		t.Errorf("Set did not replace: %v", got)
	}
	if len(s.Resources) != 3 {
		t.Errorf("replace added a resource: %d", len(s.Resources))
	}
	s.Remove("hadr.sql01")
	s.Remove("nothing.here")
	if s.Get("hadr.sql01") != nil || len(s.Resources) != 2 {
		t.Errorf("Remove failed: %v", s.Addresses())
	}
	if s.Get("missing") != nil {
		t.Error("Get of a missing address is not nil")
	}
}

func TestPriorsAreCopies(t *testing.T) {
	s := sample(t)
	p := s.Priors()
	if len(p) != 3 || p["database.sales"].Attributes["recovery_model"] != "FULL" {
		t.Fatalf("Priors = %v", p)
	}
	p["database.sales"].Attributes["recovery_model"] = "BULK_LOGGED"
	if s.Get("database.sales").Attributes["recovery_model"] != "FULL" {
		t.Error("changing a prior changed the state")
	}
}

func TestNewLineageAndSaltAreRandom(t *testing.T) {
	a, b := New(), New()
	if a.Lineage == "" || a.Lineage == b.Lineage {
		t.Errorf("lineages %q %q", a.Lineage, b.Lineage)
	}
	if len(a.Salt) != 64 || a.Salt == b.Salt {
		t.Errorf("salts %q %q", a.Salt, b.Salt)
	}
	if a.FormatVersion != FormatVersion || a.Serial != 0 {
		t.Errorf("new state: %+v", a)
	}
}

func TestValidate(t *testing.T) {
	fp := resources.Fingerprint("salt", "secret")
	tests := []struct {
		name    string
		mutate  func(s *State)
		wantErr string
	}{
		{"ok", func(s *State) {}, ""},
		{"fingerprint ok", func(s *State) {
			s.Set(Resource{Address: "x.a", Attributes: map[string]any{"password": fp}, Sensitive: []string{"password"}})
		}, ""},
		{"absent sensitive ok", func(s *State) {
			s.Set(Resource{Address: "x.a", Attributes: map[string]any{}, Sensitive: []string{"password"}})
		}, ""},
		{"plain secret", func(s *State) {
			s.Set(Resource{Address: "x.a", Attributes: map[string]any{"password": "hunter2"}, Sensitive: []string{"password"}})
		}, `x.a attribute "password"`},
		{"fake prefix", func(s *State) {
			s.Set(Resource{Address: "x.a", Attributes: map[string]any{"password": "hmac-sha256:hunter2"}, Sensitive: []string{"password"}})
		}, "not a fingerprint"},
		{"non-string", func(s *State) {
			s.Set(Resource{Address: "x.a", Attributes: map[string]any{"key": []any{"hunter2"}}, Sensitive: []string{"key"}})
		}, "not a fingerprint"},
		{"duplicate", func(s *State) {
			s.Resources = append(s.Resources, s.Resources[0])
		}, "twice"},
		{"no address", func(s *State) { s.Resources = append(s.Resources, Resource{}) }, "without an address"},
		{"no lineage", func(s *State) { s.Lineage = "" }, "lineage"},
		{"bad version", func(s *State) { s.FormatVersion = 7 }, "format_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sample(t)
			tt.mutate(s)
			err := Validate(s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "  \n", "is empty"},
		{"garbage", "{not json", "is corrupt"},
		{"truncated", `{"format_version":1,"lineage":"x",`, "is corrupt"},
		{"no lineage", `{"format_version":1,"salt":"s"}`, "lineage"},
		{"newer", `{"format_version":3,"milink_version":"9.0","lineage":"l","salt":"s"}`, "newer milink"},
		{"v1 resources not a list", `{"format_version":1,"lineage":"l","salt":"s","resources":{"a":1}}`, "is corrupt"},
		{"duplicate address", `{"format_version":1,"lineage":"l","salt":"s","resources":[
			{"address":"database.sales","kind":"database"},
			{"address":"hadr.sql01","kind":"hadr"},
			{"address":"database.sales","kind":"database"}]}`, "holds database.sales twice"},
		{"no address", `{"format_version":1,"lineage":"l","salt":"s","resources":[{"kind":"database"}]}`, "without an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.data), "/some/where/milink.state.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/some/where/milink.state.json") {
				t.Fatalf("error = %v, want %q and the path", err, tt.want)
			}
		})
	}
}

func newLocal(t *testing.T) (*local, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), DefaultPath)
	return NewLocal(path).(*local), path
}

func TestLocalRoundTrip(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	s, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Serial != 0 || s.Lineage == "" {
		t.Fatalf("missing file should load as New(): %+v", s)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load created the file: %v", err)
	}
	want := sample(t)
	want.Lineage, want.Salt = s.Lineage, s.Salt
	want.Set(Resource{Address: "startup_trace_flags.sql01", Kind: "startup_trace_flags", Target: "sql_server.sql01",
		Attributes: map[string]any{"flags": []any{1800.0, 9567.0}, "nested": map[string]any{"a": "b"}},
		UpdatedAt:  time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)})
	if err := b.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 1 || want.Serial != 1 {
		t.Errorf("serial after first save: loaded %d, in memory %d; want 1", got.Serial, want.Serial)
	}
	for i := range want.Resources {
		// UpdatedAt goes through JSON; compare instants, not monotonic clocks.
		if !want.Resources[i].UpdatedAt.Equal(got.Resources[i].UpdatedAt) {
			t.Errorf("%s UpdatedAt %v != %v", want.Resources[i].Address, got.Resources[i].UpdatedAt, want.Resources[i].UpdatedAt)
		}
		got.Resources[i].UpdatedAt = want.Resources[i].UpdatedAt
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestLocalSerialLineageModeBackup(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	s, _ := b.Load(ctx)
	lineage := s.Lineage
	var previous []byte
	for i := 1; i <= 3; i++ {
		s.Set(Resource{Address: "database.sales", Kind: "database", Attributes: map[string]any{"n": float64(i)}})
		if err := b.Save(ctx, s); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		if s.Serial != int64(i) {
			t.Fatalf("serial after save %d = %d", i, s.Serial)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
		if previous != nil {
			bk, err := os.ReadFile(path + ".backup")
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if string(bk) != string(previous) {
				t.Errorf("backup after save %d is not the previous state", i)
			}
			bfi, _ := os.Stat(path + ".backup")
			if bfi.Mode().Perm() != 0o600 {
				t.Errorf("backup mode = %v", bfi.Mode().Perm())
			}
		}
		previous, _ = os.ReadFile(path)
		s, _ = b.Load(ctx)
		if s.Lineage != lineage {
			t.Fatalf("lineage changed: %s -> %s", lineage, s.Lineage)
		}
	}
}

func TestLocalSaveRefusesSecretAndLeavesFile(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	s, _ := b.Load(ctx)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	s.Set(Resource{Address: "master_key.main", Attributes: map[string]any{"password": "Sup3rSecret!"}, Sensitive: []string{"password"}})
	err := b.Save(ctx, s)
	if err == nil {
		t.Fatal("Save accepted a plain secret")
	}
	if strings.Contains(err.Error(), "Sup3rSecret!") {
		t.Fatalf("error leaks the secret: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) || strings.Contains(string(after), "Sup3rSecret!") {
		t.Fatal("state file changed by a refused save")
	}
	if s.Serial != 1 {
		t.Errorf("serial moved on a refused save: %d", s.Serial)
	}
	assertNoTemp(t, filepath.Dir(path))
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// A failure after the temporary file is written (a full disk at fsync, a
// crash, a kill) must leave the good state in place, untouched.
func TestLocalSaveCrashBeforeRename(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	s := sample(t)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	var sawTmp string
	b.afterWrite = func(tmp string) error {
		sawTmp = tmp
		data, err := os.ReadFile(tmp)
		if err != nil || !strings.Contains(string(data), `"serial": 2`) {
			t.Errorf("temp file not fully written before the switch: %v %q", err, data)
		}
		if filepath.Dir(tmp) != filepath.Dir(path) {
			t.Errorf("temp file %s is not in the state's directory", tmp)
		}
		return errors.New("simulated crash")
	}
	s.Remove("hadr.sql01")
	err := b.Save(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("Save error = %v", err)
	}
	if sawTmp == "" {
		t.Fatal("hook not called")
	}
	now, _ := os.ReadFile(path)
	if string(now) != string(good) {
		t.Fatal("good state replaced after a failed write")
	}
	if s.Serial != 1 {
		t.Errorf("serial = %d after failed save, want 1", s.Serial)
	}
	assertNoTemp(t, filepath.Dir(path))

	// A crash that left a temporary file behind does not disturb the next run.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".milink.state.json.tmp-123"), []byte("{partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.afterWrite = nil
	got, err := b.Load(ctx)
	if err != nil || got.Get("hadr.sql01") == nil || got.Serial != 1 {
		t.Fatalf("Load after crash: %v %+v", err, got)
	}
	if err := b.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	// The next run that takes the lock removes it.
	l, err := b.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Unlock()
	assertNoTemp(t, filepath.Dir(path))
}

func TestLocalCorruptStateNeverReplaced(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	if err := os.WriteFile(path, []byte(`{"format_version":1,"lineage":"abc"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of corrupt state: %v", err)
	}
	if err := b.Save(ctx, New()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("Save over corrupt state: %v", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != `{"format_version":1,"lineage":"abc"` {
		t.Fatal("corrupt state was replaced")
	}
}

func TestLocalSaveRefusesOtherLineageAndStaleSerial(t *testing.T) {
	ctx := context.Background()
	b, _ := newLocal(t)
	s, _ := b.Load(ctx)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, New()); err == nil || !strings.Contains(err.Error(), "lineage") {
		t.Errorf("other lineage: %v", err)
	}
	stale, _ := b.Load(ctx)
	if err := b.Save(ctx, s); err != nil { // serial 2 on disk
		t.Fatal(err)
	}
	if err := b.Save(ctx, stale); err == nil || !strings.Contains(err.Error(), "serial") {
		t.Errorf("stale serial: %v", err)
	}
}

// A run killed (-9) while writing the state leaves its temporary file; the
// next run's Lock removes it — and only it: other files that merely look
// alike stay.
func TestLeftoverTempRemovedAfterKill(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	dir := filepath.Dir(path)
	s := sample(t)
	if err := b.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)

	h := startHelper(t, "hang-in-save", path)
	tmp := h.expect(t, "WRITTEN")
	h.kill9(t)
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the killed run left no temporary file to clean up: %v", err)
	}
	if now, _ := os.ReadFile(path); string(now) != string(good) {
		t.Fatal("the state changed although the run was killed before the rename")
	}

	// Not ours: another state's temporary, a look-alike without the dot,
	// and a file in another directory.
	keep := []string{
		filepath.Join(dir, ".other.state.json.tmp-1"),
		filepath.Join(dir, "milink.state.json.tmp-1"),
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, filepath.Join(sub, ".milink.state.json.tmp-1"))
	for _, k := range keep {
		if err := os.WriteFile(k, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var msgs []string
	pctx := WithProgress(ctx, func(m string) { msgs = append(msgs, m) })
	l, err := b.Lock(pctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover %s not removed: %v", tmp, err)
	}
	for _, k := range keep {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("%s was removed: %v", k, err)
		}
	}
	if len(msgs) == 0 || !strings.Contains(strings.Join(msgs, "\n"), "temporary file") {
		t.Errorf("the clean-up was not reported: %q", msgs)
	}
}

// Version 1 named the SQL Server block a resource lives on ("server":
// "sql01"); version 2 names its target's address. Decode migrates, Save
// writes version 2.
func TestDecodeMigratesVersion1(t *testing.T) {
	v1 := `{
  "format_version": 1,
  "milink_version": "0.1.0",
  "lineage": "11111111-2222-4333-8444-555555555555",
  "serial": 7,
  "salt": "00ff",
  "resources": [
    {"address": "nsg_rule.link", "kind": "nsg_rule", "server": "", "attributes": {}, "updated_at": "2024-05-01T10:00:00Z"},
    {"address": "database.sales", "kind": "database", "server": "sql01", "attributes": {"recovery_model": "FULL"}, "updated_at": "2024-05-01T10:00:00Z"},
    {"address": "hadr.sql02", "kind": "hadr", "server": "sql02", "attributes": {}, "updated_at": "2024-05-01T10:00:00Z"},
    {"address": "check.x", "kind": "connectivity_check", "attributes": {}, "updated_at": "2024-05-01T10:00:00Z"}
  ]
}`
	s, err := Decode([]byte(v1), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	if s.FormatVersion != FormatVersion || s.Serial != 7 {
		t.Errorf("format_version %d serial %d", s.FormatVersion, s.Serial)
	}
	want := map[string]string{
		"nsg_rule.link":  "",
		"database.sales": "sql_server.sql01",
		"hadr.sql02":     "sql_server.sql02",
		"check.x":        "",
	}
	for addr, target := range want {
		if r := s.Get(addr); r == nil || r.Target != target {
			t.Errorf("%s: %+v, want target %q", addr, r, target)
		}
	}

	ctx := context.Background()
	b, path := newLocal(t)
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{`"format_version": 2`, `"target": "sql_server.sql01"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("saved state lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), `"server"`) {
		t.Errorf("saved state still has server:\n%s", data)
	}
}

// A version-1 journal (beside a version-1 state) is migrated the same way.
func TestJournalMigratesVersion1(t *testing.T) {
	ctx := context.Background()
	b, path := newLocal(t)
	state := `{"format_version":1,"lineage":"l","serial":1,"salt":"s","resources":[]}`
	journal := `{"milink_state_journal":"milink state journal","format_version":1,"lineage":"l"}
{"serial":2,"set":[{"address":"database.a","kind":"database","server":"sql01","attributes":{}},{"address":"database.b","kind":"database","server":"sql02","attributes":{}}]}
`
	if err := os.WriteFile(path, []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal", []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, bb := s.Get("database.a"), s.Get("database.b"); a == nil || a.Target != "sql_server.sql01" || bb == nil || bb.Target != "sql_server.sql02" || s.Serial != 2 {
		t.Fatalf("migrated: %+v %+v serial %d", a, bb, s.Serial)
	}
}
