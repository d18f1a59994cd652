// Where the replicas of a new collection's shards go: a pure function of the members and their
// current load, so every caller (and every test) gets the same answer. Each shard's replicas are
// on distinct nodes; replica counts per node stay within one of each other when they start so;
// the first replica of a shard is its preferred leader (it campaigns first), chosen to spread
// leaderships the same way.
import { JadeError } from '../util/errors.js';
import { murmur3 } from '../util/murmur3.js';

export interface MemberLoad {
  replicas: number;
  leaders: number;
}

export interface PlacementRequest {
  /** Member ids (node#incarnation) that may hold replicas. */
  members: readonly string[];
  /** Replicas and preferred leaderships each member holds already. */
  load: ReadonlyMap<string, MemberLoad>;
  shardNumber: number;
  replicationFactor: number;
  /** Ties are broken by a hash of this (the collection's name), so collections spread differently. */
  seed: string;
}

function tieBreak(seed: string, shard: number, member: string): number {
  return murmur3(new TextEncoder().encode(`${seed}/${shard}/${member}`));
}

/** Replica lists per shard, preferred leader first. */
export function placeShards(req: PlacementRequest): string[][] {
  const { members, shardNumber, replicationFactor: rf } = req;
  if (members.length === 0) throw new JadeError('JADE_ERR_UNAVAILABLE', 'no nodes to place replicas on');
  if (!Number.isInteger(rf) || rf < 1 || rf > members.length) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `replication_factor must be in 1..${members.length} (the nodes of the cluster): each replica of a shard needs its own node`);
  }
  const replicas = new Map(members.map((m) => [m, req.load.get(m)?.replicas ?? 0]));
  const leaders = new Map(members.map((m) => [m, req.load.get(m)?.leaders ?? 0]));
  const sets: string[][] = [];
  for (let shard = 0; shard < shardNumber; shard++) {
    const order = (m: string) => tieBreak(req.seed, shard, m);
    const byLoad = [...members].sort((a, b) => replicas.get(a)! - replicas.get(b)! || leaders.get(a)! - leaders.get(b)! || order(a) - order(b) || (a < b ? -1 : 1));
    const chosen = byLoad.slice(0, rf);
    for (const m of chosen) replicas.set(m, replicas.get(m)! + 1);
    sets.push(chosen);
  }
  // Leaders: each shard's least-leading replica first.
  const leaderOf = sets.map((chosen, shard) => {
    const order = (m: string) => tieBreak(req.seed, shard, m);
    const leader = [...chosen].sort((a, b) => leaders.get(a)! - leaders.get(b)! || order(a) - order(b) || (a < b ? -1 : 1))[0];
    leaders.set(leader, leaders.get(leader)! + 1);
    return leader;
  });
  // Rebalance along augmenting paths: from a member leading the most, follow "shard it leads →
  // another replica of that shard" to a member leading at least two fewer, and shift each
  // leadership one step along the path (the ends change by one, the middle not at all).
  for (let shifted = true; shifted; ) {
    shifted = false;
    for (const most of [...members].sort((a, b) => leaders.get(b)! - leaders.get(a)! || (a < b ? -1 : 1))) {
      const path = augmentingPath(most, sets, leaderOf, leaders);
      if (!path) continue;
      for (const { shard, to } of path) leaderOf[shard] = to;
      leaders.set(most, leaders.get(most)! - 1);
      const end = path.at(-1)!.to;
      leaders.set(end, leaders.get(end)! + 1);
      shifted = true;
      break;
    }
  }
  return sets.map((chosen, shard) => [leaderOf[shard], ...chosen.filter((m) => m !== leaderOf[shard]).sort()]);
}

/** Breadth-first over leaderships from `from` to a member leading two fewer; the shifts to make, or null. */
function augmentingPath(from: string, sets: readonly string[][], leaderOf: readonly string[], leaders: ReadonlyMap<string, number>): { shard: number; to: string }[] | null {
  const target = leaders.get(from)! - 2;
  const cameFrom = new Map<string, { shard: number; prev: string } | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const u = queue.shift()!;
    for (let shard = 0; shard < sets.length; shard++) {
      if (leaderOf[shard] !== u) continue;
      for (const v of sets[shard]) {
        if (cameFrom.has(v)) continue;
        cameFrom.set(v, { shard, prev: u });
        if (leaders.get(v)! <= target) {
          const path: { shard: number; to: string }[] = [];
          for (let at = v; cameFrom.get(at); at = cameFrom.get(at)!.prev) path.unshift({ shard: cameFrom.get(at)!.shard, to: at });
          return path;
        }
        queue.push(v);
      }
    }
  }
  return null;
}
