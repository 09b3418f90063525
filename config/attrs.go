package config

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// body evaluates the attributes of one block body.
type body struct {
	l     *loader
	attrs hcl.Attributes
	ctx   *hcl.EvalContext
	// marked names the attributes whose value came from a sensitive
	// variable: messages about them must not quote the value.
	marked map[string]bool
}

func (l *loader) content(b hcl.Body, schema *hcl.BodySchema, ctx *hcl.EvalContext) (*body, hcl.Blocks) {
	c, diags := b.Content(schema)
	l.diags = append(l.diags, suggestArguments(diags, schema)...)
	return &body{l: l, attrs: c.Attributes, ctx: ctx}, c.Blocks
}

var unsupportedArg = regexp.MustCompile(`^An argument named "([^"]+)" is not expected here\.$`)

// suggestArguments completes HCL's "Unsupported argument" diagnostics: HCL
// suggests only arguments not yet set, so `adress` next to `address` got
// no hint. It also orders the diagnostics by position, as HCL reports them
// in map order.
func suggestArguments(diags hcl.Diagnostics, schema *hcl.BodySchema) hcl.Diagnostics {
	names := make([]string, len(schema.Attributes))
	for i, a := range schema.Attributes {
		names[i] = a.Name
	}
	for _, d := range diags {
		if d.Summary != "Unsupported argument" {
			continue
		}
		if m := unsupportedArg.FindStringSubmatch(d.Detail); m != nil {
			if s := suggest(m[1], names); s != "" {
				d.Detail += fmt.Sprintf(" Did you mean %q?", s)
			}
		}
	}
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return false
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return diags
}

// status is what became of an attribute.
type status int

const (
	absent status = iota // not written: the default applies
	null                 // written as null: the default applies
	failed               // an error, already reported
	good
)

// value evaluates and converts an attribute. Sensitive attributes never attach their expression to a
// diagnostic, and their values are remembered for scrubbing.
func (b *body) value(name string, ty cty.Type, sensitive bool) (v cty.Value, a *hcl.Attribute, st status) {
	a, present := b.attrs[name]
	if !present {
		return cty.NilVal, nil, absent
	}
	raw, diags := a.Expr.Value(b.ctx)
	if sensitive {
		for _, d := range diags {
			d.Expression, d.EvalContext = nil, nil
		}
	}
	b.l.diags = append(b.l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, a, failed
	}
	raw, isMarked := unmarked(raw)
	if isMarked {
		if b.marked == nil {
			b.marked = map[string]bool{}
		}
		b.marked[name] = true
		sensitive = true
	}
	if !raw.IsWhollyKnown() {
		return cty.NilVal, a, failed // an earlier error made it unknown
	}
	if raw.IsNull() {
		return cty.NilVal, a, null
	}
	conv, err := convert.Convert(raw, ty)
	if err != nil {
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, convertErr(err)),
			Subject:  a.Expr.Range().Ptr(),
		}
		if !sensitive {
			d.Expression, d.EvalContext = a.Expr, b.ctx
		}
		b.l.diags = append(b.l.diags, d)
		return cty.NilVal, a, failed
	}
	if sensitive {
		b.l.addSecret(valueText(conv))
	}
	return conv, a, good
}

func (b *body) errorf(a *hcl.Attribute, summary, format string, args ...any) {
	b.l.diags = append(b.l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  a.Expr.Range().Ptr(),
	})
}

func (b *body) str(name, def string, sensitive bool) string {
	v, _, st := b.value(name, cty.String, sensitive)
	if st != good {
		return def
	}
	return v.AsString()
}

// required is like str but reports an absent, null or empty value.
func (b *body) required(name string, sensitive bool, rng hcl.Range, what string) string {
	v, a, st := b.value(name, cty.String, sensitive)
	switch {
	case st == good && v.AsString() != "":
		return v.AsString()
	case st == failed:
		return ""
	}
	subject := rng
	if a != nil {
		subject = a.Expr.Range()
	}
	b.l.diags = append(b.l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   fmt.Sprintf("The argument %q is required %s and must be neither empty nor null.", name, what),
		Subject:  subject.Ptr(),
	})
	return ""
}

func (b *body) boolean(name string, def bool) bool {
	v, _, st := b.value(name, cty.Bool, false)
	if st != good {
		return def
	}
	return v.True()
}

// integer reads a whole number within [min, max].
func (b *body) integer(name string, def, min, max int) int {
	v, a, st := b.value(name, cty.Number, false)
	if st != good {
		return def
	}
	n, ok := wholeNumber(v.AsBigFloat(), min, max)
	if !ok {
		b.errorf(a, "Invalid value", "The argument %q must be a whole number from %d to %d.", name, min, max)
		return def
	}
	return n
}

func wholeNumber(f *big.Float, min, max int) (int, bool) {
	if !f.IsInt() {
		return 0, false
	}
	i, acc := f.Int64()
	if acc != big.Exact || i < int64(min) || i > int64(max) {
		return 0, false
	}
	return int(i), true
}

func (b *body) duration(name string, def time.Duration) time.Duration {
	v, a, st := b.value(name, cty.String, false)
	if st != good {
		return def
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil || d <= 0 {
		b.errorf(a, "Invalid duration", "The argument %q must be a positive duration such as \"30s\" or \"5m\"; %s is not.", name, b.quote(name, v.AsString()))
		return def
	}
	return d
}

func (b *body) strList(name string, def []string) []string {
	v, a, st := b.value(name, cty.List(cty.String), false)
	if st != good {
		return def
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			b.errorf(a, "Invalid value", "The elements of %q must not be null.", name)
			return def
		}
		out = append(out, e.AsString())
	}
	return out
}

// oneOf reads a string that must be one of allowed (compared without case;
// the result is the allowed spelling).
func (b *body) oneOf(name, def string, allowed ...string) string {
	v, a, st := b.value(name, cty.String, false)
	if st != good {
		return def
	}
	s := v.AsString()
	for _, w := range allowed {
		if strings.EqualFold(s, w) {
			return w
		}
	}
	hint := ""
	if sug := suggest(s, allowed); sug != "" {
		hint = fmt.Sprintf(" Did you mean %q?", sug)
	}
	if b.marked[name] {
		hint = ""
	}
	b.errorf(a, "Invalid value", "The argument %q must be one of %s; %s is not.%s", name, quoteList(allowed), b.quote(name, s), hint)
	return def
}

// quote is a value for a message, unless it is sensitive.
func (b *body) quote(name, s string) string {
	if b.marked[name] {
		return "the sensitive value given"
	}
	return fmt.Sprintf("%q", s)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// suggest returns the name in candidates closest to given, if close enough
// to be a likely typo.
func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := levenshtein.Distance(strings.ToLower(given), strings.ToLower(c), nil)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
