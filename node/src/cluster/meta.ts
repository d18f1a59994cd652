// The meta group's state machine: the cluster's id, its nodes (id, incarnation, addresses,
// labels), collections with their settings and the placement of each shard's replicas. Every
// node applies the same commands in the same order, so every node agrees on which shard groups
// exist and where. Commands are validated when decoded; a malformed or inapplicable one yields
// an error result on every node alike, never an exception (it is in the log for good).
import type { Entry } from '../raft/types.js';
import { ALIAS_ACTIONS_MAX, applyAliasActions, withoutCollection, type AliasAction } from '../shard/aliases.js';
import type { CollectionParams } from '../shard/state.js';
import { validateParams } from '../shard/state.js';
import { COLLECTION_NAME_RE } from '../shard/collection-name.js';
import { JadeError, isJadeError, type ErrorCode } from '../util/errors.js';
import { incarnationOfMember, memberId, nodeOfMember } from './identity.js';
import { MOVE_STAGES, MOVES_FINISHED_KEPT, allowedNextStages, checkMove, isActive, replicasAfter, shardOf, type DrainRecord, type MoveRecord, type MoveStage } from './moves.js';

export type WriteConsistency = 'majority' | 'all' | 'one';
export const WRITE_CONSISTENCIES: readonly WriteConsistency[] = ['majority', 'all', 'one'];

export interface NodeRecord {
  id: string;
  incarnation: string;
  restUrl: string;
  grpcAddress: string;
  /** Free-form labels (e.g. zone) for read strategies and placement. */
  labels: Record<string, string>;
  joinedAtMs: number;
}

export interface HashRangeMeta {
  start: number;
  end: number;
}

export interface ShardPlacement {
  groupId: string;
  /** The point-hash range this shard owns. */
  range: HashRangeMeta;
  /** Members (node id + incarnation) that founded the group with themselves as voters. */
  founders: string[];
  /** Members that hold a replica now (founders, or replicas added later). */
  replicas: string[];
}

export interface CollectionMeta {
  name: string;
  params: CollectionParams;
  createdAtMs: number;
  replicationFactor: number;
  writeConsistency: WriteConsistency;
  shards: ShardPlacement[];
}

export type MetaCommand =
  /** The first command of a new cluster, proposed by the bootstrapping node. */
  | { op: 'init'; clusterId: string; node: NodeRecord }
  /** A node joins, or returns with a new incarnation (which replaces the old one). */
  | { op: 'addNode'; node: NodeRecord }
  /** A known incarnation restarted with other addresses (a pod gets a new IP). */
  | { op: 'setNodeAddress'; nodeId: string; incarnation: string; restUrl: string; grpcAddress: string }
  | { op: 'removeNode'; nodeId: string; incarnation: string }
  | { op: 'createCollection'; collection: CollectionMeta }
  | { op: 'deleteCollection'; name: string }
  /** PATCH /collections/{name}: the default search ef (the replicas' graphs are unchanged). */
  | { op: 'updateCollection'; name: string; efSearch: number }
  /** Alias actions, all or none. */
  | { op: 'updateAliases'; actions: AliasAction[] }
  /** A replica move (move_shard, replicate_shard, drop_replica, or one step of a drain) starts in stage planned. */
  | { op: 'startMove'; move: Pick<MoveRecord, 'id' | 'collection' | 'groupId' | 'from' | 'to' | 'drain' | 'startedAtMs' | 'rebalance'> }
  /** A move reached its next stage; done also updates the shard's replicas. */
  | { op: 'advanceMove'; id: string; stage: MoveStage; reason: string | null; atMs: number; verified?: { index: number; count: number; digest: string } }
  /** POST /cluster/peer/{id}/drain starts a drain; the meta leader marks it drained once the node holds nothing. */
  | { op: 'setDrain'; nodeId: string; incarnation: string; state: 'draining' | 'drained'; atMs: number }
  /** A rebalance starts (a node joined, or POST /cluster/rebalance), ends with nothing left to move, or is stopped. */
  | { op: 'setRebalance'; state: RebalanceRecord['state']; reason: string; atMs: number }
  /** The meta leader's failure detector (or a person) declares a node dead, or alive again. */
  | { op: 'setNodeDead'; nodeId: string; incarnation: string; dead: boolean; reason: string; atMs: number };

