package render

import (
	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
)

// checks lists the checks apply runs once everything else on their
// targets is done (resources.Check): they change nothing, so they are not
// among the plan's changes, but a plan says they will run.
func (pr *printer) checks(p *plan.Plan) {
	first := true
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action != resources.Check {
			continue
		}
		if first {
			pr.line("")
			pr.line("Checks apply runs last:")
			first = false
		}
		pr.line("  %s %s", pr.symbol(c.Action), pr.bold(cleanText(c.Address)+" will run"))
		pr.reason(c)
		pr.steps(c)
	}
}
