package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/milink/milink/config"
	"github.com/milink/milink/state"
)

// WorkspaceEnv selects the workspace when -workspace is not given.
const WorkspaceEnv = "MILINK_WORKSPACE"

// workspaceName is -workspace, else MILINK_WORKSPACE, else "default";
// checked.
func (g *globals) workspaceName(flagValue string) (string, error) {
	name := flagValue
	if name == "" {
		name = g.io.getenv(WorkspaceEnv)
	}
	if name == "" {
		name = "default"
	}
	if err := state.CheckWorkspace(name); err != nil {
		return "", err
	}
	return name, nil
}

// localStatePath is where the local backend keeps a workspace's state:
// DIR/milink.state.json for the default workspace, and
// DIR/milink.state.d/NAME/milink.state.json for workspace NAME (as
// Terraform's terraform.tfstate.d/NAME).
func localStatePath(dir, workspace string) string {
	if workspace == "" || workspace == "default" {
		return filepath.Join(dir, state.DefaultPath)
	}
	return filepath.Join(dir, "milink.state.d", workspace, state.DefaultPath)
}

// openBackend is the state backend a configuration names (its backend
// block), or the local file: -state, or the workspace's file in the
// configuration directory.
func (g *globals) openBackend(be *config.Backend, statePath, workspace string) (state.Backend, error) {
	if be != nil {
		if statePath != "" {
			return nil, fmt.Errorf("-state=%s names a local state file, but the configuration has a backend %q block (%s): remove one of the two", statePath, be.Type, be.DeclRange)
		}
		if be.Unknown {
			return nil, fmt.Errorf("the backend block (%s) uses a variable without a value: give it with -var, -var-file or %sNAME", be.DeclRange, config.EnvPrefix)
		}
		return state.NewBlob(state.BlobConfig{
			StorageAccount: be.StorageAccount,
			Container:      be.Container,
			Key:            be.Key,
			Workspace:      workspace,
			Endpoint:       be.Endpoint,
			SASToken:       be.SASToken,
			AccessKey:      be.AccessKey,
			LeaseDuration:  time.Duration(be.LeaseSeconds) * time.Second,
		})
	}
	if statePath != "" {
		if workspace != "default" {
			return nil, fmt.Errorf("-state=%s and workspace %q: -state names one file, give either", statePath, workspace)
		}
		return state.NewLocal(statePath), nil
	}
	path := localStatePath(g.dir(), workspace)
	if workspace != "default" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", workspace, err)
		}
	}
	return state.NewLocal(path), nil
}

// stateOnly opens the backend for the commands that read or unlock the
// state without planning (show, state, force-unlock): -state names a
// local file; otherwise the configuration's backend block decides, when
// the directory has a configuration.
func (g *globals) stateOnly(statePath, workspaceFlag string) (state.Backend, int) {
	ws, err := g.workspaceName(workspaceFlag)
	if err != nil {
		return nil, g.errorf("%v", err)
	}
	if statePath == "" && hasConfig(g.dir()) {
		w, code := g.openWorkspace(&common{allowUnset: true, workspace: ws, noColor: true})
		if w == nil {
			return nil, code
		}
		return w.backend, exitOK
	}
	b, err := g.openBackend(nil, statePath, ws)
	if err != nil {
		return nil, g.errorf("%v", err)
	}
	return b, exitOK
}

func hasConfig(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), config.FileSuffix) {
			return true
		}
	}
	return false
}

// watchLock cancels the run when the lock is lost (a lease that could not
// be renewed): the apply walker starts no further step once its context
// is done, and reports the cause; the step under way ends and its record
// is refused by the lease condition. The returned stop ends the watch.
func watchLock(ctx context.Context, lk state.Lock) (context.Context, func()) {
	w, ok := lk.(state.Watched)
	if !ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-w.Done():
			cancel(fmt.Errorf("stopping: %w", w.Err()))
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}

// interrupted reports whether ctx ended because the user interrupted,
// rather than for a lost lock.
func interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled)
}
