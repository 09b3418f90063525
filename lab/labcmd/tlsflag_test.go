package labcmd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/milink/milink/lab"
)

func TestTLSFlags(t *testing.T) {
	var f tlsFlags
	for _, v := range []string{"sql01:force", "mi01:off", "sql01:force,cert=c.pem,key=k.pem"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := tlsFlags{"sql01": {Force: true, CertFile: "c.pem", KeyFile: "k.pem"}, "mi01": {Off: true}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("flags %+v, want %+v", f, want)
	}
	// The serve process gets the same settings back.
	o := labOptions{tls: f}
	args := o.serveArgs("/lab")
	var back tlsFlags
	for i, a := range args {
		if a == "-tls" {
			if err := back.Set(args[i+1]); err != nil {
				t.Fatalf("serve arg %q: %v", args[i+1], err)
			}
		}
	}
	if !reflect.DeepEqual(back, f) {
		t.Errorf("serve args %v give %+v", args, back)
	}
	if cfg := o.config(nil); !reflect.DeepEqual(cfg.TLS, map[string]lab.TLS(f)) {
		t.Errorf("config TLS %+v", cfg.TLS)
	}
	for _, bad := range []string{"sql01", "sql02:on", "sql01:strict", "sql01:off,force", "sql01:cert=x.pem"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestConnStringVerifiesTLS(t *testing.T) {
	s := connString(lab.ServerInfo{User: "sa", Password: "p", Address: "127.0.0.2", Port: 1433, Certificate: "/lab/sql01/tls/cert.pem"})
	if !strings.Contains(s, "encrypt=true") || !strings.Contains(s, "certificate=%2Flab%2Fsql01%2Ftls%2Fcert.pem") || strings.Contains(s, "trust") {
		t.Errorf("connString = %s", s)
	}
}
