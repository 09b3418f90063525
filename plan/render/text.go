package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/milink/milink/plan"
	"github.com/milink/milink/resources"
)

// Plan prints p for people: a header per server, then each change that
// does something (in apply order, grouped by server), then the summary.
func Plan(w io.Writer, p *plan.Plan, o Options) {
	pr := &printer{o: o}
	pr.plan(p)
	pr.flush(w)
}

// shown reports whether a change appears in the human plan: everything but
// no-ops, except a no-op whose setting waits for a restart. A restart that
// will not be performed (restart = "never") is not a change of its own: the
// settings waiting for it are summed up once per server instead.
func shown(c *resources.Change) bool {
	if c.Action == resources.Check {
		return false // listed apart, after the plan (checks)
	}
	if c.Action == resources.NoOp {
		return c.Restart == resources.PendingRestart && !c.Transient()
	}
	return true
}

// notes are the no-ops a DBA should still see (Change.Notable), one line
// each, after the plan's changes or under "No changes.".
func (pr *printer) notes(p *plan.Plan) {
	first := true
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action != resources.NoOp || !c.Notable {
			continue
		}
		if first {
			pr.line("")
			pr.line("Left as is:")
			first = false
		}
		pr.line("  # %s: %s", cleanText(c.Address), cleanText(c.Reason))
	}
}

// PendingRestarts lists, per target (by address), the settings that wait for a restart
// milink will not perform (restart = "never"), in plan order; the views
// call them out and apply ends with a reminder.
func PendingRestarts(p *plan.Plan) (servers []string, waiting map[string][]string) {
	waiting = map[string][]string{}
	restarts := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == resources.Restart {
			restarts[c.Target] = true
		}
	}
	for _, c := range p.Changes {
		s := c.Target
		if restarts[s] || c.Transient() || !shown(&c) {
			continue
		}
		if c.Restart == resources.NeedsRestart || c.Restart == resources.PendingRestart {
			if _, ok := waiting[s]; !ok {
				servers = append(servers, s)
			}
			waiting[s] = append(waiting[s], c.Address)
		}
	}
	return servers, waiting
}

func (pr *printer) plan(p *plan.Plan) {
	for _, t := range p.Targets {
		pr.targetHeader(t)
	}
	if len(p.Targets) > 0 && pr.o.Width > 0 {
		pr.line("%s", strings.Repeat("─", min(pr.o.Width, 120)))
	}
	pr.driftNote(p)
	anyShown := false
	for i := range p.Changes {
		if shown(&p.Changes[i]) {
			anyShown = true
			break
		}
	}
	if !anyShown {
		if len(p.Targets) > 0 {
			pr.line("")
		}
		pr.line("%s", pr.bold("No changes.")+" The environment matches the configuration.")
		pr.notes(p)
		pr.checks(p)
		return
	}
	if len(p.Targets) > 0 {
		pr.line("")
	}
	if p.HasChanges() {
		pr.legend(p)
		pr.line("")
		pr.line("milink will perform the following actions:")
	} else {
		pr.line("milink has nothing to change, but settings wait for a restart:")
	}

	// Group by target in the order the plan lists targets; the plan's
	// order is kept within a target, which is the order that matters (the
	// restart after the settings that need it). Changes on no known
	// target come last.
	done := make([]bool, len(p.Changes))
	groups := make([]string, 0, len(p.Targets)+1)
	for _, t := range p.Targets {
		groups = append(groups, t.Address)
	}
	for _, g := range groups {
		for i := range p.Changes {
			if !done[i] && p.Changes[i].Target == g {
				done[i] = true
				pr.change(p, &p.Changes[i])
			}
		}
		pr.unperformedRestart(p, g)
	}
	for i := range p.Changes {
		if !done[i] {
			pr.change(p, &p.Changes[i])
		}
	}
	pr.notes(p)
	pr.checks(p)
	pr.line("")
	pr.summary(p.Summary())
}

