// Package labtest starts the lab for other packages' tests: the whole lab
// (sql01, mi01 and its Azure) in-process on a random loopback address, or
// one engine behind a TDS listener. Tests of several packages run at once,
// so each lab takes its own 127.X.Y.2 and .3 (never 127.0.0.2, a person's
// lab).
package labtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/engine"
	"github.com/milink/milink/lab/tds"
)

// Start opens and starts a lab in a temporary directory, on a random
// loopback address (cfg's Dir and Address are set here; RestartDelay
// defaults to 200 ms), and stops it when t ends.
func Start(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	if cfg.RestartDelay == 0 {
		cfg.RestartDelay = 200 * time.Millisecond
	}
	for range 10 {
		cfg.Dir = t.TempDir()
		cfg.Address = fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250))
		l, err := lab.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Start(); err != nil {
			l.Close()
			if strings.Contains(err.Error(), "address already in use") {
				continue // another test's lab took it: take another
			}
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	t.Fatal("could not start a lab: addresses kept being taken")
	return nil
}

// Serve serves a started engine over TDS on a free port of 127.0.0.1 as
// the server name, and stops both when t ends. It returns the port.
func Serve(t testing.TB, inst *engine.Instance, serverName string) int {
	t.Helper()
	srv := tds.NewServer(inst.Handler(), tds.Options{ServerName: serverName})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); inst.Stop() })
	return ln.Addr().(*net.TCPAddr).Port
}
