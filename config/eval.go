package config

import (
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// baseContext is what locals and blocks can refer to: var, local (filled
// in by evalLocals), path and the functions.
func (l *loader) baseContext() *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for name, v := range l.vars {
		vars[name] = v.marked()
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "."
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(vars),
			"local": cty.EmptyObjectVal,
			"path": cty.ObjectVal(map[string]cty.Value{
				"module": cty.StringVal(l.dir),
				"cwd":    cty.StringVal(cwd),
			}),
		},
		Functions: l.functions(),
	}
}

// functions is the function library of the language: cty's stdlib, HCL's
// try/can, and file() reading relative to the configuration directory.
func (l *loader) functions() map[string]function.Function {
	return map[string]function.Function{
		"abs":        stdlib.AbsoluteFunc,
		"can":        tryfunc.CanFunc,
		"ceil":       stdlib.CeilFunc,
		"chomp":      stdlib.ChompFunc,
		"coalesce":   coalesceFunc,
		"compact":    stdlib.CompactFunc,
		"concat":     stdlib.ConcatFunc,
		"contains":   stdlib.ContainsFunc,
		"distinct":   stdlib.DistinctFunc,
		"element":    stdlib.ElementFunc,
		"file":       l.fileFunc(),
		"flatten":    stdlib.FlattenFunc,
		"floor":      stdlib.FloorFunc,
		"format":     stdlib.FormatFunc,
		"formatlist": stdlib.FormatListFunc,
		"index":      stdlib.IndexFunc,
		"join":       stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"keys":       stdlib.KeysFunc,
		"length":     lengthFunc,
		"lookup":     stdlib.LookupFunc,
		"lower":      stdlib.LowerFunc,
		"max":        stdlib.MaxFunc,
		"merge":      stdlib.MergeFunc,
		"min":        stdlib.MinFunc,
		"range":      stdlib.RangeFunc,
		"regex":      stdlib.RegexFunc,
		"replace":    stdlib.ReplaceFunc,
		"reverse":    stdlib.ReverseListFunc,
		"slice":      stdlib.SliceFunc,
		"sort":       stdlib.SortFunc,
		"split":      stdlib.SplitFunc,
		"strlen":     stdlib.StrlenFunc,
		"substr":     stdlib.SubstrFunc,
		"tobool":     stdlib.MakeToFunc(cty.Bool),
		"tolist":     stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":      stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":   stdlib.MakeToFunc(cty.Number),
		"toset":      stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":   stdlib.MakeToFunc(cty.String),
		"trimprefix": stdlib.TrimPrefixFunc,
		"trimspace":  stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc,
		"try":        tryfunc.TryFunc,
		"upper":      stdlib.UpperFunc,
		"values":     stdlib.ValuesFunc,
	}
}

// lengthFunc counts the characters of a string or the elements of a
// collection or structure (stdlib's length knows only collections).
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters of a string, or of elements of a list, set, map, tuple or object.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowUnknown:     true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String, ty == cty.DynamicPseudoType, ty.IsCollectionType(), ty.IsTupleType(), ty.IsObjectType():
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "argument must be a string, a collection or a structural type")
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		if !v.IsKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if v.IsNull() {
			return cty.NilVal, function.NewArgErrorf(0, "argument must not be null")
		}
		switch ty := v.Type(); {
		case ty == cty.String:
			return stdlib.Strlen(v)
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))), nil
		}
		return v.Length(), nil
	},
})

