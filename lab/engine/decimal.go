package engine

import (
	"encoding/hex"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/milink/milink/lab/tds"
)

// decimalVal is a decimal(p,s) value with a scale: the unscaled integer
// and the number of digits after the point. decimal(p,0) values stay
// int64, as the catalogue's LSNs always were.
type decimalVal struct {
	unscaled *big.Int
	scale    int
}

func (d decimalVal) String() string {
	s := new(big.Int).Abs(d.unscaled).String()
	if d.scale > 0 {
		if len(s) <= d.scale {
			s = strings.Repeat("0", d.scale-len(s)+1) + s
		}
		s = s[:len(s)-d.scale] + "." + s[len(s)-d.scale:]
	}
	if d.unscaled.Sign() < 0 {
		s = "-" + s
	}
	return s
}

func (d decimalVal) rat() *big.Rat {
	return new(big.Rat).SetFrac(d.unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.scale)), nil))
}

func (d decimalVal) float() float64 {
	f, _ := d.rat().Float64()
	return f
}

// ratOf returns v as an exact rational, if it is a number.
func ratOf(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(x), true
	case decimalVal:
		return x.rat(), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		// Through the shortest decimal form, so 12.345 is 12.345.
		r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'g', -1, 64))
		return r, ok
	case bool:
		if x {
			return big.NewRat(1, 1), true
		}
		return new(big.Rat), true
	case string:
		r, ok := new(big.Rat).SetString(strings.TrimSpace(x))
		return r, ok
	}
	return nil, false
}

// toDecimal rounds r half away from zero to scale digits and checks the
// precision, as CAST(x AS decimal(p,s)) does.
func toDecimal(r *big.Rat, precision, scale int, from any) (any, *sqlError) {
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	n := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow))
	q, m := new(big.Int).QuoRem(n.Num(), n.Denom(), new(big.Int))
	// Round half away from zero: compare twice the remainder with the denominator.
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(n.Denom()) >= 0 {
		if n.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if precision > 0 && len(new(big.Int).Abs(q).String()) > precision {
		return nil, errf(8115, 16, "Arithmetic overflow error converting %s to data type numeric.", valueTypeName(from))
	}
	if scale == 0 {
		if q.IsInt64() {
			return q.Int64(), nil
		}
	}
	return decimalVal{unscaled: q, scale: scale}, nil
}

// decimalArith does + - * exactly when a decimal takes part; / and % go
// through float, a known approximation.
func decimalArith(op string, l, r any) (any, bool) {
	_, ld := l.(decimalVal)
	_, rd := r.(decimalVal)
	if !ld && !rd {
		return nil, false
	}
	if _, ok := l.(float64); ok {
		return nil, false
	}
	if _, ok := r.(float64); ok {
		return nil, false
	}
	a, ok1 := ratOf(l)
	b, ok2 := ratOf(r)
	if !ok1 || !ok2 {
		return nil, false
	}
	sl, sr := scaleOf(l), scaleOf(r)
	var res *big.Rat
	scale := max(sl, sr)
	switch op {
	case "+":
		res = new(big.Rat).Add(a, b)
	case "-":
		res = new(big.Rat).Sub(a, b)
	case "*":
		res = new(big.Rat).Mul(a, b)
		scale = min(sl+sr, 38)
	default:
		return nil, false
	}
	v, err := toDecimal(res, 38, scale, l)
	if err != nil {
		return nil, false
	}
	if n, ok := v.(int64); ok {
		return decimalVal{unscaled: big.NewInt(n), scale: 0}, true
	}
	return v, true
}

func scaleOf(v any) int {
	if d, ok := v.(decimalVal); ok {
		return d.scale
	}
	return 0
}

// convertStyle is CONVERT with a style. Styles 1 and 2 convert between
// binary and character data as hexadecimal: 1 with a 0x prefix, 2
// without; style 0 (and any other) converts bytes as characters.
func convertStyle(v any, ct colType, style int) (any, *sqlError) {
	if style != 1 && style != 2 || v == nil {
		return convert(v, ct)
	}
	switch ct.t {
	case tds.NVarChar, tds.VarChar:
		if b, ok := v.([]byte); ok {
			s := strings.ToUpper(hex.EncodeToString(b))
			if style == 1 {
				s = "0x" + s
			}
			return convert(s, ct)
		}
	case tds.VarBinary:
		if s, ok := v.(string); ok {
			h := s
			if style == 1 {
				if !strings.HasPrefix(h, "0x") && !strings.HasPrefix(h, "0X") {
					return nil, errf(8114, 16, "Error converting data type %s to varbinary.", valueTypeName(v))
				}
				h = h[2:]
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, errf(8114, 16, "Error converting data type %s to varbinary.", valueTypeName(v))
			}
			return convert(b, ct)
		}
	}
	return convert(v, ct)
}
