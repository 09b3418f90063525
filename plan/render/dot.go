package render

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
)

// Graph is a dependency graph to draw: nodes by address, edges from a node
// to what it waits for (Terraform's direction).
type Graph struct {
	Nodes []GraphNode
	Edges map[string][]string
}

// GraphNode is one node with the label shown under its address.
type GraphNode struct {
	Address string
	Label   string // "create", "target", ...
	Shape   string // DOT shape; "" for a box
}

// PlanGraph is the graph of a plan's changes: each change waits for its
// DependsOn.
func PlanGraph(p *plan.Plan) Graph {
	g := Graph{Edges: map[string][]string{}}
	for _, c := range p.Changes {
		shape := ""
		switch c.Action {
		case resources.Restart:
			shape = "doubleoctagon"
		case resources.Verify:
			shape = "diamond"
		}
		g.Nodes = append(g.Nodes, GraphNode{Address: c.Address, Label: string(c.Action), Shape: shape})
		g.Edges[c.Address] = append(g.Edges[c.Address], c.DependsOn...)
	}
	return g
}

// DOT writes g in Graphviz's language, as `terraform graph` does: nodes in
// the given order, edges sorted, every identifier quoted.
func DOT(w io.Writer, g Graph) error {
	var b strings.Builder
	b.WriteString("digraph milink {\n  rankdir = \"RL\";\n  node [shape = \"box\"];\n")
	for _, n := range g.Nodes {
		attrs := fmt.Sprintf("label = %s", dotQuote(cleanText(n.Address)+"\n"+n.Label))
		if n.Shape != "" {
			attrs += fmt.Sprintf(", shape = %s", dotQuote(n.Shape))
		}
		fmt.Fprintf(&b, "  %s [%s];\n", dotQuote(cleanText(n.Address)), attrs)
	}
	from := make([]string, 0, len(g.Edges))
	for f := range g.Edges {
		from = append(from, f)
	}
	sort.Strings(from)
	for _, f := range from {
		to := append([]string(nil), g.Edges[f]...)
		sort.Strings(to)
		for _, t := range to {
			fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(cleanText(f)), dotQuote(cleanText(t)))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote is a DOT quoted string: quotes and backslashes escaped, a line
// break as \n.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
