package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"golang.org/x/crypto/pbkdf2"
)

// catalog is the persisted state of the instance (DataDir/catalog.json).
// Passwords are kept only as salted hashes.
type catalog struct {
	Version      int              `json:"version"`
	Databases    []*database      `json:"databases"`
	MasterKey    *masterKey       `json:"master_key,omitempty"`
	Certificates []*certificate   `json:"certificates"`
	Endpoints    []*endpoint      `json:"endpoints"`
	Backups      []*backupRecord  `json:"backups"`
	DEKs         []*dek           `json:"database_encryption_keys"`
	Jobs         []*job           `json:"jobs"`
	StepLogs     []*stepLog       `json:"job_step_logs"`
	Activity     []*jobActivity   `json:"job_activity"`
	NextID       int              `json:"next_id"`
	NextLSN      int64            `json:"next_lsn"`
	Counters     Counters         `json:"counters"`
	Created      time.Time        `json:"created"`
	Extra        map[string]int64 `json:"extra,omitempty"`
	dbaCatalog                    // logins, availability groups (dba.go)
	hadrCatalog                   // seeding, trusted certificates (hadr.go)
}

type database struct {
	Name      string    `json:"name"`
	ID        int       `json:"database_id"`
	Recovery  string    `json:"recovery_model_desc"`
	State     string    `json:"state_desc"`
	ReadOnly  bool      `json:"is_read_only"`
	Created   time.Time `json:"create_date"`
	Encrypted bool      `json:"is_encrypted"`
	// LastLogBackupLSN is set once a log chain exists (a non-copy-only full
	// backup in FULL/BULK_LOGGED); switching to SIMPLE clears it.
	LastLogBackupLSN *int64 `json:"last_log_backup_lsn,omitempty"`
	Pages            int64  `json:"pages"`
	// EndOfLogLSN is the database's end_of_log_lsn: writes and backups
	// move it (hadr.go); LogBackups counts non-copy-only log backups.
	EndOfLogLSN int64 `json:"end_of_log_lsn,omitempty"`
	LogBackups  int   `json:"log_backups,omitempty"`
	dbaDatabase       // the states the DBA checks read (dba.go)
}

type secretHash struct {
	Salt string `json:"salt"`
	Hash string `json:"hash"`
}

func hashSecret(pw string) secretHash {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	h := pbkdf2.Key([]byte(pw), salt, 1000, 32, sha256.New)
	return secretHash{Salt: hex.EncodeToString(salt), Hash: hex.EncodeToString(h)}
}

func (s secretHash) matches(pw string) bool {
	salt, err := hex.DecodeString(s.Salt)
	if err != nil {
		return false
	}
	want, err := hex.DecodeString(s.Hash)
	if err != nil {
		return false
	}
	h := pbkdf2.Key([]byte(pw), salt, 1000, 32, sha256.New)
	return subtle.ConstantTimeCompare(h, want) == 1
}

type masterKey struct {
	Created    time.Time    `json:"create_date"`
	Modified   time.Time    `json:"modify_date"`
	Passwords  []secretHash `json:"passwords"`
	ServiceKey bool         `json:"encrypted_by_service_master_key"`
	GUID       [16]byte     `json:"key_guid"`
}

type certificate struct {
	Name       string    `json:"name"`
	ID         int       `json:"certificate_id"`
	Subject    string    `json:"subject"`
	Start      time.Time `json:"start_date"`
	Expiry     time.Time `json:"expiry_date"`
	Thumbprint []byte    `json:"thumbprint"`
	Serial     string    `json:"cert_serial_number"`
	DER        []byte    `json:"der"`
	// Key is the PKCS#8 private key. The lab keeps it in its catalogue the
	// way SQL Server keeps it in master; it is never logged.
	Key        []byte      `json:"private_key"`
	KeyEnc     string      `json:"pvt_key_encryption_type_desc"` // ENCRYPTED_BY_MASTER_KEY / ENCRYPTED_BY_PASSWORD
	KeyPwd     *secretHash `json:"key_password,omitempty"`
	LastBackup *time.Time  `json:"pvt_key_last_backup_date,omitempty"`
	// Issuers are the names sp_certificate_add_issuer recorded.
	Issuers []string `json:"issuers,omitempty"`
}

