package engine

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/milink/milink/lab/tds"
)

// SQL Agent in msdb: enough of sp_add_job & co. for the procedure's
// NetHelper job, whose PowerShell step runs `tnc ADDRESS -port PORT
// -InformationLevel Quiet` through Host.Dial.

func argString(args []procArg, name string, pos int) (string, bool) {
	a, ok := arg(args, name, pos)
	if !ok || a.v == nil {
		return "", false
	}
	return toString(a.v), true
}

func argInt(args []procArg, name string, pos int, def int) int {
	a, ok := arg(args, name, pos)
	if !ok || a.v == nil {
		return def
	}
	f, ok := toNumber(a.v)
	if !ok {
		return def
	}
	return int(f)
}

// findJobLocked resolves @job_id / @job_name.
func (s *Session) findJobLocked(args []procArg) (*job, *sqlError) {
	if a, ok := arg(args, "@job_id", -1); ok && a.v != nil {
		g, err := convert(a.v, tGUID)
		if err != nil {
			return nil, err
		}
		id := g.([16]byte)
		if j := s.inst.cat.job("", &id); j != nil {
			return j, nil
		}
		return nil, errf(14262, 16, "The specified @job_id ('%s') does not exist.", guidString(id))
	}
	if name, ok := argString(args, "@job_name", -1); ok {
		if j := s.inst.cat.job(name, nil); j != nil {
			return j, nil
		}
		return nil, errf(14262, 16, "The specified @job_name ('%s') does not exist.", name)
	}
	return nil, errf(14294, 16, "Supply either @job_id or @job_name to identify the job.")
}

// changeJob runs change on the job named by @job_id or @job_name, under
// the instance lock, and persists the catalog if change succeeds: the one
// protocol of the sp_*job* procedures that alter a job.
func (s *Session) changeJob(args []procArg, change func(j *job) *sqlError) *sqlError {
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	j, err := s.findJobLocked(args)
	if err != nil {
		return err
	}
	if err := change(j); err != nil {
		return err
	}
	s.changed = true
	return i.persistLocked()
}

func (s *Session) spAddJob(args []procArg) *sqlError {
	if err := checkArgs("sp_add_job", args, "@job_name", "@enabled", "@description", "@start_step_id", "@category_name", "@category_id",
		"@owner_login_name", "@notify_level_eventlog", "@notify_level_email", "@notify_level_netsend", "@notify_level_page",
		"@notify_email_operator_name", "@notify_netsend_operator_name", "@notify_page_operator_name", "@delete_level", "@job_id", "@originating_server"); err != nil {
		return err
	}
	name, ok := argString(args, "@job_name", 0)
	if !ok {
		return errf(201, 16, "Procedure or function 'sp_add_job' expects parameter '@job_name', which was not supplied.")
	}
	i := s.inst
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cat.job(name, nil) != nil {
		return errf(14261, 16, "The specified @job_name ('%s') already exists.", name)
	}
	desc, _ := argString(args, "@description", -1)
	cat, _ := argString(args, "@category_name", -1)
	owner, _ := argString(args, "@owner_login_name", -1)
	j := &job{ID: guidFromUUID(uuid.New()), Name: name, Enabled: argInt(args, "@enabled", -1, 1) != 0, Description: desc,
		Category: cat, Owner: owner, Created: time.Now(), StartStep: argInt(args, "@start_step_id", -1, 1)}
	i.cat.Jobs = append(i.cat.Jobs, j)
	if a, ok := arg(args, "@job_id", -1); ok && a.output {
		a.v = j.ID
	}
	s.changed = true
	return i.persistLocked()
}

