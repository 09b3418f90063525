package labcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

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
			fs.BoolVar(&asJSON, "json", false, "print JSON (status, advance): the links as the simulation reports them")
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
		if links == nil {
			links = []arm.LinkStatus{}
		}
		return writeJSON(w, links)
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
