package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/plan"
	"github.com/milink/milink/plan/render"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/state"
)

// The machine-readable views. plan -json and show -json print one
// document; apply -json streams events, one JSON object per line, after
// Terraform's machine-readable UI (terraform apply -json): every line has
// "@level", "@message" (the sentence a person would read), "@timestamp"
// and "type", and beside them one object of that type.

// eventsFormatVersion versions the event stream of apply -json; the major
// part changes only with an incompatible change.
const eventsFormatVersion = "1.0"

type planJSON struct{ out io.Writer }

func (v *planJSON) plan(p *plan.Plan) error { return render.JSON(v.out, p) }

// saved prints nothing: stdout holds the plan document alone.
func (v *planJSON) saved(string) {}

type showJSON struct{ out io.Writer }

func (v *showJSON) plan(p *plan.Plan) error { return render.JSON(v.out, p) }

// state prints the state document as stored: it holds fingerprints of
// secrets, never secrets.
func (v *showJSON) state(st *state.State) error {
	data, err := state.Encode(st)
	if err != nil {
		return err
	}
	_, err = v.out.Write(data)
	return err
}

// validateJSON prints the diagnostics document with "valid": true, and the
// warnings if any; a configuration that is not valid gets the same
// document with "valid": false, printed as any -json command's failure.
type validateJSON struct {
	out    io.Writer
	report *jsonReport
}

func (v *validateJSON) valid(*config.Config) { v.report.document(v.out, true) }

// jsonStream writes events, one JSON object per line, whole lines under a
// lock (changes are applied concurrently). Its first line, written before
// the first event, says milink's version and the stream's.
type jsonStream struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	started bool
	errors  int
}

func newJSONStream(w io.Writer) *jsonStream {
	return &jsonStream{w: w, now: time.Now}
}

// Levels of events, as Terraform names them.
const (
	levelInfo  = "info"
	levelWarn  = "warn"
	levelError = "error"
)

// emit writes one event: the common fields and fields, which hold the
// type's object.
func (s *jsonStream) emit(level, typ, message string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.line(levelInfo, "version", "milink "+version, map[string]any{
			"milink_version": version,
			"format_version": eventsFormatVersion,
		})
	}
	s.line(level, typ, message, fields)
}

func (s *jsonStream) line(level, typ, message string, fields map[string]any) {
	ev := make(map[string]any, len(fields)+4)
	for k, v := range fields {
		ev[k] = v
	}
	ev["@level"] = level
	ev["@message"] = message
	ev["@timestamp"] = s.now().UTC().Format(time.RFC3339Nano)
	ev["type"] = typ
	enc := json.NewEncoder(s.w)
	// Addresses such as database.app["sales"] read better unescaped.
	enc.SetEscapeHTML(false)
	// An error here means stdout is gone; there is nowhere left to say so.
	_ = enc.Encode(ev)
}

// diagnostic writes a warning or an error, in config's JSON shape (already
// redacted).
func (s *jsonStream) diagnostic(d config.JSONDiagnostic) {
	level, prefix := levelError, "Error: "
	if d.Severity == "warning" {
		level, prefix = levelWarn, "Warning: "
	} else {
		s.mu.Lock()
		s.errors++
		s.mu.Unlock()
	}
	s.emit(level, "diagnostic", prefix+d.Summary, map[string]any{"diagnostic": d})
}

func (s *jsonStream) errorCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors
}

