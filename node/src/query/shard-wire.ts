// Parsing of the arguments of the shard read calls between nodes. The callers are authenticated
// cluster members, so this guards against version skew and bugs: a malformed call gets a coded
// JADE_ERR_BAD_REQUEST naming the field instead of an internal error deep in a read, and sizes are
// bounded so that no call can make a replica allocate without limit.
import { bad, wireBool, wireInt, wireObject } from '../util/wire-args.js';
import { parsePointId } from '../shard/filter.js';
import type { PointId } from '../storage/types.js';
import type { PayloadSelector, ReadOptions, ScrollRequest } from './types.js';

/** Searches in one shard.search call (a REST search batch fans out as one call per shard). */
export const WIRE_SEARCHES_MAX = 10_000;
/** Hits per search asked of one shard (REST's own limits are far lower; offsets and MMR add to them). */
export const WIRE_K_MAX = 1_000_000;
/** Ids in one shard.retrieve call, and points in one scroll page. */
export const WIRE_POINTS_MAX = 200_000;

export interface WireCall {
  groupId: string;
  consistency: ReadOptions['consistency'];
}

export interface WireSearch {
  k: number;
  ef?: number;
  filter: unknown;
  exact: boolean;
  withPayload: PayloadSelector;
  withVector: boolean;
  scoreThreshold?: number;
}

function wirePayloadSelector(raw: unknown, method: string, field: string): PayloadSelector {
  if (typeof raw === 'boolean') return raw;
  const o = raw as Record<string, unknown> | null;
  const keys = o && typeof o === 'object' && !Array.isArray(o) ? Object.keys(o) : [];
  const list = keys.length === 1 && (keys[0] === 'include' || keys[0] === 'exclude') ? o![keys[0]] : undefined;
  if (!Array.isArray(list) || !list.every((k) => typeof k === 'string')) bad(method, `${field} must be a boolean, {include: [keys]} or {exclude: [keys]}`);
  return keys[0] === 'include' ? { include: list as string[] } : { exclude: list as string[] };
}

function wireId(raw: unknown, method: string, field: string): PointId {
  try {
    return parsePointId(raw, field);
  } catch (e) {
    bad(method, (e as Error).message);
  }
}

/** The group and read consistency every shard read names. */
export function wireCall(json: unknown, method: string): WireCall & Record<string, unknown> {
  const o = wireObject(json, method);
  if (typeof o.groupId !== 'string' || o.groupId === '') bad(method, 'groupId must be a group id');
  if (o.consistency !== 'strong' && o.consistency !== 'eventual') bad(method, 'consistency must be "strong" or "eventual"');
  return o as WireCall & Record<string, unknown>;
}

export function wireSearches(raw: unknown, method: string): WireSearch[] {
  if (!Array.isArray(raw) || raw.length > WIRE_SEARCHES_MAX) bad(method, `requests must be a list of at most ${WIRE_SEARCHES_MAX} searches`);
  return raw.map((r, i) => {
    const s = wireObject(r, `${method} requests[${i}]`);
    const where = `requests[${i}]`;
    const out: WireSearch = {
      k: wireInt(s.k, method, `${where}.k`, 0, WIRE_K_MAX),
      filter: s.filter ?? null,
      exact: wireBool(s.exact, method, `${where}.exact`),
      withPayload: wirePayloadSelector(s.withPayload, method, `${where}.withPayload`),
      withVector: wireBool(s.withVector, method, `${where}.withVector`),
    };
    if (s.ef !== undefined && s.ef !== null) out.ef = wireInt(s.ef, method, `${where}.ef`, 1, WIRE_K_MAX);
    if (s.scoreThreshold !== undefined && s.scoreThreshold !== null) {
      if (typeof s.scoreThreshold !== 'number' || !Number.isFinite(s.scoreThreshold)) bad(method, `${where}.scoreThreshold must be a finite number`);
      out.scoreThreshold = s.scoreThreshold;
    }
    return out;
  });
}

export function wireIds(raw: unknown, method: string): PointId[] {
  if (!Array.isArray(raw) || raw.length > WIRE_POINTS_MAX) bad(method, `ids must be a list of at most ${WIRE_POINTS_MAX} point ids`);
  return raw.map((id, i) => wireId(id, method, `ids[${i}]`));
}

export function wireRetrieve(args: Record<string, unknown>, method: string): { ids: PointId[]; withPayload: PayloadSelector; withVector: boolean } {
  return { ids: wireIds(args.ids, method), withPayload: wirePayloadSelector(args.withPayload, method, 'withPayload'), withVector: wireBool(args.withVector, method, 'withVector') };
}

export function wireScroll(raw: unknown, method: string): ScrollRequest {
  const r = wireObject(raw, `${method} request`);
  return {
    offset: r.offset === null || r.offset === undefined ? null : wireId(r.offset, method, 'request.offset'),
    limit: wireInt(r.limit, method, 'request.limit', 0, WIRE_POINTS_MAX),
    filter: r.filter ?? null,
    withPayload: wirePayloadSelector(r.withPayload, method, 'request.withPayload'),
    withVector: wireBool(r.withVector, method, 'request.withVector'),
  };
}
