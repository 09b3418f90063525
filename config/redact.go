package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// redacted replaces a secret wherever a message would have shown it.
const redacted = "(sensitive value)"

// redactDiagnostics returns copies of diags that cannot show a secret: the
// known secret texts are scrubbed from summaries and details, and the
// expression context ("with var.x as ...") is dropped when any value it
// would print is sensitive or contains a secret.
func redactDiagnostics(diags hcl.Diagnostics, secrets []string) hcl.Diagnostics {
	if len(diags) == 0 {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary = scrub(c.Summary, secrets)
		c.Detail = scrub(c.Detail, secrets)
		if c.Expression != nil && c.EvalContext != nil && exprShowsSecret(c.Expression, c.EvalContext, secrets) {
			c.Expression, c.EvalContext = nil, nil
		}
		out[i] = &c
	}
	return out
}

func scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// exprShowsSecret reports whether printing the values the expression refers
// to could reveal a sensitive value.
func exprShowsSecret(expr hcl.Expression, ctx *hcl.EvalContext, secrets []string) bool {
	for _, tr := range expr.Variables() {
		v, diags := tr.TraverseAbs(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			continue
		}
		if v.ContainsMarked() {
			return true
		}
		js, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return true // cannot tell, so do not show it
		}
		for _, secret := range secrets {
			if strings.Contains(string(js), secret) || strings.Contains(string(js), jsonEscaped(secret)) {
				return true
			}
		}
	}
	return false
}

func jsonEscaped(s string) string {
	b, err := ctyjson.Marshal(cty.StringVal(s), cty.StringVal(s).Type())
	if err != nil || len(b) < 2 {
		return s
	}
	return string(b[1 : len(b)-1])
}
