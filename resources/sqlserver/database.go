package sqlserver

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// databaseImpl is the database kind: a user database in FULL recovery with
// a full, non-copy-only backup that started its log chain.
type databaseImpl struct{}

// backupNeeded says why a database needs a full backup for the link, or "".
// fromSimple: the recovery model changes from SIMPLE, which keeps no log
// chain; from BULK_LOGGED the chain goes on, and a full backup that started
// it still counts.
func backupNeeded(d DatabaseState, fromSimple bool) string {
	switch {
	case fromSimple:
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

func (databaseImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	db := req.Config.(*Database)
	o := req.Observed.(*Observed)
	s := req.Target.(*Instance).s
	name := db.DatabaseName
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
	d.Filestream, d.MemoryOptimized = o.filegroups(name)
	diags := eligibility(req, db, d, o)
	if hasErrors(diags) {
		return resources.Change{}, diags
	}
	lastFull := rfc3339(d.LastFullBackup)
	ch := resources.Change{
		Address: db.Addr(),
		Kind:    KindDatabase,
		Target:  s.Addr(),
		Action:  resources.NoOp,
		Before:  map[string]any{"name": d.Name, "recovery_model": d.RecoveryModel, "last_full_backup": lastFull},
		After:   map[string]any{"name": d.Name, "recovery_model": "FULL", "last_full_backup": lastFull},
	}
	var why []string
	recovery := d.RecoveryModel != "FULL"
	if recovery {
		ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: s.Addr(), Text: RecoveryFullSQL(d.Name)})
		why = append(why, fmt.Sprintf("recovery model %s → FULL", d.RecoveryModel))
	}
	reason := backupNeeded(d, d.RecoveryModel == "SIMPLE")
	if reason != "" {
		if db.Backup == nil || db.Backup.Directory == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Database needs a full backup",
				Detail:   fmt.Sprintf("%s: %s; add a backup block so that milink takes one, or the link cannot start.", db.Addr(), reason),
				Subject:  &rng,
			})
		} else if st, ok := o.Directories[db.Backup.Directory]; ok && st.Problem(db.Backup.Directory, s.Addr()) != "" {
			// Checked now, in the refresh: BACKUP would fail with 3201
			// after the recovery model had already been changed.
			rng := db.Backup.DeclRange
			return resources.Change{}, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Backup directory does not exist",
				Detail:   fmt.Sprintf("%s: %s; milink checked it before changing anything.", db.Addr(), st.Problem(db.Backup.Directory, s.Addr())),
				Subject:  &rng,
			})
		} else {
			file := BackupFile(db.Backup.Directory, d.Name, s.Host.OS, time.Time{})
			ch.Steps = append(ch.Steps, resources.Step{Kind: "tsql", On: s.Addr(), Text: BackupSQL(d.Name, file, db.Backup.Checksum, db.Backup.Compression)})
			// Known once the backup ran: the plan holds no placeholder.
			delete(ch.After, "last_full_backup")
			ch.Unknown = []string{"backup_file", "last_full_backup"}
			why = append(why, reason)
		}
	}
	optWhy, optDiags := diffOptions(db, d, o, &ch)
	if optDiags.HasErrors() {
		return resources.Change{}, append(diags, optDiags...)
	}
	why = append(why, optWhy...)
	if len(ch.Steps) > 0 {
		ch.Action = resources.Update
	}
	if recovery {
		// What FULL means for the DBA afterwards, said once, here.
		why = append(why, "in FULL recovery the log grows until log backups run: schedule them; milink's full backup is the base of later differentials")
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

func (databaseImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	i := req.Target.(*Instance)
	if req.Progress != nil {
		defer i.reportTo(req.Progress)()
	}
	s := i.s
	ch := req.Change
	progress := req.Progress
	if progress == nil {
		progress = func(string) {}
	}
	db, ok := req.Config.(*Database)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	name := db.DatabaseName
	// The name as the server spells it (the plan found it ignoring case).
	if n, ok := ch.Before["name"].(string); ok && strings.EqualFold(n, name) {
		name = n
	}
	var d DatabaseState
	var recovery, needBackup bool
	if req.Fresh {
		// The plan was made moments ago in this run: its Before is what
		// the server holds, and its steps say what is missing.
		d = DatabaseState{Name: name, State: "ONLINE"}
		d.RecoveryModel, _ = ch.Before["recovery_model"].(string)
		last, _ := ch.Before["last_full_backup"].(string)
		d.LastFullBackup, _ = time.Parse(time.RFC3339, last)
		recovery = d.RecoveryModel != "FULL"
		needBackup = ch.IsUnknown("last_full_backup") && db.Backup != nil && db.Backup.Directory != ""
	} else {
		// A saved plan: re-read just this database, so that a re-run after
		// a crash does only what is still missing.
		var ok bool
		var err error
		d, ok, err = i.readDatabase(ctx, ch.Address, name)
		if err != nil {
			return resources.Result{}, err
		}
		if !ok {
			return resources.Result{}, fmt.Errorf("%s: database %s does not exist on %s", ch.Address, QuoteIdent(name), s.Addr())
		}
		recovery = d.RecoveryModel != "FULL"
		needBackup = backupNeeded(d, d.RecoveryModel == "SIMPLE") != "" && db.Backup != nil && db.Backup.Directory != ""
		if (recovery || needBackup) && d.State != "" && d.State != "ONLINE" {
			return resources.Result{}, fmt.Errorf("%s: database %s is %s; it must be ONLINE to be prepared for the link", ch.Address, QuoteIdent(d.Name), d.State)
		}
		if recovery && d.ReadOnly {
			return resources.Result{}, fmt.Errorf("%s: database %s is read-only; its recovery model (%s) cannot be set to FULL", ch.Address, QuoteIdent(d.Name), d.RecoveryModel)
		}
	}
	attrs := map[string]any{"name": d.Name, "recovery_model": d.RecoveryModel, "last_full_backup": rfc3339(d.LastFullBackup)}
	if recovery && !needBackup {
		q := RecoveryFullSQL(d.Name)
		if err := i.exec(ctx, q, q); err != nil {
			return resources.Result{}, sqlError(s, ch.Address, "setting recovery FULL", err)
		}
		attrs["recovery_model"] = "FULL"
	}
	if needBackup {
		// One round trip: the recovery model (if needed), the backup, and
		// the read of what msdb recorded of it (the next plan compares
		// with exactly that). Sent as one batch, it runs to its end once
		// sent, even if the run is interrupted meanwhile.
		file := BackupFile(db.Backup.Directory, d.Name, s.Host.OS, i.now())
		progress(fmt.Sprintf("backing up %s to %s", ch.Address, file))
		q := BackupBatchSQL(d.Name, file, recovery, db.Backup.Checksum, db.Backup.Compression)
		sets, err := i.run(ctx, stmt{log: q, text: q, change: true, messages: progress, progress: progress})
		if err != nil {
			return resources.Result{}, sqlError(s, ch.Address, "backup to "+file+" failed", err)
		}
		if recovery {
			attrs["recovery_model"] = "FULL"
		}
		attrs["backup_file"] = file
		if d2, ok := parseDatabase(sets); ok && !d2.LastFullBackup.IsZero() {
			attrs["recovery_model"] = d2.RecoveryModel
			attrs["last_full_backup"] = rfc3339(d2.LastFullBackup)
		} else {
			attrs["last_full_backup"] = rfc3339(i.now())
		}
	}
	if err := i.applyOptions(ctx, ch, d.Name, attrs); err != nil {
		return resources.Result{}, err
	}
	return resources.Result{Attributes: attrs}, nil
}
