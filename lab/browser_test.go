package lab_test

import (
	"database/sql"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

// TestNamedInstance: a Windows-profile sql01 as the named instance SALES,
// reached by go-mssqldb through the lab's SQL Server Browser (no port
// given), answering as a named instance does.
func TestNamedInstance(t *testing.T) {
	l := startLab(t, lab.Config{Profile: "2019-cu20-windows", Instance: "SALES"})
	info, _ := l.File().Server("sql01")
	if info.Instance != "SALES" {
		t.Fatalf("lab.json instance = %q", info.Instance)
	}
	// The browser's answer to CLNT_UCAST_INST, read raw.
	c, err := net.Dial("udp", net.JoinHostPort(info.Address, "1434"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append([]byte{0x04}, "sales\x00"...)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "InstanceName;SALES;IsClustered;No;Version;15.0.4312.2;tcp;" + strconv.Itoa(info.Port) + ";;"
	if buf[0] != 0x05 || !strings.HasSuffix(string(buf[3:n]), want) || int(buf[1])|int(buf[2])<<8 != n-3 {
		t.Fatalf("SVR_RESP = %q, want ...%q", buf[:n], want)
	}
	// go-mssqldb finds the port through the browser: the URL names the
	// instance, not the port.
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(info.User, info.Password), Host: info.Address, Path: "/SALES",
		RawQuery: "encrypt=disable&dial+timeout=5"}
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var server, instance, service string
	if err := db.QueryRowContext(ctx(t), "SELECT @@SERVERNAME, CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)), @@SERVICENAME").Scan(&server, &instance, &service); err != nil {
		t.Fatal(err)
	}
	if server != `sql01\SALES` || instance != "SALES" || service != "SALES" {
		t.Errorf("@@SERVERNAME %q, InstanceName %q, @@SERVICENAME %q", server, instance, service)
	}
	var key string
	if err := db.QueryRowContext(ctx(t), "SELECT TOP 1 registry_key FROM sys.dm_server_registry").Scan(&key); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(key, `MSSQL15.SALES`) {
		t.Errorf("registry key %q is not the named instance's", key)
	}
}

func TestInstanceNeedsWindows(t *testing.T) {
	for _, c := range []struct {
		cfg  lab.Config
		want string
	}{
		{lab.Config{Profile: "2019-cu22-linux", Instance: "SALES"}, "only the default instance"},
		{lab.Config{Instance: "9LIVES"}, "instance name"},
		{lab.Config{Instance: "MSSQLSERVER"}, "instance name"},
	} {
		if err := lab.ValidateConfig(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
