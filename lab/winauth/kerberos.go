package winauth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberos validates SPNEGO tokens carrying a Kerberos AP-REQ with the
// server's keytab (gokrb5's service side: ticket decryption, authenticator,
// clock skew, replay).
type kerberos struct {
	settings *service.Settings
	realm    string
}

func newKerberos(kt []byte, realm string) (*kerberos, error) {
	k := keytab.New()
	if err := k.Unmarshal(kt); err != nil {
		return nil, fmt.Errorf("winauth: the keytab: %w", err)
	}
	return &kerberos{settings: service.NewSettings(k, service.MaxClockSkew(5*time.Minute), service.DecodePAC(false)), realm: realm}, nil
}

// accept validates the client's first token and returns the user (the
// principal's name in the realm) and the token completing the exchange.
func (k *kerberos) accept(in []byte) (string, []byte, error) {
	var tok spnego.SPNEGOToken
	if err := tok.Unmarshal(in); err != nil {
		return "", nil, fmt.Errorf("not an SPNEGO token: %w", err)
	}
	if !tok.Init || len(tok.NegTokenInit.MechTypes) == 0 {
		return "", nil, errors.New("the first token is not a NegTokenInit")
	}
	mech := tok.NegTokenInit.MechTypes[0]
	if !mech.Equal(gssapi.OIDKRB5.OID()) && !mech.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		return "", nil, fmt.Errorf("mechanism %v is not Kerberos", mech)
	}
	var mt spnego.KRB5Token
	if err := mt.Unmarshal(tok.NegTokenInit.MechTokenBytes); err != nil {
		return "", nil, fmt.Errorf("the Kerberos token: %w", err)
	}
	if !mt.IsAPReq() {
		return "", nil, errors.New("the Kerberos token is not an AP-REQ")
	}
	ok, creds, err := service.VerifyAPREQ(&mt.APReq, k.settings)
	if err != nil {
		var krbErr messages.KRBError
		if errors.As(err, &krbErr) {
			return "", nil, fmt.Errorf("%s", krbErr.Error())
		}
		return "", nil, err
	}
	if !ok || creds == nil {
		return "", nil, errors.New("the AP-REQ did not validate")
	}
	if k.realm != "" && !strings.EqualFold(creds.Domain(), k.realm) {
		return "", nil, fmt.Errorf("principal %s@%s is not of realm %s", creds.UserName(), creds.Domain(), k.realm)
	}
	// accept-completed, Kerberos: the client's SPNEGO is satisfied. (The
	// AP-REP of mutual authentication is not sent: the lab does not
	// prove itself to the client.)
	resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted), SupportedMech: gssapi.OIDKRB5.OID()}
	out, err := resp.Marshal()
	if err != nil {
		return "", nil, err
	}
	return creds.UserName(), out, nil
}
