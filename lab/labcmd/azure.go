package labcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/arm"
)

// azureName is the name the fault and log commands, and -fault, use for
// the lab's Azure (Entra and Resource Manager).
const azureName = "arm"

// faultFlag is the -fault flag: arm:... goes to the lab's Azure, the rest
// to the servers' faults.
type faultFlag struct {
	servers *faultFlags
	azure   *arm.FaultChange
	set     *bool
}

func (f faultFlag) String() string {
	if f.servers == nil {
		return ""
	}
	s := f.servers.String()
	if f.set != nil && *f.set {
		if s != "" {
			s += " "
		}
		s += azureName + ":" + azureFaultSpec(*f.azure)
	}
	return s
}

func (f faultFlag) Set(v string) error {
	name, spec, ok := strings.Cut(v, ":")
	if !ok || name != azureName {
		return f.servers.Set(v)
	}
	if spec == "" {
		return fmt.Errorf("want arm:KEY=VALUE[,...], e.g. arm:throttle=2")
	}
	for _, kv := range strings.Split(spec, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(kv), "=")
		count := func() (*int64, error) {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s %q: want a count from 0", key, val)
			}
			return &n, nil
		}
		var err error
		switch key {
		case "throttle":
			f.azure.Throttle, err = count()
		case "retry-after":
			f.azure.RetryAfter, err = count()
		case "server-error":
			f.azure.ServerError, err = count()
		case "expired-tokens":
			f.azure.ExpiredTokens, err = count()
		case "fail-operation":
			code := "InternalServerError"
			if hasVal {
				code = val
			}
			if !arm.ValidErrorCode(code) {
				return fmt.Errorf("fail-operation %q: want an error code such as InternalServerError", val)
			}
			f.azure.FailOperation = &code
		default:
			return fmt.Errorf("unknown arm fault %q (want throttle, retry-after, server-error, fail-operation or expired-tokens)", key)
		}
		if err != nil {
			return err
		}
	}
	*f.set = true
	return nil
}

func azureFaultSpec(ch arm.FaultChange) string {
	var p []string
	if ch.Throttle != nil {
		p = append(p, fmt.Sprintf("throttle=%d", *ch.Throttle))
	}
	if ch.RetryAfter != nil {
		p = append(p, fmt.Sprintf("retry-after=%d", *ch.RetryAfter))
	}
	if ch.ServerError != nil {
		p = append(p, fmt.Sprintf("server-error=%d", *ch.ServerError))
	}
	if ch.FailOperation != nil {
		p = append(p, "fail-operation="+*ch.FailOperation)
	}
	if ch.ExpiredTokens != nil {
		p = append(p, fmt.Sprintf("expired-tokens=%d", *ch.ExpiredTokens))
	}
	return strings.Join(p, ",")
}

func describeAzureFaults(f arm.Faults) string {
	var p []string
	if f.Throttle > 0 {
		p = append(p, fmt.Sprintf("429 (Retry-After %ds) on the next %d requests", f.RetryAfter, f.Throttle))
	}
	if f.ServerError > 0 {
		p = append(p, fmt.Sprintf("500 on the next %d requests", f.ServerError))
	}
	if f.FailOperation != "" {
		p = append(p, "the next long-running operation fails with "+f.FailOperation)
	}
	if f.ExpiredTokens > 0 {
		p = append(p, fmt.Sprintf("the next %d tokens are issued expired", f.ExpiredTokens))
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ", ")
}

// azureFaultFlags are the flags of `milink lab fault arm`.
type azureFaultFlags struct {
	throttle, retryAfter, serverError, expiredTokens int64
	failOperation                                    string
}

func (a *azureFaultFlags) declare(fs *flag.FlagSet) {
	fs.Int64Var(&a.throttle, "throttle", 0, "arm: answer the next `N` Resource Manager requests with 429 and Retry-After")
	fs.Int64Var(&a.retryAfter, "retry-after", 0, "arm: the Retry-After of -throttle, in `seconds` (default 1)")
	fs.Int64Var(&a.serverError, "server-error", 0, "arm: answer the next `N` Resource Manager requests with 500")
	fs.StringVar(&a.failOperation, "fail-operation", "", "arm: the next long-running operation fails with this error `CODE` (\"\" unsets)")
	fs.Int64Var(&a.expiredTokens, "expired-tokens", 0, "arm: issue the next `N` access tokens already expired")
}

