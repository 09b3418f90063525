package checks

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// DB is SQL over database/sql (go-mssqldb): what a check uses where no
// target's own connection is at hand. Each batch names the database it
// needs, so pooled connections do.
type DB struct{ DB *sql.DB }

// Exec runs a batch that changes the server.
func (d DB) Exec(ctx context.Context, batch string) error {
	_, err := d.DB.ExecContext(ctx, batch)
	return err
}

// Query runs a batch and returns the rows of its first result set.
func (d DB) Query(ctx context.Context, batch string) ([][]any, error) {
	rows, err := d.DB.QueryContext(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// str is a column's text ("" for NULL).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// num is a column's integer (0 for NULL or text that is not one).
func num(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case int32:
		return int(x)
	case int:
		return x
	case float64:
		return int(x)
	}
	n, _ := strconv.Atoi(str(v))
	return n
}
