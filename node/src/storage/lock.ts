// Exclusive lock on a data directory, so two processes never write the same WAL.
//
// Node has no flock(), so the lock is a file <dir>/LOCK created with O_EXCL that records who holds
// it: pid, the process start time (from /proc, Linux) and the boot id. A lock counts as held only
// while that exact process is alive: same boot, same pid, same start time. So a lock left by a
// kill -9'd process never blocks a restart, even when the restarted process gets the same pid (as
// PID 1 in a container does) or the old pid was reused by an unrelated process. Without /proc
// (macOS) it falls back to "pid is alive". A lock written on another host is treated as held
// (liveness cannot be checked); the message says how to clear it.
//
// This uses node:fs directly rather than Disk: the lock is about real processes, and Disk has no
// exclusive create.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { JadeError } from '../util/errors.js';

export const LOCK_FILE_NAME = 'LOCK';

interface LockOwner {
  pid: number;
  startTime: string | null;
  bootId: string | null;
  hostname: string;
  nonce: string;
  acquiredAt: string;
}

export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Directories locked by this process (a second lockDataDir on one of them is refused too). */
const heldHere = new Set<string>();

async function readText(p: string): Promise<string | null> {
  try {
    return await fs.readFile(p, 'utf8');
  } catch {
    return null;
  }
}

async function bootId(): Promise<string | null> {
  return (await readText('/proc/sys/kernel/random/boot_id'))?.trim() ?? null;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null without /proc. */
async function processStartTime(pid: number): Promise<string | null> {
  const stat = await readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerAlive(o: LockOwner): Promise<boolean> {
  if (o.hostname !== os.hostname()) return true;
  const boot = await bootId();
  if (o.bootId && boot && o.bootId !== boot) return false;
  if (!pidAlive(o.pid)) return false;
  if (o.startTime !== null) {
    const now = await processStartTime(o.pid);
    if (now !== null && now !== o.startTime) return false;
  }
  return true;
}

function parseOwner(text: string | null): LockOwner | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as LockOwner;
    return o && Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.hostname === 'string' ? o : null;
  } catch {
    return null;
  }
}

function inUse(dir: string, o: LockOwner, lockPath: string): JadeError {
  const where = o.hostname === os.hostname() ? '' : ` on host ${o.hostname} (if that process is gone, delete ${lockPath})`;
  return new JadeError('JADE_ERR_CONFLICT', `data directory ${dir} is in use by process ${o.pid}${where}`, { dir, pid: o.pid, hostname: o.hostname });
}

async function tryCreate(lockPath: string, owner: LockOwner): Promise<boolean> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(lockPath, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(JSON.stringify(owner));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Takes the exclusive lock on dir (created if missing). Throws JADE_ERR_CONFLICT "data directory X
 * is in use by process PID" while another live process holds it; a stale lock is taken over.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  try {
    return await acquire(dir);
  } catch (e) {
    if (e instanceof JadeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new JadeError('JADE_ERR_STORAGE', `cannot lock data directory ${dir}: ${code ?? (e as Error).message}`, { dir, errno: code });
  }
}

async function acquire(dir: string): Promise<DataDirLock> {
  await fs.mkdir(dir, { recursive: true });
  const realDir = await fs.realpath(dir);
  const lockPath = path.join(realDir, LOCK_FILE_NAME);
  const owner: LockOwner = {
    pid: process.pid,
    startTime: await processStartTime(process.pid),
    bootId: await bootId(),
    hostname: os.hostname(),
    nonce: randomBytes(8).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  if (heldHere.has(realDir)) throw inUse(dir, owner, lockPath);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await tryCreate(lockPath, owner)) {
      heldHere.add(realDir);
      await syncDir(realDir);
      return makeHandle(realDir, lockPath, owner);
    }
    const text = await readText(lockPath);
    if (text === null) continue; // released meanwhile
    const current = parseOwner(text);
    // An unreadable lock file is a crash between create and write: stale.
    if (current && (await ownerAlive(current))) throw inUse(dir, current, lockPath);
    // Stale: move it aside atomically, then check we moved what we judged (another process may
    // have replaced it meanwhile); if not, put theirs back and report them.
    const aside = `${lockPath}.stale-${process.pid}-${owner.nonce}`;
    try {
      await fs.rename(lockPath, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = await readText(aside);
    if (moved !== text) {
      await fs.link(aside, lockPath).catch(() => undefined);
      await fs.rm(aside, { force: true });
      const other = parseOwner(moved);
      if (other) throw inUse(dir, other, lockPath);
      continue;
    }
    await fs.rm(aside, { force: true });
  }
  throw new JadeError('JADE_ERR_CONFLICT', `data directory ${dir}: could not take the lock ${lockPath} (contended)`, { dir });
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function makeHandle(realDir: string, lockPath: string, owner: LockOwner): DataDirLock {
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(realDir);
      // Remove it only if it is still ours.
      if (parseOwner(await readText(lockPath))?.nonce === owner.nonce) await fs.rm(lockPath, { force: true });
    },
  };
}
