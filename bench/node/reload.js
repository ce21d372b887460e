'use strict';
// The Node side of the reload, respawn and supervisor workloads: a plain Node cluster that
// supervises by hand, as a user writes it without PM2 (what cocluster/supervise.cpp does with
// cocluster::supervisor).
//
//   node reload.js serve --port P [--workers 2] [--kill-ms 5000]
//
// - Respawn: `cluster.on('exit')` forks a replacement at once for a worker that exited without
//   being asked to (fork-on-exit).
// - Reload on SIGHUP: for each old worker in turn, fork its replacement, wait for its
//   'listening', then `disconnect()` the old one (SIGKILL if it has not exited after --kill-ms).
// - SIGTERM: disconnect every worker, wait for the exits, exit.
// Prints one JSON line per event ({"event":"ready","pid":...,"t_ms":...}; `pool_ready` and
// `reload_finished` carry the pids).
//
// The workers are Node's hello world (`http.createServer((req, res) => res.end('Hello
// World\n'))`), unmodified: they drain the way Node's server.close() does.
const cluster = require('node:cluster');
const http = require('node:http');
const { parseArguments, nowMs, emit, reportListening } = require('./common');

const args = parseArguments();
const port = Number(args.options.port || 8000);

if (cluster.isWorker) {
  process.on('SIGINT', () => {}); // Ctrl-C reaches the group: the primary decides
  http
    .createServer((req, res) => res.end('Hello World\n'))
    .listen(port, '127.0.0.1', () => reportListening('node'));
  return;
}

const n = Number(args.options.workers || 2);
const killMs = Number(args.options['kill-ms'] || 5000);
cluster.schedulingPolicy = cluster.SCHED_RR;
let stopping = false;
let reloading = false;
let reloadQueued = false;
let poolReady = false;
const pool = new Set(); // the serving workers (not those being retired)
const alive = new Set(); // every worker not yet exited (cluster.workers drops one at disconnect)

function event(type, worker, extra = {}) {
  emit({ event: type, worker: worker ? worker.id : 0, pid: worker ? worker.process.pid : 0,
         t_ms: nowMs(), ...extra });
}

function pids() {
  return [...pool].map((w) => w.process.pid);
}

function start() {
  const worker = cluster.fork();
  alive.add(worker);
  event('started', worker);
  const listening = new Promise((resolve) => worker.once('listening', resolve));
  listening.then(() => {
    worker.isListening = true;
    event('ready', worker);
    if (!poolReady && [...pool].every((w) => w.isListening)) {
      poolReady = true;
      event('pool_ready', null, { workers: pids(), primary: process.pid });
    }
  });
  worker.isListening = false;
  pool.add(worker);
  return { worker, listening };
}

function retire(worker) {
  pool.delete(worker);
  const timer = setTimeout(() => worker.process.kill('SIGKILL'), killMs);
  worker.once('exit', () => clearTimeout(timer));
  worker.disconnect();
}

cluster.on('exit', (worker, code, signal) => {
  alive.delete(worker);
  const wasInPool = pool.delete(worker);
  event(wasInPool ? 'crashed' : 'exited', worker, { reason: signal || `exit code ${code}` });
  if (!stopping && wasInPool && !worker.exitedAfterDisconnect) start(); // fork-on-exit
  if (stopping && alive.size === 0) {
    event('stopped', null);
    process.exit(0);
  }
});

async function reload() {
  if (reloading) {
    reloadQueued = true;
    return;
  }
  reloading = true;
  event('reload_started', null);
  for (const old of [...pool]) {
    if (stopping) break;
    const { worker, listening } = start();
    await listening;
    if (!pool.has(old)) continue; // it died meanwhile
    retire(old);
    event('reload_step', worker, { reason: `replaced pid ${old.process.pid}` });
  }
  reloading = false;
  if (!stopping) event('reload_finished', null, { workers: pids(), primary: process.pid });
  if (reloadQueued && !stopping) {
    reloadQueued = false;
    reload();
  }
}

process.on('SIGHUP', () => { reload(); });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (stopping) {
      for (const w of alive) w.process.kill('SIGKILL');
      return;
    }
    stopping = true;
    event('stopping', null);
    for (const w of [...pool]) retire(w);
    if (alive.size === 0) process.exit(0);
  });
}

for (let i = 0; i < n; i++) start();
