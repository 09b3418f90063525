//go:build linux

package firewall

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests of the real tools run each in fresh network and mount
// namespaces, so they never see or touch this machine's firewall: the test
// binary runs itself again, in the namespaces, for that one test. There
// /run is an empty tmpfs and each test binds temporary copies over the
// tools' configuration directories. Root makes the namespaces directly;
// anyone else gets them inside a user namespace where they are root.
const (
	nsChildEnv   = "MILINK_FIREWALL_TEST_NS"   // set in the child: the namespaces it runs in
	requireNSEnv = "MILINK_REQUIRE_NAMESPACES" // "1": a test that cannot run fails instead of skipping
)

func TestMain(m *testing.M) {
	// The tests of the tools mostly wait for their child: run them all
	// at once, unless -test.parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(runtime.GOMAXPROCS(0), 8)))
	}
	if parent := os.Getenv(nsChildEnv); parent != "" {
		if err := enterTestNamespace(parent); err != nil {
			fmt.Fprintf(os.Stderr, "firewall test namespace: %v\n", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// namespaces identifies this process's network and mount namespaces.
func namespaces() string {
	net, _ := os.Readlink("/proc/self/ns/net")
	mnt, _ := os.Readlink("/proc/self/ns/mnt")
	return net + " " + mnt
}

// enterTestNamespace checks that the child is not in its parent's
// namespaces, makes its mounts private (nothing it mounts reaches the
// machine) and puts an empty /run in place.
func enterTestNamespace(parent string) error {
	p, c := strings.Fields(parent), strings.Fields(namespaces())
	if len(p) != 2 || len(c) != 2 || p[0] == c[0] || p[1] == c[1] {
		return fmt.Errorf("not in namespaces of its own (parent %q, child %q): refusing to touch the firewall", parent, namespaces())
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on /run: %w", err)
	}
	return nil
}

// inNamespace reports whether the test body should run here: in the
// child, true; in the parent, it runs the test in the child, reports its
// output and result, and returns false.
func inNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(nsChildEnv) != "" {
		return true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1", "-test.timeout=170s"}
	modes := []bool{true} // user namespace
	if os.Geteuid() == 0 {
		modes = []bool{false, true}
	}
	var startErrs []string
	for _, user := range modes {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), nsChildEnv+"="+namespaces())
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		if user {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
			attr.GidMappingsEnableSetgroups = false
		}
		cmd.SysProcAttr = attr
		// Pdeathsig follows the thread that started the child: keep it.
		runtime.LockOSThread()
		out, err := cmd.CombinedOutput()
		runtime.UnlockOSThread()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			// The namespaces could not be made: try the next way.
			startErrs = append(startErrs, fmt.Sprintf("%s: %v", map[bool]string{false: "unshare(CLONE_NEWNS|CLONE_NEWNET)", true: "with CLONE_NEWUSER"}[user], err))
			continue
		}
		t.Logf("ran in new network and mount namespaces%s:\n%s", map[bool]string{true: " (in a user namespace)"}[user], out)
		if err != nil {
			t.Fatalf("the test failed in its namespaces: %v", err)
		}
		if m := regexp.MustCompile(`(?m)^\s*--- SKIP: ` + regexp.QuoteMeta(t.Name()) + ` `).Find(out); m != nil {
			t.Skip("skipped in its namespaces (see above)")
		}
		return false
	}
	skipOrFail(t, "cannot create network and mount namespaces ("+strings.Join(startErrs, "; ")+"): the firewall tests run the real tools only there, never against this machine's own rules")
	return false
}

// skipOrFail skips the test, unless MILINK_REQUIRE_NAMESPACES=1 (CI) makes
// that a failure.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(requireNSEnv) == "1" {
		t.Fatalf("%s (%s=1: not skipping)", why, requireNSEnv)
	}
	t.Skip(why)
}

// needTools skips (or fails, see skipOrFail) when a tool is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, tool+" is not installed (Debian: apt-get install nftables iptables ufw firewalld)")
		}
	}
}

// bindCopy binds a temporary copy of dir (or an empty directory, when
// copy is false or dir does not exist) over dir, inside the namespace.
func bindCopy(t *testing.T, dir string, copyFrom string) string {
	t.Helper()
	if os.Getenv(nsChildEnv) == "" {
		t.Fatal("bindCopy outside the test namespace")
	}
	tmp := t.TempDir()
	if copyFrom != "" {
		if out, err := exec.Command("cp", "-a", copyFrom+"/.", tmp).CombinedOutput(); err != nil {
			t.Fatalf("copying %s: %v: %s", copyFrom, err, out)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(tmp, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("binding %s over %s: %v", tmp, dir, err)
	}
	return tmp
}

// bindFile binds a temporary file holding data over path.
func bindFile(t *testing.T, path string, data string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(tmp, path, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("binding %s over %s: %v", tmp, path, err)
	}
}

// sh runs a command for the test (to set up foreign rules, or change
// milink's by hand) and returns its output.
func sh(t *testing.T, stdin string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
