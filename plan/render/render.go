// Package render turns a plan.Plan and a state into text for people
// (Terraform-like) and JSON for machines. Views are where secrets would
// leak, so every value passes through one formatter that prints
// "(sensitive)" for attributes a change marks sensitive and for anything
// that looks like a fingerprint, and strips terminal control characters
// from what servers and drivers hand over.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/milink/milink/resources"
)

// Options shape human output.
type Options struct {
	// Color enables ANSI colours (see UseColor).
	Color bool
	// Verbose adds each change's steps (exact T-SQL and commands), the
	// unchanged attributes of updates, and drift details.
	Verbose bool
	// Width, when positive, is the terminal width; a rule that wide
	// separates the server headers from the changes.
	Width int
}

// UseColor decides whether output to f gets colours: not with -no-color,
// not when NO_COLOR is set to anything (https://no-color.org), not on a
// dumb terminal, and only when f is a terminal.
func UseColor(noColorFlag bool, f *os.File) bool {
	if noColorFlag || f == nil {
		return false
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// printer accumulates output; views write it in one go so that a failing
// writer is not half-written line by line.
type printer struct {
	b strings.Builder
	o Options
}

func (p *printer) color(code, s string) string {
	if !p.o.Color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p *printer) bold(s string) string { return p.color(ansiBold, s) }

func (p *printer) line(format string, args ...any) {
	fmt.Fprintf(&p.b, format, args...)
	p.b.WriteByte('\n')
}

func (p *printer) flush(w io.Writer) { _, _ = io.WriteString(w, p.b.String()) }

// symbol is the coloured one-character marker of an action.
func (p *printer) symbol(a resources.Action) string {
	s := a.Symbol()
	switch a {
	case resources.Create:
		return p.color(ansiGreen, s)
	case resources.Update:
		return p.color(ansiYellow, s)
	case resources.Delete:
		return p.color(ansiRed, s)
	case resources.Forget:
		return p.color(ansiMagenta, s)
	case resources.Restart:
		return p.color(ansiCyan, s)
	}
	return s
}

var fingerprintRE = regexp.MustCompile(`hmac-sha256:[0-9a-fA-F]+`)

// looksSensitive catches a fingerprint in an attribute a driver forgot to
// mark sensitive: views print neither secrets nor their fingerprints.
func looksSensitive(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "hmac-sha256:")
}

// sensitiveAttr reports whether a view must hide attribute k of a change.
func sensitiveAttr(c *resources.Change, k string) bool {
	return c.IsSensitive(k) || looksSensitive(c.Before[k]) || looksSensitive(c.After[k])
}

// formatValue renders a JSON-friendly value in HCL-like syntax. Strings
// are quoted with Go escapes, which also neutralises control characters
// (a database name cannot repaint the terminal).
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if looksSensitive(x) {
			return resources.Redacted
		}
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return formatValue(float64(x))
	case json.Number:
		return x.String()
	case time.Time:
		return strconv.Quote(x.UTC().Format(time.RFC3339))
	case map[string]any:
		if len(x) == 0 {
			return "{}"
		}
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + formatValue(x[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = formatValue(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	}
	return strconv.Quote(fmt.Sprint(v))
}

// equalValues compares attribute values as their JSON, so that 1800 and
// 1800.0 (a value before and after a JSON round trip) are equal.
func equalValues(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// splitAddr turns "database.sales" into ("database", "sales").
func splitAddr(addr string) (kind, name string) {
	if i := strings.IndexByte(addr, '.'); i >= 0 {
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

// cleanText keeps newlines and tabs and drops every other control
// character (escape sequences above all) from text shown to people.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// scrubStep removes from a step's text anything sensitive the change
// knows about: the values of its sensitive attributes and any
// fingerprint. Drivers already redact steps; this is the second line.
func scrubStep(c *resources.Change, text string) string {
	for _, m := range []map[string]any{c.Before, c.After} {
		for k, v := range m {
			if s, ok := v.(string); ok && len(s) >= 4 && sensitiveAttr(c, k) {
				text = strings.ReplaceAll(text, s, resources.Redacted)
			}
		}
	}
	return fingerprintRE.ReplaceAllString(text, resources.Redacted)
}

func stepLabel(kind string) string {
	switch kind {
	case "tsql":
		return "T-SQL"
	case "command":
		return "command"
	case "file":
		return "file edit"
	case "wait":
		return "wait"
	}
	return kind
}
