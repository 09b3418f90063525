package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// hostNetwork is sql01's simulated host network: a network namespace of
// the lab's own, inside a user namespace, so no root is needed and this
// machine's own firewall is never touched. Its firewall is the real
// kernel's nftables, reached with nsenter: milink's firewall_rule runs its
// real nft commands there (lab.json's firewall_command_prefix).
type hostNetwork struct {
	holder *exec.Cmd
	stdin  io.WriteCloser
	prefix []string
}

// startHostNetwork starts the process holding the namespaces (cat, which
// ends when the lab closes its standard input or dies) and checks that
// nft works inside. An error says why the lab has no host firewall here.
func startHostNetwork() (*hostNetwork, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("nsenter is not installed (Debian: util-linux)")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return nil, fmt.Errorf("cat is not installed")
	}
	cmd := exec.Command(cat)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("this machine does not allow a user and network namespace: %v", err)
	}
	h := &hostNetwork{holder: cmd, stdin: stdin, prefix: []string{
		nsenter, "--target", strconv.Itoa(cmd.Process.Pid), "--user", "--net", "--preserve-credentials", "--",
		// nft lives in /usr/sbin, which a user's PATH often lacks.
		"env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}}
	// The firewall must work in there; some kernels or sandboxes refuse
	// netlink in a user namespace.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	probe := exec.CommandContext(ctx, h.prefix[0], append(h.prefix[1:], "nft", "list", "ruleset")...)
	var stderr bytes.Buffer
	probe.Stderr = &stderr
	if err := probe.Run(); err != nil {
		h.close()
		return nil, fmt.Errorf("nft (Debian: nftables) does not work in the lab's namespace: %v %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return h, nil
}

// close ends the namespaces (and every rule in them).
func (h *hostNetwork) close() {
	if h == nil {
		return
	}
	h.stdin.Close()
	done := make(chan struct{})
	go func() { h.holder.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		h.holder.Process.Kill()
		<-done
	}
}
