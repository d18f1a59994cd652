// Write-ahead log: numbered records (LSN 1, 2, ...) in segment files, one CRC32C per record, and
// group commit: concurrent appends share one write + one fsync, and an append resolves only after
// its record is durable.
//
// Files: <dir>/<firstLsn, 20 digits>.wal. Segment header (20 bytes, little-endian):
//   magic 'JWAL' u32 | flags u32 (bit 0 BASE: every older segment is obsolete) | firstLsn u64 | crc32c of the 16 bytes before
// Record (20-byte header + payload):
//   crc32c u32 (of everything after it) | payload length u32 | lsn u64 | index in its group u32 | payload
//
// Recovery: records are written one group (its writes, then one fsync) at a time, and the next group
// is written only after the previous one is durable. So a bad record in the last segment that is
// followed by nothing valid, or only by records of its own group, is a torn write of the last
// group (never acknowledged: acks follow the fsync; the disk may have written its pages in any
// order) and is cut away. A bad record followed by a valid record of a later group, or in any
// but the last segment (segments roll only once fully synced), is corruption: open refuses,
// naming file and offset, and repairWal() cuts the log there. (The blind spot: bit rot inside the
// last group looks like a torn write and is cut without an error.)
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { JadeError, assert, isJadeError } from '../util/errors.js';
import { readAt, writeAll, type Disk, type DiskFile } from './disk.js';

export interface WalOptions {
  /** A segment is closed and a new one started before it would grow past this (a single larger record gets a segment of its own). */
  segmentSizeBytesMax: number;
  /** After an append finds the WAL idle, wait this long before writing, to gather more records into the fsync. Default 0 (appends that arrive while a write+fsync is in flight form the next group anyway). */
  groupCommitMaxDelayMs?: number;
  /** Larger payloads are rejected with JADE_ERR_BATCH_TOO_LARGE. */
  recordSizeBytesMax: number;
  /** Payload bytes accepted but not yet durable; past it append rejects with JADE_ERR_QUEUE_FULL. */
  pendingBytesMax: number;
}

export interface WalOpenOptions {
  /**
   * LSN already covered elsewhere (the checkpoint's last applied LSN). If the log ends below it,
   * open resets the log to continue at lastLsnAtLeast + 1 (and returns no records: all of them
   * are covered).
   */
  lastLsnAtLeast?: number;
}

export interface WalRecord {
  lsn: number;
  payload: Uint8Array;
}

const SEGMENT_MAGIC = 0x4c41574a; // 'JWAL' read as little-endian u32
const SEGMENT_HEADER_BYTES = 20;
const RECORD_HEADER_BYTES = 20;
const FLAG_BASE = 1;
const SEGMENT_NAME = /^(\d{20})\.wal$/;

