'use strict';
// Sends three messages and exits with code 7 right away: the parent must see all three
// before the exit. (Small messages to an empty socket are written at once, inside
// process.send(), so process.exit() cannot lose them.)
process.send({last: 1});
process.send({last: 2});
process.send({last: 3});
process.exit(7);
