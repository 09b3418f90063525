package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// toSQLServer has the managed instance's SQL Agent run tnc against SQL
// Server's mirroring endpoint, creating a temporary one when none is
// started, and removes what it created whatever happens.
func (c *Check) toSQLServer(ctx context.Context) (r Result) {
	r = Result{Direction: ToSQLServer, Hop: fmt.Sprintf("%s → %s:%d", c.ManagedInstanceName, c.Address, c.Port)}
	switch {
	case c.SQLServer == nil:
		r.Status, r.Detail = NotRun, c.SQLServerName+" cannot be reached, and its endpoint is needed"
		return r
	case c.ManagedInstance == nil:
		r.Status, r.Detail = NotRun, c.ManagedInstanceName+" cannot be reached, and the test job must run there"
		if c.ManagedInstanceErr != nil {
			r.Detail += ": " + c.ManagedInstanceErr.Error()
		}
		return r
	}
	name := ObjectName(c.RunID)
	port, created, res := c.endpoint(ctx, name)
	if created {
		defer func() { r.Notes = append(r.Notes, c.dropEndpoint(ctx, name)...) }()
	}
	if res != nil {
		return *res // the deferred drop adds its notes to it
	}
	if port != c.Port {
		r.Hop = fmt.Sprintf("%s → %s:%d", c.ManagedInstanceName, c.Address, port)
	}
	r.Notes = append(r.Notes, c.endpointNote(created, port)...)

	c.progress(fmt.Sprintf("creating job %s on %s", name, c.ManagedInstanceName))
	defer func() {
		if note := c.deleteJob(ctx, name); note != "" {
			r.Notes = append(r.Notes, note)
		}
	}()
	if err := c.ManagedInstance.Exec(ctx, AddJobSQL(name, c.Address, port)); err != nil {
		r.Status, r.Detail, r.ErrorNumber = NotRun, "creating the test job on "+c.ManagedInstanceName+": "+err.Error(), ErrorNumber(err)
		return r
	}
	if err := c.ManagedInstance.Exec(ctx, StartJobSQL(name)); err != nil {
		r.Status, r.Detail, r.ErrorNumber = NotRun, "starting the test job on "+c.ManagedInstanceName+": "+err.Error(), ErrorNumber(err)
		return r
	}
	log, err := c.waitForJob(ctx, name)
	if err != nil {
		r.Status, r.Detail, r.ErrorNumber = NotRun, err.Error(), ErrorNumber(err)
		return r
	}
	switch verdict(log) {
	case "True":
		r.Status, r.Detail = Passed, fmt.Sprintf("the managed instance reached %s:%d (tnc: True)", c.Address, port)
	case "False":
		r.Status, r.Detail = Failed, fmt.Sprintf("the managed instance could not reach %s:%d (tnc: False)", c.Address, port)
		r.Hints = c.hints(ToSQLServer, port)
	default:
		r.Status, r.Detail = NotRun, "the job's step did not say True or False: "+firstLine(log, nil)
	}
	return r
}

// endpoint finds the started DATABASE_MIRRORING endpoint, or creates the
// test one. It returns the port the managed instance must reach and
// whether this run created (or tried to create) the endpoint; a non-nil
// result ends the direction there.
func (c *Check) endpoint(ctx context.Context, name string) (port int, created bool, res *Result) {
	end := func(st Status, hop, detail string, err error) (int, bool, *Result) {
		r := &Result{Direction: ToSQLServer, Status: st, Hop: hop, Detail: detail, ErrorNumber: ErrorNumber(err)}
		return 0, created, r
	}
	epHop := fmt.Sprintf("%s: mirroring endpoint on port %d", c.SQLServerName, c.Port)
	rows, err := c.SQLServer.Query(ctx, EndpointsSQL)
	if err != nil {
		return end(NotRun, epHop, "reading the endpoints of "+c.SQLServerName+": "+err.Error(), err)
	}
	if len(rows) > 0 {
		// There is one mirroring endpoint per instance at most (7862).
		ep, state, p := str(rows[0][0]), str(rows[0][1]), num(rows[0][2])
		if state != "STARTED" {
			// A second cannot be made, and milink does not touch this one.
			return end(NotRun, epHop, fmt.Sprintf("the DATABASE_MIRRORING endpoint [%s] of %s is %s; start it (ALTER ENDPOINT ... STATE = STARTED) to test the path: milink does not change an endpoint it did not create", ep, c.SQLServerName, state), nil)
		}
		return p, false, nil
	}
	created = true
	c.progress(fmt.Sprintf("creating the test certificate and endpoint %s on %s", name, c.SQLServerName))
	if err := c.SQLServer.Exec(ctx, CreateCertificateSQL(name, c.Now().Add(48*time.Hour))); err != nil {
		_, _, r := end(NotRun, epHop, "creating the test certificate on "+c.SQLServerName+": "+err.Error(), err)
		if r.ErrorNumber == 15581 {
			r.Hints = []string{"the test endpoint's certificate needs the database master key in master (a master_key block)"}
		}
		return 0, true, r
	}
	if err := c.SQLServer.Exec(ctx, CreateEndpointSQL(name, name, c.Port)); err != nil {
		if n := ErrorNumber(err); n == 9692 {
			_, _, r := end(Failed, epHop, "the test endpoint cannot listen: "+err.Error(), err)
			r.Hints = []string{fmt.Sprintf("endpoint port taken: error 9692: another process on SQL Server's host listens on port %d; stop it, or use another port for the link's endpoint (port)", c.Port)}
			return 0, true, r
		}
		return end(NotRun, epHop, "creating the test endpoint on "+c.SQLServerName+": "+err.Error(), err)
	}
	return c.Port, true, nil
}

