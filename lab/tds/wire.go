package tds

import (
	"encoding/binary"
	"errors"
	"unicode/utf16"
)

// errShort is the sticky error of a reader that ran past the end of its
// input: the client sent a message shorter than its own fields claim.
var errShort = errors.New("tds: message truncated")

// reader decodes little-endian fields from one client message. Every read is
// bounds-checked and a failure is sticky, so parsers can read a whole
// structure and check err once instead of panicking on malformed input.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) remaining() int { return len(r.b) - r.pos }

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.remaining() {
		r.err = errShort
		return nil
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v
}

func (r *reader) u8() uint8 {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() uint16 {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// ucs2 reads n UTF-16 code units.
func (r *reader) ucs2(n int) string {
	b := r.bytes(2 * n)
	if b == nil {
		return ""
	}
	return decodeUCS2(b)
}

// bvarchar reads a B_VARCHAR: a byte count of UTF-16 units, then the text.
func (r *reader) bvarchar() string { return r.ucs2(int(r.u8())) }

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// appendUCS2 appends s as UTF-16LE; lengths on the wire count UTF-16 code
// units, not runes, so callers use utf16Len for the prefix.
func appendUCS2(dst []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		dst = append(dst, byte(u), byte(u>>8))
	}
	return dst
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		// Ranging over a string never yields a surrogate (invalid UTF-8
		// becomes U+FFFD), so RuneLen is always 1 or 2 here.
		n += utf16.RuneLen(r)
	}
	return n
}

// truncUnits cuts s to at most max UTF-16 code units without splitting a
// surrogate pair.
func truncUnits(s string, max int) string {
	n := 0
	for i, r := range s {
		l := utf16.RuneLen(r)
		if n+l > max {
			return s[:i]
		}
		n += l
	}
	return s
}

func appendU16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }
func appendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }
func appendU64(dst []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(dst, v) }

// appendBVarChar appends a B_VARCHAR, truncating to 255 units.
func appendBVarChar(dst []byte, s string) []byte {
	s = truncUnits(s, 255)
	dst = append(dst, byte(utf16Len(s)))
	return appendUCS2(dst, s)
}

// appendUSVarChar appends a US_VARCHAR, truncating to 65535 units.
func appendUSVarChar(dst []byte, s string) []byte {
	s = truncUnits(s, 0xFFFF)
	dst = appendU16(dst, uint16(utf16Len(s)))
	return appendUCS2(dst, s)
}
