package winauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	//lint:ignore SA1019 NTLM's NT hash is MD4 (MS-NLMP 3.3.1); nothing else replaces it.
	"golang.org/x/crypto/md4"
)

// NTLM as a server (MS-NLMP): a CHALLENGE for the client's NEGOTIATE,
// then the AUTHENTICATE message's NTLMv2 response checked against the
// user's password. NTLMv1 and LM responses are refused, as a domain that
// follows Microsoft's guidance refuses them.

const (
	ntlmNegotiate    = 1
	ntlmChallenge    = 2
	ntlmAuthenticate = 3

	flagUnicode          = 0x00000001
	flagRequestTarget    = 0x00000004
	flagNTLM             = 0x00000200
	flagAlwaysSign       = 0x00008000
	flagTargetTypeDomain = 0x00010000
	flagExtendedSecurity = 0x00080000
	flagTargetInfo       = 0x00800000
)

type ntlmServer struct {
	domain    string
	users     map[string]string // lower-case user name → password
	loginName func(string) string
	nonce     [8]byte
	now       func() time.Time
}

func newNTLMServer(domain string, users map[string]string, loginName func(string) string) *ntlmServer {
	lower := make(map[string]string, len(users))
	for u, p := range users {
		lower[strings.ToLower(u)] = p
	}
	return &ntlmServer{domain: domain, users: lower, loginName: loginName, now: time.Now}
}

func utf16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16LE(b []byte) string {
	if len(b)%2 != 0 {
		b = b[:len(b)-1]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// avPair appends one AV_PAIR of the target information.
func avPair(dst []byte, id uint16, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, id)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// challenge answers a NEGOTIATE message.
func (s *ntlmServer) challenge(in []byte) ([]byte, error) {
	if len(in) < 16 || binary.LittleEndian.Uint32(in[8:]) != ntlmNegotiate {
		return nil, errors.New("the first NTLM message is not a NEGOTIATE")
	}
	if _, err := rand.Read(s.nonce[:]); err != nil {
		return nil, err
	}
	target := utf16LE(strings.ToUpper(s.domain))
	var info []byte
	info = avPair(info, 2, target)                                     // MsvAvNbDomainName
	info = avPair(info, 1, utf16LE("SQL01"))                           // MsvAvNbComputerName
	info = avPair(info, 4, utf16LE(strings.ToLower(s.domain)+".test")) // MsvAvDnsDomainName
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, uint64(s.now().UnixNano()/100+116444736000000000))
	info = avPair(info, 7, ts) // MsvAvTimestamp
	info = avPair(info, 0, nil)

	const header = 48
	msg := make([]byte, header, header+len(target)+len(info))
	copy(msg, ntlmSignature)
	binary.LittleEndian.PutUint32(msg[8:], ntlmChallenge)
	binary.LittleEndian.PutUint16(msg[12:], uint16(len(target)))
	binary.LittleEndian.PutUint16(msg[14:], uint16(len(target)))
	binary.LittleEndian.PutUint32(msg[16:], header)
	flags := uint32(flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetTypeDomain | flagExtendedSecurity | flagTargetInfo)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], s.nonce[:])
	binary.LittleEndian.PutUint16(msg[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(msg[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(msg[44:], uint32(header+len(target)))
	msg = append(msg, target...)
	return append(msg, info...), nil
}

// field returns a security buffer (length, max length, offset) of msg.
func field(msg []byte, at int) ([]byte, error) {
	if at+8 > len(msg) {
		return nil, errors.New("the AUTHENTICATE message is truncated")
	}
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if off < 0 || n < 0 || off+n > len(msg) || off+n < off {
		return nil, errors.New("an AUTHENTICATE field points past the message")
	}
	return msg[off : off+n], nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// ntowfv2 is NTOWFv2 (MS-NLMP 3.3.2).
func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(utf16LE(password))
	return hmacMD5(h.Sum(nil), utf16LE(strings.ToUpper(user)+domain))
}

// authenticate checks an AUTHENTICATE message and returns the login.
func (s *ntlmServer) authenticate(msg []byte) (string, error) {
	if len(msg) < 64 || !bytes.HasPrefix(msg, ntlmSignature) || binary.LittleEndian.Uint32(msg[8:]) != ntlmAuthenticate {
		return "", errors.New("the second NTLM message is not an AUTHENTICATE")
	}
	nt, err := field(msg, 20)
	if err != nil {
		return "", err
	}
	dom, err := field(msg, 28)
	if err != nil {
		return "", err
	}
	usr, err := field(msg, 36)
	if err != nil {
		return "", err
	}
	domain, user := fromUTF16LE(dom), fromUTF16LE(usr)
	if user == "" {
		return "", errors.New("anonymous NTLM logins are not accepted")
	}
	if !strings.EqualFold(domain, s.domain) {
		return "", fmt.Errorf("user %s\\%s is not of domain %s", domain, user, s.domain)
	}
	if len(nt) <= 24 {
		return "", fmt.Errorf("user %s\\%s sent an NTLMv1 response, which is not accepted", domain, user)
	}
	password, ok := s.users[strings.ToLower(user)]
	if !ok {
		return "", fmt.Errorf("no account %s\\%s", domain, user)
	}
	proof, blob := nt[:16], nt[16:]
	want := hmacMD5(ntowfv2(password, user, domain), s.nonce[:], blob)
	if !hmac.Equal(proof, want) {
		return "", fmt.Errorf("the password of %s\\%s does not match", domain, user)
	}
	return s.loginName(user), nil
}
