package link_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/config"
	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/link"
	"github.com/milink/milink/resources/sqlserver"
)

// miKind stands for the managed_instance target (resources/azure's), so
// that these tests need no Azure.
var miKind = &resources.Kind{
	Type:   "managed_instance",
	Role:   resources.RoleTarget,
	Schema: &hcl.BodySchema{},
	Decode: func(*lang.Body, resources.BlockInfo) any { return struct{}{} },
	Impl:   miOpener{},
}

type miOpener struct{}

func (miOpener) Open(context.Context, resources.Env, string, any) (resources.Target, error) {
	return nil, os.ErrInvalid
}

func registry() *resources.Registry {
	all := append(sqlserver.Kinds(), miKind)
	return resources.NewRegistry(append(all, link.Kinds()...)...)
}

const head = `sql_server "sql01" {
  address = "127.0.0.1"
  authentication {
    user     = "sa"
    password = "x"
  }
}
managed_instance "mi01" {}
`

// load reads src after head and decodes the block at addr for planning.
func load(t *testing.T, src, addr string) (any, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(head+src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := config.Load(dir, registry(), config.Vars{})
	if diags.HasErrors() {
		return nil, diags
	}
	b := cfg.Block(addr)
	if b == nil {
		t.Fatalf("no block %s", addr)
	}
	v, d2 := cfg.Decode(b, nil, true)
	return v, append(diags, d2...)
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, src, addr string
		check           func(t *testing.T, v any)
		err             string
		line            int // the diagnostic's line in the file (head is 8 lines)
	}{
		{name: "endpoint certificate defaults", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server = sql_server.sql01
}`, check: func(t *testing.T, v any) {
			c := v.(*link.EndpointCertificate)
			if c.Name != "" || c.CertificateName(`SQL01\PAY`) != "Cert_SQL01_PAY_endpoint" || c.RenewBefore != link.ExpiryWarning || !c.Expiry.IsZero() {
				t.Errorf("%+v", c)
			}
		}},
		{name: "endpoint certificate settings", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server   = sql_server.sql01
  name         = "LinkCert"
  expiry       = "2099-06-30"
  renew_before = "60d"
}`, check: func(t *testing.T, v any) {
			c := v.(*link.EndpointCertificate)
			if c.Name != "LinkCert" || c.Expiry.Format("2006-01-02") != "2099-06-30" || c.RenewBefore.Hours() != 60*24 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "backslash in a certificate name", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server = sql_server.sql01
  name       = "Cert_SQL01\\PAY_endpoint"
}`, err: "cannot hold a backslash", line: 11},
		{name: "bad expiry", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server = sql_server.sql01
  expiry     = "next year"
}`, err: "RFC 3339 date", line: 11},
		{name: "past expiry", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server = sql_server.sql01
  expiry     = "2001-01-01"
}`, err: "has passed", line: 11},
		{name: "bad renew_before", addr: "endpoint_certificate.sql01", src: `endpoint_certificate "sql01" {
  sql_server   = sql_server.sql01
  renew_before = "a month"
}`, err: "renew_before is a number of days", line: 11},
		{name: "partner certificate without managed instance", addr: "partner_certificate.mi01", src: `partner_certificate "mi01" {
  sql_server = sql_server.sql01
}`, err: `"managed_instance" is required`, line: 9},
		{name: "partner certificate", addr: "partner_certificate.mi01", src: `partner_certificate "mi01" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}`, check: func(t *testing.T, v any) {
			if v.(*link.PartnerCertificate).Address != "partner_certificate.mi01" {
				t.Errorf("%+v", v)
			}
		}},
		{name: "endpoint", addr: "mirroring_endpoint.sql01", src: `mirroring_endpoint "sql01" {
  sql_server     = sql_server.sql01
  port           = 5023
  adopt_endpoint = true
}`, check: func(t *testing.T, v any) {
			c := v.(*link.MirroringEndpoint)
			if c.Port != 5023 || !c.PortSet || !c.Adopt || c.CertificateName("sql01") != "Cert_sql01_endpoint" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "endpoint port", addr: "mirroring_endpoint.sql01", src: `mirroring_endpoint "sql01" {
  sql_server = sql_server.sql01
  port       = 70000
}`, err: "whole number from 1 to 65535", line: 11},
		{name: "two endpoints", addr: "mirroring_endpoint.a", src: `mirroring_endpoint "a" {
  sql_server = sql_server.sql01
}
mirroring_endpoint "b" {
  sql_server = sql_server.sql01
}`, err: "mirroring_endpoint"},
		{name: "availability group", addr: "availability_group.payroll", src: `availability_group "payroll" {
  sql_server   = sql_server.sql01
  name         = "AG_payroll"
  databases    = ["payroll"]
  cluster_type = "none"
}`, check: func(t *testing.T, v any) {
			c := v.(*link.AvailabilityGroup)
			if c.Name != "AG_payroll" || len(c.Databases) != 1 || c.ClusterType != "NONE" || c.EndpointURL != "" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "availability group label", addr: "availability_group.AG_hr", src: `availability_group "AG_hr" {
  sql_server = sql_server.sql01
  databases  = []
}`, check: func(t *testing.T, v any) {
			if c := v.(*link.AvailabilityGroup); c.Name != "AG_hr" || len(c.Databases) != 0 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "duplicate database", addr: "availability_group.payroll", src: `availability_group "payroll" {
  sql_server = sql_server.sql01
  databases  = ["payroll", "PAYROLL"]
}`, err: "listed twice", line: 11},
		{name: "bad endpoint URL", addr: "availability_group.payroll", src: `availability_group "payroll" {
  sql_server   = sql_server.sql01
  endpoint_url = "10.0.0.4:5022"
}`, err: "TCP://<address>:<port>", line: 11},
		{name: "bad cluster type", addr: "availability_group.payroll", src: `availability_group "payroll" {
  sql_server   = sql_server.sql01
  cluster_type = "wsfc2"
}`, err: "must be one of", line: 11},
		{name: "dag defaults", addr: "distributed_availability_group.payroll", src: `distributed_availability_group "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}`, check: func(t *testing.T, v any) {
			c := v.(*link.DAG)
			if c.Name != "payroll" || c.AvailabilityGroup != "AG_payroll" || c.InstanceAG != "AG_payroll_MI" || c.Sync || c.Link != "managed_instance_link.payroll" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "dag settings", addr: "distributed_availability_group.payroll", src: `distributed_availability_group "payroll" {
  sql_server                  = sql_server.sql01
  managed_instance            = managed_instance.mi01
  name                        = "dag_payroll"
  availability_group          = "AG1"
  instance_availability_group = "AG1_MI"
  listener_url                = "TCP://sql01.contoso.com:5022"
  replication                 = "sync"
}`, check: func(t *testing.T, v any) {
			c := v.(*link.DAG)
			if c.Name != "dag_payroll" || c.AvailabilityGroup != "AG1" || c.InstanceAG != "AG1_MI" || !c.Sync || c.ListenerURL != "TCP://sql01.contoso.com:5022" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "dag replication", addr: "distributed_availability_group.payroll", src: `distributed_availability_group "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  replication      = "synchronous"
}`, err: `"async" or "sync"`, line: 12},
		{name: "dag same groups", addr: "distributed_availability_group.payroll", src: `distributed_availability_group "payroll" {
  sql_server                  = sql_server.sql01
  managed_instance            = managed_instance.mi01
  availability_group          = "AG1"
  instance_availability_group = "ag1"
}`, err: "needs a name of its own", line: 13},
		{name: "dag for_each", addr: `distributed_availability_group.link["hr"]`, src: `distributed_availability_group "link" {
  for_each         = toset(["hr"])
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
}`, check: func(t *testing.T, v any) {
			c := v.(*link.DAG)
			if c.Name != "hr" || c.AvailabilityGroup != "AG_hr" || c.Link != `managed_instance_link.link["hr"]` {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, diags := load(t, tt.src, tt.addr)
			if tt.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.err) {
					t.Fatalf("diags %v, want %q", diags, tt.err)
				}
				if tt.line == 0 {
					return
				}
				for _, d := range diags {
					if d.Severity == hcl.DiagError && strings.Contains(d.Summary+": "+d.Detail, tt.err) {
						if d.Subject == nil || d.Subject.Filename == "" || d.Subject.Start.Line != tt.line {
							t.Errorf("diagnostic at %v, want line %d", d.Subject, tt.line)
						}
						return
					}
				}
				t.Errorf("no diagnostic %q with a range", tt.err)
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tt.check(t, v)
		})
	}
}

