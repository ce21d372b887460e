// A real Node primary that runs cocluster workers serving a shared port (the "serve" worker
// scenario of the cocluster tests). Run with NODE_CLUSTER_SCHED_POLICY=rr or none.
// Usage: node interop_net_primary.js <binary>
// Prints one JSON line with the answers; exits 0 when every request was answered.
'use strict';
const cluster = require('node:cluster');
const net = require('node:net');

const [binary] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec: '--worker-scenario', args: ['serve', 'host=127.0.0.1'], execArgv: [] });

const workers = [cluster.fork(), cluster.fork()];
const answers = [];
let listening = 0;
let port = 0;
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out', answers }));
  process.exit(2);
}, 20000);

function ask(n) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${n}\n`));
    let data = '';
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('close', () => resolve(data.trim()));
    socket.on('error', () => resolve(''));
  });
}

cluster.on('listening', async (worker, address) => {
  port = address.port;
  if (++listening < workers.length)
    return;
  for (let n = 0; n < 6; n++)
    answers.push(await ask(n));
  for (const worker of workers)
    worker.disconnect();
});

let exited = 0;
const codes = [];
cluster.on('exit', (worker, code, signal) => {
  codes.push({ id: worker.id, code, signal, exitedAfterDisconnect: worker.exitedAfterDisconnect });
  if (++exited < workers.length)
    return;
  clearTimeout(timer);
  const ok = answers.length === 6 && answers.every((a, n) => /^[12] /.test(a) && a.endsWith(` ${n}`)) &&
             codes.every((c) => c.code === 0 && c.exitedAfterDisconnect === true);
  console.log(JSON.stringify({ ok, policy: cluster.schedulingPolicy, answers, codes }));
  process.exit(ok ? 0 : 1);
});
