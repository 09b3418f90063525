package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
)

// order computes the plan's graph and returns the changes in a topological
// order. Edges come from:
//   - depends_on and references between blocks;
//   - the kinds' phases on one target: the restart comes after every
//     startup setting (its DependsOn, from the target) and after the other
//     changes on the target that do not wait for the restart themselves;
//     the verification follows the restart; changes that need the
//     restarted target follow the verification, and so do those that
//     need it restarted as one of their other targets;
//   - checks (a connectivity check) come after every other change on
//     each of their targets (checkEdges).
//
// Among changes ready at the same time, the order is the targets', then
// the phase's, then the kinds' registration order, then the configuration's.
func order(cfg *config.Config, list []resources.Change) ([]resources.Change, hcl.Diagnostics) {
	byAddr := map[string]int{}
	for i := range list {
		byAddr[list[i].Address] = i
	}
	blockIndex := map[string]int{}
	for i, b := range cfg.Blocks {
		blockIndex[b.Addr] = i
	}
	deps := make([]map[string]bool, len(list))
	for i := range list {
		deps[i] = map[string]bool{}
		for _, d := range list[i].DependsOn {
			if _, ok := byAddr[d]; ok {
				deps[i][d] = true
			}
		}
		if list[i].Action == resources.Forget || list[i].Action == resources.Delete {
			continue
		}
		if b := cfg.Block(list[i].Address); b != nil {
			for _, d := range append(append([]string(nil), b.DependsOn...), b.Refs...) {
				if _, ok := byAddr[d]; ok {
					deps[i][d] = true
				}
			}
		}
	}
	phase := func(ch *resources.Change) resources.Phase {
		if k := cfg.Registry.Kind(ch.Kind); k != nil {
			return k.Phase
		}
		return resources.PhaseAny
	}
	// reaches reports whether change i depends, transitively, on a change
	// for which stop is true.
	var reaches func(i int, stop func(j int) bool, seen map[int]bool) bool
	reaches = func(i int, stop func(j int) bool, seen map[int]bool) bool {
		for d := range deps[i] {
			j := byAddr[d]
			if seen[j] {
				continue
			}
			seen[j] = true
			if stop(j) || reaches(j, stop, seen) {
				return true
			}
		}
		return false
	}
	byTarget := map[string][]int{}
	asOther := map[string][]int{} // changes by the address of each of their other targets
	for i := range list {
		byTarget[list[i].Target] = append(byTarget[list[i].Target], i)
		if list[i].Action == resources.Forget || list[i].Action == resources.Delete {
			continue
		}
		if b := cfg.Block(list[i].Address); b != nil {
			for _, o := range b.Others {
				asOther[o] = append(asOther[o], i)
			}
		}
	}
	for _, t := range cfg.Targets() {
		ri, hasRestart := byAddr[resources.RestartAddr(t.Addr)]
		vi, hasVerify := byAddr[resources.VerifyAddr(t.Addr)]
		if !hasRestart {
			continue
		}
		after := resources.RestartAddr(t.Addr)
		if hasVerify {
			after = resources.VerifyAddr(t.Addr)
			deps[vi][resources.RestartAddr(t.Addr)] = true
		}
		isAfter := func(j int) bool {
			return list[j].Target == t.Addr && (phase(&list[j]) == resources.PhaseAfterRestart || j == ri || (hasVerify && j == vi))
		}
		for _, i := range byTarget[t.Addr] {
			ch := &list[i]
			if ch.Target != t.Addr || i == ri || (hasVerify && i == vi) || ch.Action == resources.Forget || ch.Action == resources.Delete {
				continue
			}
			switch {
			case phase(ch) == resources.PhaseAfterRestart:
				deps[i][after] = true
			case reaches(i, isAfter, map[int]bool{}):
				// It waits for something that waits for the restart, so
				// it runs after the restart too.
				deps[i][after] = true
			default:
				deps[ri][ch.Address] = true
			}
		}
		// A change that needs its targets restarted waits for the
		// restart of its other targets too; other changes do not hold
		// up another target's restart.
		for _, i := range asOther[t.Addr] {
			if phase(&list[i]) == resources.PhaseAfterRestart {
				deps[i][after] = true
			}
		}
	}
	checkEdges(cfg, list, deps)

	targetRank := map[string]int{}
	for i, t := range cfg.Targets() {
		targetRank[t.Addr] = i
	}
	rank := func(i int) []int {
		ch := &list[i]
		pr := 0
		switch {
		case ch.Kind == resources.KindRestart:
			pr = 1
		case ch.Kind == resources.KindVerify:
			pr = 2
		case phase(ch) == resources.PhaseAfterRestart:
			pr = 3
		case ch.Action == resources.Forget || ch.Action == resources.Delete:
			pr = 4
		}
		bi, ok := blockIndex[ch.Address]
		if !ok {
			bi = len(blockIndex)
		}
		return []int{targetRank[ch.Target], pr, cfg.Registry.Rank(ch.Kind), bi}
	}
	less := func(a, b int) bool {
		ra, rb := rank(a), rank(b)
		for k := range ra {
			if ra[k] != rb[k] {
				return ra[k] < rb[k]
			}
		}
		return list[a].Address < list[b].Address
	}

	// Kahn's algorithm, picking the least ready change each time.
	waiting := make([]int, len(list))
	dependents := make([][]int, len(list))
	for i := range list {
		waiting[i] = len(deps[i])
		for d := range deps[i] {
			j := byAddr[d]
			dependents[j] = append(dependents[j], i)
		}
	}
	var ready []int
	for i := range list {
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	out := make([]resources.Change, 0, len(list))
	for len(ready) > 0 {
		sort.Slice(ready, func(a, b int) bool { return less(ready[a], ready[b]) })
		i := ready[0]
		ready = ready[1:]
		ch := list[i]
		ch.DependsOn = sortedSet(deps[i])
		out = append(out, ch)
		for _, j := range dependents[i] {
			waiting[j]--
			if waiting[j] == 0 {
				ready = append(ready, j)
			}
		}
	}
	if len(out) < len(list) {
		var stuck []string
		for i := range list {
			if waiting[i] > 0 {
				stuck = append(stuck, list[i].Address)
			}
		}
		sort.Strings(stuck)
		return nil, hcl.Diagnostics{diagErr("Dependency cycle around a restart",
			fmt.Sprintf("These changes wait for each other: %s. A setting that takes effect at the restart cannot depend on something that needs the restarted server (such as a database); remove that depends_on.", strings.Join(stuck, ", ")), nil)}
	}
	return out, nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
