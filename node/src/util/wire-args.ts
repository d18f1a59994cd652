// Checks of the arguments of internal calls between nodes. The callers are authenticated cluster
// members: these turn version skew and bugs into a coded JADE_ERR_BAD_REQUEST naming the field,
// instead of an internal error deep in a handler.
import { JadeError } from './errors.js';

export function bad(method: string, what: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', `${method}: ${what}`);
}

/** The arguments as an object, or a coded refusal. */
export function wireObject(json: unknown, method: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(method, 'arguments must be an object');
  return json as Record<string, unknown>;
}

export function wireInt(raw: unknown, method: string, field: string, min: number, max: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) bad(method, `${field} must be an integer in [${min}, ${max}]`);
  return raw;
}

export function wireBool(raw: unknown, method: string, field: string): boolean {
  if (typeof raw !== 'boolean') bad(method, `${field} must be a boolean`);
  return raw;
}

