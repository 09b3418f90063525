package sqlserver

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// Change kinds this package produces.
const (
	KindMasterKey  = "master_key"
	KindHadr       = "hadr"
	KindTraceFlags = "startup_trace_flags"
	KindRestart    = resources.KindRestart
	KindVerify     = resources.KindVerify
	KindDatabase   = "database"
)

// takeEffect agrees the verb with the list of addresses.
func takeEffect(addrs []string) string {
	if len(addrs) == 1 {
		return " takes effect"
	}
	return " take effect"
}

// knownAfterApply marks an attribute whose value exists only once apply ran
// (the time of a backup not yet taken).
const knownAfterApply = "(known after apply)"

// Diff compares the configuration with what Refresh observed and returns
// the instance's changes in the order apply must run them. Pure: no I/O.
func Diff(s *config.SQLServer, o *Observed, prior map[string]resources.Prior, salt string) ([]resources.Change, hcl.Diagnostics) {
	var changes []resources.Change
	var diags hcl.Diagnostics
	srv := s.Addr()
	linux, windows := hostDrivers(s, nil)

	if mk := s.MasterKey; mk != nil {
		changes = append(changes, diffMasterKey(s, mk, o, prior[mk.Addr()], salt))
	}

	var needRestart []string // addresses waiting for the restart
	if h := s.Hadr; h != nil {
		ch := diffHadr(s, h, o, linux, windows)
		if ch.Restart != resources.NoRestart {
			needRestart = append(needRestart, ch.Address)
		}
		if ch.Action == resources.Update && h.Enabled && strings.HasPrefix(o.ProductVersion, "13.") {
			// Configuration Manager says "This computer is not a node in a
			// failover cluster." on 2016 outside a WSFC; the registry value
			// would be set, and the verify after the restart would fail.
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "SQL Server 2016 needs a failover cluster node for Always On",
				Detail: fmt.Sprintf("%s: SQL Server 2016 can enable Always On availability groups only on a Windows Server Failover Cluster node "+
					"(the procedure's \"prepare SQL Server 2016 prerequisites\"); make this host a WSFC node before applying, "+
					"or the verification after the restart will fail.", h.Addr()),
				Subject: h.DeclRange.Ptr(),
			})
		}
		changes = append(changes, ch)
	}
	if tf := s.StartupTraceFlags; tf != nil {
		ch := diffTraceFlags(s, tf, o, linux, windows)
		if ch.Restart != resources.NoRestart {
			needRestart = append(needRestart, ch.Address)
		}
		changes = append(changes, ch)
	}

	if len(needRestart) > 0 {
		restart := resources.Change{
			Address:   srv,
			Kind:      KindRestart,
			Server:    s.Name,
			Action:    resources.Restart,
			Restart:   resources.NeedsRestart,
			DependsOn: needRestart,
			Reason:    "restart once so that " + strings.Join(needRestart, " and ") + takeEffect(needRestart),
		}
		if s.Restart == "never" {
			restart.Action = resources.NoOp
			restart.Restart = resources.PendingRestart
			restart.Reason = `restart forbidden (restart = "never"): ` + strings.Join(needRestart, " and ") + takeEffect(needRestart) + " at the next restart of the instance"
		} else {
			var hstep resources.Step
			if linux != nil {
				hstep = linux.RestartStep()
			} else {
				hstep = windows.RestartStep()
			}
			restart.Steps = []resources.Step{hstep, {Kind: "wait", On: srv, Text: probeSQL}}
		}
		changes = append(changes, restart)
		if s.Restart != "never" {
			changes = append(changes, verifyChange(s, needRestart))
		}
	}

	for _, db := range s.Databases {
		ch, d := diffDatabase(s, db, o)
		diags = append(diags, d...)
		if !d.HasErrors() {
			changes = append(changes, ch)
		}
	}
	return changes, diags
}

func dependsOn(s *config.SQLServer, block []string) []string {
	out := append([]string{s.Addr()}, block...)
	return out
}

func diffMasterKey(s *config.SQLServer, mk *config.MasterKey, o *Observed, prior resources.Prior, salt string) resources.Change {
	fp := resources.Fingerprint(salt, mk.Password)
	priorFP, _ := prior.Attributes["password"].(string)
	ch := resources.Change{
		Address:   mk.Addr(),
		Kind:      KindMasterKey,
		Server:    s.Name,
		Action:    resources.NoOp,
		Before:    map[string]any{"exists": o.MasterKey, "password": priorFP},
		After:     map[string]any{"exists": true, "password": fp},
		Sensitive: []string{"password"},
		DependsOn: dependsOn(s, mk.DependsOn),
	}
	switch {
	case !o.MasterKey:
		ch.Action = resources.Create
		ch.Steps = []resources.Step{{Kind: "tsql", On: s.Addr(), Text: CreateMasterKeySQL(mk.Password, true)}}
		ch.Reason = "no database master key in master"
		if priorFP != "" {
			ch.Reason = "the master key milink created is gone (dropped outside milink)"
		}
	case priorFP == "":
		// Created by someone else: take it over as it is. Dropping or
		// regenerating it would break whatever it already protects.
		ch.Reason = "exists; created outside milink"
	case priorFP == fp:
	default:
		ch.Action = resources.Update
		ch.Steps = []resources.Step{{Kind: "tsql", On: s.Addr(), Text: RegenerateMasterKeySQL(mk.Password, true)}}
		// Not a password change alone: REGENERATE touches every key under
		// the master key, which the link procedure never asks for.
		ch.Reason = "password changed: REGENERATE decrypts and re-encrypts every key the master key protects; not part of the link procedure"
	}
	return ch
}

