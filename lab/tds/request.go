package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// errUnsupported marks a well-formed request we cannot interpret (an
// unsupported parameter type): the client gets an error reply, the
// connection stays up. Any other parse error means the stream is broken.
type errUnsupported struct{ msg string }

func (e errUnsupported) Error() string { return e.msg }

// skipAllHeaders skips the ALL_HEADERS block (TDS 7.2+) at the start of a
// batch or RPC body.
func skipAllHeaders(r *reader) error {
	if r.remaining() < 4 {
		return errShort
	}
	total := binary.LittleEndian.Uint32(r.b[r.pos:])
	if total < 4 || int64(total) > int64(r.remaining()) {
		return fmt.Errorf("tds: ALL_HEADERS length %d invalid", total)
	}
	r.bytes(int(total))
	return r.err
}

func parseBatch(body []byte) (string, error) {
	r := &reader{b: body}
	if err := skipAllHeaders(r); err != nil {
		return "", err
	}
	if r.remaining()%2 != 0 {
		return "", errors.New("tds: SQL batch text has an odd byte length")
	}
	return r.ucs2(r.remaining() / 2), r.err
}

// rpcCall is one procedure call of an RPC request.
type rpcCall struct {
	proc   string
	params []Param
}

// procNames maps the well-known procedure ids (MS-TDS 2.2.6.6).
var procNames = map[uint16]string{
	1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
	5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
	9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute",
	13: "sp_prepexec", 14: "sp_prepexecrpc", 15: "sp_unprepare",
}

// parseRPC parses an RPC request: ALL_HEADERS, then one or more calls
// separated by a batch flag byte (0x80, or 0xFF from TDS 7.2).
func parseRPC(body []byte) ([]rpcCall, error) {
	r := &reader{b: body}
	if err := skipAllHeaders(r); err != nil {
		return nil, err
	}
	var calls []rpcCall
	for {
		call, err := parseCall(r)
		if err != nil {
			return nil, err
		}
		calls = append(calls, call)
		if r.remaining() == 0 {
			return calls, nil
		}
		if f := r.u8(); f != 0x80 && f != 0xFF {
			return nil, fmt.Errorf("tds: unexpected byte 0x%02x after RPC parameters", f)
		}
		if r.remaining() == 0 {
			return calls, nil
		}
	}
}

func parseCall(r *reader) (rpcCall, error) {
	var c rpcCall
	n := r.u16()
	if n == 0xFFFF {
		id := r.u16()
		name, ok := procNames[id]
		if !ok {
			name = fmt.Sprintf("proc#%d", id)
		}
		c.proc = name
	} else {
		c.proc = r.ucs2(int(n))
	}
	r.u16() // option flags (WITH RECOMPILE, no metadata): nothing to do
	if r.err != nil {
		return c, r.err
	}
	for r.remaining() > 0 && r.b[r.pos] != 0x80 && r.b[r.pos] != 0xFF {
		p, err := parseParam(r)
		if err != nil {
			return c, err
		}
		c.params = append(c.params, p)
	}
	return c, nil
}

func parseParam(r *reader) (Param, error) {
	var p Param
	p.Name = r.bvarchar()
	status := r.u8()
	p.Output = status&0x01 != 0
	if status&0x08 != 0 {
		return p, errUnsupported{"encrypted parameters are not supported"}
	}
	typ := r.u8()
	if r.err != nil {
		return p, r.err
	}
	v, err := readValue(r, typ)
	if err != nil {
		return p, err
	}
	p.Value = v
	return p, r.err
}

// readValue reads a TYPE_INFO for typ and then one value of that type.
func readValue(r *reader, typ byte) (any, error) {
	switch typ {
	case tyNull:
		return nil, nil
	case tyInt1:
		return int64(r.u8()), r.err
	case tyBit:
		return r.u8() != 0, r.err
	case tyInt2:
		return int64(int16(r.u16())), r.err
	case tyInt4:
		return int64(int32(r.u32())), r.err
	case tyInt8:
		return int64(r.u64()), r.err
	case tyFlt4:
		return float64(math.Float32frombits(r.u32())), r.err
	case tyFlt8:
		return math.Float64frombits(r.u64()), r.err
	case tyDateTime:
		return decodeDateTime(r.bytes(8)), r.err
	case tyDateTim4:
		return decodeSmallDateTime(r.bytes(4)), r.err
	case tyIntN, tyBitN, tyFltN, tyDateTimeN, tyGUID:
		r.u8() // max length
		b := r.bytes(int(r.u8()))
		if r.err != nil || len(b) == 0 {
			return nil, r.err
		}
		return fixedN(typ, b)
	case tyDecimalN, tyNumericN:
		r.u8() // max length
		prec, scale := r.u8(), r.u8()
		b := r.bytes(int(r.u8()))
		if r.err != nil || len(b) == 0 {
			return nil, r.err
		}
		return decodeDecimal(b, prec, scale)
	case tyDateN:
		b := r.bytes(int(r.u8()))
		if r.err != nil || len(b) == 0 {
			return nil, r.err
		}
		if len(b) != 3 {
			return nil, errors.New("tds: date value must be 3 bytes")
		}
		return dateFromDays(int(b[0])|int(b[1])<<8|int(b[2])<<16, time.UTC), nil
	case tyTimeN, tyDateTime2N, tyDTOffsetN:
		scale := r.u8()
		b := r.bytes(int(r.u8()))
		if r.err != nil || len(b) == 0 {
			return nil, r.err
		}
		if scale > 7 {
			return nil, fmt.Errorf("tds: time scale %d > 7", scale)
		}
		return decodeTimeType(typ, scale, b)
	case tyNVarChar, tyNChar, tyBigVarChr, tyBigChar, tyBigVarBin, tyBigBinary:
		maxLen := r.u16()
		if typ != tyBigVarBin && typ != tyBigBinary {
			r.bytes(5) // collation
		}
		var b []byte
		if maxLen == 0xFFFF {
			var null bool
			b, null = readPLP(r)
			if null || r.err != nil {
				return nil, r.err
			}
		} else {
			n := r.u16()
			if n == 0xFFFF {
				return nil, r.err
			}
			b = r.bytes(int(n))
		}
		if r.err != nil {
			return nil, r.err
		}
		switch typ {
		case tyNVarChar, tyNChar:
			if len(b)%2 != 0 {
				return nil, errors.New("tds: odd byte length for a Unicode string")
			}
			return decodeUCS2(b), nil
		case tyBigVarChr, tyBigChar:
			return decodeCP1252(b), nil
		default:
			return append([]byte{}, b...), nil
		}
	}
	if typ == tyNText || typ == tyText || typ == tyImage {
		return readLegacyValue(r, typ)
	}
	return nil, errUnsupported{fmt.Sprintf("parameter type 0x%02X is not supported", typ)}
}

