// A real Node primary that runs one cocluster worker binding a UDP socket through it (the
// "udp-serve" worker scenario of the interop suite).
// Usage: node udp_primary.js <binary>
// Prints one JSON line: the `listening` address the primary saw, the answer to one datagram,
// and how the worker ended; exits 0 when the address is a UDP one with a port, the answer
// names the worker, and the worker left through its disconnect with code 0.
'use strict';
const cluster = require('node:cluster');
const dgram = require('node:dgram');

const [binary] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec: '--worker-scenario', args: ['udp-serve'], execArgv: [] });

const report = {};
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out', ...report }));
  process.exit(2);
}, 20000);

const worker = cluster.fork();
cluster.on('listening', (listener, address) => {
  report.address = address;
  const client = dgram.createSocket('udp4');
  client.on('message', (answer) => {
    report.answer = `${answer}`;
    client.close();
    worker.disconnect();
  });
  client.send('ping', address.port, '127.0.0.1');
});
cluster.on('exit', (ended, code, signal) => {
  clearTimeout(timer);
  Object.assign(report, { code, signal, exitedAfterDisconnect: ended.exitedAfterDisconnect });
  const ok = report.address !== undefined && report.address.addressType === 'udp4' &&
             report.address.port > 0 && report.answer === `${worker.id} ping` && code === 0 &&
             ended.exitedAfterDisconnect === true;
  console.log(JSON.stringify({ ok, ...report }));
  process.exit(ok ? 0 : 1);
});
