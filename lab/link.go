package lab

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/milink/milink/internal/atomicfile"
	"github.com/milink/milink/lab/arm"
	"github.com/milink/milink/lab/engine"
)

// linkSim is the managed instance link between sql01 and mi01 as the lab
// simulates it: what Resource Manager's distributedAvailabilityGroups,
// serverTrustCertificates and endpointCertificates do (through
// arm.LinkBackend), and what each side's HADR views then show.
//
// A link refuses at once what Azure refuses synchronously; then, step by
// step on the lab's link clock, it checks what the real link checks when it
// starts (certificates, names, the endpoint, the network), seeds, and keeps
// mi01's copy hardened behind sql01's log. The clock runs at real time ×
// speed and tests move it with Advance.
//
// contract: arm.LinkBackend
type linkSim struct {
	sql, mi *Instance
	fqdn    string // mi01's fullyQualifiedDomainName: its loopback address
	path    string // the persisted state (links, clock, faults)
	speed   float64
	dialer  func(ctx context.Context, address string) error

	mu    sync.Mutex
	state linkState
	base  time.Time // real time when the clock read state.Clock
	stop  chan struct{}
	done  chan struct{}
}

// linkState is what survives a lab restart (DIR/link.json).
type linkState struct {
	Clock  time.Time       `json:"clock"` // the link clock at the last step
	Faults map[string]bool `json:"faults,omitempty"`
	Links  []*simLink      `json:"links,omitempty"`
}

type simLink struct {
	Spec    arm.LinkSpec `json:"spec"`
	ID      string       `json:"id"`
	Created time.Time    `json:"created"`
	DBs     []*simDB     `json:"databases"`
}

type simDB struct {
	Name        string    `json:"name"`
	State       string    `json:"replica_state"` // CreatingLink, Seeding, LinkSynchronizing, LinkInitError, LinkCreationError
	Err         string    `json:"most_recent_link_error,omitempty"`
	Size        int64     `json:"size"`
	Transferred int64     `json:"transferred"`
	Attempts    int       `json:"attempts"`
	LogBackups  int       `json:"log_backups_at_seeding"`
	Hardened    int64     `json:"hardened_lsn"`
	Pending     int64     `json:"pending_lsn"` // sql01's end of log at the last step (async sends it next)
	Hardening   time.Time `json:"hardened_time"`
	LagSince    time.Time `json:"lag_since"`
	Connected   bool      `json:"connected"`
	PartnerID   [16]byte  `json:"partner_replica_id"`
	InstanceID  [16]byte  `json:"instance_replica_id"`
}

var _ arm.LinkBackend = (*linkSim)(nil)
var _ LinkControl = (*linkSim)(nil)

// LinkControl is the link simulation's control surface, for the lab's
// control API and CLI (milink lab link status|advance|fault) and tests.
type LinkControl interface {
	// Advance moves the link clock by d and runs a step.
	Advance(d time.Duration)
	// SetFault turns one of LinkFaults on or off.
	SetFault(name string, on bool)
	// Links is every link's status, as ARM reports it.
	Links() []arm.LinkStatus
}

// Link faults (SetFault).
const (
	// FaultSeedingInterrupted restarts every running seeding from zero
	// (number_of_attempts + 1) at the next step; it then turns itself off.
	FaultSeedingInterrupted = "seeding_interrupted"
	// FaultPortClosed: the SQL Server endpoint cannot be reached from
	// mi01 (41986) while on.
	FaultPortClosed = "port_closed"
)

const (
	linkStepEvery   = 500 * time.Millisecond // real time between steps of the running clock
	linkStateFile   = "link.json"
	azureIssuer     = "*.database.windows.net"
	miEndpointCert  = "MI_DATABASE_MIRRORING_ENDPOINT"
	linkPartnerPort = LinkPort
)

