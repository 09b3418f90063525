package config

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Source snippets are the one place a diagnostic prints the configuration
// as written, and a password written literally in a file is on one of its
// lines. Redacting values (redact.go) cannot help there: a misspelt
// `pasword = "..."` or a syntax error is reported before anything knows the
// value is a secret. So snippets are printed from a redacted copy of each
// file, in which every line holding a sensitive-looking attribute has the
// contents of its strings and heredocs replaced by a fixed mask.

// SensitiveAttribute, when set, reports whether an attribute of this name
// holds a secret according to the schema of some kind (the registry of
// kinds sets it). It only adds to the built-in names; nil adds none. It is
// read while printing diagnostics, so set it before, e.g. in an init func.
var SensitiveAttribute func(name string) bool

// sensitiveMask replaces a secret in a snippet. Being fixed, it does not
// tell the secret's length.
const sensitiveMask = "(sensitive)"

// Snippet lines longer than maxSnippetLine bytes are cut after
// snippetLineKeep bytes: a value of 100,000 characters is not echoed.
const (
	maxSnippetLine  = 200
	snippetLineKeep = 160
	ellipsis        = "…"
)

// sensitiveWords are names that hold secrets, with their separators
// removed. A name matches when one of its words, or two or three adjacent
// words joined, is within a small edit distance of one of these (see
// withinTypo), so misspellings such as "pasword" or "passwrd" match too.
var sensitiveWords = []string{
	"password", "passwd", "passphrase", "secret", "token",
	"privatekey", "clientsecret", "accountkey", "accesskey", "apikey",
	"storagekey", "sharedkey", "signingkey", "credential", "credentials",
	"connectionstring",
	// Short ones match exactly (see withinTypo).
	"pfx", "sas", "pwd", "pw", "pass",
}

// sensitiveName reports whether an attribute, key or variable of this name
// is likely to hold a secret.
func sensitiveName(name string) bool {
	if SensitiveAttribute != nil && SensitiveAttribute(name) {
		return true
	}
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '_' || r == '-' || r == '.' || r == ' '
	})
	for i := range words {
		joined := ""
		for j := i; j < len(words) && j < i+3; j++ {
			joined += words[j]
			for _, w := range sensitiveWords {
				if withinTypo(joined, w) {
					return true
				}
			}
		}
	}
	return false
}

// withinTypo reports whether s is w or a likely misspelling of it. Short
// words must match exactly (a "token" one letter off is "taken"), except
// for a plural.
func withinTypo(s, w string) bool {
	if s == w || s == w+"s" {
		return true
	}
	var max int
	switch {
	case len(w) >= 8:
		max = 2
	case len(w) >= 6:
		max = 1
	default:
		return false
	}
	if d := len(s) - len(w); d > max || -d > max {
		return false
	}
	return osaDistance(s, w) <= max
}

// osaDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent letters ("secert") each
// count one.
func osaDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// maskSpan replaces src[start:end] (never a newline) with text.
type maskSpan struct {
	start, end int
	text       string
	cut        bool // a long line cut, not a secret
	out        int  // where text starts in the redacted bytes
}

// redactedFile is a copy of a source file for printing snippets, and the
// map from positions in the original to positions in the copy. Masks
// change lengths but never add or remove a newline, so lines keep their
// numbers.
type redactedFile struct {
	orig       []byte
	bytes      []byte
	spans      []maskSpan  // sorted, disjoint
	lineStarts []int       // byte offset of each line of orig
	firstMask  map[int]int // by 0-based line, where its first secret mask starts
}

// redactSource builds the redacted copy of src. extra are names, beyond
// the sensitive-looking ones, whose values are masked (the sensitive
// variables, in a variable file); secrets are texts masked wherever they
// appear.
func redactSource(src []byte, extra map[string]bool, secrets []string) *redactedFile {
	r := &redactor{src: src, lineStarts: lineStarts(src), secretLine: map[int]bool{}}
	r.toks, r.lexDiags = hclsyntax.LexConfig(src, "", hcl.InitialPos)
	isName := func(name string) bool { return extra[name] || sensitiveName(name) }
	r.findNames(isName)
	r.findDefaults(src)
	r.maskComments(isName)
	r.maskStrings()
	r.maskHeredocs()
	r.maskBadLines(isName)
	r.maskSecrets(secrets)
	return r.finish()
}

