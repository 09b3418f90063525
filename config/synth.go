package config

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// synthBody is the body of a block an expansion added (Kind.Expand): its
// attributes are expressions of the expanded block, or static values, and
// it has no nested blocks. It answers the hcl.Body calls the loader and the
// decoder make, so a part is checked, referenced and evaluated exactly as a
// written block.
type synthBody struct {
	attrs hcl.Attributes
	rng   hcl.Range // the expanded block's declaration
}

func newSynthBody(s resources.Synth, rng hcl.Range) *synthBody {
	b := &synthBody{attrs: hcl.Attributes{}, rng: rng}
	for name, e := range s.Attrs {
		b.attrs[name] = &hcl.Attribute{Name: name, Expr: e, Range: e.Range(), NameRange: e.Range()}
	}
	return b
}

func (b *synthBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, rest, diags := b.PartialContent(schema)
	for _, name := range rest.(*synthBody).names() {
		// A kind's expansion wrote an argument the part does not take: a
		// programming error, reported rather than hidden.
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected here (it was added by the block's expansion).", name),
			Subject:  b.attrs[name].Range.Ptr(),
		})
	}
	return c, diags
}

func (b *synthBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: b.rng}
	rest := &synthBody{attrs: hcl.Attributes{}, rng: b.rng}
	for n, a := range b.attrs {
		rest.attrs[n] = a
	}
	var diags hcl.Diagnostics
	for _, as := range schema.Attributes {
		if a, ok := b.attrs[as.Name]; ok {
			c.Attributes[as.Name] = a
			delete(rest.attrs, as.Name)
		} else if as.Required {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but the block's expansion did not set it.", as.Name),
				Subject:  b.rng.Ptr(),
			})
		}
	}
	return c, rest, diags
}

func (b *synthBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) { return b.attrs, nil }

func (b *synthBody) MissingItemRange() hcl.Range { return b.rng }

func (b *synthBody) names() []string {
	out := make([]string, 0, len(b.attrs))
	for n := range b.attrs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
