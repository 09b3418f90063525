package labcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/arm"
)

func linkCommand() *command {
	var dir string
	var asJSON bool
	return &command{
		name: "link", usage: "status [-json] | advance DURATION | fault NAME on|off", summary: "show and drive the managed instance link's simulation",
		help: `The lab simulates the managed instance link between sql01 and mi01: once
milink (or anyone) creates a link through the lab's Resource Manager
(distributedAvailabilityGroups), it goes CreatingLink -> Seeding (0-100 %)
-> LinkSynchronizing on the lab's own clock, which runs with real time and
which these commands show and move on.

  status            a table of the links and their databases: replica state,
                    seeding progress, synchronization health, connected state,
                    the last received and hardened LSNs, the send/redo lag in
                    seconds, and the most recent link error (e.g. 41973).
  advance DURATION  move the link clock on (30s, 5m, 1h30m; at most 24h) and
                    show the links as they are then, e.g. to finish seeding
                    or let the managed instance catch up in a test.
  fault NAME on|off arm or disarm a fault of the simulation:
                      seeding_interrupted  seeding starts over from 0 % (one
                                           more attempt in the seeding DMVs)
                      port_closed          sql01's endpoint refuses mi01: the
                                           link reports 41986 until off

Certificates missing or misnamed, an unresolvable partner endpoint, an
expired certificate and a log backup during seeding (1412) are not faults:
make them with the data, as they happen in life.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.BoolVar(&asJSON, "json", false, "print JSON (status, advance): [{\"name\", \"replication_mode\", ..., \"databases\": [{\"name\", \"replica_state\", \"seeding_progress\", ...}]}]")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if len(args) == 0 {
				return usageError("want a subcommand: status, advance DURATION or fault NAME on|off")
			}
			switch args[0] {
			case "status":
				if len(args) != 1 {
					return usageError("unexpected argument %q", args[1])
				}
				c, err := connect(dir)
				if err != nil {
					return err
				}
				links, err := c.LinkStatus(ctx)
				if err != nil {
					return err
				}
				return printLinks(stdout, links, asJSON)
			case "advance":
				if len(args) != 2 {
					return usageError("want one duration: milink lab link advance 30s")
				}
				d, err := lab.ParseLinkAdvance(args[1])
				if err != nil {
					return usageError("%v", err)
				}
				c, err := connect(dir)
				if err != nil {
					return err
				}
				links, err := c.LinkAdvance(ctx, d)
				if err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintf(stdout, "link clock advanced by %s\n", d)
				}
				return printLinks(stdout, links, asJSON)
			case "fault":
				if len(args) != 3 || (args[2] != "on" && args[2] != "off") {
					return usageError("want a fault and on or off: milink lab link fault %s on", lab.LinkFaults[0])
				}
				if !slices.Contains(lab.LinkFaults, args[1]) {
					return usageError("unknown link fault %q (faults: %s)", args[1], strings.Join(lab.LinkFaults, ", "))
				}
				c, err := connect(dir)
				if err != nil {
					return err
				}
				if err := c.SetLinkFault(ctx, args[1], args[2] == "on"); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "link fault %s %s\n", args[1], args[2])
				return nil
			}
			return usageError("unknown subcommand %q (want status, advance or fault)", args[0])
		},
	}
}

// printLinks shows one row per database of each link.
func printLinks(w io.Writer, links []arm.LinkStatus, asJSON bool) error {
	if asJSON {
		return writeJSON(w, linksJSON(links))
	}
	if len(links) == 0 {
		fmt.Fprintln(w, "no links (create one with a distributedAvailabilityGroups PUT, e.g. milink apply)")
		return nil
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINK\tDATABASE\tREPLICA STATE\tSEEDING\tHEALTH\tCONNECTED\tRECEIVED LSN\tHARDENED LSN\tLAG SEND/REDO\tMODE\tERROR")
	for _, l := range links {
		if len(l.Databases) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t%s\t-\n", l.Name, dash(strings.Join(l.LinkSpec.Databases, ",")), l.ReplicationMode)
			continue
		}
		for _, d := range l.Databases {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%ds/%ds\t%s\t%s\n", l.Name, d.Name, dash(d.ReplicaState), dash(d.SeedingProgress),
				dash(d.SynchronizationHealth), dash(d.ConnectedState), dash(d.LastReceivedLSN), dash(d.LastHardenedLSN),
				d.SendLagSeconds, d.RedoLagSeconds, l.ReplicationMode, dash(d.MostRecentLinkError))
		}
	}
	return tw.Flush()
}

// linkJSON is a link as `milink lab link status -json` shows it, in the
// snake_case of the lab's other JSON.
type linkJSON struct {
	Name             string         `json:"name"`
	ID               string         `json:"id"`
	PartnerAG        string         `json:"partner_availability_group"`
	PartnerEndpoint  string         `json:"partner_endpoint"`
	InstanceAG       string         `json:"instance_availability_group"`
	InstanceLinkRole string         `json:"instance_link_role"`
	FailoverMode     string         `json:"failover_mode"`
	SeedingMode      string         `json:"seeding_mode"`
	ReplicationMode  string         `json:"replication_mode"`
	Databases        []linkDatabase `json:"databases"`
}

type linkDatabase struct {
	Name                  string     `json:"name"`
	ReplicaState          string     `json:"replica_state"`
	SeedingProgress       string     `json:"seeding_progress"`
	SynchronizationHealth string     `json:"synchronization_health"`
	ConnectedState        string     `json:"connected_state"`
	LastReceivedLSN       string     `json:"last_received_lsn"`
	LastHardenedLSN       string     `json:"last_hardened_lsn"`
	LastCommitLSN         string     `json:"last_commit_lsn"`
	LastBackupLSN         string     `json:"last_backup_lsn"`
	LastHardenedTime      *time.Time `json:"last_hardened_time,omitempty"`
	MostRecentLinkError   string     `json:"most_recent_link_error"`
	PartnerCertName       string     `json:"partner_certificate"`
	PartnerCertExpiry     *time.Time `json:"partner_certificate_expiry,omitempty"`
	SendLagSeconds        int64      `json:"send_lag_seconds"`
	RedoLagSeconds        int64      `json:"redo_lag_seconds"`
	InstanceReplicaID     string     `json:"instance_replica_id"`
	PartnerReplicaID      string     `json:"partner_replica_id"`
}

func linksJSON(links []arm.LinkStatus) []linkJSON {
	out := []linkJSON{}
	when := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	for _, l := range links {
		j := linkJSON{Name: l.Name, ID: l.ID, PartnerAG: l.PartnerAG, PartnerEndpoint: l.PartnerEndpoint, InstanceAG: l.InstanceAG,
			InstanceLinkRole: l.InstanceLinkRole, FailoverMode: l.FailoverMode, SeedingMode: l.SeedingMode, ReplicationMode: l.ReplicationMode,
			Databases: []linkDatabase{}}
		for _, d := range l.Databases {
			j.Databases = append(j.Databases, linkDatabase{Name: d.Name, ReplicaState: d.ReplicaState, SeedingProgress: d.SeedingProgress,
				SynchronizationHealth: d.SynchronizationHealth, ConnectedState: d.ConnectedState, LastReceivedLSN: d.LastReceivedLSN,
				LastHardenedLSN: d.LastHardenedLSN, LastCommitLSN: d.LastCommitLSN, LastBackupLSN: d.LastBackupLSN,
				LastHardenedTime: when(d.LastHardenedTime), MostRecentLinkError: d.MostRecentLinkError, PartnerCertName: d.PartnerCertName,
				PartnerCertExpiry: when(d.PartnerCertExpiry), SendLagSeconds: d.SendLagSeconds, RedoLagSeconds: d.RedoLagSeconds,
				InstanceReplicaID: d.InstanceReplicaID, PartnerReplicaID: d.PartnerReplicaID})
		}
		out = append(out, j)
	}
	return out
}
