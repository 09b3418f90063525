// Package azurite runs Azurite, Microsoft's Azure Storage emulator (npm),
// for the tests of the Azure Blob state backend: one blob service per test
// binary on a free loopback port, with its data in a temporary directory,
// stopped when the binary ends. The real azblob client talks to it.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Account and Key are Azurite's well-known development account, published
// in its documentation: they protect nothing.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// RequireEnv, set to 1, makes a missing Azurite a failure instead of a skip
// (CI sets it).
const RequireEnv = "MILINK_REQUIRE_AZURITE"

// Server is a running Azurite blob service.
type Server struct {
	// Endpoint is the blob service's URL for the account:
	// http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	cmd      *exec.Cmd
	dir      string
}

var (
	mu      sync.Mutex
	shared  *Server
	started error
	seq     atomic.Int64
)

// Find returns the azurite-blob executable: $MILINK_AZURITE, else
// tools/azurite/node_modules/.bin/azurite-blob in the module (what
// "npm ci --prefix tools/azurite" installs), else azurite-blob on PATH.
func Find() (string, error) {
	if p := os.Getenv("MILINK_AZURITE"); p != "" {
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, "tools", "azurite", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("azurite-blob")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Shared returns the test binary's Azurite, starting it on first use. It
// skips the test when Azurite is not installed, unless RequireEnv is set.
// Call Stop from TestMain.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start()
	if err != nil {
		if Missing(err) {
			if os.Getenv(RequireEnv) == "1" {
				tb.Fatalf("%s=1 but Azurite is missing: %v (install it: npm ci --prefix tools/azurite)", RequireEnv, err)
			}
			tb.Skipf("Azurite is not installed (npm ci --prefix tools/azurite): %v", err)
		}
		tb.Fatalf("starting Azurite: %v", err)
	}
	return s
}

// Start returns the test binary's Azurite, starting it on first use.
func Start() (*Server, error) {
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && started == nil {
		shared, started = start()
	}
	return shared, started
}

// Missing reports whether err from Start means Azurite is not installed.
func Missing(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist)
}

// Available reports whether Azurite can be started here: installed, or
// required (so that a test needing it fails rather than skips).
func Available() bool {
	if os.Getenv(RequireEnv) == "1" {
		return true
	}
	_, err := Find()
	return err == nil
}

// Stop stops the shared Azurite, if it was started, and removes its data.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		_ = shared.cmd.Process.Kill()
		_ = shared.cmd.Wait()
		_ = os.RemoveAll(shared.dir)
		shared = nil
	}
}

func start() (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "milink-azurite-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--location", dir, "--skipApiVersionCheck", "--loose", "--silent")
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("azurite did not listen on %s within 60s: %s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &Server{Endpoint: "http://" + addr + "/" + Account, cmd: cmd, dir: dir}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Container creates a new, uniquely named container and returns its name.
func (s *Server) Container(tb testing.TB) string {
	tb.Helper()
	name, err := s.NewContainer()
	if err != nil {
		tb.Fatal(err)
	}
	return name
}

// NewContainer creates a new, uniquely named container.
func (s *Server) NewContainer() (string, error) {
	name := fmt.Sprintf("t%d-%d", os.Getpid(), seq.Add(1))
	cred, err := container.NewSharedKeyCredential(Account, Key)
	if err != nil {
		return "", err
	}
	c, err := container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+name, cred, nil)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		return "", fmt.Errorf("creating container %s: %w", name, err)
	}
	return name, nil
}
