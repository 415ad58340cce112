'use strict';
// The Node.js rows of childproc-bench (Node's standard library only). The harness runs
//   node node_bench.js seq spawn|execFile FILE WARM N   -> samples_us <N values>
//   node node_bench.js collect WRITER BYTES WARM_BYTES  -> seconds, bytes, peak_start_kib, peak_kib
//   node node_bench.js many FILE ARG COUNT              -> total_ms, fds_before, fds_peak,
//                                                          rss_before_kib, rss_after_kib, count, ok, failed
//   node node_bench.js ipc BYTES WARM_PP PP WARM_TP TP  -> pingpong_s, throughput_s (Node parent)
//   node node_bench.js ipc-echo                         (the echo child, for fork())
//   node node_bench.js requests spawn|execFile FILE ARG COUNT CONCURRENCY
//                                                       -> seconds, children, cpu_us
// (Bun runs this same script for its rows: its child_process is Node's API.)
// and parses the "key value..." lines it prints on stdout.
const { spawn, execFile, fork } = require('node:child_process');
const fs = require('node:fs');

const now = () => process.hrtime.bigint();
const usSince = (t0) => Number(now() - t0) / 1e3;
const out = (key, ...values) => process.stdout.write(`${key} ${values.join(' ')}\n`);

function fail(message) {
  process.stderr.write(`node_bench: ${message}\n`);
  process.exit(1);
}

// Peak RSS of this address space, KiB: VmHWM. process.resourceUsage().maxRSS is
// getrusage's ru_maxrss, which on Linux starts at the parent's peak after execve.
function peakRssKib() {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!m) fail('no VmHWM in /proc/self/status');
  return Number(m[1]);
}

function countFds() {
  return fs.readdirSync('/proc/self/fd').length - 1; // the listing's own fd
}

// One spawn+wait, resolved on 'close' (spawn) or in the callback (execFile).
function once(mode, file) {
  return new Promise((resolve, reject) => {
    if (mode === 'spawn') {
      const child = spawn(file, [], { stdio: 'pipe' });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    } else {
      execFile(file, [], (error) => (error ? reject(error) : resolve()));
    }
  });
}

async function seq(mode, file, warm, n) {
  if (mode !== 'spawn' && mode !== 'execFile') fail(`unknown mode ${mode}`);
  for (let i = 0; i < warm; i++) await once(mode, file);
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await once(mode, file);
    samples.push(usSince(t0).toFixed(1));
  }
  out('samples_us', ...samples);
}

// bench-writer's pattern (bench/pattern.hpp).
function patternByte(i) {
  const j = i % 1048576;
  return (j * 7 + (j >> 10)) & 0xff;
}

function collectOnce(writer, bytes) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    execFile(writer, [String(bytes)], { encoding: 'buffer', maxBuffer: bytes + 1048576 },
      (error, stdout) => {
        const seconds = usSince(t0) / 1e6;
        if (error) return reject(error);
        if (stdout.length !== bytes) return reject(new Error(`got ${stdout.length} bytes`));
        const stride = Math.floor(bytes / 4096) + 1;
        for (let i = 0; i < bytes; i += stride) {
          if (stdout[i] !== patternByte(i)) return reject(new Error(`wrong byte at ${i}`));
        }
        if (stdout[bytes - 1] !== patternByte(bytes - 1)) return reject(new Error('wrong last byte'));
        resolve(seconds);
      });
  });
}

async function collect(writer, bytes, warm) {
  const start = peakRssKib();
  if (warm > 0) await collectOnce(writer, warm);
  const seconds = await collectOnce(writer, bytes);
  out('seconds', seconds.toFixed(6));
  out('bytes', bytes);
  out('peak_start_kib', start);
  out('peak_kib', peakRssKib());
}

// COUNT children started in one synchronous burst; resolves when all have closed.
function burst(file, arg, count) {
  return new Promise((resolve) => {
    const r = { ok: 0, failed: 0, closed: 0, fdsPeak: 0, rssAfter: 0, totalMs: 0 };
    const t0 = now();
    const closed = () => {
      if (++r.closed === count) {
        r.totalMs = usSince(t0) / 1e3;
        resolve(r);
      }
    };
    for (let i = 0; i < count; i++) {
      const child = spawn(file, [arg], { stdio: 'pipe' });
      child.on('error', () => { r.failed++; });
      child.on('close', (code) => {
        if (code === 0) r.ok++;
        closed();
      });
    }
    r.fdsPeak = countFds();
    r.rssAfter = Math.round(process.memoryUsage().rss / 1024);
  });
}

async function many(file, arg, count) {
  const warm = await burst(file, arg, 10);
  if (warm.ok !== 10) fail('warm-up children failed');
  const fdsBefore = countFds();
  const rssBefore = Math.round(process.memoryUsage().rss / 1024);
  const r = await burst(file, arg, count);
  out('total_ms', r.totalMs.toFixed(3));
  out('fds_before', fdsBefore);
  out('fds_peak', r.fdsPeak);
  out('rss_before_kib', rssBefore);
  out('rss_after_kib', r.rssAfter);
  out('count', count);
  out('ok', r.ok);
  out('failed', r.failed);
}