type endpoint struct {
	Name       string `json:"name"`
	ID         int    `json:"endpoint_id"`
	State      string `json:"state_desc"`
	Port       int    `json:"port"`
	IP         string `json:"ip_address"`
	Role       string `json:"role_desc"`
	Auth       string `json:"connection_auth_desc"`
	CertID     int    `json:"certificate_id"`
	Encryption string `json:"encryption_algorithm_desc"`
	IsEncReq   bool   `json:"is_encryption_enabled"`
}

type backupRecord struct {
	ID         int       `json:"backup_set_id"`
	Database   string    `json:"database_name"`
	Type       string    `json:"type"`
	CopyOnly   bool      `json:"is_copy_only"`
	Start      time.Time `json:"backup_start_date"`
	Finish     time.Time `json:"backup_finish_date"`
	Checksum   bool      `json:"has_backup_checksums"`
	Size       int64     `json:"backup_size"`
	Compressed int64     `json:"compressed_backup_size"`
	FirstLSN   int64     `json:"first_lsn"`
	LastLSN    int64     `json:"last_lsn"`
	Device     string    `json:"physical_device_name"`
	MediaSetID int       `json:"media_set_id"`
}

type dek struct {
	DatabaseID int    `json:"database_id"`
	State      int    `json:"encryption_state"`
	Thumbprint []byte `json:"encryptor_thumbprint"`
	Type       string `json:"encryptor_type"`
	Algorithm  string `json:"key_algorithm"`
	KeyLength  int    `json:"key_length"`
}

type job struct {
	ID          [16]byte   `json:"job_id"`
	Name        string     `json:"name"`
	Enabled     bool       `json:"enabled"`
	Description string     `json:"description"`
	Category    string     `json:"category"`
	Owner       string     `json:"owner"`
	Created     time.Time  `json:"date_created"`
	StartStep   int        `json:"start_step_id"`
	Server      string     `json:"server"`
	Steps       []*jobStep `json:"steps"`
}

type jobStep struct {
	StepID    int      `json:"step_id"`
	Name      string   `json:"step_name"`
	Subsystem string   `json:"subsystem"`
	Command   string   `json:"command"`
	Database  string   `json:"database_name"`
	Flags     int      `json:"flags"`
	UID       [16]byte `json:"step_uid"`
}

type stepLog struct {
	ID       int       `json:"log_id"`
	Log      string    `json:"log"`
	Created  time.Time `json:"date_created"`
	Modified time.Time `json:"date_modified"`
	StepUID  [16]byte  `json:"step_uid"`
}

type jobActivity struct {
	JobID     [16]byte   `json:"job_id"`
	Requested time.Time  `json:"run_requested_date"`
	Start     *time.Time `json:"start_execution_date,omitempty"`
	Stop      *time.Time `json:"stop_execution_date,omitempty"`
}

func (c *catalog) nextID() int {
	c.NextID++
	return c.NextID
}

func (c *catalog) lsn() int64 {
	c.NextLSN += 100000000 + 123
	return c.NextLSN
}

func (c *catalog) db(name string) *database {
	for _, d := range c.Databases {
		if equalFold(d.Name, name) {
			return d
		}
	}
	return nil
}

