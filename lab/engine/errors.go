package engine

import (
	"fmt"

	"github.com/milink/milink/lab/tds"
)

// sqlError is a SQL Server error raised while parsing or running a
// statement. also, when set, is sent after it (105 is followed by 102).
type sqlError struct {
	number int32
	class  uint8
	state  uint8
	text   string
	also   *sqlError
	// abortBatch marks errors that end the whole batch, not just the statement.
	abortBatch bool
	// line is where a syntax error was found; 0 means the line of the
	// statement that raised it.
	line int32
}

func (e *sqlError) Error() string { return fmt.Sprintf("Msg %d: %s", e.number, e.text) }

func errf(number int32, class uint8, format string, args ...any) *sqlError {
	return &sqlError{number: number, class: class, state: 1, text: fmt.Sprintf(format, args...)}
}

func syntaxNear(s string) *sqlError { return errf(102, 15, "Incorrect syntax near '%s'.", s) }

// messages are the ERROR tokens of e; line is the line of the statement
// that raised it, within its batch.
func (e *sqlError) messages(server string, line int32) []tds.Message {
	var out []tds.Message
	for x := e; x != nil; x = x.also {
		l := line
		if x.line > 0 {
			l = x.line
		} else if e.line > 0 {
			l = e.line
		}
		if l <= 0 {
			l = 1
		}
		out = append(out, tds.Message{Number: x.number, State: x.state, Class: x.class, Text: x.text, Server: server, Line: l})
	}
	return out
}
