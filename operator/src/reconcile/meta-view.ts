// The cluster's membership as the nodes report it on /v1/status: the meta leader's own report when it
// answered, else the report with the highest meta term. The operator never assumes membership.
import type { NodeStatus, NodeStatusReport } from './plan.js';

export interface MemberDrain {
  /** null: no drain asked for the member's current incarnation. */
  state: string | null;
  /** Shard replicas the member still holds. */
  replicas: number;
}

export interface MetaView {
  /** Node ids (pod names) the meta group lists. */
  members: Set<string>;
  drains: Record<string, MemberDrain>;
  /** Members the meta state lists as declared dead (their replicas are being re-created elsewhere). */
  dead: Set<string>;
  /** The pod the report names as meta leader, if any. */
  leader: string | null;
  underReplicated?: { count: number; groups: string[] };
  rebalance?: { state: string; reason: string; movesStarted: number; movesInFlight: number };
}

export function reportedClusterId(nodeStatus: Record<string, NodeStatusReport>): string | undefined {
  for (const report of Object.values(nodeStatus)) if (report.ok && report.status.clusterId) return report.status.clusterId;
  return undefined;
}

/** undefined when no member of a founded cluster answered. */
export function reportedMeta(nodeStatus: Record<string, NodeStatusReport>): MetaView | undefined {
  const reports = Object.values(nodeStatus).flatMap((r) => (r.ok && r.status.mode === 'cluster' && r.status.metaMembers && r.status.clusterId ? [r.status] : []));
  if (reports.length === 0) return undefined;
  const fromLeader = reports.find((r) => r.metaLeader && r.nodeId === r.metaLeader);
  const best: NodeStatus = fromLeader ?? reports.reduce((a, b) => ((b.metaTerm ?? 0) > (a.metaTerm ?? 0) ? b : a));
  const dead = new Set(Object.entries(best.metaLiveness ?? {}).filter(([, l]) => l === 'dead').map(([id]) => id));
  return { members: new Set(best.metaMembers), drains: { ...best.metaDrains }, dead, leader: best.metaLeader ?? null, ...(best.underReplicated ? { underReplicated: best.underReplicated } : {}), ...(best.rebalance ? { rebalance: best.rebalance } : {}) };
}
