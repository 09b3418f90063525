package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/resources/sqlserver"
)

func TestLocalsAndFunctions(t *testing.T) {
	labJSON := `{"servers": [
  {"name": "mi01", "kind": "managed_instance", "address": "127.0.0.3", "port": 1433, "user": "admin", "password": "MiPassw0rd!!",
   "mssql_conf": "", "restart_command": [], "backup_directory": "", "profile": "mi"},
  {"name": "sql01", "kind": "sqlserver", "address": "127.0.0.2", "port": 14333, "user": "sa", "password": "LabPassw0rd!!",
   "mssql_conf": "/lab/sql01/mssql.conf", "restart_command": ["milink", "lab", "restart", "sql01"],
   "backup_directory": "/lab/sql01/backup", "profile": "2022"}
]}`
	cases := []struct {
		expr string
		want string
	}{
		{`local.sql01.address`, "127.0.0.2"},
		{`tostring(local.sql01.port)`, "14333"},
		{`local.chained`, "sql01-127.0.0.2"},
		{`tostring(length(local.lab.servers))`, "2"},
		{`tostring(length("héllo"))`, "5"},
		{`tostring(length({a = 1, b = 2}))`, "2"},
		{`upper("abc")`, "ABC"},
		{`lower("ABC")`, "abc"},
		{`format("%s:%d", "h", 5)`, "h:5"},
		{`join(",", ["a", "b"])`, "a,b"},
		{`join("|", split(",", "a,b,c"))`, "a|b|c"},
		{`tostring(contains(["a", "b"], "b"))`, "true"},
		{`lookup({a = "x"}, "a", "d")`, "x"},
		{`lookup({a = "x"}, "b", "d")`, "d"},
		{`join(",", concat(["a"], ["b", "c"]))`, "a,b,c"},
		{`jsonencode({a = [1, true]})`, `{"a":[1,true]}`},
		{`jsondecode("{\"k\": \"v\"}").k`, "v"},
		{`coalesce("", "b")`, "b"},
		{`try(local.lab.nothing, "fallback")`, "fallback"},
		{`tostring(can(local.lab.nothing))`, "false"},
		{`tostring(can(local.lab.servers))`, "true"},
		{`tostring(tonumber("42") + 1)`, "43"},
		{`tostring(min(3, 1, 2))`, "1"},
		{`tostring(max(3, 1, 2))`, "3"},
		{`trimspace(file("note.txt"))`, "hello"},
		{`var.region`, "westeurope"},
		{`path.module == "` + "DIR" + `" ? "module" : "other"`, "module"},
		{`path.cwd != "" ? "cwd" : ""`, "cwd"},
		{`replace(local.sql01.mssql_conf, "/lab", "")`, "/sql01/mssql.conf"},
	}
	src := `
variable "region" {
  default = "westeurope"
}
locals {
  lab   = jsondecode(file(".milink-lab/lab.json"))
  sql01 = [for s in local.lab.servers : s if s.name == "sql01"][0]
}
locals {
  chained = "${local.sql01.name}-${local.sql01.address}"
}
` + srv
	for i, c := range cases {
		src += "sql_server \"c" + itoa(i) + "\" {\n  address = " + c.expr + "\n  authentication {\n    user     = \"u\"\n    password = \"p\"\n  }\n}\n"
	}
	dir := t.TempDir()
	src = strings.ReplaceAll(src, "DIR", dir)
	files := map[string]string{
		"main.milink.hcl":      src,
		".milink-lab/lab.json": labJSON,
		"note.txt":             " hello\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, s, diags := Load(dir, testReg, Vars{})
	if diags.HasErrors() {
		t.Fatal(render(t, s, diags))
	}
	for i, c := range cases {
		if got := server(t, cfg, "c"+itoa(i)).Address; got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
	if _, ok := cfg.read[".milink-lab/lab.json"]; !ok {
		t.Errorf("file() reads not recorded: %v", sortedKeys(cfg.read))
	}
}

// A block may refer to another block's values. They are no longer fixed
// at load time (sql_server.s1.name, .address and .port were): the loader
// records the reference (Refs, an edge of the plan's graph), checks the
// body with the value unknown, and the planner decodes the block again
// with the values it knows (a target's arguments and observations).
func TestBlockReference(t *testing.T) {
	cfg := mustLoad(t, `
sql_server "s1" {
  address = "db.example"
  port    = 1500
  authentication {
    user     = "sa"
    password = "p4ss"
  }
}
database "d" {
  server = sql_server.s1
  name   = "${sql_server.s1.server_name}_${sql_server.s1.address}_${sql_server.s1.port}"
}
`, Vars{})
	b := cfg.Block("database.d")
	if !reflect.DeepEqual(b.Refs, []string{"sql_server.s1"}) || b.Target != "sql_server.s1" {
		t.Errorf("refs %v, target %q", b.Refs, b.Target)
	}
	// Unknown at load: no error, and no made-up name.
	if d := decodeAs[*sqlserver.Database](t, cfg, "database.d", nil, false); d.DatabaseName != "" {
		t.Errorf("unknown name decoded as %q", d.DatabaseName)
	}
	// Known: the value the planner would give.
	values := map[string]cty.Value{"sql_server.s1": cty.ObjectVal(map[string]cty.Value{
		"server_name": cty.StringVal("SQL01"),
		"address":     cty.StringVal("db.example"),
		"port":        cty.NumberIntVal(1500),
	})}
	if d := decodeAs[*sqlserver.Database](t, cfg, "database.d", values, true); d.DatabaseName != "SQL01_db.example_1500" {
		t.Errorf("got %q", d.DatabaseName)
	}
	// Still unknown when planning: an error on the attribute.
	_, diags := cfg.Decode(b, nil, true)
	if len(diags) != 1 || diags[0].Summary != "Value not known when planning" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 12 {
		t.Errorf("final decode without values: %v", diags)
	}
}

func TestLabJSONShape(t *testing.T) {
	// The lab example's expressions against the documented lab.json shape.
	dir := copyExample(t, "lab")
	cfg, s, diags := Load(dir, testReg, Vars{})
	if diags.HasErrors() {
		t.Fatal(render(t, s, diags))
	}
	sv := server(t, cfg, "sql01")
	if sv.Address != "127.0.0.2" || sv.Port != 14333 || sv.Auth.User != "sa" || sv.Auth.Password != "LabPassw0rd!!" {
		t.Errorf("server: %+v", sv)
	}
	if sv.Encrypt != "true" || sv.Certificate != "/lab/sql01/tls/cert.pem" || sv.TrustServerCertificate {
		t.Errorf("the lab example does not verify the lab's certificate: %+v", sv)
	}
	if sv.Host.MssqlConf != "/lab/sql01/mssql.conf" || !reflect.DeepEqual(sv.Host.RestartCommand, []string{"milink", "lab", "restart", "sql01"}) ||
		!reflect.DeepEqual(sv.Host.FirewallCommandPrefix, []string{"nsenter", "--target", "4242", "--user", "--net", "--preserve-credentials", "--"}) {
		t.Errorf("host: %+v", sv.Host)
	}
}

func itoa(i int) string {
	return string(rune('a'+i/26)) + string(rune('a'+i%26))
}