// maxPLP bounds a PLP value; the whole message is bounded anyway, this
// keeps a lying total length from forcing a large allocation.
const maxPLP = maxMessage

func readPLP(r *reader) (b []byte, null bool) {
	total := r.u64()
	if total == plpNull {
		return nil, true
	}
	if total != 0xFFFFFFFFFFFFFFFE && total > uint64(r.remaining()) {
		r.err = errShort
		return nil, false
	}
	out := []byte{}
	for r.err == nil {
		n := r.u32()
		if n == 0 {
			break
		}
		out = append(out, r.bytes(int(n))...)
		if len(out) > maxPLP {
			r.err = errShort
		}
	}
	return out, false
}

func fixedN(typ byte, b []byte) (any, error) {
	switch typ {
	case tyIntN:
		switch len(b) {
		case 1:
			return int64(b[0]), nil
		case 2:
			return int64(int16(binary.LittleEndian.Uint16(b))), nil
		case 4:
			return int64(int32(binary.LittleEndian.Uint32(b))), nil
		case 8:
			return int64(binary.LittleEndian.Uint64(b)), nil
		}
	case tyBitN:
		if len(b) == 1 {
			return b[0] != 0, nil
		}
	case tyFltN:
		switch len(b) {
		case 4:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
		case 8:
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		}
	case tyDateTimeN:
		switch len(b) {
		case 4:
			return decodeSmallDateTime(b), nil
		case 8:
			return decodeDateTime(b), nil
		}
	case tyGUID:
		if len(b) == 16 {
			return append([]byte{}, b...), nil
		}
	}
	return nil, fmt.Errorf("tds: invalid length %d for type 0x%02X", len(b), typ)
}

func decodeDateTime(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	days := int32(binary.LittleEndian.Uint32(b))
	ticks := int64(binary.LittleEndian.Uint32(b[4:]))
	ns := time.Duration(math.Round(float64(ticks%300)*10/3)) * time.Millisecond
	return time.Date(1900, 1, 1+int(days), 0, 0, int(ticks/300), 0, time.UTC).Add(ns)
}

func decodeSmallDateTime(b []byte) time.Time {
	if len(b) < 4 {
		return time.Time{}
	}
	days := binary.LittleEndian.Uint16(b)
	mins := binary.LittleEndian.Uint16(b[2:])
	return time.Date(1900, 1, 1+int(days), 0, int(mins), 0, 0, time.UTC)
}

func dateFromDays(days int, loc *time.Location) time.Time {
	return time.Date(1, 1, 1+days, 0, 0, 0, 0, loc)
}

func decodeTimeType(typ, scale byte, b []byte) (any, error) {
	tlen := 3
	if scale > 4 {
		tlen = 5
	} else if scale > 2 {
		tlen = 4
	}
	want := tlen
	switch typ {
	case tyDateTime2N:
		want += 3
	case tyDTOffsetN:
		want += 5
	}
	if len(b) != want {
		return nil, fmt.Errorf("tds: invalid length %d for time type 0x%02X", len(b), typ)
	}
	var units uint64
	for i := tlen - 1; i >= 0; i-- {
		units = units<<8 | uint64(b[i])
	}
	for i := scale; i < 7; i++ {
		units *= 10
	}
	tod := time.Duration(units * 100)
	if typ == tyTimeN {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(tod), nil
	}
	d := b[tlen:]
	days := int(d[0]) | int(d[1])<<8 | int(d[2])<<16
	t := dateFromDays(days, time.UTC).Add(tod)
	if typ == tyDTOffsetN {
		// The date and time are UTC; the offset says where to show them.
		off := int(int16(binary.LittleEndian.Uint16(d[3:])))
		t = t.In(time.FixedZone("", off*60))
	}
	return t, nil
}

// decodeDecimal renders a DECIMALN/NUMERICN value as a decimal string.
func decodeDecimal(b []byte, prec, scale byte) (any, error) {
	if len(b) < 2 || scale > 38 || prec > 38 {
		return nil, errors.New("tds: invalid decimal value")
	}
	le := b[1:]
	be := make([]byte, len(le))
	for i := range le {
		be[i] = le[len(le)-1-i]
	}
	s := new(big.Int).SetBytes(be).String()
	if scale > 0 {
		for len(s) <= int(scale) {
			s = "0" + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if b[0] == 0 {
		s = "-" + s
	}
	return s, nil
}
