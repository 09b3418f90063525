package labcmd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/milink/milink/lab"
)

// faultFlags is the repeatable -fault flag of up and serve:
// NAME:KEY=VALUE[,KEY=VALUE...], keys latency, drop-at, error-at and
// restart-hangs (a bare key means true). It arms one server's faults at
// start; `milink lab fault` changes them later.
type faultFlags map[string]lab.FaultChange

func (f *faultFlags) String() string {
	if f == nil || len(*f) == 0 {
		return ""
	}
	var names []string
	for n := range *f {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, n+":"+faultSpec((*f)[n]))
	}
	return strings.Join(parts, " ")
}

// Set parses one -fault value; several for the same server merge.
func (f *faultFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, ":")
	if !ok || spec == "" {
		return fmt.Errorf("want NAME:KEY=VALUE[,...], e.g. sql01:drop-at=3")
	}
	if name != lab.SQLServerName && name != lab.ManagedInstanceName {
		return fmt.Errorf("no server %q (want %s or %s)", name, lab.SQLServerName, lab.ManagedInstanceName)
	}
	if *f == nil {
		*f = faultFlags{}
	}
	ch := (*f)[name]
	for _, kv := range strings.Split(spec, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(kv), "=")
		switch key {
		case "latency":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return fmt.Errorf("latency %q: want a duration such as 20ms", val)
			}
			ch.Latency = &d
		case "drop-at", "error-at":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("%s %q: want a statement number from 1", key, val)
			}
			if key == "drop-at" {
				ch.DropAt = &n
			} else {
				ch.ErrorAt = &n
			}
		case "restart-hangs":
			b := true
			if hasVal {
				var err error
				if b, err = strconv.ParseBool(val); err != nil {
					return fmt.Errorf("restart-hangs %q: want true or false", val)
				}
			}
			ch.RestartHangs = &b
		default:
			return fmt.Errorf("unknown fault %q (want latency, drop-at, error-at or restart-hangs)", key)
		}
	}
	(*f)[name] = ch
	return nil
}

// faultSpec is the KEY=VALUE list of one change, as Set reads it.
func faultSpec(ch lab.FaultChange) string {
	var p []string
	if ch.Latency != nil {
		p = append(p, "latency="+ch.Latency.String())
	}
	if ch.DropAt != nil {
		p = append(p, fmt.Sprintf("drop-at=%d", *ch.DropAt))
	}
	if ch.ErrorAt != nil {
		p = append(p, fmt.Sprintf("error-at=%d", *ch.ErrorAt))
	}
	if ch.RestartHangs != nil {
		p = append(p, fmt.Sprintf("restart-hangs=%t", *ch.RestartHangs))
	}
	return strings.Join(p, ",")
}
