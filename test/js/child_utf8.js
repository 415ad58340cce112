'use strict';
// Multi-byte UTF-8 both ways. For k = 0..3 it sends text(k) (a string message), then
// {k, bytes}: the byte length of JSON.stringify(text(k)). Each string the parent sends
// back is compared with text(n), n counting from 0, and answered {k: n, equal, bytes}.
// text(k) is k ASCII 'a's, then UNIT repeated REPEAT times: about 200 KiB, mostly 4-byte
// characters, so read boundaries fall inside characters. The C++ test builds the same.
const UNIT = '\u{1D11E}\u{1F600}\u{2070E}\u{1D11E}\u{1F600}\u{2070E}\u00e9\u20ac\u4e2d';
const REPEAT = 6400;
const text = (k) => 'a'.repeat(k) + UNIT.repeat(REPEAT);

for (let k = 0; k < 4; ++k) {
  process.send(text(k));
  process.send({k, bytes: Buffer.byteLength(JSON.stringify(text(k)))});
}

let n = 0;
process.on('message', (m) => {
  process.send({k: n, equal: m === text(n), bytes: Buffer.byteLength(JSON.stringify(m))});
  ++n;
});
