package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/milink/milink/internal/atomicfile"
)

// DefaultPath is the state file's name in the configuration directory.
const DefaultPath = "milink.state.json"

// local stores the state in a file beside the configuration; the previous
// state is kept as PATH.backup, and the changes recorded since the state
// file was last written are in PATH.journal (journal.go). Locking is in
// lock_local.go.
type local struct {
	path string
	// Test hooks, nil otherwise. afterWrite runs after the temporary file
	// is written and synced and before it replaces the state, to simulate a
	// crash or a failing disk at the worst moment; afterAppend after a
	// journal line is fsynced; beforeJournalRemove after compaction has
	// replaced the state file and before it removes the journal.
	afterWrite          func(tmp string) error
	afterAppend         func()
	beforeJournalRemove func()
	// compactBytes is the journal size above which Record compacts, at
	// least; 0 means defaultCompactBytes.
	compactBytes int64

	mu sync.Mutex
	// known is what this backend last read or wrote. It spares Record and
	// Save from re-reading the state to check that the caller's copy is
	// its successor, which would make recording a change cost the size of
	// the state; it is trusted only while both files are exactly as it
	// left them (same file, size and time).
	known *known
	// journal is PATH.journal, open for writing, once this backend has
	// appended to it.
	journal *os.File
}

type known struct {
	lineage string
	serial  int64
	// state is the state file as read or written; nil when there is none.
	state fs.FileInfo
	// journal is the journal as read or written, journalSize its length
	// then; nil and 0 when there is none. torn: it ends with an append a
	// crash cut short, so nothing may be appended after it.
	journal     fs.FileInfo
	journalSize int64
	torn        bool
}

// defaultCompactBytes: below this, a journal is not worth compacting
// before Unlock. Above it, Record compacts once the journal outgrows the
// state file, so that compaction (which costs the size of the state) is
// paid for by at least as many bytes of records, and the cost of a record
// stays flat however large the state.
const defaultCompactBytes = 64 << 10

// NewLocal returns the file backend for path.
func NewLocal(path string) Backend {
	if path == "" {
		path = DefaultPath
	}
	return &local{path: path}
}

func (l *local) journalPath() string { return l.path + ".journal" }

func (l *local) Load(ctx context.Context) (*State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readAll()
}

// readAll reads the state file and replays the journal onto it, and
// remembers what it read.
func (l *local) readAll() (*State, error) {
	l.known = nil
	data, fi, err := readFileInfo(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(l.journalPath()); err == nil {
			return nil, fmt.Errorf("state journal %s exists but the state file %s does not: if you removed the state on purpose, remove the journal too; otherwise restore the state (e.g. from %s.backup)", l.journalPath(), l.path, l.path)
		}
		l.setKnown(&known{})
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	st, err := Decode(data, l.path)
	if err != nil {
		return nil, err
	}
	k := &known{state: fi}
	jdata, ji, err := readFileInfo(l.journalPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading state journal: %w", err)
	default:
		scan, err := replayJournal(st, jdata, l.journalPath(), l.path)
		if err != nil {
			return nil, err
		}
		k.journal, k.journalSize, k.torn = ji, scan.size, scan.torn
	}
	k.lineage, k.serial = st.Lineage, st.Serial
	l.setKnown(k)
	return st, nil
}

// readFileInfo reads a file and describes the very file it read (a stat
// of the path could describe a newer one).
func readFileInfo(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// setKnown replaces what the backend knows, closing the journal it had
// open if that is no longer the journal.
func (l *local) setKnown(k *known) {
	l.known = k
	if l.journal != nil {
		fi, err := l.journal.Stat()
		if k == nil || k.journal == nil || err != nil || !os.SameFile(fi, k.journal) {
			_ = l.journal.Close()
			l.journal = nil
		}
	}
}

// fresh reports whether the files are still exactly as known describes.
func (l *local) fresh() bool {
	k := l.known
	if k == nil {
		return false
	}
	fi, err := os.Stat(l.path)
	if k.state == nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	} else if err != nil || !os.SameFile(fi, k.state) || fi.Size() != k.state.Size() || !fi.ModTime().Equal(k.state.ModTime()) {
		return false
	}
	ji, err := os.Stat(l.journalPath())
	if k.journal == nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	return err == nil && os.SameFile(ji, k.journal) && ji.Size() == k.journalSize
}

func (l *local) Save(ctx context.Context, s *State) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.save(ctx, s)
}

