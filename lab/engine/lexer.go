package engine

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a T-SQL token.
type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // bare identifier or keyword (text as written)
	tQIdent         // [quoted] or "quoted" identifier (text unquoted)
	tString         // 'literal' (text unquoted); nstr marks N'...'
	tNumber         // 123, 1.5
	tBinary         // 0x0A0B
	tVar            // @name
	tGVar           // @@name
	tOp             // punctuation and operators
)

type token struct {
	kind  tokKind
	text  string // unquoted value for strings and quoted identifiers
	raw   string // source text of the token
	pos   int    // byte offset of the token in the source
	end   int    // byte offset just past the token
	nstr  bool
	space bool // preceded by white space or a comment (used to find "GO" lines)
}

// is reports whether t is the bare keyword kw (case-insensitive).
func (t token) is(kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (t token) isOp(op string) bool { return t.kind == tOp && t.text == op }

// lex splits src into tokens. A lexical error (unterminated literal,
// identifier or comment) is returned as a SQL Server message.
func lex(src string) ([]token, *sqlError) {
	var toks []token
	i := 0
	space := true
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			i++
			space = true
			continue
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			space = true
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			// T-SQL block comments nest.
			depth := 0
			j := i
			for j < len(src) {
				if strings.HasPrefix(src[j:], "/*") {
					depth++
					j += 2
					continue
				}
				if strings.HasPrefix(src[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
					continue
				}
				j++
			}
			if depth != 0 {
				return nil, errf(113, 15, "Missing end comment mark '*/'.")
			}
			i = j
			space = true
			continue
		}
		start := i
		tok := token{pos: start, space: space}
		space = false
		switch {
		case (c == 'N' || c == 'n') && i+1 < len(src) && src[i+1] == '\'':
			s, n, ok := scanQuoted(src[i+1:], '\'', '\'')
			if !ok {
				return nil, unclosed(src[i+2:])
			}
			tok.kind, tok.text, tok.nstr = tString, s, true
			i += 1 + n
		case c == '\'':
			s, n, ok := scanQuoted(src[i:], '\'', '\'')
			if !ok {
				return nil, unclosed(src[i+1:])
			}
			tok.kind, tok.text = tString, s
			i += n
		case c == '[':
			s, n, ok := scanQuoted(src[i:], '[', ']')
			if !ok {
				return nil, unclosed(src[i+1:])
			}
			tok.kind, tok.text = tQIdent, s
			i += n
		case c == '"':
			s, n, ok := scanQuoted(src[i:], '"', '"')
			if !ok {
				return nil, unclosed(src[i+1:])
			}
			tok.kind, tok.text = tQIdent, s
			i += n
		case c == '0' && i+1 < len(src) && (src[i+1] == 'x' || src[i+1] == 'X'):
			j := i + 2
			for j < len(src) && isHex(src[j]) {
				j++
			}
			tok.kind, tok.text = tBinary, src[i+2:j]
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					for k < len(src) && src[k] >= '0' && src[k] <= '9' {
						k++
					}
					j = k
				}
			}
			tok.kind, tok.text = tNumber, src[i:j]
			i = j
		case c == '@':
			j := i + 1
			kind := tVar
			if j < len(src) && src[j] == '@' {
				j++
				kind = tGVar
			}
			k := j
			for k < len(src) {
				r, sz := utf8.DecodeRuneInString(src[k:])
				if !isIdentRune(r) {
					break
				}
				k += sz
			}
			tok.kind, tok.text = kind, src[i:k]
			i = k
		case isIdentStart(c, src[i:]):
			j := i
			for j < len(src) {
				r, sz := utf8.DecodeRuneInString(src[j:])
				if !isIdentRune(r) {
					break
				}
				j += sz
			}
			tok.kind, tok.text = tIdent, src[i:j]
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "<>", "!=", "<=", ">=", "!<", "!>", "+=", "-=", "*=", "/=", "::":
				tok.kind, tok.text = tOp, two
				i += 2
			default:
				r, sz := utf8.DecodeRuneInString(src[i:])
				if strings.ContainsRune("(),.;=<>+-*/%&|^~:", r) {
					tok.kind, tok.text = tOp, string(r)
					i += sz
				} else {
					return nil, errf(102, 15, "Incorrect syntax near '%s'.", string(r))
				}
			}
		}
		tok.end = i
		tok.raw = src[start:i]
		toks = append(toks, tok)
	}
	toks = append(toks, token{kind: tEOF, pos: len(src), end: len(src), space: true})
	return toks, nil
}

// scanQuoted reads a literal that starts with open at s[0] and ends with
// close, where a doubled close stands for one. It returns the unquoted
// text and the number of bytes consumed.
func scanQuoted(s string, open, close byte) (string, int, bool) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		if s[i] == close {
			if i+1 < len(s) && s[i+1] == close {
				b.WriteByte(close)
				i += 2
				continue
			}
			return b.String(), i + 1, true
		}
		b.WriteByte(s[i])
		i++
	}
	return "", 0, false
}

func unclosed(rest string) *sqlError {
	e := errf(105, 15, "Unclosed quotation mark after the character string '%s'.", rest)
	e.also = errf(102, 15, "Incorrect syntax near '%s'.", rest)
	return e
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isIdentStart(c byte, s string) bool {
	if c == '_' || c == '#' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	if c >= utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(s)
		return unicode.IsLetter(r)
	}
	return false
}

func isIdentRune(r rune) bool {
	return r == '_' || r == '#' || r == '$' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// QuoteIdent returns name as a bracketed T-SQL identifier.
func QuoteIdent(name string) string {
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}

// QuoteString returns s as an N'...' T-SQL literal.
func QuoteString(s string) string {
	return "N'" + strings.ReplaceAll(s, "'", "''") + "'"
}
