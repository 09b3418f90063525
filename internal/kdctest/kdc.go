// Package kdctest starts a throw-away Kerberos realm on a real MIT KDC
// (Debian krb5-kdc) on a loopback port, for tests of Windows
// authentication: principals with passwords, service keytabs, and
// credential caches made by the real kinit.
package kdctest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// TB is what Start needs of a test: testing.TB has it, and a testscript
// command adapts to it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// KDC is a running realm.
type KDC struct {
	Realm string
	Dir   string
	// Krb5Conf is a krb5.conf pointing at this KDC only.
	Krb5Conf string
	Port     int
	env      []string
	t        TB
}

var tools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

// find looks a tool up on PATH and in the sbin directories.
func find(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// Start starts a realm for the test, or skips it where the KDC is not
// installed (a failure when MILINK_REQUIRE_KDC is set, as in CI).
func Start(t TB, realm string) *KDC {
	t.Helper()
	for _, tool := range tools {
		if _, ok := find(tool); !ok {
			if os.Getenv("MILINK_REQUIRE_KDC") != "" {
				t.Fatalf("%s is not installed (Debian: krb5-kdc, krb5-admin-server, krb5-user), and MILINK_REQUIRE_KDC is set", tool)
			}
			t.Skipf("%s is not installed (Debian: krb5-kdc, krb5-admin-server, krb5-user); set MILINK_REQUIRE_KDC=1 to make this a failure", tool)
		}
	}
	dir := t.TempDir()
	port := freePort(t)
	k := &KDC{Realm: realm, Dir: dir, Krb5Conf: filepath.Join(dir, "krb5.conf"), Port: port, t: t}
	enc := "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"
	krb5 := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 udp_preference_limit = 1
 default_tkt_enctypes = %[3]s
 default_tgs_enctypes = %[3]s
 permitted_enctypes = %[3]s
[realms]
 %[1]s = {
  kdc = 127.0.0.1:%[2]d
  admin_server = 127.0.0.1:%[2]d
 }
`, realm, port, enc)
	kdc := fmt.Sprintf(`[kdcdefaults]
 kdc_ports = %[2]d
 kdc_tcp_ports = %[2]d
[realms]
 %[1]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  kdc_listen = 127.0.0.1:%[2]d
  kdc_tcp_listen = 127.0.0.1:%[2]d
  max_life = 10h
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:%[3]s/kdc.log
`, realm, port, dir)
	write(t, k.Krb5Conf, krb5)
	write(t, filepath.Join(dir, "kdc.conf"), kdc)
	write(t, filepath.Join(dir, "kadm5.acl"), "")
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"),
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "unused-ccache"))
	k.run("kdb5_util", "create", "-s", "-r", realm, "-P", "kdc-master-"+filepath.Base(dir))

	kdcPath, _ := find("krb5kdc")
	cmd := exec.Command(kdcPath, "-n", "-r", realm, "-P", filepath.Join(dir, "kdc.pid"))
	cmd.Env = k.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("krb5kdc: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krb5kdc did not listen on %d: %v\n%s\n%s", port, err, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return k
}

func write(t TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
}

func freePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Env is the environment that points Kerberos tools at this realm.
func (k *KDC) Env() []string { return append([]string(nil), k.env...) }

func (k *KDC) run(tool string, args ...string) string {
	k.t.Helper()
	p, _ := find(tool)
	cmd := exec.Command(p, args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		k.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddUser adds a principal with a password (user@REALM).
func (k *KDC) AddUser(user, password string) {
	k.t.Helper()
	k.run("kadmin.local", "-r", k.Realm, "-q", fmt.Sprintf("addprinc -pw %s %s@%s", password, user, k.Realm))
}

// AddService adds a service principal with a random key and writes its
// keytab (the server's side), returning the keytab's path.
func (k *KDC) AddService(spn string) string {
	k.t.Helper()
	path := filepath.Join(k.Dir, strings.NewReplacer("/", "_", ":", "_").Replace(spn)+".keytab")
	k.run("kadmin.local", "-r", k.Realm, "-q", fmt.Sprintf("addprinc -randkey %s@%s", spn, k.Realm))
	k.run("kadmin.local", "-r", k.Realm, "-q", fmt.Sprintf("ktadd -k %s %s@%s", path, spn, k.Realm))
	return path
}

// UserKeytab writes a keytab for a user principal without changing its
// key (what a pipeline runner logs in with), returning its path.
func (k *KDC) UserKeytab(user string) string {
	k.t.Helper()
	path := filepath.Join(k.Dir, user+".keytab")
	k.run("kadmin.local", "-r", k.Realm, "-q", fmt.Sprintf("ktadd -norandkey -k %s %s@%s", path, user, k.Realm))
	return path
}

// Kinit logs the user in with the real kinit and returns the credential
// cache's path.
func (k *KDC) Kinit(user, password string) string {
	k.t.Helper()
	cache := filepath.Join(k.Dir, "ccache-"+user)
	p, _ := find("kinit")
	cmd := exec.Command(p, "-c", "FILE:"+cache, user+"@"+k.Realm)
	cmd.Env = k.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("kinit %s: %v\n%s", user, err, out)
	}
	return cache
}

// RotateKey gives a service principal a new random key, which keytabs
// written before no longer hold.
func (k *KDC) RotateKey(spn string) {
	k.t.Helper()
	k.run("kadmin.local", "-r", k.Realm, "-q", fmt.Sprintf("cpw -randkey %s@%s", spn, k.Realm))
}
