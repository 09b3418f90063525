package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/milink/milink/lab/tds"
)

// Each ALTER DATABASE ... SET shows in sys.databases as the column the
// DBA checks read.
func TestDatabaseStatesShowInSysDatabases(t *testing.T) {
	for _, tc := range []struct {
		set, col string
		want     any
	}{
		{"OFFLINE", "state_desc", "OFFLINE"},
		{"EMERGENCY", "state_desc", "EMERGENCY"},
		{"READ_ONLY", "is_read_only", true},
		{"SINGLE_USER WITH ROLLBACK IMMEDIATE", "user_access_desc", "SINGLE_USER"},
		{"RESTRICTED_USER", "user_access_desc", "RESTRICTED_USER"},
		{"AUTO_CLOSE ON", "is_auto_close_on", true},
		{"ACCELERATED_DATABASE_RECOVERY = ON", "is_accelerated_database_recovery_on", true},
		{"DISABLE_BROKER", "is_broker_enabled", false},
	} {
		t.Run(tc.set, func(t *testing.T) {
			l := newLab(t, DefaultProfile, "")
			s := l.session(t)
			mustRun(t, s, "CREATE DATABASE [app];")
			before := mustRun(t, s, "SELECT "+tc.col+" FROM sys.databases WHERE name = N'app';")
			mustRun(t, s, "ALTER DATABASE [app] SET "+tc.set+";")
			after := mustRun(t, s, "SELECT "+tc.col+" FROM sys.databases WHERE name = N'app';")
			if got := after.sets[0].rows[0][0]; got != tc.want {
				t.Errorf("%s = %v, want %v", tc.col, got, tc.want)
			}
			if before.sets[0].rows[0][0] == tc.want {
				t.Errorf("%s was %v already before the ALTER", tc.col, tc.want)
			}
		})
	}
}

func TestDatabaseStatementsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup []string
		sql   string
		want  []int32
	}{
		{"create twice", []string{"CREATE DATABASE [app]"}, "CREATE DATABASE [APP]", []int32{1801}},
		{"drop missing", nil, "DROP DATABASE [nope]", []int32{3701}},
		{"drop system", nil, "DROP DATABASE [msdb]", []int32{3708}},
		{"alter missing", nil, "ALTER DATABASE [nope] SET READ_ONLY", []int32{5011, 5069}},
		{"option on master", nil, "ALTER DATABASE [master] SET OFFLINE", []int32{5058}},
		{"offline then read-only", []string{"CREATE DATABASE [app]", "ALTER DATABASE [app] SET OFFLINE"}, "ALTER DATABASE [app] SET READ_ONLY", []int32{942}},
		{"second memory-optimized filegroup", []string{"CREATE DATABASE [app]", "ALTER DATABASE [app] ADD FILEGROUP [m1] CONTAINS MEMORY_OPTIMIZED_DATA"},
			"ALTER DATABASE [app] ADD FILEGROUP [m2] CONTAINS MEMORY_OPTIMIZED_DATA", []int32{10797}},
		{"log file name taken", []string{"CREATE DATABASE [app]", "ALTER DATABASE [app] ADD LOG FILE (NAME = app_log2, FILENAME = N'/x/app_log2.ldf')"},
			"ALTER DATABASE [app] ADD LOG FILE (NAME = app_log2, FILENAME = N'/x/other.ldf')", []int32{1828}},
		{"availability group without HADR", []string{"CREATE DATABASE [app]"},
			"CREATE AVAILABILITY GROUP [ag1] FOR DATABASE [app] REPLICA ON N'sql01' WITH (ENDPOINT_URL = N'TCP://sql01:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL)", []int32{35221}},
		{"login twice", []string{"CREATE LOGIN [app] WITH PASSWORD = N'Xx-12345678'"}, "CREATE LOGIN [app] WITH PASSWORD = N'Xx-12345678'", []int32{15025}},
		{"sa out of sysadmin", nil, "ALTER SERVER ROLE [sysadmin] DROP MEMBER [sa]", []int32{15405}},
		{"unknown member", nil, "ALTER SERVER ROLE [sysadmin] ADD MEMBER [ghost]", []int32{15151}},
		{"ADR on 2017 and earlier", []string{"CREATE DATABASE [app]"}, "ALTER DATABASE [app] SET ACCELERATED_DATABASE_RECOVERY = ON", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, DefaultProfile, "")
			s := l.session(t)
			for _, q := range tc.setup {
				mustRun(t, s, q)
			}
			r := run(t, s, tc.sql)
			if !slices.Equal(r.errNumbers(), tc.want) {
				t.Errorf("errors %v (%v), want %v", r.errNumbers(), r.errs, tc.want)
			}
		})
	}
	// On 2016 the option does not exist.
	l := newLab(t, "2016-sp3-windows", "")
	s := l.session(t)
	mustRun(t, s, "CREATE DATABASE [app]")
	if r := run(t, s, "ALTER DATABASE [app] SET ACCELERATED_DATABASE_RECOVERY = ON"); !slices.Equal(r.errNumbers(), []int32{102}) {
		t.Errorf("2016: errors %v", r.errNumbers())
	}
}