// Section 5 (IPC). The message: a string whose JSON text is BYTES bytes, the same as
// bench/ipc.cpp's ipc_payload(): no character needs escaping.
function ipcPayload(bytes) {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let s = '';
  for (let i = 0; i + 2 < bytes; i++) s += alphabet[i % alphabet.length];
  return s;
}

// The echo child: every message straight back. The open channel with a 'message'
// listener keeps it alive; the parent's disconnect() ends it.
function ipcEcho() {
  if (!process.send) fail('ipc-echo needs an IPC channel (run it with fork())');
  process.on('message', (m) => process.send(m));
}

// Seconds for n round trips, one message in flight.
function pingPong(child, msg, n) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const t0 = now();
    const onMessage = (m) => {
      if (m !== msg) return reject(new Error('the echo is not the message sent'));
      if (++got < n) return child.send(msg);
      child.off('message', onMessage);
      resolve(usSince(t0) / 1e6);
    };
    child.on('message', onMessage);
    child.send(msg);
  });
}

// Seconds from the first send to the n-th echo. Sends until send() returns false (128
// KiB queued), then waits until every send callback so far has come. The next phase
// starts only after the last callback, as bench/ipc.cpp's.
function throughput(child, msg, n) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let written = 0;
    let got = 0;
    let blocked = false;
    let seconds = 0;
    const t0 = now();
    const finish = () => {
      if (got < n || written < sent) return;
      child.off('message', onMessage);
      resolve(seconds);
    };
    const onWritten = (error) => {
      if (error) return reject(error);
      written++;
      if (blocked && written === sent) {
        blocked = false;
        pump();
      }
      finish();
    };
    const pump = () => {
      while (sent < n) {
        sent++;
        if (!child.send(msg, onWritten)) {
          blocked = true;
          return;
        }
      }
    };
    const onMessage = (m) => {
      if (m !== msg) return reject(new Error('the echo is not the message sent'));
      if (++got === n) seconds = usSince(t0) / 1e6;
      finish();
    };
    child.on('message', onMessage);
    pump();
  });
}

async function ipc(bytes, warmPp, pp, warmTp, tp) {
  if (!(bytes >= 2 && warmPp > 0 && pp > 0 && warmTp > 0 && tp > 0)) fail('ipc: every count must be positive');
  const msg = ipcPayload(bytes);
  const child = fork(__filename, ['ipc-echo']);
  // 'exit', not 'close': with inherited stdio and an IPC channel, Node 20 does not
  // emit 'close' here once the child has exited.
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      (code === 0 ? resolve() : reject(new Error(`echo child: exit ${code} ${signal}`))));
  });
  await pingPong(child, msg, warmPp);
  const ppSeconds = await pingPong(child, msg, pp);
  await throughput(child, msg, warmTp);
  const tpSeconds = await throughput(child, msg, tp);
  child.disconnect();
  await exited;
  out('pingpong_s', ppSeconds.toFixed(6));
  out('throughput_s', tpSeconds.toFixed(6));
}

// Section 6: COUNT children of `FILE ARG`, at most CONCURRENCY at once, each one's
// stdout collected and checked.
function requestOnce(mode, file, arg) {
  return new Promise((resolve, reject) => {
    const check = (text) => (text === `${arg}\n` ? resolve() : reject(new Error(`output ${text}`)));
    if (mode === 'execFile') {
      execFile(file, [arg], (error, stdout) => (error ? reject(error) : check(stdout)));
      return;
    }
    const child = spawn(file, [arg], { stdio: 'pipe' });
    const chunks = [];
    child.stdout.on('data', (d) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      (code === 0 ? check(Buffer.concat(chunks).toString()) : reject(new Error(`exit ${code}`))));
  });
}

async function requestBatch(mode, file, arg, count, concurrency) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await requestOnce(mode, file, arg);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function requests(mode, file, arg, count, concurrency) {
  if (mode !== 'spawn' && mode !== 'execFile') fail(`unknown mode ${mode}`);
  await requestBatch(mode, file, arg, concurrency, concurrency);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await requestBatch(mode, file, arg, count, concurrency);
  const seconds = usSince(t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  out('seconds', seconds.toFixed(6));
  out('children', count);
  out('cpu_us', cpu.user + cpu.system);
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'seq' && args.length === 4) {
    await seq(args[0], args[1], Number(args[2]), Number(args[3]));
  } else if (cmd === 'collect' && args.length === 3) {
    await collect(args[0], Number(args[1]), Number(args[2]));
  } else if (cmd === 'many' && args.length === 3) {
    await many(args[0], args[1], Number(args[2]));
  } else if (cmd === 'ipc' && args.length === 5) {
    await ipc(...args.map(Number));
  } else if (cmd === 'requests' && args.length === 5) {
    await requests(args[0], args[1], args[2], Number(args[3]), Number(args[4]));
  } else if (cmd === 'ipc-echo' && args.length === 0) {
    ipcEcho();
  } else {
    fail('usage: node_bench.js seq spawn|execFile FILE WARM N | collect WRITER BYTES WARM | ' +
      'many FILE ARG COUNT | ipc BYTES WARM_PP PP WARM_TP TP | ipc-echo | ' +
      'requests spawn|execFile FILE ARG COUNT CONCURRENCY');
  }
}

main().catch((error) => fail(error.stack || String(error)));
