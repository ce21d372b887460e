// An unmodified Node HTTP server in a cluster worker (Node's docs example), for a cocluster
// primary: it listens on PORT (0 by default) and names itself in every answer.
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');

http.createServer((req, res) => {
  res.end(`hello from node worker ${cluster.worker.id}\n`);
}).listen(+process.env.PORT || 0, '127.0.0.1');
