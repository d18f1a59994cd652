// JSON merge patch (RFC 7386) and JSON patch (RFC 6902). Strategic merge patch is applied as a
// merge patch (lists are replaced, not merged by key): a documented difference from the apiserver.
import { ApiError, badRequest } from './errors.js';

/** JSON with object keys sorted: equal for semantically equal objects whatever the key order (undefined members dropped). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = v[k];
    return sorted;
  }) ?? 'undefined';
}

export function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: any, patch: any): any {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, any> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: any, tokens: string[]): { parent: any; key: string } {
  let parent = doc;
  for (const t of tokens.slice(0, -1)) {
    parent = Array.isArray(parent) ? parent[Number(t)] : parent?.[t];
    if (parent === undefined || parent === null) throw new ApiError(422, 'Invalid', `doc is missing path: ${tokens.join('/')}`);
  }
  return { parent, key: tokens[tokens.length - 1] };
}

function getAt(doc: any, tokens: string[]): any {
  let v = doc;
  for (const t of tokens) {
    if (v === undefined || v === null) return undefined;
    v = Array.isArray(v) ? v[Number(t)] : v[t];
  }
  return v;
}

function addAt(doc: any, tokens: string[], value: any): any {
  if (tokens.length === 0) return clone(value);
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!(index >= 0 && index <= parent.length)) throw new ApiError(422, 'Invalid', `array index out of range: ${key}`);
    parent.splice(index, 0, clone(value));
  } else {
    parent[key] = clone(value);
  }
  return doc;
}

function removeAt(doc: any, tokens: string[]): any {
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!(index >= 0 && index < parent.length)) throw new ApiError(422, 'Invalid', `array index out of range: ${key}`);
    parent.splice(index, 1);
  } else {
    if (!(key in parent)) throw new ApiError(422, 'Invalid', `unable to remove nonexistent key: ${key}`);
    delete parent[key];
  }
  return doc;
}

export function jsonPatch(target: any, ops: any): any {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const op of ops) {
    const path = decodePointer(String(op.path ?? ''));
    switch (op.op) {
      case 'add': doc = addAt(doc, path, op.value); break;
      case 'remove': doc = removeAt(doc, path); break;
      case 'replace': doc = addAt(removeAt(doc, path), path, op.value); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: test operation failed at ${op.path}`);
        }
        break;
      case 'move': {
        const from = decodePointer(String(op.from));
        const value = getAt(doc, from);
        doc = addAt(removeAt(doc, from), path, value);
        break;
      }
      case 'copy': doc = addAt(doc, path, getAt(doc, decodePointer(String(op.from)))); break;
      default: throw badRequest(`unknown json patch op ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}
