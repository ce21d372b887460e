'use strict';
// The Node side of the IPC workloads (same semantics as cocluster/ipc.cpp).
//
//   node ipc.js rtt        --serialization json|advanced [--seconds 1]
//   node ipc.js throughput --serialization json|advanced --payload small|string|binary [--seconds 1]
//
// rtt: the primary sends a small object, the worker sends back what it got, repeat.
// throughput: the primary sends as fast as the channel takes it — send() until it returns false
// (more than 128 KiB queued), then wait for that message's callback (written) — for `seconds`,
// then 'end'; the worker answers {count}. Rate = count / (time until that answer).
const cluster = require('node:cluster');
const v8 = require('node:v8');
const { parseArguments, nowMs, emit } = require('./common');

const args = parseArguments();
const serialization = args.options.serialization || 'json';
const BIG = 65536;

function payloadOf(kind) {
  if (kind === 'small') return { type: 'ping', id: 12345, name: 'worker-1', tags: ['a', 'b', 'c'], ok: true };
  if (kind === 'string') {
    let s = '';
    for (let i = 0; i < BIG; i++) s += String.fromCharCode(97 + (i % 26));
    return s;
  }
  if (kind === 'binary') {
    // In json mode, Node sends JSON.stringify(buffer): {"type":"Buffer","data":[...]}.
    const b = Buffer.alloc(BIG);
    for (let i = 0; i < BIG; i++) b[i] = (i * 31 + 7) & 0xff;
    return b;
  }
  throw new Error('unknown payload ' + kind);
}

function frameBytes(payload) {
  return serialization === 'json'
    ? Buffer.byteLength(JSON.stringify(payload)) + 1
    : v8.serialize(payload).length + 4;
}

if (cluster.isWorker) {
  process.on('SIGINT', () => {});
  if (args.mode === 'rtt') {
    process.on('message', (m) => process.send(m));
  } else {
    let count = 0;
    process.on('message', (m) => {
      if (m === 'end') {
        process.send({ count });
        count = 0;
      } else {
        count++;
      }
    });
  }
  return;
}

function nextMessage(worker) {
  return new Promise((resolve) => worker.once('message', resolve));
}

function rtt(worker, seconds) {
  const message = payloadOf('small');
  return new Promise((resolve) => {
    let warm = 2000;
    let start = 0;
    let count = 0;
    worker.on('message', () => {
      if (warm > 0) {
        if (--warm === 0) start = nowMs();
        worker.send(message);
        return;
      }
      count++;
      if ((count & 63) === 0) {
        const elapsed = nowMs() - start;
        if (elapsed >= seconds * 1000) {
          worker.removeAllListeners('message');
          resolve({
            impl: 'node',
            serialization,
            rtt_us: (elapsed * 1000) / count,
            round_trips: count,
            frame_bytes: frameBytes(message),
          });
          return;
        }
      }
      worker.send(message);
    });
    worker.send(message);
  });
}

async function throughput(worker, kind, seconds) {
  const payload = payloadOf(kind);
  worker.send(payload);
  worker.send('end');
  await nextMessage(worker); // warm-up

  const batch = kind === 'small' ? 64 : 4;
  let sent = 0;
  const start = nowMs();
  while (nowMs() - start < seconds * 1000) {
    let full = false;
    for (let i = 0; i < batch - 1; i++) {
      sent++;
      if (!worker.send(payload)) full = true;
    }
    sent++;
    let ok = true;
    const written = new Promise((resolve) => {
      ok = worker.send(payload, resolve);
    });
    if (full || !ok) await written; // back-pressure: wait until the queue has been written
  }
  const answer = nextMessage(worker);
  worker.send('end');
  const { count } = await answer;
  const elapsed = (nowMs() - start) / 1000;
  return {
    impl: 'node',
    serialization,
    payload: kind,
    seconds: elapsed,
    sent,
    messages: count,
    msgs_per_s: count / elapsed,
    mb_per_s: kind === 'small' ? 0 : (count * BIG) / elapsed / 1e6,
    frame_bytes: frameBytes(payload),
  };
}

async function main() {
  if (args.mode !== 'rtt' && args.mode !== 'throughput') {
    console.error('usage: node ipc.js rtt|throughput --serialization json|advanced [...]');
    process.exit(2);
  }
  cluster.setupPrimary({ serialization });
  const worker = cluster.fork();
  await new Promise((resolve) => worker.once('online', resolve));
  const seconds = Number(args.options.seconds || 1);
  const result =
    args.mode === 'rtt'
      ? await rtt(worker, seconds)
      : await throughput(worker, args.options.payload || 'small', seconds);
  emit(result);
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  cluster.disconnect();
  await exited;
}

main().catch((e) => {
  console.error(e);
  process.exit(3);
});
