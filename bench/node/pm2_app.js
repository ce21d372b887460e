'use strict';
// The app PM2 runs in cluster mode for the reload, respawn and supervisor workloads
// (bench/node/ecosystem.config.js): Node's hello world, plus what PM2's documentation asks of
// an app for zero-downtime reloads: `process.send('ready')` once listening (`wait_ready`), and
// on SIGINT (PM2's stop signal) `server.close()`, then exit.
const http = require('node:http');
const { reportListening } = require('./common');

const port = Number(process.env.BENCH_PORT || 8000);
const server = http
  .createServer((req, res) => res.end('Hello World\n'))
  .listen(port, '127.0.0.1', () => {
    reportListening('pm2');
    if (process.send) process.send('ready');
  });

process.on('SIGINT', () => {
  server.close(() => process.exit(0));
});