/** A node declared dead: its replicas count as lost and re-replication replaces them elsewhere. */
export interface DeadNodeRecord {
  incarnation: string;
  sinceMs: number;
  reason: string;
}

/** The cluster's rebalance: the meta leader starts the planner's next moves while it is running. */
export interface RebalanceRecord {
  state: 'running' | 'done' | 'stopped';
  /** Why it started ("node n5 joined", "requested"), or why it stopped. */
  reason: string;
  startedAtMs: number;
  updatedAtMs: number;
  /** Moves it started. */
  moves: number;
}

/** What applying a command returned: JSON, so a forwarded proposal can carry it back. */
export type MetaResult = { ok: true; value?: unknown } | { ok: false; code: ErrorCode; message: string; details?: Record<string, unknown> };

export interface MetaState {
  clusterId: string | null;
  nodes: Record<string, NodeRecord>;
  collections: Record<string, CollectionMeta>;
  /** alias -> collection; absent in states written before aliases existed. */
  aliases?: Record<string, string>;
  /** Replica moves in flight and the last MOVES_FINISHED_KEPT finished ones; absent before moves existed. */
  moves?: MoveRecord[];
  /** Nodes being (or done being) drained, by node id; absent before drains existed. */
  drains?: Record<string, DrainRecord>;
  /** The last rebalance; absent until one ran. */
  rebalance?: RebalanceRecord;
  /** Nodes declared dead (by node id); absent until one was. */
  deadNodes?: Record<string, DeadNodeRecord>;
}

export function emptyMetaState(): MetaState {
  return { clusterId: null, nodes: {}, collections: {} };
}

export function encodeMetaCommand(c: MetaCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

// ---- validation of commands (before they are proposed, and again when applied) ----

const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const INCARNATION_RE = /^[0-9a-f]{4,32}$/;
const ADDRESS_MAX = 512;
const LABELS_MAX = 32;
export const SHARDS_PER_COLLECTION_MAX = 1024;
export const REPLICATION_FACTOR_MAX = 16;

function bad(message: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', `invalid meta command: ${message}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, what: string, re?: RegExp, max = ADDRESS_MAX): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || (re && !re.test(v))) bad(`${what} must be a valid string`);
  return v;
}

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${what} must be an integer in ${min}..${max}`);
  return v;
}

export function validNodeId(id: unknown): id is string {
  return typeof id === 'string' && NODE_ID_RE.test(id);
}

function member(v: unknown, what: string): string {
  const m = str(v, what, undefined, 200);
  if (!NODE_ID_RE.test(nodeOfMember(m)) || !INCARNATION_RE.test(incarnationOfMember(m))) bad(`${what} must be node#incarnation`);
  return m;
}

/** A joining node's record as it asks to be admitted (before the meta leader stamps joinedAtMs). */
export function checkJoiningNode(v: unknown): NodeRecord {
  return nodeRecord(isRecord(v) ? { joinedAtMs: 0, ...v } : v);
}

function nodeRecord(v: unknown): NodeRecord {
  if (!isRecord(v)) bad('node must be an object');
  const labels = v.labels ?? {};
  if (!isRecord(labels) || Object.keys(labels).length > LABELS_MAX || !Object.values(labels).every((x) => typeof x === 'string' && x.length <= 256)) bad('node.labels must be an object of strings');
  return {
    id: str(v.id, 'node.id', NODE_ID_RE),
    incarnation: str(v.incarnation, 'node.incarnation', INCARNATION_RE),
    restUrl: str(v.restUrl, 'node.restUrl', /^https?:\/\/\S+$/),
    grpcAddress: str(v.grpcAddress, 'node.grpcAddress', /^\S+:\d+$/),
    labels: labels as Record<string, string>,
    joinedAtMs: int(v.joinedAtMs, 'node.joinedAtMs', 0, Number.MAX_SAFE_INTEGER),
  };
}

