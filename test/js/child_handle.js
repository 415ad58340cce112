'use strict';
// Sends messages with handles, each followed by a plain one: a listening server with
// 'x', then 'after server'; a connected socket with 'y', then 'after socket'. A Node
// sender holds back whatever follows a handle until the receiver ACKs or NACKs it, so
// the plain messages reach the parent only if it answers. A NACKed socket is sent again,
// 3 times, before node gives up with a SentHandleNotReceivedWarning on stderr. Leaves
// on disconnect.
const net = require('net');
const open = [];
const server = net.createServer((conn) => open.push(conn));
server.listen(0, '127.0.0.1', () => {
  const sock = net.connect(server.address().port, '127.0.0.1', () => {
    process.send('x', server);
    process.send('after server');
    process.send('y', sock);
    process.send('after socket');
  });
  open.push(sock);
});
process.on('disconnect', () => {
  for (const s of open) s.destroy();
  server.close();
});
