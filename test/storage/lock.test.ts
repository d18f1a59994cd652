// Checks the data-directory lock with real processes: a second process on a locked directory is
// refused with a message naming the holder's pid, and a lock left by a kill -9'd process (or one
// whose pid now belongs to another process) does not block a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE_NAME, lockDataDir } from '../../node/src/storage/lock.js';
import { JadeError } from '../../node/src/util/errors.js';

const HOLDER = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'jade-lock-'));
  dirs.push(d);
  return d;
}

/** Starts the holder script; resolves with its first output line and the process. */
function runHolder(dir: string): Promise<{ child: ChildProcess; line: string; exitCode: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const exitCode = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl), exitCode });
    });
    child.on('exit', (code) => reject(new Error(`holder exited ${code} before printing: ${out}`)));
  });
}

async function expectRefused(dir: string): Promise<JadeError> {
  const e = await lockDataDir(dir).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JadeError);
  expect((e as JadeError).code).toBe('JADE_ERR_CONFLICT');
  return e as JadeError;
}

describe('data directory lock', () => {
  it('a second process is refused while the first holds the lock; after kill -9 the lock does not block', async () => {
    const dir = await tempDir();
    const first = await runHolder(dir);
    expect(first.line).toBe(`locked ${first.child.pid}`);

    // This process is refused, naming the holder.
    const e = await expectRefused(dir);
    expect(e.message).toBe(`data directory ${dir} is in use by process ${first.child.pid}`);

    // So is another real process.
    const second = await runHolder(dir);
    expect(second.line).toBe(`refused JADE_ERR_CONFLICT data directory ${dir} is in use by process ${first.child.pid}`);
    expect(await second.exitCode).toBe(3);

    // kill -9 leaves the LOCK file behind...
    first.child.kill('SIGKILL');
    await first.exitCode;
    expect(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8')).toContain(`"pid":${first.child.pid}`);
    // ...but a restart takes it over.
    const lock = await lockDataDir(dir);
    expect(JSON.parse(await fs.readFile(lock.path, 'utf8')).pid).toBe(process.pid);
    // And now a new process is refused in turn, naming us.
    const third = await runHolder(dir);
    expect(third.line).toContain(`in use by process ${process.pid}`);
    await lock.release();
    expect(await fs.stat(lock.path).then(() => true, () => false)).toBe(false);
  }, 60_000);

  it('an unusable directory gives a coded error naming it', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'x');
    const e = await lockDataDir(path.join(file, 'data')).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(JadeError);
    expect((e as JadeError).code).toBe('JADE_ERR_STORAGE');
    expect((e as JadeError).message).toContain(`cannot lock data directory ${path.join(file, 'data')}`);
  });

  it('within one process a second lock is refused until release', async () => {
    const dir = await tempDir();
    const lock = await lockDataDir(dir);
    await expectRefused(dir);
    await lock.release();
    await lock.release(); // idempotent
    const again = await lockDataDir(dir);
    await again.release();
  });

  it('a lock naming a live pid with another start time (pid reused, e.g. PID 1 after a container restart) is stale', async () => {
    const dir = await tempDir();
    const lockPath = path.join(dir, LOCK_FILE_NAME);
    const stat = await fs.readFile(`/proc/${process.pid}/stat`, 'utf8').catch(() => null);
    if (stat === null) return; // no /proc: the start-time check does not apply
    const bootId = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    await fs.writeFile(lockPath, JSON.stringify({ pid: process.pid, startTime: '1', bootId, hostname: os.hostname(), nonce: 'x', acquiredAt: '' }));
    const lock = await lockDataDir(dir);
    expect(JSON.parse(await fs.readFile(lockPath, 'utf8')).nonce).not.toBe('x');
    await lock.release();

    // Same pid, but written in an earlier boot: stale too.
    await fs.writeFile(lockPath, JSON.stringify({ pid: process.ppid, startTime: null, bootId: 'another-boot', hostname: os.hostname(), nonce: 'y', acquiredAt: '' }));
    await (await lockDataDir(dir)).release();

    // An empty or garbled LOCK (crash between create and write) is stale.
    await fs.writeFile(lockPath, '{"pid":');
    await (await lockDataDir(dir)).release();
  });

  it('a lock held by a live process on this boot (same start time) is respected', async () => {
    const dir = await tempDir();
    const lockPath = path.join(dir, LOCK_FILE_NAME);
    // Our parent process (vitest) is alive; record it as the holder with its real start time.
    const stat = await fs.readFile(`/proc/${process.ppid}/stat`, 'utf8').catch(() => null);
    const startTime = stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] : null;
    const bootId = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim() || null;
    await fs.writeFile(lockPath, JSON.stringify({ pid: process.ppid, startTime, bootId, hostname: os.hostname(), nonce: 'z', acquiredAt: '' }));
    const e = await expectRefused(dir);
    expect(e.message).toContain(`in use by process ${process.ppid}`);
  });
});
