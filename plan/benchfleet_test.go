package plan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/state"
)

// Benchmarks of the aims at scale: a fleet of up to 1,000 lab
// servers planned at once, and a configuration of 1,000 databases.
//
//	go test -run XXX -bench 'FleetPlanLarge|FleetConcurrency|Load1000' -benchtime 1x ./plan/

// fleetLatency is the delay before every round trip of a large fleet's
// servers, logins included (3 round trips each: TCP, PRELOGIN, LOGIN7), so
// a plan of one instance costs 4 × fleetLatency = 200 ms of waiting.
const fleetLatency = 50 * time.Millisecond

// serialSample is how many instances the serial baseline (Concurrency 1)
// plans: planning 1,000 one after the other would take over 3 minutes, so
// the baseline is measured per instance on the sample and multiplied by
// the fleet's size. Serial cost is linear in the instances (one login and
// one batch each, nothing shared), which is what makes that fair.
const serialSample = 10

// scratchDir is a directory removed when tb ends, on tmpfs (/dev/shm) when
// there is one: a fleet's thousands of small files and directories cost
// seconds on a slow disk and nothing in memory, and only the setup touches
// them.
func scratchDir(tb testing.TB) string {
	tb.Helper()
	if runtime.GOOS == "linux" {
		if d, err := os.MkdirTemp("/dev/shm", "milink-bench-"); err == nil {
			tb.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return tb.TempDir()
}

// startFleet starts n lab servers (see lab.StartFleet) with extra
// databases, stopped when tb ends.
func startFleet(tb testing.TB, n int, databases []string) *lab.Fleet {
	tb.Helper()
	f, err := lab.StartFleet(lab.FleetConfig{Dir: scratchDir(tb), Count: n, RestartDelay: benchRestartDelay, Databases: databases})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f
}

// fleetServersConfig loads the configuration of servers (serverSource for
// each, five blocks), written as one file.
func fleetServersConfig(tb testing.TB, servers []lab.ServerInfo) *config.Config {
	tb.Helper()
	var src strings.Builder
	for i, s := range servers {
		src.WriteString(serverSource(serverName(i), s))
	}
	dir := scratchDir(tb)
	if err := os.WriteFile(filepath.Join(dir, "fleet"+config.FileSuffix), []byte(src.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return loadConfig(tb, dir)
}

// largeFleet is what BenchmarkFleetPlanLarge sets up once per size: the
// servers, the configuration of all of them, and the serial baseline.
type largeFleet struct {
	fleet *lab.Fleet
	cfg   *config.Config
	// serialPerInstance is the wall time of a Concurrency 1 plan of the
	// first serialSample servers, divided by serialSample.
	serialPerInstance time.Duration
	setup             time.Duration // starting the servers
}

func newLargeFleet(b *testing.B, parent *testing.B, n int) *largeFleet {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	lf := &largeFleet{fleet: startFleet(parent, n, nil)}
	lf.setup = time.Since(start)
	lf.cfg = fleetServersConfig(parent, lf.fleet.Infos())
	k := min(serialSample, n)
	sample := fleetServersConfig(parent, lf.fleet.Infos()[:k])
	planSample := func(conc int) func() (*plan.Plan, error) {
		return func() (*plan.Plan, error) { return planOnce(ctx, sample, state.New(), plan.Options{Concurrency: conc}) }
	}
	// Warm up without latency (the driver's first connections), on the
	// sample: a plan of the whole fleet costs as much CPU as the run.
	timedPlans(b, 1, planSample(0))
	lf.fleet.SetFaults(lab.Faults{Latency: fleetLatency})
	lf.serialPerInstance = timedPlans(b, 1, planSample(1)) / time.Duration(k)
	return lf
}

// memPeak samples the heap and stacks in use while a benchmark runs.
type memPeak struct {
	stop chan struct{}
	done chan struct{}
	base uint64 // in use before, after a GC
	peak uint64
}

func inUse(m *runtime.MemStats) uint64 { return m.HeapInuse + m.StackInuse }

func startMemPeak() *memPeak {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p := &memPeak{stop: make(chan struct{}), done: make(chan struct{}), base: inUse(&m), peak: inUse(&m)}
	go func() {
		defer close(p.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				p.peak = max(p.peak, inUse(&m))
			}
		}
	}()
	return p
}

// Stop ends the sampling and returns the peak above the base.
func (p *memPeak) Stop() uint64 {
	close(p.stop)
	<-p.done
	return p.peak - p.base
}

// BenchmarkFleetPlanLarge plans N in-process lab servers (N = 100 and
// 1,000) in one plan.Build at the default concurrency, each at
// fleetLatency per round trip, logins included: the aim is 1,000
// in under 3 s with bounded memory. Each server has the five blocks of
// serverSource. Reported per plan: wall time (ns/op), process CPU time
// (cpu_ms/op: the planner, the in-process servers and the GC), round trips and
// logins per instance (checked: 1 and 1), peak memory per instance, bytes
// allocated per instance, and the speed-up against a serial baseline
// (Concurrency 1) measured on serialSample of the servers in the same run
// and extrapolated linearly to N.
//
// Peak memory is the highest HeapInuse+StackInuse seen (sampled every
// 5 ms) during the plans, above the level after a GC before them, divided
// by N. It counts both ends of every connection, since the lab's servers
// run in the same process, and the garbage the GC has not yet collected
// (GOGC=100): an upper bound of what milink itself needs. A plan keeps its
// connections open until the session closes (apply reuses them), so part
// of it grows with N whatever the concurrency.
func BenchmarkFleetPlanLarge(b *testing.B) {
	if testing.Short() {
		b.Skip("starts up to 1,000 lab servers and plans them at 50 ms per round trip: skipped under -short")
	}
	parent := b
	for _, n := range []int{100, 200, 1000} {
		var lf *largeFleet
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			if lf == nil {
				// Set up once, for every b.N this sub-benchmark is run
				// with; the parent's cleanup stops the servers.
				lf = newLargeFleet(b, parent, n)
			}
			ctx := context.Background()
			st := state.New()
			before := lf.fleet.Counters()
			var m0, m1 runtime.MemStats
			mem := startMemPeak()
			runtime.ReadMemStats(&m0)
			cpu0, cpuOK := processCPU()
			b.ResetTimer()
			measured := timedPlans(b, b.N, func() (*plan.Plan, error) { return planOnce(ctx, lf.cfg, st, plan.Options{}) })
			b.StopTimer()
			cpu1, _ := processCPU()
			runtime.ReadMemStats(&m1)
			peak := mem.Stop()
			after := lf.fleet.Counters()

			per := float64(b.N * n)
			rt := float64(after.RoundTrips-before.RoundTrips) / per
			logins := float64(after.Logins-before.Logins) / per
			if rt > maxPlanRoundTrips || logins != 1 {
				b.Fatalf("a plan cost %.2f round trips and %.2f logins per instance; want at most %d and 1", rt, logins, maxPlanRoundTrips)
			}
			perPlan := measured / time.Duration(b.N)
			serial := lf.serialPerInstance * time.Duration(n)
			speedup := float64(serial) / float64(perPlan)
			b.ReportMetric(rt, "round_trips/instance")
			b.ReportMetric(logins, "logins/instance")
			b.ReportMetric(float64(peak)/1024/float64(n), "peak_KiB/instance")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/1024/per, "alloc_KiB/instance")
			b.ReportMetric(float64(lf.serialPerInstance.Microseconds())/1000, "serial_ms/instance")
			b.ReportMetric(speedup, "speedup_x")
			cpu := (cpu1 - cpu0) / time.Duration(b.N)
			if cpuOK {
				b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu_ms/op")
			}
			b.Logf("N=%d: plan of %d instances at %v per round trip (logins included), default concurrency: %v/plan, %v of CPU (lab included); %.0f round trip + %.0f login per instance; peak %.0f KiB/instance in use (%.1f MiB in all); serial baseline %v/instance on %d instances, ×%d = %v: speed-up %.1fx; %d servers started in %v",
				b.N, n, fleetLatency, perPlan.Round(time.Millisecond), cpu.Round(time.Millisecond), rt, logins,
				float64(peak)/1024/float64(n), float64(peak)/(1<<20),
				lf.serialPerInstance.Round(100*time.Microsecond), min(serialSample, n), n, serial.Round(time.Millisecond), speedup,
				n, lf.setup.Round(time.Millisecond))
		})
	}
}

