package main

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
)

// diagnosticsFormatVersion versions the document a -json command prints
// when it fails; the major part changes only with an incompatible change.
const diagnosticsFormatVersion = "1.0"

// jsonDiagnostics is what `plan -json` and `show -json` print on stdout
// instead of a plan when they fail, so that a pipeline always gets a
// document it can parse. The text of the errors still goes to stderr.
type jsonDiagnostics struct {
	FormatVersion string                  `json:"format_version"`
	MilinkVersion string                  `json:"milink_version"`
	Errors        int                     `json:"error_count"`
	Warnings      int                     `json:"warning_count"`
	Diagnostics   []config.JSONDiagnostic `json:"diagnostics"`
}

// jsonReport collects the diagnostics a -json command reports. Its methods
// do nothing on a nil report, so that callers need not know whether -json
// was given.
type jsonReport struct {
	diags []config.JSONDiagnostic
}

func (r *jsonReport) add(d ...config.JSONDiagnostic) {
	if r != nil {
		r.diags = append(r.diags, d...)
	}
}

// addDiags adds HCL diagnostics, redacted by the sources they point into
// (src may be nil).
func (r *jsonReport) addDiags(src *config.Sources, diags hcl.Diagnostics) {
	if r != nil {
		r.diags = append(r.diags, src.JSONDiagnostics(diags)...)
	}
}

// write prints the report as one indented JSON document. A failure that
// reported nothing still gets an error, so that error_count is never 0 on
// failure.
func (r *jsonReport) write(w io.Writer) {
	doc := jsonDiagnostics{FormatVersion: diagnosticsFormatVersion, MilinkVersion: version, Diagnostics: r.diags}
	for _, d := range r.diags {
		if d.Severity == "warning" {
			doc.Warnings++
		} else {
			doc.Errors++
		}
	}
	if doc.Errors == 0 {
		doc.Diagnostics = append(doc.Diagnostics, config.JSONDiagnostic{Severity: "error", Summary: "The command failed", Detail: "The standard error output says why."})
		doc.Errors++
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// File names such as <value for var.x> read better unescaped.
	enc.SetEscapeHTML(false)
	// An error here means stdout is gone; there is nowhere left to say so.
	_ = enc.Encode(doc)
}

// jsonRequested reports whether args ask for -json. It is a guess made
// before the flags are parsed, so that a flag error is reported as JSON
// too; once they parse, the flag itself decides.
func jsonRequested(args []string) bool {
	want := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		want = true
		if hasVal {
			want, _ = strconv.ParseBool(val)
		}
	}
	return want
}

// reportJSON makes g collect, for printing as JSON, what the command with
// these arguments reports, when they ask for -json; settle then follows
// the parsed flag.
func (g *globals) reportJSON(args []string) (settle func(asJSON bool)) {
	if jsonRequested(args) {
		g.json = &jsonReport{}
	}
	return func(asJSON bool) {
		switch {
		case !asJSON:
			g.json = nil
		case g.json == nil:
			g.json = &jsonReport{}
		}
	}
}