function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}.wal`;
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x100000000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
}

function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 0x100000000 + view.getUint32(offset, true);
}

function encodeSegmentHeader(firstLsn: number, flags: number): Uint8Array {
  const buf = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(buf.buffer);
  view.setUint32(0, SEGMENT_MAGIC, true);
  view.setUint32(4, flags, true);
  writeU64(view, 8, firstLsn);
  view.setUint32(16, crc32c(buf.subarray(0, 16)), true);
  return buf;
}

interface SegmentHeader {
  firstLsn: number;
  flags: number;
}

function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | null {
  if (bytes.length < SEGMENT_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) return null;
  if (view.getUint32(16, true) !== crc32c(bytes.subarray(0, 16))) return null;
  const flags = view.getUint32(4, true);
  if ((flags & ~FLAG_BASE) !== 0) return null;
  return { firstLsn: readU64(view, 8), flags };
}

/** A record's payload: its bytes, optionally after a small prefix (so callers need not concatenate). */
interface RecordPayload {
  prefix: Uint8Array | null;
  body: Uint8Array;
  /** prefix + body bytes. */
  length: number;
}

/** Bodies at least this large are written from where they are instead of being copied into the group's buffer. */
const BODY_IN_PLACE_BYTES_MIN = 64 * 1024;

/**
 * Encodes records (consecutive LSNs from firstLsn) as chunks to write one after the other: headers
 * and small payloads packed together, large bodies as they are (a 3 MiB Raft entry of vectors is
 * not copied again just to be written).
 */
function encodeRecords(firstLsn: number, payloads: RecordPayload[]): { chunks: Uint8Array[]; bytes: number } {
  let packed = 0;
  let bytes = 0;
  for (const p of payloads) {
    bytes += RECORD_HEADER_BYTES + p.length;
    packed += RECORD_HEADER_BYTES + (p.body.length >= BODY_IN_PLACE_BYTES_MIN ? p.length - p.body.length : p.length);
  }
  const buf = new Uint8Array(packed);
  const view = new DataView(buf.buffer);
  const chunks: Uint8Array[] = [];
  let chunkStart = 0;
  let off = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i];
    const start = off;
    view.setUint32(off + 4, p.length, true);
    writeU64(view, off + 8, firstLsn + i);
    view.setUint32(off + 16, i, true);
    off += RECORD_HEADER_BYTES;
    if (p.prefix) {
      buf.set(p.prefix, off);
      off += p.prefix.length;
    }
    view.setUint32(start, crc32c(p.body, crc32c(buf.subarray(start + 4, off))), true);
    if (p.body.length >= BODY_IN_PLACE_BYTES_MIN) {
      chunks.push(buf.subarray(chunkStart, off), p.body);
      chunkStart = off;
    } else {
      buf.set(p.body, off);
      off += p.body.length;
    }
  }
  if (off > chunkStart) chunks.push(buf.subarray(chunkStart, off));
  return { chunks, bytes };
}

/** Returns the record at offset if it is whole, has the expected LSN (when given) and a good CRC. */
function recordAt(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  expectedLsn: number | null,
): { lsn: number; indexInGroup: number; payload: Uint8Array; end: number } | null {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return null;
  const len = view.getUint32(offset + 4, true);
  const end = offset + RECORD_HEADER_BYTES + len;
  if (end > bytes.length) return null;
  const lsn = readU64(view, offset + 8);
  if (expectedLsn !== null && lsn !== expectedLsn) return null;
  if (view.getUint32(offset, true) !== crc32c(bytes.subarray(offset + 4, end))) return null;
  return { lsn, indexInGroup: view.getUint32(offset + 16, true), payload: bytes.subarray(offset + RECORD_HEADER_BYTES, end), end };
}

/**
 * Whether a valid record with an LSN in [minLsn, minLsn + what could still fit] starts after `from`
 * and belongs to a group that started after `groupAfterLsn` (null: any group). Cheap checks (LSN
 * range, length bound) run before the CRC, so scanning garbage stays linear.
 */
function validRecordAfter(bytes: Uint8Array, view: DataView, from: number, minLsn: number, groupAfterLsn: number | null): boolean {
  const maxLsn = minLsn + Math.floor((bytes.length - from) / RECORD_HEADER_BYTES) + 1;
  for (let p = from + 1; p + RECORD_HEADER_BYTES <= bytes.length; p++) {
    const lo = view.getUint32(p + 8, true);
    const hi = view.getUint32(p + 12, true);
    const lsn = hi * 0x100000000 + lo;
    if (lsn < minLsn || lsn > maxLsn) continue;
    const rec = recordAt(bytes, view, p, lsn);
    if (rec && (groupAfterLsn === null || rec.lsn - rec.indexInGroup > groupAfterLsn)) return true;
  }
  return false;
}

interface ScannedSegment {
  name: string;
  path: string;
  firstLsn: number;
  flags: number;
  /** Bytes on disk. */
  size: number;
  /** End of the last valid record (the header end when there is none). */
  validEnd: number;
  records: WalRecord[];
  /** Start offset of each record. */
  offsets: number[];
}

interface WalProblem {
  kind: 'torn-tail' | 'torn-header' | 'corrupt';
  segmentIndex: number;
  file: string;
  offset: number;
  reason: string;
}

interface WalScan {
  segments: ScannedSegment[];
  /** Older segments that a BASE segment made obsolete (an interrupted reset). */
  obsolete: string[];
  problem: WalProblem | null;
}

function storageError(message: string, cause: unknown, details?: Record<string, unknown>): JadeError {
  if (isJadeError(cause)) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new JadeError('JADE_ERR_STORAGE', `${message}${code ? `: ${code}` : cause instanceof Error ? `: ${cause.message}` : ''}`, {
    ...details,
    errno: code,
  });
}

async function scanWal(disk: Disk, dir: string): Promise<WalScan> {
  const names = (await disk.list(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
  const raw: { name: string; bytes: Uint8Array; header: SegmentHeader | null }[] = [];
  for (const name of names) {
    const bytes = await disk.readFile(path.join(dir, name));
    raw.push({ name, bytes, header: decodeSegmentHeader(bytes) });
  }
  // A BASE segment makes every older one obsolete (written by reset() before it deletes them).
  let baseIndex = 0;
  for (let i = raw.length - 1; i > 0; i--) {
    const h = raw[i].header;
    if (h && (h.flags & FLAG_BASE) !== 0 && Number(SEGMENT_NAME.exec(raw[i].name)![1]) === h.firstLsn) {
      baseIndex = i;
      break;
    }
  }
  const obsolete = raw.slice(0, baseIndex).map((r) => path.join(dir, r.name));
  const live = raw.slice(baseIndex);
  const segments: ScannedSegment[] = [];
  let expectedLsn: number | null = null;
  for (let i = 0; i < live.length; i++) {
    const { name, bytes, header } = live[i];
    const filePath = path.join(dir, name);
    const isLast = i === live.length - 1;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const nameLsn = Number(SEGMENT_NAME.exec(name)![1]);
    if (!header || header.firstLsn !== nameLsn) {
      // A crash while a new segment was being created leaves a short or partial header in the
      // last segment and nothing valid after it.
      // Records in a segment start at the LSN its name says.
      const torn = isLast && !validRecordAfter(bytes, view, 0, nameLsn, null);
      return {
        segments,
        obsolete,
        problem: { kind: torn ? 'torn-header' : 'corrupt', segmentIndex: i, file: filePath, offset: 0, reason: 'bad segment header' },
      };
    }
    if (expectedLsn !== null && header.firstLsn !== expectedLsn) {
      return {
        segments,
        obsolete,
        problem: { kind: 'corrupt', segmentIndex: i, file: filePath, offset: 0, reason: `segment starts at LSN ${header.firstLsn}, expected ${expectedLsn} (missing segment)` },
      };
    }
    const seg: ScannedSegment = { name, path: filePath, firstLsn: header.firstLsn, flags: header.flags, size: bytes.length, validEnd: SEGMENT_HEADER_BYTES, records: [], offsets: [] };
    segments.push(seg);
    let lsn = header.firstLsn;
    let offset = SEGMENT_HEADER_BYTES;
    while (offset < bytes.length) {
      const rec = recordAt(bytes, view, offset, lsn);
      if (!rec) {
        // Torn unless a later group follows (which was written only after this one was durable).
        const torn = isLast && !validRecordAfter(bytes, view, offset, lsn, lsn);
        return {
          segments,
          obsolete,
          problem: { kind: torn ? 'torn-tail' : 'corrupt', segmentIndex: i, file: filePath, offset, reason: 'bad record' },
        };
      }
      seg.records.push({ lsn: rec.lsn, payload: rec.payload });
      seg.offsets.push(offset);
      offset = rec.end;
      seg.validEnd = offset;
      lsn++;
    }
    expectedLsn = lsn;
  }
  return { segments, obsolete, problem: null };
}

function corruptError(p: WalProblem): JadeError {
  return new JadeError(
    'JADE_ERR_STORAGE',
    `corrupt WAL record at ${p.file} offset ${p.offset} (${p.reason}); \`jade repair\` keeps the records before it`,
    { file: p.file, offset: p.offset, reason: p.reason },
  );
}

