package labcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/arm"
	"github.com/milink/milink/lab/engine"
)

// labOptions are the flags of up and serve.
type labOptions struct {
	dir          string
	profile      string
	address      string
	port         int
	latency      time.Duration
	restartDelay time.Duration
	faults       faultFlags // per server; up arms them once the lab accepts logins
	azureFaults  arm.FaultChange
	azureSet     bool     // -fault arm:... was given
	tls          tlsFlags // per server; unset ones keep lab.json's setting
	windowsAuth  string   // a WindowsAuth file for sql01
	instance     string   // sql01 as a named instance (Windows profiles)
	linkSpeed    float64  // the link clock against real time; 0 stops it
}

func (o *labOptions) declare(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "dir", lab.DefaultDir, "the lab `directory`")
	fs.StringVar(&o.profile, "profile", "", "sql01's version `profile` (see \"milink lab profiles\"; default "+engine.DefaultProfile+", or as the lab was created)")
	fs.StringVar(&o.address, "address", "", "sql01's loopback `address`; mi01 gets the next one (default "+lab.DefaultAddress+", or as last time)")
	fs.IntVar(&o.port, "port", 0, "the TDS `port` of both servers (default 1433, or as last time)")
	fs.DurationVar(&o.latency, "latency", 0, "`delay` added to every round trip on every server (fault injection)")
	fs.DurationVar(&o.restartDelay, "restart-delay", lab.DefaultRestartDelay, "how long a restarting server refuses logins")
	fs.Var(faultFlag{servers: &o.faults, azure: &o.azureFaults, set: &o.azureSet}, "fault", "arm one server's faults at start, `NAME:KEY=VALUE[,...]` with keys latency, drop-at, error-at,\nrestart-hangs (e.g. sql01:drop-at=3,latency=20ms); repeatable; overrides -latency for that server.\nNAME arm is the lab's Azure, keys throttle, retry-after, server-error, fail-operation[=CODE], expired-tokens")
	fs.Float64Var(&o.linkSpeed, "link-speed", 1, "how fast the managed instance link's clock runs against real time (seeding, catching up);\n0 stops it, so that only \"milink lab link advance\" moves it (tests)")
	fs.StringVar(&o.instance, "instance", "", "make sql01 (a Windows profile) the named instance `NAME`, found through a SQL Server Browser on\nUDP port 1434 of its address (default: the default instance, or as the lab was created)")
	fs.StringVar(&o.windowsAuth, "windows-auth", "", "sql01 accepts Windows authentication as a member of the domain this JSON `file` describes:\n{\"domain\": \"MILINK\", \"realm\": \"MILINK.TEST\", \"keytab\": \"sql01.keytab\" (a KDC's, for MSSQLSvc/ADDRESS:PORT),\n\"logins\": [\"MILINK\\\\dba\"] (sysadmins), \"ntlm_users\": {\"dba\": \"password\"}}; default as last time")
	fs.Var(&o.tls, "tls", "one server's encryption, `NAME:SETTING[,...]`: on (default: a self-signed certificate in the lab\ndirectory, encryption offered), force (Force Encryption), off (no certificate: the server cannot\nencrypt), cert=FILE,key=FILE (use this certificate); repeatable; default as last time")
}

// serveArgs are the flags that pass o on to `milink lab serve`. Unset ones
// are left out so that the lab keeps what it was created with.
func (o *labOptions) serveArgs(dir string) []string {
	args := []string{"lab", "serve", "-dir", dir}
	if o.profile != "" {
		args = append(args, "-profile", o.profile)
	}
	if o.address != "" {
		args = append(args, "-address", o.address)
	}
	if o.port != 0 {
		args = append(args, "-port", fmt.Sprint(o.port))
	}
	if o.latency != 0 {
		args = append(args, "-latency", o.latency.String())
	}
	args = append(args, "-restart-delay", o.restartDelay.String())
	if o.linkSpeed != 1 {
		args = append(args, "-link-speed", fmt.Sprint(o.linkSpeed))
	}
	if o.instance != "" {
		args = append(args, "-instance", o.instance)
	}
	if o.windowsAuth != "" {
		abs, err := filepath.Abs(o.windowsAuth)
		if err != nil {
			abs = o.windowsAuth
		}
		args = append(args, "-windows-auth", abs)
	}
	return append(args, o.tls.args()...)
}

// validate rejects flag values that are wrong in themselves (an unknown
// profile, a non-loopback address, a negative delay), whether or not the lab
// is already up.
func (o *labOptions) validate() error {
	if o.latency < 0 {
		return fmt.Errorf("latency %s is negative", o.latency)
	}
	if o.linkSpeed < 0 {
		return fmt.Errorf("link speed %g is negative; 0 stops the link clock", o.linkSpeed)
	}
	return lab.ValidateConfig(o.config(nil))
}

