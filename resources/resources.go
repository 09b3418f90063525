// Package resources holds the vocabulary every kind of resource shares: the
// change a plan is made of, the steps a change runs, and what apply records.
// The drivers live in subpackages (sqlserver, host, ...); none of them
// imports plan/ or cmd/.
package resources

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Action is what a change does to its object.
type Action string

// The actions of a plan. Restart and Verify are steps the planner inserts
// for an instance; Check is a precondition that was evaluated at plan time.
const (
	NoOp    Action = "no-op"
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Forget  Action = "forget" // leaves management; nothing is changed on the server
	Restart Action = "restart"
	Verify  Action = "verify"
	// Check runs a test at apply (a connectivity check) and changes
	// nothing: it is not a change a plan counts, and the state keeps its
	// last result.
	Check Action = "check"
)

// Symbol is the one-character marker used in human output.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Forget:
		return "/"
	case Restart:
		return "↻"
	case Verify:
		return "?"
	case Check:
		return "✓"
	}
	return " "
}

// Kinds of the steps a planner inserts for a target, rather than objects
// it manages: they are shown and run, but the state does not keep them.
// Their addresses are the target's with a suffix: sql_server.sql01:restart.
const (
	KindRestart = "restart"
	KindVerify  = "verify"
)

// RestartAddr and VerifyAddr are the addresses of a target's restart and
// verification.
func RestartAddr(target string) string { return target + ":" + KindRestart }

// VerifyAddr is the address of a target's verification after its restart.
func VerifyAddr(target string) string { return target + ":" + KindVerify }

// Transient reports whether the change is an instance step (restart,
// verify) rather than an object the state keeps.
func (c *Change) Transient() bool { return c.Kind == KindRestart || c.Kind == KindVerify }

// RestartNeed says how a change relates to an instance restart.
type RestartNeed string

const (
	// NoRestart: the change takes effect at once.
	NoRestart RestartNeed = ""
	// NeedsRestart: applying the change configures a value that SQL Server
	// reads only at startup.
	NeedsRestart RestartNeed = "needed"
	// PendingRestart: already configured, not yet running; only a restart is missing.
	PendingRestart RestartNeed = "pending"
)

// Step is one thing a change sends: a T-SQL batch, a host command, a file
// edit. Text is exactly what is sent, except that secrets are replaced by
// "(sensitive)"; the driver rebuilds the real text from the configuration
// when it applies the change.
type Step struct {
	Kind string `json:"kind"` // "tsql", "command", "file", "wait"
	On   string `json:"on"`   // where it runs: "sql_server.sql01", "host:sql_server.sql01"
	Text string `json:"text"`
}

// Change is one entry of a plan.
type Change struct {
	Address string `json:"address"` // "database.sales", "sql_server.sql01:restart"
	Kind    string `json:"kind"`    // "database", "master_key", "restart", ...
	Target  string `json:"target"`  // the target block it acts through, "sql_server.sql01"
	// Part names the block whose expansion added this one
	// (managed_instance_link.payroll; config.Block.Parent), "" for a
	// block the user wrote.
	Part   string `json:"part,omitempty"`
	Action Action `json:"action"`
	// Before and After hold the attributes shown to people and kept in
	// state. Values are JSON-friendly (string, bool, float64/int, []any,
	// map[string]any). Sensitive attributes hold a fingerprint, never the
	// secret, and are named in Sensitive so views print "(sensitive)".
	Before    map[string]any `json:"before,omitempty"`
	After     map[string]any `json:"after,omitempty"`
	Sensitive []string       `json:"sensitive,omitempty"`
	// Unknown names the attributes of After known only once apply ran
	// (the time of a backup not yet taken); they are absent from After.
	Unknown []string    `json:"unknown,omitempty"`
	Steps   []Step      `json:"steps,omitempty"`
	Restart RestartNeed `json:"restart,omitempty"`
	// DependsOn are the edges of the plan's graph: the addresses of the
	// changes that must be done before this one.
	DependsOn []string `json:"depends_on,omitempty"`
	// Reason is a short human explanation ("recovery model SIMPLE → FULL",
	// "last full backup is COPY_ONLY").
	Reason string `json:"reason,omitempty"`
	// Notable marks a no-op the plan still shows, with its Reason: what a
	// DBA should know although milink changes nothing (a master key
	// milink did not create, left as is).
	Notable bool `json:"notable,omitempty"`
}

// IsSensitive reports whether the attribute is redacted in views.
func (c *Change) IsSensitive(attr string) bool {
	for _, s := range c.Sensitive {
		if s == attr {
			return true
		}
	}
	return false
}

// IsUnknown reports whether the attribute is known only after apply.
func (c *Change) IsUnknown(attr string) bool {
	for _, s := range c.Unknown {
		if s == attr {
			return true
		}
	}
	return false
}

// Result is what applying a change leaves behind for the state: the
// attributes as they now are (with fingerprints in place of secrets).
type Result struct {
	Attributes map[string]any
}

// Prior is what the state remembers of an address from the last apply.
type Prior struct {
	Attributes map[string]any
}

// Fingerprint is a salted HMAC of a secret, so that the state can tell a
// changed password without holding it. The salt is per state lineage.
func Fingerprint(salt, secret string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(secret))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Redacted is what views print in place of a sensitive value.
const Redacted = "(sensitive)"
