package sqlserver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/milink/milink/resources"
)

// databaseChange is the plan's change for one database of the lab.
func databaseChange(t *testing.T, i *Instance, s0 string) resources.Change {
	t.Helper()
	o, err := i.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	chs, _ := Diff(i.s, o, nil, testSalt)
	for _, c := range chs {
		if c.Address == s0 {
			return c
		}
	}
	t.Fatalf("no change for %s", s0)
	return resources.Change{}
}

// Ctrl-C while BACKUP runs: the driver's message loop ends quietly on a
// cancelled context; apply must report the cancellation, never a backup
// it did not see finish.
func TestLabBackupCancelled(t *testing.T) {
	l := startLab(t, "2019-cu22-linux")
	s := l.config()
	i := l.open(t, s)
	ch := databaseChange(t, i, "database.sales")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := i.Apply(ctx, s, ch, testSalt, func(m string) {
		if strings.Contains(m, "percent processed") {
			cancel() // the user presses Ctrl-C at the first progress message
		}
	})
	if err == nil {
		t.Fatalf("cancelled backup reported success: %v", res.Attributes)
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "database.sales: ") {
		t.Errorf("err = %v", err)
	}
}