interface Segment {
  name: string;
  path: string;
  firstLsn: number;
  /** Durable bytes (end of the last durable record). */
  sizeBytes: number;
  /** Start offset of each durable record: record i has LSN firstLsn + i. */
  offsets: number[];
}

interface PendingAppend {
  lsn: number;
  payload: RecordPayload;
  resolve: (lsn: number) => void;
  reject: (e: Error) => void;
}

export class Wal {
  private readonly segments: Segment[] = [];
  private active!: DiskFile;
  /** End of durable data in the active segment; every write starts here. */
  private writeOffset = 0;
  private nextLsn = 1;
  private durableLsn = 0;
  private queue: PendingAppend[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> | null = null;
  private failed: JadeError | null = null;
  private closed = false;

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly opts: WalOptions,
  ) {
    assert(opts.segmentSizeBytesMax > SEGMENT_HEADER_BYTES, 'segmentSizeBytesMax too small');
    assert(opts.recordSizeBytesMax > 0 && opts.pendingBytesMax > 0, 'WAL limits must be positive');
  }

  /**
   * Opens (or creates) the WAL in dir and returns every record in it, in LSN order. A torn tail is
   * truncated; corruption throws JADE_ERR_STORAGE naming file and offset.
   */
  static async open(disk: Disk, dir: string, opts: WalOptions, openOpts: WalOpenOptions = {}): Promise<{ wal: Wal; records: WalRecord[] }> {
    const wal = new Wal(disk, dir, opts);
    try {
      await disk.mkdirp(dir);
      const scan = await scanWal(disk, dir);
      const p = scan.problem;
      if (p?.kind === 'corrupt') throw corruptError(p);
      let dirty = false;
      for (const f of scan.obsolete) {
        await disk.unlink(f);
        dirty = true;
      }
      if (p?.kind === 'torn-header') {
        await disk.unlink(p.file);
        dirty = true;
      }
      if (dirty) await disk.syncDir(dir);
      const records: WalRecord[] = [];
      for (const s of scan.segments) {
        for (const r of s.records) records.push(r);
        wal.segments.push({ name: s.name, path: s.path, firstLsn: s.firstLsn, sizeBytes: s.validEnd, offsets: s.offsets });
      }
      const last = scan.segments.at(-1);
      if (!last) {
        await wal.createSegment(1, 0);
        wal.nextLsn = 1;
      } else {
        wal.active = await disk.open(last.path, 'rw');
        if (p?.kind === 'torn-tail' || last.size !== last.validEnd) {
          await wal.active.truncate(last.validEnd);
          await wal.active.sync();
        }
        wal.writeOffset = last.validEnd;
        wal.nextLsn = last.firstLsn + last.records.length;
      }
      wal.durableLsn = wal.nextLsn - 1;
      const floor = openOpts.lastLsnAtLeast ?? 0;
      if (wal.durableLsn < floor) {
        // The log is behind a checkpoint (repaired, or lost): continue numbering after the
        // checkpoint, or new records would get LSNs the checkpoint already covers.
        await wal.reset(floor + 1);
        return { wal, records: [] };
      }
      return { wal, records };
    } catch (e) {
      await (wal.active as DiskFile | undefined)?.close().catch(() => undefined);
      throw storageError(`cannot open WAL in ${dir}`, e, { dir });
    }
  }

