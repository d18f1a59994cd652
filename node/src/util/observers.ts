// What the lower layers report for metrics, as small interfaces the API's NodeMetrics implements:
// the cluster and query layers never import prom-client or the API.

/** Raft groups: proposals and their commit latency, leadership changes. */
export interface GroupObserver {
  proposal(groupId: string, seconds: number, ok: boolean): void;
  leaderChanged(groupId: string): void;
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

export const NO_GROUP_OBSERVER: GroupObserver = { proposal: () => undefined, leaderChanged: () => undefined };
export const NO_RPC_OBSERVER: RpcObserver = { call: () => undefined };
export const NO_SHARD_CALL_OBSERVER: ShardCallObserver = { shardCall: () => undefined, partialResult: () => undefined };
