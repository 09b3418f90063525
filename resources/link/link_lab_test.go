package link

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/milink/milink/internal/labtest"
	"github.com/milink/milink/lab"
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/sqlserver"
)

// linkLabTargets opens the lab's mi01 (Resource Manager over HTTPS, the real
// credential flow) and sql01 (go-mssqldb) as milink's targets.
func linkLabTargets(t *testing.T, l *lab.Lab) (*azure.ManagedInstance, *sqlserver.Instance) {
	t.Helper()
	ctx := context.Background()
	a := l.File().Azure
	cfg := &azure.Config{Address: "managed_instance.mi01", ResourceGroup: a.ResourceGroup, Name: a.ManagedInstance,
		Azure: &azure.Settings{Address: "azure.lab", SubscriptionID: a.SubscriptionID, TenantID: a.TenantID, ClientID: a.ClientID,
			ClientSecret: a.ClientSecret, Cloud: "custom", ResourceManager: a.ResourceManager, Audience: a.Audience, Authority: a.Authority, CAFile: a.CAFile}}
	var miKind *resources.Kind
	for _, k := range azure.Kinds() {
		if k.Type == azure.KindManagedInstance {
			miKind = k
		}
	}
	tgt, err := miKind.Impl.(resources.Opener).Open(ctx, resources.Env{}, cfg.Address, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	if _, diags := tgt.Refresh(ctx, nil); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	info, _ := l.File().Server(lab.SQLServerName)
	s := &sqlserver.Server{Name: "sql01", Address: info.Address, Port: info.Port, Encrypt: "disable",
		Auth: sqlserver.Auth{Method: "sql", User: info.User, Password: info.Password}, Host: sqlserver.Host{OS: "linux", Transport: "local"}}
	sq, err := sqlserver.Open(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	return tgt.(*azure.ManagedInstance), sq
}

// TestLabLinkRefused plans a link against the lab and applies it while
// sql01 has no availability groups: the lab refuses it as Azure does,
// and milink says which step to fix. It skips while the lab's Resource
// Manager does not serve distributedAvailabilityGroups.
func TestLabLinkRefused(t *testing.T) {
	l := labtest.Start(t, lab.Config{})
	mi, sq := linkLabTargets(t, l)
	c := testLinkConfig()
	c.WaitFor = "created"
	req := resources.DiffRequest{Address: c.Address, Config: c, Target: mi,
		Others: map[string]resources.OtherTarget{"sql_server": {Target: sq}}}
	read, diags := linkImpl{}.Read(context.Background(), req)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	req.Read = read
	ch, diags := linkImpl{}.Diff(req)
	if diags.HasErrors() || ch.Action != resources.Create {
		t.Fatalf("plan: %s %v", ch.Action, diags)
	}
	if want := fmt.Sprintf(`"partnerEndpoint":"TCP://%s:5022"`, sq.Server().Address); !strings.Contains(ch.Steps[0].Text, want) {
		t.Errorf("PUT step: %s", ch.Steps[0].Text)
	}
	_, err := linkImpl{}.Apply(context.Background(), resources.ApplyRequest{Change: ch, Config: c, Target: mi,
		Others: map[string]resources.Target{"sql_server": sq}})
	if err == nil || !strings.Contains(err.Error(), "CloudLifterChimeraAvailabilityGroupConnectionCannotBeEstablished") ||
		!strings.Contains(err.Error(), "check that the AG and the distributed AG exist") {
		t.Errorf("apply without availability groups: %v", err)
	}
}