func (s *Session) spAddJobStep(args []procArg) *sqlError {
	if err := checkArgs("sp_add_jobstep", args, "@job_id", "@job_name", "@step_id", "@step_name", "@subsystem", "@command",
		"@additional_parameters", "@cmdexec_success_code", "@on_success_action", "@on_success_step_id", "@on_fail_action",
		"@on_fail_step_id", "@server", "@database_name", "@database_user_name", "@retry_attempts", "@retry_interval",
		"@os_run_priority", "@output_file_name", "@flags", "@proxy_id", "@proxy_name", "@step_uid"); err != nil {
		return err
	}
	return s.changeJob(args, func(j *job) *sqlError {
		name, ok := argString(args, "@step_name", -1)
		if !ok {
			return errf(201, 16, "Procedure or function 'sp_add_jobstep' expects parameter '@step_name', which was not supplied.")
		}
		sub, ok := argString(args, "@subsystem", -1)
		if !ok {
			sub = "TSQL"
		}
		switch strings.ToUpper(sub) {
		case "TSQL", "POWERSHELL", "CMDEXEC":
		default:
			return errf(14234, 16, "The specified '@subsystem' is invalid (valid values are returned by sp_enum_sqlagent_subsystems).")
		}
		cmd, _ := argString(args, "@command", -1)
		db, _ := argString(args, "@database_name", -1)
		if db == "" {
			db = "master"
		}
		id := argInt(args, "@step_id", -1, len(j.Steps)+1)
		st := &jobStep{StepID: id, Name: name, Subsystem: sub, Command: cmd, Database: db, Flags: argInt(args, "@flags", -1, 0), UID: guidFromUUID(uuid.New())}
		j.Steps = append(j.Steps, st)
		return nil
	})
}

func (s *Session) spUpdateJob(args []procArg) *sqlError {
	return s.changeJob(args, func(j *job) *sqlError {
		if a, ok := arg(args, "@start_step_id", -1); ok && a.v != nil {
			j.StartStep = argInt(args, "@start_step_id", -1, 1)
		}
		if a, ok := arg(args, "@enabled", -1); ok && a.v != nil {
			j.Enabled = argInt(args, "@enabled", -1, 1) != 0
		}
		if v, ok := argString(args, "@description", -1); ok {
			j.Description = v
		}
		if v, ok := argString(args, "@new_name", -1); ok {
			j.Name = v
		}
		return nil
	})
}

func (s *Session) spAddJobServer(args []procArg) *sqlError {
	return s.changeJob(args, func(j *job) *sqlError {
		srv, _ := argString(args, "@server_name", -1)
		if srv == "" {
			srv = "(local)"
		}
		if j.Server != "" {
			return errf(14269, 16, "Job '%s' is already targeted at server '%s'.", j.Name, j.Server)
		}
		j.Server = srv
		return nil
	})
}

func (s *Session) spDeleteJob(args []procArg) *sqlError {
	return s.changeJob(args, func(j *job) *sqlError {
		c := s.inst.cat // changeJob holds its lock
		uids := map[[16]byte]bool{}
		for _, st := range j.Steps {
			uids[st.UID] = true
		}
		var jobs []*job
		for _, x := range c.Jobs {
			if x != j {
				jobs = append(jobs, x)
			}
		}
		c.Jobs = jobs
		var logs []*stepLog
		for _, l := range c.StepLogs {
			if !uids[l.StepUID] {
				logs = append(logs, l)
			}
		}
		c.StepLogs = logs
		var acts []*jobActivity
		for _, a := range c.Activity {
			if a.JobID != j.ID {
				acts = append(acts, a)
			}
		}
		c.Activity = acts
		return nil
	})
}

func (s *Session) spStartJob(args []procArg) *sqlError {
	i := s.inst
	i.mu.Lock()
	j, err := s.findJobLocked(args)
	if err != nil {
		i.mu.Unlock()
		return err
	}
	for _, a := range i.cat.Activity {
		if a.JobID == j.ID && a.Stop == nil {
			i.mu.Unlock()
			return errf(22022, 16, "SQLServerAgent Error: Request to run job %s (from User %s) refused because the job is already running from a request by User %s.", j.Name, s.login(), s.login())
		}
	}
	now := time.Now()
	act := &jobActivity{JobID: j.ID, Requested: now}
	i.cat.Activity = append(i.cat.Activity, act)
	jobID, name := j.ID, j.Name
	s.changed = true
	perr := i.persistLocked()
	i.agentWG.Add(1)
	i.mu.Unlock()
	if perr != nil {
		i.agentWG.Done()
		return perr
	}
	go func() {
		defer i.agentWG.Done()
		i.runJob(jobID, act)
	}()
	s.info(14243, fmt.Sprintf("Job '%s' started successfully.", name))
	return nil
}

// tncRe reads the step's tnc. The address is a bare word, as the
// procedure writes it, or a PowerShell single-quoted literal (quotes
// doubled), as milink writes it.
var tncRe = regexp.MustCompile(`(?i)^\s*(?:tnc|Test-NetConnection)\s+(?:-ComputerName\s+)?('(?:[^']|'')*'|[^'\s]\S*)\s+-port\s+(\d+)(?:\s+-InformationLevel\s+(Quiet|Detailed))?\s*$`)

