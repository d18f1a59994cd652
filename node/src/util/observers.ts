// What the lower layers report for metrics, as small interfaces the API's NodeMetrics implements:
// the cluster and query layers never import prom-client or the API.

/** Raft groups: proposals and their commit latency, leadership changes, log appends until durable. */
export interface GroupObserver {
  proposal(groupId: string, seconds: number, ok: boolean): void;
  leaderChanged(groupId: string): void;
  /** One batch of entries appended to the group's log, fsync included (the cluster mode's WAL fsync). */
  logAppended(groupId: string, seconds: number): void;
}

/** Internal calls this node made to others. */
export interface RpcObserver {
  call(method: string, seconds: number, code: string): void;
}

/** One shard's answer to one fan-out of a collection read. */
export interface ShardCallObserver {
  shardCall(collection: string, shard: number, op: string, seconds: number, ok: boolean): void;
  partialResult(collection: string): void;
}

export const NO_GROUP_OBSERVER: GroupObserver = { proposal: () => undefined, leaderChanged: () => undefined, logAppended: () => undefined };
export const NO_RPC_OBSERVER: RpcObserver = { call: () => undefined };
export const NO_SHARD_CALL_OBSERVER: ShardCallObserver = { shardCall: () => undefined, partialResult: () => undefined };
