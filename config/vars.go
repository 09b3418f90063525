package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/milink/milink/config/lang"
)

// EnvPrefix prefixes environment variables that set input variables:
// MILINK_VAR_name=value.
const EnvPrefix = "MILINK_VAR_"

// Vars are the input variable values given outside the configuration.
// Precedence, lowest first: defaults, Environ, Files (in order), Args (in
// order); a later value replaces an earlier one.
type Vars struct {
	Args    []string // "-var" values, "name=value", in command-line order
	Files   []string // "-var-file" paths (HCL, or JSON when ending in .json)
	Environ []string // os.Environ(); only MILINK_VAR_name=value entries are used
	// AllowUnset makes a variable without a value unknown instead of an
	// error (milink validate: CI checks a configuration without secrets).
	AllowUnset bool
}

// variable is a declared `variable "name"` block and its resolved value.
type variable struct {
	name        string
	typ         cty.Type
	defaults    *typeexpr.Defaults
	typed       bool // a type was declared
	sensitive   bool
	description string
	hasDefault  bool
	validations []*hcl.Block
	decl        hcl.Range

	val      cty.Value // unmarked; cty.DynamicVal after an error
	valRange hcl.Range // where the value was set
	set      bool
	bad      bool
	unknown  bool // no value given, under validate
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}, {Name: "nullable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

func (l *loader) declareVariables(blocks []*hcl.Block) {
	l.vars = map[string]*variable{}
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, ok := l.vars[name]; ok {
			l.diags = append(l.diags, duplicate("variable", name, b, prev.decl))
			continue
		}
		v := &variable{name: name, typ: cty.DynamicPseudoType, decl: b.DefRange, val: cty.DynamicVal}
		l.vars[name] = v
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		if a, ok := content.Attributes["type"]; ok {
			ty, defs, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.typ, v.defaults, v.typed = ty, defs, true
			} else {
				v.bad = true
			}
		}
		if a, ok := content.Attributes["sensitive"]; ok {
			v.sensitive = l.constBool(a)
		}
		if a, ok := content.Attributes["nullable"]; ok {
			l.constBool(a) // accepted for familiarity; values are never null unless the default is
		}
		if a, ok := content.Attributes["description"]; ok {
			val, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				if s, err := convert.Convert(val, cty.String); err == nil && !s.IsNull() {
					v.description = s.AsString()
				}
			}
		}
		if a, ok := content.Attributes["default"]; ok {
			val, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.hasDefault = true
				l.setVar(v, val, a.Expr.Range(), "default")
			} else {
				v.bad = true
			}
		}
		for _, vb := range content.Blocks {
			vc, diags := vb.Body.Content(validationSchema)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				_ = vc
				v.validations = append(v.validations, vb)
			}
		}
	}
}

// constBool evaluates a literal bool attribute (variable declarations can
// refer to nothing).
func (l *loader) constBool(a *hcl.Attribute) bool {
	val, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return false
	}
	b, err := convert.Convert(val, cty.Bool)
	if err != nil || b.IsNull() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: a bool is required.", a.Name),
			Subject:  a.Expr.Range().Ptr(),
		})
		return false
	}
	return b.True()
}

// setVar converts a value to the declared type and records it, reporting
// a conversion failure without ever showing the value.
func (l *loader) setVar(v *variable, val cty.Value, rng hcl.Range, from string) {
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, v.typ)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for input variable",
			Detail:   fmt.Sprintf("The %s for variable %q is not suitable: %s.", from, v.name, convertErr(err)),
			Subject:  v.subject(rng),
		})
		v.val, v.bad, v.set = cty.DynamicVal, true, true
		return
	}
	v.val, v.valRange, v.set, v.bad = conv, rng, true, false
}

// subject is where a diagnostic about the value points: its source, except
// for a sensitive value given outside the files, whose "source" would be
// the secret itself; then the declaration.
func (v *variable) subject(rng hcl.Range) *hcl.Range {
	if v.sensitive && strings.HasPrefix(rng.Filename, "<") {
		return v.decl.Ptr()
	}
	return rng.Ptr()
}

