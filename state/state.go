// Package state holds the state document — what milink manages, the results
// of the last apply and fingerprints of secrets, never the secrets — and the
// backends that store and lock it. The local file backend lives in local.go;
// other backends (Azure Blob) implement the same Backend interface and reuse
// Encode, Decode and Validate so that every backend stores the same bytes.
package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/milink/milink/resources"
)

// FormatVersion is the version of the state document this code writes. A
// document with a higher version was written by a newer milink and is
// refused rather than half-understood; an older one is migrated on Decode.
//
// Version 2 replaced each resource's "server" (the name of the SQL Server
// block, "sql01") with "target": the address of the target the object
// lives on ("sql_server.sql01"), which also names targets that are not SQL
// Servers (a host, an Azure subscription).
const FormatVersion = 2

// State is the document a backend stores.
type State struct {
	FormatVersion int `json:"format_version"`
	// MilinkVersion is the version of milink that last wrote the state; the
	// caller sets it before Save.
	MilinkVersion string `json:"milink_version"`
	// Lineage identifies this state across its whole life; it is set once
	// by New and never changes, so a plan made against another state (or a
	// state file swapped underneath) is recognised.
	Lineage string `json:"lineage"`
	// Serial grows by one on every Save.
	Serial int64 `json:"serial"`
	// Salt keys resources.Fingerprint for this lineage.
	Salt string `json:"salt"`
	// Resources are kept sorted by address.
	Resources []Resource `json:"resources"`
}

