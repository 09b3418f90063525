package arm

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Microsoft Entra, as the client-secret flow of MSAL (and so azidentity's
// ClientSecretCredential) uses it: instance discovery, the tenant's OpenID
// configuration, its signing keys, and the v2.0 token endpoint.

const tokenLifetime = time.Hour

// claims are those of an Entra v1.0 access token for Resource Manager
// issued to an application (client credentials).
type claims struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	AppID    string `json:"appid"`
	AppIDAcr string `json:"appidacr"`
	IDTyp    string `json:"idtyp"`
	OID      string `json:"oid"`
	Sub      string `json:"sub"`
	TID      string `json:"tid"`
	Ver      string `json:"ver"`
	UTI      string `json:"uti"`
}

func (s *Server) issuer(tenant string) string { return s.base + "/" + tenant + "/" }

// signJWT makes an RS256 JWT.
func (s *Server) signJWT(c claims) (string, error) {
	hdr, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.pki.kid, "x5t": s.pki.kid})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, s.pki.signer, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

var (
	errTokenMalformed = errors.New("malformed")
	errTokenSignature = errors.New("signature")
)

// verifyJWT checks an RS256 token's signature and returns its claims.
func (s *Server) verifyJWT(tok string) (claims, error) {
	var c claims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, errTokenMalformed
	}
	enc := base64.RawURLEncoding
	hdrJSON, err1 := enc.DecodeString(parts[0])
	body, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return c, errTokenMalformed
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdrJSON, &hdr) != nil || json.Unmarshal(body, &c) != nil {
		return c, errTokenMalformed
	}
	if hdr.Alg != "RS256" {
		return c, errTokenSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.pki.signer.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return c, errTokenSignature
	}
	return c, nil
}

// IssueToken issues an access token for Resource Manager to the lab's
// application, as the token endpoint would (faults apply), for `milink lab
// token` and curl.
func (s *Server) IssueToken() (string, time.Time, error) {
	s.mu.Lock()
	tenant, client := s.st.TenantID, s.st.ClientID
	s.mu.Unlock()
	return s.issue(tenant, client, strings.TrimSuffix(Audience, "/")+"/")
}

func (s *Server) issue(tenant, client, audience string) (string, time.Time, error) {
	now := s.cfg.Now().UTC()
	exp := now.Add(tokenLifetime)
	s.mu.Lock()
	if s.faults.expiredTokens > 0 {
		s.faults.expiredTokens--
		exp = now.Add(-5 * time.Minute)
	}
	s.st.Counters.Tokens++
	s.mu.Unlock()
	c := claims{
		Aud: audience, Iss: s.issuer(tenant),
		Iat: now.Add(-5 * time.Minute).Unix(), Nbf: now.Add(-5 * time.Minute).Unix(), Exp: exp.Unix(),
		AppID: client, AppIDAcr: "1", IDTyp: "app",
		OID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(client)).String(), Sub: uuid.NewSHA1(uuid.NameSpaceOID, []byte(client)).String(),
		TID: tenant, Ver: "1.0", UTI: base64.RawURLEncoding.EncodeToString(uuid.New().NodeID()),
	}
	tok, err := s.signJWT(c)
	return tok, exp, err
}

// entraError writes Entra's error JSON for an AADSTS code.
func (s *Server) entraError(w http.ResponseWriter, status int, errName string, code int, desc string) string {
	now := s.cfg.Now().UTC()
	trace, corr := uuid.NewString(), uuid.NewString()
	writeJSON(w, status, map[string]any{
		"error": errName,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			code, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{code},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("%s/error?code=%d", s.base, code),
	})
	return fmt.Sprintf("AADSTS%d", code)
}

// knownTenant reports whether t names the lab's tenant; "organizations"
// and "common" are not tenants a client credential may use.
func (s *Server) knownTenant(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return equalFold(t, s.st.TenantID)
}

func (s *Server) tenantNotFound(w http.ResponseWriter, tenant string) string {
	return s.entraError(w, http.StatusBadRequest, "invalid_request", 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
}

// serveEntra answers the Entra endpoints; it reports the error code it
// answered with, and false if the path is not Entra's.
func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request, form []byte) (code string, ok bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 3 && equalFold(parts[0], "common") && equalFold(parts[1], "discovery") && equalFold(parts[2], "instance"):
		if r.Method != http.MethodGet {
			return s.entraMethod(w), true
		}
		host := strings.TrimPrefix(s.base, "https://")
		writeJSON(w, http.StatusOK, map[string]any{
			"tenant_discovery_endpoint": s.base + "/common/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{
				"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
			}},
		})
		return "", true
	case len(parts) == 4 && equalFold(parts[1], "v2.0") && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		if r.Method != http.MethodGet {
			return s.entraMethod(w), true
		}
		t := parts[0]
		if !s.knownTenant(t) {
			return s.tenantNotFound(w, t), true
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        s.base + "/" + t + "/oauth2/v2.0/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"jwks_uri":                              s.base + "/" + t + "/discovery/v2.0/keys",
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"issuer":                                s.base + "/" + t + "/v2.0",
			"authorization_endpoint":                s.base + "/" + t + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint":         s.base + "/" + t + "/oauth2/v2.0/devicecode",
			"end_session_endpoint":                  s.base + "/" + t + "/oauth2/v2.0/logout",
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "milink.lab",
		})
		return "", true
	case len(parts) == 4 && equalFold(parts[1], "discovery") && equalFold(parts[2], "v2.0") && equalFold(parts[3], "keys"),
		len(parts) == 3 && equalFold(parts[1], "discovery") && equalFold(parts[2], "keys"):
		if !s.knownTenant(parts[0]) && !equalFold(parts[0], "common") {
			return s.tenantNotFound(w, parts[0]), true
		}
		pub := s.pki.signer.PublicKey
		enc := base64.RawURLEncoding
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "use": "sig", "kid": s.pki.kid, "x5t": s.pki.kid,
			"n": enc.EncodeToString(pub.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			"issuer": s.base + "/{tenantid}/v2.0",
		}}})
		return "", true
	case len(parts) == 4 && equalFold(parts[1], "oauth2") && equalFold(parts[2], "v2.0") && equalFold(parts[3], "token"):
		if r.Method != http.MethodPost {
			return s.entraMethod(w), true
		}
		return s.token(w, r, parts[0], form), true
	}
	return "", false
}