// newLinkSim opens the link simulation of a lab directory. speed scales
// the link clock against real time (1 when 0); a negative speed stops it,
// so that only Advance moves it (tests).
func newLinkSim(dir string, sql, mi *Instance, speed float64) (*linkSim, error) {
	if speed == 0 {
		speed = 1
	}
	s := &linkSim{sql: sql, mi: mi, fqdn: mi.Address(), path: filepath.Join(dir, linkStateFile), speed: speed, base: time.Now()}
	s.dialer = func(ctx context.Context, address string) error {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", address)
		if err == nil {
			c.Close()
		}
		return err
	}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.state.Clock = time.Now().UTC()
	case err != nil:
		return nil, fmt.Errorf("link simulation: %w", err)
	default:
		if err := json.Unmarshal(b, &s.state); err != nil {
			return nil, fmt.Errorf("link simulation: %s: %w", s.path, err)
		}
	}
	if s.state.Faults == nil {
		s.state.Faults = map[string]bool{}
	}
	return s, nil
}

// start runs the clock (unless it is manual).
func (s *linkSim) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.speed < 0 || s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.base = time.Now()
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(linkStepEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.stepLocked(s.clockLocked())
				s.mu.Unlock()
			}
		}
	}(s.stop, s.done)
}

// close stops the clock and saves the state.
func (s *linkSim) close() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.saveLocked()
}

// clockLocked is the link clock now: the last step's time plus real time
// since, × speed.
func (s *linkSim) clockLocked() time.Time {
	if s.speed < 0 || s.stop == nil {
		return s.state.Clock
	}
	now := time.Now()
	d := time.Duration(float64(now.Sub(s.base)) * s.speed)
	s.base = now
	return s.state.Clock.Add(d)
}

func (s *linkSim) saveLocked() error {
	b, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path, b, 0o600)
}

// Advance moves the link clock by d and runs a step.
func (s *linkSim) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stepLocked(s.clockLocked().Add(d))
}

// LinkFaults are the names SetFault knows: seeding_interrupted makes
// seeding start over from 0 % (one more attempt); port_closed makes the
// partner's endpoint refuse the managed instance (41986). Missing or
// misnamed certificates, an unresolvable partner and expired certificates
// are not faults: they come from the lab's data, as they would in life.
var LinkFaults = []string{FaultPortClosed, FaultSeedingInterrupted}

// SetFault turns a fault of LinkFaults on or off; other names are
// ignored (callers check against LinkFaults).
func (s *linkSim) SetFault(name string, on bool) {
	if !slices.Contains(LinkFaults, name) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Faults[name] = on
	_ = s.saveLocked()
}

