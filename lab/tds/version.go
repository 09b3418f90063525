package tds

import (
	"fmt"
	"time"
)

// TDS versions as LOGIN7 and LOGINACK carry them (MS-TDS 2.2.6.4, 2.2.7.14).
const (
	tds71  = 0x71000001 // SQL Server 2000 SP1
	tds72  = 0x72090002 // 2005
	tds73A = 0x730A0003 // 2008
	tds73B = 0x730B0003 // 2008 R2
	tds74  = 0x74000004 // 2012 and later
	// tds80 is what a strict (TLS-first) client puts in LOGIN7. The token
	// stream of TDS 8.0 is that of 7.4, and the LOGINACK says 7.4.
	tds80 = 0x08000000
)

// negotiateVersion answers a LOGIN7 TDS version with the highest version the
// server speaks that is not above the client's, as SQL Server does. Every
// profile of the lab is 2012 or later, so the server speaks up to 7.4.
// Versions before 7.1 (TDS 7.0, SQL Server 7.0) are refused.
func negotiateVersion(client uint32) (uint32, bool) {
	switch {
	case client == tds80:
		return tds74, true
	case client >= tds74:
		return tds74, true
	case client >= tds73B:
		return tds73B, true
	case client >= tds73A:
		return tds73A, true
	case client >= tds72:
		return tds72, true
	case client>>24 == 0x71:
		return tds71, true
	}
	return 0, false
}

// versionName is how people write a TDS version, for messages and logs.
func versionName(v uint32) string {
	switch v {
	case tds71:
		return "7.1"
	case tds72:
		return "7.2"
	case tds73A, tds73B:
		return "7.3"
	case tds74:
		return "7.4"
	case tds80:
		return "8.0"
	}
	return fmt.Sprintf("0x%08X", v)
}

// login7FixedLen is the fixed part of LOGIN7: 7.2 added ChangePassword and
// cbSSPILong (8 bytes) after the 86 bytes of 7.1.
func login7FixedLen(version uint32) int {
	if version == tds80 || version >= tds72 {
		return l7FixedLen
	}
	return 86
}

// allHeaders72 reports whether batches and RPCs of this version start with
// ALL_HEADERS (7.2 and later).
func (c *conn) allHeaders72() bool { return c.version >= tds72 }

// requestBody gives a batch or RPC body the 7.2 layout the parsers read: a
// client before 7.2 sends no ALL_HEADERS, which reads the same as an empty
// one (total length 4).
func (c *conn) requestBody(body []byte) []byte {
	if c.allHeaders72() {
		return body
	}
	out := make([]byte, 0, 4+len(body))
	out = append(out, 4, 0, 0, 0)
	return append(out, body...)
}

// done encodes a DONE, DONEPROC or DONEINPROC token for the connection's
// version: its row count is 8 bytes from 7.2 on, 4 bytes before.
func (c *conn) done(d [13]byte) []byte {
	if c.version != 0 && c.version < tds72 {
		return d[:9]
	}
	return d[:]
}

// appendUserType appends a column's UserType (0: no user-defined type),
// a ULONG from 7.2 on and a USHORT before.
func (c *conn) appendUserType(dst []byte) []byte {
	if c.version != 0 && c.version < tds72 {
		return appendU16(dst, 0)
	}
	return appendU32(dst, 0)
}

// Internal column types a down-level client gets instead of the ones it
// cannot read; never seen by a Session.
const (
	legacyNText     Type = 1000 + iota // ntext for nvarchar(max) before 7.2
	legacyText                         // text for varchar(max)
	legacyImage                        // image for varbinary(max)
	legacyDateTime2                    // nvarchar(27) for datetime2 before 7.3
	legacyDTOffset                     // nvarchar(34) for datetimeoffset before 7.3
)

const (
	tyImage = 0x22
	tyText  = 0x23
	tyNText = 0x63
)

// downlevel maps a normalized column to what a client of this version can
// read, as SQL Server does: (max) types become text, ntext and image before
// 7.2 (no PLP), and datetime2 and datetimeoffset become strings before 7.3.
func (c *conn) downlevel(col Column) Column {
	if c.version == 0 || c.version >= tds73A {
		return col
	}
	switch {
	case col.Type == DateTime2:
		col.Type = legacyDateTime2
	case col.Type == DateTimeOffset:
		col.Type = legacyDTOffset
	case c.version >= tds72:
	case col.Size >= 0:
	case col.Type == NVarChar:
		col.Type = legacyNText
	case col.Type == VarChar:
		col.Type = legacyText
	case col.Type == VarBinary:
		col.Type = legacyImage
	}
	return col
}

