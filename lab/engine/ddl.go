package engine

import (
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/milink/milink/lab/tds"
)

const dbccDone = "DBCC execution completed. If DBCC printed error messages, contact your system administrator."

func (s *Session) execDBCC(x *dbccStmt) *sqlError {
	i := s.inst
	switch x.cmd {
	case "TRACESTATUS":
		global := false
		var only []int
		for _, a := range x.args {
			if a == -1 {
				global = true
			} else {
				only = append(only, a)
			}
		}
		// Bare TRACESTATUS and TRACESTATUS(-1) both list global and session
		// flags, as current SQL Server does.
		_ = global
		i.mu.Lock()
		set := map[int]bool{}
		for f, on := range i.global {
			if on {
				set[f] = true
			}
		}
		globals := map[int]bool{}
		for f := range set {
			globals[f] = true
		}
		i.mu.Unlock()
		for f, on := range s.flags {
			if on {
				set[f] = true
			}
		}
		var flags []int
		if len(only) > 0 {
			flags = only
		} else {
			for f := range set {
				flags = append(flags, f)
			}
			sort.Ints(flags)
		}
		t := &table{cols: cols("TraceFlag", tSmallInt, "Status", tSmallInt, "Global", tSmallInt, "Session", tSmallInt)}
		for _, f := range flags {
			g, ss := globals[f], s.flags[f]
			t.rows = append(t.rows, []any{int64(f), b2i(g || ss), b2i(g), b2i(ss)})
		}
		// With no flag enabled, a listing sends no result set at all, only
		// the completion message (as SSMS shows it: Messages, no Results);
		// asking for given flags always answers one row per flag.
		if len(flags) == 0 {
			if !x.noInfo {
				s.info(2528, dbccDone)
			}
			s.done(-1)
			return nil
		}
		if err := s.sendTable(t, s.w); err != nil {
			return nil
		}
		if !x.noInfo {
			s.info(2528, dbccDone)
		}
		s.done(int64(len(t.rows)))
		return nil
	case "TRACEON", "TRACEOFF":
		on := x.cmd == "TRACEON"
		global := false
		var flags []int
		for _, a := range x.args {
			if a == -1 {
				global = true
				continue
			}
			if a <= 0 || a > 32767 {
				return errf(2526, 16, "Incorrect DBCC statement. Check the documentation for the correct DBCC syntax and options.")
			}
			flags = append(flags, a)
		}
		if len(flags) == 0 {
			return errf(2526, 16, "Incorrect DBCC statement. Check the documentation for the correct DBCC syntax and options.")
		}
		i.mu.Lock()
		for _, f := range flags {
			if global {
				if on {
					i.global[f] = true
				} else {
					delete(i.global, f)
				}
			} else if on {
				s.flags[f] = true
			} else {
				delete(s.flags, f)
			}
		}
		i.mu.Unlock()
		s.changed = true
		if !x.noInfo {
			s.info(2528, dbccDone)
		}
		s.done(-1)
		return nil
	}
	return errf(2526, 16, "Incorrect DBCC statement. Check the documentation for the correct DBCC syntax and options.")
}

// passwordComplex applies the Windows password policy SQL Server checks for
// key passwords: at least 8 characters from 3 of 4 classes.
func passwordComplex(pw string) *sqlError {
	var up, lo, dig, oth bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			up = true
		case unicode.IsLower(r):
			lo = true
		case unicode.IsDigit(r):
			dig = true
		default:
			oth = true
		}
	}
	n := 0
	for _, b := range []bool{up, lo, dig, oth} {
		if b {
			n++
		}
	}
	if len([]rune(pw)) < 8 || n < 3 {
		return errf(15118, 16, "Password validation failed. The password does not meet the operating system policy requirements because it is not complex enough.")
	}
	return nil
}

const dmkName = "##MS_DatabaseMasterKey##"

