// ipc_worker.js: the Node worker that ipc_supervisor.cpp fork()s.
//
// Each message is {id, job}; the answer is {id, result}, or {id, error} for a job it
// does not know. The 'crash' job makes the worker exit at once, without answering,
// with the exit code of an uncaught exception (1): the supervisor has something to
// recover from. Nothing but the channel keeps this process alive, so when the
// supervisor disconnects it, it exits 0 by itself.
'use strict';

const ops = {
  add: (job) => job.args.reduce((sum, x) => sum + x, 0),
  upper: (job) => job.text.toUpperCase(),
  crash: () => process.exit(1),
};

process.on('message', ({ id, job }) => {
  const op = ops[job.op];
  if (op === undefined) {
    process.send({ id, error: `unknown op '${job.op}'` });
    return;
  }
  process.send({ id, result: op(job) });
});
