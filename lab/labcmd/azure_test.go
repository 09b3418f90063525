package labcmd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/milink/milink/lab/arm"
)

func TestAzureFaultFlag(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	s := func(v string) *string { return &v }
	tests := []struct {
		values []string
		want   arm.FaultChange
		err    string
	}{
		{values: []string{"arm:throttle=2,retry-after=3"}, want: arm.FaultChange{Throttle: n(2), RetryAfter: n(3)}},
		{values: []string{"arm:server-error=1", "arm:expired-tokens=4"}, want: arm.FaultChange{ServerError: n(1), ExpiredTokens: n(4)}},
		{values: []string{"arm:fail-operation"}, want: arm.FaultChange{FailOperation: s("InternalServerError")}},
		{values: []string{"arm:fail-operation=Conflict"}, want: arm.FaultChange{FailOperation: s("Conflict")}},
		{values: []string{"arm:fail-operation=no spaces"}, err: "error code"},
		{values: []string{"arm:throttle=-1"}, err: "count from 0"},
		{values: []string{"arm:latency=1s"}, err: "unknown arm fault"},
		{values: []string{"arm:"}, err: "arm:KEY=VALUE"},
	}
	for _, tt := range tests {
		var o labOptions
		f := faultFlag{servers: &o.faults, azure: &o.azureFaults, set: &o.azureSet}
		var err error
		for _, v := range tt.values {
			if err = f.Set(v); err != nil {
				break
			}
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.values, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.values, err)
			continue
		}
		if !o.azureSet || !reflect.DeepEqual(o.azureFaults, tt.want) {
			t.Errorf("%v: got %s (set %t), want %s", tt.values, azureFaultSpec(o.azureFaults), o.azureSet, azureFaultSpec(tt.want))
		}
		if len(o.faults) != 0 {
			t.Errorf("%v: arm faults leaked to the servers: %v", tt.values, o.faults)
		}
	}
	// Server faults still go to the servers.
	var o labOptions
	f := faultFlag{servers: &o.faults, azure: &o.azureFaults, set: &o.azureSet}
	if err := f.Set("sql01:drop-at=2"); err != nil || o.azureSet || o.faults["sql01"].DropAt == nil {
		t.Errorf("sql01 fault: %v %+v", err, o)
	}
}
