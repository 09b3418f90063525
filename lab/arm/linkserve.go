package arm

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The managed instance link's resources under a managed instance:
// serverTrustCertificates (SQL Server certificates mi01 trusts),
// endpointCertificates (mi01's own endpoint certificate) and
// distributedAvailabilityGroups (the link itself, in the body of
// 2025-01-01). Each request is checked and answered here; what the link
// does is Config.Link's (the lab's simulation over the two engines).

const (
	typeTrustCert = "Microsoft.Sql/managedInstances/serverTrustCertificates"
	typeEndpoint  = "Microsoft.Sql/managedInstances/endpointCertificates"
	typeDAG       = "Microsoft.Sql/managedInstances/distributedAvailabilityGroups"

	// LinkAPIVersion is the one api-version whose body the lab's
	// distributedAvailabilityGroups speak (the new one: databases[],
	// partnerAvailabilityGroupName, replicaState...).
	LinkAPIVersion = "2025-01-01"
	// endpointMirroring is the one endpoint type mi01 has a certificate for.
	endpointMirroring = "DATABASE_MIRRORING"
)

func isLinkType(t string) bool {
	return equalFold(t, "serverTrustCertificates") || equalFold(t, "endpointCertificates") || equalFold(t, "distributedAvailabilityGroups")
}

// linkAPIVersion narrows the provider's api-versions to those of a link
// resource type: the certificates' bodies have not changed since
// 2021-05-01-preview, so every version from there is answered; the
// distributed availability groups changed body in 2023, and the lab
// speaks only the new one, at 2025-01-01.
func linkAPIVersion(r *http.Request, typ string) *armError {
	v := r.URL.Query().Get("api-version")
	var ok []string
	if equalFold(typ, "distributedAvailabilityGroups") {
		ok = []string{LinkAPIVersion}
	} else {
		for _, k := range apiVersions["microsoft.sql"] {
			if k >= "2021-05-01-preview" {
				ok = append(ok, k)
			}
		}
	}
	if slices.Contains(ok, v) {
		return nil
	}
	return armErr(http.StatusBadRequest, "NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'.",
		Location, v, "managedInstances/"+typ, strings.Join(ok, ", "))
}

