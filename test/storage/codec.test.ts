// Checks the FlatBuffers codecs: write batches and shard snapshots round-trip exactly (also as read
// by the flatc-generated accessors, so the hand-written checked reader matches the schema), and
// fast-check feeds random, re-checksummed and mutated bytes to the decoders, which must either
// decode well-typed data or throw JadeError(JADE_ERR_STORAGE): never crash, hang or throw anything else.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as flatbuffers from 'flatbuffers';
import { crc32c } from '@node-rs/crc32';
import {
  decodeShardSnapshot,
  decodeWriteBatch,
  encodeShardSnapshot,
  encodeWriteBatch,
  type ShardSnapshotData,
} from '../../node/src/storage/codec.js';
import * as fb from '../../node/src/storage/generated/jade_storage_generated.js';
import type { PointRecord, PointSelector, WriteBatch } from '../../node/src/storage/types.js';
import { JadeError } from '../../node/src/util/errors.js';

const FRAME_HEADER_BYTES = 16;
const UUID = '123e4567-e89b-12d3-a456-426614174000';

function expectStorageError(fn: () => unknown): JadeError {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(JadeError);
  expect((caught as JadeError).code).toBe('JADE_ERR_STORAGE');
  return caught as JadeError;
}

/** Decoding must either succeed or throw JadeError(JADE_ERR_STORAGE). */
function decodesOrRefuses<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof JadeError) || e.code !== 'JADE_ERR_STORAGE') throw e;
    return null;
  }
}

/** Rewrites the frame header's length and CRC so garbage reaches the FlatBuffers reader. */
function reframe(bytes: Uint8Array, kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x3142464a, true);
  v.setUint16(4, 1, true);
  v.setUint16(6, kind, true);
  v.setUint32(8, body.length, true);
  v.setUint32(12, crc32c(body), true);
  out.set(body, FRAME_HEADER_BYTES);
  void bytes;
  return out;
}

const batch: WriteBatch = {
  ops: [
    {
      kind: 'upsert',
      points: [
        { id: 0, vector: new Float32Array([1.5, -2, 3.25]), payload: { label: 'shoe', n: 7, nested: { a: [1, 'ü', null] } } },
        { id: Number.MAX_SAFE_INTEGER, vector: new Float32Array([0, 0, 0]), payload: null },
        { id: UUID, vector: new Float32Array([Number.MIN_VALUE, 3.4e38, -0]), payload: {} },
      ],
    },
    { kind: 'delete', ids: [42, UUID, 0] },
    { kind: 'create_payload_index', field: 'label', schema: 'keyword' },
    { kind: 'delete_by_filter', filterJson: '{"must":[{"key":"label","match":{"value":"shoe"}}]}' },
    { kind: 'set_payload', payload: { color: 'red', deep: { x: [1, 2] } }, overwrite: false, target: { ids: [3, UUID] } },
    { kind: 'set_payload', payload: {}, overwrite: true, target: { filterJson: '{"must":[{"key":"n","range":{"gt":1}}]}' } },
    { kind: 'delete_payload', keys: ['color', 'deep.x'], target: { ids: [] } },
    { kind: 'delete_payload', keys: ['n'], target: { filterJson: '{"should":[]}' } },
    { kind: 'update_vectors', points: [{ id: 9, vector: new Float32Array([4, 5, 6]) }, { id: UUID, vector: new Float32Array([-1, 0, 1]) }] },
  ],
};

const pointArb: fc.Arbitrary<PointRecord> = fc.record({
  id: fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uuid().map((u) => u.toLowerCase())),
  vector: fc.float32Array({ maxLength: 16, noNaN: true }),
  payload: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), { nil: null }),
});

const idArb = fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uuid().map((u) => u.toLowerCase()));
const selectorArb: fc.Arbitrary<PointSelector> = fc.oneof(fc.record({ ids: fc.array(idArb, { maxLength: 5 }) }), fc.record({ filterJson: fc.json({ maxDepth: 2 }) }));

