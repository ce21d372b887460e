// Rich values over Node's advanced serialization, both ways: a Buffer, a Map, a Set, a Date and
// a BigInt (above 2^64). The C++ side of tests/interop_tests.cpp builds the same two values.
//   as a worker (under a cocluster primary): answers each message with
//     {failed: '<checks that failed on it>', echo: <the message>, made: fromNode()}
//   as a primary: node interop_rich.js <cocluster binary> <worker args...> forks that binary
//     (process.execPath, node-cluster-internals.md §6.1) in advanced mode, sends fromNode(),
//     expects {echo: fromNode(), made: fromCocluster()} back, disconnects it; prints one JSON
//     line and exits 0 when everything matched.
'use strict';
const cluster = require('node:cluster');
const assert = require('node:assert');

const fromNode = () => ({
  buf: Buffer.from([0, 1, 2, 255]),
  map: new Map([['a', 1], [2, 'b']]),
  set: new Set(['x', 3]),
  date: new Date(1700000000123),
  big: 2n ** 70n + 1n,
});
const fromCocluster = () => ({
  buf: Buffer.from([9, 8, 7]),
  map: new Map([['k', 'v']]),
  set: new Set([42]),
  date: new Date(1600000000000),
  big: 2n ** 65n + 3n,
});

// The names of the checks that fail on a value that should be fromCocluster(); '' if none.
function failedChecks(m) {
  const failed = [];
  const check = (name, ok) => {
    try {
      if (!ok()) failed.push(name);
    } catch {
      failed.push(name);
    }
  };
  check('buffer', () => Buffer.isBuffer(m.buf) && m.buf.equals(Buffer.from([9, 8, 7])));
  check('map', () => m.map instanceof Map && m.map.size === 1 && m.map.get('k') === 'v');
  check('set', () => m.set instanceof Set && m.set.size === 1 && m.set.has(42));
  check('date', () => m.date instanceof Date && m.date.getTime() === 1600000000000);
  check('bigint', () => typeof m.big === 'bigint' && m.big === 2n ** 65n + 3n);
  return failed.join(',');
}

if (cluster.isWorker) {
  process.on('message', (m) => process.send({ failed: failedChecks(m), echo: m, made: fromNode() }));
} else {
  const [binary, exec, ...args] = process.argv.slice(2);
  process.execPath = binary;
  cluster.setupPrimary({ exec, args, execArgv: [], serialization: 'advanced' });
  const worker = cluster.fork();
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ error: 'timed out' }));
    process.exit(2);
  }, 20000);
  let report = { error: 'no message' };
  worker.on('online', () => worker.send(fromNode()));
  worker.on('message', (m) => {
    try {
      assert.deepStrictEqual(m.echo, fromNode());
      assert.deepStrictEqual(m.made, fromCocluster());
      report = { failed: failedChecks(m.made) };
    } catch (e) {
      report = { error: e.message };
    }
    worker.disconnect();
  });
  worker.on('exit', (code, signal) => {
    clearTimeout(timer);
    const ok = report.failed === '' && code === 0 && signal === null &&
               worker.exitedAfterDisconnect === true;
    console.log(JSON.stringify({ ok, report, code, signal }));
    process.exit(ok ? 0 : 1);
  });
}