func (s *Server) serveLink(w http.ResponseWriter, r *http.Request, mi string, p []string, body []byte) (result, *armError) {
	if !equalFold(mi, s.cfg.ManagedInstance) {
		return result{}, parentNotFound("Microsoft.Sql/managedInstances", mi)
	}
	if e := linkAPIVersion(r, p[0]); e != nil {
		return result{}, e
	}
	if s.cfg.Link == nil {
		return result{}, armErr(http.StatusNotImplemented, "NotImplemented", "The lab's managed instance has no link simulation; '%s' is not answered.", p[0])
	}
	switch {
	case equalFold(p[0], "serverTrustCertificates") && len(p) <= 2:
		if len(p) == 1 {
			if r.Method != http.MethodGet {
				return result{}, methodNotAllowed(r)
			}
			certs := s.cfg.Link.TrustCertificates()
			names := make([]string, 0, len(certs))
			for n := range certs {
				names = append(names, n)
			}
			slices.Sort(names)
			v := []any{}
			for _, n := range names {
				v = append(v, s.trustJSON(n, certs[n]))
			}
			writeJSON(w, http.StatusOK, map[string]any{"value": v})
			return result{}, nil
		}
		return s.serveTrustCert(w, r, p[1], body)
	case equalFold(p[0], "endpointCertificates") && len(p) <= 2:
		if r.Method != http.MethodGet {
			return result{}, methodNotAllowed(r)
		}
		if len(p) == 2 && !equalFold(p[1], endpointMirroring) {
			return result{}, notFound(typeEndpoint, p[1])
		}
		der, err := s.cfg.Link.EndpointCertificate()
		if err != nil {
			return result{}, s.backendError("endpointCertificates", err)
		}
		v := map[string]any{
			"id":   s.miID() + "/endpointCertificates/" + endpointMirroring,
			"name": endpointMirroring, "type": typeEndpoint,
			"properties": map[string]any{"publicBlob": hexBlob(der)},
		}
		if len(p) == 1 {
			writeJSON(w, http.StatusOK, map[string]any{"value": []any{v}})
		} else {
			writeJSON(w, http.StatusOK, v)
		}
		return result{}, nil
	case equalFold(p[0], "distributedAvailabilityGroups") && len(p) == 1:
		if r.Method != http.MethodGet {
			return result{}, methodNotAllowed(r)
		}
		v := []any{}
		for _, st := range s.cfg.Link.Links() {
			v = append(v, s.dagJSON(st))
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": v})
		return result{}, nil
	case equalFold(p[0], "distributedAvailabilityGroups") && len(p) == 2:
		return s.serveDAG(w, r, p[1], body)
	case equalFold(p[0], "distributedAvailabilityGroups") && len(p) == 3 && (equalFold(p[2], "failover") || equalFold(p[2], "setRole")):
		if r.Method != http.MethodPost {
			return result{}, methodNotAllowed(r)
		}
		return result{}, armErr(http.StatusNotImplemented, "NotImplemented", "The lab does not simulate a failover of the link ('%s').", p[2])
	}
	return result{}, armErr(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Sql' for api version '%s'.",
		"managedInstances/"+strings.Join(p, "/"), r.URL.Query().Get("api-version"))
}

// backendError is a LinkError as Resource Manager's error, or any other
// failure of the simulation as an internal error (logged, not shown).
func (s *Server) backendError(what string, err error) *armError {
	var le *LinkError
	if errors.As(err, &le) {
		st := le.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		return &armError{Status: st, Code: le.Code, Message: le.Message}
	}
	s.cfg.Logf("lab Azure: %s: %v", what, err)
	return armErr(http.StatusInternalServerError, "InternalServerError", "An unexpected error occured while processing the request.")
}

// runOperation answers a change as a long-running operation, as the
// network provider's rule PUTs: an armed fail-operation fault fails it
// without calling change; a LinkError from change is answered at once (the
// request is refused), unless its Status is 200 or 202: then the request
// is accepted and the operation fails with its code; another error fails
// the operation as an internal error.
func (s *Server) runOperation(w http.ResponseWriter, r *http.Request, what string, change func() error) (result, *armError) {
	s.mu.Lock()
	failed := s.failOperationLocked()
	s.mu.Unlock()
	if failed == nil {
		if err := change(); err != nil {
			var le *LinkError
			if errors.As(err, &le) && (le.Status == http.StatusOK || le.Status == http.StatusAccepted) {
				failed = armErr(http.StatusOK, le.Code, "%s", le.Message)
			} else if e := s.backendError(what, err); le != nil {
				return result{}, e
			} else {
				failed = armErr(http.StatusOK, e.Code, "%s", e.Message)
			}
		}
	}
	s.mu.Lock()
	s.startOperationLocked(w, r, "Microsoft.Sql", failed)
	res := result{}
	if failed == nil {
		s.st.Counters.Changes++
		s.saveLocked()
		res.changed = true
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	return res, nil
}

// hexBlob is a DER blob as the service shows it: 0x and upper-case hex.
func hexBlob(der []byte) string { return "0x" + strings.ToUpper(hex.EncodeToString(der)) }

// Thumbprint is a certificate's thumbprint as sys.certificates and
// serverTrustCertificates show it: 0x and the upper-case hex SHA-1 of the
// DER.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return hexBlob(sum[:])
}

func (s *Server) trustJSON(name string, der []byte) map[string]any {
	return map[string]any{
		"id": s.miID() + "/serverTrustCertificates/" + name, "name": name, "type": typeTrustCert,
		"properties": map[string]any{"publicBlob": hexBlob(der), "thumbprint": Thumbprint(der), "certificateName": name},
	}
}

// trustCertNameOK: a certificate's name is a sysname; the path's reserved
// characters cannot reach here, the others the lab refuses as Azure's
// resource names do.
func trustCertNameOK(name string) bool {
	return name != "" && utf8.RuneCountInString(name) <= 128 && !strings.ContainsAny(name, `<>*%&:\?+/`) &&
		!strings.HasSuffix(name, ".") && !strings.HasSuffix(name, " ") && strings.IndexFunc(name, func(r rune) bool { return r < ' ' }) < 0
}

// parseTrustPut decodes a serverTrustCertificates PUT body to the DER of
// the certificate: publicBlob is its hex, with or without 0x, any case. A
// blob that is not one whole X.509 certificate (only its public key, a
// chain, trailing bytes) is refused, as Azure refuses it.
func parseTrustPut(body []byte) ([]byte, *armError) {
	var req struct {
		Properties *struct {
			PublicBlob *string `json:"publicBlob"`
		} `json:"properties"`
	}
	if e := readBody(body, &req); e != nil {
		return nil, e
	}
	if req.Properties == nil || req.Properties.PublicBlob == nil || *req.Properties.PublicBlob == "" {
		return nil, armErr(http.StatusBadRequest, "InvalidParameterValue", "Invalid value given for parameter publicBlob. Specify a valid parameter value.")
	}
	invalid := armErr(http.StatusBadRequest, "InvalidPublicBlob", "Invalid public blob specified.")
	blob := strings.TrimSpace(*req.Properties.PublicBlob)
	if len(blob) >= 2 && (blob[:2] == "0x" || blob[:2] == "0X") {
		blob = blob[2:]
	}
	der, err := hex.DecodeString(blob)
	if err != nil || len(der) == 0 {
		return nil, invalid
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, invalid
	}
	return der, nil
}

// trustCert finds a trusted certificate by name as SQL Server compares
// names (case-insensitively).
func trustCert(certs map[string][]byte, name string) (string, []byte, bool) {
	for n, der := range certs {
		if equalFold(n, name) {
			return n, der, true
		}
	}
	return "", nil, false
}

func (s *Server) serveTrustCert(w http.ResponseWriter, r *http.Request, name string, body []byte) (result, *armError) {
	link := s.cfg.Link
	existing, old, found := trustCert(link.TrustCertificates(), name)
	switch r.Method {
	case http.MethodGet:
		if !found {
			return result{}, notFound(typeTrustCert, name)
		}
		writeJSON(w, http.StatusOK, s.trustJSON(existing, old))
		return result{}, nil
	case http.MethodPut:
		if !trustCertNameOK(name) {
			return result{}, armErr(http.StatusBadRequest, "InvalidResourceName", "Resource name '%s' is invalid: a certificate's name has 1 to 128 characters and none of <>*%%&:\\?+/.", name)
		}
		der, e := parseTrustPut(body)
		if e != nil {
			return result{}, e
		}
		if found {
			if bytes.Equal(old, der) {
				// The same certificate again: nothing to do.
				writeJSON(w, http.StatusOK, s.trustJSON(existing, old))
				return result{}, nil
			}
			return result{}, armErr(http.StatusConflict, "ServerTrustCertificateAlreadyExists",
				"A server trust certificate named '%s' already exists with thumbprint %s; delete it before uploading another certificate under this name.", existing, Thumbprint(old))
		}
		return s.runOperation(w, r, "serverTrustCertificates", func() error { return link.PutTrustCertificate(name, der) })
	case http.MethodDelete:
		if !found {
			w.WriteHeader(http.StatusNoContent)
			return result{}, nil
		}
		return s.runOperation(w, r, "serverTrustCertificates", func() error {
			ok, err := link.DeleteTrustCertificate(existing)
			if err == nil && !ok {
				err = &LinkError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: notFound(typeTrustCert, name).Message}
			}
			return err
		})
	}
	return result{}, methodNotAllowed(r)
}

