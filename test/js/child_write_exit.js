'use strict';
// Writes three messages straight to the channel (fd 3) and exits with code 7 without
// ever reading what the parent sends.
const fs = require('fs');
for (let i = 1; i <= 3; ++i) fs.writeSync(3, `{"last":${i}}\n`);
process.exit(7);
