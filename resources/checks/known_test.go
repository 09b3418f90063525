package checks_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/milink/milink/config"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/checks"
	"github.com/milink/milink/resources/kinds"
)

const knownConfig = `
sql_server "sql01" {
  address = "10.0.0.4"
  authentication {
    user     = "sa"
    password = "x"
  }
}
sql_server "sql02" {
  address = "10.0.0.5"
  authentication {
    user     = "sa"
    password = "x"
  }
}
azure "a" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
}
managed_instance "mi01" {
  azure          = azure.a
  resource_group = "rg"
  name           = "mi01"
}
firewall_rule "in" {
  server           = sql_server.sql01
  direction        = "inbound"
  remote_addresses = ["10.1.0.0/24"]
}
nsg_rule "mi_inbound" {
  managed_instance = managed_instance.mi01
  direction        = "inbound"
  source_addresses = ["10.0.0.4"]
}
connectivity_check "one" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}
connectivity_check "two" {
  sql_server       = sql_server.sql02
  managed_instance = managed_instance.mi01
  address          = "sql02.contoso.com"
}
`

func TestKnownPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(knownConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := config.Load(dir, kinds.Registry(), config.Vars{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	changes := []resources.Change{
		{Address: "nsg_rule.mi_inbound", Target: "managed_instance.mi01", Action: resources.Create},
		{Address: "firewall_rule.in", Target: "sql_server.sql01", Action: resources.NoOp},
		{Address: "hadr.sql02", Target: "sql_server.sql02", Action: resources.Update},
		{Address: "connectivity_check.one", Target: "sql_server.sql01", Action: resources.Check},
	}
	var blocks []checks.Block
	for _, b := range cfg.Blocks {
		blocks = append(blocks, checks.Block{Addr: b.Addr, Type: b.Kind.Type, Target: b.Target, Others: b.Others})
	}
	got := checks.KnownPaths(blocks, changes, true)
	want := map[string]checks.Knowledge{
		"connectivity_check.one": {NotApplied: []string{"nsg_rule.mi_inbound"}, HostFirewall: checks.Present, NSG: checks.Present},
		"connectivity_check.two": {NotApplied: []string{"nsg_rule.mi_inbound", "hadr.sql02"}, HostFirewall: checks.Absent, NSG: checks.Present},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pending:\n got %+v\nwant %+v", got, want)
	}
	// After apply's changes nothing is pending.
	for addr, k := range checks.KnownPaths(blocks, changes, false) {
		if k.NotApplied != nil {
			t.Errorf("%s: not applied %v", addr, k.NotApplied)
		}
	}
}