// Faults are the faults that are on.
func (s *linkSim) Faults() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n, on := range s.state.Faults {
		if on {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (s *linkSim) sqlEng() *engine.Instance { return s.sql.Engine() }
func (s *linkSim) miEng() *engine.Instance  { return s.mi.Engine() }

// EndpointCertificate is mi01's DATABASE_MIRRORING endpoint certificate,
// made on first use and kept in mi01's master.
func (s *linkSim) EndpointCertificate() ([]byte, error) {
	c, err := s.miEng().EnsureCertificate(miEndpointCert, s.fqdn, 5*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("mi01 endpoint certificate: %w", err)
	}
	return c.DER, nil
}

func (s *linkSim) TrustCertificates() map[string][]byte { return s.miEng().TrustCertificates() }

func (s *linkSim) PutTrustCertificate(name string, der []byte) error {
	if _, err := x509.ParseCertificate(der); err != nil {
		return &arm.LinkError{Status: 400, Code: "InvalidParameterValue", Message: "Invalid public blob specified."}
	}
	return s.miEng().PutTrustCertificate(name, der)
}

func (s *linkSim) DeleteTrustCertificate(name string) (bool, error) {
	return s.miEng().DeleteTrustCertificate(name)
}

func linkRefusal(status int, code, format string, args ...any) *arm.LinkError {
	return &arm.LinkError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// CreateLink refuses synchronously what Azure refuses at once, in the
// spec's order, then starts the link in CreatingLink.
func (s *linkSim) CreateLink(spec arm.LinkSpec) error {
	const chimera = "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished"
	if spec.ReplicationMode == "" {
		spec.ReplicationMode = "Async"
	}
	if spec.SeedingMode == "" {
		spec.SeedingMode = "Automatic"
	}
	if spec.InstanceLinkRole == "" {
		spec.InstanceLinkRole = "Secondary"
	}
	if spec.FailoverMode == "" {
		spec.FailoverMode = "Manual"
	}
	switch {
	case spec.Name == "" || spec.PartnerAG == "" || spec.InstanceAG == "" || spec.PartnerEndpoint == "" || len(spec.Databases) == 0:
		return linkRefusal(400, "InvalidParameterValue", "partnerAvailabilityGroupName, instanceAvailabilityGroupName, partnerEndpoint and databases are required.")
	case spec.ReplicationMode != "Async" && spec.ReplicationMode != "Sync":
		return linkRefusal(400, "InvalidParameterValue", "Invalid value '%s' for replicationMode (Async or Sync).", spec.ReplicationMode)
	case spec.InstanceLinkRole != "Secondary":
		return linkRefusal(400, "InvalidParameterValue", "The lab simulates links with SQL Server as the initial primary only (instanceLinkRole Secondary).")
	case spec.SeedingMode != "Automatic":
		return linkRefusal(400, "InvalidParameterValue", "The lab simulates automatic seeding only.")
	case spec.FailoverMode != "Manual" && spec.FailoverMode != "None":
		return linkRefusal(400, "InvalidParameterValue", "Invalid value '%s' for failoverMode (Manual or None).", spec.FailoverMode)
	case len(spec.Databases) > 1:
		return linkRefusal(400, "InvalidParameterValue", "A link in single-database mode has one database.")
	}
	host, _, ok := parseEndpointURL(spec.PartnerEndpoint)
	if !ok {
		return linkRefusal(400, "InvalidParameterValue", "Invalid partnerEndpoint '%s': expected TCP://<address>:<port>.", spec.PartnerEndpoint)
	}
	sql, mi := s.sqlEng(), s.miEng()
	ag, agOK := sql.AvailabilityGroup(spec.PartnerAG)
	for _, db := range spec.Databases {
		if _, ok := sql.Database(db); !ok || !agOK || !slices.ContainsFunc(ag.Databases, func(n string) bool { return strings.EqualFold(n, db) }) {
			return linkRefusal(400, chimera, "Database '%s' is not in availability group '%s' on the SQL Server.", db, spec.PartnerAG)
		}
	}
	dag, ok := sql.AvailabilityGroup(spec.Name)
	if !ok || !dag.Distributed {
		return linkRefusal(400, chimera, "Distributed availability group '%s' does not exist on the SQL Server.", spec.Name)
	}
	var partnerOK, instanceOK bool
	wantURL := fmt.Sprintf("tcp://%s:%d;Server=[%s]", s.fqdn, linkPartnerPort, s.mi.Name())
	for _, r := range dag.Replicas {
		switch {
		case strings.EqualFold(r.Server, spec.PartnerAG):
			partnerOK = true
		case strings.EqualFold(r.Server, spec.InstanceAG):
			instanceOK = strings.EqualFold(r.EndpointURL, wantURL)
			if !instanceOK {
				return linkRefusal(400, chimera, "The LISTENER_URL of '%s' in distributed availability group '%s' is '%s'; the managed instance expects '%s'.", r.Server, spec.Name, r.EndpointURL, wantURL)
			}
		}
	}
	if !partnerOK || !instanceOK {
		return linkRefusal(400, chimera, "Distributed availability group '%s' on the SQL Server does not join availability groups '%s' and '%s'.", spec.Name, spec.PartnerAG, spec.InstanceAG)
	}
	for _, db := range spec.Databases {
		if _, ok := mi.Database(db); ok {
			return linkRefusal(409, "RemoteDatabaseExists", "Database '%s' already exists on managed instance '%s'.", db, s.mi.Name())
		}
	}
	if err := s.linkExists(spec); err != nil {
		return err
	}
	for _, db := range spec.Databases {
		d, _ := sql.Database(db)
		if d.TDEThumbprint != nil && !mi.HasCertificateThumbprint(d.TDEThumbprint) {
			return linkRefusal(400, "ManagedInstanceLinkTdeCertificateMissing", "Database '%s' is encrypted by a certificate (thumbprint 0x%X) the managed instance does not have; upload it first (tdeCertificates).", db, d.TDEThumbprint)
		}
	}
	if !s.resolves(host) {
		return linkRefusal(400, "UnableToResolveRemoteServer", "Unable to resolve the remote server '%s'.", host)
	}
	// The DAG has one id on both sides: sql01's.
	l := &simLink{Spec: spec, ID: guid(dag.ID)}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Again under the lock: two PUTs may race.
	if err := s.linkExistsLocked(spec); err != nil {
		return err
	}
	l.Created = s.clockLocked()
	for _, db := range spec.Databases {
		sd := &simDB{Name: db, State: "CreatingLink"}
		for _, r := range dag.Replicas {
			if strings.EqualFold(r.Server, spec.PartnerAG) {
				sd.PartnerID = r.ID
			} else {
				sd.InstanceID = r.ID
			}
		}
		l.DBs = append(l.DBs, sd)
	}
	s.state.Links = append(s.state.Links, l)
	return s.saveLocked()
}

// guid renders an id as Resource Manager does (lower case), in the
// byte order SQL Server shows it.
func guid(g [16]byte) string { return strings.ToLower(engine.GUIDString(g)) }

func (s *linkSim) linkExists(spec arm.LinkSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.linkExistsLocked(spec)
}

func (s *linkSim) linkExistsLocked(spec arm.LinkSpec) error {
	for _, l := range s.state.Links {
		if strings.EqualFold(l.Spec.Name, spec.Name) || strings.EqualFold(l.Spec.PartnerAG, spec.PartnerAG) || strings.EqualFold(l.Spec.InstanceAG, spec.InstanceAG) {
			return linkRefusal(409, "ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists", "A link for availability groups '%s' and '%s' already exists.", spec.PartnerAG, spec.InstanceAG)
		}
	}
	return nil
}

// resolves: the lab's DNS from mi01's network. An IP address, localhost and
// sql01's own names resolve; nothing else does (the lab never asks real
// DNS).
func (s *linkSim) resolves(host string) bool {
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return true
	}
	return strings.EqualFold(host, s.sql.Name()) || strings.EqualFold(host, s.sqlEng().ServerName())
}

// dialHost maps a resolvable name to the address to dial.
func (s *linkSim) dialHost(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	if strings.EqualFold(host, "localhost") {
		return "127.0.0.1"
	}
	return s.sql.Address()
}

// parseEndpointURL reads TCP://host:port (any case).
func parseEndpointURL(u string) (string, int, bool) {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || !strings.EqualFold(p.Scheme, "tcp") || p.Hostname() == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(p.Port())
	if err != nil || port < 1 || port > 65535 {
		return "", 0, false
	}
	return p.Hostname(), port, true
}

func (s *linkSim) Link(name string) (arm.LinkStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.state.Links {
		if strings.EqualFold(l.Spec.Name, name) {
			return s.statusLocked(l), true
		}
	}
	return arm.LinkStatus{}, false
}

func (s *linkSim) Links() []arm.LinkStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []arm.LinkStatus
	for _, l := range s.state.Links {
		out = append(out, s.statusLocked(l))
	}
	return out
}

func (s *linkSim) statusLocked(l *simLink) arm.LinkStatus {
	st := arm.LinkStatus{LinkSpec: l.Spec, ID: l.ID}
	st.LinkSpec.Databases = slices.Clone(l.Spec.Databases)
	now := s.state.Clock
	certName, certExpiry := "", time.Time{}
	if ep, ok := s.sqlEng().MirroringEndpoint(); ok && ep.Certificate != "" {
		for _, c := range s.sqlEng().Certificates() {
			if c.Name == ep.Certificate {
				certName, certExpiry = c.Name, c.Expiry
			}
		}
	}
	for _, d := range l.DBs {
		ld := arm.LinkDatabase{Name: d.Name, ReplicaState: d.State, MostRecentLinkError: d.Err,
			PartnerCertName: certName, PartnerCertExpiry: certExpiry,
			InstanceReplicaID: guid(d.InstanceID), PartnerReplicaID: guid(d.PartnerID),
			SynchronizationHealth: "NOT_HEALTHY", ConnectedState: "DISCONNECTED"}
		switch d.State {
		case "Seeding":
			pct := int64(0)
			if d.Size > 0 {
				pct = min(d.Transferred*100/d.Size, 100)
			}
			ld.SeedingProgress = fmt.Sprintf("%d%%", pct)
		case "LinkSynchronizing":
			ld.SeedingProgress = "100%"
		}
		if d.Connected {
			ld.ConnectedState = "CONNECTED"
			if d.State == "LinkSynchronizing" {
				ld.SynchronizationHealth = "HEALTHY"
			} else {
				ld.SynchronizationHealth = "PARTIALLY_HEALTHY"
			}
		}
		if d.Hardened != 0 {
			lsn := strconv.FormatInt(d.Hardened, 10)
			ld.LastHardenedLSN, ld.LastReceivedLSN, ld.LastCommitLSN = lsn, lsn, lsn
			ld.LastHardenedTime = d.Hardening
		}
		if db, ok := s.sqlEng().Database(d.Name); ok && db.LastLogBackupLSN != 0 {
			ld.LastBackupLSN = strconv.FormatInt(db.LastLogBackupLSN, 10)
		}
		if !d.LagSince.IsZero() {
			ld.SendLagSeconds = int64(now.Sub(d.LagSince) / time.Second)
			ld.RedoLagSeconds = 0
		}
		st.Databases = append(st.Databases, ld)
	}
	return st
}

func (s *linkSim) SetReplicationMode(name, mode string) error {
	if mode != "Async" && mode != "Sync" {
		return linkRefusal(400, "InvalidParameterValue", "Invalid value '%s' for replicationMode (Async or Sync).", mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.state.Links {
		if strings.EqualFold(l.Spec.Name, name) {
			l.Spec.ReplicationMode = mode
			if ag, ok := s.miEng().AvailabilityGroup(l.Spec.Name); ok && ag.Distributed {
				s.joinLocked(l, l.DBs[0])
			}
			return s.saveLocked()
		}
	}
	return linkRefusal(404, "ResourceNotFound", "The distributed availability group '%s' was not found.", name)
}

// DeleteLink removes the link: mi01 drops its distributed and own groups
// and keeps the database ONLINE and read/write; sql01 keeps its DAG, whose
// remote replica is now DISCONNECTED.
func (s *linkSim) DeleteLink(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.state.Links {
		if !strings.EqualFold(l.Spec.Name, name) {
			continue
		}
		for _, d := range l.DBs {
			if d.State == "Seeding" {
				// The seeding stops with the link.
				s.setSeeding(l, d, "FAILED")
			}
		}
		s.miEng().LeaveLink(l.Spec.Name, l.Spec.InstanceAG)
		s.sqlEng().SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Health: "NOT_HEALTHY"})
		s.state.Links = append(s.state.Links[:k], s.state.Links[k+1:]...)
		return true, s.saveLocked()
	}
	return false, nil
}

// stepLocked moves every link to the clock's time now.
func (s *linkSim) stepLocked(now time.Time) {
	dt := now.Sub(s.state.Clock)
	if dt < 0 {
		dt = 0
	}
	s.state.Clock = now
	if len(s.state.Links) == 0 {
		// Nothing to move; the clock is saved on close.
		return
	}
	interrupt := s.state.Faults[FaultSeedingInterrupted]
	before, _ := json.Marshal(s.state.Links)
	for _, l := range s.state.Links {
		for _, d := range l.DBs {
			s.stepDB(l, d, now, dt, interrupt)
		}
	}
	if interrupt {
		s.state.Faults[FaultSeedingInterrupted] = false
	}
	// A step runs twice a second: write link.json only when a link
	// changed (seeding, an error, LSNs), not for the clock alone, which
	// is saved on close.
	if after, _ := json.Marshal(s.state.Links); interrupt || !bytes.Equal(before, after) {
		_ = s.saveLocked()
	}
}

type linkErr struct {
	number int
	text   string
}

func (e *linkErr) String() string { return fmt.Sprintf("%d: %s", e.number, e.text) }

func (s *linkSim) stepDB(l *simLink, d *simDB, now time.Time, dt time.Duration, interrupt bool) {
	sql := s.sqlEng()
	disconnect := func(e *linkErr, state string) {
		d.State, d.Err, d.Connected = state, e.String(), false
		sql.SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Health: "NOT_HEALTHY", ErrNumber: e.number, ErrText: e.text,
			Databases: s.remoteDBs(l, d, "NOT SYNCHRONIZING", "NOT_HEALTHY")})
	}
	if _, ok := sql.Database(d.Name); !ok && d.State != "LinkSynchronizing" {
		// The database left sql01 (its group first: SQL Server refuses to
		// drop a database in one, 3752): nothing to seed from.
		disconnect(&linkErr{41976, fmt.Sprintf("The availability group on the partner does not hold database '%s'; check the names and the group's databases.", d.Name)}, "LinkInitError")
		return
	}
	switch d.State {
	case "CreatingLink", "LinkInitError":
		if e := s.initCheck(l); e != nil {
			disconnect(e, "LinkInitError")
			return
		}
		db, _ := sql.Database(d.Name)
		d.State, d.Err, d.Connected = "Seeding", "", true
		d.Size, d.Transferred, d.Attempts, d.LogBackups = max(db.SizeBytes, 1), 0, 1, db.LogBackups
		sql.SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Connected: true, Health: "NOT_HEALTHY"})
		s.setSeeding(l, d, "SEEDING")
	case "Seeding":
		db, _ := sql.Database(d.Name)
		if db.LogBackups > d.LogBackups {
			// The log was truncated under the seeding: 1412, drop and recreate.
			d.State, d.Connected = "LinkCreationError", false
			d.Err = (&linkErr{1412, fmt.Sprintf("The remote copy of database \"%s\" has not been rolled forward to a point in time that is encompassed in the local copy of the database log.", d.Name)}).String()
			s.setSeeding(l, d, "FAILED")
			sql.SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Health: "NOT_HEALTHY", ErrNumber: 1412, ErrText: strings.SplitN(d.Err, ": ", 2)[1]})
			return
		}
		if s.state.Faults[FaultPortClosed] {
			e := s.portClosed(l)
			d.Err, d.Connected = e.String(), false
			sql.SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Health: "NOT_HEALTHY", ErrNumber: e.number, ErrText: e.text})
			return
		}
		d.Err, d.Connected = "", true
		if interrupt {
			d.Transferred, d.Attempts = 0, d.Attempts+1
			s.setSeeding(l, d, "SEEDING")
			return
		}
		d.Transferred += int64(dt.Seconds() * seedBytesPerSecond)
		if d.Transferred < d.Size {
			s.setSeeding(l, d, "SEEDING")
			return
		}
		d.Transferred = d.Size
		d.State = "LinkSynchronizing"
		d.Hardened, d.Pending, d.Hardening = db.EndOfLogLSN, db.EndOfLogLSN, now
		s.setSeeding(l, d, "COMPLETED")
		s.joinLocked(l, d)
		s.publish(l, d)
	case "LinkSynchronizing":
		if s.state.Faults[FaultPortClosed] {
			e := s.portClosed(l)
			disconnect(e, "LinkSynchronizing")
			s.miEng().SetRemoteReplica(l.Spec.Name, l.Spec.PartnerAG, engine.RemoteState{Health: "NOT_HEALTHY", ErrNumber: e.number, ErrText: e.text})
			if d.LagSince.IsZero() {
				d.LagSince = now
			}
			return
		}
		d.Err, d.Connected = "", true
		db, _ := sql.Database(d.Name)
		end := db.EndOfLogLSN
		sent := d.Pending
		if l.Spec.ReplicationMode == "Sync" {
			sent = end
		}
		if sent != d.Hardened {
			d.Hardened, d.Hardening = sent, now
		}
		d.Pending = end
		if d.Hardened < end {
			if d.LagSince.IsZero() {
				d.LagSince = now
			}
		} else {
			d.LagSince = time.Time{}
		}
		s.publish(l, d)
	}
}

