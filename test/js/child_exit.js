'use strict';
// Exits at once with the code given as argv[2] (default 0), sending nothing.
process.exitCode = Number(process.argv[2] || 0);
