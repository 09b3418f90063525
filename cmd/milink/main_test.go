package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/milink/milink/examples"
	"github.com/milink/milink/internal/azurite"
	"github.com/milink/milink/internal/testkind"
)

// cmdExample writes examples/NAME's configuration into the work directory.
func cmdExample(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: example lab [DIR] | example NAME")
	}
	if args[0] == "lab" {
		dir := "."
		if len(args) == 2 {
			dir = args[1]
			ts.Check(os.MkdirAll(ts.MkAbs(dir), 0o755))
		}
		ts.Check(examples.WriteLab(ts.MkAbs(dir)))
		return
	}
	// Another example of the repository, as a user copies it.
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", args[0], "*.milink.hcl"))
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("no example %q", args[0])
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(filepath.Base(f)), data, 0o644))
	}
}

// cmdAzurite starts the test binary's Azurite (once) and a new container
// for the script, and sets MILINK_VAR_state_endpoint, _container and
// _access_key for a backend block that uses those variables.
func cmdAzurite(ts *testscript.TestScript, neg bool, args []string) {
	srv, err := azurite.Start()
	ts.Check(err)
	name, err := srv.NewContainer()
	ts.Check(err)
	ts.Setenv("MILINK_VAR_state_endpoint", srv.Endpoint)
	ts.Setenv("MILINK_VAR_state_container", name)
	ts.Setenv("MILINK_VAR_state_access_key", azurite.Key)
}

// stopAzurite stops the shared Azurite after the tests.
type stopAzurite struct{ m *testing.M }

func (s stopAzurite) Run() int {
	code := s.m.Run()
	azurite.Stop()
	return code
}

// The end-to-end tests run the real milink binary (this test binary,
// re-executed under the name "milink") against a real lab started by the
// script itself, through the real go-mssqldb client.
func TestMain(m *testing.M) {
	testscript.Main(stopAzurite{m}, map[string]func(){
		// The test binary's milink also knows the test kinds (files in a
		// directory, which milink creates and deletes), to test deletion
		// end to end before a real kind that deletes exists.
		"milink": func() {
			extraKinds = testkind.Kinds()
			os.Exit(runProcess(os.Args[1:]))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			base, err := freeLabAddress()
			if err != nil {
				return err
			}
			env.Setenv("LABADDR", base)
			env.Setenv("NO_COLOR", "1")
			work := env.WorkDir
			env.Defer(func() {
				// Whatever the script did, leave no lab running.
				if _, err := os.Stat(filepath.Join(work, ".milink-lab")); err == nil {
					cmd := exec.Command("milink", "-chdir="+work, "lab", "down")
					_ = cmd.Run()
				}
			})
			return nil
		},
		// [sshd]: the OpenSSH server is installed; where it is not, a
		// script needing it is skipped, unless MILINK_REQUIRE_SSHD is set
		// (CI), when it must run.
		// [kdc]: the MIT KDC is installed (krb5-kdc, krb5-admin-server,
		// krb5-user), or MILINK_REQUIRE_KDC says it must be.
		// [systemd]: this machine runs systemd as its init system (a
		// container usually does not), which decides whether the default
		// restart command can work here.
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "sshd":
				_, err := os.Stat("/usr/sbin/sshd")
				return err == nil || os.Getenv("MILINK_REQUIRE_SSHD") != "", nil
			case "kdc":
				_, err := os.Stat("/usr/sbin/krb5kdc")
				return err == nil || os.Getenv("MILINK_REQUIRE_KDC") != "", nil
			case "systemd":
				fi, err := os.Stat("/run/systemd/system")
				return err == nil && fi.IsDir(), nil
			case "azurite":
				// Installed, or required by MILINK_REQUIRE_AZURITE (CI):
				// then a missing Azurite fails the script.
				return azurite.Available(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sql":     cmdSQL,
			"example": cmdExample,
			"sshd":    cmdSSHD,
			"kdc":     cmdKDC,
			"listen":  cmdListen,
			"azurite": cmdAzurite,
		},
	})
}

// freeLabAddress picks a random 127.a.b.2 whose .2 and .3 addresses can
// be bound on the lab's ports, so scripts can run in parallel.
func freeLabAddress() (string, error) {
	for range 50 {
		a, b := 1+rand.IntN(250), 1+rand.IntN(250)
		base := fmt.Sprintf("127.%d.%d.", a, b)
		ok := true
		for _, host := range []string{base + "2", base + "3"} {
			for _, port := range []int{1433, 5022} {
				l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return base + "2", nil
		}
	}
	return "", fmt.Errorf("no free loopback address for a lab")
}

// cmdSQL runs one batch on a lab server as a DBA would with a client:
//
//	sql NAME 'T-SQL'
//
// It reads .milink-lab/lab.json in the work directory and prints the
// first column of each row.
func cmdSQL(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sql NAME 'T-SQL'")
	}
	data, err := os.ReadFile(ts.MkAbs(".milink-lab/lab.json"))
	ts.Check(err)
	var lab struct {
		Servers []struct {
			Name, Address, User, Password string
			Port                          int
		}
	}
	ts.Check(json.Unmarshal(data, &lab))
	for _, s := range lab.Servers {
		if s.Name != args[0] {
			continue
		}
		u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.User, s.Password), Host: net.JoinHostPort(s.Address, strconv.Itoa(s.Port)), RawQuery: "encrypt=disable&database=master"}
		db, err := sql.Open("sqlserver", u.String())
		ts.Check(err)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rows, err := db.QueryContext(ctx, args[1])
		if err != nil {
			if neg {
				fmt.Fprintln(ts.Stderr(), err)
				return
			}
			ts.Fatalf("sql: %v", err)
		}
		defer rows.Close()
		var out strings.Builder
		for {
			for rows.Next() {
				cols, _ := rows.Columns()
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				ts.Check(rows.Scan(ptrs...))
				fmt.Fprintln(&out, vals[0])
			}
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			if neg {
				fmt.Fprintln(ts.Stderr(), err)
				return
			}
			ts.Fatalf("sql: %v", err)
		}
		if neg {
			ts.Fatalf("sql succeeded unexpectedly")
		}
		fmt.Fprint(ts.Stdout(), out.String())
		return
	}
	ts.Fatalf("no server %q in lab.json", args[0])
}
