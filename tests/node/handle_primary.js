// A real Node primary that passes sockets its own net.Server accepted to a cocluster worker
// (tests/handles_tests.cpp, scenario serve-handles), as @socket.io/sticky does. The sockets
// travel as `net.Socket` with the server's key, so Node then asks the worker how many are open
// (server.getConnections) and waits for them to close (server.close).
// Usage: node handle_primary.js <serialization> <binary> <worker args...>
// Prints one JSON line with what it observed; exits 0 when everything matched.
'use strict';
const cluster = require('node:cluster');
const net = require('node:net');

const [serialization, binary, exec, ...args] = process.argv.slice(2);
process.execPath = binary;
cluster.setupPrimary({ exec, args, execArgv: [], serialization });

const seen = { answers: [], connections_while_open: null, closed: false };
const fail = (error) => {
  console.log(JSON.stringify({ error: String(error), seen }));
  process.exit(1);
};
const timer = setTimeout(() => fail('timed out'), 20000);

const worker = cluster.fork();
let next = 0;
const server = net.createServer({ pauseOnConnect: true }, (socket) => {
  const i = next++;
  worker.send({ i, hold: i === 1 }, socket);
});

// One client: resolves with what it read once `enough` bytes came (or at the end).
function client(port, enough) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.length >= enough) resolve({ socket, text });
    });
    socket.on('end', () => resolve({ socket, text }));
    socket.on('error', reject);
  });
}

const getConnections = () =>
  new Promise((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

worker.on('online', () => {
  server.listen(0, '127.0.0.1', async () => {
    try {
      const { port } = server.address();
      const first = await client(port, 'worker 1 got 0'.length);
      seen.answers.push(first.text);
      const second = await client(port, 'worker 1 got 1'.length); // held open by the worker
      seen.answers.push(second.text);
      seen.connections_while_open = await getConnections();
      second.socket.end(); // the worker closes its end once this one ended
      server.close(() => {
        seen.closed = true;
        worker.disconnect();
      });
    } catch (error) {
      fail(error);
    }
  });
});
worker.on('exit', (code, signal) => {
  clearTimeout(timer);
  const ok = code === 0 && signal === null && seen.closed &&
    seen.connections_while_open === 1 && seen.answers.length === 2;
  console.log(JSON.stringify({ ok, code, signal, ...seen }));
  process.exit(ok ? 0 : 1);
});
