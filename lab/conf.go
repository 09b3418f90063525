package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// startupSettings is what an instance reads from its configuration when it
// starts: the HADR switch and the startup trace flags.
type startupSettings struct {
	Hadr       bool
	TraceFlags []int
}

// readMSSQLConf reads the settings SQL Server on Linux takes from mssql.conf
// at start. A missing file or key means the default (HADR off, no flags).
//
// This is deliberately our own small reader, independent of the writer milink
// uses on real hosts, so that each checks the other: if milink writes a file
// this reader does not understand, the lab refuses to start, like a server
// that would not pick the setting up.
func readMSSQLConf(path string) (startupSettings, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return startupSettings{}, nil
	}
	if err != nil {
		return startupSettings{}, fmt.Errorf("read mssql.conf: %w", err)
	}
	s, err := parseMSSQLConf(data)
	if err != nil {
		return startupSettings{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// parseMSSQLConf parses the INI dialect mssql-conf writes (Python's
// configparser): "[section]" headers, "key = value" or "key: value" lines
// (the first '=' or ':' separates them), whole-line comments starting with
// '#' or ';'. Option names are case-insensitive (configparser lower-cases
// them); section names are read as written. Trace flags are [traceflag]
// options named traceflagN or traceflag (Microsoft's sample mssql.conf has
// "traceflag = 3456" beside "traceflag0 = 1204").
//
// What configparser refuses is refused: a line outside any section, a line
// that is not an option, an option twice in a section. So is a section that
// differs from [hadr] or [traceflag] only by case or spaces: configparser
// reads it as another section, and which one SQL Server reads is not
// documented. milink's reader (resources/host) reads the same way; both
// pass the cases in resources/host/testdata/startup-cases.json.
func parseMSSQLConf(data []byte) (startupSettings, error) {
	var s startupSettings
	flags := map[int]bool{}
	inSection := false
	section := ""
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if len(line) < 3 || !strings.HasSuffix(line, "]") {
				return s, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			section, inSection = line[1:len(line)-1], true
			for _, known := range []string{"hadr", "traceflag"} {
				if section != known && strings.EqualFold(strings.TrimSpace(section), known) {
					return s, fmt.Errorf("line %d: section [%s] is not [%s]: section names are read as written", n, section, known)
				}
			}
			continue
		}
		if !inSection {
			return s, fmt.Errorf("line %d: %q is outside any [section]", n, line)
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 || strings.TrimSpace(line[:i]) == "" {
			return s, fmt.Errorf("line %d: %q is neither \"key = value\" nor \"key: value\"", n, line)
		}
		key := strings.ToLower(strings.TrimSpace(line[:i]))
		value := strings.TrimSpace(line[i+1:])
		full := section + "\x00" + key
		if first, dup := seen[full]; dup {
			// configparser (strict) refuses duplicate options; so do we.
			return s, fmt.Errorf("line %d: option %q in section [%s] already exists (line %d)", n, key, section, first)
		}
		seen[full] = n
		switch {
		case section == "hadr" && key == "hadrenabled":
			switch value {
			case "0":
				s.Hadr = false
			case "1":
				s.Hadr = true
			default:
				return s, fmt.Errorf("line %d: [hadr] hadrenabled = %q is neither 0 nor 1", n, value)
			}
		case section == "traceflag" && strings.HasPrefix(key, "traceflag"):
			if !isTraceFlagOption(key) {
				return s, fmt.Errorf("line %d: [traceflag] option %q is neither traceflag nor traceflagN", n, key)
			}
			f, ok := traceFlagNumber(value)
			if !ok {
				return s, fmt.Errorf("line %d: [traceflag] %s = %q is not a trace flag number (1-32767)", n, key, value)
			}
			flags[f] = true
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	s.TraceFlags = sortedFlags(flags)
	return s, nil
}

// isTraceFlagOption: "traceflag" or "traceflag" and digits.
func isTraceFlagOption(key string) bool {
	for _, r := range strings.TrimPrefix(key, "traceflag") {
		if r < '0' || r > '9' {
			return false
		}
	}
	return strings.HasPrefix(key, "traceflag")
}

// traceFlagNumber reads a trace flag: ASCII digits only, 1-32767.
func traceFlagNumber(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	f := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		if f = f*10 + int(r-'0'); f > 32767 {
			return 0, false
		}
	}
	return f, f >= 1
}

func sortedFlags(m map[int]bool) []int {
	if len(m) == 0 {
		return nil
	}
	out := make([]int, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Ints(out)
	return out
}

// mssqlConfHeader is what a new lab instance's mssql.conf contains: a comment
// and no settings, so every setting is the default until someone sets it.
const mssqlConfHeader = `# mssql.conf of a milink lab instance (simulated SQL Server on Linux).
# The instance reads [hadr] hadrenabled and [traceflag] traceflagN from this
# file when it starts and when it restarts ("milink lab restart NAME"), and only then.
`
