package azure

import (
	"strconv"
	"strings"
)

// The link's errors, each with the step that failed and its fix. Sources:
// ../../shared/reference/link.md §2 (ARM codes) and §5 (the numbers of
// mostRecentLinkError, from Microsoft's troubleshooting page).

// linkCodeHints are Azure's error codes of the link calls.
var linkCodeHints = map[string]string{
	"ManagedInstanceLinkCertificateNotFoundOnManagedInstance":          "The managed instance does not trust SQL Server's endpoint certificate: upload it first (mi_trust_certificate, the serverTrustCertificates PUT), under the name it has on SQL Server",
	"ManagedInstanceLinkCertificateNotFoundOnSqlServer":                "SQL Server does not hold the managed instance's endpoint certificate: create it there named exactly after the managed instance's FQDN, with the MicrosoftPKI and DigiCertPKI roots (partner_certificate)",
	"ManagedInstanceLinkTdeCertificateMissing":                         "A database is encrypted with TDE and the managed instance lacks its certificate: move it first (tde_certificate) and apply again",
	"ManagedInstanceLinkForProvidedAvailabilityGroupsAlreadyExists":    "A link for these availability groups already exists on the managed instance: import or drop it (its name is the distributed availability group's)",
	"CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished": "The managed instance cannot reach SQL Server's availability groups: check that the AG and the distributed AG exist on SQL Server with the names in the link, that the database is in the AG, and that the DAG's managed instance LISTENER_URL is tcp://<fqdn>:5022;Server=[<mi>]",
	"CloudLifterChimeraMIAgNameIsAlreadyUsed":                          "The managed instance already has an availability group of that name: choose another instance_availability_group",
	"UnableToResolveRemoteServer":                                      "The managed instance cannot resolve the partner endpoint's host name: use SQL Server's IP address in partner_endpoint, or fix DNS in the managed instance's virtual network",
	"RemoteDatabaseExists":                                             "A database of that name already exists on the managed instance: drop or rename it there, or link another database",
	"ManagedInstanceLinkConnectivityIsNotEstablished":                  "No replication started within the time Azure allows: check port 5022 both ways (NSG rules, SQL Server's firewall) and the endpoint",
	"OperationCanNotStartDueToMiLink":                                  "Another operation on the managed instance is blocked while a link seeds: wait for seeding to finish",
	"InvalidParameterValue":                                            "Azure refused the request's body: a bug in milink or a value it did not check; report it with the plan",
}

// LinkCodeHint is the step and fix of one of the link's ARM error codes,
// or "".
func LinkCodeHint(code string) string {
	for k, v := range linkCodeHints {
		if strings.EqualFold(k, code) {
			return v
		}
	}
	return ""
}

// linkNumberHints are the numbers mostRecentLinkError starts with.
var linkNumberHints = map[int]string{
	41962: "the link was not initiated within 5 minutes: check that SQL Server's distributed availability group exists and the endpoint on port 5022 is reachable, then drop the link and create it again",
	41973: "the managed instance does not trust SQL Server's endpoint certificate (serverTrustCertificates): upload it (mi_trust_certificate); the link retries by itself",
	41974: "SQL Server does not trust the managed instance's endpoint certificate: it must be in master named exactly after the managed instance's FQDN, with the MicrosoftPKI and DigiCertPKI roots and their issuer *.database.windows.net (partner_certificate), and not expired",
	41976: "the availability group is not responding: check the AG and distributed AG names and configuration on SQL Server",
	41977: "the target database is not responding: drop the link and create it again",
	41986: "the managed instance cannot connect to SQL Server's endpoint: check that it is STARTED with CERTIFICATE authentication and AES, that port 5022 is open both ways (NSG, firewall), and partner_endpoint",
	47521: "the secondary got no request from the primary: check connectivity between both sides",
	1408:  "the log was truncated during seeding: drop the link, keep log backups from running until seeding ends (or trace flag 12381), and create it again",
	1412:  "a log backup ran on SQL Server while seeding: drop the link (and the database copy on the managed instance), then create it again without log backups until seeding ends",
}

// LinkErrorNumber is the number mostRecentLinkError starts with ("41973:
// …"), or 0.
func LinkErrorNumber(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return n
}

// LinkErrorHint is the step and fix of a link error as Azure reports it
// in mostRecentLinkError, or "".
func LinkErrorHint(mostRecent string) string {
	return linkNumberHints[LinkErrorNumber(mostRecent)]
}
