// Checks the hand-written MessageBatch serializer against protobufjs (the reference encoder of
// proto/raft.proto): the same bytes for random batches (empty fields, multi-byte UTF-8, large
// payloads), and protobufjs decodes them back to the same frame.
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RAFT_PROTO_PATH, serializeMessageBatch, type MessageBatchFrame } from '../../../node/src/cluster/transport/proto.js';

const reference = (protoLoader.loadSync(RAFT_PROTO_PATH, { keepCase: false, longs: Number, defaults: true, oneofs: true })['jade.raft.v1.RaftTransport'] as unknown as Record<
  string,
  { requestSerialize: (v: MessageBatchFrame) => Buffer; requestDeserialize: (b: Buffer) => MessageBatchFrame }
>).Send;

const frame = fc.record({
  fromNodeId: fc.string({ maxLength: 20, unit: 'grapheme' }),
  clusterId: fc.string({ maxLength: 40 }),
  messages: fc.array(fc.record({ groupId: fc.string({ maxLength: 200, unit: 'grapheme' }), payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 8 }),
});

describe('MessageBatch serializer', () => {
  it('writes the bytes protobufjs writes, and they decode to the same frame', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const ours = serializeMessageBatch(f);
        expect(ours.equals(reference.requestSerialize(f))).toBe(true);
        const back = reference.requestDeserialize(ours);
        expect(back.fromNodeId).toBe(f.fromNodeId);
        expect(back.clusterId).toBe(f.clusterId);
        expect(back.messages.map((m) => [m.groupId, Buffer.from(m.payload).toString('hex')])).toEqual(f.messages.map((m) => [m.groupId, Buffer.from(m.payload).toString('hex')]));
      }),
      { numRuns: 300 },
    );
  });

  it('writes a payload given as parts like its concatenation', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }), (parts) => {
        const joined = { fromNodeId: 'n1', clusterId: 'c', messages: [{ groupId: 'g', payload: Buffer.concat(parts) }] };
        expect(serializeMessageBatch({ ...joined, messages: [{ groupId: 'g', payload: parts }] }).equals(reference.requestSerialize(joined))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('handles payloads whose length needs a multi-byte varint', () => {
    for (const size of [127, 128, 16_383, 16_384, 3_136_100]) {
      const f = { fromNodeId: 'n0', clusterId: 'c', messages: [{ groupId: 'g', payload: new Uint8Array(size).fill(7) }] };
      expect(serializeMessageBatch(f).equals(reference.requestSerialize(f))).toBe(true);
    }
  });
});
