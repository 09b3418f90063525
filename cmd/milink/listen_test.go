package main

import (
	"net"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdListen holds a TCP port for the rest of the script, as another
// process would: listen ADDRESS PORT.
func cmdListen(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: listen ADDRESS PORT")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(args[0], args[1]))
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
