package tds

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// replyOf runs fn against a response whose packets land in a buffer and
// returns the token bytes of the whole reply.
func replyOf(t *testing.T, rpc bool, fn func(w *response)) []byte {
	t.Helper()
	var out bytes.Buffer
	s := NewServer(nil, Options{ServerName: "S"})
	c := &conn{srv: s, pw: packetWriter{w: &out, size: 512}}
	w := &response{c: c, ctx: context.Background(), rpc: rpc}
	fn(w)
	if !w.finish(true) {
		t.Fatal("finish failed")
	}
	m, err := readMessage(&out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes after the end of message", out.Len())
	}
	return m.body
}

func done(tok byte, status uint16, curCmd uint16, rows uint64) []byte {
	d := doneToken(tok, status, curCmd, rows)
	return d[:]
}

func TestDoneSequencing(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		rpc  bool
		fn   func(w *response)
		want []byte // suffix of the reply
	}{
		{"nothing written", false, func(w *response) {}, done(tokDone, 0, 0, 0)},
		{"two statements", false, func(w *response) { w.Done(1); w.Done(2) },
			cat(done(tokDone, doneMore|doneCount, 0, 1), done(tokDone, doneCount, 0, 2))},
		{"no count", false, func(w *response) { w.Done(-1) }, done(tokDone, 0, 0, 0)},
		{"error without done", false, func(w *response) { w.Error(Message{Number: 1, Text: "x"}) }, done(tokDone, doneError, 0, 0)},
		{"error then done", false, func(w *response) { w.Error(Message{Number: 1}); w.Done(-1) }, done(tokDone, doneError, 0, 0)},
		{"result set left open", false, func(w *response) { w.Columns([]Column{{Type: Int}}); w.Row(1) },
			done(tokDone, doneCount, curCmdSelect, 1)},
		{"info after done", false, func(w *response) { w.Done(5); w.Info(Message{Text: "hi"}) }, done(tokDone, 0, 0, 0)},
		{"rpc", true, func(w *response) { w.Done(3) },
			cat(done(tokDoneInProc, doneMore|doneCount, 0, 3), []byte{tokReturnStatus, 0, 0, 0, 0}, done(tokDoneProc, 0, 0, 0))},
		{"rpc with status", true, func(w *response) { w.ReturnStatus(-6) },
			cat([]byte{tokReturnStatus, 0xFA, 0xFF, 0xFF, 0xFF}, done(tokDoneProc, 0, 0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replyOf(t, tc.rpc, tc.fn)
			if !bytes.HasSuffix(got, tc.want) {
				t.Errorf("reply ends %x\nwant        %x", got[max(0, len(got)-len(tc.want)):], tc.want)
			}
		})
	}
}

func TestFlushAndPacketSplit(t *testing.T) {
	var out bytes.Buffer
	s := NewServer(nil, Options{})
	c := &conn{srv: s, pw: packetWriter{w: &out, size: 512}}
	w := &response{c: c, ctx: context.Background()}
	w.Info(Message{Text: "progress"})
	w.Done(1)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// One non-final packet holding the INFO and the DONE, MORE set.
	if out.Len() == 0 || out.Bytes()[1] != 0 {
		t.Fatalf("flush wrote %x", out.Bytes())
	}
	if !bytes.HasSuffix(out.Bytes(), done(tokDone, doneMore|doneCount, 0, 1)) {
		t.Fatalf("flushed DONE lacks MORE: %x", out.Bytes())
	}
	w.Columns([]Column{{Name: "s", Type: NVarChar, Size: -1}})
	w.Row(strings.Repeat("x", 3000)) // 6000 bytes: many 512-byte packets
	w.finish(true)
	for b := out.Bytes(); len(b) > 0; {
		n := int(b[2])<<8 | int(b[3])
		last := len(b) == n
		if last != (b[1] == statusEOM) {
			t.Fatalf("packet status %d, last=%v", b[1], last)
		}
		if n > 512 {
			t.Fatalf("packet of %d bytes exceeds 512", n)
		}
		b = b[n:]
	}
}

func TestWriterErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		col  Column
		val  any
	}{
		{"int out of range", Column{Type: Int}, int64(1) << 40},
		{"tinyint negative", Column{Type: TinyInt}, -1},
		{"int from string", Column{Type: Int}, "1"},
		{"bit from int", Column{Type: Bit}, 1},
		{"nvarchar too long", Column{Type: NVarChar, Size: 3}, "abcd"},
		{"varbinary too long", Column{Type: VarBinary, Size: 2}, []byte{1, 2, 3}},
		{"varbinary from string", Column{Type: VarBinary, Size: 2}, "ab"},
		{"varchar too long", Column{Type: VarChar, Size: 2}, "€é☃"},
		{"varchar from bytes", Column{Type: VarChar, Size: 2}, []byte{1}},
		{"decimal too many digits", Column{Type: Decimal, Size: 3}, 1234},
		{"decimal fraction", Column{Type: Decimal, Size: 10}, "1.5"},
		{"decimal garbage", Column{Type: Decimal, Size: 10}, "x"},
		{"datetime too early", Column{Type: DateTime}, time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"guid wrong length", Column{Type: UniqueIdentifier}, []byte{1}},
		{"variant struct", Column{Type: Variant}, struct{}{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, err := normalize(tc.col)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := appendValue(nil, col, tc.val); err == nil {
				t.Errorf("value %#v accepted for %s", tc.val, typeName(col.Type))
			}
		})
	}
	if _, err := normalize(Column{Type: Type(99)}); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestValueEncodings(t *testing.T) {
	for _, tc := range []struct {
		name string
		col  Column
		val  any
		want []byte
	}{
		{"decimal lsn", Column{Type: Decimal, Size: 25}, "98000000012345600001",
			[]byte{13, 1, 0x01, 0xE8, 0x22, 0xF4, 0xC8, 0xF0, 0x05, 0x50, 0x05, 0, 0, 0}},
		{"decimal negative", Column{Type: Decimal, Size: 5}, -258, []byte{5, 0, 2, 1, 0, 0}},
		{"decimal zero fraction", Column{Type: Decimal, Size: 5}, "7.00", []byte{5, 1, 7, 0, 0, 0}},
		{"smallint", Column{Type: SmallInt}, -2, []byte{2, 0xFE, 0xFF}},
		{"datetime epoch", Column{Type: DateTime}, time.Date(1900, 1, 2, 0, 0, 1, 0, time.UTC), []byte{8, 1, 0, 0, 0, 44, 1, 0, 0}},
		{"nvarchar surrogate", Column{Type: NVarChar, Size: 2}, "😀", []byte{4, 0, 0x3D, 0xD8, 0x00, 0xDE}},
		{"nvarchar max empty", Column{Type: NVarChar, Size: -1}, "", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"varchar cp1252", Column{Type: VarChar, Size: 10}, "€é☃", []byte{3, 0, 0x80, 0xE9, '?'}},
		{"variant int", Column{Type: Variant}, 5, []byte{6, 0, 0, 0, tyInt4, 0, 5, 0, 0, 0}},
		{"null plp", Column{Type: VarBinary, Size: -1}, nil, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"varchar full", Column{Type: VarChar, Size: 2}, "ab", []byte{2, 0, 'a', 'b'}},
		{"varchar max", Column{Type: VarChar, Size: -1}, "ab", []byte{2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0}},
		{"varbinary", Column{Type: VarBinary, Size: 3}, []byte{7, 8}, []byte{2, 0, 7, 8}},
		{"varbinary empty", Column{Type: VarBinary, Size: 3}, []byte{}, []byte{0, 0}},
		{"varbinary max", Column{Type: VarBinary, Size: -1}, []byte{7}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, err := normalize(tc.col)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendValue(nil, col, tc.val)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got  %x\nwant %x", got, tc.want)
			}
		})
	}
}

func TestDateTimeRoundTrip(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(1753, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 997_000_000, time.UTC),
		time.Date(9999, 12, 31, 12, 0, 0, 3_000_000, time.UTC),
	} {
		b, err := encodeDateTime(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeDateTime(b); !got.Equal(want) {
			t.Errorf("datetime %v came back as %v", want, got)
		}
		b2, err := encodeDateTime2(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeTimeType(tyDateTime2N, 7, b2)
		if err != nil || !got.(time.Time).Equal(want) {
			t.Errorf("datetime2 %v came back as %v, %v", want, got, err)
		}
	}
}