func diffHadr(s *config.SQLServer, h *config.Hadr, o *Observed, linux *host.Linux, windows *host.Windows) resources.Change {
	ch := resources.Change{
		Address:   h.Addr(),
		Kind:      KindHadr,
		Server:    s.Name,
		Action:    resources.NoOp,
		Before:    map[string]any{"enabled_running": o.HadrRunning, "enabled_configured": o.HadrConfigured},
		DependsOn: dependsOn(s, h.DependsOn),
	}
	running := o.HadrRunning
	if o.HadrRunning != h.Enabled && s.Restart != "never" {
		running = h.Enabled
	}
	ch.After = map[string]any{"enabled_running": running, "enabled_configured": h.Enabled}
	if o.HadrConfigured != h.Enabled {
		ch.Action = resources.Update
		if linux != nil {
			ch.Steps = []resources.Step{linux.HadrStep(h.Enabled, o.ConfTool)}
		} else {
			ch.Steps = []resources.Step{windows.HadrStep(h.Enabled)}
		}
		ch.Reason = fmt.Sprintf("Always On availability groups %s", onOff(h.Enabled))
	}
	if o.HadrRunning != h.Enabled {
		if ch.Action == resources.Update {
			ch.Restart = resources.NeedsRestart
		} else {
			ch.Restart = resources.PendingRestart
			ch.Reason = fmt.Sprintf("configured %s, not yet running: restart pending", onOff(h.Enabled))
		}
	}
	return ch
}

