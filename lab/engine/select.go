package engine

import (
	"sort"
	"strings"

	"github.com/milink/milink/lab/tds"
)

// source is the FROM clause materialised: its scope and combined rows.
func (s *Session) buildFrom(sel *selectStmt, outer *evalCtx) (*scope, [][]any, *sqlError) {
	sc := &scope{}
	if len(sel.from) == 0 {
		return sc, [][]any{{}}, nil
	}
	var rows [][]any
	for n, fi := range sel.from {
		var t *table
		var err *sqlError
		switch {
		case fi.sub != nil:
			t, err = s.runSelect(fi.sub, outer)
		case fi.fn:
			t, err = s.callTableFunction(fi, outer)
		default:
			t, err = s.lookupTable(fi.name)
		}
		if err != nil {
			return nil, nil, err
		}
		bt := boundTable{alias: strings.ToLower(fi.alias), cols: t.cols, offset: sc.width}
		if fi.name != nil {
			bt.name = strings.ToLower(fi.name[len(fi.name)-1])
		}
		if fi.sub != nil {
			bt.name = bt.alias
		}
		sc.tables = append(sc.tables, bt)
		sc.width += len(t.cols)
		if n == 0 {
			rows = t.rows
			continue
		}
		var out [][]any
		for _, l := range rows {
			matched := false
			for _, r := range t.rows {
				comb := append(append(make([]any, 0, sc.width), l...), r...)
				if fi.join == "" || fi.join == "CROSS" {
					out = append(out, comb)
					continue
				}
				ctx := &evalCtx{s: s, sc: sc, row: comb, outer: outer}
				v, err := ctx.eval(fi.on)
				if err != nil {
					return nil, nil, err
				}
				if truthy(v) {
					matched = true
					out = append(out, comb)
				}
			}
			if fi.join == "LEFT" && !matched {
				comb := append(append(make([]any, 0, sc.width), l...), make([]any, len(t.cols))...)
				out = append(out, comb)
			}
		}
		rows = out
	}
	return sc, rows, nil
}

// selectScope returns the scope of sel's FROM clause without its rows (for
// type inference).
func (s *Session) selectScope(sel *selectStmt) (*scope, *sqlError) {
	sc := &scope{}
	for _, fi := range sel.from {
		var cols []tcol
		if fi.sub != nil {
			t, err := s.runSelect(fi.sub, nil)
			if err != nil {
				return nil, err
			}
			cols = t.cols
		} else {
			var t *table
			var err *sqlError
			if fi.fn {
				t, err = s.callTableFunction(fi, nil)
			} else {
				t, err = s.lookupTable(fi.name)
			}
			if err != nil {
				return nil, err
			}
			cols = t.cols
		}
		bt := boundTable{alias: strings.ToLower(fi.alias), cols: cols, offset: sc.width}
		if fi.name != nil {
			bt.name = strings.ToLower(fi.name[len(fi.name)-1])
		}
		sc.tables = append(sc.tables, bt)
		sc.width += len(cols)
	}
	return sc, nil
}

type outRow struct {
	vals  []any
	row   []any
	group [][]any
}

