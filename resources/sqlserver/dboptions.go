package sqlserver

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// The optional database settings today's link documentation mentions
// beside the required ones: accelerated database recovery (faster
// recovery and log truncation, SQL Server 2019 and later) and Service
// Broker. Each is left as it is unless the database block sets it.

// ADRSQL turns accelerated database recovery on or off.
func ADRSQL(db string, on bool) string {
	return fmt.Sprintf("ALTER DATABASE %s SET ACCELERATED_DATABASE_RECOVERY = %s;", QuoteIdent(db), onOffSQL(on))
}

// BrokerSQL enables or disables Service Broker. Either needs exclusive
// access to the database: WITH NO_WAIT fails at once (error 5070) while
// other sessions use it, rather than waiting for them indefinitely or
// rolling their work back (WITH ROLLBACK IMMEDIATE), which milink never
// decides for the DBA.
func BrokerSQL(db string, on bool) string {
	opt := "DISABLE_BROKER"
	if on {
		opt = "ENABLE_BROKER"
	}
	return fmt.Sprintf("ALTER DATABASE %s SET %s WITH NO_WAIT;", QuoteIdent(db), opt)
}

func onOffSQL(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// adrMajor is the first major version with accelerated database recovery
// (SQL Server 2019).
const adrMajor = 15

// diffOptions adds the steps of the optional settings to ch; an error when
// the instance cannot have one.
func diffOptions(db *Database, d DatabaseState, o *Observed, ch *resources.Change) (why []string, diags hcl.Diagnostics) {
	on := ch.Target
	if db.ADR != nil {
		if MajorVersion(o.ProductVersion) < adrMajor && *db.ADR {
			rng := db.DeclRange
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Accelerated database recovery needs SQL Server 2019",
				Detail:   fmt.Sprintf("%s: accelerated_database_recovery = true needs SQL Server 2019 or later; this instance is %s. Remove the setting.", db.Addr(), o.ProductVersion),
				Subject:  &rng,
			}}
		}
		ch.Before["accelerated_database_recovery"] = d.ADR
		ch.After["accelerated_database_recovery"] = *db.ADR
		if d.ADR != *db.ADR {
			ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: on, Text: ADRSQL(d.Name, *db.ADR)})
			why = append(why, "accelerated database recovery "+onOff(*db.ADR))
		}
	}
	if db.ServiceBroker != nil {
		ch.Before["service_broker"] = d.Broker
		ch.After["service_broker"] = *db.ServiceBroker
		if d.Broker != *db.ServiceBroker {
			ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: on, Text: BrokerSQL(d.Name, *db.ServiceBroker)})
			why = append(why, "Service Broker "+onOff(*db.ServiceBroker)+
				": this needs exclusive access to the database; WITH NO_WAIT fails at once while other sessions use it, so run it when they are gone")
		}
	}
	return why, nil
}

// applyOptions carries out the optional settings the change planned.
func (i *Instance) applyOptions(ctx context.Context, ch resources.Change, name string, attrs map[string]any) error {
	for _, opt := range []struct {
		attr string
		sql  func(string, bool) string
	}{{"accelerated_database_recovery", ADRSQL}, {"service_broker", BrokerSQL}} {
		want, ok := ch.After[opt.attr].(bool)
		if !ok {
			continue
		}
		if before, ok := ch.Before[opt.attr].(bool); ok && before == want {
			attrs[opt.attr] = want
			continue
		}
		q := opt.sql(name, want)
		if err := i.exec(ctx, q, q); err != nil {
			return sqlError(i.s, ch.Address, "setting "+opt.attr, err)
		}
		attrs[opt.attr] = want
	}
	return nil
}