// seedBytesPerSecond: the lab's example databases (about 20 MB) seed in
// a few seconds of the link clock, so that the demo ends with links
// synchronizing; tests that need seeding to last stop the clock.
const seedBytesPerSecond = 8 << 20

func (s *linkSim) portClosed(l *simLink) *linkErr {
	return &linkErr{41986, fmt.Sprintf("Connection to the SQL Server endpoint '%s' failed: the port does not accept connections from the managed instance.", l.Spec.PartnerEndpoint)}
}

// initCheck is what the real link checks when it starts, in the spec's
// order; nil when all pass.
func (s *linkSim) initCheck(l *simLink) *linkErr {
	sql := s.sqlEng()
	certs := sql.Certificates()
	byName := func(n string) *engine.CertificateInfo {
		for k := range certs {
			if strings.EqualFold(certs[k].Name, n) {
				return &certs[k]
			}
		}
		return nil
	}
	ep, epOK := sql.MirroringEndpoint()
	var epCert *engine.CertificateInfo
	if epOK {
		epCert = byName(ep.Certificate)
	}
	if epCert != nil {
		trusted := false
		for _, der := range s.miEng().TrustCertificates() {
			tp := sha1.Sum(der)
			if bytes.Equal(tp[:], epCert.Thumbprint) {
				trusted = true
			}
		}
		if !trusted {
			return &linkErr{41973, fmt.Sprintf("The certificate '%s' (thumbprint 0x%X) of the SQL Server's endpoint is not trusted by the managed instance: upload its public key to the managed instance (serverTrustCertificates).", epCert.Name, epCert.Thumbprint)}
		}
	}
	miDER, err := s.EndpointCertificate()
	if err != nil {
		return &linkErr{41974, err.Error()}
	}
	miTP := sha1.Sum(miDER)
	if c := byName(s.fqdn); c == nil || !bytes.Equal(c.Thumbprint, miTP[:]) {
		return &linkErr{41974, fmt.Sprintf("The SQL Server does not hold the managed instance's endpoint certificate (thumbprint 0x%X) under the name '%s' (the managed instance's FQDN).", miTP, s.fqdn)}
	}
	for _, root := range []string{"MicrosoftPKI", "DigiCertPKI"} {
		c := byName(root)
		if c == nil || !slices.ContainsFunc(c.Issuers, func(i string) bool { return strings.EqualFold(i, azureIssuer) }) {
			return &linkErr{41974, fmt.Sprintf("The SQL Server does not trust Azure's root certificate '%s' for '%s' (CREATE CERTIFICATE ... FROM BINARY and sp_certificate_add_issuer).", root, azureIssuer)}
		}
	}
	host, port, _ := parseEndpointURL(l.Spec.PartnerEndpoint)
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if s.state.Faults[FaultPortClosed] || s.dialer(ctx, net.JoinHostPort(s.dialHost(host), strconv.Itoa(port))) != nil {
		return s.portClosed(l)
	}
	if !epOK || ep.State != "STARTED" || !strings.Contains(ep.Auth, "CERTIFICATE") || !strings.Contains(ep.Encryption, "AES") {
		return &linkErr{41986, "The SQL Server's DATABASE_MIRRORING endpoint must be STARTED with CERTIFICATE authentication and AES encryption."}
	}
	now := time.Now()
	if epCert.Expiry.Before(now) {
		return &linkErr{41974, fmt.Sprintf("The certificate '%s' of the SQL Server's endpoint expired on %s.", epCert.Name, epCert.Expiry.Format(time.DateOnly))}
	}
	if c := byName(s.fqdn); c.Expiry.Before(now) {
		return &linkErr{41974, fmt.Sprintf("The managed instance's certificate '%s' on the SQL Server expired on %s.", c.Name, c.Expiry.Format(time.DateOnly))}
	}
	return nil
}

