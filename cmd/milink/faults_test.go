package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milink/milink/examples"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/tds"
)

// The fault matrix: for every statement a fresh apply of examples/lab sends
// to sql01, a lab that drops the connection there, and one that answers it
// with an error, then a clean re-run; and apply killed (SIGKILL) at a spread
// of points, then a re-run. Each run must end on its own, with the truth:
// exactly one error naming the object the statement was for (or success
// when the failure is one milink legitimately retries), then convergence
// with at most one restart in total and a final plan with no changes.
//
// It is black-box: milink's output and exit codes, and the lab's counters
// and statement log, so that it holds across rewrites of the planner.

// runLimit is a safety net only: a run that reaches it hangs, and fails the
// test. No run needs a timeout to end.
const runLimit = 90 * time.Second

// faultLab is an in-process lab (sql01 and mi01 on their own loopback
// addresses) with its control API, so that `milink lab restart` (sql01's
// restart_command) reaches it; work holds the example configuration.
type faultLab struct {
	lab  *lab.Lab
	work string
}

// newFaultLab starts one; it is stopped at the end of t. Safe to call from
// goroutines of t (it reports errors instead of failing t). withLink keeps
// the example's links (link.milink.hcl): the kill cases take them, the
// statement matrix does not, since every link statement would add two
// labs' worth of runs for what the kill cases and the link's own tests
// already cover.
func newFaultLab(t *testing.T, faults lab.Faults, withLink bool) (*faultLab, error) {
	milink, err := exec.LookPath("milink")
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(scratchDir(), "milink-faults-")
	if err != nil {
		return nil, err
	}
	if err := examples.WriteLab(work); err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	if !withLink {
		if err := os.Remove(filepath.Join(work, "link.milink.hcl")); err != nil {
			os.RemoveAll(work)
			return nil, err
		}
	}
	// Tests running in parallel may pick the same free address; a bind
	// failure just means trying another.
	var last error
	for range 5 {
		addr, err := freeLabAddress()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(work, lab.DefaultDir)
		os.RemoveAll(dir)
		l, err := lab.Open(lab.Config{Dir: dir, Address: addr, RestartDelay: 100 * time.Millisecond,
			Faults: map[string]lab.Faults{lab.SQLServerName: faults}, Executable: milink})
		if err != nil {
			return nil, err
		}
		if last = l.Start(); last != nil {
			l.Close()
			if errors.Is(last, syscall.EADDRINUSE) {
				continue
			}
			return nil, last
		}
		ctl, err := lab.StartControl(l)
		if err != nil {
			l.Close()
			return nil, err
		}
		t.Cleanup(func() {
			ctl.Close()
			l.Close()
			os.RemoveAll(work)
		})
		return &faultLab{lab: l, work: work}, nil
	}
	return nil, fmt.Errorf("no free lab address: %w", last)
}

// scratchDir is where the labs and states of the matrices live: in memory
// where the system offers it. Every lab and state write is fsynced, and
// with a hundred labs at once the file system's journal, not milink, would
// set the pace.
func scratchDir() string {
	if runtime.GOOS == "linux" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			if f, err := os.CreateTemp("/dev/shm", "milink-probe-"); err == nil {
				f.Close()
				os.Remove(f.Name())
				return "/dev/shm"
			}
		}
	}
	return os.TempDir()
}

// startFaultLab is newFaultLab for the test's own goroutine.
func startFaultLab(t *testing.T, faults lab.Faults) *faultLab {
	t.Helper()
	f, err := newFaultLab(t, faults, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *faultLab) sql01() *lab.Instance {
	in, _ := f.lab.Server(lab.SQLServerName)
	return in
}

// result is one finished milink run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout ---\n%s\n--- stderr ---\n%s", r.code, r.stdout, r.stderr)
}

// milinkCmd is milink as a process in the lab's work directory, for the
// kill matrix.
func (f *faultLab) milinkCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "milink", append([]string{"-chdir=" + f.work}, args...)...)
	// The race detector would hold every exit for a second.
	env := []string{"NO_COLOR=1", "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GORACE=") && !strings.HasPrefix(e, "MILINK_LOG") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	return cmd
}

