'use strict';
// The Node side of the spawn and memory workloads (same semantics as cocluster/spawn.cpp).
//
//   node spawn.js spawn [--counts 1,2,8,32] [--reps 5,5,3,1]
//       fork N workers → all 'online' (online_ms); cluster.disconnect() → all 'exit' (exit_ms).
//   node spawn.js idle [--workers 8]
//       N idle workers; prints {"ready":true,"primary":PID,"workers":[PIDs]}; on SIGTERM
//       disconnects and prints {"done":true}.
const cluster = require('node:cluster');
const { parseArguments, list, median, nowMs, emit, stopSignal } = require('./common');

if (cluster.isWorker) {
  // Idle: the IPC channel keeps the worker alive until the primary disconnects it.
  process.on('SIGINT', () => {}); // Ctrl-C reaches the group: the primary decides
  return;
}

const args = parseArguments();

function forkAll(n) {
  const workers = [];
  const online = [];
  for (let i = 0; i < n; i++) {
    const worker = cluster.fork();
    workers.push(worker);
    online.push(new Promise((resolve) => worker.once('online', resolve)));
  }
  return { workers, online: Promise.all(online) };
}

function disconnectAll(workers) {
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  // cluster.disconnect's callback comes when the channels are closed; the workers may still
  // be running then: wait for every 'exit', as the cocluster side does.
  cluster.disconnect();
  return Promise.all(exited);
}

async function spawn() {
  const counts = list(args.options.counts || '1,2,8,32');
  const reps = list(args.options.reps || '5,5,3,1');
  const results = [];
  for (let c = 0; c < counts.length; c++) {
    const n = counts[c];
    const r = reps[c] || 1;
    const online = [];
    const exited = [];
    for (let rep = 0; rep < r; rep++) {
      const t0 = nowMs();
      const { workers, online: allOnline } = forkAll(n);
      await allOnline;
      const t1 = nowMs();
      await disconnectAll(workers);
      const t2 = nowMs();
      online.push(t1 - t0);
      exited.push(t2 - t1);
    }
    results.push({
      workers: n,
      online_ms: median(online),
      exit_ms: median(exited),
      online_all: online,
      exit_all: exited,
    });
  }
  emit({ impl: 'node', results });
}

async function idle() {
  const n = Number(args.options.workers || 8);
  const { workers, online } = forkAll(n);
  await online;
  emit({ ready: true, impl: 'node', primary: process.pid, workers: workers.map((w) => w.process.pid) });
  await stopSignal();
  await disconnectAll(workers);
  emit({ done: true });
}

const modes = { spawn, idle };
if (!modes[args.mode]) {
  console.error('usage: node spawn.js spawn|idle [options]');
  process.exit(2);
}
modes[args.mode]().catch((e) => {
  console.error(e);
  process.exit(3);
});