func (s *Server) entraMethod(w http.ResponseWriter) string {
	return s.entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561,
		"The endpoint only accepts POST, OPTIONS requests. Received a GET request.")
}

// token is the v2.0 token endpoint, client credentials with a secret.
func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string, body []byte) string {
	fail := func(status int, name string, code int, desc string) string {
		s.mu.Lock()
		s.st.Counters.TokenErrors++
		s.mu.Unlock()
		return s.entraError(w, status, name, code, desc)
	}
	if !s.knownTenant(tenant) {
		s.mu.Lock()
		s.st.Counters.TokenErrors++
		s.mu.Unlock()
		return s.tenantNotFound(w, tenant)
	}
	form, err := parseForm(body)
	if err != nil {
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	if grant != "client_credentials" {
		return fail(http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
	}
	clientID := form.Get("client_id")
	if u, p, ok := r.BasicAuth(); ok && clientID == "" {
		clientID = u
		form.Set("client_secret", p)
	}
	if clientID == "" {
		return fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}
	s.mu.Lock()
	wantClient, wantSecret := s.st.ClientID, s.st.ClientSecret
	s.mu.Unlock()
	if !equalFold(clientID, wantClient) {
		return fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
	}
	secret := form.Get("client_secret")
	if secret == "" {
		if form.Get("client_assertion") != "" {
			return fail(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation. (The lab accepts client secrets only.)")
		}
		return fail(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret)) != 1 {
		return fail(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
	}
	scope := form.Get("scope")
	var resource string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		if !strings.HasSuffix(sc, "/.default") {
			return fail(http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc))
		}
		resource = strings.TrimSuffix(sc, "/.default")
	}
	if resource == "" {
		return fail(http.StatusBadRequest, "invalid_request", 90014, "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.")
	}
	if !knownAudience(resource) {
		return fail(http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
			"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant))
	}
	tok, _, err := s.issue(s.st.TenantID, wantClient, resource)
	if err != nil {
		return fail(http.StatusInternalServerError, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()) - 1, "ext_expires_in": int(tokenLifetime.Seconds()) - 1,
		"access_token": tok,
	})
	return ""
}

// knownAudience: Resource Manager's application ID URIs (with or without
// the trailing slash; "https://management.core.windows.net//.default" asks
// for the one with it).
func knownAudience(a string) bool {
	return armAudience(a) || sqlAudience(a)
}

// armAudience: the audiences Resource Manager accepts.
func armAudience(a string) bool {
	switch strings.TrimSuffix(a, "/") {
	case "https://management.core.windows.net", "https://management.azure.com":
		return true
	}
	return false
}

// SQLAudience is Azure SQL's application ID URI: clients log in to a
// managed instance with a token for SQLAudience + "/.default".
const SQLAudience = "https://database.windows.net/"

func sqlAudience(a string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(SQLAudience, "/")
}

// SQLAdmin is the Microsoft Entra admin of the lab's managed instance:
// the lab's application, under this name (SUSER_SNAME()).
const SQLAdmin = "milink-lab"

// Why a federated login's token was refused (18456).
var (
	ErrSQLTokenExpired  = errors.New("token is expired")
	ErrSQLTokenAudience = errors.New("the token's audience is not Azure SQL (https://database.windows.net/)")
	ErrSQLTokenInvalid  = errors.New("the token is not valid")
	ErrSQLUnknownLogin  = errors.New("the principal has no login on the server")
)

// ValidateSQLToken checks an access token a client presents to the
// managed instance: signed by the lab's Entra, for Azure SQL, of the lab's
// tenant, not expired. It returns the login of the principal (the lab's
// application is the instance's Entra admin).
func (s *Server) ValidateSQLToken(tok string) (string, error) {
	c, err := s.verifyJWT(tok)
	if err != nil {
		return "", ErrSQLTokenInvalid
	}
	s.mu.Lock()
	tenant, client := s.st.TenantID, s.st.ClientID
	s.mu.Unlock()
	switch {
	case !sqlAudience(c.Aud):
		return "", ErrSQLTokenAudience
	case c.TID != tenant:
		return "", ErrSQLTokenInvalid
	case time.Unix(c.Exp, 0).Before(s.cfg.Now()):
		return "", ErrSQLTokenExpired
	case c.AppID != client:
		return "", ErrSQLUnknownLogin
	}
	return SQLAdmin, nil
}
