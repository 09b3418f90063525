package azure

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// LinkAPIVersion is the one api-version of every managed instance link
// call (serverTrustCertificates, endpointCertificates,
// distributedAvailabilityGroups). armsql v1.2.0 speaks only
// 2021-11-01-preview, whose link body is the old one (targetDatabase,
// sourceEndpoint ...); 2025-01-01 is the stable version with the new body
// (see ../../shared/reference/link.md §2). Change it here and only here.
const LinkAPIVersion = "2025-01-01"

// linkModule names milink's own ARM client in the telemetry header.
const (
	linkModule        = "milink/resources/azure"
	linkModuleVersion = "v0.1.0"
)

// newLinkClient is the small Resource Manager client of the link calls:
// azcore's ARM pipeline (credential, retries, throttling, the recorder
// policies of the tests) with milink's own model, since no SDK module
// speaks LinkAPIVersion's body.
func newLinkClient(cred azcore.TokenCredential, co *arm.ClientOptions) (*arm.Client, error) {
	return arm.NewClient(linkModule, linkModuleVersion, cred, co)
}

// TrustCertificate is a SQL Server certificate the managed instance
// trusts (Microsoft.Sql/managedInstances/serverTrustCertificates).
type TrustCertificate struct {
	Name            string // the resource name
	CertificateName string // as Azure reports it (read-only)
	DER             []byte // publicBlob, decoded
	// Thumbprint is Azure's (SHA-1, read-only); when Azure gives none,
	// it is computed from DER.
	Thumbprint []byte
}

// LinkSpec is the writable part of a distributed availability group (the
// link) at LinkAPIVersion. Values are Azure's spellings: InstanceLinkRole
// Primary|Secondary, FailoverMode Manual|None, SeedingMode Automatic,
// ReplicationMode Async|Sync.
type LinkSpec struct {
	PartnerAvailabilityGroup  string
	PartnerEndpoint           string
	InstanceAvailabilityGroup string
	InstanceLinkRole          string
	FailoverMode              string
	SeedingMode               string
	ReplicationMode           string
	Databases                 []string
}

// Link is a distributed availability group as Azure reports it.
type Link struct {
	Name string
	LinkSpec
	DAGName         string // distributedAvailabilityGroupName
	DAGID           string // distributedAvailabilityGroupId
	PartnerLinkRole string
	DatabaseStates  []LinkDatabase
}

// LinkDatabase is one database's replication as Azure reports it.
type LinkDatabase struct {
	Name                  string
	InstanceReplicaID     string
	PartnerReplicaID      string
	ReplicaState          string // CreatingLink, Seeding, LinkSynchronizing, LinkInitError, LinkCreationError ...
	SeedingProgress       string // "30%"
	SynchronizationHealth string
	ConnectedState        string
	LastReceivedLSN       string
	LastHardenedLSN       string
	LastCommitLSN         string
	LastBackupLSN         string
	LastHardenedTime      string
	MostRecentLinkError   string // "41973: …"
	PartnerCertName       string
	PartnerCertExpiry     string // RFC 3339
	SendLagSeconds        int64
	RedoLagSeconds        int64
}

