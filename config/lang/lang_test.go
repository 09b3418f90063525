package lang

import (
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var testSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "s"}, {Name: "n"}, {Name: "null"}, {Name: "unknown"}, {Name: "secret"}, {Name: "list"}, {Name: "enc"}, {Name: "address"},
}}

// body parses src and reads it with var.known (a string), var.unknown
// (unknown) and var.secret (a sensitive string).
func body(t *testing.T, src string, final bool) (*Body, *Sink) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"known":   cty.StringVal("k"),
		"unknown": cty.UnknownVal(cty.String),
		"secret":  cty.StringVal("Hunter2-Secret").Mark(SensitiveMark),
	})}}
	sink := &Sink{}
	return Decode(sink, f.Body, testSchema, ctx, hcl.Range{Filename: "t.hcl"}, final), sink
}

func TestValueStatus(t *testing.T) {
	b, sink := body(t, `
s       = var.known
n       = "x"
null    = null
unknown = var.unknown
secret  = var.secret
`, false)
	tests := []struct {
		name string
		ty   cty.Type
		want Status
	}{
		{"s", cty.String, Good},
		{"n", cty.Number, Failed},
		{"null", cty.String, Null},
		{"unknown", cty.String, Unknown},
		{"secret", cty.String, Good},
		{"absent", cty.String, Absent},
	}
	for _, tt := range tests {
		if _, _, st := b.Value(tt.name, tt.ty, false); st != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, st, tt.want)
		}
	}
	if !b.Unknown("unknown") || b.Unknown("s") {
		t.Error("Unknown")
	}
	if len(sink.Diags) != 1 || sink.Diags[0].Summary != "Incorrect attribute value type" || sink.Diags[0].Subject.Start.Line != 3 {
		t.Errorf("diags %v", sink.Diags)
	}
	// A value from a sensitive variable is remembered for scrubbing and
	// never quoted.
	if got := sink.Secrets(); !reflect.DeepEqual(got, []string{"Hunter2-Secret"}) {
		t.Errorf("secrets %v", got)
	}
	if q := b.Quote("secret", "Hunter2-Secret"); q != "the sensitive value given" {
		t.Errorf("quote %q", q)
	}
}

// When planning (final) every value must be known.
func TestFinalUnknown(t *testing.T) {
	b, sink := body(t, "unknown = var.unknown\n", true)
	if got := b.Str("unknown", "def", false); got != "def" {
		t.Errorf("got %q", got)
	}
	if len(sink.Diags) != 1 || sink.Diags[0].Summary != "Value not known when planning" {
		t.Errorf("diags %v", sink.Diags)
	}
}

// The readers skip their checks on unknown values instead of reporting
// false errors, and report on the attribute otherwise.
func TestReaders(t *testing.T) {
	b, sink := body(t, `
s       = ""
enc     = var.secret
unknown = var.unknown
list    = ["a", null]
n       = 70000
address = var.unknown
`, false)
	if got := b.Required("address", false, "here"); got != "" || len(sink.Diags) != 0 {
		t.Errorf("Required on unknown: %q %v", got, sink.Diags)
	}
	b.Required("s", false, "in a test block")
	if got := b.OneOf("unknown", "d", "a", "b"); got != "d" {
		t.Errorf("OneOf unknown: %q", got)
	}
	b.OneOf("enc", "d", "Hunter2-Secreta")
	b.StrList("list", nil)
	b.Int("n", 1, 1, 65535)
	var got []string
	for _, d := range sink.Diags {
		got = append(got, d.Summary+": "+d.Detail)
	}
	want := []string{
		`Missing required argument: The argument "s" is required in a test block and must be neither empty nor null.`,
		`Invalid value: The argument "enc" must be one of "Hunter2-Secreta"; the sensitive value given is not.`,
		`Invalid value: The elements of "list" must not be null.`,
		`Invalid value: The argument "n" must be a whole number from 1 to 65535.`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diags:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSinkSecrets(t *testing.T) {
	s := &Sink{}
	for _, x := range []string{"ab", "abcd", "abcdef", "xyz", "abcd"} {
		s.AddSecret(x)
	}
	// Too short to scrub: "ab". Longest first, so a secret containing
	// another goes whole.
	if got := s.Secrets(); !reflect.DeepEqual(got, []string{"abcdef", "abcd", "xyz"}) {
		t.Errorf("secrets %v", got)
	}
}

func TestHelpers(t *testing.T) {
	if got := QuoteList([]string{"a", "b", "c"}); got != `"a", "b" or "c"` {
		t.Errorf("QuoteList %s", got)
	}
	if got := QuoteList([]string{"a"}); got != `"a"` {
		t.Errorf("QuoteList one %s", got)
	}
	if got := QuoteShort(strings.Repeat("x", 100)); !strings.HasSuffix(got, "… (100 characters)") {
		t.Errorf("QuoteShort %s", got)
	}
	if got := Suggest("databse", []string{"database", "hadr"}); got != "database" {
		t.Errorf("Suggest %q", got)
	}
	if got := Suggest("zzzzzz", []string{"database"}); got != "" {
		t.Errorf("Suggest far %q", got)
	}
	for _, tc := range []struct {
		f    *big.Float
		ok   bool
		want int
	}{
		{big.NewFloat(3), true, 3},
		{big.NewFloat(1.5), false, 0},
		{big.NewFloat(-1), false, 0},
		{big.NewFloat(1e30), false, 0},
	} {
		if got, ok := WholeNumber(tc.f, 0, 10); ok != tc.ok || got != tc.want {
			t.Errorf("WholeNumber(%v) = %d, %v", tc.f, got, ok)
		}
	}
	if got := PathString(cty.GetAttrPath("a").IndexString("k").IndexInt(2)); got != `a["k"][2]` {
		t.Errorf("PathString %s", got)
	}
	if got := ValueText(cty.ListVal([]cty.Value{cty.NumberIntVal(1)})); got != "[1]" {
		t.Errorf("ValueText %s", got)
	}
	if got := ValueText(cty.UnknownVal(cty.String)); got != "" {
		t.Errorf("ValueText unknown %q", got)
	}
	if v, marked := Unmarked(cty.StringVal("x").Mark(SensitiveMark)); !marked || v.IsMarked() {
		t.Error("Unmarked")
	}
}
