package plan_test

import (
	"context"
	"testing"
	"time"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/state"
)

// The benchmarks run the real planner and SQL Server driver against
// in-process labs speaking TDS on loopback. Each measures its baseline in
// the same process, with b.N runs of its own, and reports the ratio, so
// the numbers compare like with like on whatever machine runs them:
//
//	go test -run XXX -bench . -benchtime 3x ./plan/
//
// BenchmarkFleetPlanLarge/instances=1000 takes minutes per op while the
// planner's CPU grows with the square of the blocks (see the README);
// -bench 'Refresh|FleetPlan$|Apply' runs the quick ones, and -short skips
// the large ones (benchfleet_test.go, benchload_test.go).
//
// Counts (round trips, logins, restarts) are exact and checked; wall time
// is what latency makes of them.

// benchLatency is the delay injected before every round trip: a server in
// another data centre.
const benchLatency = 20 * time.Millisecond

// fleetSize is the number of instances BenchmarkFleetPlan plans.
const fleetSize = 8

// timedPlans runs n plans and returns their total wall time, failing on an
// error or a plan that found nothing to do (the labs are fresh).
func timedPlans(b *testing.B, n int, run func() (*plan.Plan, error)) time.Duration {
	b.Helper()
	start := time.Now()
	for range n {
		p, err := run()
		if err != nil {
			b.Fatal(err)
		}
		if !p.HasChanges() {
			b.Fatal("the plan of a fresh lab has no changes")
		}
	}
	return time.Since(start)
}

// BenchmarkRefresh plans one instance with benchLatency before every round
// trip. Baseline: the same plans without latency. A plan is a login and one
// refresh batch, so the latency costs about one benchLatency per plan.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	bl := startLab(b, false)
	cfg := fleetConfig(b, []*benchLab{bl})
	st := state.New()
	run := func() (*plan.Plan, error) { return planOnce(ctx, cfg, st, plan.Options{}) }
	timedPlans(b, 1, run) // warm up: the driver's first connection

	bl.SetLatency(0)
	baseline := timedPlans(b, b.N, run)

	bl.SetLatency(benchLatency)
	before := bl.Counters()
	b.ResetTimer()
	measured := timedPlans(b, b.N, run)
	b.StopTimer()
	after := bl.Counters()

	rt := float64(after.RoundTrips-before.RoundTrips) / float64(b.N)
	logins := float64(after.Logins-before.Logins) / float64(b.N)
	if rt > maxPlanRoundTrips || logins != 1 {
		b.Fatalf("a plan cost %.1f round trips and %.1f logins; want at most %d and 1", rt, logins, maxPlanRoundTrips)
	}
	ratio := float64(measured) / float64(baseline)
	b.ReportMetric(rt, "round_trips/op")
	b.ReportMetric(logins, "logins/op")
	b.ReportMetric(float64(baseline.Microseconds())/1000/float64(b.N), "baseline_ms/op")
	b.ReportMetric(ratio, "latency_cost_x")
	b.Logf("N=%d: plan of 1 instance: %.1f round trips + %.0f login; %v/plan at %v latency vs %v/plan without: latency cost ratio %.2fx",
		b.N, rt, logins, perOp(measured, b.N), benchLatency, perOp(baseline, b.N), ratio)
}

