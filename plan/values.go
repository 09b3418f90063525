package plan

import (
	"encoding/json"
	"reflect"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
)

// toCty converts an attribute value of a change (JSON-friendly Go values)
// to cty, through JSON so that numbers and lists take their usual shapes.
func toCty(v any) cty.Value {
	data, err := json.Marshal(v)
	if err != nil {
		return cty.DynamicVal
	}
	ty, err := ctyjson.ImpliedType(data)
	if err != nil {
		return cty.DynamicVal
	}
	val, err := ctyjson.Unmarshal(data, ty)
	if err != nil {
		return cty.DynamicVal
	}
	return val
}

// fromCty is the reverse, for the values a saved plan keeps.
func fromCty(v cty.Value) any {
	if !v.IsWhollyKnown() || v.ContainsMarked() {
		return nil
	}
	data, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil
	}
	return out
}

// blockValue is what other blocks see of a block: its arguments as written
// (evaluated with the values known so far), overlaid with extra
// attributes (a target's observations, a resource's planned attributes)
// and unknown ones.
func blockValue(cfg *config.Config, b *config.Block, values map[string]cty.Value, extra map[string]cty.Value, unknown []string) cty.Value {
	attrs := map[string]cty.Value{}
	as, _ := b.Body.JustAttributes()
	ctx := cfg.EvalContext(b, values)
	for name, a := range as {
		if name == b.Kind.TargetAttr {
			continue // a reference to the target, not a value of the block
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			v = cty.DynamicVal
		}
		attrs[name] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	for _, k := range unknown {
		attrs[k] = cty.DynamicVal
	}
	return cty.ObjectVal(attrs)
}

// changeValues are a change's planned attributes as cty, sensitive ones left out.
func changeValues(ch *resources.Change) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range ch.After {
		if ch.IsSensitive(k) {
			continue
		}
		out[k] = toCty(v)
	}
	return out
}

// sameValue compares attribute values that may have made a round trip
// through JSON (numbers become float64, lists []any).
func sameValue(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = float64(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func diagErr(summary, detail string, rng *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng}
}
