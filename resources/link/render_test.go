package link

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/resources"
)

// The plan people read: the five kinds' creates with -verbose (each step's
// exact T-SQL), then the distributed group's live status on a no-op, and
// without -verbose no T-SQL at all.
func TestPlanRendering(t *testing.T) {
	defer func(f func() time.Time) { clock = f }(clock)
	clock = func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }
	der, err := os.ReadFile(filepath.Join("testdata", "mi01-endpoint.der"))
	if err != nil {
		t.Fatal(err)
	}
	sql := newSQLFake()
	mi := newMIFake(t)
	mi.der = der
	var changes []resources.Change
	add := func(c *cycle) *cycle {
		ch := mustPlan(t, c)
		changes = append(changes, ch)
		return c
	}
	add(certCycle(t, sql, &EndpointCertificate{}))
	add(partnerCycle(t, sql, mi))
	add(endpointCycle(t, sql, &MirroringEndpoint{}))
	add(agCycle(t, sql, &AvailabilityGroup{Databases: []string{"payroll"}}))
	dag := add(dagCycle(t, sql, mi, &DAG{}))
	p := &plan.Plan{Changes: changes}
	var verbose, plain bytes.Buffer
	render.Plan(&verbose, p, render.Options{Verbose: true})
	render.Plan(&plain, p, render.Options{})
	checkGolden(t, "plan-create.verbose.txt", verbose.String())
	if strings.Contains(plain.String(), "CREATE ") {
		t.Errorf("T-SQL without -verbose:\n%s", plain.String())
	}

	// Applied, then the link seeds: the plan changes nothing and says how
	// the link is doing.
	for _, ch := range changes[4:] {
		mustApply(t, dag, ch)
	}
	g, _ := sql.cat.AG("payroll")
	sql.cat.States = []ReplicaState{{GroupID: g.GroupID, ReplicaID: "R1", Local: true, Role: "PRIMARY"},
		{GroupID: g.GroupID, ReplicaID: "R2", Connected: "CONNECTED", Health: "HEALTHY"}}
	sql.cat.DBStates = []DBReplicaState{
		{GroupID: g.GroupID, ReplicaID: "R1", Database: "payroll", Local: true, Sync: "SYNCHRONIZED", Health: "HEALTHY", LastHardenedLSN: "37000000012300001"},
		{GroupID: g.GroupID, ReplicaID: "R2", Database: "payroll", Sync: "SYNCHRONIZING", Health: "HEALTHY", LastHardenedLSN: "37000000011900001"}}
	sql.cat.Seeding = []Seeding{{Database: "payroll", Size: 4 << 20, Transferred: 3 << 20}}
	st := mustPlan(t, dag)
	var status bytes.Buffer
	render.Plan(&status, &plan.Plan{Changes: []resources.Change{st}}, render.Options{})
	checkGolden(t, "plan-dag-status.txt", status.String())
}