func TestFilesAndFilegroups(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s := l.session(t)
	mustRun(t, s, `CREATE DATABASE [app];
ALTER DATABASE [app] ADD LOG FILE (NAME = app_log2, FILENAME = N'/var/opt/mssql/data/app_log2.ldf', SIZE = 8MB);
ALTER DATABASE [app] ADD FILEGROUP [fs] CONTAINS FILESTREAM;
ALTER DATABASE [app] ADD FILE (NAME = app_fs, FILENAME = N'/var/opt/mssql/data/app_fs') TO FILEGROUP [fs];
ALTER DATABASE [app] ADD FILEGROUP [mem] CONTAINS MEMORY_OPTIMIZED_DATA;`)
	r := mustRun(t, s, "SELECT COUNT(*) FROM sys.master_files WHERE database_id = DB_ID(N'app') AND type = 1;")
	if got := fmt.Sprint(r.sets[0].rows[0][0]); got != "2" {
		t.Errorf("log files %v, want 2", got)
	}
	r = mustRun(t, s, "SELECT type FROM [app].sys.filegroups ORDER BY data_space_id;")
	var types []string
	for _, row := range r.sets[0].rows {
		types = append(types, fmt.Sprint(row[0]))
	}
	if !slices.Equal(types, []string{"FG", "FD", "FX"}) {
		t.Errorf("filegroup types %v", types)
	}
	r = mustRun(t, s, "SELECT type_desc FROM sys.master_files WHERE database_id = DB_ID(N'app') AND name = N'app_fs';")
	if got := r.sets[0].rows[0][0]; got != "FILESTREAM" {
		t.Errorf("app_fs is %v", got)
	}
}

// An availability group needs HADR; a database in it has a
// group_database_id, shows in sys.availability_databases_cluster, and
// cannot be dropped.
func TestAvailabilityGroups(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	if err := l.inst.Start(Startup{Hadr: true}); err != nil {
		t.Fatal(err)
	}
	s := l.session(t)
	l.backupDir(t)
	mustRun(t, s, `CREATE DATABASE [app]; CREATE DATABASE [other];
ALTER DATABASE [app] SET RECOVERY FULL; BACKUP DATABASE [app] TO DISK = N'/var/opt/mssql/backup/app.bak';
CREATE AVAILABILITY GROUP [ag1] WITH (CLUSTER_TYPE = NONE) FOR DATABASE [app] REPLICA ON N'sql01' WITH (ENDPOINT_URL = N'TCP://sql01:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL);`)
	r := mustRun(t, s, `SELECT ag.name AS availability_group, adc.database_name FROM sys.availability_groups AS ag
LEFT JOIN sys.availability_databases_cluster AS adc ON adc.group_id = ag.group_id;`)
	if len(r.sets[0].rows) != 1 || r.sets[0].rows[0][0] != "ag1" || r.sets[0].rows[0][1] != "app" {
		t.Fatalf("groups %v", r.sets[0].rows)
	}
	r = mustRun(t, s, "SELECT name FROM sys.databases WHERE group_database_id IS NOT NULL;")
	if len(r.sets[0].rows) != 1 || r.sets[0].rows[0][0] != "app" {
		t.Errorf("joined %v", r.sets[0].rows)
	}
	if r := run(t, s, "DROP DATABASE [app]"); !slices.Equal(r.errNumbers(), []int32{3752}) {
		t.Errorf("drop joined database: %v", r.errNumbers())
	}
	mustRun(t, s, "ALTER AVAILABILITY GROUP [ag1] ADD DATABASE [other]; DROP AVAILABILITY GROUP [ag1]; DROP DATABASE [app], [other];")
	r = mustRun(t, s, "SELECT COUNT(*) FROM sys.availability_groups;")
	if fmt.Sprint(r.sets[0].rows[0][0]) != "0" {
		t.Errorf("groups left: %v", r.sets[0].rows)
	}
}

