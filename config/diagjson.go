package config

import "github.com/hashicorp/hcl/v2"

// JSONDiagnostic is a diagnostic as the -json outputs print it: no source
// snippet, and redacted as WriteDiagnostics redacts the text output.
type JSONDiagnostic struct {
	Severity string     `json:"severity"` // "error" or "warning"
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail"`
	Range    *JSONRange `json:"range,omitempty"` // absent when the diagnostic points at no source
}

// JSONRange is where in which file a diagnostic points.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a file: line and column from 1, byte from 0.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONDiagnostics converts diags for a machine-readable output. Secrets are
// scrubbed from summaries and details as in WriteDiagnostics, long values
// shortened, and a position on a line holding a masked secret is moved to
// the start of that line: its column would tell the secret's length.
func (s *Sources) JSONDiagnostics(diags hcl.Diagnostics) []JSONDiagnostic {
	var secrets []string
	if s != nil {
		secrets = s.secrets
	}
	red := s.redactedFiles()
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range redactDiagnostics(diags, secrets) {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if d.Subject != nil {
			start, end := d.Subject.Start, d.Subject.End
			if rf := red.get(d.Subject.Filename); rf != nil {
				red.scrubMessages(d, rf)
				jd.Summary, jd.Detail = d.Summary, d.Detail
				start, end = rf.hidePos(start), rf.hidePos(end)
			}
			jd.Range = &JSONRange{
				Filename: d.Subject.Filename,
				Start:    JSONPos{Line: start.Line, Column: start.Column, Byte: start.Byte},
				End:      JSONPos{Line: end.Line, Column: end.Column, Byte: end.Byte},
			}
		}
		out = append(out, jd)
	}
	return out
}