// psUnquote is the value of a PowerShell single-quoted literal, or s.
func psUnquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// runJob executes a job's steps in order (on the agent's goroutine).
func (i *Instance) runJob(id [16]byte, act *jobActivity) {
	i.mu.Lock()
	j := i.cat.job("", &id)
	if j == nil {
		i.mu.Unlock()
		return
	}
	start := time.Now()
	act.Start = &start
	steps := append([]*jobStep(nil), j.Steps...)
	first := j.StartStep
	linux := i.opts.Profile.OS == "linux"
	i.mu.Unlock()
	for _, st := range steps {
		if st.StepID < first {
			continue
		}
		out, ok := i.runStep(st, linux)
		i.mu.Lock()
		now := time.Now()
		var lg *stepLog
		for _, l := range i.cat.StepLogs {
			if l.StepUID == st.UID {
				lg = l
			}
		}
		if lg == nil {
			lg = &stepLog{ID: len(i.cat.StepLogs) + 1, Created: now, StepUID: st.UID}
			i.cat.StepLogs = append(i.cat.StepLogs, lg)
		}
		if st.Flags&8 != 0 || lg.Log == "" {
			lg.Log = out // @flags 8: overwrite the table log
		} else {
			lg.Log += out
		}
		lg.Modified = now
		i.mu.Unlock()
		if !ok {
			break
		}
	}
	i.mu.Lock()
	stop := time.Now()
	act.Stop = &stop
	_ = i.saveLocked()
	i.mu.Unlock()
}

func (i *Instance) runStep(st *jobStep, linux bool) (string, bool) {
	switch strings.ToUpper(st.Subsystem) {
	case "POWERSHELL":
		if linux {
			return "Unable to start execution of step 1 (reason: The PowerShell subsystem failed to load [see the SQLAGENT.OUT file for details]; The job has been suspended).  The step failed.", false
		}
		m := tncRe.FindStringSubmatch(strings.TrimSpace(st.Command))
		if m == nil {
			return fmt.Sprintf("Executed as user: NT Service\\SQLAgent. The lab's agent can only run `tnc ADDRESS -port PORT -InformationLevel Quiet`; it cannot run: %s.  Process Exit Code 1.  The step failed.", truncate(st.Command, 200)), false
		}
		port, _ := strconv.Atoi(m[2])
		m[1] = psUnquote(m[1])
		ok := false
		if i.opts.Host != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ok = i.opts.Host.Dial(ctx, m[1], port)
			cancel()
		}
		if strings.EqualFold(m[3], "Quiet") {
			if ok {
				return "True\n", true
			}
			return "False\n", true
		}
		return fmt.Sprintf("ComputerName     : %s\nRemotePort       : %d\nTcpTestSucceeded : %v\n", m[1], port, map[bool]string{true: "True", false: "False"}[ok]), true
	case "TSQL":
		s := &Session{inst: i, db: st.Database, spid: 0, vars: map[string]*variable{}, flags: map[int]bool{}, w: &discardWriter{}, ctx: context.Background()}
		w := s.w.(*discardWriter)
		s.depth = 1
		s.runBatch(st.Command, false)
		if len(w.errs) > 0 {
			return strings.Join(w.errs, "\n"), false
		}
		return "", true
	}
	return "The CmdExec subsystem is not available in the lab.  The step failed.", false
}

// discardWriter collects only the errors of an agent T-SQL step.
type discardWriter struct{ errs []string }

func (d *discardWriter) Columns([]tds.Column) error { return nil }
func (d *discardWriter) Row(...any) error           { return nil }
func (d *discardWriter) Done(int64) error           { return nil }
func (d *discardWriter) Info(tds.Message) error     { return nil }
func (d *discardWriter) Error(m tds.Message) error {
	d.errs = append(d.errs, fmt.Sprintf("Msg %d, Level %d: %s", m.Number, m.Class, m.Text))
	return nil
}
func (d *discardWriter) ReturnStatus(int32) error                       { return nil }
func (d *discardWriter) ReturnValue(int, string, tds.Column, any) error { return nil }
func (d *discardWriter) Transaction(tds.TxChange, uint64) error         { return nil }
func (d *discardWriter) Flush() error                                   { return nil }
func (d *discardWriter) Abort()                                         {}
