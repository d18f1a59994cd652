// Checks parseVectors (one buffer for a whole upsert) and parseVector (one vector, through it)
// against a plain reference decoder, point by point: for random mixes of base64 strings, number
// arrays and broken inputs (bad base64, lengths that are not whole float32s, NaN/Infinity bit
// patterns, non-numbers) they give the same vectors, and one vector the same error code and message.
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

/** The decoder before batches shared one buffer: Buffer.from per vector, then checks. */
function reference(raw: unknown, where: string): Float32Array {
  const fail = (code: 'JADE_ERR_BAD_REQUEST' | 'JADE_ERR_NOT_FINITE', m: string): never => {
    throw new JadeError(code, m);
  };
  if (Array.isArray(raw)) {
    return Float32Array.from(raw, (x: unknown, i) => {
      if (typeof x !== 'number') fail('JADE_ERR_BAD_REQUEST', `${where}[${i}] must be a number`);
      if (!Number.isFinite(x)) fail('JADE_ERR_NOT_FINITE', `${where}[${i}] is not a finite number`);
      return x as number;
    });
  }
  if (typeof raw === 'string') {
    const padding = raw.endsWith('==') ? 2 : raw.endsWith('=') ? 1 : 0;
    const bytes = raw.length % 4 === 0 ? Buffer.from(raw, 'base64') : null;
    if (!bytes || bytes.length !== (raw.length / 4) * 3 - padding) fail('JADE_ERR_BAD_REQUEST', `${where}: not valid base64`);
    if (bytes!.length % 4 !== 0) fail('JADE_ERR_BAD_REQUEST', `${where}: base64 vector must decode to a multiple of 4 bytes (float32)`);
    const out = new Float32Array(new Uint8Array(bytes!).buffer);
    out.forEach((x, i) => Number.isFinite(x) || fail('JADE_ERR_NOT_FINITE', `${where}[${i}] is not a finite number`));
    return out;
  }
  if (raw && typeof raw === 'object') fail('JADE_ERR_BAD_REQUEST', `${where}: sparse and multi-vectors are not supported; send a dense vector (an array of numbers or base64)`);
  return fail('JADE_ERR_BAD_REQUEST', `${where} must be an array of numbers or a base64 string`);
}

function outcome(f: () => Float32Array[]): { ok: number[][] } | { code: string; message: string } {
  try {
    return { ok: f().map((v) => Array.from(v)) };
  } catch (e) {
    expect(e).toBeInstanceOf(JadeError);
    return { code: (e as JadeError).code, message: (e as JadeError).message };
  }
}

describe('parseVectors', () => {
  it('agrees with the reference decoder point by point', () => {
    fc.assert(
      fc.property(fc.array(vectorInput, { maxLength: 6 }), (raws) => {
        const want = outcome(() => raws.map((r, i) => reference(r, `v[${i}]`)));
        const batch = outcome(() => parseVectors(raws, (i) => `v[${i}]`));
        if ('ok' in want) expect(batch).toEqual(want);
        else expect('code' in batch).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('parseVector decodes one vector like the reference, errors included', () => {
    fc.assert(
      fc.property(vectorInput, (raw) => {
        expect(outcome(() => [parseVector(raw, 'q')])).toEqual(outcome(() => [reference(raw, 'q')]));
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
