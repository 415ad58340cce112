// Node parent receiving from a C++ child: `ipc_helper count N` sends N messages then
// disconnects; `count N exit` just exits once they are written; `bad` has its send()
// refusals kept to itself and only {"after":"bad"} arrives. Each time: every message
// in order, then 'disconnect', then 'exit' with code 0.
// Usage: node parent_count.js IPC_HELPER. Prints 'parent_count: ok' on success.
'use strict';
const { spawn } = require('child_process');
const util = require('util');

const helper = process.argv[2];
let state = 'starting';
const fail = (why) => {
  console.log(`parent_count: FAIL: ${why} (state: ${state})`);
  process.exit(1);
};
// Each run gets its own limit, so one that hangs does not hide the others' results.
let watchdog;

const runs = [
  { args: ['count', '2000'], expect: Array.from({ length: 2000 }, (_, i) => ({ seq: i })) },
  { args: ['count', '0'], expect: [] },
  {
    args: ['bad'],
    expect: [{ after: 'bad' }],
    out: [
      'returns 00010', 'callback after ok', 'callback closed ERR_IPC_CHANNEL_CLOSED',
      'callback invalid ERR_INVALID_ARG_VALUE', 'callback newline ERR_INVALID_ARG_VALUE',
      'event ERR_INVALID_ARG_VALUE', 'event ERR_IPC_DISCONNECTED', ''].join('\n'),
  },
  // No disconnect(), no listeners: the helper's loop must end once the messages are
  // written, and its exit closes the channel.
  { args: ['count', '2', 'exit'], expect: [{ seq: 0 }, { seq: 1 }] },
  { args: ['count', '300', 'exit'], expect: Array.from({ length: 300 }, (_, i) => ({ seq: i })) },
];

function runOne(i) {
  clearTimeout(watchdog);
  if (i === runs.length) {
    console.log('parent_count: ok');
    return;
  }
  const { args, expect } = runs[i];
  state = `ipc_helper ${args.join(' ')}`;
  watchdog = setTimeout(() => fail('timed out'), 8000);
  const child = spawn(helper, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.on('error', (e) => fail(`child 'error': ${e.stack}`));
  const events = [];
  const got = [];
  child.on('message', (m) => got.push(m));
  child.on('disconnect', () => events.push(`disconnect after ${got.length}`));
  child.on('exit', (code, signal) => events.push(`exit ${code} ${signal}`));
  child.on('close', () => {
    // Node does not order 'exit' and 'disconnect' (childproc does); both must come.
    const want = [`disconnect after ${expect.length}`, 'exit 0 null'];
    if (!util.isDeepStrictEqual(events.sort(), want)) fail(`events ${util.inspect(events)}`);
    if (!util.isDeepStrictEqual(got, expect)) {
      const at = got.findIndex((m, k) => !util.isDeepStrictEqual(m, expect[k]));
      fail(`${got.length} messages, first wrong at ${at}: ${util.inspect(got[at])}`);
    }
    if (runs[i].out !== undefined && out !== runs[i].out) {
      fail(`the helper's stdout: ${util.inspect(out)}`);
    }
    runOne(i + 1);
  });
}

runOne(0);
