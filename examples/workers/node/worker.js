#!/usr/bin/env node
// A TSS worker in Node.js (18+), standard library only: it takes runs from a TSS server
// over the worker protocol (docs/workers.md), runs them and reports what became of them.
//
//   TSS_URL=http://127.0.0.1:8000 TSS_TOKEN=... node worker.js --pool node --concurrency 4
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const { spawn } = require('node:child_process');
const { setTimeout: delay } = require('node:timers/promises');
const { parseArgs } = require('node:util');

const VERSION = 'tss-node-worker/0.1';
const POLL_WAIT = 5; // seconds an idle claim waits on the server for runs
const LOG_LIMIT = 64 * 1024; // characters of stdout and of stderr kept per run (head + tail)

// ---- task types ----------------------------------------------------------------------------
// One handler per task type; the worker offers exactly these. A handler gets the run's params
// and { run, signal, stdout, stderr }; it returns a JSON-able result or throws, and stops when
// `signal` aborts (timeout, lost run, shutdown). See README.md to add your own.
const handlers = {
  // {"sleep": seconds, "result": any}, as the server's built-in `noop`
  async noop(params, ctx) {
    if (params.sleep) await delay(params.sleep * 1000, null, { signal: ctx.signal });
    return params.result ?? null;
  },
  // {"argv": [...], "env": {...}, "cwd": "...", "inherit_env": ...}, as the built-in `shell`
  shell: runCommand,
};

function failure(type, message, exitCode) {
  return Object.assign(new Error(message), { type, exitCode });
}

function runCommand(params, ctx) {
  return new Promise((resolve, reject) => {
    const [command, ...args] = params.argv.map(String);
    // No shell; its own process group, so a stop kills what it started too.
    const child = spawn(command, args, {
      cwd: params.cwd, env: taskEnv(params, ctx.run), detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone already */ } };
    ctx.signal.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (text) => ctx.stdout.write(text));
    child.stderr.setEncoding('utf8').on('data', (text) => ctx.stderr.write(text));
    child.on('error', (err) => {
      ctx.signal.removeEventListener('abort', kill);
      reject(err.code === 'ENOENT' ? failure('FileNotFoundError', `command not found: ${command}`) : err);
    });
    child.on('close', (code, signal) => {
      ctx.signal.removeEventListener('abort', kill);
      if (code === 0) return resolve({ exit_code: 0 });
      const tail = ctx.stderr.text().slice(-2000).trim();
      const said = code !== null ? `exited with code ${code}` : `killed by signal ${signal}`;
      reject(failure('ShellCommandFailed', tail ? `${said}: ${tail}` : said,
        code ?? -(os.constants.signals[signal] || 0)));
    });
  });
}

