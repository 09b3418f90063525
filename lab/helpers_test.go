package lab_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/milink/milink/lab"
	"github.com/milink/milink/lab/labcmd"
)

// The test binary doubles as the milink executable: `milink lab up` starts
// os.Executable() with "lab serve ..." and lab.json's restart_command names
// it, so a child started with this variable set runs labcmd instead of tests.
const asMilinkEnv = "MILINK_LAB_TEST_AS_MILINK"

func TestMain(m *testing.M) {
	if os.Getenv(asMilinkEnv) == "1" {
		args := os.Args[1:]
		if len(args) == 0 || args[0] != "lab" {
			fmt.Fprintln(os.Stderr, "test binary as milink: only \"lab\" commands")
			os.Exit(2)
		}
		os.Exit(labcmd.Main(context.Background(), args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv(asMilinkEnv, "1")
	os.Exit(m.Run())
}

// randomBase picks a random 127.X.Y.2 (never 127.0.0.2 itself, which a
// person's lab uses) whose next address is free too; parallel tests and
// other packages' tests use other addresses.
func randomBase(t *testing.T) string {
	t.Helper()
	for range 50 {
		base := fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250))
		if portsFree(base, lab.DefaultPort, 5022) && portsFree(next(base), lab.DefaultPort) {
			return base
		}
	}
	t.Fatal("no free loopback address found")
	return ""
}

func next(addr string) string {
	ip := net.ParseIP(addr).To4()
	ip[3]++
	return ip.String()
}

func portsFree(addr string, ports ...int) bool {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || (err != nil && strings.Contains(err.Error(), "address already in use"))
}

// startLab runs a lab in-process in a temporary directory on a random
// address, retrying on bind failures; it is closed when the test ends.
func startLab(t *testing.T, cfg lab.Config) *lab.Lab {
	t.Helper()
	for range 10 {
		cfg.Dir = t.TempDir()
		cfg.Address = randomBase(t)
		if cfg.RestartDelay == 0 {
			cfg.RestartDelay = 200 * time.Millisecond
		}
		l, err := lab.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Start()
		if isAddrInUse(err) {
			l.Close()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	t.Fatal("could not start a lab: addresses kept being taken")
	return nil
}

func connString(s lab.ServerInfo) string {
	u := url.URL{
		Scheme:   "sqlserver",
		User:     url.UserPassword(s.User, s.Password),
		Host:     net.JoinHostPort(s.Address, strconv.Itoa(s.Port)),
		RawQuery: "encrypt=disable&dial+timeout=2&connection+timeout=10",
	}
	return u.String()
}

// open returns a go-mssqldb pool for a server of the lab.
func open(t *testing.T, l *lab.Lab, name string) *sql.DB {
	t.Helper()
	info, ok := l.File().Server(name)
	if !ok {
		t.Fatalf("no server %s in lab.json", name)
	}
	return openInfo(t, info)
}

func openInfo(t *testing.T, info lab.ServerInfo) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", connString(info))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustExec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.ExecContext(ctx(t), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// scalar runs a query returning one value and gives it as text.
func scalar(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var v any
	if err := db.QueryRowContext(ctx(t), query).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// globalTraceFlags runs DBCC TRACESTATUS(-1) and returns the enabled flags.
func globalTraceFlags(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(ctx(t), "DBCC TRACESTATUS(-1)")
	if err != nil {
		t.Fatalf("DBCC TRACESTATUS(-1): %v", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if len(cols) > 0 && strings.Join(cols, ",") != "TraceFlag,Status,Global,Session" {
		t.Fatalf("DBCC TRACESTATUS columns = %v", cols)
	}
	var flags []int
	for rows.Next() {
		var flag, status, global, session int
		if err := rows.Scan(&flag, &status, &global, &session); err != nil {
			t.Fatal(err)
		}
		if status != 1 || global != 1 {
			t.Fatalf("flag %d: status %d global %d, want 1 1", flag, status, global)
		}
		flags = append(flags, flag)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return flags
}

// dials reports whether a TCP connection to addr:port succeeds.
func dials(addr string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// eventually polls f until it returns true or the time is up.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