// The wire model at LinkAPIVersion.
type (
	trustCertJSON struct {
		ID         string `json:"id,omitempty"`
		Name       string `json:"name,omitempty"`
		Type       string `json:"type,omitempty"`
		Properties struct {
			PublicBlob      string `json:"publicBlob,omitempty"`
			Thumbprint      string `json:"thumbprint,omitempty"`
			CertificateName string `json:"certificateName,omitempty"`
		} `json:"properties"`
	}
	endpointCertJSON struct {
		Properties struct {
			PublicBlob string `json:"publicBlob"`
		} `json:"properties"`
	}
	dagJSON struct {
		ID         string        `json:"id,omitempty"`
		Name       string        `json:"name,omitempty"`
		Type       string        `json:"type,omitempty"`
		Properties dagProperties `json:"properties"`
	}
	dagProperties struct {
		PartnerAvailabilityGroupName     string            `json:"partnerAvailabilityGroupName,omitempty"`
		PartnerEndpoint                  string            `json:"partnerEndpoint,omitempty"`
		InstanceAvailabilityGroupName    string            `json:"instanceAvailabilityGroupName,omitempty"`
		InstanceLinkRole                 string            `json:"instanceLinkRole,omitempty"`
		FailoverMode                     string            `json:"failoverMode,omitempty"`
		SeedingMode                      string            `json:"seedingMode,omitempty"`
		ReplicationMode                  string            `json:"replicationMode,omitempty"`
		Databases                        []dagDatabaseJSON `json:"databases,omitempty"`
		DistributedAvailabilityGroupName string            `json:"distributedAvailabilityGroupName,omitempty"`
		DistributedAvailabilityGroupID   string            `json:"distributedAvailabilityGroupId,omitempty"`
		PartnerLinkRole                  string            `json:"partnerLinkRole,omitempty"`
	}
	dagDatabaseJSON struct {
		DatabaseName                      string            `json:"databaseName"`
		InstanceReplicaID                 string            `json:"instanceReplicaId,omitempty"`
		PartnerReplicaID                  string            `json:"partnerReplicaId,omitempty"`
		ReplicaState                      string            `json:"replicaState,omitempty"`
		SeedingProgress                   string            `json:"seedingProgress,omitempty"`
		SynchronizationHealth             string            `json:"synchronizationHealth,omitempty"`
		ConnectedState                    string            `json:"connectedState,omitempty"`
		LastReceivedLsn                   lsnText           `json:"lastReceivedLsn,omitempty"`
		LastHardenedLsn                   lsnText           `json:"lastHardenedLsn,omitempty"`
		LastCommitLsn                     lsnText           `json:"lastCommitLsn,omitempty"`
		LastBackupLsn                     lsnText           `json:"lastBackupLsn,omitempty"`
		LastHardenedTime                  string            `json:"lastHardenedTime,omitempty"`
		MostRecentLinkError               string            `json:"mostRecentLinkError,omitempty"`
		PartnerAuthCertValidity           *certValidityJSON `json:"partnerAuthCertValidity,omitempty"`
		InstanceSendReplicationLagSeconds *int64            `json:"instanceSendReplicationLagSeconds,omitempty"`
		InstanceRedoReplicationLagSeconds *int64            `json:"instanceRedoReplicationLagSeconds,omitempty"`
	}
	certValidityJSON struct {
		CertificateName string `json:"certificateName,omitempty"`
		ExpiryDate      string `json:"expiryDate,omitempty"`
	}
	// miFormatJSON is the part of the managed instance milink reads at
	// LinkAPIVersion (armsql v1.2.0 has no databaseFormat).
	miFormatJSON struct {
		Properties struct {
			DatabaseFormat string `json:"databaseFormat"`
		} `json:"properties"`
	}
)

// lsnText is an LSN as Azure writes it: a string of digits, or a JSON
// number (numeric(25,0) does not fit a float: read as written).
type lsnText string

// UnmarshalJSON accepts "123" and 123.
func (l *lsnText) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*l = ""
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var x string
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*l = lsnText(x)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*l = lsnText(n.String())
	return nil
}

// TrustCertificateBody is the PUT body of a serverTrustCertificate: the
// whole DER certificate as "0x" and upper-case hex.
func TrustCertificateBody(der []byte) any {
	return map[string]any{"properties": map[string]any{"publicBlob": HexBlob(der)}}
}

// LinkBody is the PUT body of a link.
func LinkBody(s LinkSpec) any {
	p := dagProperties{
		PartnerAvailabilityGroupName:  s.PartnerAvailabilityGroup,
		PartnerEndpoint:               s.PartnerEndpoint,
		InstanceAvailabilityGroupName: s.InstanceAvailabilityGroup,
		InstanceLinkRole:              s.InstanceLinkRole,
		FailoverMode:                  s.FailoverMode,
		SeedingMode:                   s.SeedingMode,
		ReplicationMode:               s.ReplicationMode,
	}
	for _, d := range s.Databases {
		p.Databases = append(p.Databases, dagDatabaseJSON{DatabaseName: d})
	}
	return struct {
		Properties dagProperties `json:"properties"`
	}{p}
}

// ReplicationModeBody is the PATCH body that changes a link's replication.
func ReplicationModeBody(mode string) any {
	return map[string]any{"properties": map[string]any{"replicationMode": mode}}
}

// HexBlob writes binary as SQL Server prints varbinary: 0x and upper-case
// hex. It is also how a certificate's DER goes into CREATE CERTIFICATE
// ... FROM BINARY and Azure's publicBlob.
func HexBlob(b []byte) string { return "0x" + strings.ToUpper(hex.EncodeToString(b)) }

// ErrHex is the error of a value that is not hexadecimal.
var ErrHex = errors.New("not hexadecimal")

// ParseHexBlob reads binary written as hex the ways SQL Server and Azure
// write it: with or without a 0x prefix, in either case, surrounded by
// white space (the az CLI prints a blob without 0x; the REST API and SQL
// Server print it with).
func ParseHexBlob(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrHex)
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%w: %d digits, an odd number", ErrHex, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		var inv hex.InvalidByteError
		if errors.As(err, &inv) {
			return nil, fmt.Errorf("%w: %q is not a hex digit", ErrHex, rune(inv))
		}
		return nil, fmt.Errorf("%w: %v", ErrHex, err)
	}
	return b, nil
}

