package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// hostPath maps a server path below FSRoot: /var/opt/mssql/backup/x.bak →
// FSRoot/var/opt/mssql/backup/x.bak, C:\Backup\x.bak → FSRoot/C/Backup/x.bak.
// A bare file name goes to the instance's default backup directory.
func (i *Instance) hostPath(p string) (string, bool) {
	p = strings.TrimSpace(p)
	if p == "" || strings.Contains(p, "://") || strings.Contains(p, "\x00") {
		return "", false
	}
	var parts []string
	switch {
	case len(p) >= 2 && p[1] == ':':
		parts = append(parts, strings.ToUpper(p[:1]))
		parts = append(parts, strings.FieldsFunc(p[2:], func(r rune) bool { return r == '\\' || r == '/' })...)
	case strings.HasPrefix(p, "/"):
		parts = strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
	case strings.HasPrefix(p, `\\`):
		return "", false
	default:
		def := "var/opt/mssql/data"
		if i.opts.Profile.OS == "windows" {
			def = "C/Program Files/Microsoft SQL Server/MSSQL/Backup"
		}
		parts = append(strings.Split(def, "/"), strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' })...)
	}
	for _, x := range parts {
		if x == ".." || x == "." {
			return "", false
		}
	}
	if len(parts) == 0 || i.opts.FSRoot == "" {
		return "", false
	}
	return filepath.Join(append([]string{i.opts.FSRoot}, parts...)...), true
}

func (s *Session) execBackup(x *backupDBStmt) *sqlError {
	i := s.inst
	kind := "DATABASE"
	if x.log {
		kind = "LOG"
	}
	term := func(e *sqlError) *sqlError {
		e.also = errf(3013, 16, "BACKUP %s is terminating abnormally.", kind)
		return e
	}
	for o := range x.opts {
		switch o {
		case "CHECKSUM", "NO_CHECKSUM", "COMPRESSION", "NO_COMPRESSION", "COPY_ONLY", "INIT", "NOINIT", "FORMAT", "NOFORMAT",
			"STATS", "NAME", "DESCRIPTION", "SKIP", "NOSKIP", "REWIND", "NOREWIND", "UNLOAD", "NOUNLOAD", "MEDIANAME",
			"CONTINUE_AFTER_ERROR", "STOP_ON_ERROR", "BUFFERCOUNT", "MAXTRANSFERSIZE", "BLOCKSIZE", "NO_TRUNCATE":
		default:
			return syntaxNear(o)
		}
	}
	stats := 0
	if v, ok := x.opts["STATS"]; ok {
		stats = 10
		if v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return syntaxNear(v)
			}
			stats = n
		}
	}
	_, copyOnly := x.opts["COPY_ONLY"]
	_, checksum := x.opts["CHECKSUM"]
	_, compress := x.opts["COMPRESSION"]
	_, initOpt := x.opts["INIT"]
	_, format := x.opts["FORMAT"]

	// Validate and resolve under the lock; write and report without it.
	i.mu.Lock()
	d := i.cat.db(x.db)
	if d == nil {
		i.mu.Unlock()
		return term(errf(911, 16, "Database '%s' does not exist. Make sure that the name is entered correctly.", x.db))
	}
	if d.Name == "tempdb" {
		i.mu.Unlock()
		return term(errf(3147, 16, "Backup and restore operations are not allowed on database tempdb."))
	}
	if x.log {
		if d.Recovery == "SIMPLE" {
			i.mu.Unlock()
			return term(errf(4208, 16, "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. Use BACKUP DATABASE or change the recovery model using ALTER DATABASE."))
		}
		if d.LastLogBackupLSN == nil {
			i.mu.Unlock()
			return term(errf(4214, 16, "BACKUP LOG cannot be performed because there is no current database backup."))
		}
	}
	dbName, pages := d.Name, d.Pages
	if x.log {
		pages = 12
	}
	i.mu.Unlock()

	var paths []string
	for _, disk := range x.disks {
		hp, ok := i.hostPath(disk)
		if !ok {
			return term(errf(3201, 16, "Cannot open backup device '%s'. Operating system error 123(The filename, directory name, or volume label syntax is incorrect.).", disk))
		}
		if st, err := os.Stat(filepath.Dir(hp)); err != nil || !st.IsDir() {
			return term(errf(3201, 16, "Cannot open backup device '%s'. Operating system error 3(The system cannot find the path specified.).", disk))
		}
		paths = append(paths, hp)
	}
	start := time.Now().UTC()
	meta, _ := json.Marshal(map[string]any{"database": dbName, "type": kind, "copy_only": copyOnly, "checksum": checksum,
		"compressed": compress, "start": start, "pages": pages})
	content := append([]byte("MILINK-LAB-BACKUP\n"), meta...)
	content = append(content, '\n')
	for n, hp := range paths {
		flag := os.O_CREATE | os.O_WRONLY | os.O_APPEND
		if initOpt || format {
			flag = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		}
		f, err := os.OpenFile(hp, flag, 0o640)
		if err == nil {
			_, err = f.Write(content)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return term(errf(3201, 16, "Cannot open backup device '%s'. Operating system error 5(Access is denied.).", x.disks[n]))
		}
	}
	if stats > 0 {
		steps := 100 / stats
		pause := 80 * time.Millisecond / time.Duration(steps)
		for pct := stats; pct <= 100; pct += stats {
			s.info(3211, fmt.Sprintf("%d percent processed.", pct))
			_ = s.w.Flush()
			if s.ctx != nil && s.ctx.Err() != nil {
				return term(errf(3204, 16, "The backup or restore was aborted."))
			}
			time.Sleep(pause)
		}
	}
	finish := time.Now().UTC()

	i.mu.Lock()
	c := i.cat
	d = c.db(dbName)
	first := c.lsn()
	last := first + int64(pages)*10
	rec := &backupRecord{ID: len(c.Backups) + 1, Database: dbName, Type: "D", CopyOnly: copyOnly, Start: start, Finish: finish,
		Checksum: checksum, Size: pages * 8192, Compressed: pages * 8192, FirstLSN: first, LastLSN: last,
		Device: x.disks[0], MediaSetID: len(c.Backups) + 1}
	if compress {
		rec.Compressed = pages * 8192 / 4
	}
	if d != nil {
		// A backup writes to the log too (its checkpoint and the backup's
		// own records): end_of_log_lsn moves.
		d.EndOfLogLSN = c.lsn()
	}
	if x.log {
		rec.Type = "L"
		if d != nil && !copyOnly {
			v := last
			d.LastLogBackupLSN = &v
			d.LogBackups++
		}
	} else if d != nil && !copyOnly && d.Recovery != "SIMPLE" && d.LastLogBackupLSN == nil {
		// A full backup starts the log chain.
		v := first
		d.LastLogBackupLSN = &v
	}
	c.Backups = append(c.Backups, rec)
	s.changed = true
	perr := i.persistLocked()
	i.mu.Unlock()
	if perr != nil {
		return perr
	}
	secs := finish.Sub(start).Seconds()
	if secs < 0.001 {
		secs = 0.001
	}
	if x.log {
		s.info(4035, fmt.Sprintf("Processed %d pages for database '%s', file '%s_log' on file 1.", pages, dbName, dbName))
	} else {
		s.info(4035, fmt.Sprintf("Processed %d pages for database '%s', file '%s' on file 1.", pages, dbName, dbName))
		s.info(4035, fmt.Sprintf("Processed 2 pages for database '%s', file '%s_log' on file 1.", dbName, dbName))
		pages += 2
	}
	mb := float64(pages) * 8192 / 1048576 / secs
	s.info(3014, fmt.Sprintf("BACKUP %s successfully processed %d pages in %.3f seconds (%.3f MB/sec).", kind, pages, secs, mb))
	return nil
}