// Resource is one object milink manages.
type Resource struct {
	Address string `json:"address"`
	Kind    string `json:"kind"`
	// Target is the address of the target the object lives on, e.g.
	// "sql_server.sql01"; empty for an object that belongs to none.
	Target     string         `json:"target"`
	Attributes map[string]any `json:"attributes"`
	// Sensitive names the attributes whose values are fingerprints
	// ("hmac-sha256:..."); Save refuses any other value for them.
	Sensitive []string `json:"sensitive,omitempty"`
	// DependsOn are the addresses the object's last change came after:
	// when blocks are removed together, their deletions run in the
	// reverse order (the link's availability group is dropped before the
	// endpoint it uses).
	DependsOn []string  `json:"depends_on,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IsSensitive reports whether the attribute is a fingerprinted secret.
func (r *Resource) IsSensitive(attr string) bool {
	for _, s := range r.Sensitive {
		if s == attr {
			return true
		}
	}
	return false
}

// New returns an empty state with a fresh lineage and salt. Nothing is
// written until a backend saves it.
func New() *State {
	return &State{
		FormatVersion: FormatVersion,
		Lineage:       uuid.NewString(),
		Salt:          randomHex(32),
		Resources:     []Resource{},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error on supported platforms (it
	// panics instead), so there is nothing to handle here.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Get returns the resource at addr, or nil. The pointer refers into the
// state; changing it changes the state.
func (s *State) Get(addr string) *Resource {
	i, ok := s.find(addr)
	if !ok {
		return nil
	}
	return &s.Resources[i]
}

// Set adds r or replaces the resource with the same address, keeping the
// list sorted. A zero UpdatedAt is set to now.
func (s *State) Set(r Resource) {
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now().UTC()
	}
	i, ok := s.find(r.Address)
	if ok {
		s.Resources[i] = r
		return
	}
	s.Resources = append(s.Resources, Resource{})
	copy(s.Resources[i+1:], s.Resources[i:])
	s.Resources[i] = r
}

// Remove deletes the resource at addr, if any.
func (s *State) Remove(addr string) {
	if i, ok := s.find(addr); ok {
		s.Resources = append(s.Resources[:i], s.Resources[i+1:]...)
	}
}

// Addresses lists the managed addresses, sorted.
func (s *State) Addresses() []string {
	out := make([]string, 0, len(s.Resources))
	for _, r := range s.Resources {
		out = append(out, r.Address)
	}
	sort.Strings(out)
	return out
}

// Priors gives the drivers what the state remembers of each address. The
// attribute maps are copies: a driver cannot change the state through them.
func (s *State) Priors() map[string]resources.Prior {
	out := make(map[string]resources.Prior, len(s.Resources))
	for _, r := range s.Resources {
		attrs := make(map[string]any, len(r.Attributes))
		for k, v := range r.Attributes {
			attrs[k] = v
		}
		out[r.Address] = resources.Prior{Attributes: attrs}
	}
	return out
}

// find is a binary search that tolerates a list loaded unsorted by
// falling back to a scan (Decode sorts, but a caller may append directly).
func (s *State) find(addr string) (int, bool) {
	i := sort.Search(len(s.Resources), func(i int) bool { return s.Resources[i].Address >= addr })
	if i < len(s.Resources) && s.Resources[i].Address == addr {
		return i, true
	}
	for j := range s.Resources {
		if s.Resources[j].Address == addr {
			return j, true
		}
	}
	return i, false
}

var fingerprintRE = regexp.MustCompile(`^hmac-sha256:[0-9a-f]{64}$`)

// IsFingerprint reports whether v is a value resources.Fingerprint produces.
func IsFingerprint(v any) bool {
	s, ok := v.(string)
	return ok && fingerprintRE.MatchString(s)
}

// Validate checks what every backend must check before writing: a known
// format, a lineage, unique addresses, and — defence in depth against a
// secret reaching the disk — that every sensitive attribute holds a
// fingerprint. Errors name the address and attribute, never the value.
func Validate(s *State) error {
	if err := validateHeader(s); err != nil {
		return err
	}
	seen := make(map[string]bool, len(s.Resources))
	for i := range s.Resources {
		r := &s.Resources[i]
		if err := validateResource(r); err != nil {
			return err
		}
		if seen[r.Address] {
			return fmt.Errorf("state holds %s twice", r.Address)
		}
		seen[r.Address] = true
	}
	return nil
}

// validateHeader is the part of Validate about the document, not its
// resources.
func validateHeader(s *State) error {
	if s == nil {
		return errors.New("state is nil")
	}
	if s.FormatVersion != FormatVersion {
		return fmt.Errorf("state format_version %d is not supported (this milink writes %d)", s.FormatVersion, FormatVersion)
	}
	if s.Lineage == "" {
		return errors.New("state has no lineage")
	}
	if s.Salt == "" {
		return errors.New("state has no salt")
	}
	return nil
}

// validateResource is the part of Validate about one resource: it has an
// address, and its sensitive attributes hold fingerprints, not secrets.
func validateResource(r *Resource) error {
	if r.Address == "" {
		return errors.New("state has a resource without an address")
	}
	for _, attr := range r.Sensitive {
		v, ok := r.Attributes[attr]
		if !ok || v == nil {
			continue
		}
		if !IsFingerprint(v) {
			return fmt.Errorf("refusing to store %s attribute %q: it is sensitive and its value is not a fingerprint (a secret must never reach the state)", r.Address, attr)
		}
	}
	return nil
}

// Encode validates s and renders the bytes a backend stores, resources
// sorted by address. It does not change s.
func Encode(s *State) ([]byte, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	c := *s
	c.Resources = append([]Resource(nil), s.Resources...)
	if c.Resources == nil {
		c.Resources = []Resource{}
	}
	sort.SliceStable(c.Resources, func(i, j int) bool { return c.Resources[i].Address < c.Resources[j].Address })
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode parses a stored state. source (a path or URL) is named in errors
// so that the user knows which file to look at.
func Decode(data []byte, source string) (*State, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("state %s is empty: refusing to treat it as a new state; restore it (e.g. from %s.backup) or delete it deliberately", source, source)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("state %s is corrupt (%v): it was left untouched; restore it (e.g. from %s.backup) or fix it by hand", source, err, source)
	}
	if s.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("state %s has format_version %d, written by a newer milink (%s); this milink reads up to %d", source, s.FormatVersion, s.MilinkVersion, FormatVersion)
	}
	if s.FormatVersion < 1 || s.Lineage == "" || s.Salt == "" {
		return nil, fmt.Errorf("state %s is corrupt: format_version, lineage or salt is missing; it was left untouched", source)
	}
	if s.FormatVersion == 1 {
		if err := migrateV1(data, s.Resources, "resources"); err != nil {
			return nil, fmt.Errorf("state %s is corrupt (%v): it was left untouched", source, err)
		}
		s.FormatVersion = FormatVersion
	}
	if s.Resources == nil {
		s.Resources = []Resource{}
	}
	sort.SliceStable(s.Resources, func(i, j int) bool { return s.Resources[i].Address < s.Resources[j].Address })
	// Get and Set assume one entry per address; with two, which one wins
	// would depend on the order in the file, and the next Save would
	// refuse anyway. Say so now, naming the address to fix.
	for i := range s.Resources {
		if s.Resources[i].Address == "" {
			return nil, fmt.Errorf("state %s is corrupt: it holds a resource without an address; it was left untouched", source)
		}
		if i > 0 && s.Resources[i].Address == s.Resources[i-1].Address {
			return nil, fmt.Errorf("state %s is corrupt: it holds %s twice; it was left untouched: fix it by hand (keep one of the two) or restore %s.backup", source, s.Resources[i].Address, source)
		}
	}
	return &s, nil
}

// migrateV1 fills in the Target of resources decoded from a version-1
// document, data, from the "server" each had: server "sql01" lives on the
// target sql_server.sql01. field names the list in data that rs was
// decoded from ("resources" in a state, "set" in a journal entry), in the
// same order.
func migrateV1(data []byte, rs []Resource, field string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	var old []struct {
		Server string `json:"server"`
	}
	if raw, ok := doc[field]; ok {
		if err := json.Unmarshal(raw, &old); err != nil {
			return err
		}
	}
	if len(old) != len(rs) {
		return fmt.Errorf("migrating format_version 1: %d resources, %d servers", len(rs), len(old))
	}
	for i := range rs {
		if rs[i].Target == "" && old[i].Server != "" {
			rs[i].Target = "sql_server." + old[i].Server
		}
	}
	return nil
}

// Backend stores and locks a state. Implementations: NewLocal (a file),
// NewBlob (Azure Blob Storage, blob.go).
type Backend interface {
	// Load reads the state. A state that was never written is New()
	// (serial 0); a corrupt one is an error naming where it is.
	Load(ctx context.Context) (*State, error)
	// Save increments s.Serial and writes s atomically, whole. On error s
	// is unchanged and the stored state is the previous one.
	Save(ctx context.Context, s *State) error
	// Record persists what s now holds at addrs — each as s holds it, or
	// as removed when s no longer holds it — and increments s.Serial, at
	// a cost that depends on those resources only, not on the size of the
	// state. Call it after changing s (Set, Remove) for each change, as
	// Save would be called; changes to other addresses not passed to any
	// Record stay unsaved until the next Save. The rules are Save's: the
	// secrets rule for every resource written, s must be the successor of
	// the stored state, on error s is unchanged and the stored state is
	// the previous one. Once Record returns, the change survives a crash.
	Record(ctx context.Context, s *State, addrs ...string) error
	// Lock takes the state lock for op ("plan", "apply", ...), waiting up
	// to timeout; a held lock yields a *LockError naming the holder.
	Lock(ctx context.Context, op string, timeout time.Duration) (Lock, error)
	// ForceUnlock breaks the lock with that ID, refusing any other. It is
	// for locks that can outlive their holder (a remote backend's lease
	// held by a machine that vanished). The local backend's lock cannot:
	// the operating system releases it when its process ends, and one held
	// by a live process cannot be broken; there ForceUnlock refuses, and
	// only removes the record a killed holder left.
	ForceUnlock(ctx context.Context, id string) error
	// Replace stores s as it is, serial and lineage included, keeping the
	// previous version as every write does: for state push, whose rules
	// (CheckPush) the caller applies while holding the lock.
	Replace(ctx context.Context, s *State) error
	// Location names where the state is (a path, a URL), for messages.
	Location() string
}

// CheckPush applies the rules of state push: next may replace cur only if
// it is of the same lineage and not older, unless force. It returns the
// state to write: next with the serial it must carry, above cur's so that
// a plan saved against cur is stale afterwards. same is true when next is
// cur already (nothing to write).
func CheckPush(cur, next *State, force bool) (out *State, same bool, err error) {
	if err := Validate(next); err != nil {
		return nil, false, fmt.Errorf("refusing to push: %w", err)
	}
	c := *next
	c.Resources = append([]Resource(nil), next.Resources...)
	if cur == nil || cur.Serial == 0 {
		return &c, false, nil
	}
	if !force {
		if next.Lineage != cur.Lineage {
			return nil, false, fmt.Errorf("refusing to push: the file has lineage %s, the stored state %s (a different state); -force replaces it", next.Lineage, cur.Lineage)
		}
		if next.Serial < cur.Serial {
			return nil, false, fmt.Errorf("refusing to push: the file is at serial %d, older than the stored state's %d; -force replaces it", next.Serial, cur.Serial)
		}
	}
	a, errA := Encode(cur)
	b, errB := Encode(next)
	if errA == nil && errB == nil && string(a) == string(b) {
		return &c, true, nil
	}
	if !force && next.Serial == cur.Serial {
		return nil, false, fmt.Errorf("refusing to push: the file and the stored state are both at serial %d but differ; -force replaces it", cur.Serial)
	}
	if c.Serial <= cur.Serial {
		c.Serial = cur.Serial + 1
	}
	return &c, false, nil
}

// Lock is a held state lock.
type Lock interface {
	ID() string
	Unlock() error
}

// LockInfo describes who holds a lock; backends store it with the lock.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"` // user@host
	Created   time.Time `json:"created"`
	PID       int       `json:"pid"`
	Path      string    `json:"path"`
}

