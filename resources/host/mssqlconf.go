package host

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// mssql.conf is the INI file mssql-conf writes with Python's configparser:
// "[section]" headers, "key = value" or "key: value" lines (the first '='
// or ':' separates them), whole-line comments starting with '#' or ';'.
// Option names are case-insensitive (configparser lower-cases them);
// section names are read as written. Trace flags are [traceflag] options
// named traceflagN, or traceflag, as Microsoft's sample file shows:
//
//	[traceflag]
//	traceflag0 = 1204
//	traceflag = 3456
//
// milink reads two settings from it and, when the mssql-conf tool is
// missing, edits them in place, keeping every other line (comments,
// unknown sections, spacing) exactly as it was. The lab reads the same
// file with its own reader (lab/conf.go); both pass the cases in
// testdata/startup-cases.json.

// traceflagKey is a [traceflag] option that names a startup trace flag.
var traceflagKey = regexp.MustCompile(`^traceflag[0-9]*$`)

var digits = regexp.MustCompile(`^[0-9]+$`)

type lineKind int

const (
	lineBlank   lineKind = iota // blank or a comment
	lineHeader                  // [section]
	lineOption                  // key = value, key: value
	lineInvalid                 // anything else; kept as written when editing
)

type confLine struct {
	raw     string // the line as it was, without the trailing "\n"
	text    string // raw trimmed (and without a byte order mark on line 1)
	kind    lineKind
	section string // section as written between the brackets ("" before any header)
	key     string // option name, trimmed and lower-cased
	value   string // trimmed
	// vstart and vend locate value in raw, so that it can be changed in
	// place whatever the line's spacing and delimiter.
	vstart, vend int
}

func parseConf(b []byte) []confLine {
	if len(b) == 0 {
		return nil
	}
	var lines []confLine
	section := ""
	for i, raw := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		l := confLine{raw: raw, kind: lineInvalid}
		body := raw
		if i == 0 {
			body = strings.TrimPrefix(body, "\ufeff")
		}
		lead := len(raw) - len(strings.TrimLeftFunc(body, unicode.IsSpace))
		t := strings.TrimSpace(body)
		l.text = t
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
			l.kind = lineBlank
		case t[0] == '[':
			if len(t) > 2 && strings.HasSuffix(t, "]") {
				section = t[1 : len(t)-1]
				l.kind = lineHeader
			}
		default:
			if d := strings.IndexAny(t, "=:"); d >= 0 {
				l.key = strings.ToLower(strings.TrimSpace(t[:d]))
				rest := t[d+1:]
				l.value = strings.TrimSpace(rest)
				l.vstart = lead + d + 1 + len(rest) - len(strings.TrimLeftFunc(rest, unicode.IsSpace))
				l.vend = l.vstart + len(l.value)
				if l.key != "" {
					l.kind = lineOption
				}
			}
		}
		l.section = section
		lines = append(lines, l)
	}
	return lines
}

func (l *confLine) is(section, key string) bool {
	return l.kind == lineOption && l.section == section && l.key == key
}

func (l *confLine) isTraceFlag() bool {
	return l.kind == lineOption && l.section == "traceflag" && traceflagKey.MatchString(l.key)
}

// setValue changes the value in place, keeping the key as written, the
// delimiter and the spacing.
func (l *confLine) setValue(v string) {
	l.raw = l.raw[:l.vstart] + v + l.raw[l.vend:]
	l.value = v
	l.vend = l.vstart + len(v)
}

func newOption(section, key, value string) confLine {
	raw := key + " = " + value
	return confLine{raw: raw, kind: lineOption, section: section, key: key, value: value, vstart: len(raw) - len(value), vend: len(raw)}
}