// dagNameRE is the path pattern of a distributed availability group's
// name (2025-08-01-preview's, the first to state one), at most 128.
var dagNameRE = regexp.MustCompile(`^[#a-zA-Z_][\w@#$]*$`)

func dagNameOK(name string) bool { return len(name) <= 128 && dagNameRE.MatchString(name) }

// dagDatabase is one element of databases[] in a request.
type dagDatabase struct {
	DatabaseName *string `json:"databaseName"`
}

// dagProps are the writable properties of a distributed availability
// group (2025-01-01); nil is absent. Read-only ones in a request are
// ignored, as Resource Manager ignores them.
type dagProps struct {
	PartnerAvailabilityGroupName  *string        `json:"partnerAvailabilityGroupName"`
	PartnerEndpoint               *string        `json:"partnerEndpoint"`
	InstanceAvailabilityGroupName *string        `json:"instanceAvailabilityGroupName"`
	InstanceLinkRole              *string        `json:"instanceLinkRole"`
	FailoverMode                  *string        `json:"failoverMode"`
	SeedingMode                   *string        `json:"seedingMode"`
	ReplicationMode               *string        `json:"replicationMode"`
	Databases                     *[]dagDatabase `json:"databases"`
}

func badParam(format string, args ...any) *armError {
	return armErr(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

// enumValue puts v in its canonical case among allowed (the service reads
// enumerations case-insensitively), or refuses it naming the property.
func enumValue(prop string, v *string, def string, allowed ...string) (string, *armError) {
	if v == nil {
		return def, nil
	}
	for _, a := range allowed {
		if equalFold(*v, a) {
			return a, nil
		}
	}
	return "", badParam("Invalid value '%s' for property '%s'. Allowed values: %s.", *v, prop, strings.Join(allowed, ", "))
}

// agName checks an availability group's name (a sysname).
func agName(prop string, v *string) (string, *armError) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return "", badParam("The property '%s' is required.", prop)
	}
	if utf8.RuneCountInString(*v) > 128 {
		return "", badParam("The property '%s' is longer than 128 characters.", prop)
	}
	return *v, nil
}

