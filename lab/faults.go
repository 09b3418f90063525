package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/milink/milink/lab/tds"
)

// Faults are what can go wrong on purpose with one server, for tests and
// benchmarks. Set them at start (Config.Faults) or at run time
// (Instance.SetFaults, `milink lab fault`).
type Faults struct {
	// Latency is added before every round trip: each batch or RPC, and
	// each of a login's (the TCP handshake, PRELOGIN, LOGIN7; see
	// tds.Options.LoginLatency), as a server that far away would cost.
	// Benchmarks of fleets, where logins are a good part of the work,
	// would be optimistic otherwise.
	Latency time.Duration `json:"latency"`
	// DropAt > 0 drops the connection when the server is about to run its
	// DropAt-th statement counted from when the fault was set. It fires once.
	DropAt int64 `json:"drop_at"`
	// ErrorAt > 0 fails the ErrorAt-th statement counted from when the
	// fault was set with error 50000. It fires once.
	ErrorAt int64 `json:"error_at"`
	// RestartHangs makes the next restart stop the server and never bring
	// it back (until the fault is cleared and the server restarted again).
	RestartHangs bool `json:"restart_hangs"`
}

// faultState is an instance's armed faults. The Nth-statement faults are
// kept as absolute positions on the instance's own statement count so that
// arming one does not move the other.
type faultState struct {
	latency      time.Duration
	restartHangs bool
	seen         int64 // statements seen by the hook since the process started
	dropAt       int64 // absolute; 0 = not armed
	errorAt      int64
}

func (f *faultState) set(v Faults) {
	f.latency = v.Latency
	f.restartHangs = v.RestartHangs
	f.dropAt, f.errorAt = 0, 0
	if v.DropAt > 0 {
		f.dropAt = f.seen + v.DropAt
	}
	if v.ErrorAt > 0 {
		f.errorAt = f.seen + v.ErrorAt
	}
}

func (f *faultState) get() Faults {
	v := Faults{Latency: f.latency, RestartHangs: f.restartHangs}
	if f.dropAt > 0 {
		v.DropAt = f.dropAt - f.seen
	}
	if f.errorAt > 0 {
		v.ErrorAt = f.errorAt - f.seen
	}
	return v
}

// statement is called before each statement; it reports what to do to it.
func (f *faultState) statement() (drop bool, fail *tds.Message) {
	f.seen++
	if f.dropAt > 0 && f.seen == f.dropAt {
		f.dropAt = 0
		return true, nil
	}
	if f.errorAt > 0 && f.seen == f.errorAt {
		f.errorAt = 0
		return false, &tds.Message{
			Number: 50000, Class: 16, State: 1,
			Text: fmt.Sprintf("milink lab: injected error on statement %d.", f.seen),
		}
	}
	return false, nil
}

// latencyHandler wraps the engine's handler so that every batch and RPC
// waits first, as if the server were far away. The login's round trips wait
// in package tds (Options.LoginLatency), which alone sees them.
type latencyHandler struct {
	inner   tds.Handler
	latency func() time.Duration
}

func (h latencyHandler) Login(ctx context.Context, req tds.LoginRequest) (tds.Session, *tds.Message) {
	s, m := h.inner.Login(ctx, req)
	if s == nil {
		return nil, m
	}
	return latencySession{Session: s, latency: h.latency}, m
}

type latencySession struct {
	tds.Session
	latency func() time.Duration
}

func (s latencySession) wait(ctx context.Context) {
	d := s.latency()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s latencySession) Batch(ctx context.Context, sql string, w tds.ResponseWriter) {
	s.wait(ctx)
	s.Session.Batch(ctx, sql, w)
}

func (s latencySession) RPC(ctx context.Context, proc string, params []tds.Param, w tds.ResponseWriter) {
	s.wait(ctx)
	s.Session.RPC(ctx, proc, params, w)
}

// Transact forwards transaction manager requests (after the latency, as
// they are round trips too); without it the wrapper would hide the
// engine's tds.Transactor.
func (s latencySession) Transact(ctx context.Context, req tds.TMRequest, w tds.ResponseWriter) {
	tx, ok := s.Session.(tds.Transactor)
	if !ok {
		_ = w.Error(tds.Message{Number: 50000, State: 1, Class: 16, Text: "Transaction manager requests are not supported by this server."})
		return
	}
	s.wait(ctx)
	tx.Transact(ctx, req, w)
}

// ResetSession forwards a connection reset to the engine's tds.Resetter.
func (s latencySession) ResetSession(keepTransaction bool) {
	if r, ok := s.Session.(tds.Resetter); ok {
		r.ResetSession(keepTransaction)
	}
}
