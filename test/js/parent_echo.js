// Node parent, C++ child: spawns `ipc_helper echo` with an 'ipc' slot (fd 3) and
// exchanges messages with it: many in order, multi-byte and odd strings, objects, a
// 1 MiB one (and internal ones, which must not come back); then child.disconnect(),
// after which the helper must exit by itself, 0.
// Usage: node parent_echo.js IPC_HELPER. Prints 'parent_echo: ok' and exits 0 on
// success; otherwise prints what went wrong and exits 1.
'use strict';
const { spawn } = require('child_process');
const util = require('util');

const helper = process.argv[2];
let state = 'starting';
const fail = (why) => {
  console.log(`parent_echo: FAIL: ${why} (state: ${state})`);
  process.exit(1);
};
const watchdog = setTimeout(() => fail('timed out'), 30000);

const deep = (n) => {
  let v = 'bottom';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v };
  return v;
};

const messages = [];
for (let i = 0; i < 200; i++) messages.push({ seq: i });
messages.push(
  'héllo wörld', '€ 😀 𝄞 ∑ 中文 עברית', '\u2028\u2029', '\u0000\u0001\u001f\u007f',
  'line\nbreak\r\n\ttab', '"quotes" and \\backslashes\\ and /slashes/', '\ud800', '\udfff',
  '\udc00\ud800', '\ufeff', 'NODE_X', '', ' ', 0, -1.5, 1e300, 5e-324,
  Number.MAX_SAFE_INTEGER, true, false, null, [], {}, [1, 'two', [3, [4]], { five: 5 }],
  { cmd: 'NODE_' }, { cmd: 'user' }, { cmd: 'node_x' }, { a: { cmd: 'NODE_X' } },
  { cmd: ['NODE_X'] }, [{ cmd: 'NODE_X' }], { 'ключ': 'значение', '😀': ['😀'] },
  { '': { '': '' } }, deep(500));
messages.push('x'.repeat(1024 * 1024));
messages.push({ big: '€😀a'.repeat(150000), tail: 'after the big one' });
for (let i = 0; i < 50; i++) messages.push([i, 'after', '😀'.repeat(i)]);

const child = spawn(helper, ['echo'], { stdio: ['inherit', 'pipe', 'inherit', 'ipc'] });
let out = '';
child.stdout.on('data', (d) => { out += d; });
const got = [];
let disconnected = false;
child.on('error', (e) => fail(`child 'error': ${e.stack}`));
child.on('message', (m) => {
  got.push(m);
  if (got.length > messages.length) fail(`extra message ${util.inspect(m).slice(0, 200)}`);
  if (got.length < messages.length) return;
  for (let i = 0; i < messages.length; i++) {
    if (!util.isDeepStrictEqual(got[i], messages[i])) {
      fail(`message ${i} came back as ${util.inspect(got[i]).slice(0, 200)}, ` +
           `sent ${util.inspect(messages[i]).slice(0, 200)}`);
    }
  }
  state = 'all echoed, disconnecting';
  child.disconnect();
  if (child.connected) fail('connected after disconnect()');
});
child.on('disconnect', () => {
  disconnected = true;
  state = 'disconnected, waiting for the helper to exit';
});
// The end: 'exit', and stdout's 'end' (not 'close': after the parent's disconnect()
// Node never emits it).
let pending = 2;
let exitCode;
const done = () => {
  if (--pending > 0) return;
  clearTimeout(watchdog);
  if (exitCode !== '0 null') fail(`the helper ended with ${exitCode}`);
  if (!disconnected) fail("no 'disconnect' before 'exit'");
  if (got.length !== messages.length) fail(`${got.length} of ${messages.length} messages came back`);
  // The helper's own account: every message but the internal ones, the disconnect seen,
  // no fd leaked.
  const want = `echo: ${messages.length} messages, disconnected, leaked=0\n`;
  if (out !== want) fail(`the helper's stdout: ${util.inspect(out)}, expected ${util.inspect(want)}`);
  console.log('parent_echo: ok');
};
child.on('exit', (code, signal) => {
  exitCode = `${code} ${signal}`;
  if (!disconnected) fail("no 'disconnect' before 'exit'");
  done();
});
child.stdout.on('end', done);

state = 'sending';
// Node's internal messages are Node's business: the C++ child drops them unseen.
child.send({ cmd: 'NODE_CUSTOM', x: 1 });
for (const m of messages) child.send(m);
child.send({ cmd: 'NODE_CUSTOM', x: 2 });
state = 'waiting for the echoes';