// partnerEndpointOK: TCP://<IP address or name>:<port>.
func partnerEndpointOK(v string) bool {
	u, err := url.Parse(v)
	if err != nil || !equalFold(u.Scheme, "tcp") || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || strings.ContainsAny(host, " \t") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func dagDatabases(v *[]dagDatabase) ([]string, *armError) {
	if v == nil || len(*v) == 0 {
		return nil, badParam("The property 'databases' is required: name at least one database.")
	}
	var out []string
	for i, d := range *v {
		if d.DatabaseName == nil || strings.TrimSpace(*d.DatabaseName) == "" {
			return nil, badParam("The property 'databases[%d].databaseName' is required.", i)
		}
		if utf8.RuneCountInString(*d.DatabaseName) > 128 {
			return nil, badParam("The property 'databases[%d].databaseName' is longer than 128 characters.", i)
		}
		for _, o := range out {
			if equalFold(o, *d.DatabaseName) {
				return nil, badParam("The database '%s' is named twice in 'databases'.", *d.DatabaseName)
			}
		}
		out = append(out, *d.DatabaseName)
	}
	return out, nil
}

// parseDAGPut decodes and checks a distributedAvailabilityGroups PUT body.
// Unset enumerations take the service's defaults: Secondary, None,
// Automatic, Async.
func parseDAGPut(name string, body []byte) (LinkSpec, *armError) {
	var req struct {
		Properties *dagProps `json:"properties"`
	}
	if e := readBody(body, &req); e != nil {
		return LinkSpec{}, e
	}
	if req.Properties == nil {
		return LinkSpec{}, badParam("The property 'properties' is required.")
	}
	p := req.Properties
	sp := LinkSpec{Name: name}
	var e *armError
	if sp.PartnerAG, e = agName("partnerAvailabilityGroupName", p.PartnerAvailabilityGroupName); e != nil {
		return LinkSpec{}, e
	}
	if sp.InstanceAG, e = agName("instanceAvailabilityGroupName", p.InstanceAvailabilityGroupName); e != nil {
		return LinkSpec{}, e
	}
	if p.PartnerEndpoint == nil || *p.PartnerEndpoint == "" {
		return LinkSpec{}, badParam("The property 'partnerEndpoint' is required.")
	}
	if !partnerEndpointOK(*p.PartnerEndpoint) {
		return LinkSpec{}, badParam("Invalid value '%s' for property 'partnerEndpoint': want TCP://<IP address or DNS name>:<port>.", *p.PartnerEndpoint)
	}
	sp.PartnerEndpoint = *p.PartnerEndpoint
	if sp.InstanceLinkRole, e = enumValue("instanceLinkRole", p.InstanceLinkRole, "Secondary", "Primary", "Secondary"); e != nil {
		return LinkSpec{}, e
	}
	if sp.FailoverMode, e = enumValue("failoverMode", p.FailoverMode, "None", "None", "Manual"); e != nil {
		return LinkSpec{}, e
	}
	if sp.SeedingMode, e = enumValue("seedingMode", p.SeedingMode, "Automatic", "Automatic", "Manual"); e != nil {
		return LinkSpec{}, e
	}
	if sp.ReplicationMode, e = enumValue("replicationMode", p.ReplicationMode, "Async", "Async", "Sync"); e != nil {
		return LinkSpec{}, e
	}
	if sp.Databases, e = dagDatabases(p.Databases); e != nil {
		return LinkSpec{}, e
	}
	return sp, nil
}

// parseDAGPatch decodes a PATCH body against the link's spec and returns
// the replication mode it asks for ("" for none). A link's other
// properties are fixed once it exists: a PATCH may repeat them, not
// change them; its databases are fixed in single-database mode (the only
// one of 2025-01-01): another set is another link.
func parseDAGPatch(cur LinkSpec, body []byte) (string, *armError) {
	var req struct {
		Properties *dagProps `json:"properties"`
	}
	if e := readBody(body, &req); e != nil {
		return "", e
	}
	if req.Properties == nil {
		return "", badParam("The property 'properties' is required.")
	}
	p := req.Properties
	fixed := func(prop string, v *string, cur string) *armError {
		if v != nil && !equalFold(*v, cur) {
			return badParam("The property '%s' of an existing link cannot be changed (it is '%s'); only replicationMode can. Delete the link and create it again.", prop, cur)
		}
		return nil
	}
	for _, f := range []struct {
		prop string
		v    *string
		cur  string
	}{
		{"partnerAvailabilityGroupName", p.PartnerAvailabilityGroupName, cur.PartnerAG},
		{"partnerEndpoint", p.PartnerEndpoint, cur.PartnerEndpoint},
		{"instanceAvailabilityGroupName", p.InstanceAvailabilityGroupName, cur.InstanceAG},
		{"instanceLinkRole", p.InstanceLinkRole, cur.InstanceLinkRole},
		{"failoverMode", p.FailoverMode, cur.FailoverMode},
		{"seedingMode", p.SeedingMode, cur.SeedingMode},
	} {
		if e := fixed(f.prop, f.v, f.cur); e != nil {
			return "", e
		}
	}
	if p.Databases != nil {
		dbs, e := dagDatabases(p.Databases)
		if e != nil {
			return "", e
		}
		if !sameNames(dbs, cur.Databases) {
			return "", badParam("The link '%s' is in single-database mode: its databases (%s) cannot change. Create another link for another database.",
				cur.Name, strings.Join(cur.Databases, ", "))
		}
	}
	return enumValue("replicationMode", p.ReplicationMode, "", "Async", "Sync")
}

// sameNames: the same names, in any order and case.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return equalFold(x, y) }) {
			return false
		}
	}
	return true
}

