package checks

import (
	"context"
	"fmt"
	"strings"
)

// sweep removes what interrupted runs left behind, found by Prefix: test
// jobs on the managed instance, then test endpoints and certificates on
// SQL Server (an endpoint before the certificate it uses). It returns
// what it removed; a problem is left for the directions to meet, which
// say it better.
func (c *Check) sweep(ctx context.Context) []string {
	var removed []string
	mine := ObjectName(c.RunID)
	if c.ManagedInstance != nil {
		for _, job := range c.leftovers(ctx, c.ManagedInstance, LeftoverJobsSQL, mine) {
			if c.ManagedInstance.Exec(ctx, DeleteJobSQL(job)) == nil {
				removed = append(removed, fmt.Sprintf("job %s on %s", job, c.ManagedInstanceName))
			}
		}
	}
	if c.SQLServer != nil {
		for _, ep := range c.leftovers(ctx, c.SQLServer, LeftoverEndpointsSQL, mine) {
			if c.SQLServer.Exec(ctx, DropEndpointSQL(ep)) == nil {
				removed = append(removed, fmt.Sprintf("endpoint %s on %s", ep, c.SQLServerName))
			}
		}
		for _, cert := range c.leftovers(ctx, c.SQLServer, LeftoverCertificatesSQL, mine) {
			if c.SQLServer.Exec(ctx, DropCertificateSQL(cert)) == nil {
				removed = append(removed, fmt.Sprintf("certificate %s on %s", cert, c.SQLServerName))
			}
		}
	}
	for _, r := range removed {
		c.progress(fmt.Sprintf("removed the %s, left by an interrupted check", r))
	}
	return removed
}

// leftovers lists the names a query finds, but this run's own and any
// that do not start with Prefix exactly (LIKE ignores case).
func (c *Check) leftovers(ctx context.Context, db SQL, q, mine string) []string {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return nil
	}
	var out []string
	for _, row := range rows {
		if n := str(row[0]); strings.HasPrefix(n, Prefix) && n != mine {
			out = append(out, n)
		}
	}
	return out
}