// Thumbprint is a certificate's SHA-1 thumbprint, as SQL Server's
// sys.certificates.thumbprint holds it.
func Thumbprint(der []byte) []byte {
	s := sha1.Sum(der)
	return s[:]
}

// FQDN is the managed instance's fully qualified domain name, as the last
// refresh read it ("" before one).
func (m *ManagedInstance) FQDN() string {
	if o := m.observed(); o != nil {
		return o.FQDN
	}
	return ""
}

// Name is the managed instance's short name in Azure (mi01).
func (m *ManagedInstance) Name() string { return m.c.Name }

// ResourceID is the managed instance's resource ID, as plans show the
// link's calls.
func (m *ManagedInstance) ResourceID() string { return m.c.ID() }

// LinkStep is a link call as a plan shows it and golden files hold it:
// method, path, api-version, and the JSON body (none for nil).
func LinkStep(id, method, sub string, body any) string {
	line := fmt.Sprintf("%s %s/%s?api-version=%s", method, id, sub, LinkAPIVersion)
	if body == nil {
		return line
	}
	b, _ := json.Marshal(body)
	return line + "\n" + string(b)
}

// linkURL is the call's URL: the managed instance's path, each segment
// escaped, plus the api-version.
func (m *ManagedInstance) linkURL(sub string) string {
	segs := strings.Split(sub, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Sql/managedInstances/%s",
		url.PathEscape(m.c.Azure.SubscriptionID), url.PathEscape(m.c.ResourceGroup), url.PathEscape(m.c.Name))
	if sub != "" {
		id += "/" + strings.Join(segs, "/")
	}
	return runtime.JoinPaths(m.link.Endpoint(), id)
}

// call sends one request and returns the response when its status is
// among ok; otherwise Azure's error.
func (m *ManagedInstance) call(ctx context.Context, method, sub string, body any, ok ...int) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, m.linkURL(sub))
	if err != nil {
		return nil, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", LinkAPIVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header["Accept"] = []string{"application/json"}
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	resp, err := m.link.Pipeline().Do(req)
	if err != nil {
		return nil, err
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return nil, runtime.NewResponseError(resp)
	}
	return resp, nil
}

// longRunning sends a PUT, PATCH or DELETE and polls its operation to the
// end (azcore's poller: Azure-AsyncOperation, Location, or the body's
// provisioningState), then decodes the final resource into out (nil: no
// body wanted).
func (m *ManagedInstance) longRunning(ctx context.Context, method, sub string, body any, out any, ok ...int) error {
	resp, err := m.call(ctx, method, sub, body, ok...)
	if err != nil {
		return err
	}
	poller, err := runtime.NewPoller[json.RawMessage](resp, m.link.Pipeline(), nil)
	if err != nil {
		return err
	}
	raw, err := poller.PollUntilDone(ctx, &runtimePollOptions)
	if err != nil {
		return err
	}
	if out != nil && len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("reading Azure's answer: %w", err)
		}
	}
	return nil
}

// get reads one resource; found is false on 404.
func (m *ManagedInstance) get(ctx context.Context, sub string, out any) (found bool, err error) {
	resp, err := m.call(ctx, http.MethodGet, sub, nil, http.StatusOK)
	if err != nil {
		if isStatus(err, http.StatusNotFound) && !isCode(err, "InvalidResourceType") && !isCode(err, "ParentResourceNotFound") {
			return false, nil
		}
		return false, err
	}
	if err := runtime.UnmarshalAsJSON(resp, out); err != nil {
		return false, fmt.Errorf("reading Azure's answer: %w", err)
	}
	return true, nil
}

// isCode reports whether err is Azure's answer with that error code.
func isCode(err error, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && strings.EqualFold(re.ErrorCode, code)
}

// EndpointCertificate is the managed instance's DATABASE_MIRRORING
// endpoint certificate (DER), which SQL Server must trust under the
// managed instance's FQDN.
func (m *ManagedInstance) EndpointCertificate(ctx context.Context) ([]byte, error) {
	var got endpointCertJSON
	found, err := m.get(ctx, "endpointCertificates/DATABASE_MIRRORING", &got)
	if err != nil {
		return nil, m.linkError("reading the endpoint certificate", err)
	}
	if !found {
		return nil, fmt.Errorf("%s: Azure has no DATABASE_MIRRORING endpoint certificate for %s", m.c.Address, m.c.Name)
	}
	der, err := ParseHexBlob(got.Properties.PublicBlob)
	if err != nil {
		return nil, fmt.Errorf("%s: the endpoint certificate's publicBlob: %w", m.c.Address, err)
	}
	return der, nil
}

