package plan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/state"
)

// manyDatabases is how many database blocks BenchmarkLoad1000Databases
// plans: the aim is under 0.2 s of CPU for 1,000.
const manyDatabases = 1000

// dbName is the name of the i-th extra database of the lab server.
func dbName(i int) string { return fmt.Sprintf("db%04d", i+1) }

// databasesSource is a configuration of one server s with n databases
// (dbName), each set to FULL recovery with a backup: with forEach one
// database block with for_each over the names, else n blocks.
func databasesSource(s lab.ServerInfo, n int, forEach bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `sql_server "s" {
  address                  = %s
  port                     = %d
  encrypt                  = "disable"
  trust_server_certificate = true

  authentication {
    method   = "sql"
    user     = %s
    password = %s
  }

  host {
    os         = "linux"
    transport  = "local"
    mssql_conf = %s
  }
}
`, hclString(s.Address), s.Port, hclString(s.User), hclString(s.Password), hclString(s.MSSQLConf))
	if forEach {
		b.WriteString("\nlocals {\n  databases = [")
		for i := range n {
			if i%10 == 0 {
				b.WriteString("\n    ")
			}
			fmt.Fprintf(&b, "%q, ", dbName(i))
		}
		fmt.Fprintf(&b, `
  ]
}

database "app" {
  for_each       = toset(local.databases)
  server         = sql_server.s
  recovery_model = "FULL"
  backup {
    directory = %s
  }
}
`, hclString(s.BackupDirectory))
		return b.String()
	}
	for i := range n {
		fmt.Fprintf(&b, `
database %q {
  server         = sql_server.s
  recovery_model = "FULL"
  backup {
    directory = %s
  }
}
`, dbName(i), hclString(s.BackupDirectory))
	}
	return b.String()
}

// opCost is what one op cost: wall and process CPU time of each phase.
type opCost struct{ load, plan, loadCPU, planCPU time.Duration }

func (c *opCost) add(o opCost) {
	c.load += o.load
	c.plan += o.plan
	c.loadCPU += o.loadCPU
	c.planCPU += o.planCPU
}

// loadAndPlan is one op: config.Load of dir, then a plan.Build of a fresh
// state (a new session: one login, one refresh batch, the diffs), checked
// to have want changes.
func loadAndPlan(b *testing.B, dir string, want int) opCost {
	b.Helper()
	var c opCost
	cpu0, _ := processCPU()
	start := time.Now()
	cfg := loadConfig(b, dir)
	c.load = time.Since(start)
	cpu1, _ := processCPU()
	start = time.Now()
	p, err := planOnce(context.Background(), cfg, state.New(), plan.Options{})
	c.plan = time.Since(start)
	cpu2, _ := processCPU()
	c.loadCPU, c.planCPU = cpu1-cpu0, cpu2-cpu1
	if err != nil {
		b.Fatal(err)
	}
	if got := len(p.Changes); got != want {
		b.Fatalf("the plan has %d changes, want %d (one per database)", got, want)
	}
	return c
}

// BenchmarkLoad1000Databases loads and plans a configuration of one lab
// server with 1,000 databases (a lab server seeded with db0001..db1000
// besides sales, inventory and payroll), written as one block with
// for_each or as 1,000 blocks. An op is config.Load plus plan.Build
// (login, refresh, diffs) without latency, so it is CPU: ns/op is its wall
// time; cpu_ms/op is the process's CPU time (user + system, GC included)
// over the op, load_cpu_ms and plan_cpu_ms split it.
//
// The plan's CPU includes the in-process lab server's side of the refresh,
// which is costly with 1,003 databases (the lab joins sys.databases with
// sys.database_recovery_status row by row). Baseline: the same
// configuration with 1 database, planned against the same server in the
// same process; milink_cpu_ms/op is the difference of the two ops' CPU,
// where the lab's identical work cancels out: what the 999 extra blocks
// cost milink. The aim is under 0.2 s.
func BenchmarkLoad1000Databases(b *testing.B) {
	if testing.Short() {
		b.Skip("plans 1,000 databases, seconds per op: skipped under -short")
	}
	names := make([]string, manyDatabases)
	for i := range names {
		names[i] = dbName(i)
	}
	f := startFleet(b, 1, names)
	s := f.Infos()[0]
	for _, variant := range []struct {
		name    string
		forEach bool
	}{{"for_each", true}, {"blocks", false}} {
		b.Run(variant.name, func(b *testing.B) {
			dirs := map[int]string{}
			for _, n := range []int{1, manyDatabases} {
				dirs[n] = b.TempDir()
				src := databasesSource(s, n, variant.forEach)
				if err := os.WriteFile(filepath.Join(dirs[n], "main"+config.FileSuffix), []byte(src), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			loadAndPlan(b, dirs[1], 1) // warm up: the driver's first connection
			var base, many opCost
			for range b.N {
				base.add(loadAndPlan(b, dirs[1], 1))
			}
			b.ResetTimer()
			for range b.N {
				many.add(loadAndPlan(b, dirs[manyDatabases], manyDatabases))
			}
			b.StopTimer()

			n := float64(b.N)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
			cpu, baseCPU := many.loadCPU+many.planCPU, base.loadCPU+base.planCPU
			if _, ok := processCPU(); ok {
				b.ReportMetric(ms(cpu), "cpu_ms/op")
				b.ReportMetric(ms(many.loadCPU), "load_cpu_ms/op")
				b.ReportMetric(ms(many.planCPU), "plan_cpu_ms/op")
				b.ReportMetric(ms(baseCPU), "1_database_cpu_ms/op")
				b.ReportMetric(ms(cpu-baseCPU), "milink_cpu_ms/op")
			}
			ratio := float64(many.load+many.plan) / float64(base.load+base.plan)
			b.ReportMetric(ms(many.load), "load_ms/op")
			b.ReportMetric(ms(many.plan), "plan_ms/op")
			b.ReportMetric(ratio, "x_vs_1_database")
			b.Logf("N=%d: %d databases (%s): load %.0f ms (%.0f ms CPU) + plan %.0f ms (%.0f ms CPU, lab included) per op; 1 database: %.0f ms (%.0f ms CPU); ratio %.1fx; the 999 extra blocks cost milink %.0f ms of CPU",
				b.N, manyDatabases, variant.name, ms(many.load), ms(many.loadCPU), ms(many.plan), ms(many.planCPU),
				ms(base.load+base.plan), ms(baseCPU), ratio, ms(cpu-baseCPU))
		})
	}
}
