// Package arm is the lab's Azure: an HTTPS server that answers the Microsoft
// Entra token calls (client-secret flow, as MSAL and azidentity make them)
// and the Azure Resource Manager calls milink makes — the managed instance
// mi01, its subnet, the network security groups and their rules (with
// long-running operations), and the tdeCertificates upload.
package arm

// Info is lab.json's "azure" object: what a milink configuration (through
// jsondecode) or a test needs to reach the lab's Azure. Its shape is a
// contract with the milink side (the azure {} settings, managed_instance,
// nsg_rule, tde_certificate): add fields, do not rename or remove them.
type Info struct {
	// ResourceManager is the ARM endpoint, "https://127.0.0.1:PORT/".
	ResourceManager string `json:"resource_manager"`
	// Audience is the ARM token audience; a client asks for the scope
	// Audience + "/.default" (cloud.ServiceConfiguration.Audience).
	Audience string `json:"audience"`
	// Authority is the Entra authority host (azidentity's AuthorityHost,
	// cloud.Configuration.ActiveDirectoryAuthorityHost); the same server.
	Authority string `json:"authority"`
	// CAFile is the PEM file of the lab's CA, which signed the server's
	// certificate (absolute path).
	CAFile string `json:"ca_file"`

	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	SubscriptionID string `json:"subscription_id"`
	ResourceGroup  string `json:"resource_group"`

	ManagedInstance   string `json:"managed_instance"`    // "mi01"
	ManagedInstanceID string `json:"managed_instance_id"` // its ARM resource ID
	// SubnetID is the managed instance's subnet; NSGID the network
	// security group on it (holding the instance's own rules).
	SubnetID string `json:"subnet_id"`
	NSGID    string `json:"nsg_id"`
	// SQLServerNSGID is the NSG of the SQL Server VM (sql01), for the
	// mirror rules; it starts empty.
	SQLServerNSGID string `json:"sql_server_nsg_id"`
}
