'use strict';
// Blocks in a synchronous read of stdin before its event loop ever runs, so it reads
// nothing from the channel until the parent writes a line to its stdin. Then it counts
// the messages as the echo child does: {op: 'count'} is answered {count}, where count
// includes that message; each other message must be a string of 'x's (else exit 3).
const fs = require('fs');
const buf = Buffer.alloc(16);
for (;;) {
  try {
    if (fs.readSync(0, buf) > 0) break;
  } catch (e) {
    if (e.code !== 'EAGAIN') throw e;
  }
}
let count = 0;
process.on('message', (m) => {
  ++count;
  if (m !== null && typeof m === 'object' && m.op === 'count') {
    process.send({count});
    return;
  }
  if (typeof m !== 'string' || !/^x*$/.test(m)) process.exit(3);
});
