'use strict';
// One whole message, then the start of another, then exit(5) before its newline.
const fs = require('fs');
fs.writeSync(3, '"whole"\n');
fs.writeSync(3, '{"partial":');
process.exit(5);
