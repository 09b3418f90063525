package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// TDS type ids used on the wire (MS-TDS 2.2.5.4).
const (
	tyNull       = 0x1F
	tyInt1       = 0x30
	tyBit        = 0x32
	tyInt2       = 0x34
	tyInt4       = 0x38
	tyDateTim4   = 0x3A
	tyFlt4       = 0x3B
	tyDateTime   = 0x3D
	tyFlt8       = 0x3E
	tyInt8       = 0x7F
	tyGUID       = 0x24
	tyIntN       = 0x26
	tyDateN      = 0x28
	tyTimeN      = 0x29
	tyDateTime2N = 0x2A
	tyDTOffsetN  = 0x2B
	tyBitN       = 0x68
	tyDecimalN   = 0x6A
	tyNumericN   = 0x6C
	tyFltN       = 0x6D
	tyDateTimeN  = 0x6F
	tyBigVarBin  = 0xA5
	tyBigVarChr  = 0xA7
	tyBigBinary  = 0xAD
	tyBigChar    = 0xAF
	tyNVarChar   = 0xE7
	tyNChar      = 0xEF
	tyVariant    = 0x62
)

// collation is SQL_Latin1_General_CP1_CI_AS (LCID 0x0409, case/accent flags,
// sort id 52): the default server collation, code page 1252 for VARCHAR.
var collation = [5]byte{0x09, 0x04, 0xD0, 0x00, 0x34}

const (
	plpNull    = 0xFFFFFFFFFFFFFFFF
	variantMax = 8016 // max length SQL Server declares for sql_variant
)

// normalize fills in default sizes and folds oversize lengths into MAX, so
// the metadata always describes values the client can hold.
func normalize(c Column) (Column, error) {
	switch c.Type {
	case Int, BigInt, SmallInt, TinyInt, Bit, Float, DateTime, DateTime2, DateTimeOffset, UniqueIdentifier, Variant:
	case Decimal:
		if c.Size == 0 {
			c.Size = 18
		}
		if c.Size < 1 || c.Size > 38 {
			return c, fmt.Errorf("tds: column %q: decimal precision %d out of range 1..38", c.Name, c.Size)
		}
		if c.Scale < 0 || c.Scale > c.Size {
			return c, fmt.Errorf("tds: column %q: decimal scale %d out of range 0..%d", c.Name, c.Scale, c.Size)
		}
	case NVarChar:
		if c.Size == 0 {
			c.Size = 4000
		}
		if c.Size > 4000 {
			c.Size = -1
		}
	case VarChar, VarBinary:
		if c.Size == 0 {
			c.Size = 8000
		}
		if c.Size > 8000 {
			c.Size = -1
		}
	default:
		return c, fmt.Errorf("tds: column %q: unknown type %d", c.Name, c.Type)
	}
	if c.Size < -1 {
		return c, fmt.Errorf("tds: column %q: negative size %d", c.Name, c.Size)
	}
	return c, nil
}

func decimalBytes(precision int) int {
	switch {
	case precision <= 9:
		return 5
	case precision <= 19:
		return 9
	case precision <= 28:
		return 13
	default:
		return 17
	}
}

// appendTypeInfo appends the TYPE_INFO of a normalized column.
func appendTypeInfo(dst []byte, c Column) []byte {
	switch c.Type {
	case Int:
		return append(dst, tyIntN, 4)
	case BigInt:
		return append(dst, tyIntN, 8)
	case SmallInt:
		return append(dst, tyIntN, 2)
	case TinyInt:
		return append(dst, tyIntN, 1)
	case Bit:
		return append(dst, tyBitN, 1)
	case Float:
		return append(dst, tyFltN, 8)
	case Decimal:
		return append(dst, tyDecimalN, byte(decimalBytes(c.Size)), byte(c.Size), byte(c.Scale))
	case NVarChar:
		dst = append(dst, tyNVarChar)
		if c.Size < 0 {
			dst = appendU16(dst, 0xFFFF)
		} else {
			dst = appendU16(dst, uint16(2*c.Size))
		}
		return append(dst, collation[:]...)
	case VarChar:
		dst = append(dst, tyBigVarChr)
		if c.Size < 0 {
			dst = appendU16(dst, 0xFFFF)
		} else {
			dst = appendU16(dst, uint16(c.Size))
		}
		return append(dst, collation[:]...)
	case VarBinary:
		dst = append(dst, tyBigVarBin)
		if c.Size < 0 {
			return appendU16(dst, 0xFFFF)
		}
		return appendU16(dst, uint16(c.Size))
	case DateTime:
		return append(dst, tyDateTimeN, 8)
	case DateTime2:
		return append(dst, tyDateTime2N, 7)
	case DateTimeOffset:
		return append(dst, tyDTOffsetN, 7)
	case UniqueIdentifier:
		return append(dst, tyGUID, 16)
	case Variant:
		dst = append(dst, tyVariant)
		return appendU32(dst, variantMax)
	}
	return dst
}

