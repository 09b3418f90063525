package sqlserver

import (
	"errors"
	"strings"
	"testing"
)

// token is what a tiny T-SQL tokenizer sees: enough to prove that a quoted
// value comes back as exactly one token holding exactly the value.
type token struct {
	kind string // "ident", "string", "word", "punct"
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '[':
			var b strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(s) {
					return nil, errors.New("unterminated [identifier]")
				}
				if s[j] == ']' {
					if j+1 < len(s) && s[j+1] == ']' {
						b.WriteByte(']')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			out = append(out, token{"ident", b.String()})
			i = j + 1
		case c == 'N' && i+1 < len(s) && s[i+1] == '\'':
			var b strings.Builder
			j := i + 2
			for ; ; j++ {
				if j >= len(s) {
					return nil, errors.New("unterminated string")
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			out = append(out, token{"string", b.String()})
			i = j + 1
		case c == ';' || c == '=' || c == ',' || c == '(' || c == ')' || c == '\'' || c == ']':
			out = append(out, token{"punct", string(c)})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \n\t;=,()[]'", rune(s[j])) {
				j++
			}
			out = append(out, token{"word", s[i:j]})
			i = j
		}
	}
	return out, nil
}

func checkQuoted(t *testing.T, s string) {
	t.Helper()
	stmt := "ALTER DATABASE " + QuoteIdent(s) + " SET RECOVERY FULL; CREATE MASTER KEY ENCRYPTION BY PASSWORD = " + QuoteString(s) + ";"
	toks, err := tokenize(stmt)
	if err != nil {
		t.Fatalf("%q: %v in %s", s, err, stmt)
	}
	want := []token{{"word", "ALTER"}, {"word", "DATABASE"}, {"ident", s}, {"word", "SET"}, {"word", "RECOVERY"}, {"word", "FULL"}, {"punct", ";"},
		{"word", "CREATE"}, {"word", "MASTER"}, {"word", "KEY"}, {"word", "ENCRYPTION"}, {"word", "BY"}, {"word", "PASSWORD"}, {"punct", "="}, {"string", s}, {"punct", ";"}}
	if len(toks) != len(want) {
		t.Fatalf("%q: %d tokens %v, want %d", s, len(toks), toks, len(want))
	}
	for i := range want {
		if toks[i] != want[i] {
			t.Fatalf("%q: token %d = %+v, want %+v", s, i, toks[i], want[i])
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, ident, str string }{
		{"sales", "[sales]", "N'sales'"},
		{"a]b", "[a]]b]", "N'a]b'"},
		{"it's", "[it's]", "N'it''s'"},
		{"", "[]", "N''"},
		{"]]'';--", "[]]]]'';--]", "N']]'''';--'"},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.in); got != tt.ident {
			t.Errorf("QuoteIdent(%q) = %s, want %s", tt.in, got, tt.ident)
		}
		if got := QuoteString(tt.in); got != tt.str {
			t.Errorf("QuoteString(%q) = %s, want %s", tt.in, got, tt.str)
		}
		checkQuoted(t, tt.in)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"sales", "a]b", "it's", "", "[x]", "N'", "'; DROP DATABASE x; --", "ü]]''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkQuoted(t, s)
	})
}
