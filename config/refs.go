package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// undeclaredRefs rewrites HCL's generic "Unsupported attribute" errors for
// var.X and local.X, whose "This object does not have an attribute" says
// nothing about what was meant, into errors naming the undeclared input
// variable or local value, with the closest declared name. The subject
// (and so file, line and snippet) is kept.
func (l *loader) undeclaredRefs(diags hcl.Diagnostics) hcl.Diagnostics {
	vars := make([]string, 0, len(l.vars))
	for n := range l.vars {
		vars = append(vars, n)
	}
	sort.Strings(vars)
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		out[i] = d
		root, name, ok := undeclaredRef(d)
		if !ok {
			root, name, ok = l.undeclaredRefInSource(d)
		}
		if !ok {
			continue
		}
		nd := *d
		switch root {
		case "var":
			nd.Summary = "Reference to undeclared input variable"
			nd.Detail = fmt.Sprintf("An input variable with the name %q has not been declared. Declare it with a variable %q {} block.%s", name, name, suggestRef(name, vars))
		case "local":
			nd.Summary = "Reference to undeclared local value"
			nd.Detail = fmt.Sprintf("A local value with the name %q has not been declared. Define it in a locals block.%s", name, suggestRef(name, l.localNames))
		}
		out[i] = &nd
	}
	return out
}

// undeclaredRef reports whether d is HCL's "Unsupported attribute" error
// for the first step of a var.X or local.X reference, and which.
func undeclaredRef(d *hcl.Diagnostic) (root, name string, ok bool) {
	if d.Severity != hcl.DiagError || d.Summary != "Unsupported attribute" || d.Expression == nil || d.Subject == nil {
		return "", "", false
	}
	for _, tr := range d.Expression.Variables() {
		r := tr.RootName()
		if (r != "var" && r != "local") || len(tr) < 2 {
			continue
		}
		step, isAttr := tr[1].(hcl.TraverseAttr)
		if isAttr && step.SrcRange == *d.Subject {
			return r, step.Name, true
		}
	}
	return "", "", false
}

// undeclaredRefInSource is undeclaredRef for diagnostics without an
// expression (those of sensitive attributes, which drop it so that no
// value is printed): the source before the subject must be the root name
// var or local, standing alone.
func (l *loader) undeclaredRefInSource(d *hcl.Diagnostic) (root, name string, ok bool) {
	if d.Severity != hcl.DiagError || d.Summary != "Unsupported attribute" || d.Subject == nil {
		return "", "", false
	}
	f := l.src.files[d.Subject.Filename]
	if f == nil || d.Subject.End.Byte > len(f.Bytes) || d.Subject.Start.Byte >= d.Subject.End.Byte {
		return "", "", false
	}
	step := string(f.Bytes[d.Subject.Start.Byte:d.Subject.End.Byte])
	if !strings.HasPrefix(step, ".") || !validName(step[1:]) {
		return "", "", false
	}
	before := f.Bytes[:d.Subject.Start.Byte]
	for _, r := range []string{"var", "local"} {
		if !strings.HasSuffix(string(before), r) {
			continue
		}
		if i := len(before) - len(r) - 1; i >= 0 && (isNameByte(before[i]) || before[i] == '.') {
			continue
		}
		return r, step[1:], true
	}
	return "", "", false
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// suggestRef is suggest for references, which also accepts an
// abbreviation: a name whose letters, in order, are all in exactly the
// candidate that starts the same way (master_key_pw for
// master_key_password), since such a name is far from its target by edit
// distance.
func suggestRef(name string, candidates []string) string {
	s := suggest(name, candidates)
	if s == "" && len(name) >= 3 {
		var found []string
		for _, c := range candidates {
			if strings.EqualFold(name[:1], c[:1]) && subsequence(strings.ToLower(name), strings.ToLower(c)) {
				found = append(found, c)
			}
		}
		if len(found) == 1 {
			s = found[0]
		}
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", s)
}

// subsequence reports whether every byte of a occurs in b in order.
func subsequence(a, b string) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}
