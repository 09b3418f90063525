package engine

import "testing"

// The job step's tnc as the procedure writes it (a bare address) and as
// milink writes it (a PowerShell single-quoted literal).
func TestTncAddress(t *testing.T) {
	tests := []struct {
		cmd, addr, port string
		ok              bool
	}{
		{"tnc 10.0.0.4 -port 5022 -InformationLevel Quiet", "10.0.0.4", "5022", true},
		{"tnc '10.0.0.4' -port 5022 -InformationLevel Quiet", "10.0.0.4", "5022", true},
		{"tnc 'sql01.contoso.com' -port 5023", "sql01.contoso.com", "5023", true},
		{"tnc 'it''s' -port 5022 -InformationLevel Quiet", "it's", "5022", true},
		{"Test-NetConnection -ComputerName 'a b' -port 1 -InformationLevel Detailed", "a b", "1", true},
		{"tnc 'unterminated -port 5022", "", "", false},
		{"tnc 'a' 'b' -port 5022", "", "", false},
		{"tnc a -port x", "", "", false},
	}
	for _, tt := range tests {
		m := tncRe.FindStringSubmatch(tt.cmd)
		if (m != nil) != tt.ok {
			t.Errorf("%q: matched %v, want %v", tt.cmd, m != nil, tt.ok)
			continue
		}
		if m != nil && (psUnquote(m[1]) != tt.addr || m[2] != tt.port) {
			t.Errorf("%q: address %q port %q, want %q %q", tt.cmd, psUnquote(m[1]), m[2], tt.addr, tt.port)
		}
	}
}
