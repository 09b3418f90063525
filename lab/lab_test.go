package lab_test

import (
	"strings"
	"testing"
	"time"

	"github.com/milink/milink/lab"
)

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		cfg lab.Config
		err string // "" means valid
	}{
		{cfg: lab.Config{}},
		{cfg: lab.Config{Profile: "2022-cu13-windows", Address: "127.9.8.2", Port: 14330, RestartDelay: time.Second}},
		{cfg: lab.Config{Profile: "nope"}, err: `unknown profile "nope"`},
		{cfg: lab.Config{Profile: "managed-instance"}, err: "sql01 needs a SQL Server profile"},
		{cfg: lab.Config{Address: "foo"}, err: `address "foo"`},
		{cfg: lab.Config{Address: "10.0.0.2"}, err: "loopback"},
		{cfg: lab.Config{Address: "::1"}, err: "loopback"},
		{cfg: lab.Config{Address: "127.255.255.255"}, err: "next address"},
		{cfg: lab.Config{Port: 70000}, err: "port 70000"},
		{cfg: lab.Config{Port: -1}, err: "port -1"},
		{cfg: lab.Config{RestartDelay: -time.Second}, err: "restart delay"},
	}
	for _, tt := range tests {
		err := lab.ValidateConfig(tt.cfg)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.err)
		}
	}
}
