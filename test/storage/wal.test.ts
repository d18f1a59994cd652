// Checks the WAL on the fault-injecting in-memory disk (and once on the real file system): records
// round-trip, concurrent appends share fsyncs, torn tails after crashes are cut, mid-log corruption
// is refused with file + offset and repairable, and EIO / ENOSPC / short writes never acknowledge
// a write nor let an unacknowledged record replay later.
import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs/promises';
import { FaultyMemoryDisk, RealDisk } from '../../node/src/storage/disk.js';
import { Wal, repairWal, type WalOptions } from '../../node/src/storage/wal.js';
import { JadeError } from '../../node/src/util/errors.js';

const DIR = '/data/shard-1/wal';
const OPTS: WalOptions = { segmentSizeBytesMax: 64 * 1024, recordSizeBytesMax: 16 * 1024, pendingBytesMax: 1024 * 1024 };
const SEGMENT_HEADER_BYTES = 20;
const RECORD_HEADER_BYTES = 20;

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<JadeError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JadeError);
  expect((e as JadeError).code).toBe(code);
  return e as JadeError;
}

async function reopen(disk: FaultyMemoryDisk, opts: WalOptions = OPTS) {
  const r = await Wal.open(disk, DIR, opts);
  return { wal: r.wal, texts: r.records.map((x) => dec(x.payload)), lsns: r.records.map((x) => x.lsn) };
}