function collectionMeta(v: unknown): CollectionMeta {
  if (!isRecord(v)) bad('collection must be an object');
  const name = str(v.name, 'collection.name', COLLECTION_NAME_RE, 255);
  if (!isRecord(v.params)) bad('collection.params must be an object');
  try {
    validateParams(v.params as unknown as CollectionParams);
  } catch (e) {
    bad(`collection.params: ${(e as Error).message}`);
  }
  const rf = int(v.replicationFactor, 'collection.replicationFactor', 1, REPLICATION_FACTOR_MAX);
  const wc = v.writeConsistency;
  if (!WRITE_CONSISTENCIES.includes(wc as WriteConsistency)) bad(`collection.writeConsistency must be one of ${WRITE_CONSISTENCIES.join(', ')}`);
  if (!Array.isArray(v.shards) || v.shards.length < 1 || v.shards.length > SHARDS_PER_COLLECTION_MAX) bad(`collection.shards must list 1..${SHARDS_PER_COLLECTION_MAX} shards`);
  let expectStart = 0;
  const shards = v.shards.map((s, i): ShardPlacement => {
    if (!isRecord(s) || !isRecord(s.range)) bad(`shards[${i}] must be an object with a range`);
    const start = int(s.range.start, `shards[${i}].range.start`, 0, 2 ** 32 - 1);
    const end = int(s.range.end, `shards[${i}].range.end`, 1, 2 ** 32);
    if (start !== expectStart || end <= start) bad(`shards[${i}].range must continue the previous one`);
    expectStart = end;
    if (!Array.isArray(s.founders) || !Array.isArray(s.replicas) || s.replicas.length < 1) bad(`shards[${i}] needs founders and replicas`);
    const replicas = s.replicas.map((m, j) => member(m, `shards[${i}].replicas[${j}]`));
    const founders = s.founders.map((m, j) => member(m, `shards[${i}].founders[${j}]`));
    if (new Set(replicas.map(nodeOfMember)).size !== replicas.length) bad(`shards[${i}] places two replicas on one node`);
    return { groupId: str(s.groupId, `shards[${i}].groupId`, /^[A-Za-z0-9_.-]{1,300}$/, 300), range: { start, end }, founders, replicas };
  });
  if (expectStart !== 2 ** 32) bad('collection.shards must cover the whole hash space');
  return { name, params: v.params as unknown as CollectionParams, createdAtMs: int(v.createdAtMs, 'collection.createdAtMs', 0, Number.MAX_SAFE_INTEGER), replicationFactor: rf, writeConsistency: wc as WriteConsistency, shards };
}

function aliasAction(a: unknown, i: number): AliasAction {
  if (!isRecord(a)) bad(`actions[${i}] must be an object`);
  // Names are checked as names when applied (applyAliasActions): here only their type and length.
  const name = (v: unknown, what: string) => str(v, `actions[${i}].${what}`, undefined, 255);
  switch (a.kind) {
    case 'create':
      return { kind: 'create', alias: name(a.alias, 'alias'), collection: name(a.collection, 'collection') };
    case 'delete':
      return { kind: 'delete', alias: name(a.alias, 'alias') };
    case 'rename':
      return { kind: 'rename', from: name(a.from, 'from'), to: name(a.to, 'to') };
    default:
      return bad(`actions[${i}].kind must be create, delete or rename`);
  }
}

