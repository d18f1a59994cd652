// What a point must be to be stored, one set of rules for every path in: the REST API's parsing,
// ShardState.validateBatch (before a batch is logged, with the configured limits too) and
// ShardState.apply (on every replica, for every entry, whatever bypassed validation: only the
// rules that hold alike on every node, never a configured limit).
import type { PointId } from '../storage/types.js';
import { JadeError } from '../util/errors.js';
import { parsePointId } from './filter.js';

/**
 * Nesting levels of one payload. JSON.stringify, filters and the response serializer recurse, so a
 * payload nested thousands deep (cheap within bodyBytesMax) would overflow the stack (Qdrant's JSON
 * parser stops at 128 levels for the whole body).
 */
export const PAYLOAD_DEPTH_MAX = 64;

/** Why a payload cannot be stored as JSON text and read back the same, or null when it can. */
function payloadProblem(root: unknown, levelsMax: number): { code: 'JADE_ERR_BAD_REQUEST' | 'JADE_ERR_NOT_FINITE'; what: string } | null {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    // JSON's 1e999 parses to Infinity, which would be stored as null: the answer to a range filter
    // would change at the next restart.
    if (typeof value === 'number' && !Number.isFinite(value)) return { code: 'JADE_ERR_NOT_FINITE', what: 'holds a number that is not finite' };
    if (typeof value !== 'object' || value === null) continue;
    if (depth > levelsMax) return { code: 'JADE_ERR_BAD_REQUEST', what: `nests deeper than ${levelsMax} levels (PAYLOAD_DEPTH_MAX)` };
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
  return null;
}

/** A payload as stored: a JSON object (finite numbers, at most PAYLOAD_DEPTH_MAX levels) or null. */
export function checkPayload(raw: unknown, where: string): Record<string, unknown> | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where} must be a JSON object or null`);
  const problem = payloadProblem(raw, PAYLOAD_DEPTH_MAX);
  if (problem) throw new JadeError(problem.code, `${where} ${problem.what}`);
  return raw as Record<string, unknown>;
}

/** A vector as stored: `dimension` finite float32s. */
export function checkVector(v: unknown, dimension: number, where: string): Float32Array {
  if (!(v instanceof Float32Array)) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: vector must be float32`);
  if (v.length !== dimension) throw new JadeError('JADE_ERR_DIMENSION_MISMATCH', `${where}: vector has ${v.length} dimensions; collection expects ${dimension}`);
  if (!allFinite(v)) {
    for (let j = 0; j < v.length; j++) {
      if (!Number.isFinite(v[j])) throw new JadeError('JADE_ERR_NOT_FINITE', `${where}: vector[${j}] is not a finite number`);
    }
  }
  return v;
}

/**
 * x - x is 0 for every finite x and NaN for NaN and ±Infinity, so the sum is 0 exactly when all
 * are finite. Every replica runs this on every vector it applies: unrolled, it costs ~1 ns per
 * float here (half of a Number.isFinite loop).
 */
function allFinite(v: Float32Array): boolean {
  const n = v.length;
  let acc = 0;
  let j = 0;
  for (; j + 4 <= n; j += 4) acc += v[j] - v[j] + (v[j + 1] - v[j + 1]) + (v[j + 2] - v[j + 2]) + (v[j + 3] - v[j + 3]);
  for (; j < n; j++) acc += v[j] - v[j];
  return acc === 0;
}

/** An id as stored: already in its canonical form (an unsigned integer, or a lower-case hyphenated UUID). */
export function checkStoredId(id: unknown, where: string): PointId {
  if (parsePointId(id, where) !== id) throw new JadeError('JADE_ERR_BAD_ID', `${where}: point id ${JSON.stringify(id)?.slice(0, 80)} is not in canonical form`);
  return id as PointId;
}