// A login outside sysadmin logs in, reads, and gets SQL Server's
// permission errors on what milink changes.
func TestNonSysadminLogin(t *testing.T) {
	l := newLab(t, DefaultProfile, "sql01")
	sa := l.session(t)
	mustRun(t, sa, "CREATE LOGIN [reader] WITH PASSWORD = N'Reader-Passw0rd!', CHECK_POLICY = OFF;")
	login := func(pw string) (*Session, *tds.Message) {
		s, m := l.inst.Handler().Login(context.Background(), tds.LoginRequest{User: "reader", Password: pw})
		if m != nil {
			return nil, m
		}
		return s.(*Session), nil
	}
	if _, m := login("wrong"); m == nil || m.Number != 18456 {
		t.Fatalf("wrong password: %+v", m)
	}
	s, m := login("Reader-Passw0rd!")
	if m != nil {
		t.Fatal(m)
	}
	r := mustRun(t, s, "SELECT IS_SRVROLEMEMBER(N'sysadmin'), SUSER_SNAME();")
	if fmt.Sprint(r.sets[0].rows[0]) != "[0 reader]" {
		t.Errorf("reader: %v", r.sets[0].rows[0])
	}
	for q, want := range map[string][]int32{
		"ALTER DATABASE [sales] SET RECOVERY FULL":                         {5011, 5069},
		"BACKUP DATABASE [sales] TO DISK = N'/var/opt/mssql/backup/x.bak'": {262, 3013},
		"CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'Xx-123456789'":       {15247},
		"DBCC TRACEON(1800, -1)":                                           {2571},
		"SELECT value_name FROM sys.dm_server_registry":                    {300, 297},
		"CREATE DATABASE [x]":                                              {262},
	} {
		if r := run(t, s, q); !slices.Equal(r.errNumbers(), want) {
			t.Errorf("%s: errors %v, want %v", q, r.errNumbers(), want)
		}
	}
	mustRun(t, sa, "ALTER SERVER ROLE [sysadmin] ADD MEMBER [reader];")
	mustRun(t, s, "ALTER DATABASE [sales] SET RECOVERY FULL;")
	// The lab's own login can leave the role too.
	mustRun(t, sa, "CREATE LOGIN [boss] WITH PASSWORD = N'Boss-Passw0rd!'; ALTER SERVER ROLE [sysadmin] ADD MEMBER [boss];")
	r = mustRun(t, sa, "SELECT IS_SRVROLEMEMBER(N'sysadmin', N'boss'), IS_SRVROLEMEMBER(N'sysadmin', N'ghost');")
	if fmt.Sprint(r.sets[0].rows[0]) != "[1 <nil>]" {
		t.Errorf("membership of others: %v", r.sets[0].rows[0])
	}
}

func TestClusteredProfile(t *testing.T) {
	l := newLab(t, "2019-cu22-linux-fci", "")
	r := mustRun(t, l.session(t), "SELECT SERVERPROPERTY('IsClustered');")
	if fmt.Sprint(r.sets[0].rows[0][0]) != "1" {
		t.Errorf("IsClustered %v", r.sets[0].rows[0][0])
	}
}

func TestMirroringAndRemovingFiles(t *testing.T) {
	l := newLab(t, DefaultProfile, "")
	s := l.session(t)
	mustRun(t, s, "CREATE DATABASE [app]; ALTER DATABASE [app] SET RECOVERY SIMPLE;")
	if r := run(t, s, "ALTER DATABASE [app] SET PARTNER = N'TCP://mirror:5022'"); !slices.Equal(r.errNumbers(), []int32{1465}) {
		t.Errorf("mirroring in SIMPLE: %v", r.errNumbers())
	}
	mustRun(t, s, "ALTER DATABASE [app] SET RECOVERY FULL; ALTER DATABASE [app] SET PARTNER = N'TCP://mirror:5022';")
	r := mustRun(t, s, "SELECT database_id FROM sys.database_mirroring WHERE mirroring_guid IS NOT NULL;")
	if len(r.sets[0].rows) != 1 {
		t.Errorf("mirrored %v", r.sets[0].rows)
	}
	mustRun(t, s, "ALTER DATABASE [app] SET PARTNER OFF;")
	if r := run(t, s, "ALTER DATABASE [app] SET PARTNER OFF"); !slices.Equal(r.errNumbers(), []int32{1416}) {
		t.Errorf("partner off twice: %v", r.errNumbers())
	}
	mustRun(t, s, `ALTER DATABASE [app] ADD FILEGROUP [fs] CONTAINS FILESTREAM;
ALTER DATABASE [app] ADD FILE (NAME = app_fs, FILENAME = N'/x/app_fs') TO FILEGROUP [fs];`)
	if r := run(t, s, "ALTER DATABASE [app] REMOVE FILEGROUP [fs]"); !slices.Equal(r.errNumbers(), []int32{5042}) {
		t.Errorf("remove a filegroup with files: %v", r.errNumbers())
	}
	mustRun(t, s, "ALTER DATABASE [app] REMOVE FILE [app_fs]; ALTER DATABASE [app] REMOVE FILEGROUP [fs];")
	r = mustRun(t, s, "SELECT COUNT(*) FROM [app].sys.filegroups;")
	if fmt.Sprint(r.sets[0].rows[0][0]) != "1" {
		t.Errorf("filegroups left %v", r.sets[0].rows)
	}
}