const batchArb: fc.Arbitrary<WriteBatch> = fc.record({
  ops: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('upsert' as const), points: fc.array(pointArb, { maxLength: 5 }) }),
      fc.record({ kind: fc.constant('delete' as const), ids: fc.array(fc.oneof(fc.nat(), fc.uuid().map((u) => u.toLowerCase())), { maxLength: 5 }) }),
      fc.record({
        kind: fc.constant('create_payload_index' as const),
        field: fc.string({ maxLength: 10 }),
        schema: fc.constantFrom('keyword' as const, 'integer' as const, 'float' as const, 'bool' as const),
      }),
      fc.record({ kind: fc.constant('delete_by_filter' as const), filterJson: fc.json({ maxDepth: 2 }) }),
      fc.record({ kind: fc.constant('set_payload' as const), payload: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), overwrite: fc.boolean(), target: selectorArb }),
      fc.record({ kind: fc.constant('delete_payload' as const), keys: fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), target: selectorArb }),
      fc.record({ kind: fc.constant('update_vectors' as const), points: fc.array(pointArb.map((p) => ({ id: p.id, vector: p.vector })), { maxLength: 4 }) }),
    ),
    { maxLength: 4 },
  ),
});

/** JSON-normalizes payloads (as the codec stores them: -0 becomes 0, etc.). */
function normalized<T>(x: T): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Float32Array ? { f32: Array.from(v, (f) => (Object.is(f, -0) ? '-0' : f)) } : v)));
}