// sameSpec: a PUT that repeats the link as it is.
func sameSpec(a, b LinkSpec) bool {
	return equalFold(a.PartnerAG, b.PartnerAG) && equalFold(a.PartnerEndpoint, b.PartnerEndpoint) && equalFold(a.InstanceAG, b.InstanceAG) &&
		a.InstanceLinkRole == b.InstanceLinkRole && a.FailoverMode == b.FailoverMode && a.SeedingMode == b.SeedingMode &&
		sameNames(a.Databases, b.Databases)
}

func (s *Server) serveDAG(w http.ResponseWriter, r *http.Request, name string, body []byte) (result, *armError) {
	link := s.cfg.Link
	cur, found := link.Link(name)
	switch r.Method {
	case http.MethodGet:
		if !found {
			return result{}, notFound(typeDAG, name)
		}
		writeJSON(w, http.StatusOK, s.dagJSON(cur))
		return result{}, nil
	case http.MethodPut:
		if !dagNameOK(name) {
			return result{}, armErr(http.StatusBadRequest, "InvalidResourceName",
				"Resource name '%s' is invalid: a distributed availability group's name has at most 128 characters, starts with a letter, '_' or '#', and holds letters, digits, '_', '@', '#' and '$'.", name)
		}
		sp, e := parseDAGPut(name, body)
		if e != nil {
			return result{}, e
		}
		if found {
			if !sameSpec(sp, cur.LinkSpec) {
				return result{}, badParam("The link '%s' exists with other properties; only replicationMode can change (PATCH). Delete the link and create it again.", cur.Name)
			}
			if sp.ReplicationMode == cur.ReplicationMode {
				writeJSON(w, http.StatusOK, s.dagJSON(cur))
				return result{}, nil
			}
			return s.runOperation(w, r, "distributedAvailabilityGroups", func() error { return link.SetReplicationMode(cur.Name, sp.ReplicationMode) })
		}
		return s.runOperation(w, r, "distributedAvailabilityGroups", func() error { return link.CreateLink(sp) })
	case http.MethodPatch:
		if !found {
			return result{}, notFound(typeDAG, name)
		}
		mode, e := parseDAGPatch(cur.LinkSpec, body)
		if e != nil {
			return result{}, e
		}
		if mode == "" || mode == cur.ReplicationMode {
			writeJSON(w, http.StatusOK, s.dagJSON(cur))
			return result{}, nil
		}
		return s.runOperation(w, r, "distributedAvailabilityGroups", func() error { return link.SetReplicationMode(cur.Name, mode) })
	case http.MethodDelete:
		if !found {
			w.WriteHeader(http.StatusNoContent)
			return result{}, nil
		}
		return s.runOperation(w, r, "distributedAvailabilityGroups", func() error {
			ok, err := link.DeleteLink(cur.Name)
			if err == nil && !ok {
				err = &LinkError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: notFound(typeDAG, name).Message}
			}
			return err
		})
	}
	return result{}, methodNotAllowed(r)
}