// coalesceFunc returns its first argument that is neither null nor an
// empty string, as Terraform's coalesce does (cty's skips only nulls, which
// would make coalesce(var.x, "default") useless for an empty -var).
var coalesceFunc = function.New(&function.Spec{
	Description: "Returns the first argument that is neither null nor an empty string.",
	VarParam: &function.Parameter{
		Name:             "vals",
		Type:             cty.DynamicPseudoType,
		AllowNull:        true,
		AllowDynamicType: true,
		AllowUnknown:     true,
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		types := make([]cty.Type, len(args))
		for i, a := range args {
			types[i] = a.Type()
		}
		ty, _ := convert.UnifyUnsafe(types)
		if ty == cty.NilType {
			return cty.NilType, fmt.Errorf("all arguments must have the same type")
		}
		return ty, nil
	},
	Impl: func(args []cty.Value, ty cty.Type) (cty.Value, error) {
		for _, a := range args {
			if !a.IsKnown() {
				return cty.UnknownVal(ty), nil
			}
			if a.IsNull() {
				continue
			}
			v, err := convert.Convert(a, ty)
			if err != nil {
				return cty.NilVal, err
			}
			if v.Type() == cty.String && v.AsString() == "" {
				continue
			}
			return v, nil
		}
		return cty.NilVal, fmt.Errorf("no non-null, non-empty-string arguments")
	},
})

// maxFileSize bounds what file() reads.
const maxFileSize = 16 << 20

// fileFunc reads a UTF-8 file, relative paths resolved against the
// configuration directory; what it read feeds Hash.
func (l *loader) fileFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reads a file (relative to the configuration directory) as a UTF-8 string.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := p
			if !filepath.IsAbs(full) {
				full = filepath.Join(l.dir, p)
			}
			// Only regular files of sane size: /dev/zero or a FIFO would
			// hang the loader.
			fi, err := os.Stat(full)
			if err != nil {
				if os.IsNotExist(err) {
					return cty.NilVal, function.NewArgErrorf(0, "no file exists at %s", full)
				}
				return cty.NilVal, function.NewArgErrorf(0, "reading %s: %s", full, err)
			}
			if !fi.Mode().IsRegular() {
				return cty.NilVal, function.NewArgErrorf(0, "%s is not a regular file", full)
			}
			if fi.Size() > maxFileSize {
				return cty.NilVal, function.NewArgErrorf(0, "%s is larger than %d bytes", full, maxFileSize)
			}
			data, err := os.ReadFile(full)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "reading %s: %s", full, err)
			}
			if !utf8.Valid(data) {
				return cty.NilVal, function.NewArgErrorf(0, "the contents of %s are not valid UTF-8", full)
			}
			l.read[p] = data
			return cty.StringVal(string(data)), nil
		},
	})
}

// evalLocals evaluates every local value in dependency order, reporting
// duplicates, references to unknown locals and cycles.
func (l *loader) evalLocals(blocks []*hcl.Block) {
	attrs := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		as, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, name := range sortedKeys(as) {
			a := as[name]
			if prev, ok := attrs[name]; ok {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("The local value %q was already defined at %s.", name, prev.NameRange),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			attrs[name] = a
		}
	}
	l.localNames = sortedKeys(attrs)
	if len(attrs) == 0 {
		return
	}
	values := map[string]cty.Value{}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name string, stack []string)
	visit = func(name string, stack []string) {
		a := attrs[name]
		switch state[name] {
		case done:
			return
		case visiting:
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in local values",
				Detail:   fmt.Sprintf("The local values refer to each other in a cycle: %s.", cycleText(stack, name)),
				Subject:  a.NameRange.Ptr(),
			})
			values[name] = cty.DynamicVal
			return
		}
		state[name] = visiting
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			step, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				continue
			}
			if _, exists := attrs[step.Name]; !exists {
				continue // reported when the expression is evaluated
			}
			visit(step.Name, append(stack, name))
		}
		if state[name] == done { // a cycle through this local already set it
			return
		}
		ctx := l.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(values)}
		v, diags := a.Expr.Value(ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			v = cty.DynamicVal
		}
		if _, cyc := values[name]; !cyc {
			values[name] = v
		}
		state[name] = done
	}
	for _, name := range sortedKeys(attrs) {
		visit(name, nil)
	}
	l.ctx.Variables["local"] = cty.ObjectVal(values)
}

func cycleText(stack []string, name string) string {
	start := 0
	for i, s := range stack {
		if s == name {
			start = i
		}
	}
	out := ""
	for _, s := range stack[start:] {
		out += "local." + s + " → "
	}
	return out + "local." + name
}
