package checks

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/sqlserver"
)

// miTarget stands in for resources/azure's managed_instance target (not
// on this branch): an address, and the lab's mi01 as its TDS connection.
type miTarget struct {
	DB
	fqdn string
}

func (m miTarget) Address() string { return "managed_instance.mi01" }
func (m miTarget) Refresh(context.Context, []resources.Instance) (resources.Observation, hcl.Diagnostics) {
	return miObserved{m.fqdn}, nil
}
func (m miTarget) Close() error { return nil }

type miObserved struct{ fqdn string }

func (o miObserved) Summary() resources.TargetSummary {
	return resources.TargetSummary{Address: "managed_instance.mi01", Where: o.fqdn}
}
func (o miObserved) Values() map[string]cty.Value {
	return map[string]cty.Value{"fqdn": cty.StringVal(o.fqdn)}
}

// openSQL01 opens the lab's sql01 as milink's sql_server target does.
func openSQL01(t *testing.T, e *labEnv) *sqlserver.Instance {
	t.Helper()
	info, _ := e.lab.File().Server(lab.SQLServerName)
	s := &sqlserver.Server{Name: "sql01", Address: info.Address, Port: info.Port, Encrypt: "disable",
		Auth: sqlserver.Auth{Method: "sql", User: info.User, Password: info.Password},
		Host: sqlserver.Host{OS: "linux", Transport: "local"}}
	i, err := sqlserver.Open(t.Context(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	return i
}

// The kind, through its Diff and Apply, on milink's own sql_server target
// and the lab: the address defaults to the sql_server's, the plan shows
// every step, and the state gets the results.
func TestKindDiffAndApply(t *testing.T) {
	t.Parallel()
	e := startLab(t)
	e.masterKey(t)
	sql01 := openSQL01(t, e)
	obs, diags := sql01.Refresh(t.Context(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	mi := miTarget{DB: DB{e.mi}, fqdn: e.miAddr}
	cfg := &Config{Address: "connectivity_check.link", Port: 5022, JobTimeout: DefaultJobTimeout}
	ch, diags := impl{}.Diff(resources.DiffRequest{Address: cfg.Address, Config: cfg, Target: sql01, Observed: obs,
		Others: map[string]resources.OtherTarget{"managed_instance": {Target: mi, Observed: miObserved{e.miAddr}}}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ch.Action != resources.Check || ch.After["address"] != e.sqlAddr || ch.After["fqdn"] != e.miAddr {
		t.Fatalf("change: %+v", ch)
	}
	var texts []string
	for _, s := range ch.Steps {
		texts = append(texts, s.On+": "+s.Text)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"host:sql_server.sql01: timeout 5 bash", "managed_instance.mi01: DECLARE @jobId", "CREATE ENDPOINT [milink_check_<run id>]", "tnc ''" + e.sqlAddr + "'' -port 5022"} {
		if !strings.Contains(all, want) {
			t.Errorf("steps lack %q:\n%s", want, all)
		}
	}
	ch.Address, ch.Kind, ch.Target = cfg.Address, KindConnectivityCheck, sql01.Address()
	var progress []string
	res, err := impl{}.Apply(t.Context(), resources.ApplyRequest{Change: ch, Config: cfg, Target: sql01,
		Others: map[string]resources.Target{"managed_instance": mi}, Progress: func(s string) { progress = append(progress, s) }})
	if err != nil {
		t.Fatalf("apply: %v\nprogress:\n%s", err, strings.Join(progress, "\n"))
	}
	if res.Attributes["passed"] != true || len(res.Attributes["results"].([]any)) != 2 || res.Attributes["last_run"] == "" {
		t.Errorf("attributes: %v", res.Attributes)
	}
	if p := strings.Join(progress, "\n"); !strings.Contains(p, "managed instance → SQL Server: passed") || !strings.Contains(p, "SQL Server → managed instance: passed") {
		t.Errorf("progress:\n%s", p)
	}
	e.assertClean(t)

	// A failure is an error naming the direction, the hop and the hints,
	// and the attributes still say what happened.
	listen(t, e.sqlAddr, 5022)
	res, err = impl{}.Apply(t.Context(), resources.ApplyRequest{Change: ch, Config: cfg, Target: sql01,
		Others: map[string]resources.Target{"managed_instance": mi}})
	var fe *FailedError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "managed instance → SQL Server: FAILED at sql_server.sql01: mirroring endpoint on port 5022") ||
		!strings.Contains(err.Error(), "endpoint port taken: error 9692") {
		t.Fatalf("apply with the port taken: %v", err)
	}
	if res.Attributes["passed"] != false {
		t.Errorf("attributes after a failure: %v", res.Attributes)
	}
	e.assertClean(t)
}

func TestValidAddress(t *testing.T) {
	for s, want := range map[string]bool{
		"10.0.0.4": true, "sql01.contoso.com": true, "fe80::1": true, "sql01": true, "host_name.example.": true,
		"": false, "-x": false, "a b": false, "it's": false, "$(x)": false, "a;b": false, "a\nb": false, strings.Repeat("a", 254): false,
	} {
		if got := ValidAddress(s); got != want {
			t.Errorf("ValidAddress(%q) = %v, want %v", s, got, want)
		}
	}
}
