package engine

import (
	"strings"
)

func portBusy(port int) *sqlError {
	return errf(9692, 16, "The Database Mirroring endpoint cannot listen on port %d because it is in use by another process.", port)
}

func (s *Session) execEndpoint(x *createEndpointStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	if x.alter {
		e := c.endpoint(x.name)
		if e == nil {
			return errf(15151, 16, "Cannot alter the endpoint '%s', because it does not exist or you do not have permission.", x.name)
		}
		if x.port != 0 && x.port != e.Port {
			i.closeListenerLocked(e.Name)
			e.Port = x.port
		}
		if x.role != "" {
			e.Role = x.role
		}
		saved := *e
		if err := c.setEndpointSecurity(e, x); err != nil {
			*e = saved
			return err
		}
		if x.state != "" && x.state != e.State {
			if x.state == "STARTED" {
				if err := i.listenLocked(e); err != nil {
					return portBusy(e.Port)
				}
			} else {
				i.closeListenerLocked(e.Name)
			}
			e.State = x.state
		} else if e.State == "STARTED" && x.port != 0 {
			if err := i.listenLocked(e); err != nil {
				return portBusy(e.Port)
			}
		}
		s.changed = true
		return i.persistLocked()
	}
	for _, e := range c.Endpoints {
		_ = e
		return errf(7862, 16, "An endpoint of the requested type already exists. Only one endpoint of this type is supported. Use ALTER ENDPOINT or DROP the existing endpoint and execute the CREATE ENDPOINT statement.")
	}
	e := &endpoint{Name: x.name, State: x.state, Port: x.port, IP: x.ip, Role: x.role}
	if e.State == "" {
		e.State = "STOPPED"
	}
	if e.Role == "" {
		e.Role = "ALL"
	}
	if err := c.setEndpointSecurity(e, x); err != nil {
		return err
	}
	if e.State == "STARTED" {
		if err := i.listenLocked(e); err != nil {
			return portBusy(e.Port)
		}
	}
	e.ID = c.nextID() + 65535
	c.Endpoints = append(c.Endpoints, e)
	s.changed = true
	return i.persistLocked()
}

func (s *Session) execDropEndpoint(x *dropEndpointStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	e := c.endpoint(x.name)
	if e == nil {
		return errf(15151, 16, "Cannot drop the endpoint '%s', because it does not exist or you do not have permission.", x.name)
	}
	i.closeListenerLocked(e.Name)
	out := c.Endpoints[:0]
	for _, y := range c.Endpoints {
		if y != e {
			out = append(out, y)
		}
	}
	c.Endpoints = out
	s.changed = true
	return i.persistLocked()
}

// setEndpointSecurity applies AUTHENTICATION and ENCRYPTION of CREATE or
// ALTER ENDPOINT to e; ALTER keeps what it does not name.
func (c *catalog) setEndpointSecurity(e *endpoint, x *createEndpointStmt) *sqlError {
	if !x.alter || x.auth != "" {
		switch {
		case x.cert != "" && strings.Contains(x.auth, "WINDOWS"):
			if strings.HasPrefix(x.auth, "CERTIFICATE") {
				e.Auth = "CERTIFICATE, NEGOTIATE"
			} else {
				e.Auth = "NEGOTIATE, CERTIFICATE"
			}
		case x.cert != "":
			e.Auth = "CERTIFICATE"
		case strings.Contains(x.auth, "NTLM"):
			e.Auth = "NTLM"
		case strings.Contains(x.auth, "KERBEROS"):
			e.Auth = "KERBEROS"
		default:
			e.Auth = "NEGOTIATE"
		}
		e.CertID = 0
		if x.cert != "" {
			ct := c.cert(x.cert)
			if ct == nil {
				return errf(15151, 16, "Cannot find the certificate '%s', because it does not exist or you do not have permission.", x.cert)
			}
			e.CertID = ct.ID
		}
	}
	if x.alter && x.enc == "" {
		return nil
	}
	switch x.enc {
	case "DISABLED":
		e.Encryption, e.IsEncReq = "NONE", false
	default:
		e.IsEncReq = true
		switch x.algo {
		case "", "AES":
			e.Encryption = "AES"
		case "RC4":
			e.Encryption = "RC4"
		case "AES RC4":
			e.Encryption = "AES, RC4"
		case "RC4 AES":
			e.Encryption = "RC4, AES"
		default:
			return syntaxNear(x.algo)
		}
		if x.enc == "SUPPORTED" {
			e.Encryption = "NONE, " + e.Encryption
		}
	}
	return nil
}
