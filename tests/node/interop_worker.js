// An unmodified Node cluster worker for a cocluster primary. What it does is chosen by the
// environment variable BEHAVIOUR:
//   echo        echo every message as {echo: message}; say hello first
//   disconnect  cluster.worker.disconnect() once online
//   kill        cluster.worker.kill() once online
//   exit3       process.exit(3)
//   serve-handle  answer each socket sent with a message: "node served <message.text>", then
//               close it
'use strict';
const cluster = require('node:cluster');

if (!cluster.isWorker) {
  console.error('interop_worker.js must run as a cluster worker');
  process.exit(10);
}
switch (process.env.BEHAVIOUR) {
  case 'echo':
    process.send({ hello: 'from node', id: cluster.worker.id, unique_id_gone: !('NODE_UNIQUE_ID' in process.env) });
    process.on('message', (message) => process.send({ echo: message }));
    break;
  case 'disconnect':
    cluster.worker.disconnect();
    break;
  case 'kill':
    cluster.worker.kill();
    break;
  case 'serve-handle':
    process.on('message', (message, socket) => {
      if (socket) socket.end('node served ' + message.text);
    });
    break;
  case 'exit3':
    process.exit(3);
    break;
  default:
    console.error('unknown BEHAVIOUR', process.env.BEHAVIOUR);
    process.exit(11);
}
