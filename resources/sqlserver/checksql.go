package sqlserver

import (
	"context"

	"github.com/milink/milink/resources/host"
)

// What other kinds acting through the instance need (the connectivity
// check of resources/checks): its one connection, with the statement
// runner's promises (conn.go), and its host.

// Exec runs a batch that changes the server. Once sent it runs to its end
// even if ctx is cancelled; it is not sent again after a broken
// connection. SQL Server's errors keep their number.
func (i *Instance) Exec(ctx context.Context, batch string) error {
	return i.exec(ctx, batch, batch)
}

// Query runs a batch that only reads and returns the rows of its first
// result set.
func (i *Instance) Query(ctx context.Context, batch string) ([][]any, error) {
	sets, err := i.run(ctx, stmt{log: batch, text: batch})
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	return sets[0].rows, nil
}

// HostTransport is how milink reaches the instance's host (this machine,
// or SSH), and HostOS its operating system ("linux", "windows").
func (i *Instance) HostTransport() host.Transport { return i.transport() }

// HostOS is the host's operating system as configured.
func (i *Instance) HostOS() string {
	if i.s.Host.OS == "windows" {
		return "windows"
	}
	return "linux"
}

// ResultSet is one result set of a batch: its column names (lower case)
// and rows, values as go-mssqldb returns them.
type ResultSet struct {
	Columns []string
	Rows    [][]any
}

// Col is the index of a column, -1 when the set has none of that name.
func (r ResultSet) Col(name string) int {
	for i, c := range r.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// QuerySets runs a batch that only reads and returns every result set,
// so that a kind reads what it needs in one round trip (the link's
// kinds: certificates, endpoints, availability groups and their states).
func (i *Instance) QuerySets(ctx context.Context, batch string) ([]ResultSet, error) {
	sets, err := i.run(ctx, stmt{log: batch, text: batch})
	if err != nil {
		return nil, err
	}
	out := make([]ResultSet, len(sets))
	for n, s := range sets {
		out[n] = ResultSet{Columns: s.cols, Rows: s.rows}
	}
	return out, nil
}
