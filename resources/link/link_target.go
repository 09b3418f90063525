package link

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// databaseReader is what the link needs of the SQL Server's refresh: each
// database's eligibility facts (*sqlserver.Observed).
type databaseReader interface {
	Database(name string) (sqlserver.DatabaseState, bool)
}

// checkTarget holds each linked database against the managed instance it
// goes to, now that the link says which one: In-Memory OLTP needs a
// Business Critical instance (Azure refuses the link otherwise,
// ManagedInstanceLinkSourceDbHasHekatonFile), and a collation other than
// the instance's is replicated as it is, with a warning. A database the
// SQL Server's refresh did not read (no database block) is not judged.
func checkTarget(c *LinkConfig, miObs resources.Observation, sqlObs resources.Observation) hcl.Diagnostics {
	mi, ok := miObs.(*azure.Observed)
	dbs, ok2 := sqlObs.(databaseReader)
	if !ok || !ok2 || mi == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, name := range c.Databases {
		d, ok := dbs.Database(name)
		if !ok {
			continue
		}
		if d.MemoryOptimized && mi.ServiceTier != "" && !strings.Contains(mi.ServiceTier, "BusinessCritical") {
			diags = append(diags, linkDiag(c, hcl.DiagError, "In-Memory OLTP on a "+mi.ServiceTier+" managed instance",
				fmt.Sprintf("database %s has a MEMORY_OPTIMIZED_DATA filegroup, which only a Business Critical managed instance supports; the link would fail (ManagedInstanceLinkSourceDbHasHekatonFile). Link it to a Business Critical instance, or remove the memory-optimized objects and filegroup first.", sqlserver.QuoteIdent(name))))
		}
		if d.Collation != "" && mi.Collation != "" && !strings.EqualFold(d.Collation, mi.Collation) {
			diags = append(diags, linkDiag(c, hcl.DiagWarning, "Collation differs from the managed instance's",
				fmt.Sprintf("database %s uses collation %s, the managed instance %s; the link replicates the database as it is, but queries that meet tempdb or system objects on the managed instance may compare and sort differently. Use a managed instance with the same collation where you can.", sqlserver.QuoteIdent(name), d.Collation, mi.Collation)))
		}
	}
	return diags
}