// A task starts from a clean environment: never the worker's TSS_* variables (its token).
const BASE_NAMES = new Set(
  ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR']);
const isTss = (name) => /^tss_/i.test(name);

function taskEnv(params, run) {
  const inherit = params.inherit_env ?? true;
  const extra = new Set(Array.isArray(inherit) ? inherit : []);
  const env = {};
  for (const [name, value] of Object.entries(inherit === false ? {} : process.env)) {
    const passed = BASE_NAMES.has(name) || name.startsWith('LC_') || extra.has(name);
    if (passed && !isTss(name)) env[name] = value;
  }
  for (const [name, value] of Object.entries(params.env ?? {})) env[name] = secret(name, value);
  return { ...env, TSS_RUN_ID: run.id, TSS_ATTEMPT: String(run.attempt), TSS_JOB: run.job };
}

function secret(name, value) {
  if (value === null || typeof value !== 'object') return String(value);
  if ('from_env' in value) {
    if (isTss(value.from_env) || process.env[value.from_env] === undefined) {
      throw failure('SecretError', `env.${name}: the worker has no variable ${value.from_env}`);
    }
    return process.env[value.from_env];
  }
  try {
    const real = fs.realpathSync(value.from_file);
    if (/^\/(proc|sys|dev)(\/|$)/.test(real)) throw new Error('a kernel or device path');
    return fs.readFileSync(real, 'utf8').replace(/\n+$/, '');
  } catch (err) {
    throw failure('SecretError', `env.${name}: cannot read ${value.from_file}: ${err.message}`);
  }
}

// ---- configuration -------------------------------------------------------------------------
const list = (text) => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const { values: flags } = parseArgs({
  options: {
    url: { type: 'string' }, token: { type: 'string' }, id: { type: 'string' },
    pool: { type: 'string', multiple: true }, label: { type: 'string', multiple: true },
    concurrency: { type: 'string' }, grace: { type: 'string' },
  },
});
const env = process.env;
const cfg = {
  url: (flags.url ?? env.TSS_URL ?? 'http://127.0.0.1:8000').replace(/\/+$/, ''),
  token: flags.token ?? env.TSS_TOKEN ?? '',
  id: flags.id ?? env.TSS_WORKER_ID
    ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-'),
  pools: flags.pool ?? list(env.TSS_POOLS ?? 'default'),
  labels: flags.label ?? list(env.TSS_LABELS),
  concurrency: Number(flags.concurrency ?? env.TSS_CONCURRENCY ?? 4),
  grace: Number(flags.grace ?? env.TSS_GRACE_PERIOD ?? 30), // seconds runs may finish on SIGTERM
};
const CORES = os.availableParallelism?.() ?? os.cpus().length;
const MEMORY = Math.floor(os.totalmem() / 2 ** 20); // MB

const log = (message) => console.error(`${new Date().toISOString()} worker ${cfg.id}: ${message}`);

// ---- talking to the server -----------------------------------------------------------------
class HttpError extends Error {
  constructor(status, error) {
    const field = error.field ? ` (field ${error.field})` : '';
    super(`${status} ${error.code}: ${error.message}${field}`);
    Object.assign(this, { status, code: error.code, field: error.field });
  }
}

async function api(method, path, body, timeout = 30) {
  const response = await fetch(`${cfg.url}/api/v1/workers${path}`, {
    method,
    headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout * 1000),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* a proxy's error page */ }
  if (!response.ok) {
    throw new HttpError(response.status, data?.error ?? { code: 'http', message: text.slice(0, 200) });
  }
  return data;
}

// A server that is down, or answers 5xx or 429, is tried again; any other 4xx will not change.
const retryable = (err) => !(err instanceof HttpError) || err.status >= 500 || err.status === 429;
const unregistered = (err) => err instanceof HttpError && err.status === 404
  && err.field === 'worker_id'; // the server forgot this worker: register again

async function backOff(err, what, failures) {
  const bound = retryable(err) ? Math.min(30, 0.5 * 2 ** failures) : 30;
  const seconds = bound * (0.5 + Math.random() / 2);
  log(`${what} failed (${err.cause?.code ?? err.message}); trying again in ${seconds.toFixed(1)}s`);
  await delay(seconds * 1000, null, { signal: stopped.signal }).catch(() => {});
}

// ---- the worker ----------------------------------------------------------------------------
const running = new Map(); // run id -> { task, controller, stdout, stderr }
const outcomes = []; // ended attempts not reported yet
const stopped = new AbortController(); // aborted on SIGTERM/SIGINT
let session = null; // what registration returned: lease, heartbeat_interval, max_batch...
let polling = false; // a claim is waiting on the server
let wake = () => {}; // wakes the claim loop when a slot frees
let stopAt = 0; // when SIGTERM/SIGINT came
let draining = null; // the request that says so to the server
const budget = () => (session.max_body ?? 1 << 20) / 2; // bytes a request may carry, with room
const bytes = (value) => Buffer.byteLength(JSON.stringify(value));

class Output {
  // Keeps the head and the tail of what a run printed, marking the cut (as the server does).
  constructor() { Object.assign(this, { head: '', rest: '', cut: false, changed: false }); }
  write(text) {
    this.changed = true;
    if (!this.cut && this.head.length + text.length <= LOG_LIMIT) { this.head += text; return; }
    const half = LOG_LIMIT / 2;
    if (!this.cut) [this.head, this.rest] = [this.head.slice(0, half), this.head.slice(half)];
    this.cut = true;
    this.rest = (this.rest + text).slice(-half);
  }
  text() { return this.cut ? `${this.head}\n[... output truncated ...]\n${this.rest}` : this.head; }
}

async function register() {
  const body = {
    id: cfg.id, hostname: os.hostname().slice(0, 255), pid: process.pid, pools: cfg.pools,
    task_types: Object.keys(handlers), labels: cfg.labels, concurrency: cfg.concurrency,
    cores: CORES, memory: MEMORY, version: VERSION,
  };
  for (let failures = 1; !stopped.signal.aborted; failures++) {
    try {
      session = await api('POST', '', body);
      log(`registered at ${cfg.url}: pools ${cfg.pools}; types ${body.task_types}; labels ${cfg.labels}`);
      return true;
    } catch (err) {
      await backOff(err, 'registering', failures);
    }
  }
  return false;
}

// Ended attempts to send, within one request's size (the rest go with the next one); one too
// large alone has its output cut, or the server would refuse it (413) again and again.
function takeOutcomes() {
  let size = 0;
  let count = 0;
  while (count < outcomes.length && count < session.max_batch) {
    if (bytes(outcomes[count]) > budget()) {
      const keep = Math.floor(budget() / 16); // characters per stream, even escaped
      for (const key of ['stdout', 'stderr']) {
        const text = outcomes[count][key] ?? '';
        if (text.length > keep) outcomes[count][key] = `[... output truncated ...]\n${text.slice(-keep)}`;
      }
    }
    size += bytes(outcomes[count]);
    if (count > 0 && size > budget()) break;
    count += 1;
  }
  return outcomes.splice(0, count);
}

function settle(sent, accepted, err) {
  if (err && retryable(err)) { outcomes.unshift(...sent); return; } // sent again with the next call
  if (err) log(`${sent.length} outcomes refused, dropped (their runs are re-run): ${err.message}`);
  sent.forEach((o, i) => {
    if (accepted && !accepted[i]) log(`run ${o.run_id} attempt ${o.attempt}: outcome refused (fenced off)`);
  });
}

// Outcomes ride on the next claim; while a claim is waiting on the server, they go at once.
let flushing = false;
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    while (outcomes.length) {
      const sent = takeOutcomes();
      try {
        settle(sent, (await api('POST', `/${cfg.id}/outcomes`, { outcomes: sent })).accepted);
      } catch (err) {
        settle(sent, null, err);
        if (retryable(err)) break;
      }
    }
  } finally {
    flushing = false;
  }
}

