package lab

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestFaultStateNthStatement(t *testing.T) {
	var f faultState
	f.statement() // statements before arming do not count
	f.set(Faults{DropAt: 3, ErrorAt: 2})
	type got struct {
		drop bool
		err  bool
	}
	want := []got{{}, {err: true}, {drop: true}, {}, {}}
	for i, w := range want {
		drop, msg := f.statement()
		if drop != w.drop || (msg != nil) != w.err {
			t.Fatalf("statement %d: drop=%v msg=%v, want %+v", i+1, drop, msg, w)
		}
		if msg != nil && (msg.Number != 50000 || msg.Class != 16) {
			t.Fatalf("injected error is %+v, want 50000 class 16", msg)
		}
	}
	if g := f.get(); g.DropAt != 0 || g.ErrorAt != 0 {
		t.Fatalf("faults fire once; still armed: %+v", g)
	}
}

func TestFaultStateGetCountsDown(t *testing.T) {
	var f faultState
	f.set(Faults{ErrorAt: 5, Latency: time.Second, RestartHangs: true})
	f.statement()
	f.statement()
	if g := f.get(); g.ErrorAt != 3 || g.Latency != time.Second || !g.RestartHangs {
		t.Fatalf("got %+v", g)
	}
}

func TestHostListenAndDial(t *testing.T) {
	h := host{address: "127.0.0.1"}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	c, err := h.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Dial(t.Context(), "127.0.0.1", port) {
		t.Fatal("dial to a listening endpoint failed")
	}
	if _, err := h.Listen(port); err == nil {
		t.Fatal("second listen on the same port succeeded")
	}
	c.Close()
	if h.Dial(t.Context(), "127.0.0.1", port) {
		t.Fatal("dial succeeded after the endpoint closed on port " + strconv.Itoa(port))
	}
}
