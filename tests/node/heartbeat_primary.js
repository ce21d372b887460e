// A real Node primary that runs a cocluster worker for a second and records every message it
// gets, internal ones included: a cocluster worker must send no heartbeat to a primary that
// never asked for one, and its readiness call must arrive as PM2's `wait_ready` expects it.
// Usage: node heartbeat_primary.js <binary> <worker args...>
// Prints one JSON line: {"acts": [...], "messages": [...], "exit": {...}}.
'use strict';
const cluster = require('node:cluster');

const [binary, exec, ...args] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec, args, execArgv: [] });

const seen = { acts: [], messages: [], exit: null };
const worker = cluster.fork();
worker.process.on('internalMessage', (message) => {
  if (message && message.cmd === 'NODE_CLUSTER' && message.act)
    seen.acts.push(message.act);
});
worker.on('message', (message) => seen.messages.push(message));
worker.on('online', () => setTimeout(() => worker.disconnect(), 1500));
worker.on('exit', (code, signal) => {
  seen.exit = { code, signal };
  console.log(JSON.stringify(seen));
  process.exit(0);
});
setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out', seen }));
  process.exit(2);
}, 20000);
