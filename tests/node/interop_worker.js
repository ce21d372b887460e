// An unmodified Node cluster worker for a cocluster primary. What it does is chosen by the
// environment variable BEHAVIOUR:
//   echo        echo every message as {echo: message}; say hello first
//   disconnect  cluster.worker.disconnect() once online
//   kill        cluster.worker.kill() once online
//   exit3       process.exit(3)
//   serve-handle  answer each socket sent with a message: "node served <message.text>", then
//               close it
//   serve-dgram   for each dgram.Socket sent with a message {text, host, to}: send
//               "node got <text> as <socket.type> on <socket's port>" from that socket to
//               host:to, then answer each datagram it receives with "node heard <datagram>"
//               (the socket is Node's own dgram.Socket, made from the NODE_HANDLE's dgramType);
//               close them all at the disconnect
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
  case 'serve-dgram':
    process.on('message', (message, socket) => {
      if (!socket) return;
      process.once('disconnect', () => socket.close()); // (an open socket keeps Node running)
      socket.on('message', (datagram, from) =>
        socket.send('node heard ' + datagram, from.port, from.address));
      socket.send(`node got ${message.text} as ${socket.type} on ${socket.address().port}`,
        message.to, message.host);
    });
    break;
  case 'exit3':
    process.exit(3);
    break;
  default:
    console.error('unknown BEHAVIOUR', process.env.BEHAVIOUR);
    process.exit(11);
}
