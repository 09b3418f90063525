package labcmd

import (
	"fmt"
	"sort"
	"strings"

	"github.com/milink/milink/lab"
)

// tlsFlags is the repeatable -tls flag of up and serve: NAME:SETTING[,...]
// with settings on, off, force, cert=FILE and key=FILE (see lab.ParseTLS).
// A server not named keeps what lab.json recorded.
type tlsFlags map[string]lab.TLS

func (f *tlsFlags) String() string {
	if f == nil || len(*f) == 0 {
		return ""
	}
	var parts []string
	for n, t := range *f {
		parts = append(parts, n+":"+t.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Set parses one -tls value; a later one for the same server replaces it.
func (f *tlsFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, ":")
	if !ok || spec == "" {
		return fmt.Errorf("want NAME:SETTING[,...], e.g. sql01:force or mi01:off")
	}
	if name != lab.SQLServerName && name != lab.ManagedInstanceName {
		return fmt.Errorf("no server %q (want %s or %s)", name, lab.SQLServerName, lab.ManagedInstanceName)
	}
	t, err := lab.ParseTLS(spec)
	if err != nil {
		return err
	}
	if *f == nil {
		*f = tlsFlags{}
	}
	(*f)[name] = t
	return nil
}

// args repeats the flags for `milink lab serve`.
func (f tlsFlags) args() []string {
	var names []string
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		out = append(out, "-tls", n+":"+f[n].String())
	}
	return out
}

// describeTLS is a server's encryption for people: what a client may ask.
func describeTLS(s lab.ServerInfo) string {
	if s.Certificate == "" {
		return "none (no certificate: encrypt = \"disable\" or \"false\")"
	}
	d := "certificate " + s.Certificate
	if s.ForceEncryption {
		d += ", Force Encryption"
	}
	if s.TDS8 {
		d += ", TDS 8.0 (strict)"
	}
	return d
}
