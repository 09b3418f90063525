package engine

import (
	"strings"

	"github.com/milink/milink/lab/tds"
)

func cols(spec ...any) []tcol {
	var out []tcol
	for i := 0; i < len(spec); i += 2 {
		out = append(out, tcol{name: spec[i].(string), ty: spec[i+1].(colType)})
	}
	return out
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// lookupTable resolves a (multi-part) table name to a materialised view of
// the catalogue.
func (s *Session) lookupTable(parts []string) (*table, *sqlError) {
	full := strings.Join(parts, ".")
	invalid := errf(208, 16, "Invalid object name '%s'.", full)
	p := append([]string(nil), parts...)
	if len(p) == 4 {
		p = p[1:]
	}
	db, schema := s.db, "dbo"
	switch len(p) {
	case 1:
	case 2:
		schema = p[0]
	case 3:
		if p[0] != "" {
			db = p[0]
		}
		if p[1] != "" {
			schema = p[1]
		}
	default:
		return nil, invalid
	}
	name := strings.ToLower(p[len(p)-1])
	schema = strings.ToLower(schema)
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	d := i.cat.db(db)
	if d == nil {
		return nil, invalid
	}
	c := i.cat
	t := &table{name: name}
	switch schema + "." + name {
	case "sys.databases":
		t.cols = cols("name", tNVarChar(128), "database_id", tInt, "create_date", tDateTime, "compatibility_level", tTinyInt,
			"is_read_only", tBit, "state", tTinyInt, "state_desc", tNVarChar(60), "recovery_model", tTinyInt,
			"recovery_model_desc", tNVarChar(60), "is_encrypted", tBit, "is_master_key_encrypted_by_server", tBit)
		t.cols = append(t.cols, databaseDBAColumns(i.opts.Profile)...)
		compat := i.opts.Profile.compatibilityLevel()
		for _, x := range c.Databases {
			rm := map[string]int64{"FULL": 1, "BULK_LOGGED": 2, "SIMPLE": 3}[x.Recovery]
			row := []any{x.Name, int64(x.ID), x.Created, compat, x.ReadOnly, int64(0), x.State, rm, x.Recovery,
				x.Encrypted, x.ID == 1 && c.MasterKey != nil && c.MasterKey.ServiceKey}
			t.rows = append(t.rows, append(row, c.dbaRow(i.opts.Profile, x)...))
		}
	case "sys.database_recovery_status":
		t.cols = cols("database_id", tInt, "database_guid", tGUID, "family_guid", tGUID, "last_log_backup_lsn", tLSN,
			"recovery_fork_guid", tGUID, "first_recovery_fork_guid", tGUID, "fork_point_lsn", tLSN)
		for _, x := range c.Databases {
			var lsn any
			if x.LastLogBackupLSN != nil {
				lsn = *x.LastLogBackupLSN
			}
			g := [16]byte{byte(x.ID), 0xdb}
			// Never restored: one recovery fork, the first, and no fork point.
			fork := [16]byte{byte(x.ID), 0xf0}
			t.rows = append(t.rows, []any{int64(x.ID), g, g, lsn, fork, fork, nil})
		}
	case "sys.symmetric_keys":
		t.cols = cols("name", tNVarChar(128), "principal_id", tInt, "symmetric_key_id", tInt, "key_length", tInt,
			"key_algorithm", tVarChar(2), "algorithm_desc", tNVarChar(60), "create_date", tDateTime, "modify_date", tDateTime,
			"key_guid", tGUID, "key_thumbprint", tVariant, "provider_type", tNVarChar(120),
			"cryptographic_provider_guid", tGUID, "cryptographic_provider_algid", tVariant)
		if d.ID == 1 && c.MasterKey != nil {
			m := c.MasterKey
			// The last four are NULL for keys not held by an EKM provider.
			t.rows = append(t.rows, []any{"##MS_DatabaseMasterKey##", int64(1), int64(101), int64(256), "A3", "AES_256", m.Created, m.Modified, m.GUID,
				nil, nil, nil, nil})
		}
	case "sys.certificates":
		t.cols = cols("name", tNVarChar(128), "certificate_id", tInt, "principal_id", tInt, "pvt_key_encryption_type", tVarChar(2),
			"pvt_key_encryption_type_desc", tNVarChar(60), "is_active_for_begin_dialog", tBit, "issuer_name", tNVarChar(442),
			"cert_serial_number", tNVarChar(64), "sid", tVarBinary(85), "string_sid", tNVarChar(128), "subject", tNVarChar(4000),
			"expiry_date", tDateTime, "start_date", tDateTime, "thumbprint", tVarBinary(32), "attested_by", tNVarChar(260),
			"pvt_key_last_backup_date", tDateTime, "key_length", tInt)
		if d.ID == 1 {
			for _, x := range c.Certificates {
				code := map[string]string{"ENCRYPTED_BY_MASTER_KEY": "MK", "ENCRYPTED_BY_PASSWORD": "PW", "NO_PRIVATE_KEY": "NA"}[x.KeyEnc]
				var lb any
				if x.LastBackup != nil {
					lb = *x.LastBackup
				}
				t.rows = append(t.rows, []any{x.Name, int64(x.ID), int64(1), code, x.KeyEnc, true, x.Subject, x.Serial, nil, nil,
					x.Subject, x.Expiry, x.Start, x.Thumbprint, nil, lb, int64(2048)})
			}
		}
	case "sys.endpoints", "sys.database_mirroring_endpoints":
		t.cols = cols("name", tNVarChar(128), "endpoint_id", tInt, "principal_id", tInt, "protocol", tTinyInt, "protocol_desc", tNVarChar(60),
			"type", tTinyInt, "type_desc", tNVarChar(60), "state", tTinyInt, "state_desc", tNVarChar(60), "is_admin_endpoint", tBit)
		mirror := name == "database_mirroring_endpoints"
		if mirror {
			t.cols = append(t.cols, cols("role", tTinyInt, "role_desc", tNVarChar(60), "is_encryption_enabled", tBit,
				"connection_auth", tTinyInt, "connection_auth_desc", tNVarChar(60), "certificate_id", tInt,
				"encryption_algorithm", tTinyInt, "encryption_algorithm_desc", tNVarChar(60))...)
		} else {
			// The built-in TSQL endpoints.
			for n, e := range []string{"Dedicated Admin Connection", "TSQL Local Machine", "TSQL Named Pipes", "TSQL Default TCP", "TSQL Default VIA"} {
				st := "STARTED"
				t.rows = append(t.rows, []any{e, int64(n + 1), int64(1), int64(2), "TCP", int64(2), "TSQL", int64(0), st, n == 0})
			}
		}
		for _, e := range c.Endpoints {
			row := []any{e.Name, int64(e.ID), int64(1), int64(2), "TCP", int64(4), "DATABASE_MIRRORING",
				map[string]int64{"STARTED": 0, "STOPPED": 1, "DISABLED": 2}[e.State], e.State, false}
			if mirror {
				var cert any
				if e.CertID != 0 {
					cert = int64(e.CertID)
				}
				row = append(row, map[string]int64{"NONE": 0, "PARTNER": 1, "WITNESS": 2, "ALL": 3}[e.Role], e.Role, e.IsEncReq,
					int64(authCode(e.Auth)), e.Auth, cert, int64(algoCode(e.Encryption)), e.Encryption)
			}
			t.rows = append(t.rows, row)
		}
	case "sys.tcp_endpoints":
		t.cols = cols("name", tNVarChar(128), "endpoint_id", tInt, "type_desc", tNVarChar(60), "state_desc", tNVarChar(60),
			"port", tInt, "is_dynamic_port", tBit, "ip_address", tNVarChar(45))
		t.rows = append(t.rows, []any{"TSQL Default TCP", int64(4), "TSQL", "STARTED", int64(0), true, nil})
		for _, e := range c.Endpoints {
			var ip any
			if e.IP != "" && e.IP != "ALL" {
				ip = e.IP
			}
			t.rows = append(t.rows, []any{e.Name, int64(e.ID), "DATABASE_MIRRORING", e.State, int64(e.Port), false, ip})
		}
	case "sys.dm_server_registry":
		if !s.isSysadminLocked() {
			return nil, viewServerStateDenied()
		}
		t.cols = cols("registry_key", tNVarChar(256), "value_name", tNVarChar(256), "value_data", tVariant)
		reg := i.startup.Registry
		if rr, ok := i.opts.Host.(RegistryReader); ok && len(reg) > 0 {
			if live, err := rr.Registry(); err == nil {
				reg = live
			}
		}
		for _, r := range reg {
			t.rows = append(t.rows, []any{r.Key, r.Name, r.Data})
		}
	case "sys.dm_database_encryption_keys":
		t.cols = cols("database_id", tInt, "encryption_state", tInt, "create_date", tDateTime, "key_algorithm", tNVarChar(32),
			"key_length", tInt, "encryptor_thumbprint", tVarBinary(32), "encryptor_type", tNVarChar(32), "percent_complete", colType{t: tds.Float})
		for _, k := range c.DEKs {
			var tp any
			if len(k.Thumbprint) > 0 {
				tp = k.Thumbprint
			}
			t.rows = append(t.rows, []any{int64(k.DatabaseID), int64(k.State), c.Created, k.Algorithm, int64(k.KeyLength), tp, k.Type, 0.0})
		}
	case "dbo.backupset":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("backup_set_id", tInt, "media_set_id", tInt, "name", tNVarChar(128), "database_name", tNVarChar(128),
			"type", tVarChar(1), "is_copy_only", tBit, "backup_start_date", tDateTime, "backup_finish_date", tDateTime,
			"has_backup_checksums", tBit, "backup_size", colType{t: tds.Decimal, size: 20}, "compressed_backup_size", colType{t: tds.Decimal, size: 20},
			"first_lsn", tLSN, "last_lsn", tLSN, "database_backup_lsn", tLSN, "server_name", tNVarChar(128), "recovery_model", tNVarChar(60))
		for _, b := range c.Backups {
			rec := ""
			if x := c.db(b.Database); x != nil {
				rec = x.Recovery
			}
			t.rows = append(t.rows, []any{int64(b.ID), int64(b.MediaSetID), nil, b.Database, b.Type, b.CopyOnly, b.Start, b.Finish,
				b.Checksum, b.Size, b.Compressed, b.FirstLSN, b.LastLSN, int64(0), i.opts.Name, rec})
		}
	case "dbo.backupmediafamily":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("media_set_id", tInt, "family_sequence_number", tTinyInt, "physical_device_name", tNVarChar(260), "device_type", tTinyInt)
		for _, b := range c.Backups {
			t.rows = append(t.rows, []any{int64(b.MediaSetID), int64(1), b.Device, int64(2)})
		}
	case "dbo.sysjobs":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("job_id", tGUID, "originating_server_id", tInt, "name", tNVarChar(128), "enabled", tTinyInt, "description", tNVarChar(512),
			"start_step_id", tInt, "owner_sid", tVarBinary(85), "date_created", tDateTime, "date_modified", tDateTime)
		for _, j := range c.Jobs {
			t.rows = append(t.rows, []any{j.ID, int64(0), j.Name, b2i(j.Enabled), j.Description, int64(j.StartStep), []byte{1}, j.Created, j.Created})
		}
	case "dbo.sysjobsteps":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("job_id", tGUID, "step_id", tInt, "step_name", tNVarChar(128), "subsystem", tNVarChar(40), "command", tNVarChar(-1),
			"flags", tInt, "database_name", tNVarChar(128), "step_uid", tGUID)
		for _, j := range c.Jobs {
			for _, st := range j.Steps {
				t.rows = append(t.rows, []any{j.ID, int64(st.StepID), st.Name, st.Subsystem, st.Command, int64(st.Flags), st.Database, st.UID})
			}
		}
	case "dbo.sysjobstepslogs":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("log_id", tInt, "log", tNVarChar(-1), "date_created", tDateTime, "date_modified", tDateTime, "log_size", tBigInt, "step_uid", tGUID)
		for _, l := range c.StepLogs {
			t.rows = append(t.rows, []any{int64(l.ID), l.Log, l.Created, l.Modified, int64(len(l.Log)), l.StepUID})
		}
	case "dbo.sysjobactivity":
		if d.Name != "msdb" {
			return nil, invalid
		}
		t.cols = cols("session_id", tInt, "job_id", tGUID, "run_requested_date", tDateTime, "start_execution_date", tDateTime, "stop_execution_date", tDateTime)
		for _, a := range c.Activity {
			var st, sp any
			if a.Start != nil {
				st = *a.Start
			}
			if a.Stop != nil {
				sp = *a.Stop
			}
			t.rows = append(t.rows, []any{int64(1), a.JobID, a.Requested, st, sp})
		}
	default:
		if dt, ok := s.lookupHADRTable(schema + "." + name); ok {
			return dt, nil
		}
		if dt, ok, err := s.lookupDBATable(schema+"."+name, d); ok || err != nil {
			return dt, err
		}
		return nil, invalid
	}
	return t, nil
}

func authCode(a string) int {
	switch {
	case strings.HasPrefix(a, "CERTIFICATE"):
		return 4
	case a == "NTLM":
		return 1
	case a == "KERBEROS":
		return 2
	}
	return 3
}

func algoCode(a string) int {
	return map[string]int{"NONE": 0, "RC4": 1, "AES": 2, "NONE, RC4": 3, "NONE, AES": 4, "RC4, AES": 5, "AES, RC4": 6}[a]
}
