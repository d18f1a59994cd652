// Binary encoding of Raft messages for the transport. Entries carry vector batches, so the
// payload bytes are copied as they are (no JSON, no base64). Decoding checks every length
// against the buffer: a malformed frame throws, it never reads out of bounds.
import type { ConfState, Entry, Message, MessageType, Snapshot, SnapshotMeta } from '../raft/types.js';
import { JadeError } from '../util/errors.js';

const MESSAGE_TYPES: MessageType[] = [
  'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgPreVote', 'MsgPreVoteResp', 'MsgHeartbeat',
  'MsgHeartbeatResp', 'MsgSnap', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgTransferLeader',
];
const CODEC_VERSION = 1;

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;
  /** `capacity`: the expected size, so that a message of big entries is written without regrowing. */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
  u8(v: number) {
    this.ensure(1);
    this.buf[this.length++] = v;
  }
  u32(v: number) {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number) {
    this.ensure(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  bytes(b: Uint8Array) {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  str(s: string) {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  /** The bytes written: a view, not a copy (the transport copies them into its frame anyway). */
  done(): Uint8Array {
    return this.bytesFrom(0);
  }
  /** The bytes written from `from` on, as a view (still right if the buffer regrows later: the old one keeps them). */
  bytesFrom(from: number): Uint8Array {
    return from === 0 && this.length === this.buf.length ? this.buf : this.buf.subarray(from, this.length);
  }
}

class Reader {
  private offset = 0;
  private readonly view: DataView;
  private readonly buf: Uint8Array;
  constructor(input: Uint8Array) {
    // A plain Uint8Array view: Buffer.slice would share memory with the transport's receive
    // buffer (later reused), while Uint8Array.slice copies, so decoded entries own their bytes.
    this.buf = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }
  private need(n: number) {
    if (this.offset + n > this.buf.length) throw new JadeError('JADE_ERR_BAD_REQUEST', 'malformed raft frame: truncated');
  }
  u8() {
    this.need(1);
    return this.buf[this.offset++];
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  f64() {
    this.need(8);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = this.buf.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  str(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }
  end() {
    if (this.offset !== this.buf.length) throw new JadeError('JADE_ERR_BAD_REQUEST', 'malformed raft frame: trailing bytes');
  }
}

function writeConf(w: Writer, c: ConfState) {
  w.u32(c.voters.length);
  for (const v of c.voters) w.str(v);
  w.u32(c.learners.length);
  for (const l of c.learners) w.str(l);
}

function readList(r: Reader): string[] {
  const n = r.u32();
  if (n > 10_000) throw new JadeError('JADE_ERR_BAD_REQUEST', 'malformed raft frame: member list too long');
  return Array.from({ length: n }, () => r.str());
}

function readConf(r: Reader): ConfState {
  return { voters: readList(r), learners: readList(r) };
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const w = new Writer();
  w.u8(CODEC_VERSION);
  w.f64(meta.index);
  w.f64(meta.term);
  writeConf(w, meta.conf);
  return w.done();
}

export function decodeSnapshotMeta(bytes: Uint8Array): SnapshotMeta {
  const r = new Reader(bytes);
  if (r.u8() !== CODEC_VERSION) throw new JadeError('JADE_ERR_BAD_REQUEST', 'unknown raft frame version');
  const meta = { index: r.f64(), term: r.f64(), conf: readConf(r) };
  r.end();
  return meta;
}

/** Bytes of an entry's fields before its data (term, index, type, data length). */
const ENTRY_HEAD_BYTES = 8 + 8 + 1 + 4;

function writeEntryHead(w: Writer, e: Entry) {
  w.f64(e.term);
  w.f64(e.index);
  w.u8(e.type === 'normal' ? 0 : 1);
  w.u32(e.data.length);
}

function decodeEntries(r: Reader): Entry[] {
  const n = r.u32();
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const term = r.f64();
    const index = r.f64();
    const type = r.u8() === 0 ? 'normal' : 'confChange';
    out.push({ term, index, type, data: r.bytes() });
  }
  return out;
}

/**
 * A message (without its snapshot data: MsgSnap data travels through the transport's snapshot
 * stream) as parts whose concatenation is the encoding: the fields, then for each entry its head
 * and its data as it is (not copied here; the transport copies the parts once into its frame).
 */
export function encodeMessageParts(m: Message): Uint8Array[] {
  const fieldsBytes = 72 + 3 * (m.groupId.length + m.from.length + m.to.length + (m.context?.length ?? 0)) + m.entries.length * ENTRY_HEAD_BYTES;
  const w = new Writer(fieldsBytes);
  w.u8(CODEC_VERSION);
  w.u8(MESSAGE_TYPES.indexOf(m.type));
  w.str(m.groupId);
  w.str(m.from);
  w.str(m.to);
  w.f64(m.term);
  w.f64(m.logTerm);
  w.f64(m.index);
  w.f64(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.f64(m.rejectHint);
  w.u8(m.context === undefined ? 0 : 1);
  if (m.context !== undefined) w.str(m.context);
  w.u32(m.entries.length);
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const e of m.entries) {
    writeEntryHead(w, e);
    if (e.data.length === 0) continue;
    parts.push(w.bytesFrom(from), e.data);
    from = w.length;
  }
  if (w.length > from || parts.length === 0) parts.push(w.bytesFrom(from));
  return parts;
}

/** The encoding of a message as one buffer (see encodeMessageParts). */
export function encodeMessage(m: Message): Uint8Array {
  const parts = encodeMessageParts(m);
  if (parts.length === 1) return parts[0];
  return Buffer.concat(parts);
}

export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  if (r.u8() !== CODEC_VERSION) throw new JadeError('JADE_ERR_BAD_REQUEST', 'unknown raft frame version');
  const type = MESSAGE_TYPES[r.u8()];
  if (!type) throw new JadeError('JADE_ERR_BAD_REQUEST', 'malformed raft frame: unknown message type');
  const m: Message = {
    type,
    groupId: r.str(),
    from: r.str(),
    to: r.str(),
    term: r.f64(),
    logTerm: r.f64(),
    index: r.f64(),
    commit: r.f64(),
    reject: r.u8() === 1,
    rejectHint: r.f64(),
    entries: [],
  };
  if (r.u8() === 1) m.context = r.str();
  m.entries = decodeEntries(r);
  r.end();
  return m;
}

/** A whole snapshot (meta + data), for the snapshot stream and the on-disk snapshot file. */
export function encodeSnapshot(s: Snapshot): { meta: Uint8Array; data: Uint8Array } {
  return { meta: encodeSnapshotMeta(s.meta), data: s.data };
}