func (c *catalog) dbByID(id int) *database {
	for _, d := range c.Databases {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (c *catalog) cert(name string) *certificate {
	for _, x := range c.Certificates {
		if equalFold(x.Name, name) {
			return x
		}
	}
	return nil
}

func (c *catalog) certByID(id int) *certificate {
	for _, x := range c.Certificates {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (c *catalog) endpoint(name string) *endpoint {
	for _, x := range c.Endpoints {
		if equalFold(x.Name, name) {
			return x
		}
	}
	return nil
}

func (c *catalog) job(name string, id *[16]byte) *job {
	for _, j := range c.Jobs {
		if id != nil && j.ID == *id || id == nil && equalFold(j.Name, name) {
			return j
		}
	}
	return nil
}

// newCatalog builds the system databases and, per seed, the scenario.
func newCatalog(seed string, now time.Time) (*catalog, error) {
	c := &catalog{Version: 1, Created: now, NextID: 256, NextLSN: 37000000001600001}
	created := time.Date(2003, 4, 8, 9, 13, 36, 390000000, time.UTC)
	sys := []struct {
		name, rec string
	}{{"master", "SIMPLE"}, {"tempdb", "SIMPLE"}, {"model", "FULL"}, {"msdb", "SIMPLE"}}
	for i, s := range sys {
		c.Databases = append(c.Databases, &database{Name: s.name, ID: i + 1, Recovery: s.rec, State: "ONLINE", Created: created, Pages: 800})
	}
	switch seed {
	case "", "managed-instance":
	case "sql01":
		day := now.Add(-72 * time.Hour).UTC().Truncate(time.Second)
		add := func(name, rec string) *database {
			d := &database{Name: name, ID: len(c.Databases) + 1, Recovery: rec, State: "ONLINE", Created: day, Pages: 2400}
			c.Databases = append(c.Databases, d)
			return d
		}
		add("sales", "SIMPLE")
		inv := add("inventory", "FULL")
		pay := add("payroll", "FULL")
		pay.Encrypted = true
		// inventory's only backup is COPY_ONLY: no log chain.
		first := c.lsn()
		c.Backups = append(c.Backups, &backupRecord{ID: 1, Database: inv.Name, Type: "D", CopyOnly: true,
			Start: day.Add(time.Hour), Finish: day.Add(time.Hour + 3*time.Second), Checksum: true,
			Size: inv.Pages * 8192, Compressed: inv.Pages * 8192 / 3, FirstLSN: first, LastLSN: first + 300,
			Device: "/var/opt/mssql/backup/inventory_copy.bak", MediaSetID: 1})
		// payroll is TDE-protected by TDECert. The scenario has no master key,
		// so the certificate's private key is encrypted by a password
		// (SeedTDECertPassword) rather than by the master key.
		cert, err := newCertificate("TDECert", "TDE certificate for payroll", day, day.AddDate(10, 0, 0), c.nextID())
		if err != nil {
			return nil, err
		}
		h := hashSecret(SeedTDECertPassword)
		cert.KeyEnc, cert.KeyPwd = "ENCRYPTED_BY_PASSWORD", &h
		c.Certificates = append(c.Certificates, cert)
		c.DEKs = append(c.DEKs, &dek{DatabaseID: pay.ID, State: 3, Thumbprint: cert.Thumbprint, Type: "CERTIFICATE", Algorithm: "AES", KeyLength: 256})
		c.DEKs = append(c.DEKs, &dek{DatabaseID: 2, State: 3, Type: "ASYMMETRIC KEY", Algorithm: "AES", KeyLength: 256})
	default:
		return nil, errorf("unknown seed %q", seed)
	}
	return c, nil
}

// addDatabases adds user databases in SIMPLE recovery, created three days
// before now, skipping names that exist.
func (c *catalog) addDatabases(names []string, now time.Time) {
	day := now.Add(-72 * time.Hour).UTC().Truncate(time.Second)
	for _, name := range names {
		if c.db(name) != nil {
			continue
		}
		c.Databases = append(c.Databases, &database{Name: name, ID: len(c.Databases) + 1, Recovery: "SIMPLE", State: "ONLINE", Created: day, Pages: 2400})
	}
}

// SeedTDECertPassword protects the private key of the "sql01" seed's TDECert
// (a lab fixture, not a secret): CERTPRIVATEKEY and BACKUP CERTIFICATE need it
// as the decryption password.
const SeedTDECertPassword = "Lab-TDECert-Passw0rd!"
