package firewall

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/resources/host"
)

// fakeHost is a host whose programs print what the test says.
type fakeHost struct {
	os    string
	files map[string]bool        // paths that exist (programs)
	out   map[string]host.Output // joined argv -> what it prints; a non-zero ExitCode fails
}

func (f *fakeHost) Exec(_ context.Context, c host.Command) (host.Output, error) {
	out, ok := f.out[strings.Join(c.Argv, " ")]
	if !ok {
		return host.Output{ExitCode: -1}, fmt.Errorf("%s: not expected by the test", c.Argv[0])
	}
	if out.ExitCode != 0 {
		return out, fmt.Errorf("exit status %d", out.ExitCode)
	}
	return out, nil
}

func (f *fakeHost) ReadFile(context.Context, string) ([]byte, error) { return nil, fs.ErrNotExist }
func (f *fakeHost) WriteFile(context.Context, string, []byte, fs.FileMode) error {
	return fs.ErrPermission
}
func (f *fakeHost) Stat(_ context.Context, p string) (fs.FileInfo, error) {
	if f.files[p] {
		return fakeInfo(p), nil
	}
	return nil, fs.ErrNotExist
}
func (f *fakeHost) OS() string { return f.os }

type fakeInfo string

func (i fakeInfo) Name() string     { return string(i) }
func (fakeInfo) Size() int64        { return 1 }
func (fakeInfo) Mode() fs.FileMode  { return 0o755 }
func (fakeInfo) ModTime() time.Time { return time.Time{} }
func (fakeInfo) IsDir() bool        { return false }
func (fakeInfo) Sys() any           { return nil }

func linuxHost(tools ...string) *fakeHost {
	f := &fakeHost{os: "linux", files: map[string]bool{}, out: map[string]host.Output{
		"firewall-cmd --state": {Stdout: []byte("not running\n"), ExitCode: 252},
		"ufw status":           {Stdout: []byte("Status: inactive\n")},
	}}
	for _, t := range tools {
		f.files["/usr/sbin/"+t] = true
	}
	return f
}

func TestDetect(t *testing.T) {
	ctx := context.Background()
	all := []string{"nft", "iptables", "ufw", "firewall-cmd", "firewall-offline-cmd"}
	firewalldUp := func(f *fakeHost) { f.out["firewall-cmd --state"] = host.Output{Stdout: []byte("running\n")} }
	ufwUp := func(f *fakeHost) {
		f.out["ufw status"] = host.Output{Stdout: []byte("Status: active\n\nTo Action From\n")}
	}
	cases := []struct {
		name     string
		host     *fakeHost
		setup    []func(*fakeHost)
		override string
		want     string // backend, or a part of the error
	}{
		{"firewalld running", linuxHost(all...), []func(*fakeHost){firewalldUp}, "", "firewalld"},
		{"ufw active", linuxHost(all...), []func(*fakeHost){ufwUp}, "", "ufw"},
		{"both", linuxHost(all...), []func(*fakeHost){firewalldUp, ufwUp}, "",
			`both firewalld (running) and ufw (active) manage this host's firewall; they overwrite each other's rules, so milink will not guess: disable one of them, or choose the one milink should use with the backend setting ("firewalld" or "ufw")`},
		{"both, chosen", linuxHost(all...), []func(*fakeHost){firewalldUp, ufwUp}, "ufw", "ufw"},
		{"neither: nftables", linuxHost(all...), nil, "", "nftables"},
		{"no nft: iptables", linuxHost("iptables"), nil, "", "iptables"},
		{"nothing", linuxHost(), nil, "", "none of firewalld, ufw, nft or iptables is installed"},
		{"override", linuxHost(all...), []func(*fakeHost){firewalldUp}, "iptables", "iptables"},
		{"override auto", linuxHost(all...), nil, "auto", "nftables"},
		{"override, tool missing", linuxHost("iptables"), nil, "nftables", `backend "nftables" needs nft, which is not installed on this host (install the nftables package, or choose another backend)`},
		{"override unknown", linuxHost(all...), nil, "pf", `unknown backend "pf" (choose one of nftables, iptables, ufw, firewalld, windows)`},
		{"windows", &fakeHost{os: "windows"}, nil, "", "windows"},
		{"windows, linux backend", &fakeHost{os: "windows"}, nil, "ufw", `backend "ufw" manages Linux hosts; this one runs windows`},
		{"linux, windows backend", linuxHost(all...), nil, "windows", `backend "windows" manages Windows hosts; this one runs linux`},
		{"ufw status fails", linuxHost("ufw", "nft"), []func(*fakeHost){func(f *fakeHost) {
			f.out["ufw status"] = host.Output{Stderr: []byte("ERROR: You need to be root to run this script\n"), ExitCode: 1}
		}}, "", "ufw status: exit status 1: ERROR: You need to be root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range c.setup {
				s(c.host)
			}
			b, err := Detect(ctx, c.host, c.override)
			switch {
			case err != nil && strings.Contains(err.Error(), c.want):
			case err != nil:
				t.Fatalf("Detect: %v\nwant %q", err, c.want)
			case b.Name() != c.want:
				t.Fatalf("Detect = %s, want %s", b.Name(), c.want)
			}
			if fw, ok := b.(*Firewalld); ok && !fw.Running && c.want == "firewalld" {
				t.Error("firewalld runs, but the backend would edit its configuration offline")
			}
		})
	}
}
