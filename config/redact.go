package config

import (
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// redacted replaces a secret wherever a message would have shown it.
const redacted = "(sensitive value)"

// redactDiagnostics returns copies of diags that cannot show a secret: the
// known secret texts are scrubbed from summaries and details, and the
// expression context ("with var.x as ...") is dropped when any value it
// would print is sensitive, contains a secret, is named like a secret or is
// too long to print. Long quoted values in messages are shortened.
func redactDiagnostics(diags hcl.Diagnostics, secrets []string) hcl.Diagnostics {
	if len(diags) == 0 {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary = ShortenValues(scrub(c.Summary, secrets))
		c.Detail = ShortenValues(scrub(c.Detail, secrets))
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
		// local.password holding a literal is as secret as a password
		// attribute: HCL would print its value.
		for _, step := range tr {
			switch step := step.(type) {
			case hcl.TraverseRoot:
				if sensitiveName(step.Name) {
					return true
				}
			case hcl.TraverseAttr:
				if sensitiveName(step.Name) {
					return true
				}
			}
		}
		v, diags := tr.TraverseAbs(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			continue
		}
		if v.ContainsMarked() {
			return true
		}
		// HCL prints a string whole; a huge one would flood the message.
		if v.Type() == cty.String && !v.IsNull() && len(v.AsString()) > maxQuoted {
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

// maxQuoted is how many characters of a quoted value a message shows.
const maxQuoted = 80

// maxWord is how long a run of characters without a space (a path, a flag)
// a message shows.
const maxWord = 200

// ShortenValues shortens what a message quotes from the user, so that a
// value of 100,000 characters is not echoed in full: the text between
// double quotes is cut to 80 characters, any other run without a space to
// 200, each ending with an ellipsis.
func ShortenValues(msg string) string {
	if len(msg) <= maxQuoted {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		switch {
		case msg[i] == '"':
			// Up to the closing quote, skipping escaped ones (%q).
			j := i + 1
			for j < len(msg) && msg[j] != '"' {
				if msg[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(msg) {
				// No closing quote: not a quoted value.
				b.WriteByte('"')
				i++
				continue
			}
			b.WriteByte('"')
			b.WriteString(clip(msg[i+1:j], maxQuoted, true))
			b.WriteByte('"')
			i = j + 1
		case msg[i] == ' ' || msg[i] == '\n' || msg[i] == '\t':
			b.WriteByte(msg[i])
			i++
		default:
			j := i
			for j < len(msg) && msg[j] != ' ' && msg[j] != '\n' && msg[j] != '\t' && msg[j] != '"' {
				j++
			}
			b.WriteString(clip(msg[i:j], maxWord, false))
			i = j
		}
	}
	return b.String()
}

// clip cuts s to n characters, the last an ellipsis. In quoted text it
// does not leave half an escape sequence's backslash before the quote.
func clip(s string, n int, quoted bool) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)[:n-1]
	if quoted {
		trailing := 0
		for k := len(runes) - 1; k >= 0 && runes[k] == '\\'; k-- {
			trailing++
		}
		if trailing%2 == 1 {
			runes = runes[:len(runes)-1]
		}
	}
	return string(runes) + ellipsis
}