func (l *local) save(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	if err := l.checkSuccession(s); err != nil {
		return err
	}
	next := *s
	next.Serial = s.Serial + 1
	data, err := Encode(&next)
	if err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	if err := l.writeState(data, next.Lineage, next.Serial); err != nil {
		return fmt.Errorf("saving state %s: %w", l.path, err)
	}
	s.Serial = next.Serial
	return nil
}

// checkSuccession refuses to overwrite a stored state that is corrupt, of
// another lineage, or newer than the one being saved: each means the
// caller's copy is not the successor of what is on disk, and writing it
// would lose someone's work. The stored state is re-read only when the
// files changed since this backend last read or wrote them.
func (l *local) checkSuccession(s *State) error {
	if !l.fresh() {
		if _, err := l.readAll(); err != nil {
			return fmt.Errorf("refusing to overwrite: %w", err)
		}
	}
	k := l.known
	if k.state == nil {
		return nil
	}
	if k.lineage != s.Lineage {
		return fmt.Errorf("refusing to overwrite state %s: it has lineage %s, not %s (a different state)", l.path, k.lineage, s.Lineage)
	}
	if k.serial > s.Serial {
		return fmt.Errorf("refusing to overwrite state %s: it is at serial %d, newer than the %d this run read (someone else applied meanwhile)", l.path, k.serial, s.Serial)
	}
	return nil
}

// writeState replaces the state file with data (the whole state at serial)
// and then removes the journal, whose entries it now holds. A crash
// between the two leaves a journal of serials the state file already has,
// which replay skips.
func (l *local) writeState(data []byte, lineage string, serial int64) error {
	if err := l.writeAtomic(data); err != nil {
		return err
	}
	fi, err := os.Stat(l.path)
	if err != nil {
		l.setKnown(nil)
		return nil // written; the next call re-reads
	}
	if l.beforeJournalRemove != nil {
		l.beforeJournalRemove()
	}
	if l.journal != nil {
		_ = l.journal.Close()
		l.journal = nil
	}
	k := &known{lineage: lineage, serial: serial, state: fi}
	if err := os.Remove(l.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Harmless (its entries are all in the state file now) but not
		// what known says: re-read next time.
		k = nil
	} else if err := atomicfile.SyncDir(filepath.Dir(l.path)); err != nil {
		k = nil
	}
	l.setKnown(k)
	return nil
}

// Record persists the changes to addrs: each is written as s holds it
// now, or as removed when s no longer holds it. It appends one fsynced
// line to the journal, so its cost is the size of those resources, not of
// the state; the journal is compacted into the state file when it grows
// past the state's size, and at Unlock.
func (l *local) Record(ctx context.Context, s *State, addrs ...string) error {
	if len(addrs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("recording state %s: %w", l.path, err)
	}
	if err := validateHeader(s); err != nil {
		return fmt.Errorf("recording state %s: %w", l.path, err)
	}
	if err := l.checkSuccession(s); err != nil {
		return err
	}
	k := l.known
	if k.state == nil || k.serial != s.Serial || k.torn {
		// Nothing stored yet, the caller's state is ahead of the stored
		// one, or the journal ends with a torn line that nothing may
		// follow: write the whole state, which also ends the journal.
		return l.save(ctx, s)
	}
	line, err := journalLine(s, addrs)
	if err != nil {
		return fmt.Errorf("recording state %s: %w", l.path, err)
	}
	if err := l.append(k, append(line, '\n')); err != nil {
		return fmt.Errorf("recording state %s: %w", l.path, err)
	}
	s.Serial++ // the entry's serial, as journalLine writes it
	k.serial = s.Serial
	if k.journalSize > max(l.compactFloor(), k.state.Size()) {
		// Recorded already; a failed compaction only leaves the journal
		// longer, and the next one (at Unlock at the latest) retries.
		_ = l.compact()
	}
	return nil
}

func (l *local) compactFloor() int64 {
	if l.compactBytes > 0 {
		return l.compactBytes
	}
	return defaultCompactBytes
}

