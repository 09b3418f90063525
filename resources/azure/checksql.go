package azure

import "database/sql"

// SQLDB is the managed instance's TDS connection, opened on first use
// (the connectivity check of resources/checks runs its SQL Agent job
// through it).
func (m *ManagedInstance) SQLDB() (*sql.DB, error) { return m.sqlDB() }
