package host

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// mssql.conf is an INI file. milink reads two settings from it and, when
// the mssql-conf tool is missing, edits them while keeping every other line
// (comments, unknown sections, spacing) exactly as it was.

var traceflagKey = regexp.MustCompile(`(?i)^traceflag\d+$`)

type confLine struct {
	raw     string // the line as it was, without the trailing "\n"
	section string // lowercased section the line belongs to ("" before any header)
	header  bool
	key     string // lowercased key, "" when the line is not key = value
	value   string
}

func parseConf(b []byte) []confLine {
	var lines []confLine
	if len(b) == 0 {
		return nil
	}
	text := strings.TrimSuffix(string(b), "\n")
	section := ""
	for _, raw := range strings.Split(text, "\n") {
		l := confLine{raw: raw}
		t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		switch {
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			section = strings.ToLower(strings.TrimSpace(t[1 : len(t)-1]))
			l.header = true
		case t == "" || t[0] == '#' || t[0] == ';':
		default:
			if k, v, ok := strings.Cut(t, "="); ok {
				l.key = strings.ToLower(strings.TrimSpace(k))
				l.value = strings.TrimSpace(v)
			}
		}
		l.section = section
		lines = append(lines, l)
	}
	return lines
}

func renderConf(lines []confLine) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseStartup reads the startup settings from mssql.conf's contents. A
// missing key means the default (HADR off, no trace flags).
func ParseStartup(b []byte) (Startup, error) {
	var s Startup
	for i, l := range parseConf(b) {
		switch {
		case l.section == "hadr" && l.key == "hadrenabled":
			switch strings.ToLower(l.value) {
			case "1", "true", "yes", "on":
				s.Hadr = true
			case "0", "false", "no", "off", "":
				s.Hadr = false
			default:
				return Startup{}, fmt.Errorf("line %d: hadr.hadrenabled = %q is neither 0 nor 1", i+1, l.value)
			}
		case l.section == "traceflag" && traceflagKey.MatchString(l.key):
			n, err := strconv.Atoi(l.value)
			if err != nil || n < 1 || n > 32767 {
				return Startup{}, fmt.Errorf("line %d: traceflag %q is not a trace flag number", i+1, l.value)
			}
			s.TraceFlags = append(s.TraceFlags, n)
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
	for i := h + 1; i < len(lines) && !lines[i].header; i++ {
		if strings.TrimSpace(lines[i].raw) != "" {
			end = i + 1
		}
	}
	return end
}

func findHeader(lines []confLine, section string) int {
	for i, l := range lines {
		if l.header && l.section == section {
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
	lines = append(lines, confLine{raw: "[" + section + "]", section: section, header: true})
	return append(lines, add...)
}

// EditHadr returns mssql.conf with [hadr] hadrenabled set, every other line
// unchanged.
func EditHadr(conf []byte, on bool) []byte {
	v := "0"
	if on {
		v = "1"
	}
	lines := parseConf(conf)
	set := confLine{raw: "hadrenabled = " + v, section: "hadr", key: "hadrenabled", value: v}
	// Every occurrence: in a hand-edited file with the key twice, the last
	// one is what is read, so changing only the first would change nothing.
	found := false
	for i, l := range lines {
		if l.section == "hadr" && l.key == "hadrenabled" {
			lines[i] = set
			found = true
		}
	}
	if found {
		return renderConf(lines)
	}
	if h := findHeader(lines, "hadr"); h >= 0 {
		return renderConf(insertAt(lines, sectionEnd(lines, h), set))
	}
	return renderConf(appendSection(lines, "hadr", set))
}

// EditTraceFlags returns mssql.conf whose [traceflag] section lists exactly
// flags (as traceflag0..N, the way mssql-conf writes them), every other line
// unchanged.
func EditTraceFlags(conf []byte, flags []int) []byte {
	flags = SortedFlags(flags)
	lines := parseConf(conf)
	var add []confLine
	for i, f := range flags {
		k := fmt.Sprintf("traceflag%d", i)
		add = append(add, confLine{raw: k + " = " + strconv.Itoa(f), section: "traceflag", key: k, value: strconv.Itoa(f)})
	}
	at := -1
	kept := lines[:0:0]
	for _, l := range lines {
		if l.section == "traceflag" && traceflagKey.MatchString(l.key) {
			if at < 0 {
				at = len(kept)
			}
			continue
		}
		kept = append(kept, l)
	}
	switch {
	case at >= 0:
		kept = insertAt(kept, at, add...)
	case len(add) == 0:
	case findHeader(kept, "traceflag") >= 0:
		kept = insertAt(kept, sectionEnd(kept, findHeader(kept, "traceflag")), add...)
	default:
		kept = appendSection(kept, "traceflag", add...)
	}
	return renderConf(kept)
}

// describeFlags renders "traceflag0 = 1800, traceflag1 = 9567".
func describeFlags(flags []int) string {
	if len(flags) == 0 {
		return "(no trace flags)"
	}
	var b strings.Builder
	for i, f := range flags {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "traceflag%d = %d", i, f)
	}
	return b.String()
}
