package tds

import "time"

// Encodings that depend on the TDS version agreed at login. Before 7.2
// requests carry no ALL_HEADERS, DONE row counts are 4 bytes and there
// are no (max) types: SQL Server sends ntext, text and image instead.
// Before 7.3 there are no datetime2 or datetimeoffset types: SQL Server
// sends them to such clients as nvarchar strings.

// Column types only down-level clients see.
const (
	legacyNText Type = 100 + iota // NTEXT (0x63) in place of nvarchar(max)
	legacyText                    // TEXT (0x23) in place of varchar(max)
	legacyImage                   // IMAGE (0x22) in place of varbinary(max)
)

const (
	tyImage = 0x22
	tyText  = 0x23
	tyNText = 0x63
)

// negotiateVersion answers a client's LOGIN7 version with the highest the
// server speaks that is not above it.
func negotiateVersion(client uint32) uint32 {
	switch {
	case client >= tds74:
		return tds74
	case client >= tds73:
		return tds73
	case client >= tds72:
		return tds72
	}
	return tds71
}

// ver is the agreed version; a conn made without newConn (unit tests)
// speaks 7.4.
func (c *conn) ver() uint32 {
	if c.tdsVer == 0 {
		return tds74
	}
	return c.tdsVer
}

func (c *conn) allHeaders() bool { return c.ver() >= tds72 }

// doneBytes is a DONE token as this connection's version encodes it.
func (c *conn) doneBytes(d [13]byte) []byte {
	if c.ver() < tds72 {
		return d[:9]
	}
	return d[:]
}

// downlevel maps a normalized column to what a client of this version
// understands.
func (c *conn) downlevel(col Column) Column {
	if c.ver() < tds73 && (col.Type == DateTime2 || col.Type == DateTimeOffset) {
		col.Type, col.Size = NVarChar, 34
	}
	if c.ver() < tds72 && col.Size < 0 {
		switch col.Type {
		case NVarChar:
			col.Type = legacyNText
		case VarChar:
			col.Type = legacyText
		case VarBinary:
			col.Type = legacyImage
		}
	}
	return col
}

// downlevelValue converts a value for a column downlevel changed.
func downlevelValue(col Column, v any) any {
	t, ok := v.(time.Time)
	if !ok || col.Type != NVarChar {
		return v
	}
	if _, off := t.Zone(); off != 0 || t.Location() != time.UTC {
		return t.Format("2006-01-02 15:04:05.0000000 -07:00")
	}
	return t.Format("2006-01-02 15:04:05.0000000")
}

// appendLegacyTypeInfo is the TYPE_INFO of ntext, text and image: a
// 4-byte max length, the collation (text types) and a table name (none).
func appendLegacyTypeInfo(dst []byte, c Column) []byte {
	switch c.Type {
	case legacyNText:
		dst = append(dst, tyNText)
		dst = appendU32(dst, 0x7FFFFFFE)
		dst = append(dst, collation[:]...)
	case legacyText:
		dst = append(dst, tyText)
		dst = appendU32(dst, 0x7FFFFFFF)
		dst = append(dst, collation[:]...)
	default:
		dst = append(dst, tyImage)
		dst = appendU32(dst, 0x7FFFFFFF)
	}
	return appendU16(dst, 0) // table name: an empty US_VARCHAR
}

// appendLegacyValue is a text pointer (16 bytes), a timestamp (8) and the
// data with a 4-byte length; NULL is a text pointer of length 0.
func appendLegacyValue(dst []byte, c Column, v any) ([]byte, bool) {
	var b []byte
	switch x := v.(type) {
	case nil:
		return append(dst, 0), true
	case string:
		if c.Type == legacyNText {
			b = appendUCS2(nil, x)
		} else {
			b = encodeCP1252(x)
		}
	case []byte:
		b = x
	default:
		return dst, false
	}
	dst = append(dst, 16)
	dst = append(dst, make([]byte, 16+8)...)
	dst = appendU32(dst, uint32(len(b)))
	return append(dst, b...), true
}

// appendUserType appends a column's or parameter's user type: a ULONG
// from TDS 7.2, a USHORT before.
func (c *conn) appendUserType(dst []byte) []byte {
	if c.ver() < tds72 {
		return appendU16(dst, 0)
	}
	return appendU32(dst, 0)
}

// readLegacyValue reads an ntext, text or image parameter: TYPE_INFO (a
// 4-byte max length, the collation for text types), then a 4-byte length
// (0xFFFFFFFF is NULL) and the data.
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