// appendValue appends one ROW value of a normalized column.
func appendValue(dst []byte, c Column, v any) ([]byte, error) {
	if v == nil {
		return appendNull(dst, c), nil
	}
	bad := func() ([]byte, error) {
		return dst, fmt.Errorf("tds: column %q (%s): cannot send Go value of type %T", c.Name, typeName(c.Type), v)
	}
	switch c.Type {
	case Int, BigInt, SmallInt, TinyInt:
		n, ok := toInt64(v)
		if !ok {
			return bad()
		}
		return appendIntN(dst, c, n)
	case Bit:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		if b {
			return append(dst, 1, 1), nil
		}
		return append(dst, 1, 0), nil
	case Float:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			n, ok := toInt64(v)
			if !ok {
				return bad()
			}
			f = float64(n)
		}
		dst = append(dst, 8)
		return appendU64(dst, math.Float64bits(f)), nil
	case Decimal:
		mag, neg, err := decimalValue(v, c.Scale)
		if err != nil {
			return dst, fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
		if len(mag.String()) > c.Size {
			return dst, fmt.Errorf("tds: column %q: value %s exceeds decimal(%d,%d)", c.Name, toString(v), c.Size, c.Scale)
		}
		size := decimalBytes(c.Size)
		dst = append(dst, byte(size))
		return appendDecimalMagnitude(dst, mag, neg, size-1), nil
	case NVarChar:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		units := utf16Len(s)
		if c.Size < 0 {
			return appendPLP(dst, appendUCS2(nil, s)), nil
		}
		if units > c.Size {
			return dst, fmt.Errorf("tds: column %q: %d characters do not fit nvarchar(%d)", c.Name, units, c.Size)
		}
		dst = appendU16(dst, uint16(2*units))
		return appendUCS2(dst, s), nil
	case VarChar:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendVarBytes(dst, c, encodeCP1252(s))
	case VarBinary:
		b, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendVarBytes(dst, c, b)
	case DateTime:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		b, err := encodeDateTime(t)
		if err != nil {
			return dst, fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
		return append(append(dst, 8), b...), nil
	case DateTime2:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		b, err := encodeDateTime2(t)
		if err != nil {
			return dst, fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
		return append(append(dst, byte(len(b))), b...), nil
	case DateTimeOffset:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		b, err := encodeDateTimeOffset(t)
		if err != nil {
			return dst, fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
		return append(append(dst, byte(len(b))), b...), nil
	case UniqueIdentifier:
		switch g := v.(type) {
		case [16]byte:
			return append(append(dst, 16), g[:]...), nil
		case []byte:
			if len(g) == 16 {
				return append(append(dst, 16), g...), nil
			}
		}
		return bad()
	case Variant:
		b, err := encodeVariant(v)
		if err != nil {
			return dst, fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
		dst = appendU32(dst, uint32(len(b)))
		return append(dst, b...), nil
	}
	return bad()
}

func appendNull(dst []byte, c Column) []byte {
	switch c.Type {
	case NVarChar, VarChar, VarBinary:
		if c.Size < 0 {
			return appendU64(dst, plpNull)
		}
		return appendU16(dst, 0xFFFF)
	case Variant:
		return appendU32(dst, 0)
	default: // every byte-length type: length 0 is NULL
		return append(dst, 0)
	}
}

func appendIntN(dst []byte, c Column, n int64) ([]byte, error) {
	var lo, hi int64
	var size byte
	switch c.Type {
	case Int:
		lo, hi, size = math.MinInt32, math.MaxInt32, 4
	case BigInt:
		lo, hi, size = math.MinInt64, math.MaxInt64, 8
	case SmallInt:
		lo, hi, size = math.MinInt16, math.MaxInt16, 2
	default:
		lo, hi, size = 0, 255, 1
	}
	if n < lo || n > hi {
		return dst, fmt.Errorf("tds: column %q: %d out of range for %s", c.Name, n, typeName(c.Type))
	}
	dst = append(dst, size)
	for i := byte(0); i < size; i++ {
		dst = append(dst, byte(uint64(n)>>(8*i)))
	}
	return dst, nil
}

// appendPLP appends a PLP value of known length in a single chunk.
// appendVarBytes writes the bytes of a varchar or varbinary value: PLP for
// (max), otherwise a USHORTLEN length and the bytes, which must fit the
// column's size in bytes.
func appendVarBytes(dst []byte, c Column, b []byte) ([]byte, error) {
	if c.Size < 0 {
		return appendPLP(dst, b), nil
	}
	if len(b) > c.Size {
		return dst, fmt.Errorf("tds: column %q: %d bytes do not fit %s(%d)", c.Name, len(b), typeName(c.Type), c.Size)
	}
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...), nil
}

func appendPLP(dst, b []byte) []byte {
	dst = appendU64(dst, uint64(len(b)))
	if len(b) > 0 {
		dst = appendU32(dst, uint32(len(b)))
		dst = append(dst, b...)
	}
	return appendU32(dst, 0)
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// decimalValue returns the unscaled magnitude of an integer or a decimal
// string at the given scale: "12.5" at scale 2 is 1250. A fraction longer
// than the scale is an error (SQL Server rounds when it converts; the
// Session must do that, the wire cannot).
func decimalValue(v any, scale int) (mag *big.Int, neg bool, err error) {
	var t string
	if n, ok := toInt64(v); ok {
		t = strconv.FormatInt(n, 10)
	} else if s, ok := v.(string); ok {
		t = strings.TrimSpace(s)
	} else {
		return nil, false, fmt.Errorf("cannot send Go value of type %T as decimal", v)
	}
	whole, frac, _ := strings.Cut(t, ".")
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > scale {
		return nil, false, fmt.Errorf("decimal %q has more than %d digits after the point", t, scale)
	}
	frac += strings.Repeat("0", scale)
	frac = frac[:scale]
	if whole == "" || whole == "-" || whole == "+" {
		whole += "0"
	}
	mag, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return nil, false, fmt.Errorf("invalid decimal %q", t)
	}
	if mag.Sign() < 0 || strings.HasPrefix(whole, "-") {
		return new(big.Int).Abs(mag), mag.Sign() != 0 || strings.HasPrefix(whole, "-"), nil
	}
	return mag, false, nil
}

// appendDecimalMagnitude appends the sign byte (1 positive, 0 negative)
// and the magnitude little-endian in n bytes.
func appendDecimalMagnitude(dst []byte, mag *big.Int, neg bool, n int) []byte {
	if neg && mag.Sign() != 0 {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
	}
	le := make([]byte, n)
	be := mag.Bytes()
	for i := range be {
		le[i] = be[len(be)-1-i]
	}
	return append(dst, le...)
}

func toString(v any) string { return fmt.Sprint(v) }

func encodeCP1252(s string) []byte {
	b, err := charmap.Windows1252.NewEncoder().String(s)
	if err == nil {
		return []byte(b)
	}
	// Characters outside code page 1252 become '?', as SQL Server does.
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if e, ok := charmap.Windows1252.EncodeRune(r); ok {
			out = append(out, e)
		} else {
			out = append(out, '?')
		}
	}
	return out
}

func decodeCP1252(b []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(s)
}

// gregorianDays counts days from 0001-01-01 to the given date.
func gregorianDays(t time.Time) int {
	y := t.Year() - 1
	return y*365 + y/4 - y/100 + y/400 + t.YearDay() - 1
}

var days1900 = gregorianDays(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))

// encodeDateTime encodes DATETIME: days since 1900-01-01 and 1/300 s ticks,
// using the wall clock of t (SQL Server's datetime has no zone).
func encodeDateTime(t time.Time) ([]byte, error) {
	if t.Year() < 1753 || t.Year() > 9999 {
		return nil, fmt.Errorf("datetime %s outside 1753..9999", t.Format(time.RFC3339))
	}
	days := gregorianDays(t) - days1900
	secs := t.Hour()*3600 + t.Minute()*60 + t.Second()
	ticks := secs*300 + int(math.Round(float64(t.Nanosecond())*3/1e7))
	if ticks >= 300*86400 {
		days++
		ticks -= 300 * 86400
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, uint32(int32(days)))
	binary.LittleEndian.PutUint32(b[4:], uint32(ticks))
	return b, nil
}

// encodeDateTime2 encodes DATETIME2(7): 100 ns units of the day in 5 bytes,
// then days since 0001-01-01 in 3 bytes.
func encodeDateTime2(t time.Time) ([]byte, error) {
	if t.Year() < 1 || t.Year() > 9999 {
		return nil, fmt.Errorf("datetime2 %s outside 0001..9999", t.Format(time.RFC3339))
	}
	units := uint64(t.Hour()*3600+t.Minute()*60+t.Second())*10_000_000 + uint64(t.Nanosecond()/100)
	days := gregorianDays(t)
	b := make([]byte, 8)
	for i := 0; i < 5; i++ {
		b[i] = byte(units >> (8 * i))
	}
	b[5], b[6], b[7] = byte(days), byte(days>>8), byte(days>>16)
	return b, nil
}

// encodeDateTimeOffset encodes DATETIMEOFFSET(7): the UTC time of day and
// date as DATETIME2(7) does, then the offset in minutes.
func encodeDateTimeOffset(t time.Time) ([]byte, error) {
	_, off := t.Zone()
	if off%60 != 0 || off < -14*3600 || off > 14*3600 {
		return nil, fmt.Errorf("datetimeoffset: zone offset %ds is not whole minutes within ±14:00", off)
	}
	b, err := encodeDateTime2(t.UTC())
	if err != nil {
		return nil, err
	}
	return binary.LittleEndian.AppendUint16(b, uint16(int16(off/60))), nil
}

// encodeVariantAs encodes a sql_variant of a given base type.
func encodeVariantAs(vv VariantValue) ([]byte, error) {
	c, err := normalize(vv.Base)
	if err != nil {
		return nil, err
	}
	if vv.Value == nil {
		return nil, errors.New("a VariantValue's value must not be nil (send nil for NULL)")
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("sql_variant cannot hold %s(max)", typeName(c.Type))
	}
	switch c.Type {
	case Int, BigInt, SmallInt, TinyInt:
		b, err := appendIntN(nil, c, mustInt(vv.Value))
		if err != nil {
			return nil, err
		}
		if _, ok := toInt64(vv.Value); !ok {
			return nil, fmt.Errorf("cannot send Go value of type %T as %s", vv.Value, typeName(c.Type))
		}
		tys := map[Type]byte{Int: tyInt4, BigInt: tyInt8, SmallInt: tyInt2, TinyInt: tyInt1}
		return append([]byte{tys[c.Type], 0}, b[1:]...), nil
	case Decimal:
		mag, neg, err := decimalValue(vv.Value, c.Scale)
		if err != nil {
			return nil, err
		}
		if len(mag.String()) > c.Size {
			return nil, fmt.Errorf("value %v exceeds decimal(%d,%d)", vv.Value, c.Size, c.Scale)
		}
		b := []byte{tyDecimalN, 2, byte(c.Size), byte(c.Scale)}
		return appendDecimalMagnitude(b, mag, neg, decimalBytes(c.Size)-1), nil
	case NVarChar, VarChar:
		s, ok := vv.Value.(string)
		if !ok {
			return nil, fmt.Errorf("cannot send Go value of type %T as %s", vv.Value, typeName(c.Type))
		}
		var data []byte
		var ty byte = tyNVarChar
		maxLen := 2 * c.Size
		if c.Type == VarChar {
			data, ty, maxLen = encodeCP1252(s), tyBigVarChr, c.Size
		} else {
			data = appendUCS2(nil, s)
		}
		if len(data) > maxLen {
			return nil, fmt.Errorf("sql_variant %s(%d) cannot hold %d bytes", typeName(c.Type), c.Size, len(data))
		}
		b := append([]byte{ty, 7}, collation[:]...)
		b = appendU16(b, uint16(maxLen))
		return append(b, data...), nil
	case VarBinary:
		x, ok := vv.Value.([]byte)
		if !ok || len(x) > c.Size {
			return nil, fmt.Errorf("sql_variant varbinary(%d) cannot hold %T of %d bytes", c.Size, vv.Value, len(x))
		}
		return append(appendU16([]byte{tyBigVarBin, 2}, uint16(c.Size)), x...), nil
	case Bit, Float, DateTime:
		return encodeVariant(vv.Value)
	}
	return nil, fmt.Errorf("sql_variant cannot have base type %s", typeName(c.Type))
}

func mustInt(v any) int64 {
	n, _ := toInt64(v)
	return n
}

// encodeVariant encodes a sql_variant value after its length: base type,
// property byte count, properties, data.
func encodeVariant(v any) ([]byte, error) {
	switch x := v.(type) {
	case VariantValue:
		return encodeVariantAs(x)
	case int32:
		return binary.LittleEndian.AppendUint32([]byte{tyInt4, 0}, uint32(x)), nil
	case bool:
		if x {
			return []byte{tyBit, 0, 1}, nil
		}
		return []byte{tyBit, 0, 0}, nil
	case float64:
		return binary.LittleEndian.AppendUint64([]byte{tyFlt8, 0}, math.Float64bits(x)), nil
	case string:
		u := appendUCS2(nil, x)
		if len(u) > 8000 {
			return nil, fmt.Errorf("sql_variant string of %d bytes exceeds 8000", len(u))
		}
		b := append([]byte{tyNVarChar, 7}, collation[:]...)
		b = appendU16(b, 8000)
		return append(b, u...), nil
	case []byte:
		if len(x) > 8000 {
			return nil, fmt.Errorf("sql_variant binary of %d bytes exceeds 8000", len(x))
		}
		b := appendU16([]byte{tyBigVarBin, 2}, 8000)
		return append(b, x...), nil
	case time.Time:
		d, err := encodeDateTime(x)
		if err != nil {
			return nil, err
		}
		return append([]byte{tyDateTime, 0}, d...), nil
	}
	if n, ok := toInt64(v); ok {
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return binary.LittleEndian.AppendUint32([]byte{tyInt4, 0}, uint32(int32(n))), nil
		}
		return binary.LittleEndian.AppendUint64([]byte{tyInt8, 0}, uint64(n)), nil
	}
	return nil, fmt.Errorf("cannot send Go value of type %T as sql_variant", v)
}

func typeName(t Type) string {
	switch t {
	case Int:
		return "int"
	case BigInt:
		return "bigint"
	case SmallInt:
		return "smallint"
	case TinyInt:
		return "tinyint"
	case Bit:
		return "bit"
	case Float:
		return "float"
	case Decimal:
		return "decimal"
	case NVarChar:
		return "nvarchar"
	case VarChar:
		return "varchar"
	case VarBinary:
		return "varbinary"
	case DateTime:
		return "datetime"
	case DateTime2:
		return "datetime2"
	case UniqueIdentifier:
		return "uniqueidentifier"
	case Variant:
		return "sql_variant"
	case DateTimeOffset:
		return "datetimeoffset"
	}
	return fmt.Sprintf("type(%d)", int(t))
}