type redactor struct {
	src        []byte
	toks       hclsyntax.Tokens
	lexDiags   hcl.Diagnostics
	lineStarts []int
	secretLine map[int]bool // 0-based lines whose strings are masked
	names      map[int]bool // token indexes of sensitive names in key position, kept visible
	spans      []maskSpan
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// line is the 0-based line of byte offset off.
func (r *redactor) line(off int) int {
	return sort.Search(len(r.lineStarts), func(i int) bool { return r.lineStarts[i] > off }) - 1
}

// lineEnd is the offset of the newline ending line l (or the end of src).
func (r *redactor) lineEnd(l int) int {
	if l+1 < len(r.lineStarts) {
		return r.lineStarts[l+1] - 1
	}
	return len(r.src)
}

// markLines marks the lines of src[a:b] as holding a secret.
func (r *redactor) markLines(a, b int) {
	for l := r.line(a); l <= r.line(max(a, b-1)); l++ {
		r.secretLine[l] = true
	}
}

// mask masks src[a:b], line by line, keeping newlines (and a CR before
// one).
func (r *redactor) mask(a, b int) {
	for a < b {
		end := min(b, r.lineEnd(r.line(a)))
		e := end
		if e > a && r.src[e-1] == '\r' {
			e--
		}
		if e > a {
			r.spans = append(r.spans, maskSpan{start: a, end: e, text: sensitiveMask})
		}
		a = end + 1
	}
}

// findNames finds sensitive names (identifiers, and quoted keys before = or
// :): their lines hold a secret, and so do the lines of the value that
// follows; numbers and bare words in that value are masked too (a password
// written without quotes is still a password).
func (r *redactor) findNames(isName func(string) bool) {
	r.names = map[int]bool{}
	toks := r.toks
	for i := 0; i < len(toks); i++ {
		var name string
		next := i + 1
		switch toks[i].Type {
		case hclsyntax.TokenIdent:
			name = string(toks[i].Bytes)
		case hclsyntax.TokenOQuote:
			if i+2 < len(toks) && toks[i+1].Type == hclsyntax.TokenQuotedLit && toks[i+2].Type == hclsyntax.TokenCQuote {
				name, next = string(toks[i+1].Bytes), i+3
			}
		}
		if name == "" || !isName(name) {
			continue
		}
		keyed := next < len(toks) && (toks[next].Type == hclsyntax.TokenEqual || toks[next].Type == hclsyntax.TokenColon)
		if toks[i].Type == hclsyntax.TokenOQuote {
			if !keyed {
				// A block label (variable "sa_password") is a name.
				continue
			}
			r.names[i] = true
		}
		r.markLines(toks[i].Range.Start.Byte, toks[next-1].Range.End.Byte)
		if !keyed {
			continue
		}
		start := next + 1
		// `password =` with the value on the next line is a syntax error
		// whose snippet is that next line.
		for start < len(toks) && toks[start].Type == hclsyntax.TokenNewline {
			start++
		}
		end := valueEnd(toks, start)
		if end > start {
			r.maskValue(toks[start].Range.Start.Byte, toks[end-1].Range.End.Byte)
		}
		i = next
	}
}

// valueEnd is the index of the token just after the expression starting at
// toks[start]: the newline or comma that ends it outside any bracket, or
// the bracket that closes around it.
func valueEnd(toks hclsyntax.Tokens, start int) int {
	depth := 0
	for j := start; j < len(toks); j++ {
		switch toks[j].Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenOQuote:
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCHeredoc, hclsyntax.TokenCQuote:
			depth--
			if depth < 0 {
				return j
			}
		case hclsyntax.TokenQuotedNewline:
			// An unterminated string ends at the end of its line.
			depth--
			if depth <= 0 {
				return j + 1
			}
		case hclsyntax.TokenNewline, hclsyntax.TokenComma:
			if depth == 0 {
				return j
			}
		case hclsyntax.TokenComment:
			if depth == 0 && bytes.HasSuffix(toks[j].Bytes, []byte("\n")) {
				return j + 1
			}
		case hclsyntax.TokenEOF:
			return j
		}
	}
	return len(toks)
}

