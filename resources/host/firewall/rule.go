// Package firewall opens, on the SQL Server's host, the ports the Managed
// Instance link needs (inbound TCP 5022 from the managed instance's subnet,
// outbound TCP 5022 and 11000-11999 to it), with whichever firewall the
// host runs: nftables, iptables, ufw, firewalld or Windows Defender
// Firewall. Every backend works through host.Transport, so on this machine
// or over SSH alike.
//
// milink owns only what it creates and finds it again by name: a chain of
// its own per rule in the nftables table "inet milink"; rules carrying the
// comment "<name>" in the iptables chains MILINK-INPUT and MILINK-OUTPUT
// and in ufw; a firewalld policy whose short description is the name; a
// Windows rule named <name> in the group "milink". Every other rule is left
// alone, and a rule of someone else's that milink would have to take over
// (ufw keeps one copy of identical rules) is an error, not a collision.
package firewall

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Direction is which way the connections a rule allows go.
type Direction string

const (
	Inbound  Direction = "inbound"  // to this host
	Outbound Direction = "outbound" // from this host
)

// NamePrefix starts the name of every rule milink creates, so people can
// tell milink's rules from theirs in every tool.
const NamePrefix = "milink-"

// MirroringPort is the database mirroring endpoint's port the link uses,
// which cannot be changed.
const MirroringPort = 5022

// Rule is one firewall rule milink owns: it allows TCP connections in one
// direction between this host's LocalPorts (or any) and RemotePorts (or
// any) on the Remote addresses (or any). Exactly one of LocalPorts and
// RemotePorts is set: inbound rules usually name the local port (5022),
// outbound rules the remote ports (5022, 11000-11999).
type Rule struct {
	Name        string
	Direction   Direction
	Protocol    string // "tcp"
	LocalPorts  PortSet
	RemotePorts PortSet
	Remote      AddrSet // empty: any address
	Description string

	// Set by Read only. Observed is the backend's own rules for this one,
	// one line each as the tool shows them. Unexpected says what those
	// rules hold that milink does not write (another action, another
	// match, a rule per family missing): a rule with Unexpected lines
	// differs from every rule milink would write, so Apply rewrites it.
	Observed   []string
	Unexpected []string
}

// Spec is a rule as people write it.
type Spec struct {
	Name            string
	Direction       string   // "inbound" or "outbound"
	Protocol        string   // "tcp"; empty means tcp
	LocalPorts      []string // "5022", "11000-11999"
	RemotePorts     []string
	RemoteAddresses []string // "10.0.0.0/24", "10.0.0.5", "fd00::/64"; none means any
	Description     string
}

// LinkSpec is the rule the link needs in one direction, as the
// preparation guide says: inbound TCP 5022 from the managed instance's
// subnet, outbound TCP 5022 and 11000-11999 to it.
func LinkSpec(name string, dir Direction, subnet []string) Spec {
	s := Spec{Name: name, Direction: string(dir), Protocol: "tcp", RemoteAddresses: subnet}
	if dir == Outbound {
		s.RemotePorts = []string{"5022", "11000-11999"}
		s.Description = "Managed Instance link: to the managed instance"
	} else {
		s.LocalPorts = []string{"5022"}
		s.Description = "Managed Instance link: from the managed instance"
	}
	return s
}

// ParseRule checks and parses a rule. Each problem is one line of the
// error, naming the field and the value.
func ParseRule(s Spec) (Rule, error) {
	var errs []error
	r := Rule{Name: s.Name, Direction: Direction(strings.ToLower(strings.TrimSpace(s.Direction))), Protocol: strings.ToLower(strings.TrimSpace(s.Protocol)), Description: s.Description}
	if r.Protocol == "" {
		r.Protocol = "tcp"
	}
	var err error
	if r.LocalPorts, err = ParsePorts(s.LocalPorts); err != nil {
		errs = append(errs, fmt.Errorf("local ports: %w", err))
	}
	if r.RemotePorts, err = ParsePorts(s.RemotePorts); err != nil {
		errs = append(errs, fmt.Errorf("remote ports: %w", err))
	}
	if r.Remote, err = ParseAddrs(s.RemoteAddresses); err != nil {
		errs = append(errs, fmt.Errorf("remote addresses: %w", err))
	}
	if err := r.validate(len(errs) > 0); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Rule{}, fmt.Errorf("firewall rule %q: %w", s.Name, errors.Join(errs...))
	}
	return r, nil
}

