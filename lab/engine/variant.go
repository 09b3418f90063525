package engine

import (
	"strings"

	"github.com/milink/milink/lab/tds"
)

// variantVal is a sql_variant value that knows its base type, as
// SERVERPROPERTY's results do: ProductVersion is an nvarchar(128),
// EditionID a bigint, SqlCharSet a tinyint. Expressions see the value
// inside (unwrap); a sql_variant column or variable keeps the base type
// to the wire.
type variantVal struct {
	v    any
	base colType
}

// unwrap returns the value inside a sql_variant.
func unwrap(v any) any {
	if x, ok := v.(variantVal); ok {
		return x.v
	}
	return v
}

var tSysname = tNVarChar(128)

// serverPropertyVariant is SERVERPROPERTY(name) with the base type the
// documentation gives each property; NULL for unknown names.
func (i *Instance) serverPropertyVariant(name string) any {
	v := i.serverProperty(name)
	if v == nil {
		return nil
	}
	base := tInt
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "editionid":
		base = tBigInt
	case "sqlcharset", "sqlsortorder":
		base = tTinyInt
	default:
		if _, ok := v.(string); ok {
			base = tSysname
		}
	}
	return variantVal{v: v, base: base}
}

// editionID is SERVERPROPERTY('EditionID') for an edition name.
func editionID(edition string, engineEdition int) int64 {
	e := strings.ToLower(edition)
	switch {
	case engineEdition == 8 || engineEdition == 5:
		return 1674378470 // SQL Database / managed instance
	case strings.HasPrefix(e, "enterprise evaluation"):
		return 610778273
	case strings.HasPrefix(e, "enterprise edition: core-based"):
		return 1872460670
	case strings.HasPrefix(e, "enterprise"):
		return 1804890536
	case strings.HasPrefix(e, "developer"):
		return -2117995310
	case strings.HasPrefix(e, "standard"):
		return -1534726760
	case strings.HasPrefix(e, "express"):
		return -1592396055
	case strings.HasPrefix(e, "web"):
		return 1293598313
	}
	return 0
}

// wireVariant is what the TDS writer gets for a variantVal.
func wireVariant(x variantVal) any {
	return tds.VariantValue{Base: wireColumn("", x.base), Value: wireValue(x.v, x.base)}
}
