package checks

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/host"
)

// KindConnectivityCheck is the block type.
const KindConnectivityCheck = "connectivity_check"

// Config is a connectivity_check block:
//
//	connectivity_check "link" {
//	  sql_server       = sql_server.sql01
//	  managed_instance = managed_instance.mi01
//	  address          = "sql01.contoso.com" # what the managed instance dials; default: the sql_server's address
//	  port             = 5022
//	  redirect_port    = 11000               # optional
//	}
type Config struct {
	Address   string // the block's address, connectivity_check.link
	DeclRange hcl.Range
	Dial      string // the address argument; "" = the sql_server's address
	// MIDial is the managed_instance_address argument: what SQL Server's
	// host dials; "" = the managed instance's fqdn.
	MIDial       string
	Port         int
	RedirectPort int
	JobTimeout   time.Duration
}

// Kind is the connectivity_check kind: a check (resources.Check) that
// apply runs after every change on its SQL Server and managed instance,
// and `milink check` runs on its own.
var Kind = &resources.Kind{
	Type: KindConnectivityCheck,
	Role: resources.RoleResource,
	Schema: &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "sql_server", Required: true}, {Name: "managed_instance", Required: true},
		{Name: "address"}, {Name: "managed_instance_address"}, {Name: "port"}, {Name: "redirect_port"}, {Name: "job_timeout"},
	}},
	Decode:       decode,
	TargetAttr:   "sql_server",
	TargetType:   "sql_server",
	OtherTargets: []resources.TargetRef{{Attr: "managed_instance", Type: "managed_instance"}},
	// Nothing stays behind to delete: the state keeps only the last result.
	Removal: resources.RemoveForget,
	// After the restart and its verification: a check proves the
	// environment as apply leaves it.
	Phase: resources.PhaseAfterRestart,
	Impl:  impl{},
}