var nameRE = regexp.MustCompile(`^milink-[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// MaxNameLen and MaxDescriptionLen keep "<name>: <description>" within the
// 128 characters of an nftables comment.
const (
	MaxNameLen        = 48
	MaxDescriptionLen = 72
)

// ValidateName checks a rule name: NamePrefix, then letters, digits and
// "_.-", at most MaxNameLen characters.
func ValidateName(name string) error {
	switch {
	case !strings.HasPrefix(name, NamePrefix):
		return fmt.Errorf("name %q must start with %q, so milink's rules are told from others'", name, NamePrefix)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name %q is longer than %d characters", name, MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("name %q may hold only letters, digits and _ . - after %q", name, NamePrefix)
	}
	return nil
}

var descRE = regexp.MustCompile(`^[A-Za-z0-9 _.,:;/()+=@%-]*$`)

// Validate checks a rule built in code (ParseRule checks its own). Its
// sets must be canonical (NewPortSet, NewAddrSet).
func (r Rule) Validate() error {
	if err := r.validate(false); err != nil {
		return fmt.Errorf("firewall rule %q: %w", r.Name, err)
	}
	return nil
}

func (r Rule) validate(portsFailed bool) error {
	var errs []error
	if err := ValidateName(r.Name); err != nil {
		errs = append(errs, err)
	}
	if r.Direction != Inbound && r.Direction != Outbound {
		errs = append(errs, fmt.Errorf("direction %q is neither %q nor %q", r.Direction, Inbound, Outbound))
	}
	if r.Protocol != "tcp" {
		errs = append(errs, fmt.Errorf("protocol %q is not supported (only tcp: the link uses TCP)", r.Protocol))
	}
	if !portsFailed {
		switch {
		case len(r.LocalPorts) == 0 && len(r.RemotePorts) == 0:
			errs = append(errs, errors.New("no ports: name local ports (inbound, e.g. 5022) or remote ports (outbound, e.g. 5022 and 11000-11999)"))
		case len(r.LocalPorts) > 0 && len(r.RemotePorts) > 0:
			errs = append(errs, errors.New("both local and remote ports: a rule names one or the other (make two rules)"))
		}
		if !slices.Equal(r.LocalPorts, NewPortSet(r.LocalPorts...)) || !slices.Equal(r.RemotePorts, NewPortSet(r.RemotePorts...)) {
			errs = append(errs, errors.New("port set is not canonical (build it with NewPortSet)"))
		}
		if !slices.Equal(r.Remote, NewAddrSet(r.Remote...)) {
			errs = append(errs, errors.New("address set is not canonical (build it with NewAddrSet)"))
		}
	}
	switch {
	case len(r.Description) > MaxDescriptionLen:
		errs = append(errs, fmt.Errorf("description is longer than %d characters", MaxDescriptionLen))
	case !descRE.MatchString(r.Description):
		errs = append(errs, fmt.Errorf("description %q may hold only letters, digits, spaces and _ . , : ; / ( ) + = @ %% -", r.Description))
	}
	return errors.Join(errs...)
}

// Ports is the rule's port set, whichever side it is on, and whether that
// side is local.
func (r Rule) ports() (PortSet, bool) {
	if len(r.LocalPorts) > 0 {
		return r.LocalPorts, true
	}
	return r.RemotePorts, false
}

// comment is what milink writes in a tool's comment field: the name, then
// the description.
func (r Rule) comment() string {
	if r.Description == "" {
		return r.Name
	}
	return r.Name + ": " + r.Description
}

// parseComment splits a comment milink wrote; ok is false when it is not
// one for name.
func parseComment(c, name string) (desc string, ok bool) {
	if c == name {
		return "", true
	}
	if rest, found := strings.CutPrefix(c, name+": "); found {
		return rest, true
	}
	return "", false
}

// Equal reports whether the rules are the same, comparing ports and
// addresses as sets; Observed does not count, and a rule with Unexpected
// lines equals no other.
func (r Rule) Equal(o Rule) bool { return len(Diff(r, &o)) == 0 }

// Diff lists how have (what Read returned, nil when absent) differs from
// want, one line per difference; none when Apply has nothing to do.
func Diff(want Rule, have *Rule) []string {
	if have == nil {
		return []string{"absent"}
	}
	var d []string
	field := func(what, w, h string) {
		if w != h {
			d = append(d, fmt.Sprintf("%s: want %s, have %s", what, w, h))
		}
	}
	field("name", want.Name, have.Name)
	field("direction", string(want.Direction), string(have.Direction))
	field("protocol", want.Protocol, have.Protocol)
	field("local ports", portsText(want.LocalPorts), portsText(have.LocalPorts))
	field("remote ports", portsText(want.RemotePorts), portsText(have.RemotePorts))
	field("remote addresses", want.Remote.String(), have.Remote.String())
	field("description", fmt.Sprintf("%q", want.Description), fmt.Sprintf("%q", have.Description))
	d = append(d, have.Unexpected...)
	return d
}

func portsText(s PortSet) string {
	if len(s) == 0 {
		return "any"
	}
	return s.String()
}

// String is the rule in one line, for messages.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", r.Name, r.Direction, r.Protocol)
	if len(r.LocalPorts) > 0 {
		fmt.Fprintf(&b, " local port %s", r.LocalPorts)
	}
	if len(r.RemotePorts) > 0 {
		fmt.Fprintf(&b, " remote port %s", r.RemotePorts)
	}
	if r.Direction == Inbound {
		fmt.Fprintf(&b, " from %s", r.Remote)
	} else {
		fmt.Fprintf(&b, " to %s", r.Remote)
	}
	return b.String()
}
