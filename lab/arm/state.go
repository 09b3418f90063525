package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/milink/milink/internal/atomicfile"
)

// state is what the lab's Azure keeps in state.json (mode 0600: it holds
// the client secret) across `lab down`/`up`: the identities, the port, the
// network security groups with their rules, and the counters. The managed
// instance, the virtual network and the subnet are derived from the lab's
// configuration at each start and are not stored.
type state struct {
	TenantID       string   `json:"tenant_id"`
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret"`
	SubscriptionID string   `json:"subscription_id"`
	Port           int      `json:"port"`
	NSGs           []*nsg   `json:"network_security_groups"`
	Counters       Counters `json:"counters"`
}

type nsg struct {
	Name  string  `json:"name"`
	GUID  string  `json:"resource_guid"`
	Rules []*rule `json:"security_rules"`
}

type rule struct {
	Name  string    `json:"name"`
	Etag  string    `json:"etag"`
	Props ruleProps `json:"properties"`
}

// Counters are the lab's Azure counters since the lab was created.
type Counters struct {
	Requests      int64 `json:"requests"`       // ARM requests (polls included)
	Tokens        int64 `json:"tokens"`         // access tokens issued
	TokenErrors   int64 `json:"token_errors"`   // token requests refused
	AuthFailures  int64 `json:"auth_failures"`  // ARM requests refused with 401
	Changes       int64 `json:"changes"`        // operations that changed something
	Throttled     int64 `json:"throttled"`      // 429s injected
	ServerErrors  int64 `json:"server_errors"`  // 500s injected
	FailedOps     int64 `json:"failed_ops"`     // long-running operations failed (injected)
	ClientErrors  int64 `json:"client_errors"`  // other 4xx answers
	CertsUploaded int64 `json:"certs_uploaded"` // tdeCertificates accepted
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// loadState reads state.json, or makes a new Azure: fresh identities and
// the two network security groups, the managed instance's holding its own
// rules.
func loadState(dir string) (*state, error) {
	data, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(dir), err)
	}
	if st.TenantID == "" || st.ClientID == "" || st.ClientSecret == "" || st.SubscriptionID == "" {
		return nil, fmt.Errorf("%s: identities missing; remove the file to start the lab's Azure over", statePath(dir))
	}
	return &st, nil
}

func (st *state) save(dir string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(statePath(dir), append(data, '\n'), 0o600)
}

func newState() *state {
	return &state{
		TenantID:       uuid.NewString(),
		ClientID:       uuid.NewString(),
		ClientSecret:   newSecret(),
		SubscriptionID: uuid.NewString(),
		NSGs: []*nsg{
			{Name: MINSGName, GUID: uuid.NewString(), Rules: managedInstanceRules()},
			{Name: SQLServerNSGName, GUID: uuid.NewString()},
		},
	}
}

// newSecret looks like an Entra client secret value (40 characters, with a
// "~" and a "." as the portal's have).
func newSecret() string {
	b := make([]byte, 30)
	randRead(b)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	s := make([]byte, 0, 40)
	for i, c := range b {
		s = append(s, alphabet[int(c)%len(alphabet)])
		if i == 2 {
			s = append(s, 'Q', '~')
		}
	}
	return string(s) + ".lab~" + string(alphabet[b[0]%26]) + "Zz9"
}

func (st *state) nsg(name string) *nsg {
	for _, n := range st.NSGs {
		if equalFold(n.Name, name) {
			return n
		}
	}
	return nil
}

func (n *nsg) rule(name string) (int, *rule) {
	for i, r := range n.Rules {
		if equalFold(r.Name, name) {
			return i, r
		}
	}
	return -1, nil
}

// managedInstanceRules are the rules the managed instance's network intent
// policy puts on its subnet's NSG, modelled on the documented service-aided
// subnet configuration. The real set varies with the region and the date;
// what matters to milink is their names (never touch) and priorities
// (never collide).
func managedInstanceRules() []*rule {
	mk := func(name, dir string, prio int32, proto, src, srcPort, dst, dstPort string) *rule {
		return &rule{
			Name: "Microsoft.Sql-managedInstances_UseOnly_mi-" + name,
			Etag: newEtag(),
			Props: ruleProps{
				Description: "Allow MI provisioning Control Plane Deployment and Authentication Service",
				Protocol:    proto, SourcePortRange: srcPort, DestinationPortRange: dstPort,
				SourceAddressPrefix: src, DestinationAddressPrefix: dst,
				Access: "Allow", Priority: &prio, Direction: dir,
			},
		}
	}
	return []*rule{
		mk("healthprobe-in", "Inbound", 100, "*", "AzureLoadBalancer", "*", subnetPrefixToken, "*"),
		mk("internal-in", "Inbound", 101, "*", subnetPrefixToken, "*", subnetPrefixToken, "*"),
		mk("aad-out", "Outbound", 101, "Tcp", subnetPrefixToken, "*", "AzureActiveDirectory", "443"),
		mk("onedsc-out", "Outbound", 102, "Tcp", subnetPrefixToken, "*", "OneDsCollector", "443"),
		mk("internal-out", "Outbound", 103, "*", subnetPrefixToken, "*", subnetPrefixToken, "*"),
		mk("strg-p-out", "Outbound", 104, "*", subnetPrefixToken, "*", "Storage.westeurope", "443"),
		mk("strg-s-out", "Outbound", 105, "*", subnetPrefixToken, "*", "Storage.northeurope", "443"),
		mk("optional-azure-out", "Outbound", 100, "Tcp", subnetPrefixToken, "*", "AzureCloud", "443"),
	}
}

// subnetPrefixToken stands for the managed instance's subnet prefix in its
// own rules, which follows mi01's address when the lab is started with
// another -address; it is replaced when the rules are shown.
const subnetPrefixToken = "{mi-subnet}"

func newEtag() string { return `W/"` + uuid.NewString() + `"` }