// appendColTypeInfo is appendTypeInfo for the connection's version. A text,
// ntext or image column carries a table name: US_VARCHAR before 7.2 (this
// only happens before 7.2), empty for a computed column.
func (c *conn) appendColTypeInfo(dst []byte, col Column) []byte {
	switch col.Type {
	case legacyNText, legacyText:
		tok := byte(tyNText)
		if col.Type == legacyText {
			tok = tyText
		}
		dst = append(dst, tok)
		dst = appendU32(dst, 0x7FFFFFFF)
		dst = append(dst, collation[:]...)
		return appendU16(dst, 0) // table name: none
	case legacyImage:
		dst = append(dst, tyImage)
		dst = appendU32(dst, 0x7FFFFFFF)
		return appendU16(dst, 0)
	case legacyDateTime2, legacyDTOffset:
		n := 27
		if col.Type == legacyDTOffset {
			n = 34
		}
		dst = append(dst, tyNVarChar)
		dst = appendU16(dst, uint16(2*n))
		return append(dst, collation[:]...)
	}
	return appendTypeInfo(dst, col)
}

// dummyTextPtr and dummyTimestamp fill the TEXTPTR of text/ntext/image
// values: the client needs them only for UPDATETEXT, which the lab lacks.
var (
	dummyTextPtr   = [16]byte{'m', 'i', 'l', 'i', 'n', 'k', '-', 'l', 'a', 'b'}
	dummyTimestamp [8]byte
)

// appendColValue is appendValue for the connection's version.
func (c *conn) appendColValue(dst []byte, col Column, v any) ([]byte, error) {
	switch col.Type {
	case legacyNText, legacyText, legacyImage:
		if v == nil {
			return append(dst, 0), nil // no text pointer: NULL
		}
		var b []byte
		switch x := v.(type) {
		case string:
			switch col.Type {
			case legacyNText:
				b = appendUCS2(nil, x)
			case legacyText:
				b = encodeCP1252(x)
			default:
				return dst, fmt.Errorf("tds: column %q (image): cannot send Go value of type %T", col.Name, v)
			}
		case []byte:
			if col.Type != legacyImage {
				return dst, fmt.Errorf("tds: column %q (text): cannot send Go value of type %T", col.Name, v)
			}
			b = x
		default:
			return dst, fmt.Errorf("tds: column %q: cannot send Go value of type %T", col.Name, v)
		}
		dst = append(dst, byte(len(dummyTextPtr)))
		dst = append(dst, dummyTextPtr[:]...)
		dst = append(dst, dummyTimestamp[:]...)
		dst = appendU32(dst, uint32(len(b)))
		return append(dst, b...), nil
	case legacyDateTime2, legacyDTOffset:
		if v == nil {
			return appendU16(dst, 0xFFFF), nil
		}
		layout, name := "2006-01-02 15:04:05.0000000", "datetime2"
		if col.Type == legacyDTOffset {
			layout, name = layout+" -07:00", "datetimeoffset"
		}
		t, ok := v.(time.Time)
		if !ok {
			return dst, fmt.Errorf("tds: column %q (%s): cannot send Go value of type %T", col.Name, name, v)
		}
		s := t.Format(layout)
		dst = appendU16(dst, uint16(2*utf16Len(s)))
		return appendUCS2(dst, s), nil
	}
	return appendValue(dst, col, v)
}

// readLegacyValue reads an ntext, text or image parameter, which clients
// before 7.2 send for (max) values: TYPE_INFO (a 4-byte max length, the
// collation for text types, no table name in a parameter), then a 4-byte
// length (0xFFFFFFFF is NULL) and the data.
func readLegacyValue(r *reader, typ byte) (any, error) {
	r.u32()
	if typ != tyImage {
		r.bytes(5)
	}
	n := r.u32()
	if r.err != nil || n == 0xFFFFFFFF {
		return nil, r.err
	}
	b := r.bytes(int(n))
	if r.err != nil {
		return nil, r.err
	}
	switch typ {
	case tyNText:
		if len(b)%2 != 0 {
			return nil, errShort
		}
		return decodeUCS2(b), nil
	case tyText:
		return decodeCP1252(b), nil
	}
	return append([]byte{}, b...), nil
}