// A for_each link: each instance has its own groups, named after its key
// as the link itself is; the endpoint and certificates are shared.
func TestForEachLinkExpands(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(head, `managed_instance "mi01" {}`, `azure "a" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
}
managed_instance "mi01" {
  azure          = azure.a
  resource_group = "rg"
  name           = "mi01"
}`, 1) + `
managed_instance_link "l" {
  for_each         = toset(["sales", "payroll"])
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  databases        = [each.key]
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.milink.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := resources.NewRegistry(append(append(sqlserver.Kinds(), azure.Kinds()...), link.Kinds()...)...)
	cfg, _, diags := config.Load(dir, reg, config.Vars{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, key := range []string{"sales", "payroll"} {
		decode := func(addr string) any {
			b := cfg.Block(addr)
			if b == nil {
				t.Fatalf("no block %s", addr)
			}
			v, d := cfg.Decode(b, nil, false)
			if d.HasErrors() {
				t.Fatalf("%s: %v", addr, d)
			}
			return v
		}
		ag := decode(`availability_group.l["` + key + `"]`).(*link.AvailabilityGroup)
		dag := decode(`distributed_availability_group.l["` + key + `"]`).(*link.DAG)
		if ag.Name != "AG_"+key || dag.Name != key || dag.AvailabilityGroup != "AG_"+key || dag.InstanceAG != "AG_"+key+"_MI" {
			t.Errorf("%s: AG %q, DAG %q on %q and %q", key, ag.Name, dag.Name, dag.AvailabilityGroup, dag.InstanceAG)
		}
	}
	for _, shared := range []string{"endpoint_certificate.sql01", "mirroring_endpoint.sql01", "mi_trust_certificate.sql01_mi01", "partner_certificate.mi01_sql01"} {
		if cfg.Block(shared) == nil {
			t.Errorf("no shared part %s", shared)
		}
	}
}
