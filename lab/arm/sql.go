package arm

import (
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

func (s *Server) serveSQL(w http.ResponseWriter, r *http.Request, p []string, body []byte) (result, *armError) {
	switch {
	case len(p) == 1 && equalFold(p[0], "managedInstances"):
		if r.Method != http.MethodGet {
			return result{}, methodNotAllowed(r)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{s.miJSON()}})
	case len(p) == 2 && equalFold(p[0], "managedInstances"):
		if !equalFold(p[1], s.cfg.ManagedInstance) {
			return result{}, notFound("Microsoft.Sql/managedInstances", p[1])
		}
		if r.Method != http.MethodGet {
			return result{}, methodNotAllowed(r)
		}
		writeJSON(w, http.StatusOK, s.miJSON())
	case len(p) == 3 && equalFold(p[0], "managedInstances") && equalFold(p[2], "tdeCertificates"):
		if !equalFold(p[1], s.cfg.ManagedInstance) {
			return result{}, parentNotFound("Microsoft.Sql/managedInstances", p[1])
		}
		if r.Method != http.MethodPost {
			return result{}, methodNotAllowed(r)
		}
		return s.uploadTDECertificate(w, r, body)
	case len(p) >= 3 && equalFold(p[0], "managedInstances") && isLinkType(p[2]):
		return s.serveLink(w, r, p[1], p[2:], body)
	default:
		return result{}, armErr(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Sql' for api version '%s'.",
			strings.Join(p, "/"), r.URL.Query().Get("api-version"))
	}
	return result{}, nil
}

// miJSON is mi01 as Microsoft.Sql describes a managed instance. Its
// fullyQualifiedDomainName is mi01's loopback address, which milink dials.
func (s *Server) miJSON() map[string]any {
	return map[string]any{
		"id": s.miID(), "name": s.cfg.ManagedInstance, "type": "Microsoft.Sql/managedInstances", "location": Location,
		"sku": map[string]any{"name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 4},
		"properties": map[string]any{
			"provisioningState":                "Succeeded",
			"state":                            "Ready",
			"fullyQualifiedDomainName":         s.cfg.ManagedInstanceAddress,
			"administratorLogin":               "sa",
			"subnetId":                         s.subnetID(),
			"licenseType":                      "LicenseIncluded",
			"vCores":                           4,
			"storageSizeInGB":                  256,
			"collation":                        "SQL_Latin1_General_CP1_CI_AS",
			"dnsZone":                          "milinklab",
			"publicDataEndpointEnabled":        false,
			"proxyOverride":                    "Proxy",
			"timezoneId":                       "UTC",
			"minimalTlsVersion":                "1.2",
			"currentBackupStorageRedundancy":   "Geo",
			"requestedBackupStorageRedundancy": "Geo",
			"zoneRedundant":                    false,
			"databaseFormat":                   "AlwaysUpToDate",
		},
	}
}

// uploadTDECertificate is POST .../tdeCertificates: the PFX in privateBlob,
// opened with certPassword, goes into mi01's master with its private key.
func (s *Server) uploadTDECertificate(w http.ResponseWriter, r *http.Request, body []byte) (result, *armError) {
	var req struct {
		Properties *struct {
			PrivateBlob  string `json:"privateBlob"`
			CertPassword string `json:"certPassword"`
		} `json:"properties"`
	}
	if e := readBody(body, &req); e != nil {
		return result{}, e
	}
	if req.Properties == nil || req.Properties.PrivateBlob == "" {
		return result{}, armErr(http.StatusBadRequest, "MissingPrivateBlob", "The private blob is missing.")
	}
	der, key, e := openPFX(req.Properties.PrivateBlob, req.Properties.CertPassword)
	if e != nil {
		return result{}, e
	}
	s.mu.Lock()
	failed := s.failOperationLocked()
	s.startOperationLocked(w, r, "Microsoft.Sql", failed)
	s.mu.Unlock()
	res := result{}
	if failed == nil {
		importErr := errNoImport
		if s.cfg.ImportCertificate != nil {
			importErr = s.cfg.ImportCertificate(der, key)
		}
		s.mu.Lock()
		op := s.latestOpLocked(w)
		if importErr != nil {
			s.cfg.Logf("lab Azure: tdeCertificates: %v", importErr)
			op.failed = armErr(http.StatusOK, "InternalServerError", "An unexpected error occured while processing the request.")
		} else {
			s.st.Counters.CertsUploaded++
			s.st.Counters.Changes++
			s.saveLocked()
			res.changed = true
		}
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusAccepted)
	return res, nil
}

// latestOpLocked is the operation whose headers w carries.
func (s *Server) latestOpLocked(w http.ResponseWriter) *operation {
	loc := w.Header().Get("Azure-AsyncOperation")
	id := loc[strings.LastIndex(loc, "/")+1:]
	id, _, _ = strings.Cut(id, "?")
	return s.ops[id]
}

// openPFX decodes a base64 PKCS#12 (legacy 3DES/RC2 with SHA-1 MACs, or
// AES with PBKDF2 as OpenSSL 3 writes by default) and returns the
// certificate and its RSA private key.
func openPFX(blob, password string) ([]byte, *rsa.PrivateKey, *armError) {
	invalid := armErr(http.StatusBadRequest, "InvalidPrivateBlobOrPassword", "The provided private blob or password is invalid.")
	raw, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return nil, nil, invalid
	}
	key, cert, _, err := pkcs12.DecodeChain(raw, password)
	if err != nil {
		return nil, nil, invalid
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, invalid
	}
	return cert.Raw, rk, nil
}
