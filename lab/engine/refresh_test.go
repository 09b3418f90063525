package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/milink/milink/lab/tds"
)

func refreshSQL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "resources", "sqlserver", "testdata", "golden", "refresh.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRefreshBatchOnSeed(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	s := l.session(t)
	r := mustRun(t, s, refreshSQL(t))
	// No flag is enabled, so DBCC TRACESTATUS(-1) sends no result set.
	if len(r.sets) != 10 {
		t.Fatalf("want 10 result sets, got %d", len(r.sets))
	}
	// 1: server properties.
	s0 := r.sets[0]
	if len(s0.rows) != 1 {
		t.Fatalf("properties rows = %d", len(s0.rows))
	}
	want := map[string]any{
		"product_version": "15.0.4322.2", "product_level": "RTM", "product_update_level": "CU22",
		"engine_edition": 3, "is_hadr_enabled": 0, "machine_name": "sql01", "server_name": "sql01", "azure_connect_pack": -1073624924,
		"is_sysadmin": 1, "login_name": "sa",
	}
	for name, w := range want {
		if got := r.col(t, 0, name)[0]; got != w {
			t.Errorf("%s = %#v, want %#v", name, got, w)
		}
	}
	for _, c := range s0.cols {
		if c.Name != "banner" && c.Name != "azure_connect_pack" && c.Name != "is_sysadmin" && c.Name != "login_name" && c.Type != tds.Variant {
			t.Errorf("column %s type %v, want sql_variant", c.Name, c.Type)
		}
	}
	// 2: no trace flags: no TRACESTATUS result set at all.
	if r.sets[1].cols[0].Name == "TraceFlag" {
		t.Errorf("tracestatus with no flag enabled sent a result set: %+v", r.sets[1])
	}
	for _, m := range r.infos {
		if m.Number == 2528 {
			t.Errorf("WITH NO_INFOMSGS sent 2528")
		}
	}
	// 3 (now 2): no master key.
	if len(r.sets[1].rows) != 0 {
		t.Errorf("master key rows = %v", r.sets[1].rows)
	}
	// 4 (3): databases.
	names := r.col(t, 2, "name")
	if len(names) != 7 || names[4] != "sales" || names[5] != "inventory" || names[6] != "payroll" {
		t.Errorf("databases = %v", names)
	}
	rec := r.col(t, 2, "recovery_model_desc")
	if rec[4] != "SIMPLE" || rec[5] != "FULL" || rec[6] != "FULL" {
		t.Errorf("recovery = %v", rec)
	}
	for n, v := range r.col(t, 2, "last_log_backup_lsn") {
		if v != nil {
			t.Errorf("db %v last_log_backup_lsn = %v, want NULL", names[n], v)
		}
	}
	// The DBA checks' columns: every database multi-user, one log file,
	// none mirrored; accelerated database recovery off (2019).
	for _, v := range r.col(t, 2, "user_access_desc") {
		if v != "MULTI_USER" {
			t.Errorf("user_access_desc = %v", v)
		}
	}
	if adr := r.col(t, 3, "is_accelerated_database_recovery_on"); len(adr) != 7 || adr[4] != false {
		t.Errorf("adr = %v", adr)
	}
	for _, v := range r.col(t, 4, "log_files") {
		if v != 1 {
			t.Errorf("log files = %v", v)
		}
	}
	if rows := r.sets[5].rows; len(rows) != 0 {
		t.Errorf("mirrored = %v", rows)
	}
	if rows := r.sets[7].rows; len(rows) != 0 {
		t.Errorf("availability groups = %v", rows)
	}
	// Full backups by database and is_copy_only: only inventory's
	// COPY_ONLY one.
	if rows := r.sets[6].rows; len(rows) != 1 || rows[0][0] != "inventory" || rows[0][1] != true {
		t.Errorf("backups = %v", rows)
	}
	// 6 (5): registry empty on Linux.
	if len(r.sets[8].rows) != 0 || r.sets[8].cols[0].Name != "distributed_member" {
		t.Errorf("distributed availability group members = %v", r.sets[8].rows)
	}
	if len(r.sets[9].rows) != 0 || r.sets[9].cols[0].Name != "registry_key" {
		t.Errorf("registry = %v", r.sets[9].rows)
	}

	// After changes: HADR and flags at restart, a master key, FULL + backup.
	mustRun(t, s, "USE [master]; IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##') CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Str0ng!Passw0rd';")
	if err := os.MkdirAll(filepath.Join(l.root, "var", "opt", "mssql", "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, "ALTER DATABASE [sales] SET RECOVERY FULL;")
	br := mustRun(t, s, "BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/sales_20261125T193000Z.bak' WITH CHECKSUM, COMPRESSION, STATS = 10;")
	if len(br.infos) < 12 || br.infos[0].Text != "10 percent processed." || br.infos[0].Number != 3211 || br.flushes < 10 {
		t.Errorf("backup messages = %v (flushes %d)", br.infoTexts(), br.flushes)
	}
	l.inst.Stop()
	if err := l.inst.Start(Startup{Hadr: true, TraceFlags: []int{1800, 9567}}); err != nil {
		t.Fatal(err)
	}
	s = l.session(t)
	r = mustRun(t, s, refreshSQL(t))
	if got := r.col(t, 0, "is_hadr_enabled")[0]; got != 1 {
		t.Errorf("hadr = %v", got)
	}
	if got := r.col(t, 0, "hadr_manager_status")[0]; got != 1 {
		t.Errorf("hadr manager = %v", got)
	}
	if len(r.sets) != 11 {
		t.Fatalf("with flags enabled: want 11 result sets, got %d", len(r.sets))
	}
	if c := r.sets[1].cols; len(c) != 4 || c[0].Type != tds.SmallInt {
		t.Errorf("tracestatus columns = %+v", c)
	}
	flags := r.col(t, 1, "TraceFlag")
	if len(flags) != 2 || flags[0] != 1800 || flags[1] != 9567 {
		t.Errorf("flags = %v", flags)
	}
	if g := r.col(t, 1, "Global"); g[0] != 1 {
		t.Errorf("global = %v", g)
	}
	if len(r.sets[2].rows) != 1 || r.col(t, 2, "symmetric_key_id")[0] != 101 {
		t.Errorf("master key = %v", r.sets[2].rows)
	}
	lsn := r.col(t, 3, "last_log_backup_lsn")
	if lsn[4] == nil || lsn[5] != nil {
		t.Errorf("lsn = %v", lsn)
	}
	if r.sets[3].cols[5].Type != tds.Decimal || r.sets[3].cols[5].Size != 25 {
		t.Errorf("lsn column = %+v", r.sets[3].cols[5])
	}
	var got []string
	for _, row := range r.sets[7].rows {
		got = append(got, fmt.Sprintf("%v/%v", row[0], row[1]))
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "inventory/true,sales/false" {
		t.Errorf("backups (database/is_copy_only) = %v", got)
	}
}