// maskValue marks the lines of the sensitive value src[a:b] and masks its
// numbers and bare words; strings and heredocs on those lines are masked
// later, with every other string there.
func (r *redactor) maskValue(a, b int) {
	r.markLines(a, b)
	toks := r.toks
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Range.Start.Byte >= a })
	inString := 0
	for ; i < len(toks) && toks[i].Range.End.Byte <= b; i++ {
		t := toks[i]
		switch t.Type {
		case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			inString++
		case hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenQuotedNewline:
			inString--
		case hclsyntax.TokenNumberLit:
			if inString == 0 {
				r.mask(t.Range.Start.Byte, t.Range.End.Byte)
			}
		case hclsyntax.TokenIdent:
			if inString == 0 && bareWord(toks, i) {
				r.mask(t.Range.Start.Byte, t.Range.End.Byte)
			}
		}
	}
}

// bareWord reports whether the identifier toks[i] stands alone: not a
// keyword, not part of a reference (var.x, local.y[0]) nor a function name.
func bareWord(toks hclsyntax.Tokens, i int) bool {
	switch string(toks[i].Bytes) {
	case "true", "false", "null", "for", "in", "if", "endif", "endfor", "else":
		return false
	}
	if i > 0 && toks[i-1].Type == hclsyntax.TokenDot {
		return false
	}
	if i+1 < len(toks) {
		switch toks[i+1].Type {
		case hclsyntax.TokenDot, hclsyntax.TokenOBrack, hclsyntax.TokenOParen:
			return false
		}
	}
	return true
}

// findDefaults masks the default of every variable declared sensitive: its
// name need not look like a secret, the declaration says it is one.
func (r *redactor) findDefaults(src []byte) {
	f, _ := hclsyntax.ParseConfig(src, "", hcl.InitialPos)
	if f == nil {
		return
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return
	}
	for _, b := range body.Blocks {
		if b.Type != "variable" {
			continue
		}
		sens, ok := b.Body.Attributes["sensitive"]
		if !ok {
			continue
		}
		if v, diags := sens.Expr.Value(nil); diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.Bool) || v.False() {
			continue
		}
		if def, ok := b.Body.Attributes["default"]; ok {
			rng := def.Expr.Range()
			r.maskValue(rng.Start.Byte, rng.End.Byte)
		}
	}
}

