'use strict';
// The Node side of the http workload: Node's own cluster hello world, the program
// examples/http_cluster.cpp ports (the same response bytes: Date, Connection, Keep-Alive,
// Content-Length: 12, "Hello World\n").
//
//   node http.js --port P [--workers 2] [--policy rr|none]
//
// Prints "primary PID: N workers share port P (policy X)" once every worker listens (as
// http_cluster does); on SIGTERM prints one JSON line {"per_worker":[...],"total":N}.
const cluster = require('node:cluster');
const http = require('node:http');
const { parseArguments, emit, stopSignal } = require('./common');

const args = parseArguments();
const port = Number(args.options.port || 8000);

if (cluster.isWorker) {
  process.on('SIGINT', () => {});
  let requests = 0;
  http
    .createServer((req, res) => {
      requests++;
      res.end('Hello World\n');
    })
    .listen(port, '127.0.0.1');
  process.on('message', (m) => {
    if (m === 'report') process.send({ requests });
  });
  return;
}

async function main() {
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
  console.log(`primary ${process.pid}: ${n} workers share port ${port} (policy ${policy})`);
  await stopSignal();
  const counts = await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(0), 5000);
          w.once('message', (m) => {
            clearTimeout(timer);
            resolve(m.requests);
          });
          w.send('report');
        }),
    ),
  );
  emit({ impl: 'node', per_worker: counts, total: counts.reduce((a, b) => a + b, 0) });
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  for (const w of workers) w.kill();
  await Promise.all(exited);
}

main().catch((e) => {
  console.error(e);
  process.exit(3);
});
