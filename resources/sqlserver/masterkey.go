package sqlserver

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/milink/milink/resources"
)

// masterKeyImpl is the master_key kind: the database master key in master,
// which the link's certificates need.
type masterKeyImpl struct{}

func (masterKeyImpl) Diff(req resources.DiffRequest) (resources.Change, hcl.Diagnostics) {
	mk := req.Config.(*MasterKey)
	o := req.Observed.(*Observed)
	fp := resources.Fingerprint(req.Salt, mk.Password)
	priorFP := ""
	if req.Prior != nil {
		priorFP, _ = req.Prior.Attributes["password"].(string)
	}
	ch := resources.Change{
		Address:   mk.Addr(),
		Kind:      KindMasterKey,
		Target:    req.Target.Address(),
		Action:    resources.NoOp,
		Before:    map[string]any{"exists": o.MasterKey, "password": priorFP},
		After:     map[string]any{"exists": true, "password": fp},
		Sensitive: []string{"password"},
	}
	on := req.Target.Address()
	switch {
	case !o.MasterKey:
		ch.Action = resources.Create
		ch.Steps = []resources.Step{{Kind: "tsql", On: on, Text: CreateMasterKeySQL(mk.Password, true)}}
		ch.Reason = "no database master key in master"
		if priorFP != "" {
			ch.Reason = "the master key milink created is gone (dropped outside milink)"
		}
	case priorFP == "":
		// Created by someone else: left as it is, and never taken over.
		// Its password is not assumed to be the configured one, so no
		// later password change touches it; dropping or regenerating it
		// would break whatever it already protects.
		ch.After = map[string]any{"exists": true, "managed": false}
		ch.Before = map[string]any{"exists": true}
		ch.Notable = true
		ch.Reason = "exists; not created by milink, so not managed: left as is (its password is never assumed)"
	case priorFP == fp:
	case mk.Regenerate:
		ch.Action = resources.Update
		ch.Steps = []resources.Step{{Kind: "tsql", On: on, Text: RegenerateMasterKeySQL(mk.Password, true)}}
		// Not a password change alone: REGENERATE touches every key under
		// the master key, which the link procedure never asks for.
		ch.Reason = "password changed, regenerate_on_password_change = true: REGENERATE decrypts and re-encrypts every key the master key protects (certificates, symmetric keys); not part of the link procedure"
	default:
		ch.Action = resources.Update
		ch.Steps = []resources.Step{{Kind: "tsql", On: on, Text: AddMasterKeyPasswordSQL(mk.Password, true)}}
		ch.Reason = "password changed: the new password is added to those that open the master key (ADD ENCRYPTION BY PASSWORD); nothing is re-encrypted, and the old password still opens it until you drop it"
	}
	return ch, nil
}

func (masterKeyImpl) Apply(ctx context.Context, req resources.ApplyRequest) (resources.Result, error) {
	i := req.Target.(*Instance)
	if req.Progress != nil {
		defer i.reportTo(req.Progress)()
	}
	ch := req.Change
	mk, ok := req.Config.(*MasterKey)
	if !ok {
		return resources.Result{}, fmt.Errorf("%s: not in the configuration any more", ch.Address)
	}
	i.s.MasterKey = mk // its password is scrubbed from errors
	pw := mk.Password
	var err error
	switch ch.Action {
	case resources.Create:
		// IF NOT EXISTS makes a re-run after a crash harmless.
		err = i.exec(ctx, CreateMasterKeySQL(pw, true), CreateMasterKeySQL(pw, false))
	case resources.Update:
		if mk.Regenerate {
			err = i.exec(ctx, RegenerateMasterKeySQL(pw, true), RegenerateMasterKeySQL(pw, false))
		} else {
			err = i.exec(ctx, AddMasterKeyPasswordSQL(pw, true), AddMasterKeyPasswordSQL(pw, false))
		}
	default:
		return resources.Result{}, fmt.Errorf("%s: cannot %s a master key", ch.Address, ch.Action)
	}
	if SQLErrorNumber(err) == 15118 {
		return resources.Result{}, fmt.Errorf("%w; the server's password policy refused the master key password: use a longer one mixing upper and lower case letters, digits and symbols", sqlError(i.s, ch.Address, "setting the master key", err))
	}
	if err != nil {
		return resources.Result{}, sqlError(i.s, ch.Address, "setting the master key", err)
	}
	return resources.Result{Attributes: map[string]any{"exists": true, "password": resources.Fingerprint(req.Salt, pw)}}, nil
}
