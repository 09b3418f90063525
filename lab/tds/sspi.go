package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const tokSSPI = 0xED

// untrustedDomain is what SQL Server answers when integrated
// authentication fails or is not available (the cause goes to its log).
var untrustedDomain = Message{Number: 18452, State: 1, Class: 14,
	Text: "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication."}

// maxSSPILegs bounds the exchange: Kerberos needs one leg, NTLM two.
const maxSSPILegs = 4

// login7SSPI is the SSPI token of a LOGIN7 message (MS-TDS 2.2.6.4:
// ibSSPI/cbSSPI, or cbSSPILong when cbSSPI is 0xFFFF).
func login7SSPI(b []byte) ([]byte, error) {
	off := int(binary.LittleEndian.Uint16(b[l7SSPI:]))
	n := int(binary.LittleEndian.Uint16(b[l7SSPI+2:]))
	if n == 0xFFFF && len(b) >= l7SSPILong+4 {
		n = int(binary.LittleEndian.Uint32(b[l7SSPILong:]))
	}
	if off+n > len(b) || off+n < off {
		return nil, errors.New("tds: LOGIN7 SSPI data points past the message")
	}
	return b[off : off+n], nil
}

// integrated runs the Windows-authentication exchange of a login: the
// acceptor's challenges go out as SSPI tokens, the client's answers come
// back in SSPI messages (packet type 0x11). It returns the proved login
// and the acceptor's last token, which goes out with the LOGINACK.
func (c *conn) integrated(token []byte) (user string, final []byte, err error) {
	if c.srv.opts.SSPI == nil {
		return "", nil, c.refuse(untrustedDomain)
	}
	ex := c.srv.opts.SSPI.Start()
	for leg := 0; ; leg++ {
		out, user, done, fail := ex.Step(token)
		if fail != nil {
			c.log.Debug("integrated login refused", "number", fail.Number, "reason", fail.Text)
			return "", nil, c.refuse(*fail)
		}
		if done {
			return user, out, nil
		}
		if leg == maxSSPILegs || len(out) == 0 {
			return "", nil, c.refuse(untrustedDomain)
		}
		if err := c.writeReply(appendSSPI(nil, out), true); err != nil {
			return "", nil, err
		}
		m, err := readMessage(c.rw)
		if err != nil {
			return "", nil, err
		}
		if m.typ != pktSSPI {
			return "", nil, fmt.Errorf("tds: expected an SSPI message, got packet type 0x%02x", m.typ)
		}
		token = m.body
	}
}

// appendSSPI appends an SSPI token (MS-TDS 2.2.7.22).
func appendSSPI(dst, data []byte) []byte {
	dst = append(dst, tokSSPI)
	dst = appendU16(dst, uint16(len(data)))
	return append(dst, data...)
}
