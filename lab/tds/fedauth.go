package tds

import (
	"encoding/binary"
	"errors"
)

// Federated authentication (MS-TDS 2.2.6.4, 2.2.7.11): the client says in
// PRELOGIN that it may use Microsoft Entra (FEDAUTHREQUIRED), then sends
// its access token in LOGIN7's FEDAUTH feature extension; the server
// acknowledges the feature in a FEATUREEXTACK token after the LOGINACK.

const (
	preloginFedAuthRequired = 0x06
	l7Flags3                = 27
	l7Extension             = 56 // ibExtension: offset of the DWORD that locates FeatureExt
	fExtension              = 0x10
	featFedAuth             = 0x02
	featTerminator          = 0xFF
	tokFeatureExtAck        = 0xAE
	fedAuthSecurityToken    = 0x01
)

// preloginHas reports whether a PRELOGIN message carries an option.
func preloginHas(b []byte, option byte) bool {
	for i := 0; i+5 <= len(b) && b[i] != 0xFF; i += 5 {
		if b[i] == option {
			return true
		}
	}
	return false
}

type fedAuthLogin struct {
	library byte
	token   string
}

// login7FedAuth finds the FEDAUTH feature of a LOGIN7 message (TDS 7.4
// and later), or nil.
func login7FedAuth(b []byte, version uint32) (*fedAuthLogin, error) {
	if len(b) <= l7Flags3 || b[l7Flags3]&fExtension == 0 || version < tds74 || len(b) < l7Extension+4 {
		return nil, nil
	}
	at := int(binary.LittleEndian.Uint16(b[l7Extension:]))
	if at+4 > len(b) {
		return nil, errors.New("tds: LOGIN7 extension points past the message")
	}
	off := int(binary.LittleEndian.Uint32(b[at:]))
	for off < len(b) {
		id := b[off]
		if id == featTerminator {
			return nil, nil
		}
		if off+5 > len(b) {
			return nil, errors.New("tds: LOGIN7 feature extension truncated")
		}
		n := int(binary.LittleEndian.Uint32(b[off+1:]))
		data := b[off+5:]
		if n < 0 || n > len(data) {
			return nil, errors.New("tds: LOGIN7 feature points past the message")
		}
		data = data[:n]
		off += 5 + n
		if id != featFedAuth {
			continue
		}
		if len(data) < 1 {
			return nil, errors.New("tds: FEDAUTH feature without options")
		}
		f := &fedAuthLogin{library: data[0] >> 1}
		if f.library == fedAuthSecurityToken {
			if len(data) < 5 {
				return nil, errors.New("tds: FEDAUTH security token truncated")
			}
			tn := int(binary.LittleEndian.Uint32(data[1:]))
			if tn < 0 || 5+tn > len(data) {
				return nil, errors.New("tds: FEDAUTH token points past the feature")
			}
			f.token = decodeUCS2(data[5 : 5+tn])
		}
		return f, nil
	}
	return nil, errors.New("tds: LOGIN7 feature extension not terminated")
}

// appendFedAuthAck acknowledges the FEDAUTH feature (no nonce was sent,
// so there is no signature either).
func appendFedAuthAck(dst []byte) []byte {
	dst = append(dst, tokFeatureExtAck, featFedAuth, 0, 0, 0, 0)
	return append(dst, featTerminator)
}
