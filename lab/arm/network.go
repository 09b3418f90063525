package arm

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ruleProps are a security rule's properties, as Microsoft.Network
// 2024-05-01 spells them.
type ruleProps struct {
	Description                string   `json:"description,omitempty"`
	Protocol                   string   `json:"protocol"`
	SourcePortRange            string   `json:"sourcePortRange,omitempty"`
	DestinationPortRange       string   `json:"destinationPortRange,omitempty"`
	SourceAddressPrefix        string   `json:"sourceAddressPrefix,omitempty"`
	DestinationAddressPrefix   string   `json:"destinationAddressPrefix,omitempty"`
	SourcePortRanges           []string `json:"sourcePortRanges"`
	DestinationPortRanges      []string `json:"destinationPortRanges"`
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes"`
	Access                     string   `json:"access"`
	Priority                   *int32   `json:"priority,omitempty"`
	Direction                  string   `json:"direction"`
	ProvisioningState          string   `json:"provisioningState,omitempty"`
}

// managedInstanceRulePrefix names the rules the managed instance owns.
const managedInstanceRulePrefix = "Microsoft.Sql-managedInstances_UseOnly_"

func (s *Server) serveNetwork(w http.ResponseWriter, r *http.Request, p []string, body []byte) (result, *armError) {
	get := r.Method == http.MethodGet
	switch {
	case len(p) == 2 && equalFold(p[0], "virtualNetworks"):
		if !equalFold(p[1], VNetName) {
			return result{}, notFound("Microsoft.Network/virtualNetworks", p[1])
		}
		if !get {
			return result{}, methodNotAllowed(r)
		}
		writeJSON(w, http.StatusOK, s.vnetJSON())
	case len(p) == 3 && equalFold(p[0], "virtualNetworks") && equalFold(p[2], "subnets"):
		if !equalFold(p[1], VNetName) {
			return result{}, notFound("Microsoft.Network/virtualNetworks", p[1])
		}
		if !get {
			return result{}, methodNotAllowed(r)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{s.subnetJSON()}})
	case len(p) == 4 && equalFold(p[0], "virtualNetworks") && equalFold(p[2], "subnets"):
		if !equalFold(p[1], VNetName) {
			return result{}, parentNotFound("virtualNetworks", p[1])
		}
		if !equalFold(p[3], MISubnetName) {
			return result{}, armErr(http.StatusNotFound, "NotFound", "Resource %s/subnets/%s not found.", s.vnetID(), p[3])
		}
		if !get {
			return result{}, methodNotAllowed(r)
		}
		writeJSON(w, http.StatusOK, s.subnetJSON())
	case len(p) == 1 && equalFold(p[0], "networkSecurityGroups"):
		if !get {
			return result{}, methodNotAllowed(r)
		}
		s.mu.Lock()
		var v []any
		for _, n := range s.st.NSGs {
			v = append(v, s.nsgJSONLocked(n))
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"value": v})
	case len(p) == 2 && equalFold(p[0], "networkSecurityGroups"):
		if !get {
			return result{}, methodNotAllowed(r)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		n := s.st.nsg(p[1])
		if n == nil {
			return result{}, notFound("Microsoft.Network/networkSecurityGroups", p[1])
		}
		writeJSON(w, http.StatusOK, s.nsgJSONLocked(n))
	case len(p) == 3 && equalFold(p[0], "networkSecurityGroups") && (equalFold(p[2], "securityRules") || equalFold(p[2], "defaultSecurityRules")):
		if !get {
			return result{}, methodNotAllowed(r)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		n := s.st.nsg(p[1])
		if n == nil {
			return result{}, parentNotFound("networkSecurityGroups", p[1])
		}
		v := []any{}
		if equalFold(p[2], "securityRules") {
			for _, ru := range n.Rules {
				v = append(v, s.ruleJSONLocked(n, ru, "Succeeded"))
			}
		} else {
			v = s.defaultRulesJSONLocked(n)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": v})
	case len(p) == 4 && equalFold(p[0], "networkSecurityGroups") && equalFold(p[2], "securityRules"):
		return s.serveRule(w, r, p[1], p[3], body)
	default:
		return result{}, armErr(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Network' for api version '%s'.",
			p[0], r.URL.Query().Get("api-version"))
	}
	return result{}, nil
}

func notFound(typ, name string) *armError {
	return armErr(http.StatusNotFound, "ResourceNotFound",
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, ResourceGroup)
}

func parentNotFound(typ, name string) *armError {
	return armErr(http.StatusNotFound, "ParentResourceNotFound",
		"Failed to perform '%s' on resource(s) of type '%s', because the parent resource '%s' could not be found.", "read", typ, name)
}

func (s *Server) vnetJSON() map[string]any {
	return map[string]any{
		"id": s.vnetID(), "name": VNetName, "type": "Microsoft.Network/virtualNetworks", "location": Location, "etag": `W/"00000000-0000-0000-0000-000000000001"`,
		"properties": map[string]any{
			"provisioningState": "Succeeded",
			"addressSpace":      map[string]any{"addressPrefixes": []string{s.subnetPrefix()}},
			"subnets":           []any{s.subnetJSON()},
		},
	}
}

func (s *Server) subnetJSON() map[string]any {
	return map[string]any{
		"id": s.subnetID(), "name": MISubnetName, "type": "Microsoft.Network/virtualNetworks/subnets", "etag": `W/"00000000-0000-0000-0000-000000000002"`,
		"properties": map[string]any{
			"provisioningState":    "Succeeded",
			"addressPrefix":        s.subnetPrefix(),
			"networkSecurityGroup": map[string]any{"id": s.nsgID(MINSGName)},
			"delegations": []any{map[string]any{
				"id":   s.subnetID() + "/delegations/dgManagedInstance",
				"name": "dgManagedInstance", "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
				"properties": map[string]any{
					"serviceName":       "Microsoft.Sql/managedInstances",
					"provisioningState": "Succeeded",
					"actions": []string{"Microsoft.Network/virtualNetworks/subnets/join/action",
						"Microsoft.Network/virtualNetworks/subnets/prepareNetworkPolicies/action",
						"Microsoft.Network/virtualNetworks/subnets/unprepareNetworkPolicies/action"},
				},
			}},
			"privateEndpointNetworkPolicies":    "Disabled",
			"privateLinkServiceNetworkPolicies": "Enabled",
		},
	}
}

func (s *Server) nsgJSONLocked(n *nsg) map[string]any {
	rules := []any{}
	for _, ru := range n.Rules {
		rules = append(rules, s.ruleJSONLocked(n, ru, "Succeeded"))
	}
	props := map[string]any{
		"provisioningState":    "Succeeded",
		"resourceGuid":         n.GUID,
		"securityRules":        rules,
		"defaultSecurityRules": s.defaultRulesJSONLocked(n),
	}
	if equalFold(n.Name, MINSGName) {
		props["subnets"] = []any{map[string]any{"id": s.subnetID()}}
	}
	return map[string]any{
		"id": s.nsgID(n.Name), "name": n.Name, "type": "Microsoft.Network/networkSecurityGroups", "location": Location,
		"etag": `W/"` + n.GUID + `"`, "properties": props,
	}
}

func (s *Server) ruleJSONLocked(n *nsg, ru *rule, state string) map[string]any {
	p := ru.Props
	p.ProvisioningState = state
	fill := func(v string) string { return strings.ReplaceAll(v, subnetPrefixToken, s.subnetPrefix()) }
	p.SourceAddressPrefix, p.DestinationAddressPrefix = fill(p.SourceAddressPrefix), fill(p.DestinationAddressPrefix)
	for _, l := range []*[]string{&p.SourcePortRanges, &p.DestinationPortRanges, &p.SourceAddressPrefixes, &p.DestinationAddressPrefixes} {
		if *l == nil {
			*l = []string{}
		}
	}
	return map[string]any{
		"id": s.nsgID(n.Name) + "/securityRules/" + ru.Name, "name": ru.Name, "etag": ru.Etag,
		"type": "Microsoft.Network/networkSecurityGroups/securityRules", "properties": p,
	}
}

// defaultRulesJSONLocked are the six default rules every NSG has.
func (s *Server) defaultRulesJSONLocked(n *nsg) []any {
	type d struct {
		name, dir, access, src, dst string
		prio                        int32
		desc                        string
	}
	var out []any
	for _, x := range []d{
		{"AllowVnetInBound", "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000, "Allow inbound traffic from all VMs in VNET"},
		{"AllowAzureLoadBalancerInBound", "Inbound", "Allow", "AzureLoadBalancer", "*", 65001, "Allow inbound traffic from azure load balancer"},
		{"DenyAllInBound", "Inbound", "Deny", "*", "*", 65500, "Deny all inbound traffic"},
		{"AllowVnetOutBound", "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000, "Allow outbound traffic from all VMs to all VMs in VNET"},
		{"AllowInternetOutBound", "Outbound", "Allow", "*", "Internet", 65001, "Allow outbound traffic from all VMs to Internet"},
		{"DenyAllOutBound", "Outbound", "Deny", "*", "*", 65500, "Deny all outbound traffic"},
	} {
		prio := x.prio
		out = append(out, map[string]any{
			"id": s.nsgID(n.Name) + "/defaultSecurityRules/" + x.name, "name": x.name, "etag": `W/"` + n.GUID + `"`,
			"type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
			"properties": ruleProps{Description: x.desc, Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*",
				SourceAddressPrefix: x.src, DestinationAddressPrefix: x.dst, Access: x.access, Priority: &prio, Direction: x.dir,
				ProvisioningState: "Succeeded", SourcePortRanges: []string{}, DestinationPortRanges: []string{},
				SourceAddressPrefixes: []string{}, DestinationAddressPrefixes: []string{}},
		})
	}
	return out
}

var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$`)

func (s *Server) serveRule(w http.ResponseWriter, r *http.Request, nsgName, name string, body []byte) (result, *armError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.nsg(nsgName)
	if n == nil {
		return result{}, parentNotFound("networkSecurityGroups", nsgName)
	}
	ruleID := s.nsgID(n.Name) + "/securityRules/" + name
	idx, ru := n.rule(name)
	switch r.Method {
	case http.MethodGet:
		if ru == nil {
			return result{}, armErr(http.StatusNotFound, "NotFound", "Resource %s not found.", ruleID)
		}
		writeJSON(w, http.StatusOK, s.ruleJSONLocked(n, ru, "Succeeded"))
		return result{}, nil
	case http.MethodPut:
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(managedInstanceRulePrefix)) {
			return result{}, intentPolicy(ruleID)
		}
		if !ruleNameRE.MatchString(name) {
			return result{}, armErr(http.StatusBadRequest, "InvalidResourceName",
				"Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'.", name)
		}
		var req struct {
			Properties *ruleProps `json:"properties"`
		}
		if e := readBody(body, &req); e != nil {
			return result{}, e
		}
		if req.Properties == nil {
			return result{}, armErr(http.StatusBadRequest, "InvalidRequestFormat", "Cannot parse the request. The 'properties' of security rule %s are missing.", ruleID)
		}
		p := *req.Properties
		p.ProvisioningState = ""
		if e := validateRule(ruleID, &p); e != nil {
			return result{}, e
		}
		for _, o := range n.Rules {
			if o != ru && equalFold(o.Props.Direction, p.Direction) && *o.Props.Priority == *p.Priority {
				return result{}, armErr(http.StatusBadRequest, "SecurityRuleConflict",
					"Security rule %s conflicts with rule %s. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
					name, o.Name)
			}
		}
		status := http.StatusOK
		if ru == nil {
			status = http.StatusCreated
		}
		failed := s.failOperationLocked()
		s.startOperationLocked(w, r, "Microsoft.Network", failed)
		nr := &rule{Name: name, Etag: newEtag(), Props: p}
		if ru != nil {
			nr.Name = ru.Name
		}
		res := result{}
		if failed == nil {
			if ru == nil {
				n.Rules = append(n.Rules, nr)
			} else {
				n.Rules[idx] = nr
			}
			s.st.Counters.Changes++
			s.saveLocked()
			res.changed = true
		}
		writeJSON(w, status, s.ruleJSONLocked(n, nr, "Updating"))
		return res, nil
	case http.MethodDelete:
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(managedInstanceRulePrefix)) && ru != nil {
			return result{}, intentPolicy(ruleID)
		}
		if ru == nil {
			w.WriteHeader(http.StatusNoContent)
			return result{}, nil
		}
		failed := s.failOperationLocked()
		s.startOperationLocked(w, r, "Microsoft.Network", failed)
		res := result{}
		if failed == nil {
			n.Rules = append(n.Rules[:idx], n.Rules[idx+1:]...)
			s.st.Counters.Changes++
			s.saveLocked()
			res.changed = true
		}
		w.WriteHeader(http.StatusAccepted)
		return res, nil
	}
	return result{}, methodNotAllowed(r)
}

// intentPolicy is the refusal to change a rule the managed instance owns.
// The real message names the network intent policy; its exact code is not
// documented, so this one is the lab's.
func intentPolicy(ruleID string) *armError {
	return armErr(http.StatusBadRequest, "NetworkIntentPolicyViolation",
		"Security rule %s is required by network intent policy of the managed instance subnet (Microsoft.Sql/managedInstances) and cannot be changed or deleted.", ruleID)
}

var serviceTagRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?$`)

// validateRule checks a rule as the network resource provider does, and
// puts its enumerations in their canonical case.
func validateRule(id string, p *ruleProps) *armError {
	bad := func(code, format string, args ...any) *armError {
		return armErr(http.StatusBadRequest, code, format, args...)
	}
	canon := func(v string, allowed ...string) (string, bool) {
		for _, a := range allowed {
			if equalFold(v, a) {
				return a, true
			}
		}
		return v, false
	}
	var ok bool
	if p.Protocol, ok = canon(p.Protocol, "Tcp", "Udp", "Icmp", "Esp", "Ah", "*"); !ok {
		return bad("SecurityRuleInvalidProtocol", "Security rule %s has invalid Protocol. Value provided: %s Allowed values: Tcp, Udp, Icmp, Esp, Ah, *.", id, p.Protocol)
	}
	if p.Access, ok = canon(p.Access, "Allow", "Deny"); !ok {
		return bad("SecurityRuleInvalidAccess", "Security rule %s has invalid Access. Value provided: %s Allowed values: Allow, Deny.", id, p.Access)
	}
	if p.Direction, ok = canon(p.Direction, "Inbound", "Outbound"); !ok {
		return bad("SecurityRuleInvalidDirection", "Security rule %s has invalid Direction. Value provided: %s Allowed values: Inbound, Outbound.", id, p.Direction)
	}
	if p.Priority == nil || *p.Priority < 100 || *p.Priority > 4096 {
		v := "null"
		if p.Priority != nil {
			v = strconv.Itoa(int(*p.Priority))
		}
		return bad("SecurityRuleInvalidPriority", "Security rule has invalid Priority. Value provided: %s Allowed values are from: 100 to 4096.", v)
	}
	if utf8.RuneCountInString(p.Description) > 140 {
		return bad("SecurityRuleDescriptionTooLong", "Security rule %s has a description of %d characters; at most 140 are allowed.", id, utf8.RuneCountInString(p.Description))
	}
	// Ports and address prefixes are each given once or as a list, never
	// both, and each value must parse; ARM's codes differ only by kind.
	prefixCheck := func(id, v string, n int) *armError {
		if validAddressPrefix(v, n > 1) {
			return nil
		}
		return bad("SecurityRuleInvalidAddressPrefix", "Security rule %s has invalid Address prefix. Value provided: %s", id, v)
	}
	portCheck := func(id, v string, _ int) *armError {
		if validPortRange(v) {
			return nil
		}
		return bad("SecurityRuleInvalidPortRange", "Security rule %s has invalid Port range. Value provided: %s. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535.", id, v)
	}
	for _, side := range []struct {
		what, plural string
		single       string
		multi        []string
		check        func(id, v string, n int) *armError
	}{
		{"SourcePortRange", "s", p.SourcePortRange, p.SourcePortRanges, portCheck},
		{"DestinationPortRange", "s", p.DestinationPortRange, p.DestinationPortRanges, portCheck},
		{"SourceAddressPrefix", "es", p.SourceAddressPrefix, p.SourceAddressPrefixes, prefixCheck},
		{"DestinationAddressPrefix", "es", p.DestinationAddressPrefix, p.DestinationAddressPrefixes, prefixCheck},
	} {
		if side.single != "" && len(side.multi) > 0 {
			return bad("SecurityRuleParameterContainsMultipleValues", "Security rule %s has both %s and %s%s specified; specify only one.", id, side.what, side.what, side.plural)
		}
		vals := side.multi
		if side.single != "" {
			vals = []string{side.single}
		}
		if len(vals) == 0 {
			return bad("SecurityRuleParameterIsNullOrEmpty", "Security rule %s has no %s.", id, side.what)
		}
		for _, v := range vals {
			if err := side.check(id, v, len(vals)); err != nil {
				return err
			}
		}
	}
	return nil
}

func validPortRange(v string) bool {
	if v == "*" {
		return true
	}
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 || a > 65535 {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.Atoi(hi)
	return err == nil && b >= a && b <= 65535
}

// validAddressPrefix: an address, a CIDR prefix, "*" or a service tag;
// in a list only addresses and prefixes.
func validAddressPrefix(v string, inList bool) bool {
	if net.ParseIP(v) != nil {
		return true
	}
	if _, _, err := net.ParseCIDR(v); err == nil {
		return true
	}
	return !inList && (v == "*" || serviceTagRE.MatchString(v))
}
