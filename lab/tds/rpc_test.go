package tds

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestTransactionManagerThroughDriver: go-mssqldb's BeginTx, Commit and
// Rollback send transaction manager requests; the ENVCHANGEs come back.
func TestTransactionManagerThroughDriver(t *testing.T) {
	h := newTestHandler()
	_, addr := startServer(t, h, Options{})
	db := openDB(t, addr, "")
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "select 1"); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatalf("commit=%v: %v", commit, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	kinds := []TMKind{}
	for _, r := range h.tms {
		kinds = append(kinds, r.Kind)
	}
	if len(kinds) != 4 || kinds[0] != TMBegin || kinds[1] != TMCommit || kinds[2] != TMBegin || kinds[3] != TMRollback || h.tms[0].Isolation != 4 {
		t.Errorf("transaction manager requests %+v", h.tms)
	}
}

// TestReturnValueThroughDriver: an OUTPUT parameter reaches sql.Out.
func TestReturnValueThroughDriver(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	db := openDB(t, addr, "")
	var out int64 = 21
	if _, err := db.ExecContext(context.Background(), "select @n", sql.Named("n", sql.Out{Dest: &out})); err != nil {
		t.Fatal(err)
	}
	if out != 42 {
		t.Errorf("OUTPUT value %d, want 42", out)
	}
}

// TestDecimalScaleAndDateTimeOffset: the writer's new encodings as the
// real client reads them.
func TestDecimalScaleAndDateTimeOffset(t *testing.T) {
	for _, tc := range []struct {
		col  Column
		v    any
		want string
	}{
		{Column{Type: Decimal, Size: 10, Scale: 2}, "-1234.5", "-1234.50"},
		{Column{Type: Decimal, Size: 38, Scale: 10}, "0.0000000001", "0.0000000001"},
		{Column{Type: Decimal, Size: 5, Scale: 0}, int64(99999), "99999"},
	} {
		b, err := appendValue(nil, mustNorm(t, tc.col), tc.v)
		if err != nil {
			t.Fatalf("%v: %v", tc.v, err)
		}
		got, err := decodeDecimal(b[1:], byte(tc.col.Size), byte(tc.col.Scale))
		if err != nil || got != tc.want {
			t.Errorf("%v as decimal(%d,%d): %v, %v; want %s", tc.v, tc.col.Size, tc.col.Scale, got, err, tc.want)
		}
	}
	if _, err := appendValue(nil, mustNorm(t, Column{Type: Decimal, Size: 5, Scale: 1}), "1.25"); err == nil {
		t.Error("1.25 at scale 1: no error")
	}
	if _, err := appendValue(nil, mustNorm(t, Column{Type: Decimal, Size: 3, Scale: 1}), "123.4"); err == nil {
		t.Error("123.4 in decimal(3,1): no error")
	}
	zone := time.FixedZone("", -(5*3600 + 30*60))
	tm := time.Date(2024, 3, 5, 13, 14, 15, 123_456_700, zone)
	b, err := appendValue(nil, mustNorm(t, Column{Type: DateTimeOffset}), tm)
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeTimeType(tyDTOffsetN, 7, b[1:])
	if err != nil || !v.(time.Time).Equal(tm) {
		t.Errorf("datetimeoffset round trip: %v, %v", v, err)
	}
	if _, off := v.(time.Time).Zone(); off != -(5*3600 + 30*60) {
		t.Errorf("offset %d", off)
	}
}

func mustNorm(t *testing.T, c Column) Column {
	t.Helper()
	n, err := normalize(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTDS71Encodings: a 7.1 login is answered with 7.1, batches carry no
// ALL_HEADERS, DONE row counts are 4 bytes, (max) columns go out as ntext
// and image, datetime2 as nvarchar.
func TestTDS71Encodings(t *testing.T) {
	_, addr := startServer(t, newTestHandler(), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	login := login7Body("sa", "pw", "")
	binary.LittleEndian.PutUint32(login[l7TDSVersion:], tds71)
	if _, err := c.Write(packet(pktLogin7, statusEOM, login)); err != nil {
		t.Fatal(err)
	}
	reply, err := readReply(c)
	if err != nil {
		t.Fatal(err)
	}
	ack := bytes.IndexByte(reply, tokLoginAck)
	if ack < 0 || binary.BigEndian.Uint32(reply[ack+4:]) != tds71 {
		t.Fatalf("LOGINACK version: %x", reply)
	}
	if !bytes.HasSuffix(reply, []byte{tokDone, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("login DONE is not the 9-byte 7.1 form: %x", reply[len(reply)-13:])
	}
	// "alltypes" without ALL_HEADERS.
	if _, err := c.Write(packet(pktBatch, statusEOM, appendUCS2(nil, "alltypes"))); err != nil {
		t.Fatal(err)
	}
	reply, err = readReply(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, ty := range []byte{tyNText, tyImage} {
		if !bytes.Contains(reply, []byte{ty, 0xFE, 0xFF, 0xFF, 0x7F}) && !bytes.Contains(reply, []byte{ty, 0xFF, 0xFF, 0xFF, 0x7F}) {
			t.Errorf("no legacy type 0x%02X in the metadata", ty)
		}
	}
	if bytes.Contains(reply, []byte{tyDateTime2N, 7}) {
		t.Error("datetime2 sent to a 7.1 client")
	}
	// The final DONE is 9 bytes: token, status, curcmd, 4-byte count.
	if d := reply[len(reply)-9:]; d[0] != tokDone || d[1]&doneMore != 0 || d[3] != curCmdSelect {
		t.Errorf("final DONE: %x", d)
	}
}
