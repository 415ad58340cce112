// Node parent, C++ child: child.send(msg, handle) passes a handle, which a childproc
// child cannot take: it answers NODE_HANDLE_NACK, and the messages Node queued behind
// the handle must still arrive, in order. A server is sent once (Node does not retry
// servers); a socket is retried three times, then Node gives up with a
// SentHandleNotReceivedWarning. Then disconnect; the helper must exit 0 by itself.
// Usage: node parent_handle.js IPC_HELPER. Prints 'parent_handle: ok' on success.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const util = require('util');

const helper = process.argv[2];
let state = 'starting';
const fail = (why) => {
  console.log(`parent_handle: FAIL: ${why} (state: ${state})`);
  process.exit(1);
};
const watchdog = setTimeout(() => fail('timed out'), 20000);

const warnings = [];
process.on('warning', (w) => warnings.push(w.name));

const child = spawn(helper, ['echo'], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
child.on('error', (e) => fail(`child 'error': ${e.stack}`));
// Node's own event for its internal messages: how the NACKs are seen.
let nacks = 0;
child.on('internalMessage', (m) => {
  if (m.cmd === 'NODE_HANDLE_NACK') nacks++;
  else fail(`unexpected internal message ${util.inspect(m)}`);
});
const got = [];
const callbacks = [];
let disconnected = false;
const connections = [];

const server = net.createServer((c) => connections.push(c));
server.on('error', (e) => fail(`server: ${e.stack}`));
let client;
server.listen(0, '127.0.0.1', () => {
  client = net.connect(server.address().port, '127.0.0.1', () => {
    state = 'sending the server';
    child.send('x', server, (err) => callbacks.push(err ? err.code : 'ok'));
    child.send({ after: 'server' });
  });
  client.on('error', () => {});  // its handle goes away with the send
});

child.on('message', (m) => {
  got.push(m);
  if (got.length === 1) {
    if (!util.isDeepStrictEqual(m, { after: 'server' })) fail(`got ${util.inspect(got)}`);
    if (nacks !== 1) fail(`${nacks} NACKs for the server, expected 1`);
    state = 'sending the socket';
    child.send({ with: 'socket' }, client, (err) => callbacks.push(err ? err.code : 'ok'));
    child.send({ after: 'socket' });
    child.send('last');
    return;
  }
  if (got.length < 3) return;
  const expected = [{ after: 'server' }, { after: 'socket' }, 'last'];
  if (!util.isDeepStrictEqual(got, expected)) fail(`got ${util.inspect(got)}`);
  if (nacks !== 5) fail(`${nacks} NACKs in all, expected 1 + 4 (the socket is retried 3 times)`);
  if (!warnings.includes('SentHandleNotReceivedWarning')) {
    fail(`no SentHandleNotReceivedWarning (warnings: ${util.inspect(warnings)})`);
  }
  if (callbacks.length < 2 || !callbacks.every((c) => c === 'ok')) {
    fail(`send callbacks: ${util.inspect(callbacks)}`);
  }
  state = 'disconnecting';
  for (const c of connections) c.destroy();
  server.close();
  child.disconnect();
});
child.on('disconnect', () => { disconnected = true; });
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  if (code !== 0 || signal !== null) fail(`the helper ended with code ${code}, signal ${signal}`);
  if (!disconnected) fail("no 'disconnect' before 'exit'");
  if (got.length !== 3) fail(`got ${util.inspect(got)}`);
  console.log('parent_handle: ok');
});