func (pr *printer) targetHeader(s plan.Target) {
	title := s.Address
	if s.Where != "" {
		title += " at " + cleanText(s.Where)
	}
	pr.line("%s", pr.bold(title))
	banner, _, _ := strings.Cut(strings.TrimSpace(s.Banner), "\n")
	if banner = strings.TrimSpace(cleanText(banner)); banner != "" {
		pr.line("  %s", banner)
	}
	if s.Support != "" {
		pr.line("  %s", cleanText(s.Support))
	}
	if enc := s.Facts["encryption"]; enc != "" && pr.o.Verbose {
		pr.line("  connection encryption: %s", cleanText(enc))
	}
	if login := s.Facts["login"]; login != "" && pr.o.Verbose {
		how := ""
		if a := s.Facts["authentication"]; a != "" {
			how = " (" + cleanText(a) + ")"
		}
		pr.line("  logged in as %s%s", cleanText(login), how)
	}
}

func (pr *printer) legend(p *plan.Plan) {
	order := []struct {
		a    resources.Action
		text string
	}{
		{resources.Create, "create"},
		{resources.Update, "update in-place"},
		{resources.Delete, "destroy"},
		{resources.Forget, "leave management (nothing changes on the server)"},
		{resources.Restart, "restart the instance"},
		{resources.Verify, "verify after the restart"},
	}
	used := map[resources.Action]bool{}
	for _, c := range p.Changes {
		used[c.Action] = true
	}

	pr.line("Actions are shown with these symbols:")
	for _, e := range order {
		if used[e.a] {
			pr.line("  %s %s", pr.symbol(e.a), e.text)
		}
	}
	if servers, _ := PendingRestarts(p); len(servers) > 0 && !used[resources.Restart] {
		pr.line("  %s a restart milink leaves to you (restart = \"never\")", pr.symbol(resources.Restart))
	}
}

func verb(c *resources.Change) string {
	switch c.Action {
	case resources.Create:
		return "will be created"
	case resources.Update:
		return "will be updated in-place"
	case resources.Delete:
		return "will be destroyed"
	case resources.Forget:
		return "will leave management (nothing is changed on the server)"
	case resources.Verify:
		return "will be verified"
	case resources.Restart:
		return "will be restarted"
	case resources.NoOp:
		return "needs no change"
	}
	return "will be " + string(c.Action)
}

func restartNote(p *plan.Plan, c *resources.Change) string {
	restarted := false
	for _, r := range p.Changes {
		if r.Action == resources.Restart && r.Target == c.Target {
			restarted = true
		}
	}
	switch {
	case c.Restart == resources.NeedsRestart && restarted:
		return " (takes effect at the restart)"
	case c.Restart == resources.NeedsRestart:
		return " (takes effect at the next restart of the instance)"
	case c.Restart == resources.PendingRestart && restarted:
		return " (configured; takes effect at the restart)"
	case c.Restart == resources.PendingRestart:
		return " (configured; restart pending)"
	}
	return ""
}

// restartFor lists the addresses on the restart's server whose settings
// need or wait for that restart, in plan order.
func restartFor(p *plan.Plan, r *resources.Change) []string {
	var out []string
	for _, c := range p.Changes {
		if c.Action == resources.Restart || c.Target != r.Target {
			continue
		}
		if c.Restart == resources.NeedsRestart || c.Restart == resources.PendingRestart {
			out = append(out, c.Address)
		}
	}
	return out
}

// unperformedRestart calls out settings on a server that wait for a
// restart the plan does not contain (restart = "never"): the plan shows
// the restart as pending instead of silently leaving it out.
func (pr *printer) unperformedRestart(p *plan.Plan, server string) {
	_, all := PendingRestarts(p)
	waiting := all[server]
	if len(waiting) == 0 {
		return
	}
	pr.line("")
	pr.line("  %s %s", pr.symbol(resources.Restart), pr.bold(server+" restart pending, for "+strings.Join(waiting, ", ")))
	pr.line("  # (restart = \"never\": milink will not restart it; the settings take effect at the next restart)")
}

