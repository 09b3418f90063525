package link

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Hint is what milink knows of an error the link's steps can meet: the
// step it belongs to and what fixes it (link.md §5, the troubleshooting
// page).
type Hint struct {
	Number int
	Step   string // "the link's initialisation", "creating the endpoint certificate"
	Fix    string
}

// hints are the errors of the link, by number.
var hints = map[int]Hint{
	41962: {41962, "the link's initialisation (the managed instance did not start the link within 5 minutes)",
		"check the connectivity both ways on the endpoint port and 5022 (milink check), that both certificates are trusted, then delete the link and create it again"},
	41973: {41973, "the link's initialisation (the managed instance does not trust SQL Server's endpoint certificate)",
		"upload SQL Server's endpoint certificate to the managed instance (mi_trust_certificate: serverTrustCertificates), with the same thumbprint as the certificate the endpoint uses"},
	41974: {41974, "the link's initialisation (SQL Server does not trust the managed instance's certificate)",
		"create the managed instance's endpoint certificate on SQL Server under the name exactly equal to the managed instance's FQDN, and the MicrosoftPKI and DigiCertPKI roots with the issuer *.database.windows.net (partner_certificate); check no certificate has expired"},
	41976: {41976, "the link's initialisation (the availability group does not respond)",
		"check the names: the distributed availability group's replicas must be the SQL Server availability group and the managed instance's one, the same names as in the link; and the availability group must hold the database"},
	41986: {41986, "the link's initialisation (the connection between the endpoints failed)",
		"make sure SQL Server's mirroring endpoint is STARTED with CERTIFICATE authentication (WINDOWS NEGOTIATE CERTIFICATE is fine) and AES encryption, and that its port is open from the managed instance's subnet (firewall, NSG)"},
	47521: {47521, "the link's initialisation (the managed instance's replica received no request)",
		"check that the distributed availability group exists on SQL Server with the managed instance's LISTENER_URL tcp://<fqdn>:5022;Server=[<name>], and the connectivity from SQL Server to the managed instance on 5022 and 11000-11999"},
	1408: {1408, "seeding the database (the log was truncated before the managed instance caught up)",
		"take no log backups while seeding; drop the link and create it again (trace flag 12381 can keep the log during seeding)"},
	1412: {1412, "seeding the database (a log backup ran during seeding)",
		"take no log backups while seeding; drop the link and create it again"},
	1475: {1475, "creating the availability group (the database has no full backup that starts its log chain)",
		"take a full, non-COPY_ONLY backup of the database (the database block's backup), then apply again"},
	7862: {7862, "creating the database mirroring endpoint (the instance already has one; only one is supported)",
		"use the existing endpoint: set adopt_endpoint = true so that milink changes it to certificate authentication, or drop it yourself"},
	15232: {15232, "creating a certificate (a certificate with that name, or the same certificate under another name, is already in master)",
		"run plan again: milink uses a certificate that is already there; if another name holds the same certificate, drop that one or give its name"},
	35217: {35217, "creating an availability group (one of that name already exists)",
		"run plan again: milink uses the availability group that exists when it matches, or give another name"},
	35221: {35221, "creating the availability group (Always On availability groups are not running)",
		"enable HADR (the hadr block) and restart SQL Server"},
	1465: {1465, "creating the availability group (the database is not in the FULL recovery model)",
		"set the database's recovery model to FULL and take a full backup (the database block)"},
}

// HintFor returns what milink knows of an error number.
func HintFor(number int) (Hint, bool) {
	h, ok := hints[number]
	return h, ok
}

// sqlNumbered is SQL Server's error as go-mssqldb reports it.
type sqlNumbered interface {
	SQLErrorNumber() int32
}

// ErrorNumber is the SQL Server error number err carries, 0 if none.
func ErrorNumber(err error) int {
	var n sqlNumbered
	if errors.As(err, &n) {
		return int(n.SQLErrorNumber())
	}
	return 0
}

// StepError is a failed step of the link with what fixes it; it keeps the
// server's error (number and message) as its cause.
type StepError struct {
	Address string // the block
	Doing   string // what milink was doing: "creating certificate [Cert_sql01_endpoint] on sql_server.sql01"
	Hint    *Hint  // nil when milink knows nothing more
	Err     error
}

func (e *StepError) Error() string {
	var b strings.Builder
	b.WriteString(e.Address + ": " + e.Doing + ": " + e.Err.Error())
	if e.Hint != nil {
		fmt.Fprintf(&b, " (error %d, in %s; fix: %s)", e.Hint.Number, e.Hint.Step, e.Hint.Fix)
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// stepError wraps a step's failure with its hint, when there is one.
func stepError(addr, doing string, err error) error {
	se := &StepError{Address: addr, Doing: doing, Err: err}
	if h, ok := HintFor(ErrorNumber(err)); ok {
		se.Hint = &h
	}
	return se
}

// ExplainLinkError reads a link error as Azure reports it in
// mostRecentLinkError ("41973: <message>", the number first) and adds the
// step and the fix when milink knows the number. Text without a number
// is returned as it is.
func ExplainLinkError(s string) string {
	s = strings.TrimSpace(s)
	num, _, _ := strings.Cut(s, ":")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return s
	}
	h, ok := HintFor(n)
	if !ok {
		return s
	}
	return fmt.Sprintf("%s (in %s; fix: %s)", s, h.Step, h.Fix)
}
