package sqlserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/milink/milink/resources"
)

// Every statement milink sends is built here, from the configuration, so
// that the plan (with secrets redacted) and apply (with them) can never
// drift apart. Each has a golden file; the lab engine answers exactly these.

const masterKeyExistsQuery = "SELECT 1 FROM master.sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##'"

// registrySQL reads a Windows instance's configured startup settings
// (the same rows as the refresh batch's last statement), so that apply can
// re-read them before a change without reading the whole instance.
const registrySQL = "SELECT registry_key, value_name, value_data FROM sys.dm_server_registry\n" +
	"WHERE value_name LIKE N'SQLArg%' OR value_name = N'HADR_Enabled';"

// DatabaseSQL reads one database as the refresh batch does (recovery
// model, state, log chain, last full non-copy-only backup), for apply's
// re-read before and after its change.
func DatabaseSQL(db string) string {
	n := QuoteString(db)
	return "SET NOCOUNT ON;\n" +
		"SELECT d.name, d.database_id, d.recovery_model_desc, d.state_desc, d.is_read_only, rs.last_log_backup_lsn\n" +
		"FROM sys.databases AS d LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id\n" +
		"WHERE d.name = " + n + ";\n" +
		"SELECT database_name, MAX(backup_finish_date) AS last_full_backup\n" +
		"FROM msdb.dbo.backupset WHERE type = 'D' AND is_copy_only = 0 AND database_name = " + n + "\n" +
		"GROUP BY database_name;"
}

// probeSQL is the restart wait's proof that the instance accepts work.
const probeSQL = "SELECT 1;"

// secretLiteral is the literal for a secret, or the redaction marker for plans.
func secretLiteral(secret string, redact bool) string {
	if redact {
		return resources.Redacted
	}
	return QuoteString(secret)
}

// CreateMasterKeySQL creates the database master key in master unless it exists.
func CreateMasterKeySQL(password string, redact bool) string {
	return "USE [master];\nIF NOT EXISTS (" + masterKeyExistsQuery + ") CREATE MASTER KEY ENCRYPTION BY PASSWORD = " + secretLiteral(password, redact) + ";"
}

// RegenerateMasterKeySQL replaces the master key with a new one protected by
// password: SQL Server decrypts every key the old one protects and
// re-encrypts it with the new one (not just a password change).
func RegenerateMasterKeySQL(password string, redact bool) string {
	return "USE [master];\nALTER MASTER KEY REGENERATE WITH ENCRYPTION BY PASSWORD = " + secretLiteral(password, redact) + ";"
}

// AddMasterKeyPasswordSQL adds a password to the passwords that open the
// master key: the key and everything it protects stay as they are, and the
// old password still opens it.
func AddMasterKeyPasswordSQL(password string, redact bool) string {
	return "USE [master];\nALTER MASTER KEY ADD ENCRYPTION BY PASSWORD = " + secretLiteral(password, redact) + ";"
}

// TraceOnSQL turns trace flags on globally, now: for startup flags that are
// configured but were turned off at run time (DBCC TRACEOFF), which need no
// restart to come back.
func TraceOnSQL(flags []int) string {
	parts := make([]string, len(flags))
	for i, f := range flags {
		parts[i] = fmt.Sprint(f)
	}
	return "DBCC TRACEON(" + strings.Join(parts, ", ") + ", -1);"
}

// RecoveryFullSQL sets a database's recovery model to FULL (idempotent).
func RecoveryFullSQL(db string) string {
	return "ALTER DATABASE " + QuoteIdent(db) + " SET RECOVERY FULL;"
}

// BackupSQL takes a full (not copy-only) backup that starts the log chain.
func BackupSQL(db, file string, checksum, compression bool) string {
	opts := []string{}
	if checksum {
		opts = append(opts, "CHECKSUM")
	}
	if compression {
		opts = append(opts, "COMPRESSION")
	}
	opts = append(opts, "STATS = 10")
	return "BACKUP DATABASE " + QuoteIdent(db) + " TO DISK = " + QuoteString(file) + " WITH " + strings.Join(opts, ", ") + ";"
}

// backupTimePlaceholder stands for the time in plans: the file is named
// when the backup runs.
const backupTimePlaceholder = "<UTC yyyymmddThhmmssZ>"

// BackupFile is <dir>/<db>_<UTC yyyymmddThhmmssZ>.bak, with the separator of
// the server's OS. at zero gives the placeholder used in plans.
func BackupFile(dir, db, osName string, at time.Time) string {
	sep := "/"
	if osName == "windows" {
		sep = `\`
	}
	stamp := backupTimePlaceholder
	if !at.IsZero() {
		stamp = at.UTC().Format("20060102T150405Z")
	}
	dir = strings.TrimRight(dir, `/\`) // "/" itself becomes "" and gives "/name.bak"
	return fmt.Sprintf("%s%s%s_%s.bak", dir, sep, fileSafe(db), stamp)
}

// fileSafe keeps a database name usable as a file name on both systems.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < 32 {
			return '_'
		}
		return r
	}, name)
}

// BackupBatchSQL is one round trip preparing a database: SET RECOVERY FULL
// when recovery is set, the full backup, then DatabaseSQL, the read of what
// msdb recorded of it (the next plan compares with exactly that).
func BackupBatchSQL(db, file string, recovery, checksum, compression bool) string {
	var parts []string
	if recovery {
		parts = append(parts, RecoveryFullSQL(db))
	}
	parts = append(parts, BackupSQL(db, file, checksum, compression), DatabaseSQL(db))
	return strings.Join(parts, "\n")
}