func (o *labOptions) config(logf func(string, ...any)) lab.Config {
	cfg := lab.Config{
		Dir: o.dir, Profile: o.profile, Address: o.address, Port: o.port,
		RestartDelay: o.restartDelay, Logf: logf, WindowsAuth: o.windowsAuth, Instance: o.instance,
		LinkSpeed: o.linkSpeed,
	}
	if o.linkSpeed == 0 {
		cfg.LinkSpeed = -1 // lab.Config: negative stops the clock
	}
	if len(o.tls) > 0 {
		cfg.TLS = map[string]lab.TLS(o.tls)
	}
	if o.latency > 0 || len(o.faults) > 0 {
		cfg.Faults = map[string]lab.Faults{}
		for _, n := range []string{lab.SQLServerName, lab.ManagedInstanceName} {
			cfg.Faults[n] = startFaults(lab.Faults{Latency: o.latency}, o.faults[n])
		}
	}
	return cfg
}

// startFaults is f changed by the -fault flags of one server.
func startFaults(f lab.Faults, ch lab.FaultChange) lab.Faults {
	if ch.Latency != nil {
		f.Latency = *ch.Latency
	}
	if ch.DropAt != nil {
		f.DropAt = *ch.DropAt
	}
	if ch.ErrorAt != nil {
		f.ErrorAt = *ch.ErrorAt
	}
	if ch.RestartHangs != nil {
		f.RestartHangs = *ch.RestartHangs
	}
	return f
}

func noArgs(fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("unexpected argument %q", args[0])
	}
	return nil
}

func oneName(fs *flag.FlagSet, args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError("want exactly one server name (%s or %s)", lab.SQLServerName, lab.ManagedInstanceName)
	}
	return args[0], nil
}

// connect finds the running lab, or says clearly that there is none.
func connect(dir string) (*lab.Client, error) {
	c, err := lab.Connect(dir)
	if errors.Is(err, lab.ErrNotRunning) {
		abs, _ := filepath.Abs(dir)
		return nil, fmt.Errorf("the lab in %s is not running (start it with \"milink lab up\")", abs)
	}
	return c, err
}

func upCommand() *command {
	var o labOptions
	var timeout time.Duration
	return &command{
		name: "up", usage: "[flags]", summary: "start the lab in the background and wait until it accepts logins",
		help: `Starts the lab's servers in a background process ("milink lab serve", its
output in DIR/lab.log) and returns when every server accepts a login:

  sql01  a SQL Server (profile 2019-cu22-linux unless -profile), on 127.0.0.2:1433
  mi01   an Azure SQL Managed Instance, on the next address (127.0.0.3:1433)

Both log in as sa with a generated password kept in DIR/lab.json (mode 0600),
which also describes the servers for a milink configuration. Data (catalogue,
backups, counters) stays in DIR across restarts and "down"/"up". If the lab is
already up, says so and changes nothing (its flags are still checked: a
wrong one is an error).

-fault arms faults on one server, e.g. -fault sql01:drop-at=3 -fault
mi01:restart-hangs; "up" arms them once every server has accepted its login
check, so drop-at and error-at count the statements of the first clients.
"milink lab fault" changes them later.`,
		flags: func(fs *flag.FlagSet) {
			o.declare(fs)
			fs.DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the servers to accept logins")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			return up(ctx, &o, timeout, stdout)
		},
	}
}

func serveCommand() *command {
	var o labOptions
	return &command{
		name: "serve", usage: "[flags]", summary: "run the lab in the foreground (what \"up\" starts)",
		help: `Runs the lab in the foreground until interrupted or "milink lab down".
"milink lab up" starts this in the background; run it yourself to watch the log.`,
		flags: o.declare,
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			logger := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
			// SIGTERM is also how Go reports a closed console, a logoff or a
			// shutdown on Windows; "up" detaches the lab from both, and
			// "down" stops it through the control API on every OS.
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return lab.Run(ctx, o.config(logger.Printf))
		},
	}
}

