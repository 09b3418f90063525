package state

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchState is a saved state of n resources about the size of milink's
// (a database with a handful of attributes each).
func benchState(b *testing.B, n int) (*local, *State) {
	b.Helper()
	be := NewLocal(filepath.Join(b.TempDir(), DefaultPath)).(*local)
	s, err := be.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		s.Set(benchResource(i, 0))
	}
	if err := be.Save(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	return be, s
}

func benchResource(i, round int) Resource {
	return Resource{
		Address: fmt.Sprintf("database.db%05d", i), Kind: "database", Target: "sql_server.sql01",
		Attributes: map[string]any{
			"recovery_model":   "FULL",
			"last_full_backup": time.Date(2024, 5, 1, 10, 0, round%60, 0, time.UTC).Format(time.RFC3339),
			"backup_file":      fmt.Sprintf("/var/opt/mssql/backup/db%05d-%d.bak", i, round),
			"round":            float64(round),
		},
	}
}

// perSave records changes one by one into a state of n resources, the way
// apply does (one change, one save), and returns the mean cost of one.
func perSave(b *testing.B, n, changes int, save func(be *local, s *State, addr string) error) time.Duration {
	be, s := benchState(b, n)
	start := time.Now()
	for c := range changes {
		r := benchResource(c%n, c+1)
		s.Set(r)
		if err := save(be, s, r.Address); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(changes)
}

// BenchmarkSaveRecord records 1,000 changes one by one with Record into a
// state of 10 resources and into one of 1,000, and reports the cost of
// one change in each and their ratio: flat means a ratio near 1, whatever
// the disk. Compactions are included (amortised), as in a real apply.
func BenchmarkSaveRecord(b *testing.B) {
	ctx := context.Background()
	record := func(be *local, s *State, addr string) error { return be.Record(ctx, s, addr) }
	benchRatio(b, 1000, record)
}

// BenchmarkSaveWhole is the same with Save, which rewrites the whole state
// each time: its ratio shows what Record removes.
func BenchmarkSaveWhole(b *testing.B) {
	ctx := context.Background()
	save := func(be *local, s *State, _ string) error { return be.Save(ctx, s) }
	benchRatio(b, 200, save)
}

func benchRatio(b *testing.B, changes int, save func(be *local, s *State, addr string) error) {
	var small, large time.Duration
	for b.Loop() {
		small += perSave(b, 10, changes, save)
		large += perSave(b, 1000, changes, save)
	}
	b.ReportMetric(float64(small.Nanoseconds())/float64(b.N), "ns/save@N=10")
	b.ReportMetric(float64(large.Nanoseconds())/float64(b.N), "ns/save@N=1000")
	b.ReportMetric(float64(large)/float64(small), "ratio")
}
