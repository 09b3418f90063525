package engine

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/milink/milink/lab/tds"
)

// Values inside the engine are nil (NULL), int64, float64, string, bool,
// []byte, time.Time or [16]byte (uniqueidentifier, SQL Server byte order).
// Decimal columns (LSNs) carry int64. colType says how a value is typed.

type colType struct {
	t     tds.Type
	size  int // characters, bytes or precision; -1 is MAX; 0 default
	scale int // decimal only
}

var (
	tInt      = colType{t: tds.Int}
	tBigInt   = colType{t: tds.BigInt}
	tSmallInt = colType{t: tds.SmallInt}
	tTinyInt  = colType{t: tds.TinyInt}
	tBit      = colType{t: tds.Bit}
	tVariant  = colType{t: tds.Variant}
	tDateTime = colType{t: tds.DateTime}
	tLSN      = colType{t: tds.Decimal, size: 25}
	tGUID     = colType{t: tds.UniqueIdentifier}
	tFloat    = colType{t: tds.Float}
)

func tNVarChar(n int) colType  { return colType{t: tds.NVarChar, size: n} }
func tVarChar(n int) colType   { return colType{t: tds.VarChar, size: n} }
func tVarBinary(n int) colType { return colType{t: tds.VarBinary, size: n} }

func sqlTypeOf(ts typeSpec) (colType, bool) {
	switch ts.name {
	case "int", "integer":
		return tInt, true
	case "bigint":
		return tBigInt, true
	case "smallint":
		return tSmallInt, true
	case "tinyint":
		return tTinyInt, true
	case "bit":
		return tBit, true
	case "float", "real":
		return tFloat, true
	case "decimal", "numeric":
		p := ts.size
		if p <= 0 {
			p = 18
		}
		return colType{t: tds.Decimal, size: p, scale: min(max(ts.scale, 0), p)}, true
	case "money":
		return colType{t: tds.Decimal, size: 19, scale: 4}, true
	case "smallmoney":
		return colType{t: tds.Decimal, size: 10, scale: 4}, true
	case "nvarchar", "nchar", "ntext":
		return tNVarChar(ts.size), true
	case "sysname":
		return tNVarChar(128), true
	case "varchar", "char", "text":
		return tVarChar(ts.size), true
	case "varbinary", "binary", "image", "rowversion", "timestamp":
		return tVarBinary(ts.size), true
	case "datetime", "smalldatetime", "date", "time":
		return tDateTime, true
	case "datetime2":
		return colType{t: tds.DateTime2}, true
	case "datetimeoffset":
		return colType{t: tds.DateTimeOffset}, true
	case "uniqueidentifier":
		return tGUID, true
	case "sql_variant":
		return tVariant, true
	}
	return colType{}, false
}

func typeName(ct colType) string {
	switch ct.t {
	case tds.Int:
		return "int"
	case tds.BigInt:
		return "bigint"
	case tds.SmallInt:
		return "smallint"
	case tds.TinyInt:
		return "tinyint"
	case tds.Bit:
		return "bit"
	case tds.Float:
		return "float"
	case tds.Decimal:
		return "numeric"
	case tds.NVarChar:
		return "nvarchar"
	case tds.VarChar:
		return "varchar"
	case tds.VarBinary:
		return "varbinary"
	case tds.DateTime:
		return "datetime"
	case tds.DateTime2:
		return "datetime2"
	case tds.UniqueIdentifier:
		return "uniqueidentifier"
	case tds.Variant:
		return "sql_variant"
	case tds.DateTimeOffset:
		return "datetimeoffset"
	}
	return "unknown"
}

func isNumericType(t tds.Type) bool {
	switch t {
	case tds.Int, tds.BigInt, tds.SmallInt, tds.TinyInt, tds.Bit, tds.Float, tds.Decimal:
		return true
	}
	return false
}

func valueTypeName(v any) string {
	if x, ok := v.(variantVal); ok {
		return typeName(x.base)
	}
	switch v.(type) {
	case string:
		return "nvarchar"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bit"
	case []byte:
		return "varbinary"
	case time.Time:
		return "datetime"
	case [16]byte:
		return "uniqueidentifier"
	case decimalVal:
		return "numeric"
	}
	return "sql_variant"
}

func convFail(v any, ct colType) *sqlError {
	return errf(245, 16, "Conversion failed when converting the %s value '%s' to data type %s.", valueTypeName(v), toString(v), typeName(ct))
}

