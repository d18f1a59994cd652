// Checks checkpoints on the fault-injecting in-memory disk: files round-trip, a new checkpoint
// replaces the old atomically (a fault or crash at any step leaves the old one whole), and any
// damaged, truncated or missing file is detected with an error naming it, never half-loaded.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FaultyMemoryDisk, RealDisk, type FaultOp } from '../../node/src/storage/disk.js';
import { readCheckpoint, writeCheckpoint } from '../../node/src/storage/checkpoint.js';
import { JadeError } from '../../node/src/util/errors.js';

const DIR = '/data/shard-7';
const NAME = 'checkpoint';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

async function expectStorageError(p: Promise<unknown>): Promise<JadeError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JadeError);
  expect((e as JadeError).code).toBe('JADE_ERR_STORAGE');
  return e as JadeError;
}

async function withV1(): Promise<FaultyMemoryDisk> {
  const disk = new FaultyMemoryDisk();
  await writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v1'), extra: { 'hnsw.bin': bytes('graph-v1') } });
  return disk;
}

async function readTexts(disk: FaultyMemoryDisk) {
  const c = await readCheckpoint(disk, DIR, NAME);
  return c && { snapshot: text(c.snapshot), graph: text(c.extra['hnsw.bin']), keys: Object.keys(c.extra) };
}

describe('checkpoints', () => {
  it('round-trip; a newer checkpoint replaces the older one and its files are cleaned up', async () => {
    const disk = new FaultyMemoryDisk();
    expect(await readCheckpoint(disk, DIR, NAME)).toBeNull();
    await writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v1'), extra: { 'hnsw.bin': bytes('graph-v1') } });
    expect(await readTexts(disk)).toEqual({ snapshot: 'snapshot-v1', graph: 'graph-v1', keys: ['hnsw.bin'] });
    await writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v2') });
    expect(await readTexts(disk)).toEqual({ snapshot: 'snapshot-v2', graph: undefined, keys: [] });
    expect(await disk.list(DIR)).toEqual([`${NAME}.2`, `${NAME}.manifest`]);
    // Durable once written: a crash right after keeps it.
    disk.crash();
    expect((await readTexts(disk))?.snapshot).toBe('snapshot-v2');
  });

  it('a fault at any step of writing leaves the previous checkpoint whole, before and after a crash', async () => {
    const faults: FaultOp[] = ['open', 'write', 'sync', 'syncDir', 'rename', 'writeFileAtomic'];
    let failures = 0;
    for (const op of faults) {
      for (const pathIncludes of [undefined, 'hnsw.bin', 'manifest']) {
        const disk = await withV1();
        disk.inject({ op, code: 'EIO', pathIncludes });
        const attempt = writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v2'), extra: { 'hnsw.bin': bytes('graph-v2') } });
        const failed = await attempt.then(() => false, (e: unknown) => {
          expect((e as JadeError).code).toBe('JADE_ERR_STORAGE');
          return true;
        });
        if (failed) failures++;
        const expected = failed ? 'v1' : 'v2';
        expect((await readTexts(disk))?.snapshot, `${op} ${pathIncludes}`).toBe(`snapshot-${expected}`);
        disk.crash();
        expect(await readTexts(disk), `${op} ${pathIncludes} after crash`).toEqual({ snapshot: `snapshot-${expected}`, graph: `graph-${expected}`, keys: ['hnsw.bin'] });
        // The next checkpoint succeeds once the fault is gone.
        await writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v3') });
        expect((await readTexts(disk))?.snapshot).toBe('snapshot-v3');
      }
    }
    // Only faults that miss every step of a write (e.g. a rename fault scoped to hnsw.bin) let it succeed.
    console.log(`checkpoint faults: ${failures} of ${faults.length * 3} injected faults failed the write`);
    expect(failures).toBeGreaterThanOrEqual(12);
  });

  it('a crash while the new files are unsynced keeps the old checkpoint', async () => {
    const disk = await withV1();
    const release = disk.holdSyncs();
    const attempt = writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-v2') }).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    disk.crash();
    release();
    expect(await attempt).toBeInstanceOf(JadeError);
    expect((await readTexts(disk))?.snapshot).toBe('snapshot-v1');
  });

  it('detects a damaged, truncated or missing file and names it', async () => {
    const cases: [string, (disk: FaultyMemoryDisk) => Promise<void>, string][] = [
      ['flipped snapshot byte', async (d) => d.corrupt(path.join(DIR, `${NAME}.1`, 'snapshot.fb'), 3, bytes('X')), path.join(DIR, `${NAME}.1`, 'snapshot.fb')],
      ['flipped graph byte', async (d) => d.corrupt(path.join(DIR, `${NAME}.1`, 'hnsw.bin'), 0, bytes('X')), path.join(DIR, `${NAME}.1`, 'hnsw.bin')],
      [
        'truncated graph',
        async (d) => {
          const f = await d.open(path.join(DIR, `${NAME}.1`, 'hnsw.bin'), 'rw');
          await f.truncate(3);
          await f.sync();
        },
        'hnsw.bin',
      ],
      ['missing snapshot', async (d) => d.unlink(path.join(DIR, `${NAME}.1`, 'snapshot.fb')), 'snapshot.fb: missing'],
      ['damaged manifest', async (d) => d.corrupt(path.join(DIR, `${NAME}.manifest`), 30, bytes('~')), `${NAME}.manifest`],
      ['garbage manifest', async (d) => d.writeFileAtomic(path.join(DIR, `${NAME}.manifest`), bytes('not a manifest at all')), `${NAME}.manifest`],
    ];
    for (const [label, damage, mentions] of cases) {
      const disk = await withV1();
      await damage(disk);
      const e = await expectStorageError(readCheckpoint(disk, DIR, NAME));
      expect(e.message, label).toContain('corrupt checkpoint file');
      expect(e.message, label).toContain(mentions);
      // A corrupt checkpoint does not prevent writing a fresh one.
      await writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('snapshot-fresh') });
      expect((await readTexts(disk))?.snapshot).toBe('snapshot-fresh');
    }
  });

  it('rejects extra file names that could escape the checkpoint directory', async () => {
    const disk = new FaultyMemoryDisk();
    for (const bad of ['../x', 'a/b', '', 'snapshot.fb']) {
      await expect(writeCheckpoint(disk, DIR, NAME, { snapshot: bytes('s'), extra: { [bad]: bytes('x') } })).rejects.toThrow(JadeError);
    }
  });

  it('on the real file system: round-trip of a large extra file, and a flipped byte is caught', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'jade-ckpt-'));
    try {
      const disk = new RealDisk();
      const graph = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
      await writeCheckpoint(disk, root, NAME, { snapshot: bytes('snap'), extra: { 'hnsw.bin': graph } });
      const back = await readCheckpoint(disk, root, NAME);
      expect(Buffer.compare(back!.extra['hnsw.bin'], graph)).toBe(0);
      const file = path.join(root, `${NAME}.1`, 'hnsw.bin');
      const fh = await fs.open(file, 'r+');
      await fh.write(new Uint8Array([0xff ^ ((12345 * 7) & 0xff)]), 0, 1, 12345);
      await fh.close();
      const e = await expectStorageError(readCheckpoint(disk, root, NAME));
      expect(e.message).toContain(file);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
