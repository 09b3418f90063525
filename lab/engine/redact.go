package engine

import "regexp"

// Secrets in statement text: PASSWORD = N'...' (CREATE/ALTER/OPEN MASTER
// KEY, CREATE CERTIFICATE, BACKUP CERTIFICATE) and the password arguments
// of CERTPRIVATEKEY. SQL Server hides such statements in its traces; the
// lab's statement log (milink lab log) hides the literals, so a test or a
// person reading it never sees a password.
var (
	passwordLiteral  = regexp.MustCompile(`(?i)(\bPASSWORD\s*=\s*)N?'(?:[^']|'')*'`)
	certPrivateKey   = regexp.MustCompile(`(?i)\bCERTPRIVATEKEY\s*\([^()']*(?:'(?:[^']|'')*'[^()']*)*\)`)
	anyStringLiteral = regexp.MustCompile(`N?'(?:[^']|'')*'`)
)

const hidden = "N'******'"

// redactSecrets returns text with password literals replaced.
func redactSecrets(text string) string {
	text = passwordLiteral.ReplaceAllString(text, "${1}"+hidden)
	return certPrivateKey.ReplaceAllStringFunc(text, func(call string) string {
		return anyStringLiteral.ReplaceAllString(call, hidden)
	})
}
