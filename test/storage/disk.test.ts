// Checks both Disk implementations: RealDisk on a temp directory does what the interface says, and
// FaultyMemoryDisk's crash model keeps exactly what was fsynced (file data via sync, names via
// syncDir), counts fsyncs, and injects the faults the WAL and checkpoint tests rely on.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FaultyMemoryDisk, RealDisk, readAt, writeAll, type Disk } from '../../node/src/storage/disk.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const cleanup: string[] = [];
afterEach(async () => {
  for (const d of cleanup.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function exercise(disk: Disk, root: string): Promise<void> {
  const dir = path.join(root, 'a', 'b');
  await disk.mkdirp(dir);
  expect(await disk.list(dir)).toEqual([]);
  const f = await disk.open(path.join(dir, 'f1'), 'create');
  await writeAll(f, bytes('hello world'), 0);
  await f.write(bytes('HELLO'), 0);
  expect(await f.size()).toBe(11);
  expect(text(await readAt(f, 6, 100))).toBe('world');
  await f.truncate(5);
  await f.sync();
  await f.close();
  expect(text(await disk.readFile(path.join(dir, 'f1')))).toBe('HELLO');
  const a = await disk.open(path.join(dir, 'f1'), 'append');
  await a.write(bytes('+1'), 0); // position ignored in append mode
  await a.close();
  expect(text(await disk.readFile(path.join(dir, 'f1')))).toBe('HELLO+1');
  await expect(disk.open(path.join(dir, 'missing'), 'r')).rejects.toMatchObject({ code: 'ENOENT' });
  await disk.writeFileAtomic(path.join(dir, 'atomic'), bytes('v1'));
  await disk.writeFileAtomic(path.join(dir, 'atomic'), bytes('v2'));
  expect(text(await disk.readFile(path.join(dir, 'atomic')))).toBe('v2');
  expect(await disk.list(dir)).toEqual(['atomic', 'f1']);
  await disk.rename(path.join(dir, 'f1'), path.join(dir, 'f2'));
  expect(await disk.exists(path.join(dir, 'f1'))).toBe(false);
  expect(await disk.statSize(path.join(dir, 'f2'))).toBe(7);
  await disk.unlink(path.join(dir, 'f2'));
  await disk.syncDir(dir);
  expect(await disk.list(dir)).toEqual(['atomic']);
  await disk.removeAll(path.join(root, 'a'));
  expect(await disk.exists(dir)).toBe(false);
  await disk.removeAll(path.join(root, 'never-existed'));
}

describe('Disk implementations', () => {
  it('RealDisk behaves as the interface documents', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'jade-disk-'));
    cleanup.push(root);
    await exercise(new RealDisk(), root);
  });

  it('FaultyMemoryDisk behaves the same way', async () => {
    await exercise(new FaultyMemoryDisk(), '/mem');
  });
});

describe('FaultyMemoryDisk crash model and faults', () => {
  it('crash keeps fsynced content of files whose names were made durable, nothing else', async () => {
    const disk = new FaultyMemoryDisk();
    await disk.mkdirp('/d');
    const synced = await disk.open('/d/synced', 'create');
    await synced.write(bytes('durable'), 0);
    await synced.sync();
    await synced.write(bytes('+volatile'), 7);
    const neverSynced = await disk.open('/d/never', 'create');
    await neverSynced.write(bytes('x'), 0);
    await neverSynced.sync();
    await disk.syncDir('/d'); // both names durable; "never" has durable content "x"
    const late = await disk.open('/d/late', 'create');
    await late.write(bytes('y'), 0);
    await late.sync(); // data synced but the name is not
    await disk.rename('/d/never', '/d/renamed'); // rename not made durable
    disk.crash();
    expect(await disk.list('/d')).toEqual(['never', 'synced']);
    expect(text(await disk.readFile('/d/synced'))).toBe('durable');
    expect(text(await disk.readFile('/d/never'))).toBe('x');
    // Handles from before the crash are dead.
    await expect(synced.write(bytes('z'), 0)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('counts fsyncs and injects EIO / ENOSPC / short writes, scoped by path and count', async () => {
    const disk = new FaultyMemoryDisk();
    await disk.mkdirp('/d');
    const f = await disk.open('/d/wal', 'create');
    const g = await disk.open('/d/other', 'create');
    disk.failNextSync('EIO', 'wal');
    await g.sync(); // other path: unaffected
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
    await f.sync(); // the rule expired after one hit
    expect(disk.stats.fileSyncs).toBe(2);

    disk.failWrites('ENOSPC');
    await expect(f.write(bytes('a'), 0)).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(f.write(bytes('a'), 0)).rejects.toMatchObject({ code: 'ENOSPC' });
    disk.clearFaults();
    expect(await f.write(bytes('abc'), 0)).toBe(3);

    disk.shortWriteNext(2, 'ENOSPC');
    expect(await f.write(bytes('12345'), 0)).toBe(2);
    await expect(f.write(bytes('345'), 2)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(text(await readAt(f, 0, 10))).toBe('12c');

    // A failed fsync does not make the data durable.
    await f.sync();
    await f.write(bytes('!'), 3);
    disk.failNextSync('EIO');
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
    await disk.syncDir('/d');
    disk.crash();
    expect(text(await disk.readFile('/d/wal'))).toBe('12c');
  });

  it('crash with a random torn tail keeps the synced prefix plus part of the unsynced bytes', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const lengths = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const disk = new FaultyMemoryDisk();
      await disk.mkdirp('/d');
      const f = await disk.open('/d/f', 'create');
      await f.write(bytes('SYNCED'), 0);
      await f.sync();
      await disk.syncDir('/d');
      await f.write(bytes('-unsynced-tail'), 6);
      disk.crash({ random });
      const after = text(await disk.readFile('/d/f'));
      expect(after.startsWith('SYNCED')).toBe(true);
      expect('SYNCED-unsynced-tail'.startsWith(after)).toBe(true);
      lengths.add(after.length);
    }
    expect(lengths.size).toBeGreaterThan(3);
  });
});
