'use strict';
// Reports what its fds 0, 1 and 2 are ({fds: [{dev, ino, pipe}, ...]}, numbers as
// strings), then leaves when the parent disconnects.
const fs = require('fs');
const fds = [0, 1, 2].map((fd) => {
  const st = fs.fstatSync(fd, {bigint: true});
  return {dev: String(st.dev), ino: String(st.ino), fifo: st.isFIFO()};
});
process.send({fds});
process.on('message', () => {});