// convert coerces v to the column type ct (CAST, assignment to a variable).
func convert(v any, ct colType) (any, *sqlError) {
	if v == nil {
		return nil, nil
	}
	if ct.t != tds.Variant {
		v = unwrap(v)
	}
	if d, ok := v.(decimalVal); ok && ct.t != tds.Decimal && ct.t != tds.Variant {
		switch ct.t {
		case tds.NVarChar, tds.VarChar:
			v = d.String()
		case tds.Float:
			return d.float(), nil
		case tds.Bit:
			return d.unscaled.Sign() != 0, nil
		default:
			// decimal to an integer type truncates.
			q := new(big.Int).Quo(d.unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.scale)), nil))
			if !q.IsInt64() {
				return nil, errf(8115, 16, "Arithmetic overflow error converting numeric to data type %s.", typeName(ct))
			}
			v = q.Int64()
		}
	}
	if ct.t == tds.Decimal && (ct.scale > 0 || isDecimal(v)) {
		r, ok := ratOf(v)
		if !ok {
			if _, isStr := v.(string); isStr {
				return nil, errf(8114, 16, "Error converting data type %s to numeric.", valueTypeName(v))
			}
			return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
		}
		return toDecimal(r, ct.size, ct.scale, v)
	}
	switch ct.t {
	case tds.Int, tds.BigInt, tds.SmallInt, tds.TinyInt, tds.Decimal:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			if math.IsNaN(x) || math.Abs(x) > 9e18 {
				return nil, errf(8115, 16, "Arithmetic overflow error converting expression to data type %s.", typeName(ct))
			}
			n = int64(x)
			if ct.t == tds.Decimal {
				n = int64(math.Round(x))
			}
		case bool:
			if x {
				n = 1
			}
		case string:
			s := strings.TrimSpace(x)
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(s, 64)
				if ferr != nil || ct.t != tds.Decimal {
					return nil, convFail(v, ct)
				}
				i = int64(math.Round(f))
			}
			n = i
		default:
			return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
		}
		lim := map[tds.Type][2]int64{tds.Int: {math.MinInt32, math.MaxInt32}, tds.SmallInt: {math.MinInt16, math.MaxInt16}, tds.TinyInt: {0, 255}}
		if l, ok := lim[ct.t]; ok && (n < l[0] || n > l[1]) {
			return nil, errf(220, 16, "Arithmetic overflow error for data type %s, value = %d.", typeName(ct), n)
		}
		return n, nil
	case tds.Bit:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
			i, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, convFail(v, ct)
			}
			return i != 0, nil
		}
		return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
	case tds.Float:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, convFail(v, ct)
			}
			return f, nil
		}
		return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
	case tds.NVarChar, tds.VarChar:
		var s string
		if b, ok := v.([]byte); ok {
			s = string(b)
		} else {
			s = toString(v)
		}
		if ct.size > 0 {
			r := []rune(s)
			if len(r) > ct.size {
				s = string(r[:ct.size])
			}
		}
		return s, nil
	case tds.VarBinary:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		case [16]byte:
			b = x[:]
		case int64:
			b = []byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
		default:
			return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
		}
		if ct.size > 0 && len(b) > ct.size {
			b = b[:ct.size]
		}
		return b, nil
	case tds.DateTime, tds.DateTime2, tds.DateTimeOffset:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, ok := parseDate(x)
			if !ok {
				return nil, errf(241, 16, "Conversion failed when converting date and/or time from character string.")
			}
			return t, nil
		}
		return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
	case tds.UniqueIdentifier:
		switch x := v.(type) {
		case [16]byte:
			return x, nil
		case []byte:
			var g [16]byte
			copy(g[:], x)
			return g, nil
		case string:
			u, err := uuid.Parse(strings.Trim(strings.TrimSpace(x), "{}"))
			if err != nil {
				return nil, errf(8169, 16, "Conversion failed when converting from a character string to uniqueidentifier.")
			}
			return guidFromUUID(u), nil
		}
		return nil, errf(529, 16, "Explicit conversion from data type %s to %s is not allowed.", valueTypeName(v), typeName(ct))
	}
	return v, nil
}

var dateLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 -07:00", "2006-01-02 15:04:05 -07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04", "2006-01-02", "20060102", "1/2/2006", "1/2/2006 15:04:05", "01/02/2006", "Jan 2 2006",
	"January 2, 2006",
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// guidFromUUID converts RFC 4122 byte order to SQL Server's (the first three
// groups little-endian).
func guidFromUUID(u uuid.UUID) [16]byte {
	var g [16]byte
	copy(g[:], u[:])
	g[0], g[1], g[2], g[3] = u[3], u[2], u[1], u[0]
	g[4], g[5] = u[5], u[4]
	g[6], g[7] = u[7], u[6]
	return g
}

func guidString(g [16]byte) string {
	var u uuid.UUID
	copy(u[:], g[:])
	u[0], u[1], u[2], u[3] = g[3], g[2], g[1], g[0]
	u[4], u[5] = g[5], g[4]
	u[6], u[7] = g[7], g[6]
	return strings.ToUpper(u.String())
}

// toString renders a value the way CAST(x AS nvarchar) would.
func toString(v any) string {
	switch x := unwrap(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []byte:
		return "0x" + strings.ToUpper(hex.EncodeToString(x))
	case time.Time:
		return x.Format("Jan _2 2006  3:04PM")
	case [16]byte:
		return guidString(x)
	case decimalVal:
		return x.String()
	}
	return fmt.Sprint(v)
}

