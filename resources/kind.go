package resources

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/milink/milink/config/lang"
)

// Role says what a block is to the planner.
type Role int

const (
	// RoleResource blocks are objects milink manages on a target: they
	// are diffed and changed.
	RoleResource Role = iota
	// RoleTarget blocks are what resources act through (a SQL Server
	// connection, later a host, an Azure subscription): opened once per
	// run and shared by every resource on them.
	RoleTarget
)

// Removal is what a removed block means for the object milink managed.
type Removal int

const (
	// RemoveForget: the object leaves management and stays as it is. For
	// what milink did not create, or whose loss is dangerous (a master
	// key, a recovery model).
	RemoveForget Removal = iota
	// RemoveDelete: the object is deleted, as milink created it (firewall
	// and NSG rules).
	RemoveDelete
)

// Phase orders a kind's changes around its target's restart.
type Phase int

const (
	// PhaseAny changes run before the restart unless a dependency puts
	// them after it.
	PhaseAny Phase = iota
	// PhaseStartup changes configure what the target reads at startup:
	// the one restart follows all of them.
	PhaseStartup
	// PhaseAfterRestart changes need the restarted, verified target.
	PhaseAfterRestart
)

// Kind is a kind of block: its schema and how to read it. Resource kinds
// also implement Differ and Applier (Resource); target kinds implement
// Opener.
type Kind struct {
	Type string // the block type, "database"
	Role Role
	// Schema is the block body's schema. The meta-arguments depends_on,
	// for_each and count are handled by the loader and must not be in it.
	Schema *hcl.BodySchema
	// Decode reads a block body into the kind's configuration value.
	// Problems go to the body's sink; the value may be partial then.
	Decode func(b *lang.Body, blk BlockInfo) any

	// For resources: TargetAttr is the attribute that names the target
	// (server = sql_server.sql01), of type TargetType. It is the primary
	// target: the change's Target, and the apply lane it runs in.
	TargetAttr, TargetType string
	// OtherTargets name further targets the kind acts through, each by an
	// attribute (tde_certificate reads on sql_server = sql_server.sql01 and
	// uploads to managed_instance = managed_instance.mi01). Their open
	// targets and observations are in DiffRequest.Others and
	// ApplyRequest.Others; a change waits for their refresh, and, when the
	// kind's Phase is PhaseAfterRestart, for their restart too; while it
	// runs, no other change uses any of its targets.
	OtherTargets []TargetRef
	// OnePerTarget allows at most one block of the kind per target.
	OnePerTarget bool
	// Identity, when set, names the object on its target (a database's
	// name, compared without case); two blocks with the same identity on
	// one target are an error.
	Identity func(cfg any) string
	Removal  Removal
	Phase    Phase
	// Sensitive names the attributes (of the block or its nested blocks)
	// that hold secrets: source snippets never show their values.
	Sensitive []string

	// Expand, when set, makes each block of the kind stand for further
	// blocks as well, the way a Terraform module stands for its resources
	// (a managed_instance_link is also its certificates, endpoint and
	// availability groups). The loader adds the blocks it returns unless a
	// block of that address is already written (by the user, or by another
	// block's expansion): a user may write any part, or point the block at
	// an existing one, and its expansion then leaves that part out. The
	// block itself comes after all of its parts.
	Expand func(x ExpandInput) []Synth

	// Impl is the behaviour: a Resource for resource kinds, an Opener for
	// target kinds.
	Impl any
}

// ExpandInput is a written block as Kind.Expand sees it.
type ExpandInput struct {
	Name string // its label
	// Attrs are its attributes as written (the kind's schema, without the
	// meta-arguments): their expressions can be handed on to the parts,
	// so that the parts evaluate what the user wrote and diagnostics
	// point at it.
	Attrs hcl.Attributes
	Range hcl.Range // its declaration
	// ForEach: the block has for_each, so its PerInstance parts can use
	// each.key (and each.value) for what differs between instances.
	ForEach bool
}

// Synth is a block an expansion adds.
type Synth struct {
	Type, Name string
	// Attrs are the block's arguments: expressions of the expanded block
	// (ExpandInput.Attrs[...].Expr), or hcl.StaticExpr for values of the
	// kind's own.
	Attrs map[string]hcl.Expression
	// PerInstance repeats the expanded block's for_each or count on the
	// part (one availability group per link), so that each.key and
	// count.index mean the same in both; shared parts (one endpoint per
	// SQL Server) have a single instance.
	PerInstance bool
	// DependsOn names blocks (TYPE.NAME: other parts, or any block) the
	// part comes after besides those its expressions refer to: the
	// endpoint after its certificate.
	DependsOn []string
}

