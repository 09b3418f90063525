package main

import (
	"context"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
)

const graphHelp = `graph [-plan=FILE]

Prints the dependency graph in Graphviz's DOT language, for example:
  milink graph | dot -Tsvg > graph.svg

Without -plan it is the configuration's graph, read without connecting to
anything: each block points at what it waits for (its target, its
references, its depends_on). With -plan it is the graph of a saved plan's
changes, with each target's restart and verification, which is the order
apply follows.`

func cmdGraph(_ context.Context, g *globals, args []string) int {
	var c common
	fs := newFlags(g, "graph", graphHelp)
	c.register(fs.FlagSet, false)
	planFile := fs.String("plan", "", "Draw the graph of this saved plan (from milink plan -out).")
	if ok, code := fs.parse(args); !ok {
		return code
	}
	if ok, code := fs.noArgs(""); !ok {
		return code
	}
	if *planFile != "" {
		p, _, err := plan.Load(*planFile)
		if err != nil {
			return g.errorf("%v", err)
		}
		if err := render.DOT(g.io.out, render.PlanGraph(p)); err != nil {
			return g.errorf("%v", err)
		}
		return exitOK
	}
	c.allowUnset = true
	w, code := g.openWorkspace(&c)
	if w == nil {
		return code
	}
	if err := render.DOT(g.io.out, configGraph(w.cfg)); err != nil {
		return g.errorf("%v", err)
	}
	return exitOK
}

// configGraph is the graph of the configuration's blocks.
func configGraph(cfg *config.Config) render.Graph {
	gr := render.Graph{Edges: map[string][]string{}}
	for _, b := range cfg.Blocks {
		label, shape := b.Type, ""
		if b.Target == "" {
			label, shape = "target", "ellipse"
		}
		gr.Nodes = append(gr.Nodes, render.GraphNode{Address: b.Addr, Label: label, Shape: shape})
		var to []string
		if b.Target != "" {
			to = append(to, b.Target)
		}
		to = append(to, b.Refs...)
		to = append(to, b.DependsOn...)
		seen := map[string]bool{}
		for _, t := range to {
			if !seen[t] {
				seen[t] = true
				gr.Edges[b.Addr] = append(gr.Edges[b.Addr], t)
			}
		}
	}
	return gr
}