describe('WAL basics', () => {
  it('stores a prefix and a body as one record, and counts the prefix against recordSizeBytesMax', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    const lsns = await Promise.all([wal.append(enc('body-a'), enc('head:')), wal.append(enc('plain')), wal.append(enc('body-b'), enc(''))]);
    expect(lsns).toEqual([1, 2, 3]);
    await expectCode(wal.append(new Uint8Array(OPTS.recordSizeBytesMax - 2), new Uint8Array(3)), 'JADE_ERR_BATCH_TOO_LARGE');
    await wal.close();
    const r = await reopen(disk);
    expect(r.texts).toEqual(['head:body-a', 'plain', 'body-b']);
    await r.wal.close();
  });

  it('round-trips records with consecutive LSNs across close/reopen and continues numbering', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal, records } = await Wal.open(disk, DIR, OPTS);
    expect(records).toEqual([]);
    expect(wal.lastLsn()).toBe(0);
    const lsns: number[] = [];
    for (let i = 0; i < 20; i++) lsns.push(await wal.append(enc(`rec-${i}`)));
    expect(lsns).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(wal.lastLsn()).toBe(20);
    await wal.close();
    await expectCode(wal.append(enc('late')), 'JADE_ERR_STORAGE');

    const r = await reopen(disk);
    expect(r.texts).toEqual(Array.from({ length: 20 }, (_, i) => `rec-${i}`));
    expect(r.lsns).toEqual(lsns);
    expect(await r.wal.append(enc('next'))).toBe(21);
    await r.wal.close();
  });

  it('group commit: 200 concurrent appends share a handful of fsyncs and keep call order', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    const syncsBefore = disk.stats.fileSyncs;
    const lsns = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(enc(`c-${i}`))));
    const syncs = disk.stats.fileSyncs - syncsBefore;
    expect(lsns).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(2);
    await wal.close();
    const r = await reopen(disk);
    expect(r.texts[199]).toBe('c-199');
  });

  it('group commit with a delay gathers appends issued over several ticks into one fsync', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, { ...OPTS, groupCommitMaxDelayMs: 300 });
    const syncsBefore = disk.stats.fileSyncs;
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      pending.push(wal.append(enc(`d-${i}`)));
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(disk.stats.fileSyncs - syncsBefore).toBe(1);
    await wal.close();
  });

  it('an append resolves only after its record is durable (a crash before the fsync loses it, unacknowledged)', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.append(enc('acked'));
    const release = disk.holdSyncs();
    let settled = false;
    const p = wal.append(enc('in-flight')).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    disk.crash();
    release();
    await expectCode(p, 'JADE_ERR_STORAGE');
    const r = await reopen(disk);
    expect(r.texts).toEqual(['acked']);
  });

  it('limits: oversized record → JADE_ERR_BATCH_TOO_LARGE, past pendingBytesMax → JADE_ERR_QUEUE_FULL', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, { ...OPTS, recordSizeBytesMax: 1000, pendingBytesMax: 1500 });
    await expectCode(wal.append(new Uint8Array(1001)), 'JADE_ERR_BATCH_TOO_LARGE');
    const first = wal.append(new Uint8Array(1000));
    await expectCode(wal.append(new Uint8Array(600)), 'JADE_ERR_QUEUE_FULL');
    const small = wal.append(new Uint8Array(400));
    expect(await first).toBe(1);
    expect(await small).toBe(2);
    // Once drained, the queue accepts again.
    expect(await wal.append(new Uint8Array(1000))).toBe(3);
    await wal.close();
  });

  it('rolls segments at segmentSizeBytesMax, replays across them, and truncateBefore drops only whole segments below the LSN', async () => {
    const disk = new FaultyMemoryDisk();
    const opts = { ...OPTS, segmentSizeBytesMax: 300 };
    const { wal } = await Wal.open(disk, DIR, opts);
    for (let i = 1; i <= 50; i++) await wal.append(enc(`r${String(i).padStart(3, '0')}-${'x'.repeat(30)}`));
    const names = await disk.list(DIR);
    expect(names.length).toBeGreaterThan(5);
    expect(names[0]).toBe('00000000000000000001.wal');
    for (const n of names) expect(await disk.statSize(path.join(DIR, n))).toBeLessThanOrEqual(300);
    expect(wal.sizeBytes()).toBe((await Promise.all(names.map((n) => disk.statSize(path.join(DIR, n))))).reduce((a, b) => a + b, 0));

    await wal.truncateBefore(30);
    const left = await disk.list(DIR);
    expect(left.length).toBeLessThan(names.length);
    const firstLeft = Number(left[0].slice(0, 20));
    expect(firstLeft).toBeLessThanOrEqual(30);
    // The segment before the first kept one held only LSNs < 30.
    const droppedNext = names.indexOf(left[0]);
    expect(droppedNext).toBeGreaterThan(0);
    expect(wal.firstLsn()).toBe(firstLeft);
    await wal.close();

    const r = await reopen(disk, opts);
    expect(r.lsns[0]).toBe(firstLeft);
    expect(r.lsns.at(-1)).toBe(50);
    expect(r.texts.at(-1)).toMatch(/^r050-/);
    // truncateBefore never removes the active segment, even past the end.
    await r.wal.truncateBefore(1000);
    expect((await disk.list(DIR)).length).toBe(1);
    expect(await r.wal.append(enc('after'))).toBe(51);
    await r.wal.close();
    const again = await reopen(disk, opts);
    expect(again.texts.at(-1)).toBe('after');
    await again.wal.close();
  });

  it('open with lastLsnAtLeast past the end of the log (log behind a checkpoint) continues numbering after it', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.append(enc('covered-by-checkpoint'));
    await wal.close();
    // Log ahead of the checkpoint: nothing changes.
    let r = await Wal.open(disk, DIR, OPTS, { lastLsnAtLeast: 1 });
    expect(r.records.length).toBe(1);
    await r.wal.close();
    // Log behind the checkpoint (e.g. after a repair cut it): numbering jumps past the checkpoint.
    r = await Wal.open(disk, DIR, OPTS, { lastLsnAtLeast: 40 });
    expect(r.records).toEqual([]);
    expect(r.wal.lastLsn()).toBe(40);
    expect(await r.wal.append(enc('new'))).toBe(41);
    await r.wal.close();
    const again = await reopen(disk);
    expect(again.lsns).toEqual([41]);
    await again.wal.close();
  });

  it('reset(nextLsn) drops the log and continues at nextLsn; a reset interrupted after its BASE segment completes on reopen', async () => {
    const disk = new FaultyMemoryDisk();
    const opts = { ...OPTS, segmentSizeBytesMax: 200 };
    const { wal } = await Wal.open(disk, DIR, opts);
    for (let i = 0; i < 10; i++) await wal.append(enc(`old-${i}-${'y'.repeat(40)}`));
    expect((await disk.list(DIR)).length).toBeGreaterThan(2);
    await wal.reset(1000);
    expect(await wal.append(enc('new'))).toBe(1000);
    await wal.close();
    let r = await reopen(disk, opts);
    expect(r.lsns).toEqual([1000]);
    await r.wal.close();

    // Interrupted: the unlink of old segments fails after the BASE segment is durable.
    const { wal: w2 } = await Wal.open(disk, DIR, opts);
    for (let i = 0; i < 5; i++) await w2.append(enc(`more-${i}-${'z'.repeat(60)}`));
    disk.inject({ op: 'unlink', code: 'EIO', times: 1 });
    await expectCode(w2.reset(5000), 'JADE_ERR_STORAGE');
    await expectCode(w2.append(enc('refused')), 'JADE_ERR_STORAGE');
    disk.crash();
    r = await reopen(disk, opts);
    expect(r.lsns).toEqual([]);
    expect(r.wal.lastLsn()).toBe(4999);
    expect(await r.wal.append(enc('x'))).toBe(5000);
    expect((await disk.list(DIR)).length).toBe(1);
    await r.wal.close();
  });
});