/** Decodes and validates a meta command: throws a coded 400 for anything malformed. */
export function decodeMetaCommand(data: Uint8Array): MetaCommand {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    bad('not JSON');
  }
  if (!isRecord(v)) bad('not an object');
  switch (v.op) {
    case 'init':
      return { op: 'init', clusterId: str(v.clusterId, 'clusterId', /^[0-9a-f]{32}$/), node: nodeRecord(v.node) };
    case 'addNode':
      return { op: 'addNode', node: nodeRecord(v.node) };
    case 'setNodeAddress':
      return { op: 'setNodeAddress', nodeId: str(v.nodeId, 'nodeId', NODE_ID_RE), incarnation: str(v.incarnation, 'incarnation', INCARNATION_RE), restUrl: str(v.restUrl, 'restUrl', /^https?:\/\/\S+$/), grpcAddress: str(v.grpcAddress, 'grpcAddress', /^\S+:\d+$/) };
    case 'removeNode':
      return { op: 'removeNode', nodeId: str(v.nodeId, 'nodeId', NODE_ID_RE), incarnation: str(v.incarnation, 'incarnation', INCARNATION_RE) };
    case 'createCollection':
      return { op: 'createCollection', collection: collectionMeta(v.collection) };
    case 'deleteCollection':
      return { op: 'deleteCollection', name: str(v.name, 'name', COLLECTION_NAME_RE, 255) };
    case 'updateCollection':
      return { op: 'updateCollection', name: str(v.name, 'name', COLLECTION_NAME_RE, 255), efSearch: int(v.efSearch, 'efSearch', 1, 32_768) };
    case 'updateAliases':
      if (!Array.isArray(v.actions) || v.actions.length > ALIAS_ACTIONS_MAX) bad(`actions must be a list of at most ${ALIAS_ACTIONS_MAX}`);
      return { op: 'updateAliases', actions: v.actions.map((a, i) => aliasAction(a, i)) };
    case 'startMove': {
      const m = v.move;
      if (!isRecord(m)) bad('move must be an object');
      const optMember = (x: unknown, what: string) => (x === null ? null : member(x, what));
      return {
        op: 'startMove',
        move: {
          id: str(m.id, 'move.id', /^[A-Za-z0-9_.:@-]{1,400}$/, 400),
          collection: str(m.collection, 'move.collection', COLLECTION_NAME_RE, 255),
          groupId: str(m.groupId, 'move.groupId', /^[A-Za-z0-9_.-]{1,300}$/, 300),
          from: optMember(m.from, 'move.from'),
          to: optMember(m.to, 'move.to'),
          drain: m.drain === null ? null : str(m.drain, 'move.drain', NODE_ID_RE),
          startedAtMs: int(m.startedAtMs, 'move.startedAtMs', 0, Number.MAX_SAFE_INTEGER),
          ...(m.rebalance === undefined ? {} : { rebalance: m.rebalance === true ? true : bad('move.rebalance must be true when present') }),
        },
      };
    }
    case 'advanceMove': {
      if (!MOVE_STAGES.includes(v.stage as MoveStage)) bad(`stage must be one of ${MOVE_STAGES.join(', ')}`);
      const verified = v.verified === undefined ? undefined : isRecord(v.verified) ? { index: int(v.verified.index, 'verified.index', 0, Number.MAX_SAFE_INTEGER), count: int(v.verified.count, 'verified.count', 0, Number.MAX_SAFE_INTEGER), digest: str(v.verified.digest, 'verified.digest', /^[0-9a-f]{1,32}$/) } : bad('verified must be an object');
      return { op: 'advanceMove', id: str(v.id, 'id', undefined, 400), stage: v.stage as MoveStage, reason: v.reason === null ? null : str(v.reason, 'reason', undefined, 1000), atMs: int(v.atMs, 'atMs', 0, Number.MAX_SAFE_INTEGER), ...(verified ? { verified } : {}) };
    }
    case 'setDrain':
      if (v.state !== 'draining' && v.state !== 'drained') bad('state must be draining or drained');
      return { op: 'setDrain', nodeId: str(v.nodeId, 'nodeId', NODE_ID_RE), incarnation: str(v.incarnation, 'incarnation', INCARNATION_RE), state: v.state, atMs: int(v.atMs, 'atMs', 0, Number.MAX_SAFE_INTEGER) };
    case 'setNodeDead':
      if (typeof v.dead !== 'boolean') bad('dead must be a boolean');
      return { op: 'setNodeDead', nodeId: str(v.nodeId, 'nodeId', NODE_ID_RE), incarnation: str(v.incarnation, 'incarnation', INCARNATION_RE), dead: v.dead, reason: str(v.reason, 'reason', undefined, 1000), atMs: int(v.atMs, 'atMs', 0, Number.MAX_SAFE_INTEGER) };
    case 'setRebalance':
      if (v.state !== 'running' && v.state !== 'done' && v.state !== 'stopped') bad('state must be running, done or stopped');
      return { op: 'setRebalance', state: v.state, reason: str(v.reason, 'reason', undefined, 1000), atMs: int(v.atMs, 'atMs', 0, Number.MAX_SAFE_INTEGER) };
    default:
      return bad(`unknown op ${JSON.stringify(v.op)?.slice(0, 40)}`);
  }
}

export class MetaStateMachine {
  state: MetaState = emptyMetaState();
  private readonly listeners: (() => void)[] = [];

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  apply(entry: Entry): MetaResult {
    let result: MetaResult;
    try {
      result = this.applyCommand(decodeMetaCommand(entry.data));
    } catch (e) {
      result = isJadeError(e) ? { ok: false, code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } : { ok: false, code: 'JADE_ERR_INTERNAL', message: String(e) };
    }
    if (result.ok) this.changed();
    return result;
  }