func (s *Session) execMasterKey(x *masterKeyStmt) *sqlError {
	i := s.inst
	if !strings.EqualFold(s.db, "master") {
		if x.action == "CREATE" {
			return errf(50000, 16, "The lab models a database master key in master only; run USE master first.")
		}
		return errf(15151, 16, "Cannot find the symmetric key '%s', because it does not exist or you do not have permission.", dmkName)
	}
	if x.password != "" && (x.action == "CREATE" || x.action == "REGENERATE" || x.action == "ADD") {
		if err := passwordComplex(x.password); err != nil {
			return err
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cat
	mk := c.MasterKey
	now := time.Now().UTC()
	if mk == nil && x.action != "CREATE" {
		switch x.action {
		case "OPEN":
			return errf(15581, 16, "Please create a master key in the database or open the master key in the session before performing this operation.")
		case "CLOSE":
			return nil
		case "DROP":
			return errf(15151, 16, "Cannot drop the symmetric key '%s', because it does not exist or you do not have permission.", dmkName)
		}
		return errf(15151, 16, "Cannot alter the symmetric key '%s', because it does not exist or you do not have permission.", dmkName)
	}
	switch x.action {
	case "CREATE":
		if mk != nil {
			return errf(15578, 16, "There is already a master key in the database. Please drop it before performing this statement.")
		}
		c.MasterKey = &masterKey{Created: now, Modified: now, Passwords: []secretHash{hashSecret(x.password)}, ServiceKey: true, GUID: guidFromUUID(uuid.New())}
	case "REGENERATE":
		mk.Passwords = []secretHash{hashSecret(x.password)}
		mk.Modified = now
		mk.GUID = guidFromUUID(uuid.New())
	case "ADD":
		if x.smk {
			mk.ServiceKey = true
		} else {
			mk.Passwords = append(mk.Passwords, hashSecret(x.password))
		}
		mk.Modified = now
	case "DROPENC":
		if x.smk {
			mk.ServiceKey = false
		} else {
			kept := mk.Passwords[:0]
			found := false
			for _, p := range mk.Passwords {
				if !found && p.matches(x.password) {
					found = true
					continue
				}
				kept = append(kept, p)
			}
			if !found {
				return errf(15313, 16, "The key is not encrypted using the specified decryptor.")
			}
			if len(kept) == 0 && !mk.ServiceKey {
				return errf(15593, 16, "An error occurred while decrypting the master key: the key would be left without an encryption.")
			}
			mk.Passwords = kept
		}
		mk.Modified = now
	case "OPEN":
		for _, p := range mk.Passwords {
			if p.matches(x.password) {
				s.mkOpen = true
				return nil
			}
		}
		return errf(15313, 16, "The key is not encrypted using the specified decryptor.")
	case "CLOSE":
		s.mkOpen = false
		return nil
	case "DROP":
		for _, ct := range c.Certificates {
			if ct.KeyEnc == "ENCRYPTED_BY_MASTER_KEY" {
				return errf(15580, 16, "Cannot drop master key because certificate '%s' is encrypted by it.", ct.Name)
			}
		}
		c.MasterKey = nil
		s.mkOpen = false
	}
	s.changed = true
	return i.persistLocked()
}

// persistLocked saves the catalogue; a failure is a server error.
func (i *Instance) persistLocked() *sqlError {
	if err := i.saveLocked(); err != nil {
		return errf(3201, 16, "The lab could not save its catalogue: %v", err)
	}
	return nil
}

// masterKeyUsable reports whether the master key can encrypt (it exists
// and is protected by the service master key or open in the session).
func (s *Session) masterKeyUsableLocked() bool {
	mk := s.inst.cat.MasterKey
	return mk != nil && (mk.ServiceKey || s.mkOpen)
}

func (s *Session) execAlterDB(x *alterDBStmt) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	d := i.cat.db(x.db)
	if d == nil {
		return errf(5011, 14, "User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", x.db)
	}
	if d.ID == 1 || d.ID == 2 {
		return errf(5058, 16, "Option 'RECOVERY' cannot be set in database '%s'.", d.Name)
	}
	if d.Recovery == x.recovery {
		return nil
	}
	d.Recovery = x.recovery
	if x.recovery == "SIMPLE" {
		// The log chain breaks: a new full backup is needed.
		d.LastLogBackupLSN = nil
	}
	s.changed = true
	return i.persistLocked()
}

var _ = tds.Int
