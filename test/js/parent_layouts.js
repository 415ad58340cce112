// Node parent, C++ child, with the 'ipc' slot in different places: NODE_CHANNEL_FD is
// then 0, 3, 4 or 5. `ipc_helper env` reports (as its first message) the fd it found
// and what parent_channel() left behind; then one message is echoed, and after
// disconnect the helper must exit 0 by itself.
// Usage: node parent_layouts.js IPC_HELPER. Prints 'parent_layouts: ok' on success.
'use strict';
const { spawn } = require('child_process');
const util = require('util');

const helper = process.argv[2];
let state = 'starting';
const fail = (why) => {
  console.log(`parent_layouts: FAIL: ${why} (state: ${state})`);
  process.exit(1);
};
const watchdog = setTimeout(() => fail('timed out'), 20000);

const layouts = [
  { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], fd: '3' },  // fork() with silent: true
  { stdio: [0, 1, 2, 'ipc'], fd: '3' },                 // fork()'s default
  { stdio: ['ipc', 'pipe', 'pipe'], fd: '0' },
  { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'ipc'], fd: '4' },
  { stdio: ['ignore', 'pipe', 'inherit', 'ignore', 'ignore', 'ipc'], fd: '5' },
];

function runOne(i) {
  if (i === layouts.length) {
    clearTimeout(watchdog);
    console.log('parent_layouts: ok');
    return;
  }
  const { stdio, fd } = layouts[i];
  state = `layout ${util.inspect(stdio)}`;
  const child = spawn(helper, ['env'], { stdio });
  let out = '';
  if (child.stdout) child.stdout.on('data', (d) => { out += d; });
  // Every other readable pipe must be read too, or 'close' never comes.
  for (const s of child.stdio) {
    if (s && s !== child.stdout && s !== child.stdin) s.resume();
  }
  child.on('error', (e) => fail(`child 'error': ${e.stack}`));
  const got = [];
  let disconnected = false;
  child.on('message', (m) => {
    got.push(m);
    if (got.length === 1) {
      const expected = {
        fd, NODE_CHANNEL_FD: 'unset', NODE_CHANNEL_SERIALIZATION_MODE: 'unset',
        cloexec: true, nonblock: true, second: null, grandchild: 'unset unset',
      };
      if (!util.isDeepStrictEqual(m, expected)) fail(`the report: ${util.inspect(m)}`);
      child.send({ layout: i, text: 'ping 😀' });
    } else if (got.length === 2) {
      if (!util.isDeepStrictEqual(m, { layout: i, text: 'ping 😀' })) {
        fail(`the echo: ${util.inspect(m)}`);
      }
      child.disconnect();
    } else {
      fail(`extra message ${util.inspect(m)}`);
    }
  });
  child.on('disconnect', () => { disconnected = true; });
  // Not 'close': after the parent's disconnect() Node never emits it (Node 20 counts
  // the channel's close only when the peer closes it). 'exit' and stdout's 'end' instead.
  let pending = child.stdout ? 2 : 1;
  let exitCode;
  const done = () => {
    if (--pending > 0) return;
    if (exitCode !== '0 null') fail(`the helper ended with ${exitCode}`);
    if (!disconnected) fail("no 'disconnect'");
    if (got.length !== 2) fail(`${got.length} messages`);
    if (child.stdout) {
      const want = [
        `fd=${fd} NODE_CHANNEL_FD=unset NODE_CHANNEL_SERIALIZATION_MODE=unset cloexec=1 ` +
          'nonblock=1 second=null grandchild=unset unset',
        'echo: 1 messages, disconnected, leaked=0', ''];
      if (out !== want.join('\n')) fail(`the helper's stdout: ${util.inspect(out)}`);
    }
    runOne(i + 1);
  };
  child.on('exit', (code, signal) => {
    exitCode = `${code} ${signal}`;
    done();
  });
  if (child.stdout) child.stdout.on('end', done);
}

runOne(0);
