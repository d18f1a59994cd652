// Checks the Raft wire codec: messages round-trip exactly, decoded entries own their bytes even
// when the input is a Buffer over a reused receive buffer (a bug seen in a 3-node run), and
// malformed frames throw coded errors instead of reading out of bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, encodeMessageParts } from '../../node/src/cluster/raft-codec.js';
import type { Message } from '../../node/src/raft/types.js';
import { JadeError } from '../../node/src/util/errors.js';

function message(data: Uint8Array): Message {
  return { type: 'MsgApp', groupId: 'g-1', from: 'n0', to: 'n1', term: 7, logTerm: 6, index: 41, entries: [{ term: 7, index: 42, type: 'normal', data }], commit: 40, reject: false, rejectHint: 0, context: 'ctx' };
}

describe('raft codec', () => {
  it('round-trips messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat(), fc.boolean(), (data, term, reject) => {
        const m = { ...message(data), term, reject };
        expect(decodeMessage(encodeMessage(m))).toEqual({ ...m, entries: [{ ...m.entries[0], data: new Uint8Array(data) }] });
      }),
      { numRuns: 200 },
    );
  });

  it('encodes as parts whose concatenation is the message, entry data passed by reference', () => {
    const entry = fc.record({ term: fc.nat(), index: fc.nat(), type: fc.constantFrom('normal' as const, 'confChange' as const), data: fc.uint8Array({ maxLength: 64 }) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), fc.option(fc.string({ maxLength: 10 }), { nil: undefined }), (entries, context) => {
        const m: Message = { ...message(new Uint8Array(0)), entries, context };
        const parts = encodeMessageParts(m);
        const joined = Buffer.concat(parts);
        expect(joined.equals(Buffer.from(encodeMessage(m)))).toBe(true);
        expect(decodeMessage(joined)).toEqual({ ...m, entries: entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })) });
        // Non-empty entry data goes out as the entry's own buffer (copied once, by the transport).
        for (const e of entries) if (e.data.length > 0) expect(parts).toContain(e.data);
      }),
      { numRuns: 300 },
    );
  });

  it('copies entry bytes out of a Buffer whose memory is reused afterwards', () => {
    const encoded = encodeMessage(message(Uint8Array.from([1, 2, 3, 4])));
    const pool = Buffer.alloc(encoded.length + 16);
    pool.set(encoded, 8);
    const decoded = decodeMessage(pool.subarray(8, 8 + encoded.length));
    pool.fill(0xee);
    expect(Array.from(decoded.entries[0].data)).toEqual([1, 2, 3, 4]);
  });

  it('rejects truncated and garbage frames with a coded error', () => {
    const encoded = encodeMessage(message(Uint8Array.from([9, 9, 9])));
    for (let cut = 0; cut < encoded.length; cut++) {
      expect(() => decodeMessage(encoded.subarray(0, cut))).toThrow(JadeError);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(JadeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
