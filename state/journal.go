package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The journal makes recording one change cost the size of that change,
// not of the whole state. Beside PATH lives PATH.journal, append-only,
// one JSON document per line:
//
//	{"milink_state_journal":"milink state journal","format_version":2,"lineage":"..."}
//	{"serial":8,"set":[{...resource...}]}
//	{"serial":9,"remove":["database.old"]}
//
// The first line names the state it belongs to; each further line is one
// Record: the resources it set, whole, and the addresses it removed, with
// the serial the state had after it. A line is written with one write and
// fsynced before Record returns, so a crash loses at most a line that was
// never acknowledged — and such a torn last line is ignored. The state is
// PATH with the lines whose serial is above PATH's applied in order;
// compaction writes that whole state to PATH (atomically, as Save does) and
// then removes the journal, and a journal left by a crash in between holds
// only serials PATH already has, which replay skips.

const journalMagic = "milink state journal"

type journalHeader struct {
	Magic         string `json:"milink_state_journal"`
	FormatVersion int    `json:"format_version"`
	Lineage       string `json:"lineage"`
}

type journalEntry struct {
	Serial int64      `json:"serial"`
	Set    []Resource `json:"set,omitempty"`
	Remove []string   `json:"remove,omitempty"`
}

// journalScan is what replay learnt about a journal.
type journalScan struct {
	// valid is the length of the complete lines; size the file's length.
	valid, size int64
	// torn: the last line is incomplete, from an append a crash cut
	// short (never acknowledged, so ignored).
	torn bool
	// applied counts the entries newer than the state file.
	applied int
}

// errJournal marks a journal that cannot be replayed; the message says why
// and what to do.
var errJournal = errors.New("state journal cannot be replayed")

// replayJournal applies the entries of data newer than st to st. source is
// the journal's path and statePath the state file's, for messages.
func replayJournal(st *State, data []byte, source, statePath string) (journalScan, error) {
	scan := journalScan{size: int64(len(data))}
	fail := func(line int, format string, args ...any) (journalScan, error) {
		return scan, fmt.Errorf("%w: %s line %d: %s; it was left untouched. %s holds the state up to serial %d: move the journal aside to use that, then run milink plan to see what differs",
			errJournal, source, line, fmt.Sprintf(format, args...), statePath, st.Serial)
	}
	off := 0
	version := FormatVersion
	for line := 1; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		last := end < 0 || off+end+1 == len(data)
		if end < 0 {
			// An append cut short before its newline.
			scan.torn = true
			return scan, nil
		}
		text := data[off : off+end]
		if line == 1 {
			var h journalHeader
			if err := json.Unmarshal(text, &h); err != nil || h.Magic != journalMagic {
				if last {
					scan.torn = true
					return scan, nil
				}
				return fail(line, "not a milink state journal header")
			}
			if h.FormatVersion < 1 || h.FormatVersion > FormatVersion {
				return fail(line, "format_version %d, this milink reads 1 to %d", h.FormatVersion, FormatVersion)
			}
			version = h.FormatVersion
			if h.Lineage != st.Lineage {
				return fail(line, "it belongs to another state (lineage %s, the state file has %s)", h.Lineage, st.Lineage)
			}
		} else {
			var e journalEntry
			if err := json.Unmarshal(text, &e); err != nil {
				if last {
					scan.torn = true
					return scan, nil
				}
				return fail(line, "not a journal entry (%v)", err)
			}
			if version == 1 {
				if err := migrateV1(text, e.Set, "set"); err != nil {
					return fail(line, "%v", err)
				}
			}
			if err := checkEntry(&e); err != nil {
				return fail(line, "%v", err)
			}
			switch {
			case e.Serial <= st.Serial:
				// Already in the state file: compaction wrote it, then a
				// crash came before the journal was removed.
			case e.Serial == st.Serial+1:
				applyEntry(st, &e)
				scan.applied++
			default:
				return fail(line, "it continues from serial %d but the state is at serial %d (was the state file restored from a backup?)", e.Serial, st.Serial)
			}
		}
		off += end + 1
		scan.valid = int64(off)
	}
	return scan, nil
}

// checkEntry applies Validate's rules to one entry: the same secrets rule
// holds in the journal as in the state file.
func checkEntry(e *journalEntry) error {
	if e.Serial < 1 {
		return fmt.Errorf("entry without a serial")
	}
	if len(e.Set) == 0 && len(e.Remove) == 0 {
		return fmt.Errorf("entry %d records nothing", e.Serial)
	}
	for i := range e.Set {
		if err := validateResource(&e.Set[i]); err != nil {
			return err
		}
	}
	for _, a := range e.Remove {
		if a == "" {
			return fmt.Errorf("entry %d removes an empty address", e.Serial)
		}
	}
	return nil
}

func applyEntry(st *State, e *journalEntry) {
	for _, r := range e.Set {
		st.Set(r)
	}
	for _, a := range e.Remove {
		st.Remove(a)
	}
	st.Serial = e.Serial
}