  /**
   * Appends one record (`prefix` + `payload`, stored as one payload; the prefix spares callers a
   * copy of a large body); resolves with its LSN once it is fsynced.
   */
  append(payload: Uint8Array, prefix: Uint8Array | null = null): Promise<number> {
    if (this.closed) return Promise.reject(new JadeError('JADE_ERR_STORAGE', 'WAL is closed'));
    if (this.failed) return Promise.reject(this.failed);
    const length = (prefix?.length ?? 0) + payload.length;
    if (length > this.opts.recordSizeBytesMax) {
      return Promise.reject(
        new JadeError('JADE_ERR_BATCH_TOO_LARGE', `WAL record of ${length} bytes exceeds recordSizeBytesMax ${this.opts.recordSizeBytesMax}`),
      );
    }
    if (this.pendingBytes > 0 && this.pendingBytes + length > this.opts.pendingBytesMax) {
      return Promise.reject(
        new JadeError('JADE_ERR_QUEUE_FULL', `WAL write queue full (${this.pendingBytes} bytes pending, pendingBytesMax ${this.opts.pendingBytesMax})`),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ lsn: this.nextLsn++, payload: { prefix, body: payload, length }, resolve, reject });
      this.pendingBytes += length;
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    const delayMs = this.opts.groupCommitMaxDelayMs ?? 0;
    this.flushing = new Promise<void>((resolve) => {
      const run = () => {
        this.flushLoop().then(resolve, (e: unknown) => {
          // flushLoop handles I/O errors itself; anything else is a bug.
          this.failAll(storageError('WAL flush failed', e));
          resolve();
        });
      };
      if (delayMs > 0) setTimeout(run, delayMs);
      else setImmediate(run);
    }).then(() => {
      this.flushing = null;
      if (this.queue.length > 0 && !this.failed) this.scheduleFlush();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.failed) {
      const firstBytes = RECORD_HEADER_BYTES + this.queue[0].payload.length;
      if (this.writeOffset > SEGMENT_HEADER_BYTES && this.writeOffset + firstBytes > this.opts.segmentSizeBytesMax) {
        try {
          await this.roll();
        } catch (e) {
          await this.onWriteError(storageError('WAL segment rollover failed', e, { dir: this.dir }));
          continue;
        }
      }
      // Take as many queued records as fit in the segment (at least one).
      const room = this.opts.segmentSizeBytesMax - this.writeOffset;
      let groupBytes = 0;
      let count = 0;
      while (count < this.queue.length) {
        const b = RECORD_HEADER_BYTES + this.queue[count].payload.length;
        if (count > 0 && groupBytes + b > room) break;
        groupBytes += b;
        count++;
      }
      const group = this.queue.slice(0, count);
      assert(group[0].lsn === this.durableLsn + 1, 'WAL group must start right after the durable LSN');
      const { chunks, bytes } = encodeRecords(group[0].lsn, group.map((g) => g.payload));
      const seg = this.segments.at(-1)!;
      try {
        let at = this.writeOffset;
        for (const chunk of chunks) {
          await writeAll(this.active, chunk, at);
          at += chunk.length;
        }
        await this.active.sync();
      } catch (e) {
        await this.onWriteError(storageError(`WAL write to ${seg.path} failed`, e, { file: seg.path }));
        continue;
      }
      this.queue.splice(0, count);
      let recordOffset = this.writeOffset;
      for (const g of group) {
        seg.offsets.push(recordOffset);
        recordOffset += RECORD_HEADER_BYTES + g.payload.length;
      }
      this.writeOffset += bytes;
      seg.sizeBytes = this.writeOffset;
      this.durableLsn = group[count - 1].lsn;
      for (const g of group) {
        this.pendingBytes -= g.payload.length;
        g.resolve(g.lsn);
      }
    }
  }

  /**
   * A write or fsync failed: nothing queued is acknowledged. Cut the segment back to its durable
   * end so no partial or unacknowledged record can reach the disk later; if even that fails the
   * WAL refuses all appends until reopened (reopen re-validates whatever is on disk).
   */
  private async onWriteError(err: JadeError): Promise<void> {
    this.rejectQueued(err);
    try {
      await this.active.truncate(this.writeOffset);
      await this.active.sync();
    } catch (e) {
      this.failAll(storageError(`WAL failed and could not be cut back (${err.message}); reopen it`, e));
    }
  }

  private rejectQueued(err: Error): void {
    const q = this.queue;
    this.queue = [];
    this.pendingBytes = 0;
    this.nextLsn = this.durableLsn + 1;
    for (const g of q) g.reject(err);
  }

  private failAll(err: JadeError): void {
    this.failed = err;
    this.rejectQueued(err);
  }

  /** Creates and fsyncs a new segment (header, file, directory entry) and makes it active. */
  private async createSegment(firstLsn: number, flags: number): Promise<void> {
    const name = segmentName(firstLsn);
    const p = path.join(this.dir, name);
    const f = await this.disk.open(p, 'create');
    try {
      await writeAll(f, encodeSegmentHeader(firstLsn, flags), 0);
      await f.sync();
      await this.disk.syncDir(this.dir);
    } catch (e) {
      await f.close().catch(() => undefined);
      await this.disk.unlink(p).catch(() => undefined);
      throw e;
    }
    const previous = this.segments.length > 0 ? this.active : null;
    this.active = f;
    this.writeOffset = SEGMENT_HEADER_BYTES;
    this.segments.push({ name, path: p, firstLsn, sizeBytes: SEGMENT_HEADER_BYTES, offsets: [] });
    if (previous) await previous.close().catch(() => undefined);
  }

  private roll(): Promise<void> {
    return this.createSegment(this.durableLsn + 1, 0);
  }

  /** Deletes whole segments whose records all have LSN < lsn (after a checkpoint covering them). Never the active segment. */
  async truncateBefore(lsn: number): Promise<void> {
    let removed = false;
    try {
      while (this.segments.length > 1 && this.segments[1].firstLsn <= lsn) {
        // Oldest first: a crash in between leaves a contiguous log.
        await this.disk.unlink(this.segments[0].path);
        this.segments.shift();
        removed = true;
      }
      if (removed) await this.disk.syncDir(this.dir);
    } catch (e) {
      throw storageError('WAL truncation failed', e, { dir: this.dir });
    }
  }

  /**
   * Durable records from fromLsn on, in order, until their payloads total at least maxBytes (at
   * least one record); [] when fromLsn is past the end. Throws JADE_ERR_NOT_FOUND below firstLsn()
   * (truncated away). Each record's CRC is checked again (bit rot since open is reported).
   */
  async read(fromLsn: number, maxBytes: number): Promise<WalRecord[]> {
    if (fromLsn < this.firstLsn()) {
      throw new JadeError('JADE_ERR_NOT_FOUND', `WAL record ${fromLsn} was truncated away (log starts at ${this.firstLsn()})`);
    }
    const out: WalRecord[] = [];
    let total = 0;
    let lsn = fromLsn;
    while (lsn <= this.durableLsn && (out.length === 0 || total < maxBytes)) {
      const seg = this.segmentOf(lsn);
      assert(seg, `durable LSN ${lsn} has a segment`);
      const first = lsn - seg.firstLsn;
      // Read this segment's records up to maxBytes in one I/O.
      let last = first;
      let bytes = seg.offsets[first + 1] ?? seg.sizeBytes;
      while (last + 1 < seg.offsets.length && total + (bytes - seg.offsets[first]) < maxBytes) {
        last++;
        bytes = seg.offsets[last + 1] ?? seg.sizeBytes;
      }
      const start = seg.offsets[first];
      let buf: Uint8Array;
      try {
        const f = await this.disk.open(seg.path, 'r');
        try {
          buf = await readAt(f, start, bytes - start);
        } finally {
          await f.close();
        }
      } catch (e) {
        throw storageError(`WAL read of ${seg.path} failed`, e, { file: seg.path });
      }
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = first; i <= last; i++) {
        const rec = recordAt(buf, view, seg.offsets[i] - start, seg.firstLsn + i);
        if (!rec) throw corruptError({ kind: 'corrupt', segmentIndex: 0, file: seg.path, offset: seg.offsets[i], reason: 'bad record on read' });
        out.push({ lsn: rec.lsn, payload: rec.payload.slice() });
        total += rec.payload.length;
      }
      lsn = seg.firstLsn + last + 1;
    }
    return out;
  }