// jsonResource names the object of an event: a restart or a verification
// has the address of its own (sql_server.sql01:restart) and the kind
// "restart" or "verify".
type jsonResource struct {
	Addr   string `json:"addr"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
}

// jsonPlanned is a planned_change's (or a resource_drift's) change.
type jsonPlanned struct {
	Resource  jsonResource          `json:"resource"`
	Action    resources.Action      `json:"action"`
	Reason    string                `json:"reason,omitempty"`
	Restart   resources.RestartNeed `json:"restart,omitempty"`
	DependsOn []string              `json:"depends_on,omitempty"`
	Steps     []resources.Step      `json:"steps,omitempty"`
}

// jsonHook is the object of the apply_* events.
type jsonHook struct {
	Resource jsonResource     `json:"resource"`
	Action   resources.Action `json:"action"`
	// Transient: a restart or a verification, not an object the state
	// keeps.
	Transient bool   `json:"transient,omitempty"`
	Message   string `json:"message,omitempty"` // apply_progress
	// Percent is a backup's progress, from SQL Server's "N percent
	// processed." (apply_progress).
	Percent *int     `json:"percent,omitempty"`
	Elapsed *float64 `json:"elapsed_seconds,omitempty"` // apply_complete, apply_errored
	Error   string   `json:"error,omitempty"`           // apply_errored
	Reason  string   `json:"reason,omitempty"`          // apply_skipped
}

// jsonChanges is the object of change_summary: what the plan will do
// (operation "plan"), or what apply did ("apply", "refresh").
type jsonChanges struct {
	Add       int    `json:"add"`
	Change    int    `json:"change"`
	Destroy   int    `json:"destroy"`
	Restart   int    `json:"restart"`
	Forget    int    `json:"forget"`
	Operation string `json:"operation"`
	// Success is given for apply and refresh only.
	Success *bool `json:"success,omitempty"`
}

// applyJSON streams what apply does.
type applyJSON struct {
	s    *jsonStream
	errw io.Writer
	// redact scrubs the configuration's secrets from text milink did not
	// write itself (errors, progress messages).
	redact func(string) string

	mu   sync.Mutex
	done map[string]bool // changes that completed
}

func newApplyJSON(s *jsonStream, errw io.Writer, redact func(string) string) *applyJSON {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &applyJSON{s: s, errw: errw, redact: redact, done: map[string]bool{}}
}

var fingerprintText = regexp.MustCompile(`hmac-sha256:[0-9a-fA-F]+`)

// text is s as the stream may show it: without the configuration's
// secrets, nor fingerprints of them.
func (v *applyJSON) text(s string) string {
	return fingerprintText.ReplaceAllString(v.redact(s), resources.Redacted)
}

func resourceOf(ch resources.Change) jsonResource {
	return jsonResource{Addr: ch.Address, Kind: ch.Kind, Target: ch.Target}
}

// planned writes a planned_change per change that does something (a
// resource_drift per object changed outside milink, for -refresh-only),
// then the plan's change_summary. Their text comes from the JSON plan, so
// is redacted as plan -json redacts it.
func (v *applyJSON) planned(p *plan.Plan, _ bool) {
	doc := render.ToJSON(p)
	if p.RefreshOnly {
		for _, c := range doc.ResourceDrift {
			v.s.emit(levelInfo, "resource_drift", fmt.Sprintf("%s: Drift detected (%s)", c.Address, c.Action), map[string]any{"change": v.plannedChange(c)})
		}
		return
	}
	for _, c := range doc.ResourceChanges {
		if c.Action == resources.NoOp {
			continue
		}
		addr := c.Address
		if c.Kind == resources.KindRestart || c.Kind == resources.KindVerify {
			addr = c.Target
		}
		v.s.emit(levelInfo, "planned_change", fmt.Sprintf("%s: Plan to %s", addr, c.Action), map[string]any{"change": v.plannedChange(c)})
	}
	s := p.Summary()
	msg := fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy, %s.", s.Add, s.Change, s.Destroy, restartCount(s.Restart))
	v.s.emit(levelInfo, "change_summary", msg, map[string]any{"changes": jsonChanges{
		Add: s.Add, Change: s.Change, Destroy: s.Destroy, Restart: s.Restart, Forget: s.Forget, Operation: "plan",
	}})
}

func (v *applyJSON) plannedChange(c render.JSONChange) jsonPlanned {
	return jsonPlanned{
		Resource:  jsonResource{Addr: c.Address, Kind: c.Kind, Target: c.Target},
		Action:    c.Action,
		Reason:    v.text(c.Reason),
		Restart:   c.Restart,
		DependsOn: c.DependsOn,
		Steps:     c.Steps,
	}
}

func (v *applyJSON) applying() {}

func (v *applyJSON) hook(ch resources.Change) jsonHook {
	return jsonHook{Resource: resourceOf(ch), Action: ch.Action, Transient: ch.Transient()}
}

func (v *applyJSON) Start(ch resources.Change) {
	doing, _ := verbs(ch.Action)
	v.s.emit(levelInfo, "apply_start", fmt.Sprintf("%s: %s", shownAddr(ch), doing), map[string]any{"hook": v.hook(ch)})
}

// percentRE is SQL Server's progress message of a backup (message 3211).
var percentRE = regexp.MustCompile(`^(\d{1,3}) percent processed\.$`)

func (v *applyJSON) Progress(ch resources.Change, msg string) {
	h := v.hook(ch)
	h.Message = v.text(msg)
	if m := percentRE.FindStringSubmatch(h.Message); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n <= 100 {
			h.Percent = &n
		}
	}
	v.s.emit(levelInfo, "apply_progress", fmt.Sprintf("%s: %s", shownAddr(ch), h.Message), map[string]any{"hook": h})
}

func (v *applyJSON) Done(ch resources.Change, elapsed time.Duration, err error) {
	h := v.hook(ch)
	secs := math.Round(elapsed.Seconds()*1000) / 1000
	h.Elapsed = &secs
	if err != nil {
		h.Error = v.text(err.Error())
		v.s.emit(levelError, "apply_errored", fmt.Sprintf("%s: failed after %s", shownAddr(ch), elapsed.Round(time.Second)), map[string]any{"hook": h})
		return
	}
	v.mu.Lock()
	v.done[ch.Address] = true
	v.mu.Unlock()
	_, done := verbs(ch.Action)
	v.s.emit(levelInfo, "apply_complete", fmt.Sprintf("%s: %s after %s", shownAddr(ch), done, elapsed.Round(time.Second)), map[string]any{"hook": h})
}

func (v *applyJSON) Skipped(ch resources.Change, reason string) {
	h := v.hook(ch)
	h.Reason = v.text(reason)
	v.s.emit(levelWarn, "apply_skipped", fmt.Sprintf("%s: %s", shownAddr(ch), h.Reason), map[string]any{"hook": h})
}

// failed writes the error as a diagnostic, then the change_summary of
// what was done. The error's text also goes to stderr, as with every -json
// command.
func (v *applyJSON) failed(p *plan.Plan, st *state.State, err error, interrupted bool) {
	writeApplyError(v.errw, err, interrupted)
	msg := v.text(err.Error())
	if interrupted {
		msg = "Interrupted: " + msg
	}
	v.s.diagnostic(config.JSONDiagnostic{Severity: "error", Summary: msg, Detail: leftHint})
	v.summary(p, st, false)
}

func (v *applyJSON) complete(p *plan.Plan, st *state.State) {
	for _, line := range pendingRestartLines(p) {
		v.s.diagnostic(config.JSONDiagnostic{Severity: "warning", Summary: "Restart pending", Detail: line})
	}
	v.summary(p, st, true)
}

// summary writes the final change_summary: what apply did (all of the
// plan when it succeeded).
func (v *applyJSON) summary(p *plan.Plan, st *state.State, ok bool) {
	c := jsonChanges{Operation: "apply", Success: &ok}
	if p.RefreshOnly {
		c.Operation = "refresh"
		msg := fmt.Sprintf("Refresh complete: %d object(s) updated in the state.", len(p.Drift))
		if !ok {
			msg = "Refresh failed: nothing was updated in the state."
		}
		v.s.emit(levelInfo, "change_summary", msg, map[string]any{"changes": c})
		return
	}
	v.mu.Lock()
	for _, ch := range p.Changes {
		done := v.done[ch.Address]
		if ch.Action == resources.Forget {
			// Forgetting changes only the state, and is no event.
			done = st == nil || st.Get(ch.Address) == nil
		}
		if !done {
			continue
		}
		switch ch.Action {
		case resources.Create:
			c.Add++
		case resources.Update:
			c.Change++
		case resources.Delete:
			c.Destroy++
		case resources.Forget:
			c.Forget++
		case resources.Restart:
			c.Restart++
		}
	}
	v.mu.Unlock()
	msg := fmt.Sprintf("Apply complete! Resources: %d added, %d changed, %d destroyed, %s.", c.Add, c.Change, c.Destroy, restartCount(c.Restart))
	level := levelInfo
	if !ok {
		msg = fmt.Sprintf("Apply failed. Done before it stopped: %d added, %d changed, %d destroyed, %s.", c.Add, c.Change, c.Destroy, restartCount(c.Restart))
		level = levelError
	}
	v.s.emit(level, "change_summary", msg, map[string]any{"changes": c})
}