func (pr *printer) change(p *plan.Plan, c *resources.Change) {
	if !shown(c) {
		return
	}
	pr.line("")
	if c.Action == resources.Restart {
		msg := cleanText(c.Target) + " will be restarted once"
		if f := restartFor(p, c); len(f) > 0 {
			msg += ", for " + strings.Join(f, ", ")
		}
		pr.line("  %s %s", pr.symbol(c.Action), pr.bold(msg))
		pr.reason(c)
		pr.steps(c)
		return
	}
	addr := c.Address
	if c.Transient() {
		addr = c.Target
	}
	pr.line("  %s", pr.bold("# "+cleanText(addr)+" "+verb(c)+restartNote(p, c)))
	if c.Part != "" {
		pr.line("  # (part of %s)", cleanText(c.Part))
	}
	pr.reason(c)
	if c.Action != resources.Forget && !(c.Action == resources.NoOp && !pr.o.Verbose) {
		pr.block(c)
	}
	pr.steps(c)
}

func (pr *printer) reason(c *resources.Change) {
	if c.Reason != "" {
		pr.line("  # (%s)", cleanText(c.Reason))
	}
}

// attrLine is one attribute row of a block.
type attrLine struct {
	sym  resources.Action // NoOp for an unchanged attribute
	key  string
	text string
}

// attrLines computes the rows of a change's block. Sensitive attributes
// are compared (fingerprints differ when the secret did) but never shown.
func (pr *printer) attrLines(c *resources.Change) (lines []attrLine, hidden int) {
	show := func(k string, v any) string {
		if sensitiveAttr(c, k) {
			return resources.Redacted
		}
		return formatValue(v)
	}
	switch c.Action {
	case resources.Create:
		for _, k := range sortedKeys(unionKeys(c.After, unknownKeys(c))) {
			lines = append(lines, attrLine{resources.Create, k, showAfter(c, k, show)})
		}
		return lines, 0
	case resources.Delete:
		for _, k := range sortedKeys(c.Before) {
			lines = append(lines, attrLine{resources.Delete, k, show(k, c.Before[k])})
		}
		return lines, 0
	case resources.Update:
	default:
		// Verify (the values expected back), no-op and anything else:
		// the values as they are or will be, without a diff.
		m := c.After
		if m == nil {
			m = c.Before
		}
		for _, k := range sortedKeys(m) {
			lines = append(lines, attrLine{resources.NoOp, k, show(k, m[k])})
		}
		return lines, 0
	}
	for _, k := range sortedKeys(unionKeys(c.Before, c.After, unknownKeys(c))) {
		before, hasBefore := c.Before[k]
		after, hasAfter := c.After[k]
		switch {
		case c.IsUnknown(k) && !hasBefore:
			lines = append(lines, attrLine{resources.Create, k, KnownAfterApply})
		case c.IsUnknown(k):
			lines = append(lines, attrLine{resources.Update, k, show(k, before) + " -> " + KnownAfterApply})
		case !hasBefore:
			lines = append(lines, attrLine{resources.Create, k, show(k, after)})
		case !hasAfter:
			lines = append(lines, attrLine{resources.Delete, k, show(k, before)})
		case equalValues(before, after):
			if pr.o.Verbose {
				lines = append(lines, attrLine{resources.NoOp, k, show(k, after)})
			} else {
				hidden++
			}
		case sensitiveAttr(c, k):
			lines = append(lines, attrLine{resources.Update, k, resources.Redacted})
		default:
			lines = append(lines, attrLine{resources.Update, k, formatValue(before) + " -> " + formatValue(after)})
		}
	}
	return lines, hidden
}

func (pr *printer) block(c *resources.Change) {
	addr := c.Address
	if c.Transient() {
		addr = c.Target
	}
	kind, name := splitAddr(cleanText(addr))
	head := kind
	if name != "" {
		head += " " + fmt.Sprintf("%q", name)
	}
	lines, hidden := pr.attrLines(c)
	if len(lines) == 0 && hidden == 0 {
		pr.line("  %s %s {}", pr.symbol(c.Action), head)
		return
	}
	pr.line("  %s %s {", pr.symbol(c.Action), head)
	width := 0
	for _, l := range lines {
		width = max(width, len(l.key))
	}
	for _, l := range lines {
		sym := " "
		if l.sym != resources.NoOp {
			sym = pr.symbol(l.sym)
		}
		pr.line("      %s %-*s = %s", sym, width, l.key, l.text)
	}
	if hidden > 0 {
		noun := "attributes"
		if hidden == 1 {
			noun = "attribute"
		}
		pr.line("        # (%d unchanged %s hidden)", hidden, noun)
	}
	pr.line("    }")
}