// run runs milink to its end in this process, exactly as the command line
// would (arguments in; output and exit code out), which spares the matrix
// hundreds of process starts. It gives milink no deadline: reaching
// runLimit is an error (it hangs).
func (f *faultLab) run(args ...string) (result, error) {
	var out, errb lockedBuffer
	sio := &stdio{in: strings.NewReader(""), out: &out, err: &errb,
		getenv:  func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] },
		environ: func() []string { return nil }}
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), append([]string{"-chdir=" + f.work}, args...), sio) }()
	select {
	case code := <-done:
		return result{code: code, stdout: out.String(), stderr: errb.String()}, nil
	case <-time.After(runLimit):
		r := result{code: -1, stdout: out.String(), stderr: errb.String()}
		return r, fmt.Errorf("milink %s did not end within %s (it hangs):\n%s", strings.Join(args, " "), runLimit, r)
	}
}

// lockedBuffer is written by milink's goroutines while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// converge checks what every case ends with: a clean re-run of apply
// succeeds (skipped when the faulty run succeeded: the final plan shows
// that), a final plan has nothing to do, and sql01 was restarted at most
// once over all runs.
func (f *faultLab) converge(rerun bool) error {
	if rerun {
		r, err := f.run("apply", "-auto-approve")
		if err != nil {
			return err
		}
		if r.code != 0 {
			return fmt.Errorf("the clean re-run failed:\n%s", r)
		}
	}
	r, err := f.run("plan", "-detailed-exitcode")
	if err != nil {
		return err
	}
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		return fmt.Errorf("the final plan is not empty:\n%s", r)
	}
	if n := f.sql01().Status().Restarts; n > 1 {
		return fmt.Errorf("sql01 was restarted %d times", n)
	}
	return nil
}

// role is what one statement of a clean apply is for.
type role struct {
	text   string
	object string // the object whose step sent it
	change bool   // it changes the server (it may have run when the connection broke)
	// retried: any failure of it is retried by design (the restart's wait
	// for logins).
	retried bool
	// reread: the re-read of a database after its backup.
	reread bool
}

var (
	dbInRead = regexp.MustCompile(`(?:d\.name|database_name) = N'([^']*)'`)
	dbInStmt = regexp.MustCompile(`^(?:ALTER|BACKUP) DATABASE \[([^\]]*)\]`)
)

// roles reads the statement log of a clean apply: the plan's refresh, the
// master key batch, the restart's SELECT 1, the verification's refresh,
// then each database's one batch: recovery model, backup and the re-read of
// its finish time. SET NOCOUNT ON belongs to the batch of the statement
// after it.
func roles(t *testing.T, log []string) []role {
	t.Helper()
	out := make([]role, len(log))
	backedUp := map[string]bool{}
	for n, text := range log {
		r := role{text: text}
		switch {
		case text == "SET NOCOUNT ON", text == "USE [master]":
			// Filled in from the next statement below.
		case strings.Contains(text, "CERTENCODED"):
			// The TDE certificate's export: a read, on sql01's connection.
			r.object = "tde_certificate.payroll"
		case strings.HasPrefix(text, "USE [master]"), strings.Contains(text, "MASTER KEY"):
			r.object, r.change = "master_key.sql01", true
		case text == "SELECT 1":
			r.object, r.retried = "sql_server.sql01", true
		case dbInStmt.MatchString(text):
			db := dbInStmt.FindStringSubmatch(text)[1]
			r.object, r.change = "database."+db, true
			if strings.HasPrefix(text, "BACKUP") {
				backedUp[db] = true
			}
		case dbInRead.MatchString(text):
			db := dbInRead.FindStringSubmatch(text)[1]
			// After its backup, the read of the finish time is in the
			// backup's own batch: it changes the server with it.
			r.object, r.reread, r.change = "database."+db, backedUp[db], backedUp[db]
		default:
			// The refresh batch, at plan time and to verify the restart.
			r.object = "sql_server.sql01"
		}
		out[n] = r
	}
	for n := len(out) - 1; n >= 0; n-- {
		if out[n].object == "" {
			if n+1 >= len(out) {
				t.Fatalf("statement %d (%q) ends the log", n+1, out[n].text)
			}
			next := out[n+1]
			out[n].object, out[n].reread, out[n].change = next.object, next.reread, next.change
		}
	}
	return out
}

