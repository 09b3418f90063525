package link

import (
	"crypto/sha1"
	"fmt"
	"github.com/milink/milink/resources/azure"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The names the link's objects get when the configuration names none, as
// Microsoft's scripts name them (link.md §1).
const (
	// DefaultEndpointName is the DATABASE_MIRRORING endpoint milink
	// creates when the instance has none.
	DefaultEndpointName = "database_mirroring_endpoint"
	// DefaultPort is the endpoint's port, and the managed instance's
	// fixed one.
	DefaultPort = 5022
	// MIPort is the port of the managed instance's side of the link,
	// fixed by Azure.
	MIPort = 5022
	// maxName is sysname's length in characters.
	maxName = 128
)

// DefaultCertificateName is the endpoint certificate's default name,
// Cert_<@@SERVERNAME>_endpoint. A named instance's @@SERVERNAME is
// HOST\INSTANCE, and a certificate name must not hold a backslash (the
// link's scripts say so), so every backslash becomes an underscore. The
// result is cut to sysname's 128 characters, keeping the _endpoint
// suffix.
func DefaultCertificateName(serverName string) string {
	s := strings.ToValidUTF8(serverName, "_")
	s = strings.Map(func(r rune) rune {
		if r == '\\' || r < 32 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	const prefix, suffix = "Cert_", "_endpoint"
	room := maxName - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(suffix)
	if r := []rune(s); len(r) > room {
		s = string(r[:room])
	}
	return prefix + s + suffix
}

// DefaultAGName is the SQL Server side availability group of a link:
// AG_<link name>.
func DefaultAGName(link string) string { return "AG_" + link }

// DefaultMIAGName is the managed instance side availability group of a
// link: AG_<link name>_MI.
func DefaultMIAGName(link string) string { return "AG_" + link + "_MI" }

// DefaultDAGName is the distributed availability group of a link: the
// link's own name, which is also its name in Azure
// (distributedAvailabilityGroups/{name}).
func DefaultDAGName(link string) string { return link }

// CheckCertificateName says why a name cannot be an endpoint
// certificate's ("" when it can).
func CheckCertificateName(name string) string {
	switch {
	case name == "":
		return "a certificate name cannot be empty"
	case !utf8.ValidString(name):
		return "a certificate name must be valid UTF-8"
	case utf8.RuneCountInString(name) > maxName:
		return fmt.Sprintf("a certificate name has at most %d characters", maxName)
	case strings.ContainsRune(name, '\\'):
		return "a certificate name for the link cannot hold a backslash (\\); a named instance's HOST\\INSTANCE must be written with another character, such as HOST_INSTANCE"
	case strings.IndexFunc(name, func(r rune) bool { return r < 32 || r == 0x7f }) >= 0:
		return "a certificate name cannot hold control characters"
	}
	return ""
}

// CheckObjectName says why a name cannot name an availability group or
// an endpoint ("" when it can).
func CheckObjectName(what, name string) string {
	switch {
	case name == "":
		return "the " + what + " name cannot be empty"
	case !utf8.ValidString(name):
		return "the " + what + " name must be valid UTF-8"
	case utf8.RuneCountInString(name) > maxName:
		return fmt.Sprintf("the %s name has at most %d characters", what, maxName)
	case strings.IndexFunc(name, func(r rune) bool { return r < 32 || r == 0x7f }) >= 0:
		return "the " + what + " name cannot hold control characters"
	}
	return ""
}

// NormaliseThumbprint reads a thumbprint in any of the ways it is written
// (0x or not, any case, white space around) and writes it as plans and
// the state keep it: 0x and 40 upper-case hex digits.
func NormaliseThumbprint(s string) (string, error) {
	b, err := azure.ParseHexBlob(s)
	if err != nil {
		return "", err
	}
	if len(b) != sha1.Size {
		return "", fmt.Errorf("a thumbprint has %d bytes (SHA-1), not %d", sha1.Size, len(b))
	}
	return azure.HexBlob(b), nil
}

// SameThumbprint compares two thumbprints however each is written; an
// unreadable one equals nothing.
func SameThumbprint(a, b string) bool {
	x, err1 := NormaliseThumbprint(a)
	y, err2 := NormaliseThumbprint(b)
	return err1 == nil && err2 == nil && x == y
}

// EndpointURL is a replica's endpoint URL, TCP://host:port, with an IPv6
// address in brackets.
func EndpointURL(host string, port int) string {
	return "TCP://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// MIListenerURL is the managed instance's side in the distributed
// availability group: tcp://<fqdn>:5022;Server=[<short name>].
func MIListenerURL(fqdn, name string) string {
	return "tcp://" + net.JoinHostPort(fqdn, strconv.Itoa(MIPort)) + ";Server=[" + name + "]"
}
