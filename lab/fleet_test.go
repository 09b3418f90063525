package lab_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/milink/milink/lab"
)

// A fleet's servers are sql01-like SQL Servers on distinct loopback
// addresses with the extra databases, each with its own mssql.conf, and
// they write no catalogue (they are scratch).
func TestFleet(t *testing.T) {
	dir := t.TempDir()
	f, err := lab.StartFleet(lab.FleetConfig{Dir: dir, Count: 3, Databases: []string{"db1", "db2", "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	for i, info := range f.Infos() {
		if info.Name != lab.FleetServerName(i) || info.Kind != lab.KindSQLServer || info.Port != lab.DefaultPort {
			t.Errorf("server %d: %+v", i, info)
		}
		if seen[info.Address] {
			t.Errorf("address %s is used twice", info.Address)
		}
		seen[info.Address] = true
		if _, err := os.Stat(info.MSSQLConf); err != nil {
			t.Errorf("server %d: %v", i, err)
		}
		db := openInfo(t, info)
		if got := scalar(t, db, "SELECT COUNT(*) FROM sys.databases WHERE database_id > 4"); got != "5" {
			t.Errorf("server %d: %s user databases, want 5 (sales, inventory, payroll, db1, db2)", i, got)
		}
		if got := scalar(t, db, "SELECT recovery_model_desc FROM sys.databases WHERE name = 'db2'"); got != "SIMPLE" {
			t.Errorf("server %d: db2 is %s, want SIMPLE", i, got)
		}
		mustExec(t, db, "ALTER DATABASE db1 SET RECOVERY FULL")
		db.Close()
	}
	if c := f.Counters(); c.Logins != 3 || c.Changes != 3 {
		t.Errorf("counters %+v, want 3 logins and 3 changes", c)
	}
	f.Close()
	f.Close() // twice is harmless
	catalog := filepath.Join(dir, lab.FleetServerName(0), "data", "catalog.json")
	data, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	template, err := os.ReadFile(filepath.Join(dir, ".template", "data", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(template) {
		t.Error("a scratch server saved its catalogue")
	}
}