describe('write batch codec', () => {
  it('round-trips every op kind, both id kinds, null and nested payloads', () => {
    const bytes = encodeWriteBatch(batch);
    const back = decodeWriteBatch(bytes);
    expect(normalized(back)).toEqual(normalized(batch));
    const up = back.ops[0] as Extract<WriteBatch['ops'][number], { kind: 'upsert' }>;
    expect(up.points[0].vector).toBeInstanceOf(Float32Array);
    expect(Object.is(up.points[2].vector[2], -0)).toBe(true);
    // Decoded vectors own their memory: they do not alias the input buffer.
    bytes.fill(0);
    expect(up.points[0].vector[0]).toBe(1.5);
  });

  it('the flatc-generated accessors read the same data (checked reader and schema agree)', () => {
    const bytes = encodeWriteBatch(batch);
    const root = fb.WriteBatch.getRootAsWriteBatch(new flatbuffers.ByteBuffer(bytes.slice(FRAME_HEADER_BYTES)));
    expect(root.opsLength()).toBe(9);
    const e0 = root.ops(0)!;
    expect(e0.opType()).toBe(fb.Op.UpsertOp);
    const up = e0.op(new fb.UpsertOp()) as fb.UpsertOp;
    expect(up.pointsLength()).toBe(3);
    expect(up.points(0)!.idNum()).toBe(0);
    expect(Array.from(up.points(0)!.vectorArray()!)).toEqual([1.5, -2, 3.25]);
    expect(JSON.parse(up.points(0)!.payloadJson()!)).toEqual(batch.ops[0].kind === 'upsert' ? batch.ops[0].points[0].payload : null);
    expect(up.points(1)!.idNum()).toBe(Number.MAX_SAFE_INTEGER);
    expect(up.points(1)!.payloadJson()).toBeNull();
    expect(up.points(2)!.idStr()).toBe(UUID);
    const del = root.ops(1)!.op(new fb.DeleteOp()) as fb.DeleteOp;
    expect(root.ops(1)!.opType()).toBe(fb.Op.DeleteOp);
    expect([del.ids(0)!.num(), del.ids(1)!.str(), del.ids(2)!.num()]).toEqual([42, UUID, 0]);
    const cpi = root.ops(2)!.op(new fb.CreatePayloadIndexOp()) as fb.CreatePayloadIndexOp;
    expect([cpi.field(), cpi.schema()]).toEqual(['label', 'keyword']);
    expect(root.ops(3)!.opType()).toBe(fb.Op.DeleteByFilterOp);
    expect((root.ops(3)!.op(new fb.DeleteByFilterOp()) as fb.DeleteByFilterOp).filterJson()).toBe(batch.ops[3].kind === 'delete_by_filter' ? batch.ops[3].filterJson : null);
    expect(root.ops(4)!.opType()).toBe(fb.Op.SetPayloadOp);
    const sp = root.ops(4)!.op(new fb.SetPayloadOp()) as fb.SetPayloadOp;
    expect([JSON.parse(sp.payloadJson()!), sp.overwrite(), sp.idsLength(), sp.ids(0)!.num(), sp.ids(1)!.str(), sp.filterJson()]).toEqual([{ color: 'red', deep: { x: [1, 2] } }, false, 2, 3, UUID, null]);
    const spf = root.ops(5)!.op(new fb.SetPayloadOp()) as fb.SetPayloadOp;
    expect([spf.payloadJson(), spf.overwrite(), spf.idsLength(), spf.filterJson()]).toEqual(['{}', true, 0, '{"must":[{"key":"n","range":{"gt":1}}]}']);
    expect(root.ops(6)!.opType()).toBe(fb.Op.DeletePayloadOp);
    const dp = root.ops(6)!.op(new fb.DeletePayloadOp()) as fb.DeletePayloadOp;
    expect([dp.keysLength(), dp.keys(0), dp.keys(1), dp.idsLength(), dp.filterJson()]).toEqual([2, 'color', 'deep.x', 0, null]);
    expect((root.ops(7)!.op(new fb.DeletePayloadOp()) as fb.DeletePayloadOp).filterJson()).toBe('{"should":[]}');
    expect(root.ops(8)!.opType()).toBe(fb.Op.UpdateVectorsOp);
    const uv = root.ops(8)!.op(new fb.UpdateVectorsOp()) as fb.UpdateVectorsOp;
    expect([uv.pointsLength(), uv.points(0)!.idNum(), Array.from(uv.points(0)!.vectorArray()!), uv.points(0)!.payloadJson(), uv.points(1)!.idStr()]).toEqual([2, 9, [4, 5, 6], null, UUID]);
  });

  it('refuses damaged, truncated, mistyped or padded input with JADE_ERR_STORAGE', () => {
    const bytes = encodeWriteBatch(batch);
    const flipped = bytes.slice();
    flipped[40] ^= 1;
    expect(expectStorageError(() => decodeWriteBatch(flipped)).message).toContain('checksum');
    expectStorageError(() => decodeWriteBatch(bytes.subarray(0, bytes.length - 1)));
    expectStorageError(() => decodeWriteBatch(new Uint8Array([...bytes, 0])));
    expectStorageError(() => decodeWriteBatch(new Uint8Array(0)));
    expect(expectStorageError(() => decodeShardSnapshot(bytes)).message).toContain('kind');
    // Structurally valid FlatBuffers with bad ids: ids must be safe unsigned integers or UUIDs.
    for (const [num, str] of [[0, 'not-a-uuid'], [-1, null], [1.5, null]] as const) {
      const b = new flatbuffers.Builder(64);
      const s = str === null ? 0 : b.createString(str);
      const id = fb.PointId.createPointId(b, num, s);
      const op = fb.OpEntry.createOpEntry(b, fb.Op.DeleteOp, fb.DeleteOp.createDeleteOp(b, fb.DeleteOp.createIdsVector(b, [id])));
      b.finish(fb.WriteBatch.createWriteBatch(b, fb.WriteBatch.createOpsVector(b, [op])));
      const body = b.asUint8Array();
      expect(expectStorageError(() => decodeWriteBatch(reframe(body, 1, body))).message).toContain('point id');
    }
  });

  it('refuses to encode what it could not decode (so the WAL never holds an unreadable record)', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as JadeError).code;
      }
      return 'no error';
    };
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'delete', ids: ['NOT-A-UUID'] }] }))).toBe('JADE_ERR_BAD_ID');
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'delete', ids: [2 ** 53] }] }))).toBe('JADE_ERR_BAD_ID');
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'upsert', points: [{ id: -3, vector: new Float32Array(1), payload: null }] }] }))).toBe('JADE_ERR_BAD_ID');
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'upsert', points: [{ id: 1, vector: new Float32Array(1), payload: [] as unknown as null }] }] }))).toBe('JADE_ERR_BAD_REQUEST');
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'create_payload_index', field: 'f', schema: 'geo' as 'bool' }] }))).toBe('JADE_ERR_BAD_REQUEST');
    expect(code(() => encodeWriteBatch({ ops: [{ kind: 'delete', ids: [7] }] }))).toBe('no error');
  });

  it('a FlatBuffer whose offsets make many entries share one large vector is refused, not decoded quadratically', () => {
    const b = new flatbuffers.Builder(1 << 16);
    const vec = fb.Point.createVectorVector(b, new Float32Array(10_000));
    fb.Point.startPoint(b);
    fb.Point.addVector(b, vec);
    const point = fb.Point.endPoint(b);
    const points = fb.UpsertOp.createPointsVector(b, new Array(100_000).fill(point));
    const op = fb.OpEntry.createOpEntry(b, fb.Op.UpsertOp, fb.UpsertOp.createUpsertOp(b, points));
    b.finish(fb.WriteBatch.createWriteBatch(b, fb.WriteBatch.createOpsVector(b, [op])));
    const body = b.asUint8Array();
    const t0 = performance.now();
    const e = expectStorageError(() => decodeWriteBatch(reframe(body, 1, body)));
    expect(e.message).toContain('references more data');
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('property: every generated batch round-trips', () => {
    fc.assert(
      fc.property(batchArb, (b) => {
        expect(normalized(decodeWriteBatch(encodeWriteBatch(b)))).toEqual(normalized(b));
      }),
      { numRuns: 300 },
    );
  });

  it('fuzz: random bytes, random re-checksummed bodies and mutated valid batches decode or throw JadeError only', () => {
    const valid = encodeWriteBatch(batch).subarray(FRAME_HEADER_BYTES);
    let decodedSome = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.uint8Array({ maxLength: 512 }).map((body) => reframe(body, 1, body)),
          fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
            const body = valid.slice();
            for (const [i, v] of edits) body[i] = v;
            return reframe(body, 1, body);
          }),
        ),
        (bytes) => {
          const out = decodesOrRefuses(() => decodeWriteBatch(bytes));
          if (out) {
            decodedSome++;
            expect(Array.isArray(out.ops)).toBe(true);
            for (const op of out.ops) expect(['upsert', 'delete', 'create_payload_index', 'delete_by_filter', 'set_payload', 'delete_payload', 'update_vectors']).toContain(op.kind);
          }
        },
      ),
      { numRuns: 1500 },
    );
    // Some mutations hit bytes that do not matter (padding, float data): the fuzz reaches decoding.
    expect(decodedSome).toBeGreaterThan(0);
  });

  it('micro-benchmark: encode + decode of 1000 points of 784 dims (printed, not asserted)', () => {
    const points: PointRecord[] = Array.from({ length: 1000 }, (_, i) => ({
      id: i,
      vector: Float32Array.from({ length: 784 }, (_x, j) => (i * 31 + j) % 255),
      payload: { label: i % 10, split: 'train' },
    }));
    const b: WriteBatch = { ops: [{ kind: 'upsert', points }] };
    let best = Infinity;
    let bytes: Uint8Array = new Uint8Array(0);
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      bytes = encodeWriteBatch(b);
      const back = decodeWriteBatch(bytes);
      best = Math.min(best, performance.now() - t0);
      expect((back.ops[0] as { points: PointRecord[] }).points[999].vector[783]).toBe(points[999].vector[783]);
    }
    console.log(`codec: encode+decode 1000 x 784-dim points (${(bytes.length / 1e6).toFixed(1)} MB) in ${best.toFixed(1)} ms = ${Math.round(1000 / (best / 1000))} points/s`);
  });
});