  private segmentOf(lsn: number): Segment | undefined {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i];
      if (lsn >= s.firstLsn) return lsn < s.firstLsn + s.offsets.length ? s : undefined;
    }
    return undefined;
  }

  /**
   * Durably drops every record with LSN > lsn, so the next append gets lsn + 1 (a Raft follower
   * overwriting a conflicting suffix). Later segments go newest first, then the segment holding
   * lsn + 1 is cut, so a crash in between leaves a contiguous prefix. Below firstLsn() - 1 it is a
   * reset(lsn + 1). Call with no appends in flight.
   */
  async truncateAfter(lsn: number): Promise<void> {
    assert(Number.isSafeInteger(lsn) && lsn >= 0, 'truncateAfter LSN must be a non-negative integer');
    if (this.failed) throw this.failed;
    while (this.flushing) await this.flushing;
    if (this.queue.length > 0) throw new JadeError('JADE_ERR_CONFLICT', 'WAL truncation while appends are in flight');
    if (lsn >= this.durableLsn) return;
    if (lsn < this.firstLsn() - 1) return this.reset(lsn + 1);
    try {
      const k = this.segments.findIndex((s) => lsn + 1 >= s.firstLsn && lsn + 1 < s.firstLsn + Math.max(1, s.offsets.length));
      assert(k >= 0, `a segment holds LSN ${lsn + 1}`);
      const seg = this.segments[k];
      await this.active.close().catch(() => undefined);
      for (let i = this.segments.length - 1; i > k; i--) {
        await this.disk.unlink(this.segments[i].path);
        this.segments.pop();
      }
      const cut = seg.offsets[lsn + 1 - seg.firstLsn] ?? SEGMENT_HEADER_BYTES;
      this.active = await this.disk.open(seg.path, 'rw');
      await this.active.truncate(cut);
      await this.active.sync();
      await this.disk.syncDir(this.dir);
      seg.offsets.length = lsn + 1 - seg.firstLsn;
      seg.sizeBytes = cut;
      this.writeOffset = cut;
      this.durableLsn = lsn;
      this.nextLsn = lsn + 1;
    } catch (e) {
      this.failAll(storageError('WAL truncation failed', e, { dir: this.dir }));
      throw this.failed;
    }
  }

  /**
   * Drops the whole log and continues at nextLsn (e.g. after installing a snapshot from elsewhere,
   * or when a checkpoint is ahead of the log). Crash-safe: the new segment is marked BASE and
   * made durable before the old ones are deleted. Call with no appends in flight.
   */
  async reset(nextLsn: number): Promise<void> {
    assert(Number.isSafeInteger(nextLsn) && nextLsn >= 1, 'reset LSN must be a positive integer');
    if (this.failed) throw this.failed;
    if (this.queue.length > 0) throw new JadeError('JADE_ERR_CONFLICT', 'WAL reset while appends are in flight');
    while (this.flushing) await this.flushing;
    if (this.queue.length > 0) throw new JadeError('JADE_ERR_CONFLICT', 'WAL reset while appends are in flight');
    try {
      const old = this.segments.splice(0, this.segments.length);
      const oldActive = this.active;
      const clash = old.find((s) => s.name === segmentName(nextLsn));
      if (clash) {
        // Same file name as an old segment: clear that one first (a crash here just loses the
        // log, which reset is dropping anyway).
        await oldActive.close().catch(() => undefined);
        await this.disk.unlink(clash.path);
        await this.disk.syncDir(this.dir);
      }
      await this.createSegment(nextLsn, FLAG_BASE);
      if (!clash) await oldActive.close().catch(() => undefined);
      for (const s of old) if (s !== clash) await this.disk.unlink(s.path);
      await this.disk.syncDir(this.dir);
      this.nextLsn = nextLsn;
      this.durableLsn = nextLsn - 1;
    } catch (e) {
      this.failAll(storageError('WAL reset failed', e, { dir: this.dir }));
      throw this.failed;
    }
  }

  /** Bytes of all segment files. */
  sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.sizeBytes;
    return total;
  }

  /** LSN of the last durable record (0 when none was ever written). */
  lastLsn(): number {
    return this.durableLsn;
  }

  /** LSN of the oldest record still in the log. */
  firstLsn(): number {
    return this.segments[0]?.firstLsn ?? this.durableLsn + 1;
  }

  segmentCount(): number {
    return this.segments.length;
  }

  /** Waits for in-flight appends, then closes. Later appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.active?.close();
  }
}

export interface WalRepairResult {
  /** Valid records kept. */
  keptRecords: number;
  /** Bytes removed from the cut segment and every later one. */
  droppedBytes: number;
  /** Where the corruption was found. */
  file: string;
  offset: number;
}

