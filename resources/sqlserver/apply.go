package sqlserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// Apply carries out one change of this instance. The statements are
// rebuilt from the configuration (the change's steps are redacted); every
// kind is safe to run again after a crash halfway: it re-reads what it needs
// and does only what is still missing.
func (i *Instance) Apply(ctx context.Context, s *config.SQLServer, ch resources.Change, salt string, progress func(string)) (resources.Result, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if ch.Action == resources.NoOp || ch.Action == resources.Forget {
		return resources.Result{Attributes: ch.After}, nil
	}
	i.s = s // the configuration holds the secrets; a saved plan does not
	switch ch.Kind {
	case KindMasterKey:
		return i.applyMasterKey(ctx, s, ch, salt)
	case KindHadr:
		return i.applyHadr(ctx, s, ch)
	case KindTraceFlags:
		return i.applyTraceFlags(ctx, s, ch)
	case KindRestart:
		return i.applyRestart(ctx, s, ch, progress)
	case KindVerify:
		return i.applyVerify(ctx, s, ch, progress)
	case KindDatabase:
		return i.applyDatabase(ctx, s, ch, progress)
	}
	return resources.Result{}, fmt.Errorf("%s: unknown change kind %q", ch.Address, ch.Kind)
}

func (i *Instance) applyMasterKey(ctx context.Context, s *config.SQLServer, ch resources.Change, salt string) (resources.Result, error) {
	if s.MasterKey == nil {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	pw := s.MasterKey.Password
	var err error
	switch ch.Action {
	case resources.Create:
		// IF NOT EXISTS makes a re-run after a crash harmless.
		err = i.exec(ctx, CreateMasterKeySQL(pw, true), CreateMasterKeySQL(pw, false))
	case resources.Update:
		err = i.exec(ctx, RegenerateMasterKeySQL(pw, true), RegenerateMasterKeySQL(pw, false))
	default:
		return resources.Result{}, fmt.Errorf("%s: cannot %s a master key", ch.Address, ch.Action)
	}
	if err != nil {
		return resources.Result{}, sqlError(s, ch.Address, "setting the master key", err)
	}
	return resources.Result{Attributes: map[string]any{"exists": true, "password": resources.Fingerprint(salt, pw)}}, nil
}

// planned is an attribute of the plan's After, else of its Before (a
// saved plan from an older milink), else def.
func planned(ch resources.Change, attr string, def any) any {
	if v, ok := ch.After[attr]; ok {
		return v
	}
	if v, ok := ch.Before[attr]; ok {
		return v
	}
	return def
}

func (i *Instance) applyHadr(ctx context.Context, s *config.SQLServer, ch resources.Change) (resources.Result, error) {
	if s.Hadr == nil {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	st, err := i.startup(ctx, ch.Address)
	if err != nil {
		i.settingFailed = true
		return resources.Result{}, err
	}
	want := s.Hadr.Enabled
	if st.Hadr != want {
		if err := i.setHadr(ctx, want); err != nil {
			i.settingFailed = true
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	// The running value is what the plan expects once its restart ran (the
	// verify change checks it), so that the next plan sees no drift.
	running := planned(ch, "enabled_running", want)
	return resources.Result{Attributes: map[string]any{"enabled_running": running, "enabled_configured": want}}, nil
}

func (i *Instance) setHadr(ctx context.Context, on bool) error {
	var step resources.Step
	var err error
	if i.linux != nil {
		step, err = i.linux.SetHadr(ctx, on)
	} else {
		step, err = i.windows.SetHadr(ctx, on)
	}
	i.log.Debug("host step", "kind", step.Kind, "text", step.Text)
	return err
}

func (i *Instance) applyTraceFlags(ctx context.Context, s *config.SQLServer, ch resources.Change) (resources.Result, error) {
	tf := s.StartupTraceFlags
	if tf == nil {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	st, err := i.startup(ctx, ch.Address)
	if err != nil {
		i.settingFailed = true
		return resources.Result{}, err
	}
	want := host.SortedFlags(tf.Flags)
	add := minus(want, st.TraceFlags)
	var remove []int
	if tf.Exclusive {
		remove = minus(st.TraceFlags, want)
	}
	if len(add)+len(remove) > 0 {
		var step resources.Step
		if i.linux != nil {
			step, err = i.linux.SetTraceFlags(ctx, add, remove)
		} else {
			step, err = i.windows.SetTraceFlags(ctx, add, remove)
		}
		i.log.Debug("host step", "kind", step.Kind, "text", step.Text)
		if err != nil {
			i.settingFailed = true
			return resources.Result{}, fmt.Errorf("%s: %w", ch.Address, err)
		}
	}
	configured := minus(union(st.TraceFlags, want), remove)
	running := planned(ch, "running", intsAny(want)) // as for HADR: after the restart
	return resources.Result{Attributes: map[string]any{"running": running, "configured": intsAny(configured)}}, nil
}

// applyRestart runs the restart command, then waits for logins. Once the
// command has started, the two are one critical section: a restart killed
// halfway can leave SQL Server stopped, so an interrupt (ctx cancelled)
// neither stops the command (it runs shielded, see host.Shielded) nor the
// wait for logins, which host.restart_timeout bounds; the interrupt is
// reported once the server is back, or the wait gave up.
func (i *Instance) applyRestart(ctx context.Context, s *config.SQLServer, ch resources.Change, progress func(string)) (resources.Result, error) {
	if s.Restart == "never" {
		return resources.Result{}, fmt.Errorf("%s: restart is forbidden (restart = \"never\")", s.Addr())
	}
	if i.settingFailed {
		return resources.Result{}, fmt.Errorf("%s: not restarting: a startup setting could not be changed", s.Addr())
	}
	if ctx.Err() != nil {
		return resources.Result{}, fmt.Errorf("%s: not restarting: %w", s.Addr(), context.Cause(ctx))
	}
	crit := host.Shielded(ctx)
	var err error
	if i.linux != nil {
		progress(i.linux.RestartSummary())
		err = i.linux.Restart(crit)
	} else {
		progress(i.windows.RestartSummary())
		err = i.windows.Restart(crit)
	}
	if err != nil {
		if ctx.Err() != nil {
			return resources.Result{}, fmt.Errorf("%s: interrupted while the restart command ran (it was left to finish); the restart failed: %w (%w)", s.Addr(), err, context.Cause(ctx))
		}
		return resources.Result{}, fmt.Errorf("%s: restart failed: %w", s.Addr(), err)
	}
	werr := i.waitForLogins(crit, s, progress)
	if ctx.Err() != nil {
		if werr != nil {
			return resources.Result{}, fmt.Errorf("%s: interrupted during the restart; the restart command completed, but: %w (%w)", s.Addr(), werr, context.Cause(ctx))
		}
		return resources.Result{}, fmt.Errorf("%s: interrupted during the restart; the restart completed and the server accepts logins again; nothing after it was done (%w)", s.Addr(), context.Cause(ctx))
	}
	if werr != nil {
		return resources.Result{}, werr
	}
	return resources.Result{Attributes: map[string]any{"restarted_at": i.now().UTC().Format(time.RFC3339)}}, nil
}

func (i *Instance) applyVerify(ctx context.Context, s *config.SQLServer, ch resources.Change, progress func(string)) (resources.Result, error) {
	o, err := i.Refresh(ctx)
	if err != nil {
		return resources.Result{}, err
	}
	var problems, checked []string
	attrs := map[string]any{}
	if s.Hadr != nil {
		attrs["hadr_running"] = o.HadrRunning
		if o.HadrRunning == s.Hadr.Enabled {
			checked = append(checked, map[bool]string{true: "HADR running", false: "HADR not running"}[o.HadrRunning])
		} else {
			problems = append(problems, fmt.Sprintf("HADR is %s (SERVERPROPERTY('IsHadrEnabled')), configured %s", onOff(o.HadrRunning), onOff(s.Hadr.Enabled)))
		}
	}
	if tf := s.StartupTraceFlags; tf != nil {
		attrs["trace_flags_running"] = intsAny(o.FlagsRunning)
		want := host.SortedFlags(tf.Flags)
		if missing := minus(want, o.FlagsRunning); len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("trace flags %s are not active (DBCC TRACESTATUS(-1))", intsText(missing)))
		} else if len(want) > 0 {
			checked = append(checked, fmt.Sprintf("trace flags %s active", intsText(want)))
		}
	}
	if len(problems) > 0 {
		return resources.Result{}, fmt.Errorf("%s came back from the restart without its settings: %s", s.Addr(), strings.Join(problems, "; "))
	}
	if len(checked) > 0 {
		progress(strings.Join(checked, ", "))
	} else {
		progress("server answers; no startup setting to check")
	}
	return resources.Result{Attributes: attrs}, nil
}

func (i *Instance) applyDatabase(ctx context.Context, s *config.SQLServer, ch resources.Change, progress func(string)) (resources.Result, error) {
	var db *config.Database
	for _, d := range s.Databases {
		if d.Addr() == ch.Address {
			db = d
		}
	}
	if db == nil {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	name := db.DatabaseName
	if name == "" {
		name = db.Name
	}
	// The name as the server spells it (the plan found it ignoring case).
	if n, ok := ch.Before["name"].(string); ok && strings.EqualFold(n, name) {
		name = n
	}
	// Re-read just this database: a re-run after a crash then does only
	// what is still missing.
	d, ok, err := i.readDatabase(ctx, ch.Address, name)
	if err != nil {
		return resources.Result{}, err
	}
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: database %s does not exist on %s", ch.Address, QuoteIdent(name), s.Addr())
	}
	attrs := map[string]any{"name": d.Name, "recovery_model": d.RecoveryModel, "last_full_backup": rfc3339(d.LastFullBackup)}
	recovery := d.RecoveryModel != "FULL"
	needBackup := backupNeeded(d, recovery) != "" && db.Backup != nil && db.Backup.Directory != ""
	if (recovery || needBackup) && d.State != "" && d.State != "ONLINE" {
		return resources.Result{}, fmt.Errorf("%s: database %s is %s; it must be ONLINE to be prepared for the link", ch.Address, QuoteIdent(d.Name), d.State)
	}
	if recovery && d.ReadOnly {
		return resources.Result{}, fmt.Errorf("%s: database %s is read-only; its recovery model (%s) cannot be set to FULL", ch.Address, QuoteIdent(d.Name), d.RecoveryModel)
	}
	if recovery {
		q := RecoveryFullSQL(d.Name)
		if err := i.exec(ctx, q, q); err != nil {
			return resources.Result{}, sqlError(s, ch.Address, "setting recovery FULL", err)
		}
		attrs["recovery_model"] = "FULL"
	}
	if needBackup {
		file := BackupFile(db.Backup.Directory, d.Name, s.Host.OS, i.now())
		progress(fmt.Sprintf("backing up %s to %s", ch.Address, file))
		if err := i.backup(ctx, BackupSQL(d.Name, file, db.Backup.Checksum, db.Backup.Compression), progress); err != nil {
			return resources.Result{}, sqlError(s, ch.Address, "backup to "+file+" failed", err)
		}
		attrs["backup_file"] = file
		// The backup's own finish time, as msdb recorded it (the next
		// plan compares with exactly that).
		if d2, ok, err := i.readDatabase(ctx, ch.Address, d.Name); err == nil && ok && !d2.LastFullBackup.IsZero() {
			attrs["last_full_backup"] = rfc3339(d2.LastFullBackup)
		}
		if attrs["last_full_backup"] == "" {
			attrs["last_full_backup"] = rfc3339(i.now())
		}
	}
	return resources.Result{Attributes: attrs}, nil
}