describe('WAL reads and suffix truncation (for use as a Raft log)', () => {
  const opts = { ...OPTS, segmentSizeBytesMax: 200 };
  const body = (i: number) => `entry-${String(i).padStart(3, '0')}-${'e'.repeat(i % 17)}`;

  async function filled(n: number) {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, opts);
    for (let i = 1; i <= n; i++) await wal.append(enc(body(i)));
    return { disk, wal };
  }

  it('read returns durable records from an LSN across segments, bounded by maxBytes', async () => {
    const { disk, wal } = await filled(30);
    expect((await disk.list(DIR)).length).toBeGreaterThan(3);
    const all = await wal.read(1, Infinity);
    expect(all.map((r) => r.lsn)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(all.map((r) => dec(r.payload))).toEqual(Array.from({ length: 30 }, (_, i) => body(i + 1)));
    expect((await wal.read(5, 1)).map((r) => r.lsn)).toEqual([5]);
    const some = await wal.read(10, 40);
    expect(some[0].lsn).toBe(10);
    expect(some.length).toBeGreaterThan(1);
    expect(some.length).toBeLessThan(21);
    expect(await wal.read(31, 1000)).toEqual([]);
    await wal.truncateBefore(20);
    await expectCode(wal.read(1, 10), 'JADE_ERR_NOT_FOUND');
    expect((await wal.read(20, Infinity)).map((r) => r.lsn).at(-1)).toBe(30);
    await wal.close();
  });

  it('read re-checks CRCs: bit rot after open is reported with file and offset', async () => {
    const { disk, wal } = await filled(3);
    const file = path.join(DIR, '00000000000000000001.wal');
    disk.corrupt(file, SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 1, enc('?'));
    const e = await expectCode(wal.read(1, 10), 'JADE_ERR_STORAGE');
    expect(e.message).toContain(`${file} offset ${SEGMENT_HEADER_BYTES}`);
    await wal.close();
  });

  it('truncateAfter drops the suffix durably (mid-segment, at a segment boundary, everything) and appends continue after it', async () => {
    const { disk, wal } = await filled(30);
    await wal.truncateAfter(17);
    expect(wal.lastLsn()).toBe(17);
    expect(await wal.append(enc('replaced-18'))).toBe(18);
    disk.crash();
    let r = await reopen(disk, opts);
    expect(r.lsns).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(r.texts.at(-1)).toBe('replaced-18');
    expect(r.texts[16]).toBe(body(17));

    // At a segment boundary: cut right before the first LSN of the last segment.
    const names = await disk.list(DIR);
    const lastFirst = Number(names.at(-1)!.slice(0, 20));
    await r.wal.truncateAfter(lastFirst - 1);
    expect(await r.wal.append(enc('boundary'))).toBe(lastFirst);
    await r.wal.close();
    r = await reopen(disk, opts);
    expect(r.lsns.at(-1)).toBe(lastFirst);
    expect(r.texts.at(-1)).toBe('boundary');

    // Past the end: nothing happens. Down to 0: the log is empty and numbering restarts at 1.
    await r.wal.truncateAfter(1000);
    expect(r.wal.lastLsn()).toBe(lastFirst);
    await r.wal.truncateAfter(0);
    expect(await r.wal.read(1, 10)).toEqual([]);
    expect(await r.wal.append(enc('first-again'))).toBe(1);
    disk.crash();
    r = await reopen(disk, opts);
    expect(r.texts).toEqual(['first-again']);
  });
});

