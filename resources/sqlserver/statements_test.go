package sqlserver

import (
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/resources"
)

// TestStatementsGolden keeps every statement milink sends under review:
// the lab engine must answer exactly these.
func TestStatementsGolden(t *testing.T) {
	tests := []struct{ file, got string }{
		{"master-key-create.sql", CreateMasterKeySQL(testMKPassword, false)},
		{"master-key-create.plan.sql", CreateMasterKeySQL(testMKPassword, true)},
		{"master-key-regenerate.sql", RegenerateMasterKeySQL(testMKPassword, false)},
		{"master-key-regenerate.plan.sql", RegenerateMasterKeySQL(testMKPassword, true)},
		{"master-key-add-password.sql", AddMasterKeyPasswordSQL(testMKPassword, false)},
		{"trace-on.sql", TraceOnSQL([]int{1800, 9567})},
		{"master-key-add-password.plan.sql", AddMasterKeyPasswordSQL(testMKPassword, true)},
		{"recovery-full.sql", RecoveryFullSQL("sales")},
		{"backup.sql", BackupSQL("sales", BackupFile("/var/opt/mssql/backup", "sales", "linux", backupTime), true, true)},
		{"backup-checksum-only.sql", BackupSQL("sales", BackupFile("/var/opt/mssql/backup/", "sales", "linux", backupTime), true, false)},
		{"backup-plain.sql", BackupSQL("sales", BackupFile("/var/opt/mssql/backup", "sales", "linux", backupTime), false, false)},
		{"backup-windows.sql", BackupSQL("it's", BackupFile(`D:\Backup\`, "it's", "windows", backupTime), true, true)},
		{"backup.plan.sql", BackupSQL("sales", BackupFile("/var/opt/mssql/backup", "sales", "linux", time.Time{}), true, true)},
		{"restart-probe.sql", probeSQL},
		{"registry.sql", registrySQL},
		{"database-read.sql", DatabaseSQL("sales")},
		{"database-read-quoted.sql", DatabaseSQL("it's ]odd ünï")},
		{"backup-batch.sql", BackupBatchSQL("sales", BackupFile("/var/opt/mssql/backup", "sales", "linux", backupTime), true, true, true)},
		{"backup-batch-full-already.sql", BackupBatchSQL("payroll", BackupFile("/var/opt/mssql/backup", "payroll", "linux", backupTime), false, true, true)},
		{"refresh-with-directories.sql", refreshBatch(sql01())},
		{"adr-on.sql", ADRSQL("sales", true)},
		{"adr-off.sql", ADRSQL("sales", false)},
		{"broker-enable.sql", BrokerSQL("sales", true)},
		{"broker-disable.sql", BrokerSQL("sales", false)},
		{"filegroup-check-quoted.sql", FilegroupCheckSQL([]string{"it's ]odd", "sales", "it's ]odd"})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := tt.got
			if !strings.HasSuffix(got, "\n") {
				got += "\n"
			}
			golden(t, tt.file, got)
			if strings.HasSuffix(tt.file, ".plan.sql") && strings.Contains(tt.got, testMKPassword) {
				t.Error("plan text holds the password")
			}
		})
	}
}

// With every kind on the instance, the refresh is refresh.sql itself; a
// kind that is not there adds nothing to it.
func TestRefreshBatchByKind(t *testing.T) {
	full := sql01()
	for _, d := range full.Databases { // without backups: no directory check
		d.Backup = nil
	}
	var names []string
	for _, d := range full.Databases {
		names = append(names, d.DatabaseName)
	}
	if got := refreshBatch(full); got != refreshSQL+FilegroupCheckSQL(names)+"\n" {
		t.Errorf("every kind: the batch is not refresh.sql:\n%s", got)
	}
	bare := sql01()
	bare.MasterKey, bare.Databases = nil, nil
	got := refreshBatch(bare)
	if strings.Contains(got, "symmetric_keys") || strings.Contains(got, "sys.databases") || strings.Contains(got, "backupset") {
		t.Errorf("no master key or database blocks, yet:\n%s", got)
	}
	if !strings.Contains(got, "SERVERPROPERTY('ProductVersion')") || !strings.Contains(got, "DBCC TRACESTATUS(-1)") || !strings.Contains(got, "sys.dm_server_registry") {
		t.Errorf("the instance's own part is missing:\n%s", got)
	}
}

func TestRedactedStatements(t *testing.T) {
	for _, q := range []string{CreateMasterKeySQL(testMKPassword, true), RegenerateMasterKeySQL(testMKPassword, true)} {
		if strings.Contains(q, "Mk-Secret") || !strings.Contains(q, resources.Redacted) {
			t.Errorf("not redacted: %s", q)
		}
	}
	if q := CreateMasterKeySQL(testMKPassword, false); !strings.Contains(q, "N'Mk-Secret''42-xyz'") {
		t.Errorf("real statement does not carry the quoted password: %s", q)
	}
}

func TestBackupFile(t *testing.T) {
	tests := []struct{ dir, db, os, want string }{
		{"/var/opt/mssql/backup", "sales", "linux", "/var/opt/mssql/backup/sales_20260301T120000Z.bak"},
		{"/var/opt/mssql/backup/", "sales", "linux", "/var/opt/mssql/backup/sales_20260301T120000Z.bak"},
		{"/", "sales", "linux", "/sales_20260301T120000Z.bak"},
		{`D:\Backup`, "sales", "windows", `D:\Backup\sales_20260301T120000Z.bak`},
		{`D:\Backup\`, `a/b:c`, "windows", `D:\Backup\a_b_c_20260301T120000Z.bak`},
	}
	for _, tt := range tests {
		if got := BackupFile(tt.dir, tt.db, tt.os, backupTime); got != tt.want {
			t.Errorf("BackupFile(%q, %q, %s) = %s, want %s", tt.dir, tt.db, tt.os, got, tt.want)
		}
	}
}
