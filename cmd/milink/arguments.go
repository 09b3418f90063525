package main

import (
	"os"
	"path/filepath"
)

// The arguments of the commands that print, parsed and checked before
// anything is read, locked or contacted. A command parses its flags into
// one of these, then does its work and renders it through a view (views.go)
// chosen by the arguments: the split of Terraform's command layer between
// internal/command/arguments and internal/command/views.
//
// Each parse function reports whether the command should go on; if not,
// the exit code to return (the error, or the help, was already printed).

// planArgs are the options of milink plan.
type planArgs struct {
	common
	out         string // -out: save the plan to this file
	json        bool
	detailed    bool // -detailed-exitcode
	refreshOnly bool
}

func parsePlan(g *globals, args []string) (*planArgs, bool, int) {
	a := &planArgs{}
	fs := newFlags(g, "plan", planHelp)
	a.register(fs.FlagSet, true)
	fs.StringVar(&a.out, "out", "", "Save the plan to this file, for 'milink apply FILE'.")
	fs.BoolVar(&a.json, "json", false, "Print the plan as versioned JSON instead of text.")
	fs.BoolVar(&a.detailed, "detailed-exitcode", false, "Exit 2 when the plan has changes, 0 when it has none.")
	fs.BoolVar(&a.refreshOnly, "refresh-only", false, "Only show what changed outside milink since the last apply.")
	settle := g.reportJSON(args)
	if ok, code := fs.parse(args); !ok {
		return nil, false, code
	}
	settle(a.json)
	if ok, code := a.check(g); !ok {
		return nil, false, code
	}
	if fs.NArg() > 0 {
		return nil, false, g.errorf("plan takes no arguments (got %q); did you mean 'milink apply %s'?", fs.Arg(0), fs.Arg(0))
	}
	if a.out != "" {
		// Fail before the work, not after printing the whole plan.
		if st, err := os.Stat(filepath.Dir(a.out)); err != nil || !st.IsDir() {
			return nil, false, g.errorf("-out=%s: the directory %s does not exist", a.out, filepath.Dir(a.out))
		}
	}
	return a, true, 0
}

// applyArgs are the options of milink apply.
type applyArgs struct {
	common
	autoApprove bool
	refreshOnly bool
	// json streams machine-readable events, one JSON object per line.
	json bool
	// planFile is the saved plan to apply, when fromFile.
	planFile string
	fromFile bool
}

func parseApply(g *globals, args []string) (*applyArgs, bool, int) {
	a := &applyArgs{}
	fs := newFlags(g, "apply", applyHelp)
	a.register(fs.FlagSet, true)
	fs.BoolVar(&a.autoApprove, "auto-approve", false, "Do not ask for confirmation.")
	fs.BoolVar(&a.refreshOnly, "refresh-only", false, "Record in the state what changed outside milink; change nothing on any server.")
	fs.BoolVar(&a.json, "json", false, "Stream machine-readable events, one JSON object per line (needs -auto-approve or a plan file).")
	settle := g.streamJSON(args)
	if ok, code := fs.parse(args); !ok {
		return nil, false, code
	}
	settle(a.json)
	if ok, code := a.check(g); !ok {
		return nil, false, code
	}
	if fs.NArg() > 1 {
		return nil, false, g.errorf("apply takes at most one plan file (unexpected argument %q)", fs.Arg(1))
	}
	a.planFile, a.fromFile = fs.Arg(0), fs.NArg() == 1
	if a.json && !a.autoApprove && !a.fromFile {
		// As terraform apply -json: a stream of events has no room for
		// a question.
		return nil, false, g.errorf("apply -json cannot ask for confirmation: add -auto-approve, or apply a plan file saved by milink plan -out")
	}
	return a, true, 0
}

// showArgs are the options of milink show.
type showArgs struct {
	json      bool
	noColor   bool
	verbose   bool
	statePath string
	workspace string
	planFile  string // the saved plan to show, when fromFile
	fromFile  bool   // else the state
}

func parseShow(g *globals, args []string) (*showArgs, bool, int) {
	a := &showArgs{}
	fs := newFlags(g, "show", showHelp)
	fs.BoolVar(&a.json, "json", false, "Print as JSON: the plan file's versioned JSON, or the state document.")
	fs.BoolVar(&a.noColor, "no-color", false, "Never use colour.")
	fs.BoolVar(&a.verbose, "verbose", false, "Show the exact T-SQL and commands of every step.")
	fs.StringVar(&a.statePath, "state", "", "Path of the state file (default DIR/milink.state.json).")
	fs.StringVar(&a.workspace, "workspace", "", "Show this workspace's state (default: $MILINK_WORKSPACE, else default).")
	settle := g.reportJSON(args)
	if ok, code := fs.parse(args); !ok {
		return nil, false, code
	}
	settle(a.json)
	if fs.NArg() > 1 {
		return nil, false, g.errorf("show takes at most one plan file (unexpected argument %q)", fs.Arg(1))
	}
	a.planFile, a.fromFile = fs.Arg(0), fs.NArg() == 1
	return a, true, 0
}

// validateArgs are the options of milink validate.
type validateArgs struct {
	common
	json bool
}

func parseValidate(g *globals, args []string) (*validateArgs, bool, int) {
	a := &validateArgs{}
	fs := newFlags(g, "validate", validateHelp)
	a.register(fs.FlagSet, false)
	fs.BoolVar(&a.json, "json", false, "Print the result as one JSON document (valid, diagnostics).")
	settle := g.reportJSON(args)
	// The document says whether the configuration is valid, even when a
	// flag is wrong.
	if g.json != nil {
		g.json.validate = true
	}
	if ok, code := fs.parse(args); !ok {
		return nil, false, code
	}
	settle(a.json)
	if a.json {
		g.json.validate = true
	}
	if ok, code := fs.noArgs("; to validate another directory: milink -chdir=DIR validate"); !ok {
		return nil, false, code
	}
	// Variables without a value are unknown here, so that CI can validate
	// without secrets; what is given is checked.
	a.allowUnset = true
	a.noBackend = true
	return a, true, 0
}
