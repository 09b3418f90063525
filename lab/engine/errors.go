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
}

func (e *sqlError) Error() string { return fmt.Sprintf("Msg %d: %s", e.number, e.text) }

func errf(number int32, class uint8, format string, args ...any) *sqlError {
	return &sqlError{number: number, class: class, state: 1, text: fmt.Sprintf(format, args...)}
}

func syntaxNear(s string) *sqlError { return errf(102, 15, "Incorrect syntax near '%s'.", s) }

func (e *sqlError) messages(server string) []tds.Message {
	var out []tds.Message
	for x := e; x != nil; x = x.also {
		out = append(out, tds.Message{Number: x.number, State: x.state, Class: x.class, Text: x.text, Server: server, Line: 1})
	}
	return out
}
