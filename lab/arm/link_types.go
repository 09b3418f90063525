package arm

import "time"

// The managed instance link's contract between lab/arm and the lab's link
// simulation (issue 15's link-spec.md, verbatim).

// LinkBackend is the lab's managed instance link as Resource Manager sees it.
type LinkBackend interface {
	// EndpointCertificate is mi01's DATABASE_MIRRORING endpoint certificate (DER).
	EndpointCertificate() ([]byte, error)
	// TrustCertificates lists the SQL Server certificates mi01 trusts, by name (DER).
	TrustCertificates() map[string][]byte
	PutTrustCertificate(name string, der []byte) error // *LinkError for a bad blob
	DeleteTrustCertificate(name string) (found bool, err error)
	// CreateLink validates and starts a link; a refusal is a *LinkError.
	CreateLink(spec LinkSpec) error
	Link(name string) (LinkStatus, bool)
	Links() []LinkStatus
	SetReplicationMode(name, mode string) error // "Async" | "Sync"
	DeleteLink(name string) (found bool, err error)
}

type LinkSpec struct {
	Name, PartnerAG, PartnerEndpoint, InstanceAG, InstanceLinkRole, FailoverMode, SeedingMode, ReplicationMode string
	Databases                                                                                                  []string
}

type LinkStatus struct {
	LinkSpec
	ID        string // distributedAvailabilityGroupId (a GUID)
	Databases []LinkDatabase
}

type LinkDatabase struct {
	Name, ReplicaState, SeedingProgress, SynchronizationHealth, ConnectedState string
	LastHardenedLSN, LastReceivedLSN, LastCommitLSN, LastBackupLSN             string // decimal
	LastHardenedTime                                                           time.Time
	MostRecentLinkError                                                        string // "41973: …" or ""
	PartnerCertName                                                            string
	PartnerCertExpiry                                                          time.Time
	SendLagSeconds, RedoLagSeconds                                             int64
	InstanceReplicaID, PartnerReplicaID                                        string
}

// LinkError is a refusal: Code is the ARM error code, Status the HTTP status (400, 404, 409).
type LinkError struct {
	Status        int
	Code, Message string
}

func (e *LinkError) Error() string { return e.Code + ": " + e.Message }