func onOff(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

// minus is a without the elements of b, in a's order (union and intersect
// are its companions for trace flag lists).
func minus(a, b []int) []int {
	in := map[int]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []int
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func union(a, b []int) []int { return host.SortedFlags(append(append([]int(nil), a...), b...)) }

func intsAny(xs []int) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func intsText(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ", ")
}

func diffTraceFlags(s *config.SQLServer, tf *config.StartupTraceFlags, o *Observed, linux *host.Linux, windows *host.Windows) resources.Change {
	want := host.SortedFlags(tf.Flags)
	add := minus(want, o.FlagsConfigured)
	var remove []int
	if tf.Exclusive {
		remove = minus(o.FlagsConfigured, want)
	}
	configured := minus(union(o.FlagsConfigured, want), remove)
	missing := minus(want, o.FlagsRunning)             // wanted, not running
	stale := intersect(remove, o.FlagsRunning)         // removed, still running
	needsRestart := len(missing) > 0 || len(stale) > 0 // only a restart settles the running set
	running := o.FlagsRunning
	if needsRestart && s.Restart != "never" {
		running = minus(union(o.FlagsRunning, want), remove)
	}
	ch := resources.Change{
		Address:   tf.Addr(),
		Kind:      KindTraceFlags,
		Server:    s.Name,
		Action:    resources.NoOp,
		Before:    map[string]any{"running": intsAny(o.FlagsRunning), "configured": intsAny(o.FlagsConfigured)},
		After:     map[string]any{"running": intsAny(running), "configured": intsAny(configured)},
		DependsOn: dependsOn(s, tf.DependsOn),
	}
	var why []string
	if len(add) > 0 {
		why = append(why, "add startup trace flags "+intsText(add))
	}
	if len(remove) > 0 {
		why = append(why, "remove startup trace flags "+intsText(remove))
	}
	if len(add)+len(remove) > 0 {
		ch.Action = resources.Update
		if linux != nil {
			ch.Steps = []resources.Step{linux.TraceFlagsStep(o.FlagsConfigured, add, remove, o.ConfTool)}
		} else {
			ch.Steps = []resources.Step{windows.TraceFlagsStep(add, remove)}
		}
		if needsRestart {
			ch.Restart = resources.NeedsRestart
		}
	} else if needsRestart {
		ch.Restart = resources.PendingRestart
		var pend []string
		if len(missing) > 0 {
			pend = append(pend, intsText(missing)+" configured, not yet running")
		}
		if len(stale) > 0 {
			pend = append(pend, intsText(stale)+" removed, still running")
		}
		why = append(why, strings.Join(pend, "; ")+": restart pending")
	}
	ch.Reason = strings.Join(why, "; ")
	return ch
}

func intersect(a, b []int) []int { return minus(a, minus(a, b)) }

func verifyChange(s *config.SQLServer, after []string) resources.Change {
	var what []string
	if s.Hadr != nil {
		what = append(what, "HADR "+onOff(s.Hadr.Enabled))
	}
	if s.StartupTraceFlags != nil && len(s.StartupTraceFlags.Flags) > 0 {
		what = append(what, "trace flags "+intsText(host.SortedFlags(s.StartupTraceFlags.Flags))+" active")
	}
	return resources.Change{
		Address:   s.Addr(),
		Kind:      KindVerify,
		Server:    s.Name,
		Action:    resources.Verify,
		DependsOn: append([]string{s.Addr()}, after...),
		Steps:     []resources.Step{{Kind: "tsql", On: s.Addr(), Text: strings.TrimSpace(refreshSQL)}},
		Reason:    "after the restart: " + strings.Join(what, ", "),
	}
}

// backupNeeded says why a database needs a full backup for the link, or "".
func backupNeeded(d DatabaseState, recoveryChanges bool) string {
	switch {
	case recoveryChanges:
		return "a full backup after switching to FULL starts the log chain"
	case d.LastFullBackup.IsZero() && !d.LastCopyOnlyBackup.IsZero():
		return "the only full backup is COPY_ONLY, which starts no log chain and does not count"
	case d.LastFullBackup.IsZero():
		return "never backed up in full"
	case !d.LogChain:
		return "no log chain: the last full backup was taken before FULL recovery"
	}
	return ""
}

func diffDatabase(s *config.SQLServer, db *config.Database, o *Observed) (resources.Change, hcl.Diagnostics) {
	name := db.DatabaseName
	if name == "" {
		name = db.Name
	}
	rng := db.DeclRange
	d, ok := o.Database(name)
	if !ok {
		return resources.Change{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Database does not exist",
			Detail:   fmt.Sprintf("%s: there is no database %s on %s (%s).%s", db.Addr(), QuoteIdent(name), s.Addr(), target(s), suggestDatabase(name, o)),
			Subject:  &rng,
		}}
	}
	if d.State != "" && d.State != "ONLINE" {
		return resources.Change{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Database is not online",
			Detail:   fmt.Sprintf("%s: database %s is %s; it must be ONLINE to be prepared for the link.", db.Addr(), QuoteIdent(d.Name), d.State),
			Subject:  &rng,
		}}
	}
	lastFull := ""
	if !d.LastFullBackup.IsZero() {
		lastFull = d.LastFullBackup.UTC().Format(time.RFC3339)
	}
	ch := resources.Change{
		Address:   db.Addr(),
		Kind:      KindDatabase,
		Server:    s.Name,
		Action:    resources.NoOp,
		Before:    map[string]any{"name": d.Name, "recovery_model": d.RecoveryModel, "last_full_backup": lastFull},
		After:     map[string]any{"name": d.Name, "recovery_model": "FULL", "last_full_backup": lastFull},
		DependsOn: dependsOn(s, db.DependsOn),
	}
	var diags hcl.Diagnostics
	var why []string
	recovery := d.RecoveryModel != "FULL"
	if recovery {
		if d.ReadOnly {
			return resources.Change{}, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Database is read-only",
				Detail:   fmt.Sprintf("%s: database %s is read-only; its recovery model (%s) cannot be set to FULL.", db.Addr(), QuoteIdent(d.Name), d.RecoveryModel),
				Subject:  &rng,
			}}
		}
		ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: s.Addr(), Text: RecoveryFullSQL(d.Name)})
		why = append(why, fmt.Sprintf("recovery model %s → FULL", d.RecoveryModel))
	}
	if reason := backupNeeded(d, recovery); reason != "" {
		if db.Backup == nil || db.Backup.Directory == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Database needs a full backup",
				Detail:   fmt.Sprintf("%s: %s; add a backup block so that milink takes one, or the link cannot start.", db.Addr(), reason),
				Subject:  &rng,
			})
		} else {
			file := BackupFile(db.Backup.Directory, d.Name, s.Host.OS, time.Time{})
			ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: s.Addr(), Text: BackupSQL(d.Name, file, db.Backup.Checksum, db.Backup.Compression)})
			ch.After["last_full_backup"] = knownAfterApply
			ch.After["backup_file"] = knownAfterApply
			why = append(why, reason)
		}
	}
	if len(ch.Steps) > 0 {
		ch.Action = resources.Update
	}
	ch.Reason = strings.Join(why, "; ")
	return ch, diags
}

// suggestDatabase names the user databases that exist, to spot a typo.
func suggestDatabase(name string, o *Observed) string {
	var names []string
	for n, d := range o.Databases {
		if d.ID > 4 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return " The instance has no user databases."
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], "…")
	}
	return " Databases there: " + strings.Join(names, ", ") + "."
}
