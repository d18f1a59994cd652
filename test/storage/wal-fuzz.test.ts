// Fuzzes WAL replay with fast-check on the in-memory disk: segment files of random bytes, valid
// logs with random tails, and valid logs with random byte edits. Opening must either replay a
// prefix of what was written (never an altered or reordered record) or throw
// JadeError(JADE_ERR_STORAGE); after repairWal() it must always open with a prefix.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as path from 'node:path';
import { FaultyMemoryDisk } from '../../node/src/storage/disk.js';
import { Wal, repairWal, type WalOptions } from '../../node/src/storage/wal.js';
import { JadeError } from '../../node/src/util/errors.js';

const DIR = '/fuzz/wal';
const OPTS: WalOptions = { segmentSizeBytesMax: 400, recordSizeBytesMax: 4096, pendingBytesMax: 1 << 20 };

async function openOrRefuse(disk: FaultyMemoryDisk): Promise<Uint8Array[] | null> {
  try {
    const { wal, records } = await Wal.open(disk, DIR, OPTS);
    records.forEach((r, i) => expect(r.lsn).toBe(records[0].lsn + i));
    await wal.close();
    return records.map((r) => r.payload.slice());
  } catch (e) {
    if (!(e instanceof JadeError) || e.code !== 'JADE_ERR_STORAGE') throw e;
    return null;
  }
}

async function writeValidLog(payloads: Uint8Array[]): Promise<FaultyMemoryDisk> {
  const disk = new FaultyMemoryDisk();
  const { wal } = await Wal.open(disk, DIR, OPTS);
  for (const p of payloads) await wal.append(p);
  await wal.close();
  return disk;
}

function expectPrefix(got: Uint8Array[], written: Uint8Array[]): void {
  expect(got.length).toBeLessThanOrEqual(written.length);
  got.forEach((g, i) => expect(g).toEqual(written[i]));
}

const payloadsArb = fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 12 });

describe('WAL replay fuzz', () => {
  it('segment files of random bytes: open replays consecutive records or throws JadeError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 50 }), fc.uint8Array({ maxLength: 600 })), { minLength: 1, maxLength: 3 }),
        async (files) => {
          const disk = new FaultyMemoryDisk();
          await disk.mkdirp(DIR);
          for (const [lsn, bytes] of files) {
            const f = await disk.open(path.join(DIR, `${String(lsn + 1).padStart(20, '0')}.wal`), 'create');
            await f.write(bytes, 0);
            await f.sync();
          }
          await disk.syncDir(DIR);
          await openOrRefuse(disk);
          const repaired = await repairWal(disk, DIR);
          if (repaired) expect(repaired.file.startsWith(DIR)).toBe(true);
          expect(await openOrRefuse(disk)).not.toBeNull();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a valid log with a random tail appended replays exactly the valid records', async () => {
    await fc.assert(
      fc.asyncProperty(payloadsArb, fc.uint8Array({ minLength: 1, maxLength: 300 }), async (payloads, tail) => {
        const disk = await writeValidLog(payloads);
        const names = await disk.list(DIR);
        const last = path.join(DIR, names.at(-1)!);
        disk.corrupt(last, await disk.statSize(last), tail);
        expect(await openOrRefuse(disk)).toEqual(payloads);
      }),
      { numRuns: 200 },
    );
  });

  it('random byte edits: a prefix replays or open refuses; after repair a prefix always replays', async () => {
    await fc.assert(
      fc.asyncProperty(
        payloadsArb,
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        async (payloads, edits) => {
          const disk = await writeValidLog(payloads);
          const names = await disk.list(DIR);
          for (const [fileIdx, pos, value] of edits) {
            const file = path.join(DIR, names[fileIdx % names.length]);
            const size = await disk.statSize(file);
            disk.corrupt(file, pos % size, new Uint8Array([value]));
          }
          const got = await openOrRefuse(disk);
          if (got) expectPrefix(got, payloads);
          await repairWal(disk, DIR);
          const after = await openOrRefuse(disk);
          expect(after).not.toBeNull();
          expectPrefix(after!, payloads);
        },
      ),
      { numRuns: 300 },
    );
  });
});
