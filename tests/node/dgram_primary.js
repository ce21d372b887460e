// A real Node primary that passes UDP sockets (dgram.Socket, one per family in FAMILIES: "udp4",
// "udp6", comma-separated) to a cocluster worker (tests/handles_tests.cpp, scenario
// serve-handles) with {text: <family>, host, to: <port of a listener>}. The worker sends
// "worker <id> got <family>" from the socket it received to host:to.
// Usage: FAMILIES=udp4,udp6 node dgram_primary.js <serialization> <binary> <worker args...>
// Prints one JSON line with what it observed; exits 0 when everything matched.
'use strict';
const cluster = require('node:cluster');
const dgram = require('node:dgram');

const [serialization, binary, exec, ...args] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec, args, execArgv: [], serialization });

const families = (process.env.FAMILIES || 'udp4').split(',');
const hosts = { udp4: '127.0.0.1', udp6: '::1' };
const seen = { answers: [], from_sent_socket: [] };
const fail = (error) => {
  console.log(JSON.stringify({ error: String(error), seen }));
  process.exit(1);
};
const timer = setTimeout(() => fail('timed out'), 20000);

const bound = (type) =>
  new Promise((resolve, reject) => {
    const socket = dgram.createSocket(type);
    socket.once('error', reject);
    socket.bind(0, hosts[type], () => resolve(socket));
  });

// Sends a socket of `type` to the worker; resolves once the worker's datagram came.
async function pass(worker, type) {
  const listener = await bound(type);
  const sent = await bound(type);
  const sentPort = sent.address().port;
  const answered = new Promise((resolve) =>
    listener.once('message', (datagram, from) => resolve({ text: String(datagram), from })));
  worker.send({ text: type, host: hosts[type], to: listener.address().port }, sent);
  const { text, from } = await answered;
  seen.answers.push(text);
  seen.from_sent_socket.push(from.port === sentPort);
  listener.close();
  sent.close();
}

const worker = cluster.fork();
worker.on('online', async () => {
  try {
    for (const type of families) await pass(worker, type);
    worker.disconnect();
  } catch (error) {
    fail(error);
  }
});
worker.on('exit', (code, signal) => {
  clearTimeout(timer);
  const ok = code === 0 && signal === null && seen.answers.length === families.length &&
    seen.from_sent_socket.every((x) => x);
  console.log(JSON.stringify({ ok, code, signal, ...seen }));
  process.exit(ok ? 0 : 1);
});