// convertErr renders a cty conversion error; cty's messages name types,
// not values.
func convertErr(err error) string { return lang.ConvertErr(err) }

// assignVariables applies the environment, the variable files and the -var
// arguments, in that order of increasing precedence.
func (l *loader) assignVariables(vars Vars) {
	for _, kv := range vars.Environ {
		if !strings.HasPrefix(kv, EnvPrefix) {
			continue
		}
		name, raw, _ := strings.Cut(strings.TrimPrefix(kv, EnvPrefix), "=")
		v, ok := l.vars[name]
		if !ok {
			// The environment is shared with other tools and shells: an
			// unknown name is worth a warning, not a failure.
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The environment variable %s%s sets a variable that is not declared in the configuration; it is ignored.", EnvPrefix, name),
			})
			continue
		}
		l.setRaw(v, raw, fmt.Sprintf("<value for var.%s from %s%s>", name, EnvPrefix, name), "environment value")
	}
	for _, path := range vars.Files {
		l.readVarFile(path)
	}
	for _, arg := range vars.Args {
		name, raw, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail:   fmt.Sprintf("The -var option %q is not of the form NAME=VALUE.", redactArg(arg)),
			})
			continue
		}
		name = strings.TrimSpace(name)
		v, ok := l.vars[name]
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("A variable named %q was given with -var, but no variable %q is declared. Declare it with a variable block, or remove the option.%s", name, name, l.didYouMean(name)),
			})
			continue
		}
		l.setRaw(v, raw, fmt.Sprintf("<value for var.%s>", name), "-var value")
	}
}

// redactArg keeps the name of a malformed -var argument and nothing else:
// it may be a secret given without its name.
func redactArg(arg string) string {
	if len(arg) > 2 {
		return arg[:1] + "..."
	}
	return arg
}

func (l *loader) didYouMean(name string) string {
	names := make([]string, 0, len(l.vars))
	for n := range l.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// setRaw parses a command-line or environment value according to the
// declared type: a string (or untyped) variable takes the text as it is;
// any other type is parsed as an HCL expression.
func (l *loader) setRaw(v *variable, raw, filename, from string) {
	if !v.typed || v.typ == cty.String {
		end := hcl.Pos{Line: 1, Column: 1 + len([]rune(raw)), Byte: len(raw)}
		if !v.sensitive && !strings.Contains(raw, "\n") {
			l.src.files[filename] = &hcl.File{Bytes: []byte(raw)}
		} else {
			end = hcl.InitialPos
		}
		l.setVar(v, cty.StringVal(raw), hcl.Range{Filename: filename, Start: hcl.InitialPos, End: end}, from)
		return
	}
	src := []byte(raw)
	expr, diags := hclsyntax.ParseExpression(src, filename, hcl.InitialPos)
	if !v.sensitive {
		// A file of its own lets diagnostics quote the value; never for
		// a sensitive value.
		l.src.files[filename] = &hcl.File{Bytes: src}
	} else {
		diags = redirect(diags, v.decl)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		v.val, v.bad, v.set = cty.DynamicVal, true, true
		return
	}
	val, diags := expr.Value(nil)
	if v.sensitive {
		diags = redirect(diags, v.decl)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		v.val, v.bad, v.set = cty.DynamicVal, true, true
		return
	}
	l.setVar(v, val, expr.Range(), from)
}

// redirect points diagnostics at rng and drops their expression context.
func redirect(diags hcl.Diagnostics, rng hcl.Range) hcl.Diagnostics {
	for _, d := range diags {
		d.Subject, d.Context = rng.Ptr(), nil
		d.Expression, d.EvalContext = nil, nil
	}
	return diags
}

func (l *loader) readVarFile(path string) {
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.EqualFold(filepath.Ext(path), ".json") {
		f, diags = l.parser.ParseJSONFile(path)
	} else {
		f, diags = l.parser.ParseHCLFile(path)
	}
	l.diags = append(l.diags, diags...)
	if f == nil {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	// Diagnostics print the source line of a value; for a sensitive
	// variable that line is the secret. Snippets mask the values of these
	// names (and of any sensitive-looking one) with a fixed text that does
	// not tell their length, on every line, even those that did not parse.
	var sensitive []string
	for _, n := range sortedKeys(l.vars) {
		if l.vars[n].sensitive {
			sensitive = append(sensitive, n)
		}
	}
	l.src.files[path] = f
	l.src.markSensitive(path, sensitive)
	for _, name := range names {
		a := attrs[name]
		v, ok := l.vars[name]
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The variable file sets %q, but no variable %q is declared.%s", name, name, l.didYouMean(name)),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		val, diags := a.Expr.Value(nil)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			v.val, v.bad, v.set = cty.DynamicVal, true, true
			continue
		}
		l.setVar(v, val, a.Expr.Range(), "value in "+path)
	}
}

// validateVariables reports missing required variables, runs the
// validation blocks and records the final values for Hash.
func (l *loader) validateVariables(allowUnset bool) {
	l.varValues = map[string]Value{}
	for _, name := range sortedKeys(l.vars) {
		v := l.vars[name]
		if v.bad {
			continue
		}
		if !v.set && allowUnset {
			// Unknown, of the declared type: expressions using it are
			// type-checked, their values not.
			v.val, v.set, v.unknown = cty.UnknownVal(v.typ), true, true
			continue
		}
		if !v.set {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("The variable %q has no default, so it must be set: with -var %s=..., in a -var-file, or with the environment variable %s%s.",
					name, name, EnvPrefix, name),
				Subject: v.decl.Ptr(),
			})
			v.bad = true
			continue
		}
		text := valueText(v.val)
		if v.sensitive {
			l.addSecret(text)
		}
		l.varValues[name] = Value{Text: text, Sensitive: v.sensitive}
	}
	for _, name := range sortedKeys(l.vars) {
		v := l.vars[name]
		if v.bad || v.unknown {
			continue
		}
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{name: v.marked()})},
			Functions: l.functions(),
		}
		for _, vb := range v.validations {
			l.runValidation(v, vb, ctx)
		}
	}
}

