package host

import (
	"fmt"
	"strings"
)

// posixQuote makes s one word, taken literally, for a POSIX shell (sh,
// dash, bash, ksh, zsh): s itself when it has only characters no shell
// treats specially anywhere in a word, otherwise s in single quotes (a
// single quote in s ends the quoted part, is escaped with a backslash,
// and a new quoted part begins). Stricter than CommandText's quoting,
// which is for people: "=" (an assignment as the first word, a path
// expansion at the start of a word in zsh), "%" and "~" are quoted too.
func posixQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,:@+", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// posixCommandLine is argv as one command line for a POSIX shell, each
// argument a literal word. A NUL byte cannot be passed in an argument, so
// an argument with one is an error rather than silently cut short.
func posixCommandLine(argv []string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", fmt.Errorf("argument %d of %s has a NUL byte, which no program can be given", i, CommandText(argv[:1]))
		}
		words[i] = posixQuote(a)
	}
	return strings.Join(words, " "), nil
}