describe('shard snapshot codec', () => {
  const snap: ShardSnapshotData = {
    configJson: JSON.stringify({ dimension: 3, metric: 'cosine', hnsw: { m: 16 } }),
    lastAppliedLsn: 123_456,
    points: Array.from({ length: 50 }, (_, i) => ({ id: i % 2 ? i : UUID.replace(/0$/, String(i % 10)), vector: new Float32Array([i, i + 0.5, -i]), payload: i % 3 ? { i } : null })),
    payloadIndexes: [
      { field: 'i', schema: 'integer' },
      { field: 'label', schema: 'keyword' },
    ],
  };

  it('round-trips, split over several chunk frames when large', () => {
    const one = encodeShardSnapshot(snap);
    expect(normalized(decodeShardSnapshot(one))).toEqual(normalized(snap));
    const chunked = encodeShardSnapshot(snap, 200); // ~3 points per chunk
    expect(chunked.length).toBeGreaterThan(one.length + 10 * FRAME_HEADER_BYTES);
    expect(normalized(decodeShardSnapshot(chunked))).toEqual(normalized(snap));
    // Vector views (for ShardState.restore) decode the same values.
    expect(normalized(decodeShardSnapshot(chunked, { vectorViews: true }))).toEqual(normalized(snap));
    const empty: ShardSnapshotData = { configJson: '{}', lastAppliedLsn: 0, points: [], payloadIndexes: [] };
    expect(decodeShardSnapshot(encodeShardSnapshot(empty))).toEqual(empty);
  });

  it('a snapshot missing its last chunk, or with a damaged chunk, is refused', () => {
    const chunked = encodeShardSnapshot(snap, 200);
    // Find the start of the last frame by walking frame lengths.
    const view = new DataView(chunked.buffer, chunked.byteOffset, chunked.byteLength);
    let off = 0;
    let lastStart = 0;
    while (off < chunked.length) {
      lastStart = off;
      off += FRAME_HEADER_BYTES + view.getUint32(off + 8, true);
    }
    expect(expectStorageError(() => decodeShardSnapshot(chunked.subarray(0, lastStart))).message).toContain('declared');
    const damaged = chunked.slice();
    damaged[lastStart + FRAME_HEADER_BYTES + 5] ^= 0x10;
    expect(expectStorageError(() => decodeShardSnapshot(damaged)).message).toContain(`offset ${lastStart}`);
  });

  it('fuzz: random and mutated snapshots decode or throw JadeError only', () => {
    const valid = encodeShardSnapshot(snap);
    const metaLen = new DataView(valid.buffer).getUint32(8, true);
    const metaBody = valid.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + metaLen);
    const rest = valid.subarray(FRAME_HEADER_BYTES + metaLen);
    const chunkBody = rest.subarray(FRAME_HEADER_BYTES);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.uint8Array({ maxLength: 256 }).map((body) => reframe(body, 2, body)),
          fc.array(fc.tuple(fc.nat({ max: metaBody.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const body = metaBody.slice();
            for (const [i, v] of edits) body[i] = v;
            return new Uint8Array([...reframe(body, 2, body), ...rest]);
          }),
          fc.array(fc.tuple(fc.nat({ max: chunkBody.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const body = chunkBody.slice();
            for (const [i, v] of edits) body[i] = v;
            return new Uint8Array([...valid.subarray(0, FRAME_HEADER_BYTES + metaLen), ...reframe(body, 3, body)]);
          }),
        ),
        (bytes) => {
          const out = decodesOrRefuses(() => decodeShardSnapshot(bytes));
          if (out) {
            expect(typeof out.configJson).toBe('string');
            expect(Number.isSafeInteger(out.lastAppliedLsn)).toBe(true);
            for (const p of out.points) expect(p.vector).toBeInstanceOf(Float32Array);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('decoding from a Buffer view', () => {
  // Transports hand over Node Buffers; Buffer#slice is a view, so decoded vectors must be real copies.
  it('returns vectors that survive reuse of the input buffer', () => {
    const bytes = encodeWriteBatch({ ops: [{ kind: 'upsert', points: [{ id: 1, vector: Float32Array.from([1.5, -2, 3]), payload: null }] }] });
    const pool = Buffer.alloc(bytes.length + 8);
    pool.set(bytes, 8);
    const decoded = decodeWriteBatch(pool.subarray(8));
    pool.fill(0x7f);
    const op = decoded.ops[0];
    expect(op.kind === 'upsert' && Array.from(op.points[0].vector)).toEqual([1.5, -2, 3]);
  });
});

describe('decoding with vectorViews', () => {
  // For ShardState.apply, which copies each vector at once: views when aligned, copies when not.
  const points = [
    { id: 1, vector: Float32Array.from([1.5, -2, 3]), payload: null },
    { id: 2, vector: Float32Array.from([0.25, 8, -1e-7]), payload: { a: 1 } },
  ];
  const bytes = encodeWriteBatch({ ops: [{ kind: 'upsert', points }] });
  it.each([0, 1, 2, 3])('decodes the same vectors at input byte offset %i, viewing the input only where aligned', (shift) => {
    const pool = new Uint8Array(bytes.length + 8);
    pool.set(bytes, 4 + shift);
    const input = pool.subarray(4 + shift, 4 + shift + bytes.length);
    const decoded = decodeWriteBatch(input, { vectorViews: true });
    const op = decoded.ops[0];
    expect(op.kind).toBe('upsert');
    if (op.kind !== 'upsert') return;
    expect(op.points.map((p) => Array.from(p.vector))).toEqual(points.map((p) => Array.from(p.vector)));
    // A view shares the input's memory; a copy has a buffer of its own.
    const viewed = op.points.filter((p) => p.vector.buffer === pool.buffer).length;
    // FlatBuffers aligns float vectors to 4 inside the batch, so it depends only on the shift.
    expect(viewed).toBe(shift === 0 ? points.length : 0);
  });
});
