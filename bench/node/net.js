'use strict';
// The Node side of the conn_rate and fairness workloads (same semantics as cocluster/net.cpp).
//
//   node net.js serve --policy rr|none --port P [--workers 2]
//
// Workers listen on 127.0.0.1:P (the primary accepts and hands connections round-robin with
// SCHED_RR; with SCHED_NONE every worker accepts on the primary's socket). Each connection gets
// a 1-byte reply to its 1-byte request, and the server closes it. Prints {"ready":true,...}
// once every worker listens; on SIGTERM asks each worker for its count and prints
// {"per_worker":[...],"total":N}.
const cluster = require('node:cluster');
const net = require('node:net');
const { parseArguments, emit, stopSignal } = require('./common');

const args = parseArguments();
const port = Number(args.options.port || 0);

if (cluster.isWorker) {
  process.on('SIGINT', () => {});
  let answered = 0;
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      socket.end('r', () => answered++);
    });
    socket.on('error', () => {});
  });
  server.listen(port, '127.0.0.1');
  process.on('message', (m) => {
    if (m === 'report') process.send({ count: answered });
  });
  return;
}

async function serve() {
  const policy = args.options.policy || 'rr';
  cluster.schedulingPolicy = policy === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  const n = Number(args.options.workers || 2);
  const workers = [];
  const listening = [];
  for (let i = 0; i < n; i++) {
    const worker = cluster.fork();
    workers.push(worker);
    listening.push(new Promise((resolve) => worker.once('listening', resolve)));
  }
  await Promise.all(listening);
  emit({ ready: true, impl: 'node', policy, port, primary: process.pid, workers: workers.map((w) => w.process.pid) });
  await stopSignal();

  const counts = await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(0), 5000);
          w.once('message', (m) => {
            clearTimeout(timer);
            resolve(m.count);
          });
          w.send('report');
        }),
    ),
  );
  emit({ impl: 'node', per_worker: counts, total: counts.reduce((a, b) => a + b, 0) });
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  for (const w of workers) w.kill(); // graceful disconnect could wait on idle sockets
  await Promise.all(exited);
}

if (args.mode !== 'serve' || port <= 0) {
  console.error('usage: node net.js serve --policy rr|none --port P [--workers N]');
  process.exit(2);
}
serve().catch((e) => {
  console.error(e);
  process.exit(3);
});
