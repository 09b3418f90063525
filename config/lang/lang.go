// Package lang holds what a kind needs to read its own block: typed
// attribute readers over an hcl.Body that report HCL diagnostics with file,
// line and snippet, keep the values of sensitive variables out of every
// message, and treat values not yet known (an unset variable under
// validate, an attribute known only after apply) as unknown rather than as
// errors. The loader (package config) and every kind (resources/...) share
// it; it imports neither.
package lang

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// markType is the type of the cty mark carried by values that come from a
// sensitive variable.
type markType string

// SensitiveMark marks cty values from sensitive variables, so that HCL's own
// diagnostic printer and ours refuse to show them.
const SensitiveMark = markType("sensitive")

// Unmarked is v without marks, and whether it carried any mark (every mark
// milink sets means "sensitive").
func Unmarked(v cty.Value) (cty.Value, bool) {
	if !v.ContainsMarked() {
		return v, false
	}
	u, marks := v.UnmarkDeep()
	return u, len(marks) > 0
}

// Sink collects what decoding a configuration finds: diagnostics, and the
// texts of sensitive values, which every printed message is scrubbed of.
// It is safe for concurrent use (targets are decoded concurrently); read
// Diags once decoding is over.
type Sink struct {
	mu      sync.Mutex
	Diags   hcl.Diagnostics
	secrets map[string]bool
}

// Append adds diagnostics.
func (s *Sink) Append(diags ...*hcl.Diagnostic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Diags = append(s.Diags, diags...)
}

// AddSecret remembers a sensitive text. Very short secrets would garble
// every message they were scrubbed from; our own code never prints them.
func (s *Sink) AddSecret(text string) {
	if len(text) < 3 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]bool{}
	}
	s.secrets[text] = true
}

// Secrets lists the sensitive texts, longest first, so that a secret
// containing another is removed whole.
func (s *Sink) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.secrets))
	for t := range s.secrets {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// Body reads the attributes of one block body.
type Body struct {
	sink   *Sink
	attrs  hcl.Attributes
	blocks hcl.Blocks
	ctx    *hcl.EvalContext
	// Range is the block's definition (type and labels), the subject of
	// diagnostics about the block as a whole.
	Range hcl.Range
	// Final is set when the body is read for planning: every value must be
	// known then. Otherwise (validate, and the checks at load time) an
	// unknown value is accepted and its checks are skipped.
	Final bool

	marked  map[string]bool // attributes whose value came from a sensitive variable
	unknown map[string]bool // attributes whose value is not known yet
}

// Decode reads body against schema; problems go to sink.
func Decode(sink *Sink, body hcl.Body, schema *hcl.BodySchema, ctx *hcl.EvalContext, rng hcl.Range, final bool) *Body {
	c, diags := body.Content(schema)
	sink.Append(SuggestArguments(diags, schema)...)
	return &Body{sink: sink, attrs: c.Attributes, blocks: c.Blocks, ctx: ctx, Range: rng, Final: final}
}

// Sub reads a nested block with the same context and mode.
func (b *Body) Sub(blk *hcl.Block, schema *hcl.BodySchema) *Body {
	return Decode(b.sink, blk.Body, schema, b.ctx, blk.DefRange, b.Final)
}

// Blocks returns the nested blocks of that type.
func (b *Body) Blocks(typ string) hcl.Blocks {
	var out hcl.Blocks
	for _, blk := range b.blocks {
		if blk.Type == typ {
			out = append(out, blk)
		}
	}
	return out
}

// Attr returns the attribute, or nil when it is not written.
func (b *Body) Attr(name string) *hcl.Attribute { return b.attrs[name] }

// Unknown reports whether the attribute's value is not known yet.
func (b *Body) Unknown(name string) bool { return b.unknown[name] }

// Sink is where this body reports.
func (b *Body) Sink() *Sink { return b.sink }

// Context is the evaluation context of the body.
func (b *Body) Context() *hcl.EvalContext { return b.ctx }

// Status is what became of an attribute.
type Status int

const (
	Absent  Status = iota // not written: the default applies
	Null                  // written as null: the default applies
	Failed                // an error, already reported
	Unknown               // not known yet (validate, or known only after apply)
	Good
)

// Value evaluates and converts an attribute. Sensitive attributes never
// attach their expression to a diagnostic, and their values are
// remembered for scrubbing.
func (b *Body) Value(name string, ty cty.Type, sensitive bool) (v cty.Value, a *hcl.Attribute, st Status) {
	a, present := b.attrs[name]
	if !present {
		return cty.NilVal, nil, Absent
	}
	raw, diags := a.Expr.Value(b.ctx)
	if sensitive {
		for _, d := range diags {
			d.Expression, d.EvalContext = nil, nil
		}
	}
	b.sink.Append(diags...)
	if diags.HasErrors() {
		return cty.NilVal, a, Failed
	}
	raw, isMarked := Unmarked(raw)
	if isMarked {
		if b.marked == nil {
			b.marked = map[string]bool{}
		}
		b.marked[name] = true
		sensitive = true
	}
	if !raw.IsWhollyKnown() {
		// Unknown (an unset variable under validate): its type is still
		// checked, as terraform validate does.
		if _, err := convert.Convert(raw, ty); err != nil {
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Incorrect attribute value type",
				Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, ConvertErr(err)),
				Subject:  a.Expr.Range().Ptr(),
			}
			b.sink.Append(d)
			return cty.NilVal, a, Failed
		}
		if b.Final {
			b.sink.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value not known when planning",
				Detail:   fmt.Sprintf("The argument %q depends on a value known only after apply; milink needs it to plan. Refer to a value known beforehand (a variable, or an attribute read from the server).", name),
				Subject:  a.Expr.Range().Ptr(),
			})
			return cty.NilVal, a, Failed
		}
		if b.unknown == nil {
			b.unknown = map[string]bool{}
		}
		b.unknown[name] = true
		return cty.NilVal, a, Unknown
	}
	if raw.IsNull() {
		return cty.NilVal, a, Null
	}
	conv, err := convert.Convert(raw, ty)
	if err != nil {
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, ConvertErr(err)),
			Subject:  a.Expr.Range().Ptr(),
		}
		if !sensitive {
			d.Expression, d.EvalContext = a.Expr, b.ctx
		}
		b.sink.Append(d)
		return cty.NilVal, a, Failed
	}
	if sensitive {
		b.sink.AddSecret(ValueText(conv))
	}
	return conv, a, Good
}