// runSelect evaluates a SELECT (without variable assignment) into a table.
func (s *Session) runSelect(sel *selectStmt, outer *evalCtx) (*table, *sqlError) {
	sc, rows, err := s.buildFrom(sel, outer)
	if err != nil {
		return nil, err
	}
	if sel.where != nil {
		var kept [][]any
		for _, r := range rows {
			ctx := &evalCtx{s: s, sc: sc, row: r, outer: outer}
			v, err := ctx.eval(sel.where)
			if err != nil {
				return nil, err
			}
			if truthy(v) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	agg := len(sel.groupBy) > 0 || sel.having != nil
	for _, it := range sel.items {
		if hasAggregate(it.e) {
			agg = true
		}
	}
	// The output columns.
	type outCol struct {
		name string
		e    expr
		ty   colType
	}
	var cols []outCol
	tctx := &evalCtx{s: s, sc: sc, outer: outer, agg: agg}
	for _, it := range sel.items {
		if st, ok := it.e.(*starExpr); ok {
			if agg {
				return nil, errf(8120, 16, "Column is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause.")
			}
			matched := false
			for _, bt := range sc.tables {
				if len(st.qual) > 0 {
					q := strings.ToLower(st.qual[len(st.qual)-1])
					if q != bt.alias && q != bt.name {
						continue
					}
				}
				matched = true
				for _, c := range bt.cols {
					name := bt.alias
					if name == "" {
						name = bt.name
					}
					cols = append(cols, outCol{name: c.name, e: &colRef{parts: []string{name, c.name}}, ty: c.ty})
				}
			}
			if !matched {
				if len(sc.tables) == 0 {
					return nil, errf(263, 16, "Must specify table to select from.")
				}
				return nil, errf(4104, 16, "The multi-part identifier \"%s\" could not be bound.", strings.Join(st.qual, "."))
			}
			continue
		}
		name := it.alias
		if !it.hasAls {
			if cr, ok := it.e.(*colRef); ok {
				name = cr.parts[len(cr.parts)-1]
			}
		}
		cols = append(cols, outCol{name: name, e: it.e, ty: tctx.typeOf(it.e)})
	}
	var outs []outRow
	if agg {
		type grp struct{ rows [][]any }
		var order []string
		groups := map[string]*grp{}
		for _, r := range rows {
			key := ""
			ctx := &evalCtx{s: s, sc: sc, row: r, outer: outer}
			for _, g := range sel.groupBy {
				v, err := ctx.eval(g)
				if err != nil {
					return nil, err
				}
				key += "\x00" + valueTypeName(v) + ":" + strings.ToLower(toString(v))
			}
			gr, ok := groups[key]
			if !ok {
				gr = &grp{}
				groups[key] = gr
				order = append(order, key)
			}
			gr.rows = append(gr.rows, r)
		}
		if len(sel.groupBy) == 0 && len(order) == 0 {
			order = append(order, "")
			groups[""] = &grp{}
		}
		for _, k := range order {
			g := groups[k]
			ctx := &evalCtx{s: s, sc: sc, group: g.rows, agg: true, outer: outer}
			if len(g.rows) > 0 {
				ctx.row = nil
			}
			if sel.having != nil {
				v, err := ctx.eval(sel.having)
				if err != nil {
					return nil, err
				}
				if !truthy(v) {
					continue
				}
			}
			o := outRow{group: g.rows}
			for _, c := range cols {
				v, err := ctx.eval(c.e)
				if err != nil {
					return nil, err
				}
				o.vals = append(o.vals, v)
			}
			outs = append(outs, o)
		}
	} else {
		for _, r := range rows {
			ctx := &evalCtx{s: s, sc: sc, row: r, outer: outer}
			o := outRow{row: r}
			for _, c := range cols {
				v, err := ctx.eval(c.e)
				if err != nil {
					return nil, err
				}
				o.vals = append(o.vals, v)
			}
			outs = append(outs, o)
		}
	}
	if sel.distinct {
		var uniq []outRow
		seen := map[string]bool{}
		for _, o := range outs {
			k := ""
			for _, v := range o.vals {
				k += "\x00" + valueTypeName(v) + ":" + strings.ToLower(toString(v))
			}
			if !seen[k] {
				seen[k] = true
				uniq = append(uniq, o)
			}
		}
		outs = uniq
	}
	if len(sel.orderBy) > 0 {
		keys := make([][]any, len(outs))
		for n, o := range outs {
			for _, ob := range sel.orderBy {
				var v any
				done := false
				if l, ok := ob.e.(*litExpr); ok {
					if idx, ok := l.v.(int64); ok {
						if idx < 1 || int(idx) > len(cols) {
							return nil, errf(108, 16, "The ORDER BY position number %d is out of range of the number of items in the select list.", idx)
						}
						v, done = o.vals[idx-1], true
					}
				}
				if cr, ok := ob.e.(*colRef); ok && len(cr.parts) == 1 && !done {
					for ci, c := range cols {
						if strings.EqualFold(c.name, cr.parts[0]) {
							v, done = o.vals[ci], true
							break
						}
					}
				}
				if !done {
					ctx := &evalCtx{s: s, sc: sc, row: o.row, group: o.group, agg: agg, outer: outer}
					var err *sqlError
					if v, err = ctx.eval(ob.e); err != nil {
						return nil, err
					}
				}
				keys[n] = append(keys[n], v)
			}
		}
		idx := make([]int, len(outs))
		for n := range idx {
			idx[n] = n
		}
		sort.SliceStable(idx, func(a, b int) bool {
			for k, ob := range sel.orderBy {
				x, y := keys[idx[a]][k], keys[idx[b]][k]
				var c int
				switch {
				case x == nil && y == nil:
					c = 0
				case x == nil:
					c = -1
				case y == nil:
					c = 1
				default:
					c, _ = compare(x, y)
				}
				if ob.desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
		sorted := make([]outRow, len(outs))
		for n, j := range idx {
			sorted[n] = outs[j]
		}
		outs = sorted
	}
	if sel.top != nil {
		ctx := &evalCtx{s: s, outer: outer}
		v, err := ctx.eval(sel.top)
		if err != nil {
			return nil, err
		}
		n, ok := toNumber(v)
		if !ok || n < 0 {
			return nil, errf(1014, 15, "The number of rows provided for a TOP or FETCH clauses row count parameter must be an integer.")
		}
		if int(n) < len(outs) {
			outs = outs[:int(n)]
		}
	}
	t := &table{}
	for _, c := range cols {
		t.cols = append(t.cols, tcol{name: c.name, ty: c.ty})
	}
	for _, o := range outs {
		t.rows = append(t.rows, o.vals)
	}
	return t, nil
}

// sendTable writes a result set.
func (s *Session) sendTable(t *table, w tds.ResponseWriter) error {
	cols := make([]tds.Column, len(t.cols))
	for n, c := range t.cols {
		cols[n] = wireColumn(c.name, c.ty)
	}
	if err := w.Columns(cols); err != nil {
		return err
	}
	for _, r := range t.rows {
		vals := make([]any, len(r))
		for n, v := range r {
			cv := v
			ct := t.cols[n].ty
			// A value whose Go type does not match the column (e.g. an
			// int from CASE in an nvarchar column) is converted first.
			if ct.t != tds.Variant && v != nil {
				if x, err := convert(v, colType{t: ct.t, scale: ct.scale, size: decimalSize(ct)}); err == nil {
					cv = x
				}
			}
			vals[n] = wireValue(cv, ct)
		}
		if err := w.Row(vals...); err != nil {
			return err
		}
	}
	return nil
}
