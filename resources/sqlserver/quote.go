// Package sqlserver observes a SQL Server instance, decides what the link
// needs there (master key, HADR, startup trace flags, databases in FULL
// recovery with a full backup), and carries the changes out over
// go-mssqldb, with the host driver for what lives outside T-SQL.
package sqlserver

import "strings"

// QuoteIdent quotes a name for T-SQL: [a]]b] for a]b.
func QuoteIdent(s string) string {
	return "[" + strings.ReplaceAll(s, "]", "]]") + "]"
}

// QuoteString is a Unicode string literal, quotes doubled:
//
//	QuoteString("it's") == "N'it''s'"
//
// Secrets travel as literals because CREATE MASTER KEY accepts no variable.
func QuoteString(s string) string {
	return "N'" + strings.ReplaceAll(s, "'", "''") + "'"
}