// addressRe is what the managed instance may be told to dial: a DNS name,
// an IPv4 or an IPv6 address. Both quotings hold anything, but an address
// that is none of these is a mistake best reported at load.
var addressRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.:-]*[A-Za-z0-9_.])?$`)

// ValidAddress reports whether s may be dialed by the check.
func ValidAddress(s string) bool { return len(s) <= 253 && addressRe.MatchString(s) }

func decode(b *lang.Body, blk resources.BlockInfo) any {
	c := &Config{Address: blk.Address, DeclRange: b.Range}
	c.Dial = b.Str("address", "", false)
	if c.Dial != "" && !ValidAddress(c.Dial) {
		b.Errorf(b.Attr("address"), "Invalid address", "The argument \"address\" must be a DNS name or an IP address the managed instance can reach; %s is not.", b.Quote("address", c.Dial))
	}
	c.MIDial = b.Str("managed_instance_address", "", false)
	if c.MIDial != "" && !ValidAddress(c.MIDial) {
		b.Errorf(b.Attr("managed_instance_address"), "Invalid address", "The argument \"managed_instance_address\" must be a DNS name or an IP address SQL Server's host can reach; %s is not.", b.Quote("managed_instance_address", c.MIDial))
	}
	c.Port = b.Int("port", 5022, 1, 65535)
	c.RedirectPort = b.Int("redirect_port", 0, 11000, 11999)
	c.JobTimeout = b.Duration("job_timeout", DefaultJobTimeout)
	return c
}

// ManagedInstanceSQL is what the check needs of the managed_instance
// target: its TDS connection. (resources/azure's target provides it.)
type ManagedInstanceSQL interface {
	SQLDB() (*sql.DB, error)
}

// SQLServerTarget is what the check needs of the sql_server target: its
// connection (SQL) and its host.
type SQLServerTarget interface {
	SQL
	HostTransport() host.Transport
}

type impl struct{}

// sqlServerAddress is the address milink reaches the SQL Server by (its
// observation's Where, without a named instance's suffix): what the
// managed instance dials unless address says otherwise.
func sqlServerAddress(obs resources.Observation) string {
	if obs == nil {
		return ""
	}
	w, _, _ := strings.Cut(obs.Summary().Where, `\`)
	return w
}

func (impl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	c := req.Config.(*Config)
	var diags hcl.Diagnostics
	mi, ok := req.Others["managed_instance"]
	fqdn := ""
	if ok && mi.Observed != nil {
		if v, ok := mi.Observed.Values()["fqdn"]; ok && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			fqdn = v.AsString()
		}
	}
	if c.MIDial != "" {
		fqdn = c.MIDial
	}
	miAddr := "managed_instance"
	if ok && mi.Target != nil {
		miAddr = mi.Target.Address()
	}
	dial := c.Dial
	if dial == "" {
		dial = sqlServerAddress(req.Observed)
	}
	after := map[string]any{"address": dial, "port": c.Port, "fqdn": fqdn}
	if c.RedirectPort != 0 {
		after["redirect_port"] = c.RedirectPort
	}
	sqlAddr := req.Target.Address()
	name := ObjectName("<run id>")
	hostOS := "linux"
	if t, ok := req.Target.(interface{ HostOS() string }); ok {
		hostOS = t.HostOS()
	}
	steps := []resources.Step{{Kind: "command", On: "host:" + sqlAddr, Text: ProbeText(hostOS, fqdn, c.Port, ProbeTimeout)}}
	if c.RedirectPort != 0 {
		steps = append(steps, resources.Step{Kind: "command", On: "host:" + sqlAddr, Text: ProbeText(hostOS, fqdn, c.RedirectPort, ProbeTimeout)})
	}
	steps = append(steps,
		resources.Step{Kind: "tsql", On: sqlAddr, Text: EndpointsSQL},
		resources.Step{Kind: "tsql", On: sqlAddr, Text: "-- only when no mirroring endpoint is started:\n" + plannedCertificateSQL(name) + "\n" + CreateEndpointSQL(name, name, c.Port)},
		resources.Step{Kind: "tsql", On: miAddr, Text: AddJobSQL(name, dial, c.Port) + "\n" + StartJobSQL(name)},
		resources.Step{Kind: "wait", On: miAddr, Text: JobStateSQL(name)},
		resources.Step{Kind: "tsql", On: miAddr, Text: DeleteJobSQL(name)},
		resources.Step{Kind: "tsql", On: sqlAddr, Text: "-- only what the check created:\n" + DropEndpointSQL(name) + "\n" + DropCertificateSQL(name)},
	)
	reason := fmt.Sprintf("after every change on %s and %s: TCP %d from %s's host to %s, and from %s to %s:%d (a SQL Agent job)",
		sqlAddr, miAddr, c.Port, sqlAddr, orUnknown(fqdn), miAddr, orUnknown(dial), c.Port)
	if req.Prior != nil {
		if last, ok := req.Prior.Attributes["last_run"].(string); ok {
			reason += fmt.Sprintf("; last run %s: %s", last, lastStatus(req.Prior.Attributes))
		}
	}
	return resources.Change{Action: resources.Check, After: after, Steps: steps, Reason: reason}, diags
}

// plannedCertificateSQL is CreateCertificateSQL as a plan shows it: Diff
// is pure, so the expiry (two days after the run) is a placeholder.
func plannedCertificateSQL(name string) string {
	var zero time.Time
	return strings.Replace(CreateCertificateSQL(name, zero), zero.Format("20060102"), "<yyyymmdd, two days after the run>", 1)
}

func orUnknown(s string) string {
	if s == "" {
		return "(not known yet)"
	}
	return s
}

func lastStatus(attrs map[string]any) string {
	if p, ok := attrs["passed"].(bool); ok && p {
		return "passed"
	}
	return "did not pass"
}

// knowledgeKey carries Knowledge by check address in a context: what the
// run knows that no target holds (the changes not applied yet).
type knowledgeKey struct{}

// WithKnowledge gives the checks of a run what milink knows of their paths,
// by check address (`milink check` passes the changes a plan still has).
func WithKnowledge(ctx context.Context, k map[string]Knowledge) context.Context {
	return context.WithValue(ctx, knowledgeKey{}, k)
}

func (impl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	c := req.Config.(*Config)
	addr := req.Change.Address
	chk := &Check{
		// No Name: the view names the change on every progress line.
		SQLServerName: req.Target.Address(),
		Port:          c.Port, RedirectPort: c.RedirectPort, JobTimeout: c.JobTimeout,
		Progress: req.Progress,
	}
	chk.Address, _ = req.Change.After["address"].(string)
	chk.FQDN, _ = req.Change.After["fqdn"].(string)
	if c.Dial != "" {
		chk.Address = c.Dial
	}
	if st, ok := req.Target.(SQLServerTarget); ok {
		chk.SQLServer, chk.Host = st, st.HostTransport()
	}
	if mi := req.Others["managed_instance"]; mi != nil {
		chk.ManagedInstanceName = mi.Address()
		switch m := mi.(type) {
		case SQL:
			chk.ManagedInstance = m
		case ManagedInstanceSQL:
			if db, err := m.SQLDB(); err == nil {
				chk.ManagedInstance = DB{db}
			} else {
				chk.ManagedInstanceErr = err
			}
		}
	}
	if k, ok := ctx.Value(knowledgeKey{}).(map[string]Knowledge); ok {
		chk.Known = k[addr]
	}
	rep := chk.Run(ctx)
	for _, r := range rep.Results {
		chk.progress(r.Line())
		for _, n := range r.Notes {
			chk.progress("  note: " + n)
		}
	}
	attrs := map[string]any{
		"address": chk.Address, "fqdn": chk.FQDN, "port": chk.Port,
		"last_run": time.Now().UTC().Format(time.RFC3339), "passed": rep.Passed(), "results": resultsAttr(rep.Results),
	}
	if chk.RedirectPort != 0 {
		attrs["redirect_port"] = chk.RedirectPort
	}
	if !rep.Passed() {
		return resources.Result{Attributes: attrs}, &FailedError{Address: addr, Report: rep}
	}
	return resources.Result{Attributes: attrs}, nil
}

// resultsAttr is the results as the state keeps them (JSON values).
func resultsAttr(rs []Result) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		m := map[string]any{"direction": string(r.Direction), "status": string(r.Status), "hop": r.Hop, "detail": r.Detail}
		if r.ErrorNumber != 0 {
			m["error_number"] = r.ErrorNumber
		}
		if len(r.Hints) > 0 {
			m["hints"] = strs(r.Hints)
		}
		if len(r.Notes) > 0 {
			m["notes"] = strs(r.Notes)
		}
		out = append(out, m)
	}
	return out
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Line is a result as one line for people.
func (r Result) Line() string {
	dir := map[Direction]string{ToManagedInstance: "SQL Server → managed instance", ToSQLServer: "managed instance → SQL Server"}[r.Direction]
	status := map[Status]string{Passed: "passed", Failed: "FAILED", NotRun: "could not run"}[r.Status]
	return fmt.Sprintf("%s: %s at %s: %s", dir, status, r.Hop, r.Detail)
}

// FailedError is a check that did not pass: which directions, which hops,
// and what to look at.
type FailedError struct {
	Address string
	Report  Report
}

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s did not pass", e.Address)
	for _, r := range e.Report.Results {
		if r.Status == Passed {
			continue
		}
		fmt.Fprintf(&b, "\n  %s", r.Line())
		for _, h := range r.Hints {
			fmt.Fprintf(&b, "\n    - %s", h)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "\n    note: %s", n)
		}
	}
	return b.String()
}