// maskComments masks comments on secret lines and comments that mention a
// secret (a commented-out password is still a password).
func (r *redactor) maskComments(isName func(string) bool) {
	for _, t := range r.toks {
		if t.Type != hclsyntax.TokenComment {
			continue
		}
		a, b := t.Range.Start.Byte, t.Range.End.Byte
		mentions := false
		for _, w := range strings.FieldsFunc(string(t.Bytes), func(r rune) bool {
			return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			if isName(w) {
				mentions = true
				break
			}
		}
		if !mentions && !r.secretLine[r.line(a)] {
			continue
		}
		r.markLines(a, b)
		// Keep the comment marker, so the line still reads as a comment.
		switch {
		case bytes.HasPrefix(t.Bytes, []byte("#")):
			a++
		case bytes.HasPrefix(t.Bytes, []byte("//")), bytes.HasPrefix(t.Bytes, []byte("/*")):
			a += 2
		}
		if bytes.HasSuffix(t.Bytes, []byte("*/")) {
			b -= 2
		}
		for a < b && (r.src[a] == ' ' || r.src[a] == '\t') {
			a++
		}
		r.mask(a, b)
	}
}

// maskStrings masks the contents of every quoted string that touches a
// secret line, interpolations included, except a key that is itself the
// sensitive name.
func (r *redactor) maskStrings() {
	toks := r.toks
	for i := 0; i < len(toks); i++ {
		if toks[i].Type != hclsyntax.TokenOQuote {
			continue
		}
		depth, j := 0, i+1
	scan:
		for ; j < len(toks); j++ {
			switch toks[j].Type {
			case hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl, hclsyntax.TokenOQuote:
				depth++
			case hclsyntax.TokenTemplateSeqEnd:
				depth--
			case hclsyntax.TokenCQuote:
				if depth == 0 {
					break scan
				}
				depth--
			case hclsyntax.TokenQuotedNewline, hclsyntax.TokenEOF:
				break scan
			}
		}
		if j >= len(toks) {
			j = len(toks) - 1
		}
		a, b := toks[i].Range.End.Byte, toks[j].Range.Start.Byte
		if !r.names[i] && b > a && r.touchesSecretLine(a, b) {
			r.mask(a, b)
		}
		i = j
	}
}

func (r *redactor) touchesSecretLine(a, b int) bool {
	for l := r.line(a); l <= r.line(max(a, b-1)); l++ {
		if r.secretLine[l] {
			return true
		}
	}
	return false
}

// maskHeredocs masks every line of a heredoc that starts on or touches a
// secret line.
func (r *redactor) maskHeredocs() {
	toks := r.toks
	for i := 0; i < len(toks); i++ {
		if toks[i].Type != hclsyntax.TokenOHeredoc {
			continue
		}
		j := i + 1
		for j < len(toks) && toks[j].Type != hclsyntax.TokenCHeredoc && toks[j].Type != hclsyntax.TokenEOF {
			j++
		}
		if j >= len(toks) {
			j = len(toks) - 1
		}
		a, b := toks[i].Range.End.Byte, toks[j].Range.Start.Byte
		if b > a && (r.secretLine[r.line(toks[i].Range.Start.Byte)] || r.touchesSecretLine(a, b)) {
			r.mask(a, b)
		}
		i = j
	}
}

// maskBadLines handles lines the lexer could not make sense of: its tokens
// there cannot be trusted, so every quoted text on them is masked, and on
// such a line holding a sensitive name, everything after the name.
func (r *redactor) maskBadLines(isName func(string) bool) {
	bad := map[int]bool{}
	for _, d := range r.lexDiags {
		if d.Subject != nil {
			for l := r.line(d.Subject.Start.Byte); l <= r.line(max(d.Subject.Start.Byte, d.Subject.End.Byte-1)); l++ {
				bad[l] = true
			}
		}
	}
	for _, t := range r.toks {
		switch t.Type {
		case hclsyntax.TokenInvalid, hclsyntax.TokenBadUTF8, hclsyntax.TokenNil, hclsyntax.TokenQuotedNewline, hclsyntax.TokenBacktick:
			bad[r.line(t.Range.Start.Byte)] = true
		}
	}
	for l := range bad {
		start, end := r.lineStarts[l], r.lineEnd(l)
		line := r.src[start:end]
		// Quoted texts, by the quotes alone.
		for i := 0; i < len(line); i++ {
			if line[i] != '"' {
				continue
			}
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			r.mask(start+i+1, start+min(j, len(line)))
			i = j
		}
		// After a sensitive name, everything.
		for i := 0; i < len(line); {
			if !isWordByte(line[i]) {
				i++
				continue
			}
			j := i
			for j < len(line) && isWordByte(line[j]) {
				j++
			}
			if isName(string(line[i:j])) {
				for j < len(line) && (line[j] == ' ' || line[j] == '\t' || line[j] == '=' || line[j] == ':') {
					j++
				}
				// Every run of characters but quotes, so that the line
				// keeps its shape: password = "(sensitive)" (sensitive).
				for j < len(line) {
					if c := line[j]; c == ' ' || c == '\t' || c == '"' || c == '\r' {
						j++
						continue
					}
					k := j
					for k < len(line) && line[k] != ' ' && line[k] != '\t' && line[k] != '"' && line[k] != '\r' {
						k++
					}
					r.mask(start+j, start+k)
					j = k
				}
				r.secretLine[l] = true
				break
			}
			i = j
		}
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// maskSecrets masks every occurrence of a known secret text, wherever it
// was written.
func (r *redactor) maskSecrets(secrets []string) {
	for _, s := range secrets {
		if len(s) < 3 {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(r.src[off:], []byte(s))
			if i < 0 {
				break
			}
			r.markLines(off+i, off+i+len(s))
			r.mask(off+i, off+i+len(s))
			off += i + len(s)
		}
	}
}

// finish merges the spans, cuts long lines and builds the redacted bytes.
func (r *redactor) finish() *redactedFile {
	spans := mergeSpans(r.spans)
	firstMask := map[int]int{}
	for _, s := range spans {
		if l := r.line(s.start); !hasKey(firstMask, l) {
			firstMask[l] = s.start
		}
	}
	// Cut lines still long once masked after snippetLineKeep bytes of
	// what is printed, past any mask the cut would fall into; masks
	// beyond the cut go with it.
	var cuts []maskSpan
	k := 0
	for l := range r.lineStarts {
		start, end := r.lineStarts[l], r.lineEnd(l)
		if end > start && r.src[end-1] == '\r' {
			end--
		}
		for k < len(spans) && spans[k].end <= start {
			k++
		}
		var line []maskSpan
		for j := k; j < len(spans) && spans[j].start < end; j++ {
			line = append(line, spans[j])
		}
		printed := end - start
		for _, s := range line {
			printed += len(s.text) - (s.end - s.start)
		}
		if printed <= maxSnippetLine {
			continue
		}
		at, n := start, 0
		for at < end && n < snippetLineKeep {
			if len(line) > 0 && line[0].start == at {
				n += len(line[0].text)
				at = line[0].end
				line = line[1:]
				continue
			}
			next := end
			if len(line) > 0 {
				next = line[0].start
			}
			step := min(next-at, snippetLineKeep-n)
			at, n = at+step, n+step
		}
		for at > start && at < end && !utf8.RuneStart(r.src[at]) {
			at--
		}
		if at < end {
			cuts = append(cuts, maskSpan{start: at, end: end, text: ellipsis, cut: true})
		}
	}
	if len(cuts) > 0 {
		kept := spans[:0:0]
		for _, s := range spans {
			inCut := false
			for _, c := range cuts {
				if s.start >= c.start && s.end <= c.end {
					inCut = true
					break
				}
			}
			if !inCut {
				kept = append(kept, s)
			}
		}
		spans = append(kept, cuts...)
		sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	}
	var out bytes.Buffer
	out.Grow(len(r.src))
	prev := 0
	for i := range spans {
		out.Write(r.src[prev:spans[i].start])
		spans[i].out = out.Len()
		out.WriteString(spans[i].text)
		prev = spans[i].end
	}
	out.Write(r.src[prev:])
	return &redactedFile{orig: r.src, bytes: out.Bytes(), spans: spans, lineStarts: r.lineStarts, firstMask: firstMask}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// mergeSpans sorts spans and joins those that overlap or touch into one
// mask: two masks side by side would tell where one secret ends.
func mergeSpans(spans []maskSpan) []maskSpan {
	if len(spans) == 0 {
		return nil
	}
	sorted := append([]maskSpan(nil), spans...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].start < sorted[j].start })
	out := []maskSpan{sorted[0]}
	for _, s := range sorted[1:] {
		last := &out[len(out)-1]
		if s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		out = append(out, s)
	}
	return out
}

// offset maps a byte offset of the original to the redacted copy. A
// position inside a mask maps to the mask's start, or its end for the end
// of a range, so a highlighted secret highlights the whole mask.
func (f *redactedFile) offset(off int, isEnd bool) int {
	k := sort.Search(len(f.spans), func(i int) bool { return f.spans[i].start > off }) - 1
	if k < 0 {
		return off
	}
	s := f.spans[k]
	switch {
	case off == s.start:
		return s.out
	case off < s.end:
		if isEnd {
			return s.out + len(s.text)
		}
		return s.out
	default:
		return s.out + len(s.text) + off - s.end
	}
}

// pos maps a position of the original to the redacted copy.
func (f *redactedFile) pos(p hcl.Pos, isEnd bool) hcl.Pos {
	if p.Byte < 0 || p.Byte > len(f.orig) {
		return p
	}
	b := f.offset(p.Byte, isEnd)
	line := sort.Search(len(f.lineStarts), func(i int) bool { return f.lineStarts[i] > p.Byte }) - 1
	ls := f.offset(f.lineStarts[line], false)
	col := 1
	if ls <= b && b <= len(f.bytes) {
		col += utf8.RuneCount(f.bytes[ls:b])
	}
	return hcl.Pos{Line: line + 1, Column: col, Byte: b}
}

func (f *redactedFile) rangeOf(r hcl.Range) hcl.Range {
	return hcl.Range{Filename: r.Filename, Start: f.pos(r.Start, false), End: f.pos(r.End, true)}
}

// maskedTexts are the original texts of the masks on lines first..last
// (1-based; 0 for last means to the end of the file), longest first, for
// scrubbing from messages: HCL quotes what it could not parse ("There is
// no variable named ...", a block label), and on these lines that may be
// the secret.
func (f *redactedFile) maskedTexts(first, last int) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range f.spans {
		if s.cut || s.end-s.start < 3 {
			continue
		}
		line := sort.Search(len(f.lineStarts), func(i int) bool { return f.lineStarts[i] > s.start })
		if line < first || (last > 0 && line > last) {
			continue
		}
		t := string(f.orig[s.start:s.end])
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// hidePos replaces a position past a masked secret on its line with the
// start of the line: its column or byte offset would tell how long what
// came before it was, secret included.
func (f *redactedFile) hidePos(p hcl.Pos) hcl.Pos {
	if p.Byte < 0 || p.Byte > len(f.orig) {
		return p
	}
	line := sort.Search(len(f.lineStarts), func(i int) bool { return f.lineStarts[i] > p.Byte }) - 1
	first, ok := f.firstMask[line]
	if !ok || p.Byte <= first {
		return p
	}
	return hcl.Pos{Line: line + 1, Column: 1, Byte: f.lineStarts[line]}
}

// redactedFiles builds, once per file and only for the files diagnostics
// point into, the copies snippets are printed from.
type redactedFiles struct {
	src   *Sources
	cache map[string]*redactedFile
}

func (s *Sources) redactedFiles() *redactedFiles {
	return &redactedFiles{src: s, cache: map[string]*redactedFile{}}
}

// get is the redacted copy of the named file, nil when its source is not
// known.
func (r *redactedFiles) get(name string) *redactedFile {
	if r.src == nil {
		return nil
	}
	if f, ok := r.cache[name]; ok {
		return f
	}
	var rf *redactedFile
	if f := r.src.files[name]; f != nil && f.Bytes != nil {
		if v, ok := valueFileVariable(name); ok && sensitiveName(v) {
			// The whole "file" is the value of a variable named like a
			// secret, though not declared sensitive.
			red := &redactor{src: f.Bytes, lineStarts: lineStarts(f.Bytes)}
			red.mask(0, len(f.Bytes))
			rf = red.finish()
		} else {
			rf = redactSource(f.Bytes, r.src.sensitiveNames[name], r.src.secrets)
		}
	}
	r.cache[name] = rf
	return rf
}

// valueFileVariable is the variable whose -var or environment value the
// pseudo-file name ("<value for var.NAME>", see setRaw) holds.
func valueFileVariable(file string) (string, bool) {
	rest, ok := strings.CutPrefix(file, "<value for var.")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(strings.TrimSuffix(rest, ">"), " ")
	return name, name != ""
}

// scrubMessages removes from d's summary and detail the masked texts of
// the lines d points at.
func (r *redactedFiles) scrubMessages(d *hcl.Diagnostic, rf *redactedFile) {
	first, last := d.Subject.Start.Line, d.Subject.End.Line
	if d.Context != nil && d.Context.Filename == d.Subject.Filename {
		first, last = min(first, d.Context.Start.Line), max(last, d.Context.End.Line)
	}
	texts := rf.maskedTexts(first, max(first, last))
	d.Summary = scrub(d.Summary, texts)
	d.Detail = scrub(d.Detail, texts)
}

// context names the block d's subject is in ("sql_server \"s1\""), as
// HCL's snippet header does, from the original file's syntax tree, without
// any masked text of the file (a label may be a secret written where a
// value was meant).
func (r *redactedFiles) context(d *hcl.Diagnostic, rf *redactedFile) string {
	nav, ok := r.src.files[d.Subject.Filename].Nav.(contextStringer)
	if !ok {
		return ""
	}
	where := nav.ContextString(d.Subject.Start.Byte)
	if where == "" {
		return ""
	}
	return ShortenValues(scrub(scrub(where, r.src.secrets), rf.maskedTexts(1, 0)))
}

// fixedContext is an hcl.File navigator that names the block a snippet is
// in; the redacted copy has no syntax tree of its own, so the name is
// taken from the original beforehand.
type fixedContext string

func (c fixedContext) ContextString(int) string { return string(c) }

type contextStringer interface {
	ContextString(offset int) string
}