func trustFromJSON(j trustCertJSON, name string) (*TrustCertificate, error) {
	t := &TrustCertificate{Name: j.Name, CertificateName: j.Properties.CertificateName}
	if t.Name == "" {
		t.Name = name
	}
	if j.Properties.PublicBlob != "" {
		der, err := ParseHexBlob(j.Properties.PublicBlob)
		if err != nil {
			return nil, fmt.Errorf("the trust certificate %s's publicBlob: %w", t.Name, err)
		}
		t.DER = der
	}
	if j.Properties.Thumbprint != "" {
		if tp, err := ParseHexBlob(j.Properties.Thumbprint); err == nil {
			t.Thumbprint = tp
		}
	}
	if t.Thumbprint == nil && t.DER != nil {
		t.Thumbprint = Thumbprint(t.DER)
	}
	return t, nil
}

// TrustCertificate reads one server trust certificate; nil when absent.
func (m *ManagedInstance) TrustCertificate(ctx context.Context, name string) (*TrustCertificate, error) {
	var got trustCertJSON
	found, err := m.get(ctx, "serverTrustCertificates/"+name, &got)
	if err != nil {
		return nil, m.linkError("reading the server trust certificate "+name, err)
	}
	if !found {
		return nil, nil
	}
	t, err := trustFromJSON(got, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.c.Address, err)
	}
	return t, nil
}

// PutTrustCertificate uploads a SQL Server certificate's public part (its
// whole DER) for the managed instance to trust, and waits for the
// operation.
func (m *ManagedInstance) PutTrustCertificate(ctx context.Context, name string, der []byte) (*TrustCertificate, error) {
	var got trustCertJSON
	err := m.longRunning(ctx, http.MethodPut, "serverTrustCertificates/"+name, TrustCertificateBody(der), &got,
		http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return nil, m.linkError("uploading the server trust certificate "+name, err)
	}
	t, err := trustFromJSON(got, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.c.Address, err)
	}
	if t.DER == nil {
		t.DER = der
		t.Thumbprint = Thumbprint(der)
	}
	return t, nil
}

