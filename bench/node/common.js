'use strict';
// Helpers shared by the Node side of the benchmarks. Each program is both the primary and its
// workers (cluster.fork() runs this same file), and prints one JSON line with its results.

/** `node prog.js MODE --key value ...` → { mode, options }. */
function parseArguments(argv = process.argv.slice(2)) {
  const result = { mode: '', options: {} };
  let i = 0;
  if (argv.length > 0 && !argv[0].startsWith('--')) result.mode = argv[i++];
  for (; i + 1 < argv.length; i += 2) result.options[argv[i].slice(2)] = argv[i + 1];
  return result;
}

function list(text) {
  return String(text).split(',').filter(Boolean).map(Number);
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return 0;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

function emit(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

/**
 * With BENCH_READY_FILE set, appends {"listening":PID,"t_ms":...} to that file (one line, one
 * append): the moment this worker's listen completed, in CLOCK_MONOTONIC milliseconds (as
 * process.hrtime, the cocluster programs and the runner's time.monotonic()). The respawn
 * workload times every contender this way.
 */
function reportListening(impl) {
  const path = process.env.BENCH_READY_FILE;
  if (!path) return;
  const line = JSON.stringify({ listening: process.pid, t_ms: nowMs(), impl }) + '\n';
  require('node:fs').appendFileSync(path, line);
}

/** Resolves on the first SIGTERM or SIGINT. */
function stopSignal() {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

module.exports = { parseArguments, list, median, nowMs, emit, stopSignal, reportListening };