// setSeeding shows a seeding in sql01's DMVs (and, once it has the
// groups, mi01's).
func (s *linkSim) setSeeding(l *simLink, d *simDB, state string) {
	st := engine.SeedingState{AG: l.Spec.Name, Database: d.Name, State: state, IsSource: true, Size: d.Size, Transferred: d.Transferred, Attempts: d.Attempts}
	s.sqlEng().SetSeeding(st)
	st.IsSource = false
	s.miEng().SetSeeding(st)
}

// joinLocked creates mi01's side: the database, its own group and the DAG.
func (s *linkSim) joinLocked(l *simLink, d *simDB) {
	dag, _ := s.sqlEng().AvailabilityGroup(l.Spec.Name)
	j := engine.LinkJoin{DAG: l.Spec.Name, DAGMode: "ASYNCHRONOUS_COMMIT", InstanceAG: l.Spec.InstanceAG, PartnerAG: l.Spec.PartnerAG,
		PartnerURL: l.Spec.PartnerEndpoint, InstanceURL: fmt.Sprintf("tcp://%s:%d", s.fqdn, linkPartnerPort),
		Database: d.Name, SizeBytes: d.Size, LSN: d.Hardened, DAGID: dag.ID}
	if l.Spec.ReplicationMode == "Sync" {
		j.DAGMode = "SYNCHRONOUS_COMMIT"
	}
	j.PartnerID, j.MemberID = d.PartnerID, d.InstanceID
	if err := s.miEng().JoinLink(j); err != nil {
		d.Err = (&linkErr{41977, err.Error()}).String()
	}
	s.setSeeding(l, d, "COMPLETED")
}

// publish shows a synchronizing link on both sides.
func (s *linkSim) publish(l *simLink, d *simDB) {
	sync := "SYNCHRONIZING"
	if l.Spec.ReplicationMode == "Sync" {
		sync = "SYNCHRONIZED"
	}
	s.sqlEng().SetRemoteReplica(l.Spec.Name, l.Spec.InstanceAG, engine.RemoteState{Connected: true, Health: "HEALTHY",
		Databases: s.remoteDBs(l, d, sync, "HEALTHY")})
	s.miEng().SetRemoteReplica(l.Spec.Name, l.Spec.PartnerAG, engine.RemoteState{Connected: true, Health: "HEALTHY"})
	s.miEng().SetDatabaseLSN(d.Name, d.Hardened)
}

func (s *linkSim) remoteDBs(l *simLink, d *simDB, state, health string) []engine.RemoteDatabase {
	if d.Hardened == 0 {
		return nil
	}
	return []engine.RemoteDatabase{{Name: d.Name, SyncState: state, Health: health, HardenedLSN: d.Hardened}}
}

// LinkBackend is the link simulation as Resource Manager uses it (the
// lab's arm.Config.Link), also for in-process tests.
func (l *Lab) LinkBackend() arm.LinkBackend { return l.link }