// cleanLog runs a fresh apply with no fault and returns sql01's statements.
func cleanLog(t *testing.T) []string {
	f := startFaultLab(t, lab.Faults{})
	if r, err := f.run("apply", "-auto-approve"); err != nil || r.code != 0 {
		t.Fatalf("clean apply: %v\n%s", err, r)
	}
	var log []string
	for _, s := range f.sql01().StatementLog() {
		log = append(log, s.Text)
	}
	if n := f.sql01().Status().Statements; int64(len(log)) != n {
		t.Fatalf("the log has %d statements, the counter %d", len(log), n)
	}
	if len(log) < 20 {
		t.Fatalf("only %d statements in a fresh apply:\n%s", len(log), strings.Join(log, "\n"))
	}
	return log
}

var errorLine = regexp.MustCompile(`(?m)^Error: .*$`)

// checkFailure: the run failed once, naming object, in milink's words.
func checkFailure(r result, object string) error {
	errs := errorLine.FindAllString(r.stderr, -1)
	if r.code != 1 || len(errs) != 1 {
		return fmt.Errorf("want exit 1 with exactly one error:\n%s", r)
	}
	if !strings.Contains(errs[0], object) {
		return fmt.Errorf("the error does not name %s:\n%s", object, r)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, ": failed after ") && !strings.HasPrefix(line, object+":") {
			return fmt.Errorf("another object failed:\n%s", r)
		}
	}
	for _, raw := range []string{"driver: bad connection", "Read: EOF", "context canceled", "panic"} {
		if strings.Contains(r.stdout+r.stderr, raw) {
			return fmt.Errorf("raw %q in the output:\n%s", raw, r)
		}
	}
	return nil
}

// faultCase injects one fault at statement n (1-based) of a fresh lab,
// applies, and checks the outcome against what the statement is for.
func faultCase(t *testing.T, kind string, n int, r role) error {
	faults := lab.Faults{DropAt: int64(n)}
	if kind == "error" {
		faults = lab.Faults{ErrorAt: int64(n)}
	}
	f, err := newFaultLab(t, faults, false)
	if err != nil {
		return err
	}
	got, err := f.run("apply", "-auto-approve")
	if err != nil {
		return err
	}
	// The fault must have hit the statement the clean run sent there, or
	// the role says nothing about this case.
	if f.sql01().Faults() != (lab.Faults{}) {
		return fmt.Errorf("the fault at statement %d (%q) never fired:\n%s", n, r.text, got)
	}
	legit := r.retried || kind == "drop" && !r.change
	switch {
	case legit:
		if got.code != 0 {
			return fmt.Errorf("%s on %q (%s) is retried, want success:\n%s", kind, r.text, r.object, got)
		}
	default:
		if err := checkFailure(got, r.object); err != nil {
			return fmt.Errorf("%s on %q: %w", kind, r.text, err)
		}
	}
	return f.converge(got.code != 0)
}

// TestFaultMatrix runs, for every statement index, its two cases (drop,
// error) at once on two labs, and the indexes in parallel: the cases wait
// on milink far more than they use the CPU.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs milink a few hundred times")
	}
	log := cleanLog(t)
	rs := roles(t, log)
	for n, r := range rs {
		t.Run(fmt.Sprintf("at=%d", n+1), func(t *testing.T) {
			t.Parallel()
			kinds := []string{"drop", "error"}
			errs := make([]error, len(kinds))
			var wg sync.WaitGroup
			for k, kind := range kinds {
				wg.Go(func() { errs[k] = faultCase(t, kind, n+1, r) })
			}
			wg.Wait()
			for k, err := range errs {
				if err != nil {
					t.Errorf("%s-at=%d (%s, %q): %v", kinds[k], n+1, r.object, r.text, err)
				}
			}
		})
	}
}

// killPoints are the progress lines of apply after which it is killed:
// the first step, the master key, the startup settings, around and during
// the restart, the verification, a recovery model change, mid-backup, the
// last database, then the link's steps: its trust certificate, endpoint,
// availability groups, distributed ones, and the link's PUT and wait
// (lanes run side by side, so the points are near those steps, not on
// them exactly).
var killPoints = []int{1, 2, 4, 6, 7, 8, 9, 11, 13, 15, 20, 33, 50, 67, 86, 89, 95, 98, 101, 103, 107}

