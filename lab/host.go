package lab

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/milink/milink/lab/engine"
)

// dialTimeout bounds the managed instance's `tnc`: a firewall that drops
// packets would otherwise hang the job step for the OS's whole SYN timeout.
const dialTimeout = 2 * time.Second

// host is the machine an instance runs on, as the engine sees it: its own
// loopback address for the mirroring endpoint, and real TCP to the others.
type host struct {
	address string
	// registry is the simulated registry file of a Windows profile, "" on Linux.
	registry string
}

// Registry reads the simulated registry now, as sys.dm_server_registry
// reads the real one when it is queried.
func (h host) Registry() ([]engine.RegistryValue, error) {
	if h.registry == "" {
		return nil, nil
	}
	r, err := loadRegistry(h.registry)
	if err != nil {
		return nil, err
	}
	out := make([]engine.RegistryValue, 0, len(r.Values))
	for _, v := range r.Values {
		out = append(out, engine.RegistryValue{Key: v.Key, Name: v.Name, Data: v.Data})
	}
	return out, nil
}

// Listen opens the endpoint's listener on the instance's own address. It
// accepts and closes connections: enough for a TCP connect test (tnc), which
// is all the lab promises of a DATABASE_MIRRORING endpoint.
func (h host) Listen(port int) (io.Closer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(h.address, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			c.Close()
		}
	}()
	return ln, nil
}

// Dial is `tnc ADDRESS -port PORT -InformationLevel Quiet`: a real TCP
// connect with a short timeout.
func (h host) Dial(ctx context.Context, address string, port int) bool {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