var azureFaultFlagNames = map[string]bool{"throttle": true, "retry-after": true, "server-error": true, "fail-operation": true, "expired-tokens": true}

// azureFault is `milink lab fault arm ...`.
func azureFault(ctx context.Context, fs *flag.FlagSet, dir string, a *azureFaultFlags, clear bool, stdout io.Writer) error {
	ch := arm.FaultChange{Clear: clear}
	var set bool
	var wrong string
	fs.Visit(func(f *flag.Flag) {
		set = set || f.Name != "dir"
		switch f.Name {
		case "throttle":
			ch.Throttle = &a.throttle
		case "retry-after":
			ch.RetryAfter = &a.retryAfter
		case "server-error":
			ch.ServerError = &a.serverError
		case "fail-operation":
			ch.FailOperation = &a.failOperation
		case "expired-tokens":
			ch.ExpiredTokens = &a.expiredTokens
		case "dir", "clear":
		default:
			wrong = f.Name
		}
	})
	if wrong != "" {
		return usageError("-%s is a fault of sql01 and mi01, not of arm", wrong)
	}
	if !set {
		return usageError("give at least one fault flag")
	}
	if a.throttle < 0 || a.retryAfter < 0 || a.serverError < 0 || a.expiredTokens < 0 {
		return usageError("fault values cannot be negative")
	}
	c, err := connect(dir)
	if err != nil {
		return err
	}
	f, err := c.SetAzureFaults(ctx, ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s faults: %s\n", azureName, describeAzureFaults(f))
	return nil
}

// azureLog is `milink lab log arm`.
func azureLog(ctx context.Context, dir string, changes, asJSON bool, stdout io.Writer) error {
	c, err := connect(dir)
	if err != nil {
		return err
	}
	entries, err := c.AzureLog(ctx)
	if err != nil {
		return err
	}
	out := []arm.LogEntry{}
	for _, e := range entries {
		if !changes || e.Changed {
			out = append(out, e)
		}
	}
	if asJSON {
		return writeJSON(stdout, out)
	}
	for _, e := range out {
		line := fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status)
		if e.Code != "" {
			line += " " + e.Code
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func printAzureStatus(w io.Writer, a *arm.Status) {
	if a == nil {
		return
	}
	c := a.Counters
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nAZURE\tREQUESTS\tTOKENS\tTOKEN ERRORS\t401s\tCHANGES\tTHROTTLED\t500s\tFAILED OPS\tCERTS UPLOADED")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", a.URL, c.Requests, c.Tokens, c.TokenErrors, c.AuthFailures,
		c.Changes, c.Throttled, c.ServerErrors, c.FailedOps, c.CertsUploaded)
	tw.Flush()
	if d := describeAzureFaults(a.Faults); d != "none" {
		fmt.Fprintf(w, "  arm faults: %s\n", d)
	}
}

func tokenCommand() *command {
	var dir string
	var asJSON bool
	return &command{
		name: "token", usage: "[-json] [flags]", summary: "print an access token for the lab's Azure Resource Manager",
		help: `Prints a bearer token for the lab's Resource Manager, issued to the lab's
application as the token endpoint would (an -expired-tokens fault applies),
so that a person or a test can call the API with curl behind milink's back:

  curl --cacert "$(jq -r .azure.ca_file .milink-lab/lab.json)" \
    -H "Authorization: Bearer $(milink lab token)" \
    "$(jq -r .azure.resource_manager .milink-lab/lab.json)subscriptions/..."

The token is valid for an hour.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", lab.DefaultDir, "the lab `directory`")
			fs.BoolVar(&asJSON, "json", false, "print JSON: {\"access_token\", \"expires_on\"}")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := noArgs(fs, args); err != nil {
				return err
			}
			c, err := connect(dir)
			if err != nil {
				return err
			}
			t, err := c.AzureToken(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(stdout, t)
			}
			fmt.Fprintln(stdout, t.AccessToken)
			return nil
		},
	}
}
