'use strict';
// PM2's configuration for the reload, respawn and supervisor workloads; the runner sets the
// BENCH_* variables in the environment of `pm2 start` (PM2_HOME inside build-bench).
// Cluster mode (a Node cluster primary in PM2's daemon, round-robin as Node's default),
// `wait_ready` (ready = the app's process.send('ready') after listen), and the timeouts matched
// to the cocluster and plain-Node contenders: 10 s to get ready, 5 s for an old worker to exit
// before SIGKILL. autorestart (PM2's default) with no restart delay: the respawn workload.
const path = require('node:path');

module.exports = {
  apps: [
    {
      name: 'bench',
      script: path.join(__dirname, 'pm2_app.js'),
      exec_mode: 'cluster',
      instances: Number(process.env.BENCH_INSTANCES || 2),
      wait_ready: true,
      listen_timeout: 10000,
      kill_timeout: 5000,
      autorestart: true,
      restart_delay: 0,
      max_restarts: 100,
      min_uptime: 500,
      merge_logs: true,
      out_file: process.env.BENCH_PM2_LOG || '/dev/null',
      error_file: process.env.BENCH_PM2_LOG || '/dev/null',
      env: {
        BENCH_PORT: process.env.BENCH_PORT || '8000',
        BENCH_READY_FILE: process.env.BENCH_READY_FILE || '',
      },
    },
  ],
};
