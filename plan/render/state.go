package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// StateList prints the managed addresses, one a line, sorted
// (`milink state list`).
func StateList(w io.Writer, s *state.State) {
	var b strings.Builder
	for _, a := range s.Addresses() {
		b.WriteString(cleanText(a))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}

// StateShow prints one managed object (`milink state show ADDR`), its
// sensitive attributes as "(sensitive)".
func StateShow(w io.Writer, s *state.State, addr string, o Options) error {
	r := s.Get(addr)
	if r == nil {
		return fmt.Errorf("no object at address %q in the state (milink state list shows what it holds)", addr)
	}
	pr := &printer{o: o}
	pr.line("%s", pr.bold("# "+cleanText(r.Address)+":"))
	if r.Target != "" {
		pr.line("#   target:     %s", cleanText(r.Target))
	}
	if !r.UpdatedAt.IsZero() {
		pr.line("#   updated at: %s", r.UpdatedAt.UTC().Format(time.RFC3339))
	}
	kind, name := splitAddr(cleanText(r.Address))
	if r.Kind != "" {
		kind = cleanText(r.Kind)
	}
	head := kind
	if name != "" {
		head += fmt.Sprintf(" %q", name)
	}
	if len(r.Attributes) == 0 {
		pr.line("%s {}", head)
		pr.flush(w)
		return nil
	}
	pr.line("%s {", head)
	width := 0
	for k := range r.Attributes {
		width = max(width, len(k))
	}
	for _, k := range sortedKeys(r.Attributes) {
		v := r.Attributes[k]
		text := formatValue(v)
		if r.IsSensitive(k) {
			text = resources.Redacted
		}
		pr.line("    %-*s = %s", width, k, text)
	}
	pr.line("}")
	pr.flush(w)
	return nil
}