func (l *loader) runValidation(v *variable, vb *hcl.Block, ctx *hcl.EvalContext) {
	content, _ := vb.Body.Content(validationSchema)
	cond := content.Attributes["condition"]
	msg := content.Attributes["error_message"]
	for _, tr := range cond.Expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name != v.name {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference in variable validation",
				Detail:   fmt.Sprintf("The condition for variable %q can only refer to the variable itself, var.%s.", v.name, v.name),
				Subject:  tr.SourceRange().Ptr(),
			})
			return
		}
	}
	res, diags := cond.Expr.Value(ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	res, _ = unmarked(res)
	res, err := convert.Convert(res, cty.Bool)
	if err != nil || res.IsNull() || !res.IsKnown() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid validation condition",
			Detail:   "The condition must be true or false.",
			Subject:  cond.Expr.Range().Ptr(),
		})
		return
	}
	if res.True() {
		return
	}
	text := "The value is not valid."
	mv, diags := msg.Expr.Value(ctx)
	if !diags.HasErrors() {
		if mv.ContainsMarked() {
			// A message built from a sensitive value would print it.
			text = "The error message refers to a sensitive value and is not shown."
		} else if s, err := convert.Convert(mv, cty.String); err == nil && !s.IsNull() && s.IsKnown() {
			text = s.AsString()
		}
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for variable",
		Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", text, cond.Expr.Range()),
		Subject:  v.subject(v.valRange),
	})
	v.bad = true
}

// marked is the value as expressions see it: sensitive values carry a
// mark so that diagnostics never print them.
func (v *variable) marked() cty.Value {
	if v.bad {
		return cty.DynamicVal
	}
	if v.sensitive {
		return v.val.Mark(sensitiveMark)
	}
	return v.val
}

// valueText renders a value for Hash: strings as they are, anything else
// as JSON.
func valueText(v cty.Value) string {
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func duplicate(kind, name string, b *hcl.Block, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s block", kind),
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique.", kind, name, prev),
		Subject:  b.DefRange.Ptr(),
	}
}