func (c *Check) endpointNote(created bool, port int) []string {
	if created {
		return nil
	}
	note := fmt.Sprintf("used the started DATABASE_MIRRORING endpoint of %s (port %d); created none", c.SQLServerName, port)
	if port != c.Port {
		note += fmt.Sprintf("; it listens on %d, not on the configured %d", port, c.Port)
	}
	return []string{note}
}

// waitForJob waits until the job's run stopped and returns its step log.
func (c *Check) waitForJob(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.JobTimeout)
	defer cancel()
	start := time.Now()
	next := start.Add(5 * time.Second)
	for {
		rows, err := c.ManagedInstance.Query(ctx, JobStateSQL(name))
		if err != nil {
			return "", fmt.Errorf("reading the test job on %s: %w", c.ManagedInstanceName, c.jobErr(ctx, err))
		}
		for _, row := range rows {
			if row[0] != nil {
				return str(row[1]), nil
			}
		}
		if now := time.Now(); now.After(next) {
			c.progress(fmt.Sprintf("waiting for job %s on %s (%s)", name, c.ManagedInstanceName, now.Sub(start).Round(time.Second)))
			next = now.Add(5 * time.Second)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for the test job on %s: %w", c.ManagedInstanceName, c.jobErr(ctx, ctx.Err()))
		case <-time.After(c.PollInterval):
		}
	}
}

func (c *Check) jobErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && context.Cause(ctx) == context.DeadlineExceeded {
		return fmt.Errorf("the job did not finish within %s (is SQL Agent running on the managed instance?)", c.JobTimeout)
	}
	return err
}

// verdict is tnc's answer in a step log: its last non-empty line.
func verdict(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	switch {
	case strings.EqualFold(last, "True"):
		return "True"
	case strings.EqualFold(last, "False"):
		return "False"
	}
	return ""
}

// deleteJob removes the test job; a problem is returned as a note.
func (c *Check) deleteJob(ctx context.Context, name string) string {
	cctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	if err := c.ManagedInstance.Exec(cctx, DeleteJobSQL(name)); err != nil {
		return fmt.Sprintf("the test job %s could not be deleted from %s (the next check removes it): %v", name, c.ManagedInstanceName, err)
	}
	return ""
}

// dropEndpoint removes the test endpoint, then its certificate.
func (c *Check) dropEndpoint(ctx context.Context, name string) []string {
	cctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	c.progress(fmt.Sprintf("dropping the test endpoint and certificate %s on %s", name, c.SQLServerName))
	if err := c.SQLServer.Exec(cctx, DropEndpointSQL(name)); err != nil {
		return []string{fmt.Sprintf("the test endpoint %s could not be dropped on %s (the next check removes it): %v", name, c.SQLServerName, err)}
	}
	if err := c.SQLServer.Exec(cctx, DropCertificateSQL(name)); err != nil {
		return []string{fmt.Sprintf("the test certificate %s could not be dropped on %s (the next check removes it): %v", name, c.SQLServerName, err)}
	}
	return nil
}