func toNumber(v any) (float64, bool) {
	switch x := unwrap(v).(type) {
	case decimalVal:
		return x.float(), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// compare orders two non-NULL values; strings compare case-insensitively
// with trailing spaces ignored, like the default SQL Server collation.
func compare(a, b any) (int, *sqlError) {
	a, b = unwrap(a), unwrap(b)
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(strings.ToLower(strings.TrimRight(x, " ")), strings.ToLower(strings.TrimRight(y, " "))), nil
		}
		if y, ok := b.(time.Time); ok {
			t, ok := parseDate(x)
			if !ok {
				return 0, errf(241, 16, "Conversion failed when converting date and/or time from character string.")
			}
			return t.Compare(y), nil
		}
		if y, ok := b.([16]byte); ok {
			g, err := convert(x, tGUID)
			if err != nil {
				return 0, err
			}
			gb := g.([16]byte)
			return bytes.Compare(gb[:], y[:]), nil
		}
	case time.Time:
		switch y := b.(type) {
		case time.Time:
			return x.Compare(y), nil
		case string:
			c, err := compare(b, a)
			return -c, err
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y), nil
		}
	case [16]byte:
		switch y := b.(type) {
		case [16]byte:
			return bytes.Compare(x[:], y[:]), nil
		case string:
			c, err := compare(b, a)
			return -c, err
		}
	}
	fa, oka := toNumber(a)
	fb, okb := toNumber(b)
	if oka && okb {
		switch {
		case fa < fb:
			return -1, nil
		case fa > fb:
			return 1, nil
		}
		return 0, nil
	}
	if _, isStr := a.(string); isStr && !oka {
		return 0, convFail(a, tInt)
	}
	if _, isStr := b.(string); isStr && !okb {
		return 0, convFail(b, tInt)
	}
	return 0, errf(402, 16, "The data types %s and %s are incompatible in the equal to operator.", valueTypeName(a), valueTypeName(b))
}

// likeMatch implements LIKE with % and _ (and [..] sets), case-insensitive.
func likeMatch(s, pat string) bool {
	sr := []rune(strings.ToLower(s))
	pr := []rune(strings.ToLower(pat))
	var match func(i, j int) bool
	memo := map[[2]int]bool{}
	match = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var res bool
		switch {
		case j == len(pr):
			res = i == len(sr)
		case pr[j] == '%':
			res = match(i, j+1) || (i < len(sr) && match(i+1, j))
		case i == len(sr):
			res = false
		case pr[j] == '_':
			res = match(i+1, j+1)
		case pr[j] == '[':
			k := j + 1
			neg := k < len(pr) && pr[k] == '^'
			if neg {
				k++
			}
			found := false
			start := k
			for k < len(pr) && (pr[k] != ']' || k == start) {
				if k+2 < len(pr) && pr[k+1] == '-' && pr[k+2] != ']' {
					if sr[i] >= pr[k] && sr[i] <= pr[k+2] {
						found = true
					}
					k += 3
					continue
				}
				if pr[k] == sr[i] {
					found = true
				}
				k++
			}
			if k >= len(pr) {
				res = sr[i] == '[' && match(i+1, j+1)
			} else {
				res = found != neg && match(i+1, k+1)
			}
		default:
			res = pr[j] == sr[i] && match(i+1, j+1)
		}
		memo[key] = res
		return res
	}
	return match(0, 0)
}

// wireValue converts an engine value to what tds.ResponseWriter.Row expects
// for a column of type ct.
func wireValue(v any, ct colType) any {
	if v == nil {
		return nil
	}
	if ct.t != tds.Variant {
		v = unwrap(v)
	}
	switch ct.t {
	case tds.Int, tds.SmallInt, tds.BigInt, tds.TinyInt:
		switch x := v.(type) {
		case int64:
			return int(x)
		case bool:
			return wireValue(map[bool]int64{false: 0, true: 1}[x], ct)
		}
	case tds.Variant:
		if x, ok := v.(variantVal); ok {
			return wireVariant(x)
		}
		if x, ok := v.(int64); ok && x >= math.MinInt32 && x <= math.MaxInt32 {
			return int(x)
		}
		if x, ok := v.(decimalVal); ok {
			return x.String()
		}
	case tds.Decimal:
		if x, ok := v.(decimalVal); ok {
			return x.String()
		}
	}
	return v
}

func isDecimal(v any) bool {
	_, ok := v.(decimalVal)
	return ok
}

// decimalSize is the precision of a decimal type, 0 for other types: a
// value converted to fit its column keeps the column's precision and
// scale, while strings are not cut to the column's length.
func decimalSize(ct colType) int {
	if ct.t == tds.Decimal {
		return ct.size
	}
	return 0
}