// TargetRef names a target by the attribute that refers to it and the
// target kind it must be.
type TargetRef struct {
	Attr, Type string
}

// BlockInfo names the block instance being decoded.
type BlockInfo struct {
	Address string // database.app["sales"]
	Name    string // the label, app
	// Key is each.key (a string) or count.index (its decimal text); ""
	// for a block without for_each or count.
	Key string
}

// Resource is a resource kind's behaviour, in the spirit of Terraform's
// provider protocol: Diff is pure, Apply carries out one change and must be
// safe to run again after a crash halfway.
type Resource interface {
	// Diff compares the desired configuration with what the target
	// observed (Observation.Raw) and returns the block's change.
	Diff(req DiffRequest) (Change, hcl.Diagnostics)
	// Apply carries out one change (never a no-op or forget).
	Apply(ctx context.Context, req ApplyRequest) (Result, error)
}

// Reader is implemented by kinds whose observation needs more than their
// targets' refresh: what one target holds, looked up by what another one
// observed (the managed instance's certificate, by the thumbprint read on
// the SQL Server). Read runs once every target of the block has been
// refreshed, just before Diff, which finds its result in DiffRequest.Read.
// Like a refresh, it observes and changes nothing.
type Reader interface {
	Read(ctx context.Context, req DiffRequest) (any, hcl.Diagnostics)
}

// Deleter is implemented by kinds whose Removal is Delete: it plans the
// deletion of an object the state remembers, whose block is gone. A
// change whose Action is Forget leaves the object as it is (one milink
// did not create); any other action is a deletion.
type Deleter interface {
	PlanDelete(prior Prior, target Target) Change
}

// DeleteChecker is implemented by Deleters that must look at the world
// before a deletion is planned: dropping a link whose copies differ loses
// data. It replaces PlanDelete when present. An error diagnostic refuses
// the plan; Force, which the user gives per address (milink plan
// -force-delete ADDRESS), overrides what the kind allows to be overridden.
type DeleteChecker interface {
	CheckDelete(ctx context.Context, req DeleteRequest) (Change, hcl.Diagnostics)
}

// DeleteRequest is what CheckDelete needs.
type DeleteRequest struct {
	Address string
	Prior   Prior
	// Target is the object's target, open, and Observed its refresh.
	Target   Target
	Observed Observation
	// Force is set when the user asked to delete the address whatever
	// the checks say.
	Force bool
	// Lookup returns another open target of the run by address (one the
	// kind kept in its state attributes), with its refresh.
	Lookup func(addr string) (Target, Observation, bool)
}

// Verifier is implemented by kinds whose changes need a restart.
type Verifier interface {
	// StillConfigured checks, just before the restart, that what the
	// change configured for the next start is still configured; a saved
	// plan applied after someone edited the host must not restart for
	// nothing.
	StillConfigured(ctx context.Context, req ApplyRequest) error
	// Verify checks, on the observation made after the restart, that the
	// change took effect. It returns the attributes now observed (for the
	// state), what it checked ("HADR running"), or the problem.
	Verify(req ApplyRequest, after Observation) (attrs map[string]any, checked string, problem error)
}

// DiffRequest is what Diff needs.
type DiffRequest struct {
	Address   string
	Config    any // the kind's Decode result
	DeclRange hcl.Range
	Target    Target
	Observed  Observation
	Prior     *Prior // nil when the state does not know the address
	Salt      string
	// Others are the kind's other targets (Kind.OtherTargets), by
	// attribute name.
	Others map[string]OtherTarget
	// Read is what the kind's Reader returned (nil without one).
	Read any
}

// OtherTarget is one of a block's other targets as Diff sees it.
type OtherTarget struct {
	Target   Target
	Observed Observation
}

// ApplyRequest is what Apply needs. Config is nil for a delete.
type ApplyRequest struct {
	Change Change
	Config any
	Target Target
	// Others are the kind's other targets, open, by attribute name.
	Others   map[string]Target
	Salt     string
	Progress func(string)
	// Fresh is set when the plan was made in this run, so the change's
	// Before is what the target held moments ago: a kind may skip
	// re-reading it. A saved plan applied later is not fresh, and a kind
	// re-reads what it needs so that it does only what is still missing.
	Fresh bool
}

// Opener opens a target kind's connection.
type Opener interface {
	Open(ctx context.Context, env Env, address string, cfg any) (Target, error)
}

