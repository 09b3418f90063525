package lab

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"
)

// dialTimeout bounds the managed instance's `tnc`: a firewall that drops
// packets would otherwise hang the job step for the OS's whole SYN timeout.
const dialTimeout = 2 * time.Second

// host is the machine an instance runs on, as the engine sees it: its own
// loopback address for the mirroring endpoint, and real TCP to the others.
type host struct {
	address string
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
