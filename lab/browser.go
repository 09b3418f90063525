package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// browser is the SQL Server Browser of a named instance (MC-SQLR): on UDP
// port 1434 of the instance's address it answers the clients that look a
// named instance's TCP port up (CLNT_BCAST_EX, CLNT_UCAST_EX,
// CLNT_UCAST_INST) with an SVR_RESP naming it. Like the real service it
// runs apart from SQL Server: it answers while the instance restarts.
type browser struct {
	conn net.PacketConn
	resp []byte
	wg   sync.WaitGroup
}

const (
	ssrpBcastEx    = 0x02
	ssrpUcastEx    = 0x03
	ssrpUcastInst  = 0x04
	ssrpSvrResp    = 0x05
	browserUDPPort = 1434
)

// svrResp is the SVR_RESP for one instance.
func svrResp(machine, instance, version string, port int) []byte {
	data := fmt.Sprintf("ServerName;%s;InstanceName;%s;IsClustered;No;Version;%s;tcp;%d;;",
		strings.ToUpper(machine), instance, version, port)
	out := []byte{ssrpSvrResp, byte(len(data)), byte(len(data) >> 8)}
	return append(out, data...)
}

func startBrowser(address, machine, instance, version string, port int) (*browser, error) {
	conn, err := net.ListenPacket("udp", net.JoinHostPort(address, strconv.Itoa(browserUDPPort)))
	if err != nil {
		return nil, fmt.Errorf("SQL Server Browser: %w", err)
	}
	b := &browser{conn: conn, resp: svrResp(machine, instance, version, port)}
	b.wg.Add(1)
	go b.serve(instance)
	return b, nil
}

func (b *browser) serve(instance string) {
	defer b.wg.Done()
	buf := make([]byte, 1024)
	for {
		n, from, err := b.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if reply := b.answer(buf[:n], instance); reply != nil {
			b.conn.WriteTo(reply, from)
		}
	}
}

// answer is the reply to one request, or nil: an instance the browser
// does not know gets no answer, as with the real service.
func (b *browser) answer(req []byte, instance string) []byte {
	if len(req) == 0 {
		return nil
	}
	switch req[0] {
	case ssrpBcastEx, ssrpUcastEx:
		return b.resp
	case ssrpUcastInst:
		name, _, _ := bytes.Cut(req[1:], []byte{0})
		if strings.EqualFold(string(name), instance) {
			return b.resp
		}
	}
	return nil
}

func (b *browser) close() {
	if b == nil {
		return
	}
	b.conn.Close()
	b.wg.Wait()
}