async function claimLoop() {
  for (let failures = 0; !stopped.signal.aborted;) {
    const free = cfg.concurrency - running.size;
    if (free <= 0 && !outcomes.length) {
      await new Promise((resolve) => { wake = resolve; }); // until a run ends
      continue;
    }
    const sent = takeOutcomes();
    const held = [...running.values()].map((r) => r.task.policy);
    const body = {
      limit: Math.max(free, 0), wait: free > 0 ? POLL_WAIT : 0, outcomes: sent,
      cores: Math.max(0, CORES - held.reduce((n, p) => n + (p.cores || 0), 0)),
      memory: Math.max(0, MEMORY - held.reduce((n, p) => n + (p.memory || 0), 0)),
    };
    polling = true;
    try {
      const answer = await api('POST', `/${cfg.id}/claim`, body, POLL_WAIT + 30);
      failures = 0;
      settle(sent, answer.accepted);
      answer.runs.forEach(start);
    } catch (err) {
      settle(sent, null, err);
      if (unregistered(err)) await register();
      else await backOff(err, 'claiming', ++failures);
    } finally {
      polling = false;
    }
  }
}

function start(task) {
  if (stopped.signal.aborted) { // claimed as we were stopping: give it back at once
    outcomes.push({ run_id: task.id, attempt: task.attempt, status: 'handed_back' });
    return;
  }
  const run = { task, controller: new AbortController(), stdout: new Output(), stderr: new Output() };
  running.set(task.id, run);
  log(`run ${task.id} attempt ${task.attempt} (${task.job}, ${task.type}) started`);
  execute(run).then((outcome) => {
    running.delete(task.id);
    log(`run ${task.id} attempt ${task.attempt}: ${outcome ? outcome.status : 'lost, stopped'}`);
    if (outcome) outcomes.push(outcome);
    if (polling || stopped.signal.aborted) flush();
    wake();
  });
}

