package engine

import (
	"testing"

	"github.com/milink/milink/lab/tds"
)

// TestServerPropertyBaseTypes: SERVERPROPERTY is a sql_variant whose base
// type is the documented one for each property.
func TestServerPropertyBaseTypes(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := mustRun(t, s, "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('EngineEdition'), SERVERPROPERTY('EditionID'), SERVERPROPERTY('SqlCharSet'), SERVERPROPERTY('IsHadrEnabled'), SERVERPROPERTY('NoSuchProperty')")
	want := []struct {
		ty   tds.Type
		size int
	}{{tds.NVarChar, 128}, {tds.Int, 0}, {tds.BigInt, 0}, {tds.TinyInt, 0}, {tds.Int, 0}}
	for i, w := range want {
		vv, ok := r.raw[0][i].(tds.VariantValue)
		if !ok || vv.Base.Type != w.ty || vv.Base.Size != w.size {
			t.Errorf("column %d: %#v, want base %v(%d)", i, r.raw[0][i], w.ty, w.size)
		}
	}
	if r.raw[0][5] != nil {
		t.Errorf("unknown property: %#v, want NULL", r.raw[0][5])
	}
	// Inside expressions the value is what it holds.
	r = mustRun(t, s, "DECLARE @v sql_variant = SERVERPROPERTY('EngineEdition'); SELECT CASE @v WHEN 3 THEN 'three' END AS c, CAST(SERVERPROPERTY('ProductMajorVersion') AS int) + 1 AS n")
	if got := r.sets[0].rows[0]; got[0] != "three" || got[1] != 16 {
		t.Errorf("expressions over sql_variant: %v", got)
	}
}
