package tds

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Packet types (MS-TDS 2.2.3.1.1).
const (
	pktBatch     = 0x01
	pktRPC       = 0x03
	pktReply     = 0x04
	pktAttention = 0x06
	pktBulk      = 0x07
	pktTransMgr  = 0x0E
	pktLogin7    = 0x10
	pktSSPI      = 0x11
	pktPrelogin  = 0x12
)

// Packet status bits.
const (
	statusEOM         = 0x01
	statusIgnore      = 0x02
	statusReset       = 0x08
	statusResetSkipTx = 0x10
)

const (
	headerLen = 8
	// maxMessage bounds one client message so a hostile length cannot make
	// the server buffer without limit.
	maxMessage = 64 << 20
)

// message is one client message reassembled from its packets.
type message struct {
	typ    byte
	status byte // status of the first packet (carries the reset bits)
	body   []byte
}

// readMessage reads packets up to and including the one marked end of
// message. Packet length is not bounded by the negotiated size: clients
// send PRELOGIN and LOGIN7 before negotiation, and a larger packet is
// harmless to us.
func readMessage(r io.Reader) (message, error) {
	var m message
	var hdr [headerLen]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !first && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		typ, status := hdr[0], hdr[1]
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n < headerLen {
			return m, fmt.Errorf("tds: packet length %d shorter than its header", n)
		}
		if first {
			m.typ, m.status = typ, status
		} else if typ != m.typ {
			return m, fmt.Errorf("tds: packet type 0x%02x inside a message of type 0x%02x", typ, m.typ)
		}
		if len(m.body)+n-headerLen > maxMessage {
			return m, fmt.Errorf("tds: message larger than %d bytes", maxMessage)
		}
		start := len(m.body)
		m.body = append(m.body, make([]byte, n-headerLen)...)
		if _, err := io.ReadFull(r, m.body[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		if status&statusEOM != 0 {
			if status&statusIgnore != 0 {
				// The client abandoned this message part way: drop it.
				m.body = nil
			}
			return m, nil
		}
	}
}

// packetWriter frames reply bytes into packets of the negotiated size.
type packetWriter struct {
	w    io.Writer
	size int // whole packet, header included
	spid uint16
	seq  byte
	typ  byte // packet type; 0 means a reply (0x04)
}

// write sends b as packets; the last one carries end of message if eom.
// Packets are full size except the last one written; a Flush may end a
// non-final packet early, which clients accept.
func (p *packetWriter) write(b []byte, eom bool) error {
	payload := p.size - headerLen
	for {
		n := len(b)
		last := eom
		if n > payload {
			n, last = payload, false
		}
		if n == 0 && !last {
			return nil
		}
		var status byte
		if last {
			status = statusEOM
		}
		p.seq++
		pkt := make([]byte, headerLen+n)
		pkt[0] = pktReply
		if p.typ != 0 {
			pkt[0] = p.typ
		}
		pkt[1] = status
		binary.BigEndian.PutUint16(pkt[2:], uint16(headerLen+n))
		binary.BigEndian.PutUint16(pkt[4:], p.spid)
		pkt[6] = p.seq
		copy(pkt[headerLen:], b[:n])
		if _, err := p.w.Write(pkt); err != nil {
			return err
		}
		b = b[n:]
		if last {
			p.seq = 0
			return nil
		}
		if len(b) == 0 {
			return nil
		}
	}
}
