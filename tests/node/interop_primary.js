// A real Node primary that runs a cocluster worker: process.execPath points at the cocluster
// binary, so cluster.fork() runs `<binary> <exec> <args...>` (node-cluster-internals.md §6.1).
// Usage: node interop_primary.js <serialization> <binary> <worker args...>
// Prints one JSON line with what it observed; exits 0 when everything matched.
'use strict';
const cluster = require('node:cluster');
const assert = require('node:assert');

const [serialization, binary, exec, ...args] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec, args, execArgv: [], serialization });

const seen = { online: false, messages: [], disconnect: null, exit: null };
const worker = cluster.fork({ COCLUSTER_UNDER_NODE: '1' });
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out', seen }));
  process.exit(2);
}, 20000);

worker.on('online', () => {
  seen.online = true;
  worker.send({ hello: 'from node', list: [1, 2, 3] });
});
worker.on('message', (message) => {
  seen.messages.push(message);
  if (seen.messages.length === 2)
    worker.disconnect();
});
worker.on('disconnect', () => {
  seen.disconnect = { exitedAfterDisconnect: worker.exitedAfterDisconnect };
});
worker.on('exit', (code, signal) => {
  seen.exit = { code, signal, exitedAfterDisconnect: worker.exitedAfterDisconnect };
  clearTimeout(timer);
  try {
    assert.strictEqual(seen.online, true);
    assert.deepStrictEqual(seen.messages[0].from, 'cocluster');
    assert.deepStrictEqual(seen.messages[1], { echo: { hello: 'from node', list: [1, 2, 3] } });
    assert.deepStrictEqual(seen.exit, { code: 0, signal: null, exitedAfterDisconnect: true });
    console.log(JSON.stringify({ ok: true, seen }));
    process.exit(0);
  } catch (e) {
    console.log(JSON.stringify({ error: e.message, seen }));
    process.exit(1);
  }
});
