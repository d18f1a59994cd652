// The moving-and-healing faults of the sharded linearizability run (the chaos run): replica moves
// started through the REST API while clients read and write, with the source, the target or the
// meta leader killed mid-move, source and target partitioned, moves cancelled, a node drained and
// a rebalance requested. After each round `waitSettled` checks what the issue asks: every move
// ended, every shard is back at its replication factor with active replicas only, and every move
// that completed had its source and target digests matched (its `verified` record).
import type { ProcessCluster } from './cluster-processes.js';

export type MoveFault =
  | 'move-replica'
  | 'move-kill-source'
  | 'move-kill-target'
  | 'move-kill-meta-leader'
  | 'move-partition'
  | 'move-cancel'
  | 'drain-node'
  | 'rebalance';

export const MOVE_FAULTS: MoveFault[] = ['move-replica', 'move-kill-source', 'move-kill-target', 'move-kill-meta-leader', 'move-partition', 'move-cancel', 'drain-node', 'rebalance'];
/** A drained node takes no replica again: once per run. */
export const MOVE_FAULTS_ONCE_PER_RUN: MoveFault[] = ['drain-node'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Layout {
  shards: { shard_id: number; group_id: string; leader: string | null; replicas: { peer_id: string; state: string }[] }[];
  moves: { id: string; shard_id: number; from: string | null; to: string | null; stage: string; finished: boolean; reason: string | null; verified?: { index: number; count: number; digest: string } | null; drain: string | null }[];
}

async function call(cluster: ProcessCluster, method: string, path: string, body?: unknown): Promise<{ status: number; json: any } | null> {
  for (const m of cluster.members.filter((x) => x.running())) {
    try {
      const res = await fetch(`${m.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      const json = await res.json().catch(() => null);
      // A node that cannot reach the meta leader right now: ask another.
      if (res.status === 503) continue;
      return { status: res.status, json };
    } catch {
      // that node is down: the next
    }
  }
  return null;
}

async function layout(cluster: ProcessCluster, collection: string): Promise<Layout | null> {
  const r = await call(cluster, 'GET', `/collections/${collection}/cluster`);
  return r?.status === 200 ? (r.json.result.jade as Layout) : null;
}

function errorText(r: { status: number; json: any } | null): string {
  if (!r) return 'no node answered';
  return `HTTP ${r.status} ${r.json?.status?.reason ?? ''} ${r.json?.status?.error ?? ''}`.trim();
}

/** A move of a random replica to a running node that holds none of that shard; null when none fits. */
async function startRandomMove(cluster: ProcessCluster, collection: string, random: () => number, drained: ReadonlySet<string>): Promise<{ shard: number; from: string; to: string; line: string } | null> {
  const l = await layout(cluster, collection);
  if (!l) return null;
  const ids = cluster.members.filter((m) => m.running() && !drained.has(m.id)).map((m) => m.id);
  const busy = new Set(l.moves.filter((m) => !m.finished).flatMap((m) => [m.from, m.to]).filter((x): x is string => x !== null));
  const options = l.shards.flatMap((s) => {
    const holders = s.replicas.map((r) => r.peer_id);
    return holders.filter((from) => !busy.has(from)).flatMap((from) => ids.filter((to) => !holders.includes(to) && !busy.has(to)).map((to) => ({ shard: s.shard_id, from, to })));
  });
  if (options.length === 0) return null;
  const pick = options[Math.floor(random() * options.length)];
  const r = await call(cluster, 'POST', `/collections/${collection}/cluster`, { move_shard: { shard_id: pick.shard, from_peer_id: pick.from, to_peer_id: pick.to } });
  const line = `shard ${pick.shard} ${pick.from} → ${pick.to}${r?.status === 200 ? '' : ` refused (${errorText(r)})`}`;
  return { ...pick, line };
}

/** One moving-and-healing fault: act, hold a seeded while, heal. Returns a line for the log. */
export async function injectMoveFault(cluster: ProcessCluster, collection: string, fault: MoveFault, random: () => number, drained: Set<string>): Promise<string> {
  const holdMs = 800 + Math.floor(random() * 1_500);
  const midMoveMs = 100 + Math.floor(random() * 600);
  switch (fault) {
    case 'move-replica': {
      const m = await startRandomMove(cluster, collection, random, drained);
      await sleep(holdMs);
      return `${fault} ${m?.line ?? 'none possible'}`;
    }
    case 'move-kill-source':
    case 'move-kill-target':
    case 'move-kill-meta-leader': {
      const m = await startRandomMove(cluster, collection, random, drained);
      if (!m) return `${fault}: no move possible`;
      await sleep(midMoveMs);
      const victim = fault === 'move-kill-source' ? m.from : fault === 'move-kill-target' ? m.to : ((await cluster.leaderOf('meta')) ?? m.from);
      await cluster.member(victim).kill9();
      await sleep(holdMs);
      await cluster.member(victim).restart();
      return `${fault} ${m.line}; killed ${victim} after ${midMoveMs} ms, down ${holdMs} ms`;
    }
    case 'move-partition': {
      const m = await startRandomMove(cluster, collection, random, drained);
      if (!m) return `${fault}: no move possible`;
      await sleep(midMoveMs);
      await cluster.setFaults(m.from, { partitionedPeers: { [m.to]: 'both' } });
      await cluster.setFaults(m.to, { partitionedPeers: { [m.from]: 'both' } });
      await sleep(holdMs);
      await cluster.setFaults(m.from, {});
      await cluster.setFaults(m.to, {});
      return `${fault} ${m.line}; source and target apart for ${holdMs} ms`;
    }
    case 'move-cancel': {
      const m = await startRandomMove(cluster, collection, random, drained);
      if (!m) return `${fault}: no move possible`;
      await sleep(midMoveMs);
      const r = await call(cluster, 'POST', `/collections/${collection}/cluster`, { abort_transfer: { shard_id: m.shard, from_peer_id: m.from, to_peer_id: m.to } });
      await sleep(holdMs);
      return `${fault} ${m.line}; abort after ${midMoveMs} ms: ${r?.status === 200 ? 'accepted' : errorText(r)}`;
    }
    case 'drain-node': {
      const ids = cluster.members.filter((m) => m.running() && !drained.has(m.id)).map((m) => m.id);
      const victim = ids[Math.floor(random() * ids.length)];
      const r = await call(cluster, 'POST', `/cluster/peer/${victim}/drain`);
      if (r?.status === 200) drained.add(victim);
      await sleep(holdMs);
      return `${fault} ${victim}: ${r?.status === 200 ? 'draining' : errorText(r)}`;
    }
    case 'rebalance': {
      const r = await call(cluster, 'POST', '/cluster/rebalance');
      await sleep(holdMs);
      return `${fault}: ${r?.status === 200 ? `${r.json.result?.plan?.moves?.length ?? 0} moves planned` : errorText(r)}`;
    }
  }
}

/**
 * Waits until no move is in flight and every shard has `replicationFactor` active replicas on
 * distinct nodes; then checks every completed move was verified. Returns problems ('' when none).
 */
export async function waitSettled(cluster: ProcessCluster, collection: string, replicationFactor: number, timeoutMs: number, drained: ReadonlySet<string>): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: Layout | null = null;
  for (;;) {
    last = await layout(cluster, collection);
    const settled = last !== null
      && last.moves.every((m) => m.finished)
      && last.shards.every((s) => s.replicas.length === replicationFactor && s.replicas.every((r) => r.state === 'active') && new Set(s.replicas.map((r) => r.peer_id)).size === replicationFactor);
    const drainsDone = last !== null && [...drained].every((id) => last!.shards.every((s) => !s.replicas.some((r) => r.peer_id === id)));
    if (settled && drainsDone) break;
    if (Date.now() > deadline) return `not settled within ${timeoutMs} ms: ${JSON.stringify(last)}`;
    await sleep(250);
  }
  const unverified = last!.moves.filter((m) => m.stage === 'done' && m.from !== null && m.to !== null && !m.verified);
  const mismatched = last!.moves.filter((m) => m.stage === 'failed' && /digest/i.test(m.reason ?? ''));
  const problems: string[] = [];
  if (unverified.length) problems.push(`moves done without a digest check: ${JSON.stringify(unverified)}`);
  if (mismatched.length) problems.push(`moves whose digests differed: ${JSON.stringify(mismatched)}`);
  return problems.join('; ');
}

/** Moves the meta state still lists, counted by how they ended (for the round's log line). */
export async function moveOutcomes(cluster: ProcessCluster, collection: string): Promise<string> {
  const l = await layout(cluster, collection);
  if (!l) return 'moves: no answer';
  const by = new Map<string, number>();
  for (const m of l.moves) by.set(m.stage, (by.get(m.stage) ?? 0) + 1);
  return `moves listed: ${[...by].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`;
}
