// Fuzzes WAL replay with fast-check on the in-memory disk: segment files of random bytes, valid
// logs with random tails, and valid logs with random byte edits. Opening must either replay a
// prefix of what was written (never an altered or reordered record) or throw
// JadeError(JADE_ERR_STORAGE); after repairWal() it must always open with a prefix. A model-based
// property runs random sequences of appends, failed appends, truncations, reads and crashes and
// compares the WAL with a plain array after every step.
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

type Op =
  | { t: 'append'; sizes: number[] }
  | { t: 'failedAppend'; fault: 'sync' | 'write' | 'short'; count: number }
  | { t: 'truncateAfter'; back: number }
  | { t: 'truncateBefore'; at: number }
  | { t: 'read'; from: number; maxBytes: number }
  | { t: 'crash' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('append' as const), sizes: fc.array(fc.nat({ max: 90 }), { minLength: 1, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('failedAppend' as const), fault: fc.constantFrom('sync' as const, 'write' as const, 'short' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('truncateAfter' as const), back: fc.nat({ max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('truncateBefore' as const), at: fc.nat({ max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('read' as const), from: fc.nat({ max: 60 }), maxBytes: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const) }) },
);

describe('WAL model-based property', () => {
  it('random appends, faults, truncations, reads and crashes agree with an array model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const disk = new FaultyMemoryDisk();
        let { wal } = await Wal.open(disk, DIR, OPTS);
        // model[i] is the payload of LSN i + 1 (LSNs below the WAL's firstLsn may be truncated away).
        const model: string[] = [];
        let counter = 0;
        const check = async () => {
          expect(wal.lastLsn()).toBe(model.length);
          const first = wal.firstLsn();
          const got = await wal.read(first, Infinity);
          expect(got.map((r) => new TextDecoder().decode(r.payload))).toEqual(model.slice(first - 1));
        };
        for (const op of ops) {
          switch (op.t) {
            case 'append': {
              const texts = op.sizes.map((n) => `${counter++}:${'a'.repeat(n)}`);
              const lsns = await Promise.all(texts.map((t) => wal.append(new TextEncoder().encode(t))));
              expect(lsns).toEqual(texts.map((_, i) => model.length + i + 1));
              model.push(...texts);
              break;
            }
            case 'failedAppend': {
              if (op.fault === 'sync') disk.failNextSync('EIO');
              else if (op.fault === 'write') disk.failWrites('ENOSPC');
              else disk.shortWriteNext(7, 'ENOSPC');
              const results = await Promise.allSettled(Array.from({ length: op.count }, (_, i) => wal.append(new TextEncoder().encode(`failed-${counter}-${i}`))));
              disk.clearFaults();
              for (const r of results) {
                expect(r.status).toBe('rejected');
                expect((r as PromiseRejectedResult).reason).toBeInstanceOf(JadeError);
              }
              break;
            }
            case 'truncateAfter': {
              const lsn = Math.max(wal.firstLsn() - 1, model.length - op.back);
              await wal.truncateAfter(lsn);
              model.length = Math.min(model.length, lsn);
              break;
            }
            case 'truncateBefore':
              await wal.truncateBefore(op.at);
              expect(wal.firstLsn()).toBeLessThanOrEqual(Math.max(op.at, 1, model.length + 1));
              break;
            case 'read': {
              if (op.from < wal.firstLsn()) {
                await expect(wal.read(op.from, op.maxBytes)).rejects.toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
                break;
              }
              const got = await wal.read(op.from, op.maxBytes);
              const expected = model.slice(op.from - 1);
              if (expected.length > 0) expect(got.length).toBeGreaterThan(0);
              expect(got.map((r) => new TextDecoder().decode(r.payload))).toEqual(expected.slice(0, got.length));
              break;
            }
            case 'crash': {
              disk.crash();
              const r = await Wal.open(disk, DIR, OPTS);
              wal = r.wal;
              if (r.records.length > 0) {
                expect(r.records.map((x) => new TextDecoder().decode(x.payload))).toEqual(model.slice(r.records[0].lsn - 1));
              } else {
                expect(wal.firstLsn()).toBe(model.length + 1);
              }
              break;
            }
          }
          await check();
        }
        await wal.close();
      }),
      { numRuns: 150 },
    );
  });
});