// append writes line at the end of the journal as known describes it and
// fsyncs it, creating the journal (header and line in one write) if there
// is none.
func (l *local) append(k *known, line []byte) error {
	if k.journal == nil {
		h, err := json.Marshal(journalHeader{Magic: journalMagic, FormatVersion: FormatVersion, Lineage: k.lineage})
		if err != nil {
			return err
		}
		buf := append(append(h, '\n'), line...)
		f, err := os.OpenFile(l.journalPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("creating journal: %w", err)
		}
		_, err = f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			// The journal's directory entry must survive a crash too.
			err = atomicfile.SyncDir(filepath.Dir(l.path))
		}
		var fi fs.FileInfo
		if err == nil {
			fi, err = f.Stat()
		}
		if err != nil {
			_ = f.Close()
			_ = os.Remove(l.journalPath())
			return fmt.Errorf("writing journal %s: %w", l.journalPath(), err)
		}
		l.journal, k.journal, k.journalSize = f, fi, int64(len(buf))
	} else {
		if l.journal == nil {
			f, err := os.OpenFile(l.journalPath(), os.O_WRONLY, 0)
			if err != nil {
				return fmt.Errorf("opening journal: %w", err)
			}
			if fi, err := f.Stat(); err != nil || !os.SameFile(fi, k.journal) {
				_ = f.Close()
				l.setKnown(nil)
				return fmt.Errorf("journal %s was replaced meanwhile", l.journalPath())
			}
			l.journal = f
		}
		_, err := l.journal.WriteAt(line, k.journalSize)
		if err == nil {
			err = l.journal.Sync()
		}
		if err != nil {
			// Take back what may have reached the file, so that the next
			// line does not follow a torn one; failing that, make the next
			// write a whole state.
			if terr := l.journal.Truncate(k.journalSize); terr != nil || l.journal.Sync() != nil {
				k.torn = true
			}
			return fmt.Errorf("writing journal %s: %w", l.journalPath(), err)
		}
		k.journalSize += int64(len(line))
	}
	if l.afterAppend != nil {
		l.afterAppend()
	}
	return nil
}

// compact writes the stored state (state file plus journal) as a whole to
// the state file and removes the journal. Its serial is the journal's
// last: the content is the same, only the layout changes.
func (l *local) compact() error {
	st, err := l.readAll()
	if err != nil {
		return err
	}
	if l.known.journal == nil {
		return nil
	}
	data, err := Encode(st)
	if err != nil {
		return fmt.Errorf("compacting state %s: %w", l.path, err)
	}
	if err := l.writeState(data, st.Lineage, st.Serial); err != nil {
		return fmt.Errorf("compacting state %s: %w", l.path, err)
	}
	return nil
}

// compactJournal compacts if there is a journal: at Lock (what a killed
// run recorded) and at Unlock (what this run recorded).
func (l *local) compactJournal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(l.journalPath()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return l.compact()
}

// writeAtomic replaces the state file so that a reader (or a crash) sees
// either the old content or the new, never a mixture; the old file is kept
// as PATH.backup at the last moment, once the new one is safely written.
func (l *local) writeAtomic(data []byte) error {
	return atomicfile.WriteFile(l.path, data, 0o600, atomicfile.BeforeRename(func(tmp string) error {
		if l.afterWrite != nil {
			if err := l.afterWrite(tmp); err != nil {
				return err
			}
		}
		return l.keepBackup()
	}))
}

// keepBackup makes PATH.backup hold the current state, itself replaced
// atomically: a hard link is instant and shares no bytes to copy; where
// links are impossible the file is copied.
func (l *local) keepBackup() error {
	if _, err := os.Lstat(l.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	backup := l.path + ".backup"
	tmp := backup + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(l.path, tmp); err != nil {
		if err := copyFile(l.path, tmp); err != nil {
			return fmt.Errorf("keeping backup: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keeping backup: %w", err)
	}
	if err := os.Rename(tmp, backup); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keeping backup: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// Replace writes s as the state file, as it is (state push); the journal
// ends, the previous file is kept as PATH.backup.
func (l *local) Replace(ctx context.Context, s *State) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := Encode(s)
	if err != nil {
		return fmt.Errorf("writing state %s: %w", l.path, err)
	}
	if err := l.writeState(data, s.Lineage, s.Serial); err != nil {
		return fmt.Errorf("writing state %s: %w", l.path, err)
	}
	return nil
}

func (l *local) Location() string { return l.path }

// journalLine is the journal entry recording the resources at addrs as s
// holds them (set, or removed when s no longer has them), encoded, without
// its newline. Both backends append the same entries.
func journalLine(s *State, addrs []string) ([]byte, error) {
	e := journalEntry{Serial: s.Serial + 1}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a == "" {
			return nil, fmt.Errorf("an empty address")
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		if r := s.Get(a); r != nil {
			e.Set = append(e.Set, *r)
		} else {
			e.Remove = append(e.Remove, a)
		}
	}
	if err := checkEntry(&e); err != nil {
		return nil, err
	}
	line, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	return line, nil
}