  /** The member id of a node's current incarnation, or null when the node is unknown. */
  memberOf(nodeId: string): string | null {
    const n = this.state.nodes[nodeId];
    return n ? memberId(n.id, n.incarnation) : null;
  }

  private applyCommand(c: MetaCommand): MetaResult {
    const s = this.state;
    switch (c.op) {
      case 'init':
        if (s.clusterId !== null) return { ok: false, code: 'JADE_ERR_CONFLICT', message: `the cluster is already initialized (${s.clusterId})` };
        s.clusterId = c.clusterId;
        s.nodes[c.node.id] = c.node;
        return { ok: true };
      case 'addNode': {
        const old = s.nodes[c.node.id];
        s.nodes[c.node.id] = c.node;
        if (s.deadNodes) delete s.deadNodes[c.node.id]; // a new incarnation starts alive
        return { ok: true, value: { replaced: old && old.incarnation !== c.node.incarnation ? old.incarnation : null } };
      }
      case 'setNodeAddress': {
        const n = s.nodes[c.nodeId];
        if (!n || n.incarnation !== c.incarnation) return { ok: false, code: 'JADE_ERR_NOT_FOUND', message: `node ${c.nodeId} (incarnation ${c.incarnation}) is not a member` };
        s.nodes[c.nodeId] = { ...n, restUrl: c.restUrl, grpcAddress: c.grpcAddress };
        return { ok: true };
      }
      case 'removeNode': {
        const n = s.nodes[c.nodeId];
        if (!n || n.incarnation !== c.incarnation) return { ok: false, code: 'JADE_ERR_NOT_FOUND', message: `node ${c.nodeId} (incarnation ${c.incarnation}) is not a member` };
        delete s.nodes[c.nodeId];
        if (s.drains) delete s.drains[c.nodeId];
        if (s.deadNodes) delete s.deadNodes[c.nodeId];
        return { ok: true };
      }
      case 'createCollection':
        if (s.collections[c.collection.name]) return { ok: false, code: 'JADE_ERR_COLLECTION_EXISTS', message: `collection "${c.collection.name}" already exists` };
        if (s.aliases?.[c.collection.name] !== undefined) return { ok: false, code: 'JADE_ERR_COLLECTION_EXISTS', message: `"${c.collection.name}" is an alias (of collection "${s.aliases[c.collection.name]}")` };
        s.collections[c.collection.name] = c.collection;
        return { ok: true };
      case 'deleteCollection':
        if (!s.collections[c.name]) return { ok: false, code: 'JADE_ERR_COLLECTION_NOT_FOUND', message: `collection "${c.name}" does not exist` };
        delete s.collections[c.name];
        if (s.aliases) s.aliases = withoutCollection(s.aliases, c.name);
        return { ok: true };
      case 'updateCollection': {
        const col = s.collections[c.name];
        if (!col) return { ok: false, code: 'JADE_ERR_COLLECTION_NOT_FOUND', message: `collection "${c.name}" does not exist` };
        const params = { ...col.params, hnsw: { ...col.params.hnsw, efSearch: c.efSearch } };
        validateParams(params); // a coded 400 becomes the error result (apply catches it)
        s.collections[c.name] = { ...col, params };
        return { ok: true };
      }
      case 'updateAliases':
        // All or none: a failing action throws before the state changes.
        s.aliases = applyAliasActions(s.aliases ?? {}, (n) => n in s.collections, c.actions);
        return { ok: true };
      case 'startMove': {
        if (s.moves?.some((m) => m.id === c.move.id)) return { ok: false, code: 'JADE_ERR_CONFLICT', message: `move ${c.move.id} exists`, details: { reason: 'MOVE_IN_PROGRESS' } };
        checkMove(s, c.move); // a coded refusal becomes the error result (apply catches it)
        s.moves = [...(s.moves ?? []), { ...c.move, stage: 'planned', reason: null, updatedAtMs: c.move.startedAtMs }];
        if (c.move.drain && s.drains?.[c.move.drain]) s.drains[c.move.drain] = { ...s.drains[c.move.drain], moves: s.drains[c.move.drain].moves + 1 };
        if (c.move.rebalance && s.rebalance) s.rebalance = { ...s.rebalance, moves: s.rebalance.moves + 1, updatedAtMs: c.move.startedAtMs };
        return { ok: true, value: c.move.id };
      }
      case 'advanceMove':
        return this.advanceMove(c);
      case 'setDrain': {
        const n = s.nodes[c.nodeId];
        if (!n || n.incarnation !== c.incarnation) return { ok: false, code: 'JADE_ERR_NOT_FOUND', message: `node ${c.nodeId} (incarnation ${c.incarnation}) is not a member` };
        const old = s.drains?.[c.nodeId];
        s.drains = { ...(s.drains ?? {}), [c.nodeId]: { nodeId: c.nodeId, incarnation: c.incarnation, state: c.state, startedAtMs: old?.startedAtMs ?? c.atMs, moves: old?.moves ?? 0 } };
        return { ok: true };
      }
      case 'setNodeDead': {
        const n = s.nodes[c.nodeId];
        if (!n || n.incarnation !== c.incarnation) return { ok: false, code: 'JADE_ERR_NOT_FOUND', message: `node ${c.nodeId} (incarnation ${c.incarnation}) is not a member` };
        const dead = { ...(s.deadNodes ?? {}) };
        if (c.dead) dead[c.nodeId] = dead[c.nodeId] ?? { incarnation: c.incarnation, sinceMs: c.atMs, reason: c.reason };
        else delete dead[c.nodeId];
        s.deadNodes = dead;
        return { ok: true };
      }
      case 'setRebalance': {
        const prev = s.rebalance;
        // A new run starts counting afresh; done/stopped keep the run's start and moves.
        const fresh = c.state === 'running' && prev?.state !== 'running';
        s.rebalance = { state: c.state, reason: c.reason, startedAtMs: fresh || !prev ? c.atMs : prev.startedAtMs, updatedAtMs: c.atMs, moves: fresh || !prev ? 0 : prev.moves };
        return { ok: true };
      }
    }
  }

