'use strict';
// The Node side of the worker -> worker workload (same exchange as cocluster/route.cpp), on
// Node's cluster, which has no worker-to-worker messages: the relay through the primary is
// written by hand, as Node users write it.
//
//   node route.js relay --serialization json|advanced [--messages 100000] [--window 2000]
//
// Worker 2 sends `messages` copies of the small object to worker 1 as {to: 1, msg}; the primary
// forwards each as {from, msg}; worker 1 counts them and, after every `window`, acknowledges to
// worker 2 the same way. The sender keeps at most two windows unacknowledged. Rate = messages /
// (time from the first message after a warm-up window to the last acknowledgement).
const cluster = require('node:cluster');
const { parseArguments, nowMs, emit } = require('./common');

const args = parseArguments();
const serialization = args.options.serialization || 'json';
const window = Number(args.options.window || 2000);
const messages = Math.ceil(Number(args.options.messages || 100000) / window) * window;
const RECEIVER = 1;
const SENDER = 2;
const payload = { type: 'ping', id: 12345, name: 'worker-1', tags: ['a', 'b', 'c'], ok: true };

if (cluster.isWorker) {
  process.on('SIGINT', () => {});
  if (cluster.worker.id === RECEIVER) {
    let received = 0;
    process.on('message', (m) => {
      if (++received % window === 0) process.send({ to: m.from, msg: { ack: received } });
    });
  } else {
    let acked = 0;
    let sent = 0;
    let total = 0;
    let start = 0;
    let onDone = null;
    const pump = () => {
      while (sent < total && sent - acked < 2 * window) {
        sent++;
        process.send({ to: RECEIVER, msg: payload });
      }
    };
    process.on('message', (m) => {
      acked = m.msg.ack;
      if (acked >= total) onDone();
      else pump();
    });
    const sendUntil = (n) =>
      new Promise((resolve) => {
        total = n;
        onDone = resolve;
        pump();
      });
    (async () => {
      await sendUntil(window); // warm-up
      start = nowMs();
      await sendUntil(window + messages);
      const seconds = (nowMs() - start) / 1000;
      process.send({ result: { impl: 'node', serialization, messages, seconds, msgs_per_s: messages / seconds } });
    })();
  }
  return;
}

async function main() {
  if (args.mode !== 'relay') {
    console.error('usage: node route.js relay --serialization json|advanced [...]');
    process.exit(2);
  }
  cluster.setupPrimary({ serialization });
  const result = new Promise((resolve) => {
    for (let i = 0; i < 2; i++) {
      const worker = cluster.fork();
      // The relay: a message with `to` goes to that worker, with the sender's id.
      worker.on('message', (m) => {
        if (m.result) resolve(m.result);
        else cluster.workers[m.to].send({ from: worker.id, msg: m.msg });
      });
    }
  });
  emit(await result);
  const exits = Object.values(cluster.workers).map((w) => new Promise((resolve) => w.once('exit', resolve)));
  cluster.disconnect();
  await Promise.all(exits);
}

main().catch((e) => {
  console.error(e);
  process.exit(3);
});
