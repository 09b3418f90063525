package azure

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseHexBlob: whatever Azure or a user writes, a value read is
// written back as 0x + upper-case hex that reads to the same bytes, and
// the lower-case or unprefixed form reads the same.
func FuzzParseHexBlob(f *testing.F) {
	for _, s := range []string{"0x3082", "3082ab", "0XABCDEF", " 0x00 ", "0x", "", "0xZZ", "0x123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseHexBlob(s)
		if err != nil {
			return
		}
		w := HexBlob(b)
		for _, form := range []string{w, strings.ToLower(w), w[2:]} {
			again, err := ParseHexBlob(form)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("%q → %x → %q → %x (%v)", s, b, form, again, err)
			}
		}
	})
}

// FuzzLinkErrorNumber: the number read is the leading digits, or 0.
func FuzzLinkErrorNumber(f *testing.F) {
	for _, s := range []string{"41973: x", "1412", "", ":", "99999999999999999999: overflow", " 41986 :y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := LinkErrorNumber(s)
		if n < 0 {
			t.Fatalf("%q → %d", s, n)
		}
		if n > 0 && !strings.HasPrefix(strings.TrimSpace(s), strconv.Itoa(n)) && !strings.HasPrefix(strings.TrimLeft(strings.TrimSpace(s), "0"), strconv.Itoa(n)) {
			t.Fatalf("%q → %d", s, n)
		}
		_ = LinkErrorHint(s)
	})
}
