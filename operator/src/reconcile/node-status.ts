// Reads a member's self-reported state from its GET /v1/status (api-key header). Any failure becomes a
// report the planner shows in the member's message; it never fails the reconcile.
import { nodeRequest, type NodeTls } from './node-http.js';
import type { GroupReport, NodeStatus, NodeStatusReport } from './plan.js';

export const NODE_STATUS_TIMEOUT_MS = 2000;

export async function fetchNodeStatus(baseUrl: string, apiKey: string | undefined, timeoutMs = NODE_STATUS_TIMEOUT_MS, tls?: NodeTls): Promise<NodeStatusReport> {
  try {
    const res = await nodeRequest(`${baseUrl}/v1/status`, { headers: apiKey ? { 'api-key': apiKey } : {}, timeoutMs, tls });
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}` };
    const body = JSON.parse(res.text) as Record<string, unknown>;
    // Qdrant-style envelopes put the payload under `result`; accept both shapes.
    const s = (typeof body.result === 'object' && body.result !== null ? body.result : body) as Record<string, unknown>;
    const status: NodeStatus = {};
    if (typeof s.version === 'string') status.version = s.version;
    if (typeof s.nodeId === 'string') status.nodeId = s.nodeId;
    if (typeof s.ready === 'boolean') status.ready = s.ready;
    if (typeof s.role === 'string') status.role = s.role;
    if (typeof s.collections === 'number') status.collections = s.collections;
    else if (Array.isArray(s.collections)) status.collections = s.collections.length;
    if (typeof s.points === 'number') status.points = s.points;
    if (typeof s.uptimeSeconds === 'number') status.uptimeSeconds = s.uptimeSeconds;
    if (typeof s.mode === 'string') status.mode = s.mode;
    if (typeof s.clusterId === 'string' || s.clusterId === null) status.clusterId = s.clusterId;
    if (typeof s.joined === 'boolean') status.joined = s.joined;
    if (Array.isArray(s.members)) {
      const members = s.members.filter((m): m is { id: string; replicas?: unknown; drain?: unknown; liveness?: unknown } => typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'string');
      status.metaMembers = members.map((m) => m.id);
      status.metaLiveness = Object.fromEntries(members.flatMap((m) => (typeof m.liveness === 'string' ? [[m.id, m.liveness]] : [])));
      status.metaDrains = Object.fromEntries(members.map((m) => [m.id, { state: typeof m.drain === 'string' ? m.drain : null, replicas: typeof m.replicas === 'number' ? m.replicas : 0 }]));
    }
    if (typeof s.term === 'number') status.metaTerm = s.term;
    const under = s.underReplicated as { count?: unknown; groups?: unknown } | undefined;
    if (under && typeof under.count === 'number') {
      status.underReplicated = { count: under.count, groups: Array.isArray(under.groups) ? under.groups.filter((g): g is string => typeof g === 'string') : [] };
    }
    const r = s.rebalance as { state?: unknown; reason?: unknown; movesStarted?: unknown; movesInFlight?: unknown } | null | undefined;
    if (r && typeof r.state === 'string') status.rebalance = { state: r.state, reason: typeof r.reason === 'string' ? r.reason : '', movesStarted: typeof r.movesStarted === 'number' ? r.movesStarted : 0, movesInFlight: typeof r.movesInFlight === 'number' ? r.movesInFlight : 0 };
    if (typeof s.metaLeader === 'string' || s.metaLeader === null) status.metaLeader = s.metaLeader;
    if (typeof s.memberId === 'string') status.memberId = s.memberId;
    if (s.fenced === true) status.fenced = true;
    if (Array.isArray(s.groups)) status.groups = s.groups.flatMap((g) => groupReport(g));
    return { ok: true, status };
  } catch (e) {
    return { ok: false, error: String((e as Error).message ?? e) };
  }
}

function groupReport(raw: unknown): GroupReport[] {
  const g = raw as Record<string, unknown> | null;
  if (typeof g !== 'object' || g === null || typeof g.groupId !== 'string' || typeof g.commit !== 'number' || typeof g.applied !== 'number') return [];
  const out: GroupReport = { groupId: g.groupId, role: typeof g.role === 'string' ? g.role : 'unknown', leader: typeof g.leader === 'string' ? g.leader : '', commit: g.commit, applied: g.applied };
  if (typeof g.lag === 'object' && g.lag !== null) {
    out.lag = Object.fromEntries(Object.entries(g.lag as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number'));
  }
  return [out];
}
