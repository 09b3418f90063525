// Package config turns the *.milink.hcl files of a directory into the typed,
// validated Config: variables, locals, functions, references and every block
// of the milink language, with all problems reported at once as HCL
// diagnostics. It imports no driver: nothing here connects anywhere.
package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// FileSuffix is the suffix of the configuration files read from a directory.
const FileSuffix = ".milink.hcl"

// Sources keeps the parsed files (configuration files, variable files and
// command-line values) so diagnostics can be printed with source snippets.
type Sources struct {
	files map[string]*hcl.File
	// secrets are the texts of sensitive values; they are scrubbed from any
	// diagnostic before it is shown.
	secrets []string
	// sensitiveNames are, by file name, names whose values snippets mask
	// although they do not look sensitive: the sensitive variables, in a
	// variable file.
	sensitiveNames map[string]map[string]bool
}

// Files returns the parsed files by file name, for callers that want their
// own diagnostic writer. Prefer WriteDiagnostics: it redacts secrets, in
// messages and in source snippets.
func (s *Sources) Files() map[string]*hcl.File {
	if s == nil {
		return nil
	}
	return s.files
}

// markSensitive records names whose values snippets of file must mask.
func (s *Sources) markSensitive(file string, names []string) {
	if len(names) == 0 {
		return
	}
	if s.sensitiveNames == nil {
		s.sensitiveNames = map[string]map[string]bool{}
	}
	if s.sensitiveNames[file] == nil {
		s.sensitiveNames[file] = map[string]bool{}
	}
	for _, n := range names {
		s.sensitiveNames[file][n] = true
	}
}

// WriteDiagnostics prints diags as HCL does (summary, file:line, snippet,
// detail), after removing every sensitive value from them. Snippets are
// printed from redacted copies of the files: on every line holding a
// sensitive-looking attribute (or one the schema marks sensitive) strings
// and heredocs show as (sensitive), and very long lines are cut.
func (s *Sources) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool, width uint) error {
	var secrets []string
	if s != nil {
		secrets = s.secrets
	}
	red := s.redactedFiles()
	for _, d := range redactDiagnostics(diags, secrets) {
		files := map[string]*hcl.File{}
		if d.Subject != nil {
			if rf := red.get(d.Subject.Filename); rf != nil {
				red.scrubMessages(d, rf)
				files[d.Subject.Filename] = &hcl.File{Bytes: rf.bytes, Nav: fixedContext(red.context(d, rf))}
				subject := rf.rangeOf(*d.Subject)
				d.Subject = &subject
				if d.Context != nil && d.Context.Filename == subject.Filename {
					ctx := rf.rangeOf(*d.Context)
					d.Context = &ctx
				} else {
					d.Context = nil
				}
			}
		}
		wr := hcl.NewDiagnosticTextWriter(w, files, width, color)
		if err := wr.WriteDiagnostic(d); err != nil {
			return fmt.Errorf("writing diagnostics: %w", err)
		}
	}
	return nil
}

// Validate loads the configuration and returns its diagnostics. Loading
// never connects, so validating is loading.
func Validate(dir string, vars Vars) hcl.Diagnostics {
	_, _, diags := Load(dir, vars)
	return diags
}

// Load reads every *.milink.hcl file of dir (in name order), resolves the
// variables from vars, evaluates locals and references and decodes the
// blocks. The Config is nil when there are errors; Sources is always set.
func Load(dir string, vars Vars) (*Config, *Sources, hcl.Diagnostics) {
	l := &loader{
		dir:      dir,
		parser:   hclparse.NewParser(),
		src:      &Sources{files: map[string]*hcl.File{}},
		read:     map[string][]byte{},
		contents: map[string][]byte{},
	}
	cfg := l.load(vars)
	l.diags = l.undeclaredRefs(l.diags)
	l.src.secrets = l.secretList()
	diags := redactDiagnostics(l.diags, l.src.secrets)
	if diags.HasErrors() {
		return nil, l.src, diags
	}
	return cfg, l.src, diags
}

