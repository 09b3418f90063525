package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
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
// configparser): "[section]" headers, "key = value" or "key: value" lines,
// whole-line comments starting with '#' or ';'. Option names are
// case-insensitive (configparser lower-cases them); section names are not.
func parseMSSQLConf(data []byte) (startupSettings, error) {
	var s startupSettings
	flags := map[int]bool{}
	section := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return s, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return s, fmt.Errorf("line %d: expected \"key = value\", got %q", n, line)
		}
		key := strings.ToLower(strings.TrimSpace(line[:i]))
		value := strings.TrimSpace(line[i+1:])
		if section == "" {
			return s, fmt.Errorf("line %d: %q is outside any [section]", n, key)
		}
		full := section + "." + key
		if seen[full] {
			// configparser (strict) refuses duplicate options; so do we.
			return s, fmt.Errorf("line %d: option %q in section [%s] already exists", n, key, section)
		}
		seen[full] = true
		switch {
		case section == "hadr" && key == "hadrenabled":
			switch value {
			case "0":
				s.Hadr = false
			case "1":
				s.Hadr = true
			default:
				return s, fmt.Errorf("line %d: [hadr] hadrenabled = %q: want 0 or 1", n, value)
			}
		case section == "traceflag" && strings.HasPrefix(key, "traceflag"):
			if _, err := strconv.Atoi(strings.TrimPrefix(key, "traceflag")); err != nil {
				return s, fmt.Errorf("line %d: [traceflag] option %q: want traceflagN", n, key)
			}
			f, err := strconv.Atoi(value)
			if err != nil || f <= 0 {
				return s, fmt.Errorf("line %d: [traceflag] %s = %q: not a trace flag number", n, key, value)
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
