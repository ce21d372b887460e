// An unmodified Node dgram socket in a cluster worker, for a cocluster primary: it binds
// 127.0.0.1 port 0 through the primary, answers each datagram with "<worker id> <datagram>",
// and is closed by Node's cluster when the primary disconnects it.
'use strict';
const cluster = require('node:cluster');
const dgram = require('node:dgram');

const socket = dgram.createSocket('udp4');
socket.on('message', (text, from) => {
  socket.send(`${cluster.worker.id} ${text}`, from.port, from.address);
});
socket.bind(0, '127.0.0.1');
