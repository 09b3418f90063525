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

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
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
func Validate(dir string, reg *resources.Registry, vars Vars) hcl.Diagnostics {
	vars.AllowUnset = true
	_, _, diags := Load(dir, reg, vars)
	return diags
}

// Load reads every *.milink.hcl file of dir (in name order), resolves the
// variables from vars, evaluates locals and references and decodes the
// blocks of the kinds in reg. The Config is nil when there are errors;
// Sources is always set.
func Load(dir string, reg *resources.Registry, vars Vars) (*Config, *Sources, hcl.Diagnostics) {
	l := &loader{
		reg:      reg,
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
	reg    *resources.Registry
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
	schema := l.rootSchema()
	content, diags := body.Content(schema)
	l.diags = append(l.diags, l.suggestBlocks(lang.SuggestArguments(diags, schema))...)

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
	l.validateVariables(vars.AllowUnset)
	l.ctx = l.baseContext()
	l.evalLocals(blocks["locals"])

	cfg := &Config{Dir: l.dir, Registry: l.reg, Validation: vars.AllowUnset, ctx: l.ctx, sink: &lang.Sink{},
		files: l.contents, variables: l.varValues, read: l.read}
	for s := range l.secrets {
		cfg.sink.AddSecret(s)
	}
	var kinds []*hcl.Block
	for _, b := range content.Blocks {
		if l.reg.Kind(b.Type) != nil && (len(b.Labels) != 1 || validName(b.Labels[0])) {
			kinds = append(kinds, b)
		}
	}
	l.decodeBlocks(cfg, kinds)
	cfg.Backend = l.decodeBackend(blocks["backend"])
	for _, s := range cfg.sink.Secrets() {
		l.addSecret(s)
	}
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

// rootSchema is the language's top level: variables, locals and a block
// type per registered kind, each with one label, its name.
func (l *loader) rootSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "backend", LabelNames: []string{"type"}},
	}}
	for _, t := range l.reg.Types() {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: t, LabelNames: []string{"name"}})
	}
	return s
}

// suggestBlocks adds the closest kind to HCL's "Unsupported block type".
func (l *loader) suggestBlocks(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		if d.Summary != "Unsupported block type" || d.Subject == nil || strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		f := l.src.files[d.Subject.Filename]
		if f == nil || d.Subject.End.Byte > len(f.Bytes) || d.Subject.Start.Byte > d.Subject.End.Byte {
			continue
		}
		typ := string(f.Bytes[d.Subject.Start.Byte:d.Subject.End.Byte])
		if s := suggest(typ, append([]string{"variable", "locals", "backend"}, l.reg.Types()...)); s != "" {
			d.Detail += fmt.Sprintf(" Did you mean %q?", s)
		}
	}
	return diags
}

// sensitiveMark marks cty values from sensitive variables.
const sensitiveMark = lang.SensitiveMark

// unmarked is v without marks, and whether it carried the sensitive mark.
func unmarked(v cty.Value) (cty.Value, bool) { return lang.Unmarked(v) }