/**
 * For `jade repair`: if the WAL in dir is corrupt, keeps every record before the first bad one and
 * deletes the rest (the cut segment is truncated, later segments are removed). Returns null when
 * there is no corruption (a torn tail is not corruption; open() handles it).
 */
export async function repairWal(disk: Disk, dir: string): Promise<WalRepairResult | null> {
  try {
    if (!(await disk.exists(dir))) return null;
    const scan = await scanWal(disk, dir);
    const p = scan.problem;
    if (!p || p.kind !== 'corrupt') return null;
    let keptRecords = 0;
    for (const s of scan.segments) keptRecords += s.records.length;
    const names = (await disk.list(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const cutName = path.basename(p.file);
    let droppedBytes = 0;
    for (const n of names) {
      const full = path.join(dir, n);
      if (n < cutName) continue;
      const size = await disk.statSize(full);
      if (n === cutName && p.offset >= SEGMENT_HEADER_BYTES) {
        const f = await disk.open(full, 'rw');
        try {
          await f.truncate(p.offset);
          await f.sync();
        } finally {
          await f.close();
        }
        droppedBytes += size - p.offset;
      } else {
        await disk.unlink(full);
        droppedBytes += size;
      }
    }
    await disk.syncDir(dir);
    return { keptRecords, droppedBytes, file: p.file, offset: p.offset };
  } catch (e) {
    throw storageError(`cannot repair WAL in ${dir}`, e, { dir });
  }
}