// ConvertErr is a conversion error as a sentence fragment, with the path
// of the offending element when there is one.
func ConvertErr(err error) string {
	if pe, ok := err.(cty.PathError); ok && len(pe.Path) > 0 {
		return fmt.Sprintf("%s: %s", PathString(pe.Path), pe.Error())
	}
	return err.Error()
}

// PathString renders a cty path as HCL would write it.
func PathString(p cty.Path) string {
	var b strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			switch s.Key.Type() {
			case cty.String:
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			case cty.Number:
				fmt.Fprintf(&b, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			default:
				b.WriteString("[...]")
			}
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

// ValueText renders a value as text: strings as they are, anything else
// as JSON; "" when not wholly known.
func ValueText(v cty.Value) string {
	if !v.IsWhollyKnown() {
		return ""
	}
	if v.IsNull() {
		return "null"
	}
	if v.Type() == cty.String {
		return v.AsString()
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return ""
	}
	return string(b)
}

// Errorf reports an error on the attribute's value.
func (b *Body) Errorf(a *hcl.Attribute, summary, format string, args ...any) {
	subject := b.Range
	if a != nil {
		subject = a.Expr.Range()
	}
	b.sink.Append(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// Str reads a string, def when absent, null, unknown or wrong.
func (b *Body) Str(name, def string, sensitive bool) string {
	v, _, st := b.Value(name, cty.String, sensitive)
	if st != Good {
		return def
	}
	return v.AsString()
}

// Required is like Str but reports an absent, null or empty value. what
// completes "is required ..." ("in a master_key block").
func (b *Body) Required(name string, sensitive bool, what string) string {
	v, a, st := b.Value(name, cty.String, sensitive)
	switch {
	case st == Good && v.AsString() != "":
		return v.AsString()
	case st == Failed, st == Unknown:
		return ""
	}
	subject := b.Range
	if a != nil {
		subject = a.Expr.Range()
	}
	b.sink.Append(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   fmt.Sprintf("The argument %q is required %s and must be neither empty nor null.", name, what),
		Subject:  subject.Ptr(),
	})
	return ""
}

// Bool reads a bool.
func (b *Body) Bool(name string, def bool) bool {
	v, _, st := b.Value(name, cty.Bool, false)
	if st != Good {
		return def
	}
	return v.True()
}

// Int reads a whole number within [min, max].
func (b *Body) Int(name string, def, min, max int) int {
	v, a, st := b.Value(name, cty.Number, false)
	if st != Good {
		return def
	}
	n, ok := WholeNumber(v.AsBigFloat(), min, max)
	if !ok {
		b.Errorf(a, "Invalid value", "The argument %q must be a whole number from %d to %d.", name, min, max)
		return def
	}
	return n
}

// WholeNumber converts f when it is a whole number within [min, max].
func WholeNumber(f *big.Float, min, max int) (int, bool) {
	if !f.IsInt() {
		return 0, false
	}
	i, acc := f.Int64()
	if acc != big.Exact || i < int64(min) || i > int64(max) {
		return 0, false
	}
	return int(i), true
}

// Duration reads a positive duration such as "30s".
func (b *Body) Duration(name string, def time.Duration) time.Duration {
	v, a, st := b.Value(name, cty.String, false)
	if st != Good {
		return def
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil || d <= 0 {
		b.Errorf(a, "Invalid duration", "The argument %q must be a positive duration such as \"30s\" or \"5m\"; %s is not.", name, b.Quote(name, v.AsString()))
		return def
	}
	return d
}

// StrList reads a list of strings.
func (b *Body) StrList(name string, def []string) []string {
	v, a, st := b.Value(name, cty.List(cty.String), false)
	if st != Good {
		return def
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			b.Errorf(a, "Invalid value", "The elements of %q must not be null.", name)
			return def
		}
		out = append(out, e.AsString())
	}
	return out
}

// OneOf reads a string that must be one of allowed (compared without case;
// the result is the allowed spelling).
func (b *Body) OneOf(name, def string, allowed ...string) string {
	v, a, st := b.Value(name, cty.String, false)
	if st != Good {
		return def
	}
	s := v.AsString()
	for _, w := range allowed {
		if strings.EqualFold(s, w) {
			return w
		}
	}
	hint := ""
	if sug := Suggest(s, allowed); sug != "" && !b.marked[name] {
		hint = fmt.Sprintf(" Did you mean %q?", sug)
	}
	b.Errorf(a, "Invalid value", "The argument %q must be one of %s; %s is not.%s", name, QuoteList(allowed), b.Quote(name, s), hint)
	return def
}

// maxQuoted bounds how much of a user's value a message repeats.
const maxQuoted = 80

// Quote is a value for a message, unless it is sensitive; long values are
// cut, since a message is not the place to echo 100,000 characters.
func (b *Body) Quote(name, s string) string {
	if b.marked[name] {
		return "the sensitive value given"
	}
	return QuoteShort(s)
}

// QuoteShort quotes s for a message, cut to a readable length.
func QuoteShort(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return fmt.Sprintf("%q… (%d characters)", string(r[:maxQuoted]), len(r))
	}
	return fmt.Sprintf("%q", s)
}

// QuoteList renders `"a", "b" or "c"`.
func QuoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Suggest returns the name in candidates closest to given, if close enough
// to be a likely typo.
func Suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := levenshtein.Distance(strings.ToLower(given), strings.ToLower(c), nil)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

var unsupportedArg = regexp.MustCompile(`^An argument named "([^"]+)" is not expected here\.$`)

// SuggestArguments completes HCL's "Unsupported argument" diagnostics: HCL
// suggests only arguments not yet set, so `adress` next to `address` got
// no hint. It also orders the diagnostics by position, as HCL reports them
// in map order.
func SuggestArguments(diags hcl.Diagnostics, schema *hcl.BodySchema) hcl.Diagnostics {
	names := make([]string, len(schema.Attributes))
	for i, a := range schema.Attributes {
		names[i] = a.Name
	}
	for _, d := range diags {
		if d.Summary != "Unsupported argument" {
			continue
		}
		if m := unsupportedArg.FindStringSubmatch(d.Detail); m != nil {
			if s := Suggest(m[1], names); s != "" {
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