// dagJSON is a link as 2025-01-01 shows it. What the simulation does not
// know (a time it did not record) is left out rather than invented.
func (s *Server) dagJSON(st LinkStatus) map[string]any {
	partnerRole := "Primary"
	if st.InstanceLinkRole == "Primary" {
		partnerRole = "Secondary"
	}
	dbs := []any{}
	seen := map[string]bool{}
	for _, d := range st.Databases {
		seen[strings.ToLower(d.Name)] = true
		m := map[string]any{"databaseName": d.Name}
		put := func(k, v string) {
			if v != "" {
				m[k] = v
			}
		}
		put("instanceReplicaId", d.InstanceReplicaID)
		put("partnerReplicaId", d.PartnerReplicaID)
		put("replicaState", d.ReplicaState)
		put("seedingProgress", d.SeedingProgress)
		put("synchronizationHealth", d.SynchronizationHealth)
		put("connectedState", d.ConnectedState)
		put("lastReceivedLsn", d.LastReceivedLSN)
		put("lastHardenedLsn", d.LastHardenedLSN)
		put("lastCommitLsn", d.LastCommitLSN)
		put("lastBackupLsn", d.LastBackupLSN)
		put("mostRecentLinkError", d.MostRecentLinkError)
		if !d.LastHardenedTime.IsZero() {
			m["lastHardenedTime"] = d.LastHardenedTime.UTC().Format(time.RFC3339Nano)
		}
		if d.PartnerCertName != "" {
			v := map[string]any{"certificateName": d.PartnerCertName}
			if !d.PartnerCertExpiry.IsZero() {
				v["expiryDate"] = d.PartnerCertExpiry.UTC().Format(time.RFC3339)
			}
			m["partnerAuthCertValidity"] = v
		}
		m["instanceSendReplicationLagSeconds"] = d.SendLagSeconds
		m["instanceRedoReplicationLagSeconds"] = d.RedoLagSeconds
		dbs = append(dbs, m)
	}
	for _, n := range st.LinkSpec.Databases {
		if !seen[strings.ToLower(n)] {
			dbs = append(dbs, map[string]any{"databaseName": n})
		}
	}
	return map[string]any{
		"id": s.miID() + "/distributedAvailabilityGroups/" + st.Name, "name": st.Name, "type": typeDAG,
		"properties": map[string]any{
			"distributedAvailabilityGroupName": st.Name,
			"distributedAvailabilityGroupId":   st.ID,
			"partnerAvailabilityGroupName":     st.PartnerAG,
			"partnerEndpoint":                  st.PartnerEndpoint,
			"instanceAvailabilityGroupName":    st.InstanceAG,
			"instanceLinkRole":                 st.InstanceLinkRole,
			"partnerLinkRole":                  partnerRole,
			"failoverMode":                     st.FailoverMode,
			"seedingMode":                      st.SeedingMode,
			"replicationMode":                  st.ReplicationMode,
			"databases":                        dbs,
		},
	}
}

// LinkBackend is the link behind the server's link resources (nil if
// none): the lab's control API drives the same simulation.
func (s *Server) LinkBackend() LinkBackend { return s.cfg.Link }
