package lab

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/milink/milink/lab/arm"
)

// The control API lets `milink lab restart|status|fault|log|down` talk to the
// background process. It listens on 127.0.0.1:0; control.json (mode 0600)
// holds its address and a random token every request must carry, so other
// users of the machine cannot restart or stop someone's lab.

// ControlPath is where control.json lives in a lab directory.
func ControlPath(dir string) string { return filepath.Join(dir, "control.json") }

// ControlFile is control.json.
type ControlFile struct {
	Address string `json:"address"`
	Token   string `json:"token"`
	PID     int    `json:"pid"`
}

// ErrNotRunning means no lab process answers for the directory.
var ErrNotRunning = errors.New("the lab is not running")

// FaultChange changes some of a server's faults; nil fields stay as they are.
type FaultChange struct {
	Latency      *time.Duration `json:"latency,omitempty"`
	DropAt       *int64         `json:"drop_at,omitempty"`
	ErrorAt      *int64         `json:"error_at,omitempty"`
	RestartHangs *bool          `json:"restart_hangs,omitempty"`
	Clear        bool           `json:"clear,omitempty"` // first clear all faults
}

// apply returns f changed by c. Unchanged DropAt/ErrorAt keep their
// remaining count.
func (c FaultChange) apply(f Faults) Faults {
	if c.Clear {
		f = Faults{}
	}
	if c.Latency != nil {
		f.Latency = *c.Latency
	}
	if c.DropAt != nil {
		f.DropAt = *c.DropAt
	}
	if c.ErrorAt != nil {
		f.ErrorAt = *c.ErrorAt
	}
	if c.RestartHangs != nil {
		f.RestartHangs = *c.RestartHangs
	}
	return f
}

// RestartResult is the answer to a restart.
type RestartResult struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Hung  bool   `json:"hung"` // the fault restart_hangs kept it down
}

// LogEntry is one statement of a server's statement log.
type LogEntry struct {
	Text    string `json:"text"`
	Changed bool   `json:"changed"`
}

type apiError struct {
	Error string `json:"error"`
}

// ControlServer serves the control API for a running lab.
type ControlServer struct {
	lab *Lab
	// links is the link simulation; nil means the one behind the lab's
	// Azure (tests set a fake).
	links LinkControl
	token string
	srv   *http.Server
	ln    net.Listener
	down  chan struct{}
}

// StartControl starts the control API on 127.0.0.1:0 and writes
// control.json into the lab directory.
func StartControl(l *Lab) (*ControlServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("control API: %w", err)
	}
	c := &ControlServer{lab: l, token: randomHex(24), ln: ln, down: make(chan struct{})}
	c.srv = &http.Server{Handler: c.handler(), ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(ln)
	data, err := json.Marshal(ControlFile{Address: ln.Addr().String(), Token: c.token, PID: os.Getpid()})
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := writeFileAtomic(ControlPath(l.Dir()), append(data, '\n'), 0o600); err != nil {
		c.Close()
		return nil, fmt.Errorf("write control.json: %w", err)
	}
	return c, nil
}

// handler is the API's routes behind the token check.
func (c *ControlServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", c.status)
	mux.HandleFunc("POST /v1/restart", c.restart)
	mux.HandleFunc("POST /v1/fault", c.fault)
	mux.HandleFunc("GET /v1/log", c.log)
	mux.HandleFunc("POST /v1/down", c.shutdown)
	mux.HandleFunc("POST /v1/azure/fault", c.azureFault)
	mux.HandleFunc("GET /v1/azure/log", c.azureLog)
	mux.HandleFunc("POST /v1/azure/token", c.azureToken)
	mux.HandleFunc("GET /v1/link/status", c.linkStatus)
	mux.HandleFunc("POST /v1/link/advance", c.linkAdvance)
	mux.HandleFunc("POST /v1/link/fault", c.linkFault)
	return c.auth(mux)
}

// Down is closed when a client asked the lab to stop.
func (c *ControlServer) Down() <-chan struct{} { return c.down }