describe('WAL recovery', () => {
  it('torn tail after a crash mid-write is truncated: exactly the acknowledged records replay (30 seeded crashes)', async () => {
    let tornCount = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = seeded(seed);
      const disk = new FaultyMemoryDisk();
      const { wal } = await Wal.open(disk, DIR, OPTS);
      const acked: string[] = [];
      const n = 1 + Math.floor(rnd() * 10);
      for (let i = 0; i < n; i++) {
        const t = `s${seed}-${i}-${'p'.repeat(Math.floor(rnd() * 200))}`;
        await wal.append(enc(t));
        acked.push(t);
      }
      const release = disk.holdSyncs();
      const inflight = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) => wal.append(enc(`unacked-${i}-${'q'.repeat(300)}`)));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      disk.crash({ random: rnd, garbleTornTail: true });
      release();
      for (const p of inflight) await expectCode(p, 'JADE_ERR_STORAGE');

      const r = await reopen(disk);
      // Every acknowledged record, then possibly some unacknowledged ones that happened to reach
      // the disk whole (their ack was lost, as with any crash), in order, and never a partial one.
      expect(r.texts.slice(0, n), `seed ${seed}`).toEqual(acked);
      const extra = r.texts.slice(n);
      extra.forEach((t, i) => expect(t).toBe(`unacked-${i}-${'q'.repeat(300)}`));
      tornCount += extra.length < inflight.length ? 1 : 0;
      const file = path.join(DIR, '00000000000000000001.wal');
      // The tail is cut on open, so the next append lands right after the last good record.
      expect(await r.wal.append(enc('after-crash'))).toBe(r.texts.length + 1);
      await r.wal.close();
      expect(await disk.statSize(file)).toBe(r.wal.sizeBytes());
      const again = await reopen(disk);
      expect(again.texts).toEqual([...r.texts, 'after-crash']);
    }
    // Most seeds really did tear a record (the test exercises the cut, not only clean ends).
    expect(tornCount).toBeGreaterThan(15);
  });

  it('a partial record header or payload at the end is cut, not reported', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.append(enc('one'));
    await wal.append(enc('two'));
    await wal.close();
    const file = path.join(DIR, '00000000000000000001.wal');
    const size = await disk.statSize(file);
    disk.corrupt(file, size, new Uint8Array([9, 9, 9, 9, 9, 9, 9]));
    const r = await reopen(disk);
    expect(r.texts).toEqual(['one', 'two']);
    expect(await disk.statSize(file)).toBe(size);
    await r.wal.close();
  });

  it('a bad CRC followed by valid records refuses to open, naming file and offset; repairWal keeps the prefix', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    const texts = Array.from({ length: 10 }, (_, i) => `record-${i}`);
    for (const t of texts) await wal.append(enc(t));
    await wal.close();
    const file = path.join(DIR, '00000000000000000001.wal');
    // Record i starts at header + i * (20 + 8); flip a payload byte of record index 3 (LSN 4).
    const recordBytes = RECORD_HEADER_BYTES + 8;
    const badOffset = SEGMENT_HEADER_BYTES + 3 * recordBytes;
    disk.corrupt(file, badOffset + RECORD_HEADER_BYTES + 2, enc('#'));

    const e = await expectCode(Wal.open(disk, DIR, OPTS), 'JADE_ERR_STORAGE');
    expect(e.message).toContain(`corrupt WAL record at ${file} offset ${badOffset}`);
    expect(e.details).toMatchObject({ file, offset: badOffset });
    // Refusing to open changed nothing.
    expect(await disk.statSize(file)).toBe(SEGMENT_HEADER_BYTES + 10 * recordBytes);

    const repaired = await repairWal(disk, DIR);
    expect(repaired).toEqual({ keptRecords: 3, droppedBytes: 7 * recordBytes, file, offset: badOffset });
    expect(await repairWal(disk, DIR)).toBeNull();
    const r = await reopen(disk);
    expect(r.texts).toEqual(texts.slice(0, 3));
    expect(await r.wal.append(enc('fresh'))).toBe(4);
    await r.wal.close();
  });

  it('damage inside the last group (written by one write, one fsync) counts as a torn write: the group is cut', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.append(enc('alone-1'));
    await Promise.all(['g-0', 'g-1', 'g-2', 'g-3'].map((t) => wal.append(enc(t))));
    await wal.close();
    const file = path.join(DIR, '00000000000000000001.wal');
    // Damage g-1 (the group's second record); g-2 and g-3 after it are valid but of the same group.
    const g1Offset = SEGMENT_HEADER_BYTES + (RECORD_HEADER_BYTES + 'alone-1'.length) + (RECORD_HEADER_BYTES + 'g-0'.length);
    disk.corrupt(file, g1Offset + RECORD_HEADER_BYTES + 1, enc('#'));
    const r = await reopen(disk);
    expect(r.texts).toEqual(['alone-1', 'g-0']);
    await r.wal.close();
  });

  it('corruption in a non-last segment is refused even at that segment\'s end; repair drops later segments', async () => {
    const disk = new FaultyMemoryDisk();
    const opts = { ...OPTS, segmentSizeBytesMax: 150 };
    const { wal } = await Wal.open(disk, DIR, opts);
    for (let i = 0; i < 12; i++) await wal.append(enc(`seg-${String(i).padStart(2, '0')}-${'w'.repeat(20)}`));
    await wal.close();
    const names = await disk.list(DIR);
    expect(names.length).toBeGreaterThanOrEqual(3);
    const first = path.join(DIR, names[0]);
    const size = await disk.statSize(first);
    disk.corrupt(first, size - 1, enc('!')); // last byte of the last record of segment 1
    const e = await expectCode(Wal.open(disk, DIR, opts), 'JADE_ERR_STORAGE');
    expect(e.message).toContain(first);
    const rep = await repairWal(disk, DIR);
    expect(rep?.file).toBe(first);
    expect(await disk.list(DIR)).toEqual([names[0]]);
    const r = await reopen(disk, opts);
    expect(r.lsns).toEqual(Array.from({ length: rep!.keptRecords }, (_, i) => i + 1));
    await r.wal.close();
  });

  it('a missing middle segment is reported as corruption at the next segment', async () => {
    const disk = new FaultyMemoryDisk();
    const opts = { ...OPTS, segmentSizeBytesMax: 150 };
    const { wal } = await Wal.open(disk, DIR, opts);
    for (let i = 0; i < 12; i++) await wal.append(enc(`gap-${i}-${'v'.repeat(24)}`));
    await wal.close();
    const names = await disk.list(DIR);
    await disk.unlink(path.join(DIR, names[1]));
    await disk.syncDir(DIR);
    const e = await expectCode(Wal.open(disk, DIR, opts), 'JADE_ERR_STORAGE');
    expect(e.message).toContain(`${path.join(DIR, names[2])} offset 0`);
  });

  it('a damaged header of a segment holding records is corruption, even for a log that starts at a high LSN', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.reset(1_000_000);
    await wal.append(enc('precious'));
    await wal.close();
    const file = path.join(DIR, '00000000000000001000000.wal'.slice(-24));
    expect(await disk.list(DIR)).toEqual([path.basename(file)]);
    disk.corrupt(file, 0, enc('X'));
    const e = await expectCode(Wal.open(disk, DIR, OPTS), 'JADE_ERR_STORAGE');
    expect(e.message).toContain(`${file} offset 0`);
  });

  it('a crash while creating a new segment (torn header) loses nothing acknowledged', async () => {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    await wal.append(enc('a'));
    await wal.close();
    // What a crash during rollover can leave: the next segment's name with a partial header.
    const next = path.join(DIR, '00000000000000000002.wal');
    const f = await disk.open(next, 'create');
    await f.write(new Uint8Array([0x4a, 0x57, 0x41]), 0);
    await f.sync();
    await disk.syncDir(DIR);
    const r = await reopen(disk);
    expect(r.texts).toEqual(['a']);
    expect(await disk.exists(next)).toBe(false);
    expect(await r.wal.append(enc('b'))).toBe(2);
    await r.wal.close();
  });
});

