// Checks parseVectors (one buffer for a whole upsert) against parseVector applied point by point:
// for random mixes of base64 strings, number arrays and broken inputs (bad base64, lengths that are
// not whole float32s, NaN/Infinity bit patterns, non-numbers) both give the same vectors or the same
// error code.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseVector, parseVectors } from '../../node/src/api/rest/convert.js';
import { JadeError } from '../../node/src/util/errors.js';

const b64 = (floats: number[]) => Buffer.from(new Float32Array(floats).buffer).toString('base64');

const vectorInput = fc.oneof(
  fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 6 }).map(b64),
  fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 6 }),
  fc.constantFrom(b64([1, NaN]), b64([Infinity]), 'AAAA', 'AAA', 'AAAAAAA*', '!!!!', '', [1, 'x'], [1, Infinity], { name: 'v' }, null, 5),
);

function outcome(f: () => Float32Array[]): { ok: number[][] } | { code: string } {
  try {
    return { ok: f().map((v) => Array.from(v)) };
  } catch (e) {
    expect(e).toBeInstanceOf(JadeError);
    return { code: (e as JadeError).code };
  }
}

describe('parseVectors', () => {
  it('agrees with parseVector point by point', () => {
    fc.assert(
      fc.property(fc.array(vectorInput, { maxLength: 6 }), (raws) => {
        const one = outcome(() => raws.map((r, i) => parseVector(r, `v[${i}]`)));
        const batch = outcome(() => parseVectors(raws, (i) => `v[${i}]`));
        if ('ok' in one) expect(batch).toEqual(one);
        else expect('code' in batch).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('gives each point a view of one shared buffer', () => {
    const vs = parseVectors([b64([1, 2]), [3, 4], b64([5, 6])], (i) => `v[${i}]`);
    expect(vs.map((v) => Array.from(v))).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(new Set(vs.map((v) => v.buffer)).size).toBe(1);
  });
});