// Close stops the API and removes control.json (if it is still ours).
func (c *ControlServer) Close() error {
	if cf, err := readControl(c.lab.Dir()); err == nil && cf.Token == c.token {
		os.Remove(ControlPath(c.lab.Dir()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.srv.Shutdown(ctx)
}

func (c *ControlServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, apiError{"bad or missing token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (c *ControlServer) server(w http.ResponseWriter, name string) (*Instance, bool) {
	s, ok := c.lab.Server(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no server %q in the lab (servers: %s)", name, c.names())})
	}
	return s, ok
}

func (c *ControlServer) names() string {
	var n []string
	for _, s := range c.lab.Servers() {
		n = append(n, s.Name())
	}
	return strings.Join(n, ", ")
}

func (c *ControlServer) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.lab.Status())
}

func (c *ControlServer) restart(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s, ok := c.server(w, req.Name)
	if !ok {
		return
	}
	err := s.Restart(r.Context())
	state, _ := s.State()
	switch {
	case errors.Is(err, ErrRestartHangs):
		writeJSON(w, http.StatusOK, RestartResult{Name: s.Name(), State: state, Hung: true})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
	default:
		writeJSON(w, http.StatusOK, RestartResult{Name: s.Name(), State: state})
	}
}

func (c *ControlServer) fault(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		FaultChange
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	s, ok := c.server(w, req.Name)
	if !ok {
		return
	}
	f := req.FaultChange.apply(s.Faults())
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, s.Faults())
}

func (c *ControlServer) log(w http.ResponseWriter, r *http.Request) {
	s, ok := c.server(w, r.URL.Query().Get("name"))
	if !ok {
		return
	}
	entries := []LogEntry{}
	for _, e := range s.StatementLog() {
		entries = append(entries, LogEntry{Text: e.Text, Changed: e.Changed})
	}
	writeJSON(w, http.StatusOK, entries)
}

func (c *ControlServer) shutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, struct{}{})
	select {
	case <-c.down:
	default:
		close(c.down)
	}
}

func readControl(dir string) (ControlFile, error) {
	var cf ControlFile
	data, err := os.ReadFile(ControlPath(dir))
	if err != nil {
		return cf, err
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		return cf, fmt.Errorf("%s: %w", ControlPath(dir), err)
	}
	return cf, nil
}

// Client talks to a running lab's control API.
type Client struct {
	dir  string
	cf   ControlFile
	http *http.Client
}

// Connect finds the lab running for dir. It returns ErrNotRunning (wrapped)
// if there is no control.json or nothing answers at its address.
func Connect(dir string) (*Client, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cf, err := readControl(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNotRunning, abs)
	}
	if err != nil {
		return nil, err
	}
	c := &Client{dir: abs, cf: cf, http: &http.Client{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Status(ctx); err != nil {
		if isConnRefused(err) {
			return nil, fmt.Errorf("%w in %s (stale control.json)", ErrNotRunning, abs)
		}
		return nil, err
	}
	return c, nil
}

// isConnRefused reports whether nothing listens where control.json points:
// the lab that wrote it is gone. Winsock says so with WSAECONNREFUSED,
// which package syscall's ECONNREFUSED (an errno it invents for Windows)
// does not match.
func isConnRefused(err error) bool {
	const wsaeconnrefused = syscall.Errno(10061)
	return errors.Is(err, syscall.ECONNREFUSED) || runtime.GOOS == "windows" && errors.Is(err, wsaeconnrefused)
}

// PID is the lab process's id.
func (c *Client) PID() int { return c.cf.PID }

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.cf.Address+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.cf.Token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("lab control API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("lab control API: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("lab control API: %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("lab control API: %w", err)
		}
	}
	return nil
}

// Status asks for every server's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Restart restarts a server and returns when it is back (or hung).
func (c *Client) Restart(ctx context.Context, name string) (RestartResult, error) {
	var r RestartResult
	err := c.call(ctx, http.MethodPost, "/v1/restart", map[string]string{"name": name}, &r)
	return r, err
}

// SetFaults changes a server's faults and returns them as now armed.
func (c *Client) SetFaults(ctx context.Context, name string, ch FaultChange) (Faults, error) {
	var f Faults
	body := struct {
		Name string `json:"name"`
		FaultChange
	}{name, ch}
	err := c.call(ctx, http.MethodPost, "/v1/fault", body, &f)
	return f, err
}

// Log returns a server's statement log.
func (c *Client) Log(ctx context.Context, name string) ([]LogEntry, error) {
	var l []LogEntry
	err := c.call(ctx, http.MethodGet, "/v1/log?name="+url.QueryEscape(name), nil, &l)
	return l, err
}

// Down asks the lab process to stop; it does not wait for it to exit.
func (c *Client) Down(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/down", struct{}{}, nil)
}

// AzureToken is an access token for the lab's Resource Manager.
type AzureToken struct {
	AccessToken string    `json:"access_token"`
	ExpiresOn   time.Time `json:"expires_on"`
}

func (c *ControlServer) azureServer(w http.ResponseWriter) (*arm.Server, bool) {
	a := c.lab.Azure()
	if a == nil {
		writeJSON(w, http.StatusNotFound, apiError{"the lab has no Azure"})
	}
	return a, a != nil
}

func (c *ControlServer) azureFault(w http.ResponseWriter, r *http.Request) {
	var ch arm.FaultChange
	if err := json.NewDecoder(r.Body).Decode(&ch); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	a, ok := c.azureServer(w)
	if !ok {
		return
	}
	f := ch.Apply(a.Faults())
	if f.FailOperation != "" && !arm.ValidErrorCode(f.FailOperation) {
		writeJSON(w, http.StatusBadRequest, apiError{fmt.Sprintf("fail-operation %q is not an error code (letters, digits, '_', '.')", f.FailOperation)})
		return
	}
	if f.Throttle < 0 || f.ServerError < 0 || f.ExpiredTokens < 0 || f.RetryAfter < 0 {
		writeJSON(w, http.StatusBadRequest, apiError{"fault counts cannot be negative"})
		return
	}
	a.SetFaults(f)
	writeJSON(w, http.StatusOK, a.Faults())
}