async function execute({ task, controller, stdout, stderr }) {
  const { signal } = controller;
  const stop = new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  stop.catch(() => {}); // raced below; never unhandled
  let timer;
  try {
    const handler = handlers[task.type];
    if (!handler) throw failure('UnknownTaskType', `this worker has no task type ${task.type}`);
    const early = Date.parse(task.not_before) - Date.now();
    if (early > 0) await Promise.race([delay(early), stop]);
    if (task.timeout != null) timer = setTimeout(() => controller.abort('timeout'), task.timeout * 1000);
    // A handler that does not stop when told is left behind: its slot is free again.
    const ctx = { run: task, signal, stdout, stderr };
    const result = await Promise.race([handler(task.params, ctx), stop]);
    return { run_id: task.id, attempt: task.attempt, status: 'succeeded', result: result ?? null,
      stdout: stdout.text(), stderr: stderr.text() };
  } catch (err) {
    const why = signal.aborted ? signal.reason : null;
    if (why === 'lost') return null; // the server moved on: nothing to report
    const base = { run_id: task.id, attempt: task.attempt, stdout: stdout.text(), stderr: stderr.text() };
    if (why === 'shutdown') return { ...base, status: 'handed_back' };
    if (why === 'timeout') {
      const message = `exceeded its timeout of ${task.timeout}s`;
      return { ...base, status: 'timed_out', error: { type: 'TimeoutError', message } };
    }
    // A failure() says what went wrong; any other error is a bug worth its stack.
    const error = { type: String(err?.type ?? err?.name ?? 'Error').slice(0, 200),
      message: String(err?.message ?? err).slice(0, 60000),
      traceback: err?.type ? null : err?.stack?.slice(0, 200000) ?? null };
    const exit = Number.isInteger(err?.exitCode) ? { exit_code: err.exitCode } : {};
    return { ...base, status: 'failed', error, ...exit };
  } finally {
    clearTimeout(timer);
  }
}

// Every heartbeat_interval: the runs held (their leases extended) and their output so far.
async function heartbeats(done) {
  while (!done.aborted) {
    await delay(session.heartbeat_interval * 1000, null, { signal: done }).catch(() => {});
    if (done.aborted) return;
    let size = 0;
    const beats = [...running.values()].slice(0, session.max_batch).map((r) => {
      const beat = { run_id: r.task.id, attempt: r.task.attempt };
      const changed = r.stdout.changed || r.stderr.changed;
      if (changed && (size += bytes([r.stdout.text(), r.stderr.text()])) <= budget()) {
        // Both streams, always: the server saves "" for one left out.
        Object.assign(beat, { stdout: r.stdout.text(), stderr: r.stderr.text() });
        r.stdout.changed = r.stderr.changed = false;
      }
      return beat;
    });
    try {
      const { lost } = await api('POST', `/${cfg.id}/heartbeat`, { runs: beats }, session.lease);
      for (const id of lost) running.get(id)?.controller.abort('lost');
    } catch (err) {
      for (const beat of beats) {
        const r = running.get(beat.run_id);
        if (r && beat.stdout !== undefined) r.stdout.changed = true; // send it again next time
      }
      if (unregistered(err)) await register();
      else log(`heartbeat failed (${err.cause?.code ?? err.message})`);
    }
  }
}

// SIGTERM/SIGINT: no more claims; running runs get `grace` seconds, then are handed back.
async function shutdown() {
  await draining;
  while (running.size && Date.now() < stopAt + cfg.grace * 1000) await delay(100);
  for (const run of running.values()) run.controller.abort('shutdown');
  while (running.size) await delay(10);
  for (let tries = 0; outcomes.length && tries < 5; tries++) { // the server may be briefly away
    await flush();
    if (outcomes.length) await delay(1000);
  }
  await api('PATCH', `/${cfg.id}`, { state: 'down' }).catch((err) => log(`down: ${err.message}`));
}

async function main() {
  if (!cfg.token) log('no token: set TSS_TOKEN (a token of the worker role)');
  for (const name of ['SIGTERM', 'SIGINT']) {
    process.on(name, () => {
      if (stopped.signal.aborted) { cfg.grace = 0; return; } // a second signal: hand back now
      log(`${name}: stopping; ${running.size} runs may finish within ${cfg.grace}s`);
      stopAt = Date.now();
      stopped.abort();
      if (session) draining = api('PATCH', `/${cfg.id}`, { state: 'draining' }).catch(() => {});
      wake();
    });
  }
  if (!(await register())) return;
  cfg.concurrency = Math.min(Math.max(1, cfg.concurrency || 1), session.max_batch);
  const beating = new AbortController();
  const beats = heartbeats(beating.signal);
  await claimLoop(); // returns once stopped (after a claim under way has answered)
  await shutdown();
  beating.abort();
  await beats;
  log('stopped');
}

main().catch((err) => { log(`fatal: ${err.stack}`); process.exitCode = 1; });
