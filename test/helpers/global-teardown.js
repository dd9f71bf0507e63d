'use strict';
/**
 * Jest globalTeardown: kills throw-away servers (ClickHouse, Redis, clients) that a test file left running, even when
 * a test failed or a worker died before its exit hook ran.
 *
 * Runs in jest's main process, in a separate context from the tests, so it cannot see the in-memory registry of
 * src/sandbox/process-registry.ts; it reads the pid files that module writes instead. Keep the two in step:
 * one JSON file per process in `<os.tmpdir()>/gatehouse-pids/<pid>.json` =
 * { pid, kind, marker, dir, ownerPids: [starter pid, starter's parent pid], startedAtMs }.
 *
 * An entry is ours when this process (the jest main process) is one of its owners: a worker's parent, or the
 * process itself with --runInBand. An entry whose starter died is an orphan and is killed too. Entries of other,
 * still running processes (another engineer's jest run, `npm run demo`) are left alone.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PID_DIR = process.env.GATEHOUSE_PID_DIR || path.join(os.tmpdir(), 'gatehouse-pids');

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** True only if `pid` still runs the program we started (guards against pid reuse). */
function stillOurs(entry) {
  try {
    const cmdline = fs.readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8');
    return cmdline.includes(entry.marker);
  } catch {
    return false;
  }
}

/**
 * Kills and forgets the processes owned by `selfPid` (default: this process) and orphans whose starter died, as
 * recorded in `pidDir`. Returns how many were still running.
 */
function sweep(selfPid = process.pid, pidDir = PID_DIR) {
  let names;
  try {
    names = fs.readdirSync(pidDir);
  } catch {
    return 0;
  }
  let killed = 0;
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(pidDir, name);
    let entry;
    try {
      entry = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      continue; // being written right now by someone else, or garbage: leave it
    }
    const owners = Array.isArray(entry.ownerPids) ? entry.ownerPids : [];
    const mine = owners.includes(selfPid);
    const orphan = owners.length === 0 || !isAlive(owners[0]);
    if (!mine && !orphan) continue;
    if (isAlive(entry.pid) && stillOurs(entry)) {
      // Each server was spawned detached: it leads its own process group, so this also kills its children.
      try {
        process.kill(-entry.pid, 'SIGKILL');
      } catch {
        try {
          process.kill(entry.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      killed++;
    }
    if (entry.dir && typeof entry.dir === 'string' && entry.dir.startsWith(os.tmpdir())) {
      fs.rmSync(entry.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    }
    fs.rmSync(file, { force: true });
  }
  return killed;
}

module.exports = async function globalTeardown() {
  const killed = sweep();
  if (killed > 0) {
    process.stderr.write(`gatehouse global teardown: killed ${killed} leftover test process(es)\n`);
  }
};
module.exports.sweep = sweep;
