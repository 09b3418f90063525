package lab

import (
	"net"
	"strconv"
)

// LinkPort is the port the managed instance's side of the link listens on.
const LinkPort = 5022

// listenLinkPort opens mi01's port 5022, as the real managed instance's
// link endpoint is always there: SQL Server's side of a connectivity check
// (tnc FQDN -port 5022) then finds it. Like the mirroring endpoint's
// listener it accepts and closes connections, and speaks no protocol. It is
// best effort: a port taken on the managed instance's address only makes
// that check fail, as a blocked path would, and is logged.
func (in *Instance) listenLinkPort() net.Listener {
	if in.cfg.Kind != KindManagedInstance {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(in.cfg.Address, strconv.Itoa(LinkPort)))
	if err != nil {
		in.cfg.Logf("%s: the link's port %d cannot listen: %v", in.cfg.Name, LinkPort, err)
		return nil
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
	return ln
}