describe('WAL under disk faults', () => {
  async function setup() {
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, OPTS);
    for (let i = 0; i < 3; i++) await wal.append(enc(`ok-${i}`));
    return { disk, wal };
  }

  it('fsync EIO: every append in the group rejects with JADE_ERR_STORAGE, none replays, later appends work', async () => {
    const { disk, wal } = await setup();
    disk.failNextSync('EIO');
    const group = [wal.append(enc('lost-1')), wal.append(enc('lost-2')), wal.append(enc('lost-3'))];
    for (const p of group) {
      const e = await expectCode(p, 'JADE_ERR_STORAGE');
      expect(e.message).toContain('EIO');
    }
    expect(wal.lastLsn()).toBe(3);
    // The fault cleared (it hit once): the WAL goes on with the next LSN.
    expect(await wal.append(enc('ok-3'))).toBe(4);
    // Without a clean close: what survives a crash is exactly the acknowledged records.
    disk.crash();
    const r = await reopen(disk);
    expect(r.texts).toEqual(['ok-0', 'ok-1', 'ok-2', 'ok-3']);
  });

  it('fsync EIO then a successful fsync never makes the failed record durable (fsyncgate)', async () => {
    const { disk, wal } = await setup();
    disk.failNextSync('EIO');
    await expectCode(wal.append(enc('failed-once')), 'JADE_ERR_STORAGE');
    await wal.close(); // close has nothing pending to sync; reopen sees only durable state
    disk.crash();
    const r = await reopen(disk);
    expect(r.texts).not.toContain('failed-once');
    expect(r.texts).toEqual(['ok-0', 'ok-1', 'ok-2']);
  });

  it('ENOSPC on write: appends reject while the disk is full, then recover when space returns', async () => {
    const { disk, wal } = await setup();
    disk.failWrites('ENOSPC');
    const e = await expectCode(wal.append(enc('no-space')), 'JADE_ERR_STORAGE');
    expect(e.message).toContain('ENOSPC');
    await expectCode(wal.append(enc('still-no-space')), 'JADE_ERR_STORAGE');
    disk.clearFaults();
    expect(await wal.append(enc('space-again'))).toBe(4);
    disk.crash();
    const r = await reopen(disk);
    expect(r.texts).toEqual(['ok-0', 'ok-1', 'ok-2', 'space-again']);
  });

  it('short write followed by ENOSPC: rejected, the partial record is cut, nothing half-written replays', async () => {
    const { disk, wal } = await setup();
    disk.shortWriteNext(10, 'ENOSPC');
    await expectCode(wal.append(enc('half-written-record')), 'JADE_ERR_STORAGE');
    const size = await disk.statSize(path.join(DIR, '00000000000000000001.wal'));
    expect(size).toBe(wal.sizeBytes());
    // Recovery needs no crash: reopening in place sees only the acknowledged records too.
    await wal.close();
    const r = await reopen(disk);
    expect(r.texts).toEqual(['ok-0', 'ok-1', 'ok-2']);
    expect(await r.wal.append(enc('next'))).toBe(4);
    await r.wal.close();
  });

  it('records with large bodies (written in place, several writes per group) survive faults and torn crashes like small ones', async () => {
    const opts: WalOptions = { ...OPTS, recordSizeBytesMax: 1 << 20, segmentSizeBytesMax: 4 << 20 };
    const big = (seed: number) => Uint8Array.from({ length: 100_000 }, (_, i) => (i * 31 + seed) & 0xff);
    const disk = new FaultyMemoryDisk();
    const { wal } = await Wal.open(disk, DIR, opts);
    // One group: small, big (with a prefix), small, big: four records, five chunks, one fsync.
    expect(await Promise.all([wal.append(enc('s1')), wal.append(big(1), enc('p:')), wal.append(enc('s2')), wal.append(big(2))])).toEqual([1, 2, 3, 4]);
    // A failed write in such a group: nothing of the group is acknowledged, the segment is cut back.
    disk.inject({ op: 'write', code: 'EIO', times: 1 });
    await expectCode(Promise.all([wal.append(enc('lost-1')), wal.append(big(3))]), 'JADE_ERR_STORAGE');
    disk.clearFaults();
    expect(await wal.append(big(4))).toBe(5);
    // A group whose fsync never happens is lost or cut at a crash, never half-replayed.
    const release = disk.holdSyncs();
    const unsynced = wal.append(big(5));
    await new Promise((r) => setTimeout(r, 10));
    disk.crash({ random: seeded(3) });
    release();
    await unsynced.catch(() => undefined);
    const r = await Wal.open(disk, DIR, opts);
    expect(r.records.map((x) => x.lsn)).toEqual([1, 2, 3, 4, 5]);
    const payloads = r.records.map((x) => Buffer.from(x.payload));
    expect(payloads[0].toString()).toBe('s1');
    expect(payloads[1].equals(Buffer.concat([enc('p:'), big(1)]))).toBe(true);
    expect(payloads[2].toString()).toBe('s2');
    expect(payloads[3].equals(Buffer.from(big(2)))).toBe(true);
    expect(payloads[4].equals(Buffer.from(big(4)))).toBe(true);
    await r.wal.close();
  });

  it('a short write without an error is completed by retrying the rest', async () => {
    const { disk, wal } = await setup();
    disk.shortWriteNext(5);
    expect(await wal.append(enc('written-in-two-parts'))).toBe(4);
    disk.crash();
    const r = await reopen(disk);
    expect(r.texts.at(-1)).toBe('written-in-two-parts');
  });

  it('when the cut-back after a failure also fails, the WAL refuses appends until reopened; acknowledged data survives', async () => {
    const { disk, wal } = await setup();
    disk.failNextSync('EIO');
    disk.inject({ op: 'truncate', code: 'EIO' });
    await expectCode(wal.append(enc('x')), 'JADE_ERR_STORAGE');
    disk.clearFaults();
    const e = await expectCode(wal.append(enc('y')), 'JADE_ERR_STORAGE');
    expect(e.message).toMatch(/reopen/);
    await wal.close();
    disk.crash();
    const r = await reopen(disk);
    expect(r.texts).toEqual(['ok-0', 'ok-1', 'ok-2']);
    expect(await r.wal.append(enc('works'))).toBe(4);
    await r.wal.close();
  });

  it('a failed segment rollover rejects the group and leaves no half-made segment behind', async () => {
    const disk = new FaultyMemoryDisk();
    const opts = { ...OPTS, segmentSizeBytesMax: 100 };
    const { wal } = await Wal.open(disk, DIR, opts);
    await wal.append(new Uint8Array(60));
    disk.inject({ op: 'syncDir', code: 'EIO' });
    await expectCode(wal.append(new Uint8Array(60)), 'JADE_ERR_STORAGE');
    expect(await disk.list(DIR)).toEqual(['00000000000000000001.wal']);
    expect(await wal.append(new Uint8Array(60))).toBe(2);
    expect(await disk.list(DIR)).toEqual(['00000000000000000001.wal', '00000000000000000002.wal']);
    await wal.close();
    disk.crash();
    const r = await reopen(disk, opts);
    expect(r.lsns).toEqual([1, 2]);
  });
});

describe('WAL on the real file system', () => {
  it('round-trips through RealDisk and reports group-commit throughput', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'jade-wal-'));
    try {
      const disk = new RealDisk();
      const { wal } = await Wal.open(disk, dir, { ...OPTS, segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 64 << 20 });
      const payload = new Uint8Array(784 * 4 * 10).fill(7); // ten 784-dim vectors per record
      const t0 = performance.now();
      const lsns = await Promise.all(Array.from({ length: 300 }, () => wal.append(payload)));
      const ms = performance.now() - t0;
      console.log(`real-disk WAL: 300 x ${payload.length} B appends in ${ms.toFixed(0)} ms (${((300 * payload.length) / 1e6 / (ms / 1000)).toFixed(0)} MB/s durable)`);
      expect(lsns.at(-1)).toBe(300);
      await wal.close();
      const r = await Wal.open(disk, dir, OPTS);
      expect(r.records.length).toBe(300);
      expect(r.records[299].payload).toEqual(payload);
      expect((await fs.readdir(dir)).filter((n) => n.endsWith('.wal')).length).toBeGreaterThan(1);
      await r.wal.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
