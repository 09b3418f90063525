package labcmd

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the "sqlserver" driver, to check the lab accepts logins

	"github.com/milink/milink/lab"
)

func up(ctx context.Context, o *labOptions, timeout time.Duration, stdout io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab directory: %w", err)
	}
	if _, err := lab.Connect(dir); err == nil {
		f, err := lab.ReadFile(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "The lab in %s is already up (flags of this command are ignored; \"milink lab down\" first to change them).\n\n", dir)
		summary(stdout, dir, f)
		return nil
	} else if !errors.Is(err, lab.ErrNotRunning) {
		return err
	}
	// A control.json left by a lab that died would fool the wait below.
	if err := os.Remove(lab.ControlPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the milink executable: %w", err)
	}
	logPath := filepath.Join(dir, "lab.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("lab log: %w", err)
	}
	cmd := exec.Command(exe, o.serveArgs(dir)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	detach(cmd)
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		return fmt.Errorf("start the lab process: %w", err)
	}
	// Reap the child if it exits while we still run (tests run "up"
	// in-process); once we exit, init adopts it.
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	pid := cmd.Process.Pid

	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	fail := func(what string) error {
		stopStarted(dir, cmd.Process)
		msg := lastLine(logPath)
		if msg != "" {
			return fmt.Errorf("%s: %s (see %s)", what, msg, logPath)
		}
		return fmt.Errorf("%s (see %s)", what, logPath)
	}
	for {
		c, err := lab.Connect(dir)
		if err == nil && c.PID() == pid {
			break
		}
		select {
		case <-exited:
			return fail("the lab process exited")
		case <-ctx.Done():
			return fail(fmt.Sprintf("the lab did not start within %s", timeout))
		case <-time.After(50 * time.Millisecond):
		}
	}
	f, err := lab.ReadFile(dir)
	if err != nil {
		return fail("read lab.json")
	}
	for _, s := range f.Servers {
		for {
			err := checkLogin(ctx, s)
			if err == nil {
				break
			}
			select {
			case <-exited:
				return fail("the lab process exited")
			case <-ctx.Done():
				return fail(fmt.Sprintf("%s did not accept a login within %s: %v", s.Name, timeout, err))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// Armed only now, through the control API: up's own login checks must
	// not use up a drop-at or error-at.
	var armedLines []string
	if len(o.faults) > 0 {
		c, err := lab.Connect(dir)
		if err != nil {
			return fail("reach the lab to arm its faults")
		}
		for _, s := range f.Servers {
			ch, ok := o.faults[s.Name]
			if !ok {
				continue
			}
			armed, err := c.SetFaults(ctx, s.Name, ch)
			if err != nil {
				return fail(fmt.Sprintf("arm the faults of %s: %v", s.Name, err))
			}
			armedLines = append(armedLines, fmt.Sprintf("  %s faults: %s\n", s.Name, describeFaults(armed)))
		}
	}
	if o.azureSet {
		c, err := lab.Connect(dir)
		if err != nil {
			return fail("reach the lab to arm its faults")
		}
		armed, err := c.SetAzureFaults(ctx, o.azureFaults)
		if err != nil {
			return fail(fmt.Sprintf("arm the faults of %s: %v", azureName, err))
		}
		armedLines = append(armedLines, fmt.Sprintf("  %s faults: %s\n", azureName, describeAzureFaults(armed)))
	}
	fmt.Fprintf(stdout, "The lab is up in %s.\n\n", dir)
	for _, l := range armedLines {
		fmt.Fprint(stdout, l)
	}
	summary(stdout, dir, f)
	return nil
}

// stopStarted stops the lab process p that up started and gives up on:
// through the control API when the lab has opened it, the way "down" does
// on every OS (the lab closes its servers and removes control.json), and
// only otherwise by terminating the process.
func stopStarted(dir string, p *os.Process) {
	if c, err := lab.Connect(dir); err == nil && c.PID() == p.Pid {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c.Down(ctx) == nil {
			return
		}
	}
	_ = terminate(p)
}

// checkLogin logs in with go-mssqldb, as milink will, and runs SELECT 1.
func checkLogin(ctx context.Context, s lab.ServerInfo) error {
	db, err := sql.Open("sqlserver", connString(s))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

// connString is a go-mssqldb URL for a lab server (encrypt=disable: the lab
// has no TLS certificate to offer).
func connString(s lab.ServerInfo) string {
	q := url.Values{}
	q.Set("encrypt", "disable")
	q.Set("dial timeout", "2")
	q.Set("connection timeout", "5")
	u := url.URL{
		Scheme:   "sqlserver",
		User:     url.UserPassword(s.User, s.Password),
		Host:     net.JoinHostPort(s.Address, strconv.Itoa(s.Port)),
		RawQuery: q.Encode(),
	}
	return u.String()
}

func summary(w io.Writer, dir string, f lab.File) {
	for _, s := range f.Servers {
		what := "SQL Server, profile " + s.Profile
		if s.Kind == lab.KindManagedInstance {
			what = "Azure SQL Managed Instance"
		}
		fmt.Fprintf(w, "  %-6s %-40s %s:%d\n", s.Name, what, s.Address, s.Port)
		switch {
		case s.MSSQLConf != "":
			fmt.Fprintf(w, "         mssql.conf: %s\n", s.MSSQLConf)
		case s.RegistryFile != "":
			fmt.Fprintf(w, "         registry:   %s\n", s.RegistryFile)
		}
	}
	if f.Azure != nil {
		fmt.Fprintf(w, "  %-6s %-40s %s\n", azureName, "Azure (Entra, Resource Manager)", f.Azure.ResourceManager)
		fmt.Fprintf(w, "         CA file:    %s\n", f.Azure.CAFile)
	}
	fmt.Fprintf(w, `
Log in as sa; the password and everything else a milink configuration needs
is in %s.
  milink lab status          counters (logins, round trips, changes)
  milink lab restart sql01   restart a server (re-reads its mssql.conf)
  milink lab down            stop the lab (its data stays in %s)
`, lab.FilePath(dir), dir)
}

// lastLine is the last non-empty line of a file, for error messages.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}