// DeleteTrustCertificate removes a server trust certificate; one already
// gone is no error.
func (m *ManagedInstance) DeleteTrustCertificate(ctx context.Context, name string) error {
	err := m.longRunning(ctx, http.MethodDelete, "serverTrustCertificates/"+name, nil, nil,
		http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil && !(isStatus(err, http.StatusNotFound) && !isCode(err, "InvalidResourceType")) {
		return m.linkError("deleting the server trust certificate "+name, err)
	}
	return nil
}

func linkFromJSON(j dagJSON, name string) *Link {
	p := j.Properties
	l := &Link{Name: j.Name, DAGName: p.DistributedAvailabilityGroupName, DAGID: p.DistributedAvailabilityGroupID, PartnerLinkRole: p.PartnerLinkRole,
		LinkSpec: LinkSpec{
			PartnerAvailabilityGroup: p.PartnerAvailabilityGroupName, PartnerEndpoint: p.PartnerEndpoint,
			InstanceAvailabilityGroup: p.InstanceAvailabilityGroupName, InstanceLinkRole: p.InstanceLinkRole,
			FailoverMode: p.FailoverMode, SeedingMode: p.SeedingMode, ReplicationMode: p.ReplicationMode,
		}}
	if l.Name == "" {
		l.Name = name
	}
	for _, d := range p.Databases {
		l.Databases = append(l.Databases, d.DatabaseName)
		s := LinkDatabase{
			Name: d.DatabaseName, InstanceReplicaID: d.InstanceReplicaID, PartnerReplicaID: d.PartnerReplicaID,
			ReplicaState: d.ReplicaState, SeedingProgress: d.SeedingProgress, SynchronizationHealth: d.SynchronizationHealth,
			ConnectedState: d.ConnectedState, LastReceivedLSN: string(d.LastReceivedLsn), LastHardenedLSN: string(d.LastHardenedLsn),
			LastCommitLSN: string(d.LastCommitLsn), LastBackupLSN: string(d.LastBackupLsn), LastHardenedTime: d.LastHardenedTime,
			MostRecentLinkError: d.MostRecentLinkError,
		}
		if v := d.PartnerAuthCertValidity; v != nil {
			s.PartnerCertName, s.PartnerCertExpiry = v.CertificateName, v.ExpiryDate
		}
		if d.InstanceSendReplicationLagSeconds != nil {
			s.SendLagSeconds = *d.InstanceSendReplicationLagSeconds
		}
		if d.InstanceRedoReplicationLagSeconds != nil {
			s.RedoLagSeconds = *d.InstanceRedoReplicationLagSeconds
		}
		l.DatabaseStates = append(l.DatabaseStates, s)
	}
	return l
}

// Link reads a link (distributed availability group); nil when absent.
func (m *ManagedInstance) Link(ctx context.Context, name string) (*Link, error) {
	var got dagJSON
	found, err := m.get(ctx, "distributedAvailabilityGroups/"+name, &got)
	if err != nil {
		return nil, m.linkError("reading the link "+name, err)
	}
	if !found {
		return nil, nil
	}
	return linkFromJSON(got, name), nil
}

// CreateLink creates the link: the managed instance joins the
// distributed availability group SQL Server holds. Azure's operation ends
// when the link is accepted; seeding goes on after it.
func (m *ManagedInstance) CreateLink(ctx context.Context, name string, spec LinkSpec) (*Link, error) {
	var got dagJSON
	err := m.longRunning(ctx, http.MethodPut, "distributedAvailabilityGroups/"+name, LinkBody(spec), &got,
		http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return nil, m.linkError("creating the link "+name, err)
	}
	return linkFromJSON(got, name), nil
}

// SetLinkReplicationMode changes a link's replication (Async or Sync).
func (m *ManagedInstance) SetLinkReplicationMode(ctx context.Context, name, mode string) error {
	err := m.longRunning(ctx, http.MethodPatch, "distributedAvailabilityGroups/"+name, ReplicationModeBody(mode), nil,
		http.StatusOK, http.StatusAccepted)
	if err != nil {
		return m.linkError("changing the replication of link "+name, err)
	}
	return nil
}

// DeleteLink drops the link; the managed instance's copy of each database
// stays, read/write. A link already gone is no error.
func (m *ManagedInstance) DeleteLink(ctx context.Context, name string) error {
	err := m.longRunning(ctx, http.MethodDelete, "distributedAvailabilityGroups/"+name, nil, nil,
		http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil && !(isStatus(err, http.StatusNotFound) && !isCode(err, "InvalidResourceType")) {
		return m.linkError("deleting the link "+name, err)
	}
	return nil
}

// DatabaseFormat is the managed instance's databaseFormat (its update
// policy: SQLServer2022, SQLServer2025, AlwaysUpToDate), read at
// LinkAPIVersion.
func (m *ManagedInstance) DatabaseFormat(ctx context.Context) (string, error) {
	var got miFormatJSON
	found, err := m.get(ctx, "", &got)
	if err != nil {
		return "", m.linkError("reading the managed instance's update policy", err)
	}
	if !found {
		return "", fmt.Errorf("%s: the managed instance %s does not exist", m.c.Address, m.c.Name)
	}
	return got.Properties.DatabaseFormat, nil
}

// linkError is an ARM error of a link call: Azure's code and message,
// with the step and the fix for the link's known codes.
func (m *ManagedInstance) linkError(what string, err error) error {
	e := armError(m.c.Address, what, m.c.Azure, err)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		le := &LinkError{Status: re.StatusCode, Code: re.ErrorCode, msg: e.Error(), cause: err}
		if le.Code == "" {
			le.Code = lroCode(err)
		}
		return le
	}
	return e
}

// lroCode finds the code of a failed operation the poller reported
// without an error code of its own.
func lroCode(err error) string {
	msg := err.Error()
	for code := range linkCodeHints {
		if strings.Contains(msg, code) {
			return code
		}
	}
	return ""
}

// LinkError is Azure's refusal of a link call: the HTTP status and
// Azure's code, and a message naming the block, the call and the fix.
type LinkError struct {
	Status int
	Code   string
	msg    string
	cause  error
}

func (e *LinkError) Error() string {
	msg := e.msg
	if hint := LinkCodeHint(e.Code); hint != "" {
		msg += ". " + hint
	}
	return msg
}

// Unwrap is the SDK's error.
func (e *LinkError) Unwrap() error { return e.cause }

// NotAvailable reports whether Azure (or the lab) does not serve the link
// calls at all: the resource type or api-version is unknown there, or the
// call is not implemented.
func NotAvailable(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch {
	case re.StatusCode == http.StatusNotImplemented:
		return true
	case strings.EqualFold(re.ErrorCode, "InvalidResourceType"), strings.EqualFold(re.ErrorCode, "NoRegisteredProviderFound"):
		return true
	}
	return false
}