// BenchmarkFleetPlan plans fleetSize instances, each with benchLatency per
// round trip, at the default concurrency. Baseline: Options.Concurrency 1,
// one instance after the other. The speed-up should approach fleetSize.
func BenchmarkFleetPlan(b *testing.B) {
	ctx := context.Background()
	labs := make([]*benchLab, fleetSize)
	for i := range labs {
		labs[i] = startLab(b, false)
	}
	cfg := fleetConfig(b, labs)
	st := state.New()
	run := func(conc int) func() (*plan.Plan, error) {
		return func() (*plan.Plan, error) { return planOnce(ctx, cfg, st, plan.Options{Concurrency: conc}) }
	}
	timedPlans(b, 1, run(0)) // warm up
	for _, bl := range labs {
		bl.SetLatency(benchLatency)
	}

	baseline := timedPlans(b, b.N, run(1))

	before := fleetCounters(labs)
	b.ResetTimer()
	measured := timedPlans(b, b.N, run(0))
	b.StopTimer()
	after := fleetCounters(labs)

	perInstance := float64(after.RoundTrips-before.RoundTrips) / float64(b.N*fleetSize)
	if perInstance > maxPlanRoundTrips {
		b.Fatalf("a fleet plan cost %.1f round trips per instance; want at most %d", perInstance, maxPlanRoundTrips)
	}
	speedup := float64(baseline) / float64(measured)
	b.ReportMetric(perInstance, "round_trips/instance/op")
	b.ReportMetric(float64(baseline.Microseconds())/1000/float64(b.N), "sequential_ms/op")
	b.ReportMetric(speedup, "speedup_x")
	b.Logf("N=%d: plan of %d instances at %v latency: %.1f round trips each; %v/plan concurrent vs %v/plan with Concurrency=1: speed-up %.2fx",
		b.N, fleetSize, benchLatency, perInstance, perOp(measured, b.N), perOp(baseline, b.N), speedup)
}

// fleetCounters sums the counters of the labs' sql01 servers.
func fleetCounters(labs []*benchLab) (sum struct{ RoundTrips, Logins, Restarts int64 }) {
	for _, bl := range labs {
		c := bl.Counters()
		sum.RoundTrips += c.RoundTrips
		sum.Logins += c.Logins
		sum.Restarts += c.Restarts
	}
	return sum
}

// BenchmarkApply converges a fresh instance (benchLatency per round trip)
// with one `apply -auto-approve` (plan and apply in one session), then
// plans again. It checks the apply restarts the instance exactly once and
// leaves nothing to do. Baseline: the second plan, a no-change plan of the
// converged instance; the ratio is what converging costs against looking.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	b.Setenv(asMilinkEnv, "1") // restart_command re-runs this binary as milink
	var applyTime, planTime time.Duration
	var applyRT, planRT, restarts int64
	b.StopTimer()
	for range b.N {
		bl := startLab(b, true)
		cfg := fleetConfig(b, []*benchLab{bl})
		bl.SetLatency(benchLatency)
		st := state.New()
		c0 := bl.Counters()

		b.StartTimer()
		start := time.Now()
		if err := applyOnce(ctx, cfg, st); err != nil {
			b.Fatal(err)
		}
		applyTime += time.Since(start)
		b.StopTimer()
		c1 := bl.Counters()

		start = time.Now()
		p, err := planOnce(ctx, cfg, st, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		planTime += time.Since(start)
		c2 := bl.Counters()
		if p.HasChanges() {
			b.Fatal("the plan after apply still has changes")
		}
		if got := c1.Restarts - c0.Restarts; got != 1 {
			b.Fatalf("apply restarted the instance %d times, want exactly 1", got)
		}
		if got := c2.RoundTrips - c1.RoundTrips; got > maxPlanRoundTrips {
			b.Fatalf("the second plan cost %d round trips; want at most %d", got, maxPlanRoundTrips)
		}
		restarts += c1.Restarts - c0.Restarts
		applyRT += c1.RoundTrips - c0.RoundTrips
		planRT += c2.RoundTrips - c1.RoundTrips
		bl.Close() // free its addresses now; the cleanup does it again harmlessly
	}
	n := float64(b.N)
	ratio := float64(applyTime) / float64(planTime)
	b.ReportMetric(float64(restarts)/n, "restarts/op")
	b.ReportMetric(float64(applyRT)/n, "round_trips/op")
	b.ReportMetric(float64(planRT)/n, "plan_round_trips/op")
	b.ReportMetric(float64(planTime.Microseconds())/1000/n, "plan_ms/op")
	b.ReportMetric(ratio, "apply_vs_plan_x")
	b.Logf("N=%d: apply of a fresh instance at %v latency: %.0f restart, %.1f round trips, %v (restart delay %v); then plan: %.1f round trips, %v, no changes; apply/plan ratio %.1fx",
		b.N, benchLatency, float64(restarts)/n, float64(applyRT)/n, perOp(applyTime, b.N), benchRestartDelay,
		float64(planRT)/n, perOp(planTime, b.N), ratio)
}

func perOp(d time.Duration, n int) time.Duration {
	return (d / time.Duration(n)).Round(100 * time.Microsecond)
}
