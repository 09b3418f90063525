package checks

import (
	"context"
	"fmt"
	"strconv"
)

// toManagedInstance opens TCP connections from SQL Server's host to the
// managed instance: the link's port, and the redirect port when asked. A
// result per port, so that a failure names the port it is about.
func (c *Check) toManagedInstance(ctx context.Context) []Result {
	ports := []int{c.Port}
	if c.RedirectPort != 0 {
		ports = append(ports, c.RedirectPort)
	}
	var out []Result
	for _, p := range ports {
		out = append(out, c.probePort(ctx, p))
	}
	return out
}

func (c *Check) probePort(ctx context.Context, port int) Result {
	target := c.FQDN + ":" + strconv.Itoa(port)
	r := Result{Direction: ToManagedInstance, Hop: "host of " + c.SQLServerName + " → " + target}
	switch {
	case c.Host == nil:
		r.Status, r.Detail = NotRun, "the host of "+c.SQLServerName+" cannot be reached, and the connection must be opened there"
		return r
	case c.FQDN == "":
		r.Status, r.Detail = NotRun, "the managed instance's FQDN is not known"
		return r
	}
	c.progress(fmt.Sprintf("connecting to %s from the host of %s", target, c.SQLServerName))
	o := probe(ctx, c.Host, c.FQDN, port, c.ProbeTimeout)
	switch {
	case o.connected:
		r.Status, r.Detail = Passed, "TCP connection to "+target+" opened on the host"
	case o.notRun:
		r.Status, r.Detail = NotRun, o.why
	default:
		r.Status, r.Detail = Failed, "no TCP connection to "+target+": "+o.why
		r.Hints = c.hints(ToManagedInstance, port)
		if port != c.Port {
			r.Hints = append(r.Hints, fmt.Sprintf("the redirect range 11000-11999 must be open to the managed instance's subnet like %d", c.Port))
		}
	}
	return r
}