// Env is what the run gives a target when it opens.
type Env struct {
	Log Logger
}

// Logger is the part of go-hclog the targets use.
type Logger interface {
	Debug(msg string, args ...any)
	Trace(msg string, args ...any)
}

// Instance is one resource block as a target sees it at refresh: the
// target may read more when it knows what is configured on it.
type Instance struct {
	Address string
	Type    string
	Config  any // may hold zero values where the configuration is not known before the refresh
}

// Target is an open target.
type Target interface {
	Address() string
	// Refresh observes the target and what the given resources need, in
	// as few round trips as the target allows (one for a SQL Server).
	Refresh(ctx context.Context, res []Instance) (Observation, hcl.Diagnostics)
	Close() error
}

// Restarter is implemented by targets that coalesce the changes needing a
// restart into one restart and a verification.
type Restarter interface {
	// RestartChanges returns the restart and verify changes for the
	// changes that need a restart (in plan order); none when the target
	// forbids restarts (restart = "never"), whose pending state the
	// changes themselves show.
	RestartChanges(obs Observation, needing []Change) []Change
	// ApplyRestart restarts the target once and waits until it serves again.
	ApplyRestart(ctx context.Context, ch Change, progress func(string)) error
	// Observe reads the target again, for the verification after the
	// restart (each restarted change's kind checks it with Verify).
	Observe(ctx context.Context) (Observation, error)
}

// Observation is what a target's refresh learned.
type Observation interface {
	// Summary describes the target for the plan's header.
	Summary() TargetSummary
	// Values are the observed attributes expressions may refer to
	// (sql_server.sql01.product_version).
	Values() map[string]cty.Value
}

// TargetSummary is what a plan shows of a target.
type TargetSummary struct {
	Address string            `json:"address"`           // sql_server.sql01
	Type    string            `json:"type"`              // sql_server
	Name    string            `json:"name"`              // sql01
	Where   string            `json:"where"`             // 127.0.0.2 (how it is reached)
	Banner  string            `json:"banner,omitempty"`  // one line
	Support string            `json:"support,omitempty"` // the version gate's verdict
	Facts   map[string]string `json:"facts,omitempty"`   // product_version, edition, platform ...
}

// Registry is the set of kinds a run knows.
type Registry struct {
	kinds map[string]*Kind
	order []string
}

// NewRegistry registers kinds, in the order given (the order in which a
// plan lists changes that nothing else orders).
func NewRegistry(kinds ...*Kind) *Registry {
	r := &Registry{kinds: map[string]*Kind{}}
	for _, k := range kinds {
		r.Register(k)
	}
	return r
}

// Register adds a kind; registering a type twice is a programming error.
func (r *Registry) Register(k *Kind) {
	if _, dup := r.kinds[k.Type]; dup {
		panic(fmt.Sprintf("resources: kind %q registered twice", k.Type))
	}
	switch k.Role {
	case RoleResource:
		if _, ok := k.Impl.(Resource); !ok {
			panic(fmt.Sprintf("resources: resource kind %q has no Resource implementation", k.Type))
		}
		if k.Removal == RemoveDelete {
			if _, ok := k.Impl.(Deleter); !ok {
				panic(fmt.Sprintf("resources: kind %q deletes but has no Deleter", k.Type))
			}
		}
	case RoleTarget:
		if _, ok := k.Impl.(Opener); !ok {
			panic(fmt.Sprintf("resources: target kind %q has no Opener", k.Type))
		}
	}
	r.kinds[k.Type] = k
	r.order = append(r.order, k.Type)
}

// Kind returns the kind of a block type, or nil.
func (r *Registry) Kind(typ string) *Kind {
	if r == nil {
		return nil
	}
	return r.kinds[typ]
}

// Types lists the registered block types in registration order.
func (r *Registry) Types() []string { return append([]string(nil), r.order...) }

// Rank is a kind's position in registration order, for stable ordering.
func (r *Registry) Rank(typ string) int {
	for i, t := range r.order {
		if t == typ {
			return i
		}
	}
	return len(r.order)
}

// SortedTypes lists the types alphabetically, for messages.
func (r *Registry) SortedTypes() []string {
	out := r.Types()
	sort.Strings(out)
	return out
}

// IsSensitive reports whether any kind marks the attribute name sensitive.
func (r *Registry) IsSensitive(name string) bool {
	for _, k := range r.kinds {
		for _, s := range k.Sensitive {
			if s == name {
				return true
			}
		}
	}
	return false
}