  private advanceMove(c: Extract<MetaCommand, { op: 'advanceMove' }>): MetaResult {
    const s = this.state;
    const i = (s.moves ?? []).findIndex((m) => m.id === c.id);
    if (i < 0) return { ok: false, code: 'JADE_ERR_NOT_FOUND', message: `no move ${c.id}` };
    const m = s.moves![i];
    if (m.stage === c.stage) return { ok: true }; // a resumed executor repeats a step: no change
    if (!allowedNextStages(m.stage, m).includes(c.stage)) return { ok: false, code: 'JADE_ERR_CONFLICT', message: `move ${c.id} cannot go from ${m.stage} to ${c.stage}`, details: { reason: 'BAD_STAGE' } };
    if (c.stage === 'done') {
      const found = shardOf(s, m.groupId);
      if (found) {
        const shards = [...found.collection.shards];
        shards[found.index] = { ...found.shard, replicas: replicasAfter(found.shard.replicas, m) };
        s.collections[found.collection.name] = { ...found.collection, shards };
      }
    }
    const moves = [...s.moves!];
    moves[i] = { ...m, stage: c.stage, reason: c.reason, updatedAtMs: c.atMs, ...(c.verified ? { verified: c.verified } : {}) };
    const finished = moves.filter((x) => !isActive(x));
    s.moves = finished.length > MOVES_FINISHED_KEPT ? moves.filter((x) => isActive(x) || finished.indexOf(x) >= finished.length - MOVES_FINISHED_KEPT) : moves;
    return { ok: true };
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.state));
  }

  restore(data: Uint8Array): void {
    this.state = data.length ? (JSON.parse(new TextDecoder().decode(data)) as MetaState) : emptyMetaState();
    this.changed();
  }
}

/** Throws the coded error a failed meta command reported; returns its value otherwise. */
export function unwrapMetaResult(r: unknown): unknown {
  const result = r as MetaResult | undefined;
  if (!result) throw new JadeError('JADE_ERR_INTERNAL', 'meta command gave no result');
  if (!result.ok) throw new JadeError(result.code, result.message, result.details);
  return result.value;
}

/** Every replica of every shard placed on a member (for remove and drain checks). */
export function replicasOnMember(state: MetaState, member: string): { collection: string; groupId: string }[] {
  const out: { collection: string; groupId: string }[] = [];
  for (const c of Object.values(state.collections)) for (const s of c.shards) if (s.replicas.includes(member)) out.push({ collection: c.name, groupId: s.groupId });
  return out;
}
