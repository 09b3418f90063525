// An independent TDS client for the lab's tests: tedious (Node.js).
// lab/clients_tedious_test.go starts a lab, then runs this with the
// connection in LAB_CONN (JSON: address, port, user, password, database)
// and a list of steps on stdin; it prints one JSON object per step.
//
// Steps: {"batch": sql} | {"sql": sql, "params": [p...]} (sp_executesql) |
// {"prepare": sql, "params": [p...], "executions": [{name: value}...]} |
// {"begin": name} | {"commit": true} | {"rollback": true} | {"reset": true}
// where p is {"name", "type" (a tedious TYPES name), "value", "output",
// "precision", "scale"}.
'use strict';
const fs = require('fs');
const { Connection, Request, TYPES } = require('tedious');

const cfg = JSON.parse(process.env.LAB_CONN);
const steps = JSON.parse(fs.readFileSync(0, 'utf8'));

function show(v) {
  if (Buffer.isBuffer(v)) return '0x' + v.toString('hex').toUpperCase();
  if (v instanceof Date) return v.toISOString();
  return v;
}

const conn = new Connection({
  server: cfg.address,
  authentication: { type: 'default', options: { userName: cfg.user, password: cfg.password } },
  options: {
    port: cfg.port,
    database: cfg.database || undefined,
    // encrypt: false is PRELOGIN's ENCRYPT_OFF: the lab, which has a
    // certificate, encrypts the LOGIN7 packet only. encrypt: true with the
    // lab's certificate as ca would encrypt it all; not tested here.
    encrypt: false,
    trustServerCertificate: true,
    connectTimeout: 15000,
    requestTimeout: 15000,
    useColumnNames: false,
  },
});

let cur = null; // the output of the step running
conn.on('errorMessage', (m) => {
  const e = { number: m.number, class: m.class, state: m.state, message: m.message, line: m.lineNumber };
  if (cur) cur.errors.push(e); else loginErrors.push(e);
});
conn.on('infoMessage', (m) => {
  if (cur) cur.infos.push({ number: m.number, message: m.message, line: m.lineNumber });
});
const loginErrors = [];

function newOut(i) {
  return { step: i, sets: [], errors: [], infos: [], returnValues: {}, error: null };
}

function request(sql, out, done) {
  const r = new Request(sql, (err) => {
    if (err) out.error = err.message;
    done();
  });
  r.on('columnMetadata', (cols) => {
    out.sets.push({
      columns: cols.map((c) => ({ name: c.colName, type: c.type.name, precision: c.precision, scale: c.scale, length: c.dataLength })),
      rows: [],
    });
  });
  r.on('row', (cols) => out.sets[out.sets.length - 1].rows.push(cols.map((c) => show(c.value))));
  r.on('returnValue', (name, value) => { out.returnValues[name] = show(value); });
  return r;
}

function addParams(r, params) {
  for (const p of params || []) {
    const opts = {};
    if (p.precision !== undefined) opts.precision = p.precision;
    if (p.scale !== undefined) opts.scale = p.scale;
    let v = p.value;
    if (p.type === 'DateTimeOffset' && v !== null && v !== undefined) v = new Date(v);
    if (p.output) r.addOutputParameter(p.name, TYPES[p.type], v, opts);
    else r.addParameter(p.name, TYPES[p.type], v, opts);
  }
}

function runStep(i, step, next) {
  const out = newOut(i);
  cur = out;
  const finish = () => { cur = null; process.stdout.write(JSON.stringify(out) + '\n'); next(); };
  if (step.batch !== undefined) {
    conn.execSqlBatch(request(step.batch, out, finish));
  } else if (step.sql !== undefined) {
    const r = request(step.sql, out, finish);
    addParams(r, step.params);
    conn.execSql(r);
  } else if (step.prepare !== undefined) {
    // One request is prepared ('prepared' or 'error' event), executed once
    // per entry of executions and unprepared (its callback after each).
    const execs = step.executions.slice();
    let unprepared = false;
    const next = () => {
      if (out.error || unprepared) { finish(); return; }
      if (execs.length > 0) { conn.execute(r, execs.shift()); return; }
      unprepared = true;
      conn.unprepare(r);
    };
    const r = request(step.prepare, out, next);
    addParams(r, step.params);
    r.on('prepared', () => { out.handle = r.handle; next(); });
    r.on('error', (err) => { out.error = err.message; finish(); });
    conn.prepare(r);
  } else if (step.begin !== undefined) {
    conn.beginTransaction((err) => { if (err) out.error = err.message; finish(); }, step.begin);
  } else if (step.commit) {
    conn.commitTransaction((err) => { if (err) out.error = err.message; finish(); });
  } else if (step.rollback) {
    conn.rollbackTransaction((err) => { if (err) out.error = err.message; finish(); });
  } else if (step.reset) {
    conn.reset((err) => { if (err) out.error = err.message; finish(); });
  } else {
    out.error = 'unknown step ' + JSON.stringify(step);
    finish();
  }
}

conn.on('connect', (err) => {
  if (err) {
    process.stdout.write(JSON.stringify({ login: 'failed', message: err.message, errors: loginErrors }) + '\n');
    process.exit(0);
  }
  let i = 0;
  const next = () => {
    if (i >= steps.length) { conn.close(); return; }
    const s = steps[i];
    runStep(i++, s, next);
  };
  next();
});
conn.connect();
