'use strict';
// Writes bytes to the channel behind node's back (fd 3, the channel of fork()): lines
// that are not JSON, an empty line, invalid UTF-8, an internal message; then a normal
// message. Each raw write is one line or, for the last, two lines in one write.
const fs = require('fs');
fs.writeSync(3, 'not json\n');
fs.writeSync(3, '\n');
fs.writeSync(3, Buffer.from([0x22, 0xff, 0xfe, 0x22, 0x0a]));  // "\xff\xfe"
fs.writeSync(3, Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22, 0x0a]));  // a UTF-8 surrogate
fs.writeSync(3, '{"cmd":"NODE_SOMETHING","x":1}\n');
fs.writeSync(3, '[1,2\n{"in":"one write"}\n');
process.send('after');
process.on('message', () => {});