func (c *ControlServer) azureLog(w http.ResponseWriter, r *http.Request) {
	a, ok := c.azureServer(w)
	if !ok {
		return
	}
	entries := a.Log()
	if entries == nil {
		entries = []arm.LogEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

func (c *ControlServer) azureToken(w http.ResponseWriter, r *http.Request) {
	a, ok := c.azureServer(w)
	if !ok {
		return
	}
	tok, exp, err := a.IssueToken()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, AzureToken{AccessToken: tok, ExpiresOn: exp})
}

// SetAzureFaults changes the faults of the lab's Azure and returns them as
// now armed.
func (c *Client) SetAzureFaults(ctx context.Context, ch arm.FaultChange) (arm.Faults, error) {
	var f arm.Faults
	err := c.call(ctx, http.MethodPost, "/v1/azure/fault", ch, &f)
	return f, err
}

// AzureLog returns the request log of the lab's Azure.
func (c *Client) AzureLog(ctx context.Context) ([]arm.LogEntry, error) {
	var l []arm.LogEntry
	err := c.call(ctx, http.MethodGet, "/v1/azure/log", nil, &l)
	return l, err
}

// AzureToken issues an access token for the lab's Resource Manager.
func (c *Client) AzureToken(ctx context.Context) (AzureToken, error) {
	var t AzureToken
	err := c.call(ctx, http.MethodPost, "/v1/azure/token", struct{}{}, &t)
	return t, err
}

// maxLinkAdvance bounds one advance: a day covers any seeding the lab
// simulates, and a typo such as 5000h stays a mistake.
const maxLinkAdvance = 24 * time.Hour

// LinkFaultChange arms or disarms one link fault.
type LinkFaultChange struct {
	Name string `json:"name"`
	On   bool   `json:"on"`
}

func (c *ControlServer) linkSim(w http.ResponseWriter) (LinkControl, bool) {
	if c.links != nil {
		return c.links, true
	}
	if c.lab != nil && c.lab.link != nil {
		return c.lab.link, true
	}
	writeJSON(w, http.StatusNotFound, apiError{"the lab has no link simulation"})
	return nil, false
}

func linkList(lc LinkControl) []arm.LinkStatus {
	l := lc.Links()
	if l == nil {
		l = []arm.LinkStatus{}
	}
	slices.SortFunc(l, func(a, b arm.LinkStatus) int { return strings.Compare(a.Name, b.Name) })
	return l
}

func (c *ControlServer) linkStatus(w http.ResponseWriter, r *http.Request) {
	lc, ok := c.linkSim(w)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, linkList(lc))
}

func (c *ControlServer) linkAdvance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Duration string `json:"duration"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	d, err := ParseLinkAdvance(req.Duration)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	lc, ok := c.linkSim(w)
	if !ok {
		return
	}
	lc.Advance(d)
	writeJSON(w, http.StatusOK, linkList(lc))
}

// ParseLinkAdvance reads the duration of `milink lab link advance`: a Go
// duration ("90s", "5m", "1h30m") above 0 and at most a day.
func ParseLinkAdvance(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a duration such as 30s, 5m or 1h30m", s)
	}
	if d <= 0 || d > maxLinkAdvance {
		return 0, fmt.Errorf("duration %q: want more than 0 and at most %s", s, maxLinkAdvance)
	}
	return d, nil
}

func (c *ControlServer) linkFault(w http.ResponseWriter, r *http.Request) {
	var req LinkFaultChange
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if !slices.Contains(LinkFaults, req.Name) {
		writeJSON(w, http.StatusBadRequest, apiError{fmt.Sprintf("unknown link fault %q (faults: %s)", req.Name, strings.Join(LinkFaults, ", "))})
		return
	}
	lc, ok := c.linkSim(w)
	if !ok {
		return
	}
	lc.SetFault(req.Name, req.On)
	writeJSON(w, http.StatusOK, req)
}

// LinkStatus returns the links of the lab's managed instance.
func (c *Client) LinkStatus(ctx context.Context) ([]arm.LinkStatus, error) {
	var l []arm.LinkStatus
	err := c.call(ctx, http.MethodGet, "/v1/link/status", nil, &l)
	return l, err
}

// LinkAdvance moves the link simulation's clock on by d and returns the
// links as they are then.
func (c *Client) LinkAdvance(ctx context.Context, d time.Duration) ([]arm.LinkStatus, error) {
	var l []arm.LinkStatus
	err := c.call(ctx, http.MethodPost, "/v1/link/advance", map[string]string{"duration": d.String()}, &l)
	return l, err
}

// SetLinkFault arms or disarms a link fault.
func (c *Client) SetLinkFault(ctx context.Context, name string, on bool) error {
	return c.call(ctx, http.MethodPost, "/v1/link/fault", LinkFaultChange{Name: name, On: on}, nil)
}