// LockError is returned when a lock could not be taken because someone
// else holds it.
type LockError struct {
	Path string
	// Info is the holder; zero when the lock record could not be read.
	Info    LockInfo
	InfoErr error
	// ForceUnlockable is set by backends whose locks can outlive their
	// holder (a remote lease), where force-unlock is the way out. The
	// local backend's kernel lock cannot outlive its process, so there the
	// message never suggests breaking it.
	ForceUnlockable bool
	Waited          time.Duration
	Canceled        bool
}

func (e *LockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %s is locked", e.Path)
	if e.Canceled {
		b.WriteString(" (gave up waiting: canceled)")
	} else if w := e.Waited.Round(time.Millisecond); w >= time.Millisecond {
		fmt.Fprintf(&b, " (waited %s)", w)
	}
	if e.InfoErr != nil {
		// Never advise removing anything here: the lock is held, so its
		// holder is running, whoever it is.
		fmt.Fprintf(&b, " by a process milink cannot identify: %v.\n", e.InfoErr)
		b.WriteString("Who holds it and for what is unknown. Wait for it to finish, or let milink wait: -lock-timeout=5m.")
		return b.String()
	}
	i := e.Info
	fmt.Fprintf(&b, ":\n  ID:        %s\n  Operation: %s\n  Who:       %s\n  Created:   %s\n  PID:       %d\n",
		i.ID, i.Operation, i.Who, i.Created.Format(time.RFC3339), i.PID)
	if e.ForceUnlockable {
		b.WriteString("If it is still working, wait for it (or let milink wait: -lock-timeout=5m).\n")
		fmt.Fprintf(&b, "If that process is no longer running, release the lock with: milink force-unlock %s", i.ID)
		return b.String()
	}
	b.WriteString("That process is running: the operating system releases the lock when it ends, so there is nothing to unlock.\n")
	b.WriteString("Wait for it, or let milink wait: -lock-timeout=5m.")
	return b.String()
}

// holder names the holder in one line, for progress messages.
func (e *LockError) holder() string {
	if e.InfoErr != nil {
		return "a process milink cannot identify"
	}
	i := e.Info
	return fmt.Sprintf("%s (%s, pid %d, lock ID %s)", i.Who, i.Operation, i.PID, i.ID)
}

type progressKey struct{}

// WithProgress returns a context whose Lock calls report their waiting
// through fn (for example "waiting for the state lock held by ..."), so
// that a user sees why milink is not moving.
func WithProgress(ctx context.Context, fn func(msg string)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

func progress(ctx context.Context, msg string) {
	if fn, ok := ctx.Value(progressKey{}).(func(string)); ok && fn != nil {
		fn(msg)
	}
}
