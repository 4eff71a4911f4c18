// Lab guardian: tears a lab down when the process that created it goes away for any reason.
//
//   node guardian.mjs <runId> <ownerPid> <ownerStart>
//
// Started detached (own session and process group, so a Ctrl-C aimed at the test run does not
// reach it) by netlab.ts, with its stdin a pipe from the owner. The owner never writes to the
// pipe; it only holds the write end. When the owner exits, crashes or is SIGKILLed the kernel
// closes that end and we read EOF. A clean `lab.destroy()` removes the state record first and
// then closes the pipe, so we find nothing to do. As a fallback (should the pipe somehow stay
// open) we also poll the owner's liveness once a second.
//
// What to tear down is read from the state record (<stateDir>/<runId>.json), which the owner
// updates before creating each namespace and after spawning each process; teardown itself is
// core.mjs's teardownSync, the same code the owner and the janitor use.

import fs from 'node:fs';
import path from 'node:path';
import { isAlive, readRecord, stateDir, teardownSync } from './core.mjs';

const [runId = '', ownerPidText = '', ownerStartText = ''] = process.argv.slice(2);
const ownerPid = Number.parseInt(ownerPidText, 10);
const ownerStart = ownerStartText === '' || ownerStartText === '-' ? undefined : ownerStartText;

function log(line) {
  try {
    const file = path.join(stateDir(), 'guardian.log');
    try {
      if (fs.statSync(file).size > 1 << 20) fs.truncateSync(file, 0);
    } catch {
      // no log yet
    }
    fs.appendFileSync(file, `${new Date().toISOString()} [${process.pid}] ${runId}: ${line}\n`);
  } catch {
    // logging is best effort
  }
}

// Stray terminal signals must not stop us before the owner is gone.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});

let finished = false;
function finish(reason) {
  if (finished) return;
  finished = true;
  const record = readRecord(runId);
  if (record !== undefined) {
    const res = teardownSync(record);
    log(
      `owner gone (${reason}); deleted ${res.deletedNamespaces.join(',') || '-'}` +
        (res.leftNamespaces.length + res.leftPids.length > 0
          ? `; LEFT namespaces ${res.leftNamespaces.join(',')} pids ${res.leftPids.join(',')} ${res.errors.join('; ')}`
          : ''),
    );
  }
  process.exit(0);
}

if (!/^[a-z0-9]{4,16}$/.test(runId) || !Number.isInteger(ownerPid)) {
  log(`bad arguments ${JSON.stringify(process.argv.slice(2))}`);
  process.exit(2);
}

process.stdin.on('data', () => {});
process.stdin.on('end', () => finish('pipe closed'));
process.stdin.on('close', () => finish('pipe closed'));
process.stdin.on('error', () => finish('pipe error'));
setInterval(() => {
  if (!isAlive(ownerPid, ownerStart)) finish('owner not running');
}, 1000);