func renderConf(lines []confLine) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseTraceFlag reads a trace flag number: digits only, 1-32767.
func parseTraceFlag(s string) (int, bool) {
	if !digits.MatchString(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 32767
}

// ParseStartup reads the startup settings from mssql.conf's contents. A
// missing key means the default (HADR off, no trace flags). What mssql-conf
// would refuse (a line outside any section, a line that is not an option,
// an option twice in a section) is refused, and so is a section that
// differs from [hadr] or [traceflag] only by case or spaces: mssql-conf
// reads it as another section, and which of the two SQL Server reads is
// not documented, so milink does not guess.
func ParseStartup(b []byte) (Startup, error) {
	var s Startup
	seen := map[[2]string]int{}
	for i, l := range parseConf(b) {
		n := i + 1
		t := l.text
		switch {
		case l.kind == lineBlank:
			continue
		case l.kind == lineHeader:
			for _, want := range []string{"hadr", "traceflag"} {
				if l.section != want && strings.EqualFold(strings.TrimSpace(l.section), want) {
					return Startup{}, fmt.Errorf("line %d: section [%s] is not [%s]: section names are read as written; rename it [%s]", n, l.section, want, want)
				}
			}
			continue
		case t[0] == '[':
			return Startup{}, fmt.Errorf("line %d: malformed section header %q", n, t)
		case l.section == "":
			return Startup{}, fmt.Errorf("line %d: %q is outside any [section]", n, t)
		case l.kind != lineOption:
			return Startup{}, fmt.Errorf(`line %d: %q is neither "key = value" nor "key: value"`, n, t)
		}
		id := [2]string{l.section, l.key}
		if first, dup := seen[id]; dup {
			return Startup{}, fmt.Errorf("line %d: option %q in section [%s] already exists (line %d); remove one of them", n, l.key, l.section, first)
		}
		seen[id] = n
		switch {
		case l.is("hadr", "hadrenabled"):
			switch l.value {
			case "0":
				s.Hadr = false
			case "1":
				s.Hadr = true
			default:
				return Startup{}, fmt.Errorf("line %d: [hadr] hadrenabled = %q is neither 0 nor 1", n, l.value)
			}
		case l.section == "traceflag" && strings.HasPrefix(l.key, "traceflag"):
			if !traceflagKey.MatchString(l.key) {
				return Startup{}, fmt.Errorf("line %d: [traceflag] option %q is neither traceflag nor traceflagN", n, l.key)
			}
			f, ok := parseTraceFlag(l.value)
			if !ok {
				return Startup{}, fmt.Errorf("line %d: [traceflag] %s = %q is not a trace flag number (1-32767)", n, l.key, l.value)
			}
			s.TraceFlags = append(s.TraceFlags, f)
		}
	}
	s.TraceFlags = SortedFlags(s.TraceFlags)
	return s, nil
}

// SortedFlags returns the flags sorted and without duplicates.
func SortedFlags(flags []int) []int {
	out := append([]int(nil), flags...)
	sort.Ints(out)
	j := 0
	for i, f := range out {
		if i == 0 || f != out[j-1] {
			out[j] = f
			j++
		}
	}
	return out[:j]
}

// sectionEnd is the index after the last non-blank line of the section
// whose header is at h.
func sectionEnd(lines []confLine, h int) int {
	end := h + 1
	for i := h + 1; i < len(lines) && lines[i].kind != lineHeader; i++ {
		if strings.TrimSpace(lines[i].raw) != "" {
			end = i + 1
		}
	}
	return end
}

func findHeader(lines []confLine, section string) int {
	for i, l := range lines {
		if l.kind == lineHeader && l.section == section {
			return i
		}
	}
	return -1
}

func insertAt(lines []confLine, i int, add ...confLine) []confLine {
	out := make([]confLine, 0, len(lines)+len(add))
	out = append(out, lines[:i]...)
	out = append(out, add...)
	return append(out, lines[i:]...)
}

func appendSection(lines []confLine, section string, add ...confLine) []confLine {
	if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1].raw) != "" {
		lines = append(lines, confLine{})
	}
	lines = append(lines, confLine{raw: "[" + section + "]", kind: lineHeader, section: section})
	return append(lines, add...)
}

// addToSection puts add at the end of the first [section], or in a new
// [section] at the end of the file.
func addToSection(lines []confLine, section string, add ...confLine) []confLine {
	if h := findHeader(lines, section); h >= 0 {
		return insertAt(lines, sectionEnd(lines, h), add...)
	}
	return appendSection(lines, section, add...)
}

// EditHadr returns mssql.conf with [hadr] hadrenabled set: changed in place
// when it is there (whatever its spelling, delimiter and spacing), added to
// [hadr] otherwise. Never a second copy: further copies of the option in a
// hand-edited file are removed. Every other line is unchanged.
func EditHadr(conf []byte, on bool) []byte {
	v := boolDigit(on)
	lines := parseConf(conf)
	out := lines[:0:0]
	found := false
	for _, l := range lines {
		if l.is("hadr", "hadrenabled") {
			if found {
				continue
			}
			l.setValue(v)
			found = true
		}
		out = append(out, l)
	}
	if !found {
		out = addToSection(out, "hadr", newOption("hadr", "hadrenabled", v))
	}
	return renderConf(out)
}

// EditTraceFlags returns mssql.conf whose [traceflag] section lists exactly
// flags. A line already naming one of them stays as written (traceflagN or
// traceflag, '=' or ':'); a line naming another flag, or a flag a line
// above already names, is removed; a missing flag is added as traceflagN
// (the way mssql-conf writes them) after the last kept line, N above every
// number in use. Every other line is unchanged.
func EditTraceFlags(conf []byte, flags []int) []byte {
	flags = SortedFlags(flags)
	want := map[int]bool{}
	for _, f := range flags {
		want[f] = true
	}
	kept := map[int]bool{}
	next := 0
	at := -1 // where added lines go: after the last kept line, else where the first removed one was
	var out []confLine
	for _, l := range parseConf(conf) {
		if !l.isTraceFlag() {
			out = append(out, l)
			continue
		}
		if f, ok := parseTraceFlag(l.value); ok && want[f] && !kept[f] {
			kept[f] = true
			if n, err := strconv.Atoi(strings.TrimPrefix(l.key, "traceflag")); err == nil && n >= next {
				next = n + 1
			}
			out = append(out, l)
			at = len(out)
			continue
		}
		if at < 0 {
			at = len(out)
		}
	}
	var add []confLine
	for _, f := range flags {
		if !kept[f] {
			add = append(add, newOption("traceflag", "traceflag"+strconv.Itoa(next), strconv.Itoa(f)))
			next++
		}
	}
	switch {
	case len(add) == 0:
	case at >= 0:
		out = insertAt(out, at, add...)
	default:
		out = addToSection(out, "traceflag", add...)
	}
	return renderConf(out)
}

// describeFlags renders the trace flags [traceflag] will list after an edit.
func describeFlags(flags []int) string {
	if len(flags) == 0 {
		return "no trace flags"
	}
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = strconv.Itoa(f)
	}
	return "trace flags " + strings.Join(parts, ", ") + " (lines already there kept as written)"
}