// killCase kills apply (SIGKILL) after k progress lines, then re-runs.
func killCase(t *testing.T, k int) error {
	f, err := newFaultLab(t, lab.Faults{}, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := f.milinkCmd(ctx, "apply", "-auto-approve")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return err
	}
	var seen []string
	killed, applying, progress := false, false, 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if strings.HasPrefix(line, "Plan: ") {
			applying = true
			continue
		}
		if !applying || !strings.Contains(line, ": ") {
			continue
		}
		progress++
		if progress == k && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				return err
			}
		}
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("apply did not end within %s:\n%s", runLimit, strings.Join(seen, "\n"))
	}
	if !killed {
		return fmt.Errorf("apply ended (%v) before %d progress lines:\n%s\n%s", werr, k, strings.Join(seen, "\n"), errb.String())
	}
	// A restart the killed apply started goes on without it, as with
	// systemd; a user re-running later would find the server back, too.
	// The restart command, started just before the kill, may not have
	// reached the lab yet: wait until sql01 has been running for a while
	// (longer than it takes to start the command), as a user re-running
	// later would find it.
	deadline := time.Now().Add(30 * time.Second)
	var runningSince time.Time
	for {
		state, _ := f.sql01().State()
		switch {
		case state != lab.StateRunning:
			runningSince = time.Time{}
		case runningSince.IsZero():
			runningSince = time.Now()
		case time.Since(runningSince) > time.Second:
			return f.converge(true)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sql01 is %s 30s after the kill", state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKillMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill matrix runs milink many times")
	}
	for _, k := range killPoints {
		t.Run(fmt.Sprintf("after-%d", k), func(t *testing.T) {
			t.Parallel()
			if err := killCase(t, k); err != nil {
				t.Error(err)
			}
		})
	}
}

// Ctrl-C while BACKUP runs: the backup is left to finish, as the restart
// is; the state records it; nothing new is sent; the re-run does the rest.
// The lab holds the backup until milink has acknowledged the interrupt, so
// the interrupt lands inside it every time.
func TestInterruptDuringBackup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no SIGINT to send to a process")
	}
	f := startFaultLab(t, lab.Faults{})
	started, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // before the lab stops, even if the test fails early
	f.sql01().Engine().SetStatementHook(func(_ int64, stmt string) (bool, *tds.Message) {
		if strings.HasPrefix(stmt, "BACKUP DATABASE [sales]") {
			once.Do(func() { close(started) })
			<-release
		}
		return false, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := f.milinkCmd(ctx, "apply", "-auto-approve")
	var out lockedBuffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errLines []string
	acknowledged := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLines = append(errLines, sc.Text())
			if strings.HasPrefix(sc.Text(), "Interrupt received") {
				close(acknowledged)
			}
		}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatalf("the backup of sales never started:\n%s", out.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acknowledged:
	case <-ctx.Done():
		t.Fatalf("milink did not acknowledge the interrupt:\n%s", out.String())
	}
	letGo()
	<-scanned
	werr := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("apply did not end within %s", runLimit)
	}
	r := result{stdout: out.String(), stderr: strings.Join(errLines, "\n")}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1 (%v):\n%s", werr, r)
	}
	for _, want := range []string{"database.sales: BACKUP DATABASE successfully processed", "database.sales: Modifications complete"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "Interrupted: stopped before database.inventory: the run was interrupted") ||
		strings.Contains(r.stderr, "context canceled") || strings.Contains(r.stdout, "database.inventory: Modifying") ||
		strings.Contains(r.stdout, "database.payroll: Modifying") {
		t.Errorf("the interruption is not reported as it happened:\n%s", r)
	}
	// Nothing was sent after the backup's own batch (the backup, then the
	// read of its finish time).
	var sent []string
	for _, s := range f.sql01().StatementLog() {
		sent = append(sent, s.Text)
	}
	backup := -1
	for n, text := range sent {
		if strings.HasPrefix(text, "BACKUP DATABASE [sales]") {
			backup = n
		}
	}
	for _, text := range sent[backup+1:] {
		if backup < 0 || (text != "SET NOCOUNT ON" && !strings.Contains(text, "N'sales'")) {
			t.Errorf("statements after the interrupted backup:\n%s", strings.Join(sent, "\n"))
			break
		}
	}
	list, err := f.run("state", "list")
	if err != nil || !strings.Contains(list.stdout, "database.sales") || strings.Contains(list.stdout, "database.inventory") {
		t.Errorf("state list: %v\n%s", err, list)
	}
	r2, err := f.run("apply", "-auto-approve")
	if err != nil || r2.code != 0 || !strings.Contains(r2.stdout, "Apply complete! Resources: 0 added, 2 changed, 0 destroyed, 0 restarts.") {
		t.Fatalf("the re-run: %v\n%s", err, r2)
	}
	if err := f.converge(false); err != nil {
		t.Fatal(err)
	}
}
