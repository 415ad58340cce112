'use strict';
// The IPC tests' echo child: every message goes back as it came, in order, except the
// commands {op: ...}:
//   {op: 'info'}        -> {argv, execArgv, channelFd, envFd}
//   {op: 'count'}       -> {count, internal}: messages and internal messages received
//   {op: 'disconnect'}  -> process.disconnect()
//   {op: 'exit', code}  -> process.exit(code)
// On 'disconnect' it writes "disconnect <count>\n" to stdout, then ends by itself (it
// has nothing else to wait for). An unexpected message that node cannot parse crashes
// it, which the tests see as a non-zero exit.
const fs = require('fs');

let count = 0;
let internal = 0;

// A reply can meet a parent that has already disconnected: not a failure here.
const gone = ['EPIPE', 'ECONNRESET', 'ERR_IPC_CHANNEL_CLOSED'];
const reply = (m) => {
  process.send(m, (err) => {
    if (err && !gone.includes(err.code)) throw err;
  });
};

process.on('internalMessage', () => {
  ++internal;
});

process.on('message', (m) => {
  ++count;
  if (m !== null && typeof m === 'object' && typeof m.op === 'string') {
    switch (m.op) {
      case 'info':
        reply({
          argv: process.argv.slice(2),
          execArgv: process.execArgv,
          channelFd: process.channel.fd,
          envFd: process.env.NODE_CHANNEL_FD === undefined ? null : process.env.NODE_CHANNEL_FD,
        });
        return;
      case 'count':
        reply({count, internal});
        return;
      case 'disconnect':
        process.disconnect();
        return;
      case 'exit':
        process.exit(m.code);
        return;
    }
  }
  reply(m);
});

process.on('disconnect', () => {
  fs.writeSync(1, `disconnect ${count}\n`);
});
