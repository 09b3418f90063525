package arm

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Faults are what can go wrong on purpose with the lab's Azure. Counts are
// of requests (or tokens, operations) from when the fault was set; each
// request a count covers uses one up.
type Faults struct {
	// Throttle > 0 answers the next Throttle Resource Manager requests with
	// 429 TooManyRequests and a Retry-After of RetryAfter seconds.
	Throttle   int64 `json:"throttle"`
	RetryAfter int64 `json:"retry_after"` // seconds; 0 means 1
	// ServerError > 0 answers the next ServerError Resource Manager
	// requests with 500 InternalServerError.
	ServerError int64 `json:"server_error"`
	// FailOperation, when set, is the error code with which the next
	// long-running operation (a rule PUT or DELETE, a tdeCertificates POST)
	// fails asynchronously: the request is accepted, the change is not
	// made, and the operation's status is Failed with this code.
	FailOperation string `json:"fail_operation"`
	// ExpiredTokens > 0 issues the next ExpiredTokens access tokens already
	// expired (the response's expires_in still says an hour, as a client
	// with a skewed clock would see it): Resource Manager refuses them with
	// 401 ExpiredAuthenticationToken.
	ExpiredTokens int64 `json:"expired_tokens"`
}

// FaultChange changes some faults; nil fields stay as they are.
type FaultChange struct {
	Throttle      *int64  `json:"throttle,omitempty"`
	RetryAfter    *int64  `json:"retry_after,omitempty"`
	ServerError   *int64  `json:"server_error,omitempty"`
	FailOperation *string `json:"fail_operation,omitempty"`
	ExpiredTokens *int64  `json:"expired_tokens,omitempty"`
	Clear         bool    `json:"clear,omitempty"` // first clear all faults
}

// Apply returns f changed by c.
func (c FaultChange) Apply(f Faults) Faults {
	if c.Clear {
		f = Faults{}
	}
	if c.Throttle != nil {
		f.Throttle = *c.Throttle
	}
	if c.RetryAfter != nil {
		f.RetryAfter = *c.RetryAfter
	}
	if c.ServerError != nil {
		f.ServerError = *c.ServerError
	}
	if c.FailOperation != nil {
		f.FailOperation = *c.FailOperation
	}
	if c.ExpiredTokens != nil {
		f.ExpiredTokens = *c.ExpiredTokens
	}
	return f
}

var errorCodeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]{0,99}$`)

// ValidErrorCode reports whether code can be an Azure error code (letters,
// digits, '_' and '.').
func ValidErrorCode(code string) bool { return errorCodeRE.MatchString(code) }

type faultState struct {
	throttle, serverError, expiredTokens int64
	retryAfter                           int64
	failOperation                        string
}

func (f *faultState) set(v Faults) {
	f.throttle, f.serverError, f.expiredTokens = v.Throttle, v.ServerError, v.ExpiredTokens
	f.retryAfter = v.RetryAfter
	if f.retryAfter <= 0 {
		f.retryAfter = 1
	}
	f.failOperation = v.FailOperation
}

func (f *faultState) get() Faults {
	return Faults{Throttle: f.throttle, RetryAfter: f.retryAfter, ServerError: f.serverError,
		FailOperation: f.failOperation, ExpiredTokens: f.expiredTokens}
}

// SetFaults arms faults (replacing those armed).
func (s *Server) SetFaults(v Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.set(v)
}

// Faults are the faults armed now.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.get()
}

// LogEntry is one request of the lab's Azure request log.
type LogEntry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	// Path is the request's path and query, as sent.
	Path   string `json:"path"`
	Status int    `json:"status"`
	// Body is the request body with secrets (client_secret, privateBlob,
	// certPassword, passwords) replaced by "REDACTED".
	Body string `json:"body,omitempty"`
	// Code is the error code of an error answer ("" on success).
	Code string `json:"code,omitempty"`
	// Changed: the request changed something (or started an operation
	// that did).
	Changed bool `json:"changed"`
}

// maxLog bounds the request log; the oldest entries go first.
const maxLog = 10000

// Log returns the request log since the server started.
func (s *Server) Log() []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogEntry(nil), s.log...)
}

func (s *Server) addLog(e LogEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) >= maxLog {
		s.log = append(s.log[:0], s.log[len(s.log)-maxLog+1:]...)
	}
	s.log = append(s.log, e)
}

var secretJSONKeys = regexp.MustCompile(`(?i)("(?:privateBlob|certPassword|password|administratorLoginPassword|client_secret|access_token)"\s*:\s*)"(?:[^"\\]|\\.)*"`)

// redactBody hides the secrets of a request body for the log.
func redactBody(contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return "(unreadable form)"
		}
		for k := range q {
			switch strings.ToLower(k) {
			case "client_secret", "client_assertion", "password", "refresh_token", "code":
				q[k] = []string{"REDACTED"}
			}
		}
		return q.Encode()
	}
	return secretJSONKeys.ReplaceAllString(string(body), `$1"REDACTED"`)
}
