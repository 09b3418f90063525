package tds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
)

// tokenCheck accepts one token, as the principal it names.
type tokenCheck struct{ good, user string }

func (c tokenCheck) Validate(token string) (string, *Message) {
	if token != c.good {
		return "", &Message{Number: 18456, State: 1, Class: 14, Text: "Login failed for user '<token-identified principal>'."}
	}
	return c.user, nil
}

// fedHandler admits federated logins only.
type fedHandler struct{ testHandler }

func (h *fedHandler) Login(ctx context.Context, req LoginRequest) (Session, *Message) {
	if !req.Federated || req.User != "dba@milink.test" || req.Password != "" {
		return nil, &Message{Number: 18456, State: 1, Class: 14, Text: fmt.Sprintf("Login failed for user '%s'.", req.User)}
	}
	return &testSession{h: &h.testHandler, db: "master"}, nil
}

// TestFederatedAuthentication: go-mssqldb's access-token login (LOGIN7
// FEDAUTH, security token) is validated by the server's FedAuth and
// acknowledged; a bad token and a server without Entra get 18456.
func TestFederatedAuthentication(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJkYmFAbWlsaW5rLnRlc3QifQ.c2ln"
	check := tokenCheck{good: token, user: "dba@milink.test"}
	login := func(addr, tok string) error {
		c, err := mssql.NewConnectorWithAccessTokenProvider(dsn(addr, "", "", "encrypt=disable"), func(context.Context) (string, error) { return tok, nil })
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		return db.PingContext(context.Background())
	}
	_, addr := startServer(t, &fedHandler{*newTestHandler()}, Options{FedAuth: check})
	if err := login(addr, token); err != nil {
		t.Fatalf("login with the token: %v", err)
	}
	var e mssql.Error
	if err := login(addr, "forged"); !errors.As(err, &e) || e.Number != 18456 {
		t.Errorf("a bad token: %v, want 18456", err)
	}
	_, plain := startServer(t, &fedHandler{*newTestHandler()}, Options{})
	if err := login(plain, token); !errors.As(err, &e) || e.Number != 18456 {
		t.Errorf("a server without Entra: %v, want 18456", err)
	}
}