// loader carries the state of one Load.
type loader struct {
	dir    string
	parser *hclparse.Parser
	src    *Sources
	diags  hcl.Diagnostics

	contents map[string][]byte // configuration files by base name
	read     map[string][]byte // files read by file(), by path as given
	secrets  map[string]bool

	vars      map[string]*variable
	varValues map[string]Value
	ctx       *hcl.EvalContext

	localNames []string // declared local values, sorted
}

func (l *loader) addSecret(s string) {
	// Very short secrets would garble every message they were scrubbed
	// from; they are still never printed by our own code.
	if len(s) < 3 {
		return
	}
	if l.secrets == nil {
		l.secrets = map[string]bool{}
	}
	l.secrets[s] = true
}

func (l *loader) secretList() []string {
	out := make([]string, 0, len(l.secrets))
	for s := range l.secrets {
		out = append(out, s)
	}
	// Longest first, so a secret containing another is removed whole.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

func (l *loader) load(vars Vars) *Config {
	files := l.parseDir()
	if files == nil {
		return nil
	}
	body := hcl.MergeFiles(files)
	content, diags := body.Content(rootSchema)
	l.diags = append(l.diags, suggestArguments(diags, rootSchema)...)

	blocks := map[string][]*hcl.Block{}
	for _, b := range content.Blocks {
		if len(b.Labels) == 1 && !validName(b.Labels[0]) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid block name",
				Detail:   fmt.Sprintf("The name %q of this %s block is not valid: a name starts with a letter or underscore and contains only letters, digits, underscores and dashes.", b.Labels[0], b.Type),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		blocks[b.Type] = append(blocks[b.Type], b)
	}

	l.declareVariables(blocks["variable"])
	l.assignVariables(vars)
	l.validateVariables()
	l.ctx = l.baseContext()
	l.evalLocals(blocks["locals"])

	cfg := &Config{Dir: l.dir, files: l.contents, variables: l.varValues, read: l.read}
	l.decodeAll(cfg, blocks)
	return cfg
}

// parseDir parses the configuration files, or reports why there are none.
func (l *loader) parseDir() []*hcl.File {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the configuration directory",
			Detail:   fmt.Sprintf("Reading %s: %s.", l.dir, err),
		})
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), FileSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %s contains no *%s files. Write one, or pick another directory with -chdir.", absDir(l.dir), FileSuffix),
		})
		return nil
	}
	var files []*hcl.File
	for _, name := range names {
		path := filepath.Join(l.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration file",
				Detail:   fmt.Sprintf("Reading %s: %s.", path, err),
			})
			continue
		}
		l.contents[name] = data
		f, diags := l.parser.ParseHCL(data, path)
		l.diags = append(l.diags, diags...)
		if f != nil {
			l.src.files[path] = f
			files = append(files, f)
		}
	}
	return files
}

// absDir names a directory for a message: "." or "sub" says little, and
// "in ." followed by a full stop reads as the parent directory.
func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && (r == '-' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "sql_server", LabelNames: []string{"name"}},
		{Type: "master_key", LabelNames: []string{"name"}},
		{Type: "hadr", LabelNames: []string{"name"}},
		{Type: "startup_trace_flags", LabelNames: []string{"name"}},
		{Type: "database", LabelNames: []string{"name"}},
	},
}

// sensitiveMark marks cty values that come from sensitive variables, so
// that HCL's own diagnostic printer and ours refuse to show them.
type markType string

const sensitiveMark = markType("sensitive")

// unmarked is v without marks, and whether it carried the sensitive mark.
func unmarked(v cty.Value) (cty.Value, bool) {
	if !v.ContainsMarked() {
		return v, false
	}
	u, marks := v.UnmarkDeep()
	_, s := marks[sensitiveMark]
	return u, s || len(marks) > 0
}