func downCommand() *command {
	var dir string
	var timeout time.Duration
	return &command{
		name: "down", usage: "[flags]", summary: "stop the lab (its data stays)",
		help: `Stops the lab's background process and waits until it has exited, so that
nothing of the lab is left running. Its data stays in the lab directory; the
next "milink lab up" continues with it. Stopping a lab that is not running
is not an error.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the process to exit")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			c, err := lab.Connect(abs)
			if errors.Is(err, lab.ErrNotRunning) {
				fmt.Fprintf(stdout, "The lab in %s is not running.\n", abs)
				return nil
			}
			if err != nil {
				return err
			}
			if err := c.Down(ctx); err != nil {
				return err
			}
			if err := waitExit(ctx, c.PID(), timeout); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "The lab is down. Its data stays in %s.\n", abs)
			return nil
		},
	}
}

func statusCommand() *command {
	var dir string
	var asJSON bool
	return &command{
		name: "status", usage: "[-json] [flags]", summary: "show the servers and their counters",
		help: `Shows each server's state and its counters since the lab was created:
restarts, logins, round trips (batches + RPCs), statements, and changes
(statements that changed the catalogue or the configuration).`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.BoolVar(&asJSON, "json", false, "print JSON: {\"servers\": [{\"name\", \"kind\", \"restarts\", \"logins\", \"round_trips\", \"statements\", \"changes\", ...}]}")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			c, err := connect(dir)
			if err != nil {
				return err
			}
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(stdout, st)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tPROFILE\tADDRESS\tSTATE\tRESTARTS\tLOGINS\tROUND TRIPS\tSTATEMENTS\tCHANGES")
			for _, s := range st.Servers {
				state := s.State
				if s.Error != "" {
					state += " (" + s.Error + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\t%s\t%d\t%d\t%d\t%d\t%d\n", s.Name, s.Kind, s.Profile, s.Address, s.Port,
					state, s.Restarts, s.Logins, s.RoundTrips, s.Statements, s.Changes)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			printAzureStatus(stdout, st.Azure)
			return nil
		},
	}
}

func restartCommand() *command {
	var dir string
	var timeout time.Duration
	return &command{
		name: "restart", usage: "[flags] NAME", summary: "restart one server (it re-reads mssql.conf)",
		help: `Restarts one server like "systemctl restart mssql-server": all connections
drop, logins are refused for the restart delay, then the server starts again
with the HADR and trace flag settings of its mssql.conf (Windows profiles:
its simulated registry). Returns when it accepts logins again, or at once if
the fault -restart-hangs is set (then it stays down). A restart once begun
finishes even if this command stops waiting (-timeout, interrupted), as with
systemd. This is the restart_command in lab.json.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the restart")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			name, err := oneName(fs, args)
			if err != nil {
				return err
			}
			c, err := connect(dir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			r, err := c.Restart(ctx, name)
			if err != nil && ctx.Err() != nil {
				// The lab finishes a restart it began whether or not we wait.
				return fmt.Errorf("stopped waiting for %s (%v); it is still restarting in the lab (see \"milink lab status\")", name, context.Cause(ctx))
			}
			if err != nil {
				return err
			}
			if r.Hung {
				fmt.Fprintf(stderr, "%s stopped and will not come back: the fault -restart-hangs is set (\"milink lab fault %s -clear\", then restart it again).\n", name, name)
				return nil
			}
			fmt.Fprintf(stdout, "%s restarted and accepts logins again.\n", name)
			return nil
		},
	}
}

