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
	FormatVersion string `json:"format_version"`
	MilinkVersion string `json:"milink_version"`
	// Valid is given by validate -json only.
	Valid       *bool                   `json:"valid,omitempty"`
	Errors      int                     `json:"error_count"`
	Warnings    int                     `json:"warning_count"`
	Diagnostics []config.JSONDiagnostic `json:"diagnostics"`
}

// jsonReport collects the diagnostics a -json command reports. Its methods
// do nothing on a nil report, so that callers need not know whether -json
// was given.
type jsonReport struct {
	diags []config.JSONDiagnostic
	// stream, for apply -json, receives each diagnostic as an event at
	// once, instead of one document at the end.
	stream *jsonStream
	// validate: the document says whether the configuration is valid.
	validate bool
}

func (r *jsonReport) add(d ...config.JSONDiagnostic) {
	switch {
	case r == nil:
	case r.stream != nil:
		for _, d := range d {
			r.stream.diagnostic(d)
		}
	default:
		r.diags = append(r.diags, d...)
	}
}

// addDiags adds HCL diagnostics, redacted by the sources they point into
// (src may be nil).
func (r *jsonReport) addDiags(src *config.Sources, diags hcl.Diagnostics) {
	if r != nil {
		r.add(src.JSONDiagnostics(diags)...)
	}
}

// write prints the report as one indented JSON document. A failure that
// reported nothing still gets an error, so that error_count is never 0 on
// failure. A stream has already printed its diagnostics: it only adds that
// error, if it reported none.
func (r *jsonReport) write(w io.Writer) {
	if r.stream != nil {
		if r.stream.errorCount() == 0 {
			r.stream.diagnostic(commandFailed)
		}
		return
	}
	r.document(w, false)
}

// commandFailed is the error of a failure that reported no diagnostic.
var commandFailed = config.JSONDiagnostic{Severity: "error", Summary: "The command failed", Detail: "The standard error output says why."}

// document prints the diagnostics as one indented JSON document; valid
// says whether the command succeeded (validate -json).
func (r *jsonReport) document(w io.Writer, valid bool) {
	doc := jsonDiagnostics{FormatVersion: diagnosticsFormatVersion, MilinkVersion: version, Diagnostics: r.diags}
	if r.validate {
		doc.Valid = &valid
	}
	for _, d := range r.diags {
		if d.Severity == "warning" {
			doc.Warnings++
		} else {
			doc.Errors++
		}
	}
	if doc.Errors == 0 && !valid {
		doc.Diagnostics = append(doc.Diagnostics, commandFailed)
		doc.Errors++
	}
	if doc.Diagnostics == nil {
		doc.Diagnostics = []config.JSONDiagnostic{}
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

// streamJSON is reportJSON for a command that streams events (apply
// -json): its diagnostics are events on stdout, the first line of which
// says the stream's version.
func (g *globals) streamJSON(args []string) (settle func(asJSON bool)) {
	if jsonRequested(args) {
		g.json = &jsonReport{stream: newJSONStream(g.io.out)}
	}
	return func(asJSON bool) {
		switch {
		case !asJSON:
			g.json = nil
		case g.json == nil:
			g.json = &jsonReport{stream: newJSONStream(g.io.out)}
		}
	}
}
