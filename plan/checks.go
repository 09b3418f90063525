package plan

import (
	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
)

// checkEdges puts every check (resources.Check) after every other change
// on any of its targets, restarts and verifications included: a
// connectivity check proves the path once the firewall and NSG rules of
// this apply are in place, so it comes last on both sides.
func checkEdges(cfg *config.Config, list []resources.Change, deps []map[string]bool) {
	onTarget := map[string][]int{}
	for j := range list {
		if list[j].Action != resources.Check {
			onTarget[list[j].Target] = append(onTarget[list[j].Target], j)
		}
	}
	for i := range list {
		if list[i].Action != resources.Check {
			continue
		}
		targets := []string{list[i].Target}
		if b := cfg.Block(list[i].Address); b != nil {
			targets = b.Targets()
		}
		for _, t := range targets {
			for _, j := range onTarget[t] {
				deps[i][list[j].Address] = true
			}
		}
	}
}