func (pr *printer) steps(c *resources.Change) {
	if !pr.o.Verbose {
		return
	}
	for _, s := range c.Steps {
		on := s.On
		if on == "" {
			on = c.Address
		}
		pr.line("    # %s on %s:", stepLabel(s.Kind), cleanText(on))
		text := strings.TrimRight(cleanText(scrubStep(c, s.Text)), "\n")
		for _, l := range strings.Split(text, "\n") {
			pr.line("      %s", strings.TrimRight(l, " \t"))
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (pr *printer) summary(s plan.Summary) {
	msg := fmt.Sprintf("%d to add, %d to change, %d to destroy, %s", s.Add, s.Change, s.Destroy, plural(s.Restart, "restart", "restarts"))
	if s.Forget > 0 {
		msg += ", " + plural(s.Forget, "leaves management", "leave management")
	}
	pr.line("%s %s.", pr.bold("Plan:"), msg)
}

// Drift prints what changed outside milink since the last apply, one line
// per object; with Verbose, each object's attributes beneath it.
func Drift(w io.Writer, p *plan.Plan, o Options) {
	pr := &printer{o: o}
	pr.drift(p)
	pr.flush(w)
}

func (pr *printer) drift(p *plan.Plan) {
	var items []*resources.Change
	for i := range p.Drift {
		if p.Drift[i].Action != resources.NoOp {
			items = append(items, &p.Drift[i])
		}
	}
	if len(items) == 0 {
		pr.line("%s The objects milink manages have not changed outside milink.", pr.bold("No drift."))
		return
	}
	pr.line("%s", pr.bold("Objects changed outside milink since the last apply:"))
	pr.line("")
	for _, c := range items {
		pr.line("  %s %s", pr.symbol(c.Action), pr.driftLine(c))
		if pr.o.Verbose {
			pr.block(c)
		}
	}
	pr.line("")
	pr.line("%s %s changed outside milink.", pr.bold("Drift:"), plural(len(items), "object", "objects"))
	if p.RefreshOnly {
		pr.line("This is a refresh-only plan: milink will not undo these changes. Apply it to record them in the state without changing anything.")
	}
}

// driftNote tells, in a normal plan, what changed outside milink since the
// last apply, one line per object (details: -refresh-only -verbose), so
// that a repair below is not a surprise.
func (pr *printer) driftNote(p *plan.Plan) {
	if p.RefreshOnly {
		return
	}
	var items []*resources.Change
	for i := range p.Drift {
		if p.Drift[i].Action != resources.NoOp {
			items = append(items, &p.Drift[i])
		}
	}
	if len(items) == 0 {
		return
	}
	pr.line("")
	pr.line("%s", pr.bold("Changed outside milink since the last apply:"))
	for _, c := range items {
		pr.line("  %s %s", pr.symbol(c.Action), pr.driftLine(c))
	}
}

func (pr *printer) driftLine(c *resources.Change) string {
	addr := cleanText(c.Address)
	var msg string
	switch c.Action {
	case resources.Delete:
		msg = addr + " was deleted outside milink"
	case resources.Create:
		msg = addr + " appeared outside milink"
	default:
		var changed []string
		for _, k := range sortedKeys(unionKeys(c.Before, c.After)) {
			b, hb := c.Before[k]
			a, ha := c.After[k]
			if hb != ha || !equalValues(b, a) {
				changed = append(changed, k)
			}
		}
		msg = addr + " changed outside milink"
		if len(changed) > 0 {
			msg += ": " + strings.Join(changed, ", ")
		}
	}
	if c.Reason != "" {
		msg += " (" + cleanText(c.Reason) + ")"
	}
	return msg
}

func unionKeys(ms ...map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// KnownAfterApply is shown for a value that exists only once apply ran.
const KnownAfterApply = "(known after apply)"

// unknownKeys are the attributes of a change known only after apply.
func unknownKeys(c *resources.Change) map[string]any {
	out := map[string]any{}
	for _, k := range c.Unknown {
		out[k] = nil
	}
	return out
}

// showAfter is an attribute's value after the change.
func showAfter(c *resources.Change, k string, show func(string, any) string) string {
	if c.IsUnknown(k) {
		return KnownAfterApply
	}
	return show(k, c.After[k])
}