func faultCommand() *command {
	var dir string
	var latency time.Duration
	var dropAt, errorAt int64
	var hangs, clear bool
	var az azureFaultFlags
	return &command{
		name: "fault", usage: "NAME [-latency D] [-drop-at N] [-error-at N] [-restart-hangs] [-clear]\n       milink lab fault arm [-throttle N] [-retry-after S] [-server-error N] [-fail-operation CODE] [-expired-tokens N] [-clear]", summary: "inject faults into a running server or the lab's Azure",
		help: `Changes the faults of one running server (sql01 or mi01); flags not given
stay as they are. -drop-at and -error-at count statements from now and fire
once; the injected error is number 50000, severity 16. -restart-hangs makes
the next restart stop the server for good (clear it, then restart again).
-latency 0 turns the latency off. Prints the faults now armed.

NAME arm is the lab's Azure: -throttle N answers the next N Resource Manager
requests with 429 TooManyRequests and Retry-After (-retry-after, default 1 s);
-server-error N answers them with 500 InternalServerError; -fail-operation
CODE makes the next long-running operation (rule PUT or DELETE,
tdeCertificates) fail asynchronously with that code, without the change;
-expired-tokens N issues the next N access tokens already expired, which
Resource Manager refuses with 401 ExpiredAuthenticationToken.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.DurationVar(&latency, "latency", 0, "`delay` before every round trip (batch or RPC)")
			fs.Int64Var(&dropAt, "drop-at", 0, "drop the connection on the `N`th statement from now")
			fs.Int64Var(&errorAt, "error-at", 0, "fail the `N`th statement from now")
			fs.BoolVar(&hangs, "restart-hangs", false, "the next restart never comes back (-restart-hangs=false to unset)")
			fs.BoolVar(&clear, "clear", false, "clear all faults first")
			az.declare(fs)
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			name, err := oneName(fs, args)
			if err != nil {
				return err
			}
			if name == azureName {
				return azureFault(ctx, fs, dir, &az, clear, stdout)
			}
			ch := lab.FaultChange{Clear: clear}
			var set bool
			var wrong string
			fs.Visit(func(f *flag.Flag) {
				set = set || f.Name != "dir"
				if azureFaultFlagNames[f.Name] {
					wrong = f.Name
				}
				switch f.Name {
				case "latency":
					ch.Latency = &latency
				case "drop-at":
					ch.DropAt = &dropAt
				case "error-at":
					ch.ErrorAt = &errorAt
				case "restart-hangs":
					ch.RestartHangs = &hangs
				}
			})
			if wrong != "" {
				return usageError("-%s is a fault of arm (the lab's Azure), not of a server", wrong)
			}
			if !set {
				return usageError("give at least one fault flag")
			}
			if latency < 0 || dropAt < 0 || errorAt < 0 {
				return usageError("fault values cannot be negative")
			}
			c, err := connect(dir)
			if err != nil {
				return err
			}
			f, err := c.SetFaults(ctx, name, ch)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s faults: %s\n", name, describeFaults(f))
			return nil
		},
	}
}

func describeFaults(f lab.Faults) string {
	var p []string
	if f.Latency > 0 {
		p = append(p, "latency "+f.Latency.String())
	}
	if f.DropAt > 0 {
		p = append(p, fmt.Sprintf("drop the connection at statement %d from now", f.DropAt))
	}
	if f.ErrorAt > 0 {
		p = append(p, fmt.Sprintf("error at statement %d from now", f.ErrorAt))
	}
	if f.RestartHangs {
		p = append(p, "the next restart hangs")
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ", ")
}

func logCommand() *command {
	var dir string
	var changes, asJSON bool
	return &command{
		name: "log", usage: "NAME [-changes] [-json]", summary: "print a server's statement log, or the lab's Azure request log (arm)",
		help: `Prints every statement the server ran since the lab process started, one per
line (line breaks inside a statement become spaces). With -changes, only those
that changed the catalogue or the configuration: an empty output after
"milink plan" shows that planning changed nothing.

NAME arm prints the lab's Azure request log instead: METHOD PATH STATUS
[ERROR CODE] per request (Entra's and Resource Manager's); -changes keeps
the requests that changed something. Request bodies (-json) have their
secrets (client_secret, privateBlob, certPassword) replaced by REDACTED.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.BoolVar(&changes, "changes", false, "only statements that changed something")
			fs.BoolVar(&asJSON, "json", false, "print JSON: [{\"text\", \"changed\"}], texts exact")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			name, err := oneName(fs, args)
			if err != nil {
				return err
			}
			if name == azureName {
				return azureLog(ctx, dir, changes, asJSON, stdout)
			}
			c, err := connect(dir)
			if err != nil {
				return err
			}
			entries, err := c.Log(ctx, name)
			if err != nil {
				return err
			}
			out := []lab.LogEntry{}
			for _, e := range entries {
				if !changes || e.Changed {
					out = append(out, e)
				}
			}
			if asJSON {
				return writeJSON(stdout, out)
			}
			oneLine := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
			for _, e := range out {
				fmt.Fprintln(stdout, oneLine.Replace(e.Text))
			}
			return nil
		},
	}
}

func profilesCommand() *command {
	var asJSON bool
	return &command{
		name: "profiles", usage: "[-json]", summary: "list the server versions the lab can simulate",
		help: `Lists the profiles "milink lab up -profile NAME" accepts for sql01: name,
version, operating system and edition. Whether the link supports a version
is milink's call (its support matrix), not the lab's.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			ps := engine.Profiles()
			if asJSON {
				return writeJSON(stdout, ps)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tLEVEL\tOS\tEDITION")
			for _, p := range ps {
				name := p.Name
				if name == engine.DefaultProfile {
					name += " (default)"
				}
				level := p.ProductLevel
				if p.UpdateLevel != "" {
					level += " " + p.UpdateLevel
				}
				if p.AzureConnectPack {
					level += " + Azure Connect pack"
				}
				osName := p.OS
				if osName == "" {
					osName = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Kind, p.ProductVersion, level, osName, p.Edition)
			}
			return tw.Flush()
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// waitExit waits until the process pid has exited. "down" asks through the
// control API, whose answer comes before the lab has closed its servers and
// files; the process ending is what says nothing of it is left running.
func waitExit(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the lab process %d did not exit within %s", pid, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