// BenchmarkFleetConcurrency plans 100 lab servers at fleetLatency (as
// BenchmarkFleetPlanLarge) with several values of Options.Concurrency, the
// evidence behind the default. 100 is the largest fleet whose plan is
// still mostly waiting rather than CPU on 2 cores (see the README). Its
// baseline is the old default, 8, planned in the same run; each
// sub-benchmark reports its speed-up over that, its CPU and its peak
// memory per instance (as BenchmarkFleetPlanLarge measures it).
func BenchmarkFleetConcurrency(b *testing.B) {
	if testing.Short() {
		b.Skip("starts 100 lab servers and plans them at 50 ms per round trip: skipped under -short")
	}
	const n, oldDefault = 100, 8
	ctx := context.Background()
	var once sync.Once
	var cfg *config.Config
	var at8 time.Duration
	parent := b
	run := func(conc int) func() (*plan.Plan, error) {
		return func() (*plan.Plan, error) { return planOnce(ctx, cfg, state.New(), plan.Options{Concurrency: conc}) }
	}
	setup := func(b *testing.B) {
		fleet := startFleet(parent, n, nil)
		cfg = fleetServersConfig(parent, fleet.Infos())
		timedPlans(b, 1, run(0)) // warm up without latency
		fleet.SetFaults(lab.Faults{Latency: fleetLatency})
		at8 = timedPlans(b, 1, run(oldDefault))
	}
	for _, conc := range []int{8, 16, 32, 64, 128} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			once.Do(func() { setup(b) })
			mem := startMemPeak()
			cpu0, cpuOK := processCPU()
			b.ResetTimer()
			measured := timedPlans(b, b.N, run(conc))
			b.StopTimer()
			cpu1, _ := processCPU()
			peak := mem.Stop()
			perPlan := measured / time.Duration(b.N)
			cpu := (cpu1 - cpu0) / time.Duration(b.N)
			speedup := float64(at8) / float64(perPlan)
			if cpuOK {
				b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu_ms/op")
			}
			b.ReportMetric(float64(peak)/1024/n, "peak_KiB/instance")
			b.ReportMetric(speedup, "speedup_vs_8_x")
			b.Logf("N=%d: %d instances at concurrency %d: %v/plan (%v of CPU); at 8: %v: speed-up %.1fx; peak %.0f KiB/instance",
				b.N, n, conc, perPlan.Round(time.Millisecond), cpu.Round(time.Millisecond), at8.Round(time.Millisecond),
				speedup, float64(peak)/1024/n)
		})
	}
}
