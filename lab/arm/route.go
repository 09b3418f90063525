package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// armError is Resource Manager's error JSON.
type armError struct {
	Status  int
	Code    string
	Message string
}

func (e *armError) Error() string { return e.Code + ": " + e.Message }

func armErr(status int, code, format string, args ...any) *armError {
	return &armError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (e *armError) write(w http.ResponseWriter) {
	writeJSON(w, e.Status, map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}})
}

func parseForm(b []byte) (url.Values, error) { return url.ParseQuery(string(b)) }

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// result is what an ARM handler did.
type result struct {
	code    string // error code answered, if any
	changed bool
}

// route is every request: Entra's paths, then Resource Manager's.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	rec := &statusRecorder{ResponseWriter: w}
	w.Header().Set("x-ms-request-id", uuid.NewString())
	var res result
	if code, ok := s.serveEntra(rec, r, body); ok {
		res.code = code
	} else {
		res = s.serveARM(rec, r, body)
	}
	s.addLog(LogEntry{Time: s.cfg.Now().UTC(), Method: r.Method, Path: r.URL.RequestURI(), Status: rec.status,
		Body: redactBody(r.Header.Get("Content-Type"), body), Code: res.code, Changed: res.changed})
}

// serveARM answers a Resource Manager request as ARM does: authentication,
// throttling, the subscription, the api-version, the resource group, then
// the resource provider.
func (s *Server) serveARM(w http.ResponseWriter, r *http.Request, body []byte) result {
	s.mu.Lock()
	s.st.Counters.Requests++
	s.mu.Unlock()
	fail := func(e *armError) result {
		s.mu.Lock()
		if e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusUnauthorized {
			s.st.Counters.ClientErrors++
		}
		s.mu.Unlock()
		e.write(w)
		return result{code: e.Code}
	}
	if e := s.authenticate(w, r); e != nil {
		s.mu.Lock()
		s.st.Counters.AuthFailures++
		s.mu.Unlock()
		return fail(e)
	}
	if e := s.injected(w); e != nil {
		return fail(e)
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) < 2 || !equalFold(segs[0], "subscriptions") {
		return fail(armErr(http.StatusBadRequest, "InvalidRequestUri", "The request URI '%s' is not valid.", r.URL.Path))
	}
	s.mu.Lock()
	sub := s.st.SubscriptionID
	s.mu.Unlock()
	if !equalFold(segs[1], sub) {
		return fail(armErr(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", segs[1]))
	}
	rest := segs[2:]
	// Operation status: /subscriptions/S/providers/NS/locations/L/operations|operationResults/ID
	if len(rest) == 6 && equalFold(rest[0], "providers") && equalFold(rest[2], "locations") {
		if e := checkAPIVersion(r, rest[1]); e != nil {
			return fail(e)
		}
		if e := s.serveOperation(w, r, rest[4], rest[1], rest[5]); e != nil {
			return fail(e)
		}
		return result{}
	}
	if len(rest) < 2 || !equalFold(rest[0], "resourceGroups") {
		return fail(armErr(http.StatusNotFound, "InvalidResourceType", "The resource type could not be found in the namespace for api version '%s'.", r.URL.Query().Get("api-version")))
	}
	rg := rest[1]
	provider := "Microsoft.Resources"
	if len(rest) >= 4 && equalFold(rest[2], "providers") {
		provider = rest[3]
	}
	if e := checkAPIVersion(r, provider); e != nil {
		return fail(e)
	}
	if !equalFold(rg, ResourceGroup) {
		return fail(armErr(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg))
	}
	var res result
	var e *armError
	switch {
	case len(rest) == 2:
		if r.Method != http.MethodGet {
			e = methodNotAllowed(r)
			break
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": s.rgID(), "name": ResourceGroup, "type": "Microsoft.Resources/resourceGroups", "location": Location,
			"properties": map[string]any{"provisioningState": "Succeeded"},
		})
	case len(rest) >= 5 && equalFold(provider, "Microsoft.Sql"):
		res, e = s.serveSQL(w, r, rest[4:], body)
	case len(rest) >= 5 && equalFold(provider, "Microsoft.Network"):
		res, e = s.serveNetwork(w, r, rest[4:], body)
	default:
		e = armErr(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.",
			strings.Join(rest[4:], "/"), provider, r.URL.Query().Get("api-version"))
	}
	if e != nil {
		return fail(e)
	}
	return res
}

func methodNotAllowed(r *http.Request) *armError {
	return armErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

// authenticate checks the bearer token as Resource Manager does.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *armError {
	challenge := func(desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s/%s", error="invalid_token", error_description="%s"`,
			s.base, s.st.TenantID, desc))
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		challenge("The authentication failed because of missing 'Authorization' header.")
		return armErr(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !equalFold(scheme, "Bearer") || tok == "" {
		challenge("The authentication scheme of Basic is not supported.")
		return armErr(http.StatusUnauthorized, "AuthenticationFailedInvalidHeader", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	c, err := s.verifyJWT(tok)
	if err != nil {
		challenge("The access token is invalid.")
		return armErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
	}
	s.mu.Lock()
	tenant := s.st.TenantID
	s.mu.Unlock()
	now := s.cfg.Now().UTC()
	if exp := time.Unix(c.Exp, 0).UTC(); !now.Before(exp) {
		challenge("The access token has expired.")
		return armErr(http.StatusUnauthorized, "ExpiredAuthenticationToken",
			"The access token expiry UTC time '%s' is earlier than current UTC time '%s'.", exp.Format("1/2/2006 3:04:05 PM"), now.Format("1/2/2006 3:04:05 PM"))
	}
	if c.Nbf != 0 && now.Before(time.Unix(c.Nbf, 0)) {
		challenge("The access token is not yet valid.")
		return armErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is not yet valid.")
	}
	if !armAudience(c.Aud) {
		challenge("The access token has been obtained for wrong audience or resource.")
		return armErr(http.StatusUnauthorized, "InvalidAuthenticationTokenAudience",
			"The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.", c.Aud)
	}
	if c.Iss != s.issuer(tenant) || !equalFold(c.TID, tenant) {
		challenge("The access token is from the wrong issuer.")
		return armErr(http.StatusUnauthorized, "InvalidAuthenticationTokenTenant",
			"The access token is from the wrong issuer '%s'. It must match the tenant '%s' associated with this subscription. Please use the authority (URL) '%s/%s' to get the token.", c.Iss, s.issuer(tenant), s.base, tenant)
	}
	return nil
}

// injected returns the fault armed for this request, if any.
func (s *Server) injected(w http.ResponseWriter) *armError {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.faults.throttle > 0:
		s.faults.throttle--
		s.st.Counters.Throttled++
		w.Header().Set("Retry-After", strconv.FormatInt(s.faults.retryAfter, 10))
		return armErr(http.StatusTooManyRequests, "TooManyRequests",
			"The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits")
	case s.faults.serverError > 0:
		s.faults.serverError--
		s.st.Counters.ServerErrors++
		return armErr(http.StatusInternalServerError, "InternalServerError",
			"Encountered internal server error. Diagnostic information: timestamp '%s', subscription id '%s', tracking id '%s', request correlation id '%s'.",
			s.cfg.Now().UTC().Format("20060102T150405Z"), s.st.SubscriptionID, uuid.NewString(), uuid.NewString())
	}
	return nil
}

// apiVersions are those the lab's resource providers accept: the ones the
// SDK clients milink uses send (armsql v1.2.0: 2021-05-01-preview for
// managed instances, 2020-11-01-preview for tdeCertificates,
// 2021-11-01-preview for the link's resources; armnetwork v6: 2024-05-01;
// milink's own link model: 2025-01-01), and the stable versions around
// them. The link's resource types narrow this further (linkAPIVersion).
var apiVersions = map[string][]string{
	"microsoft.sql": {"2020-02-02-preview", "2020-08-01-preview", "2020-11-01-preview", "2021-02-01-preview", "2021-05-01-preview",
		"2021-08-01-preview", "2021-11-01-preview", "2021-11-01", "2022-05-01-preview", "2023-05-01-preview", "2023-08-01", "2023-08-01-preview",
		"2024-05-01-preview", "2025-01-01"},
	"microsoft.network": {"2022-07-01", "2022-09-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01",
		"2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01"},
	"microsoft.resources": {"2021-04-01", "2022-09-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01"},
}

func checkAPIVersion(r *http.Request, provider string) *armError {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return armErr(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	known, ok := apiVersions[strings.ToLower(provider)]
	if !ok {
		return armErr(http.StatusNotFound, "NoRegisteredProviderFound", "No registered resource provider found for namespace '%s'.", provider)
	}
	for _, k := range known {
		if v == k {
			return nil
		}
	}
	return armErr(http.StatusBadRequest, "NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for namespace '%s'. The supported api-versions are '%s'.",
		Location, v, provider, strings.Join(known, ", "))
}

// operation is a long-running operation. The lab makes the change (or
// decides it fails) when the request arrives; the operation reports that
// outcome when polled.
type operation struct {
	id       string
	provider string
	started  time.Time
	ended    time.Time
	failed   *armError
}

// startOperation records an operation and sets the headers that point to
// it (Azure-AsyncOperation for its status, Location for its result).
func (s *Server) startOperationLocked(w http.ResponseWriter, r *http.Request, provider string, failed *armError) *operation {
	now := s.cfg.Now().UTC()
	op := &operation{id: uuid.NewString(), provider: provider, started: now, ended: now, failed: failed}
	s.ops[op.id] = op
	v := url.QueryEscape(r.URL.Query().Get("api-version"))
	prefix := s.base + "/subscriptions/" + s.st.SubscriptionID + "/providers/" + provider + "/locations/" + Location
	w.Header().Set("Azure-AsyncOperation", prefix+"/operations/"+op.id+"?api-version="+v)
	w.Header().Set("Location", prefix+"/operationResults/"+op.id+"?api-version="+v)
	return op
}

// failOperationLocked consumes the fail-operation fault: the error the
// next operation ends with, or nil.
func (s *Server) failOperationLocked() *armError {
	code := s.faults.failOperation
	if code == "" {
		return nil
	}
	s.faults.failOperation = ""
	s.st.Counters.FailedOps++
	return armErr(http.StatusOK, code, "The operation failed (injected by the lab: milink lab fault arm -fail-operation %s).", code)
}

func (s *Server) serveOperation(w http.ResponseWriter, r *http.Request, kind, provider, id string) *armError {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	s.mu.Lock()
	var op *operation
	if o := s.ops[id]; o != nil {
		c := *o // uploadTDECertificate may still set failed under the lock
		op = &c
	}
	s.mu.Unlock()
	if op == nil || !equalFold(op.provider, provider) {
		return armErr(http.StatusNotFound, "OperationNotFound", "The operation '%s' could not be found.", id)
	}
	switch strings.ToLower(kind) {
	case "operations":
		st := map[string]any{"id": r.URL.Path, "name": op.id, "status": "Succeeded",
			"startTime": op.started.Format(time.RFC3339Nano), "endTime": op.ended.Format(time.RFC3339Nano)}
		if op.failed != nil {
			st["status"] = "Failed"
			st["error"] = map[string]any{"code": op.failed.Code, "message": op.failed.Message}
		}
		writeJSON(w, http.StatusOK, st)
	case "operationresults":
		if op.failed != nil {
			e := *op.failed
			e.Status = http.StatusBadRequest
			return &e
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		return armErr(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found.", kind)
	}
	return nil
}

// readBody decodes a JSON request body.
func readBody(body []byte, v any) *armError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if len(bytes.TrimSpace(body)) == 0 {
		return armErr(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body is empty.'.")
	}
	if err := dec.Decode(v); err != nil {
		return armErr(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: '%s'.", err.Error())
	}
	return nil
}
