// The meta group's state machine: nodes with their addresses, collections with their settings,
// and the placement of each shard's replicas. Every node applies the same commands in the same
// order, so every node agrees on which shard groups exist and where.
import type { Entry } from '../raft/types.js';
import type { CollectionParams } from '../shard/state.js';
import { JadeError, type ErrorCode } from '../util/errors.js';

export interface NodeRecord {
  id: string;
  restUrl: string;
  grpcAddress: string;
}

export interface ShardPlacement {
  groupId: string;
  replicas: string[];
}

export interface CollectionMeta {
  name: string;
  params: CollectionParams;
  shards: ShardPlacement[];
  createdAtMs: number;
}

export type MetaCommand =
  | { op: 'setNode'; node: NodeRecord }
  | { op: 'createCollection'; collection: CollectionMeta }
  | { op: 'deleteCollection'; name: string };

/** What applying a command returned: JSON, so a forwarded proposal can carry it back. */
export type MetaResult = { ok: true } | { ok: false; code: ErrorCode; message: string };

export interface MetaState {
  nodes: Record<string, NodeRecord>;
  collections: Record<string, CollectionMeta>;
}

export function encodeMetaCommand(c: MetaCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export class MetaStateMachine {
  state: MetaState = { nodes: {}, collections: {} };
  private readonly listeners: (() => void)[] = [];

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  apply(entry: Entry): MetaResult {
    const c = JSON.parse(new TextDecoder().decode(entry.data)) as MetaCommand;
    const result = this.applyCommand(c);
    this.changed();
    return result;
  }

  private applyCommand(c: MetaCommand): MetaResult {
    switch (c.op) {
      case 'setNode':
        this.state.nodes[c.node.id] = c.node;
        return { ok: true };
      case 'createCollection':
        if (this.state.collections[c.collection.name]) {
          return { ok: false, code: 'JADE_ERR_COLLECTION_EXISTS', message: `collection "${c.collection.name}" already exists` };
        }
        this.state.collections[c.collection.name] = c.collection;
        return { ok: true };
      case 'deleteCollection':
        if (!this.state.collections[c.name]) return { ok: false, code: 'JADE_ERR_COLLECTION_NOT_FOUND', message: `collection "${c.name}" does not exist` };
        delete this.state.collections[c.name];
        return { ok: true };
    }
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.state));
  }

  restore(data: Uint8Array): void {
    this.state = data.length ? (JSON.parse(new TextDecoder().decode(data)) as MetaState) : { nodes: {}, collections: {} };
    this.changed();
  }
}

/** Throws the coded error a failed meta command reported. */
export function unwrapMetaResult(r: unknown): void {
  const result = r as MetaResult;
  if (!result.ok) throw new JadeError(result.code, result.message);
}

/** Replicas of a new collection: `rf` nodes, starting at a hash of the name so load spreads. */
export function placeReplicas(name: string, nodeIds: string[], rf: number): string[] {
  const sorted = [...nodeIds].sort();
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  const start = h % sorted.length;
  return Array.from({ length: Math.min(rf, sorted.length) }, (_, i) => sorted[(start + i) % sorted.length]);
}
