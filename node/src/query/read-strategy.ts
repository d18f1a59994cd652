// Which replica serves an eventual read (the six strategies of the original plan), set per node
// (JADE_READ_STRATEGY) or per request (read_strategy). The answer is an order to try replicas in:
// the first that answers serves the read. Strong reads ask the leader first, whatever the strategy.
import { JadeError } from '../util/errors.js';

export const READ_STRATEGIES = ['round-robin', 'least-outstanding-requests', 'least-loaded', 'weighted-round-robin', 'locality', 'random'] as const;
export type ReadStrategy = (typeof READ_STRATEGIES)[number];

/** Label naming a node's zone (locality) and its read weight (weighted round-robin). */
export const ZONE_LABEL = 'zone';
export const WEIGHT_LABEL = 'read-weight';

export function parseReadStrategy(raw: unknown): ReadStrategy {
  if (typeof raw === 'string' && (READ_STRATEGIES as readonly string[]).includes(raw)) return raw as ReadStrategy;
  throw new JadeError('JADE_ERR_BAD_REQUEST', `read_strategy must be one of ${READ_STRATEGIES.join(', ')}`);
}

export interface ReplicaCandidate {
  nodeId: string;
  /** The replica is in this process. */
  local: boolean;
  labels: Record<string, string>;
}

/** Per-node counters the strategies read; the reader updates them around each call. */
class NodeStats {
  outstanding = 0;
  /** Exponentially weighted mean response time (ms). */
  latencyMs = 0;
  /** Smooth weighted round-robin's current weight. */
  current = 0;
}

const LATENCY_WEIGHT = 0.2;

export class ReplicaSelector {
  private readonly stats = new Map<string, NodeStats>();
  private readonly turn = new Map<string, number>();

  constructor(
    private readonly self: { labels: Record<string, string> },
    private readonly random: () => number = Math.random,
  ) {}

  private of(nodeId: string): NodeStats {
    let s = this.stats.get(nodeId);
    if (!s) this.stats.set(nodeId, (s = new NodeStats()));
    return s;
  }

  /** Marks a call to a node begun; the returned function marks it ended. */
  begin(nodeId: string): () => void {
    const s = this.of(nodeId);
    s.outstanding++;
    const started = performance.now();
    return () => {
      s.outstanding--;
      const ms = performance.now() - started;
      s.latencyMs = s.latencyMs === 0 ? ms : s.latencyMs * (1 - LATENCY_WEIGHT) + ms * LATENCY_WEIGHT;
    };
  }

  outstanding(nodeId: string): number {
    return this.of(nodeId).outstanding;
  }

  /** The order to try replicas of one shard (keyed by `key`) in for an eventual read. */
  order(key: string, candidates: readonly ReplicaCandidate[], strategy: ReadStrategy): ReplicaCandidate[] {
    if (candidates.length <= 1) return [...candidates];
    const sorted = [...candidates].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
    switch (strategy) {
      case 'round-robin':
        return this.rotate(key, sorted);
      case 'random': {
        const out = [...sorted];
        for (let i = out.length - 1; i > 0; i--) {
          const j = Math.floor(this.random() * (i + 1));
          [out[i], out[j]] = [out[j], out[i]];
        }
        return out;
      }
      case 'least-outstanding-requests': {
        const rotated = this.rotate(key, sorted); // ties go round
        return rotated.sort((a, b) => this.of(a.nodeId).outstanding - this.of(b.nodeId).outstanding);
      }
      case 'least-loaded': {
        // Load = calls in flight weighted by how long the node has been taking to answer.
        const load = (c: ReplicaCandidate) => (this.of(c.nodeId).outstanding + 1) * (this.of(c.nodeId).latencyMs + 1);
        return this.rotate(key, sorted).sort((a, b) => load(a) - load(b));
      }
      case 'weighted-round-robin':
        return this.weighted(sorted);
      case 'locality': {
        const zone = this.self.labels[ZONE_LABEL];
        const rank = (c: ReplicaCandidate) => (c.local ? 0 : zone !== undefined && c.labels[ZONE_LABEL] === zone ? 1 : 2);
        return this.rotate(key, sorted).sort((a, b) => rank(a) - rank(b));
      }
    }
  }

  private rotate(key: string, sorted: ReplicaCandidate[]): ReplicaCandidate[] {
    const t = this.turn.get(key) ?? 0;
    this.turn.set(key, t + 1);
    const i = t % sorted.length;
    return [...sorted.slice(i), ...sorted.slice(0, i)];
  }

  /** nginx's smooth weighted round-robin: each pick adds every weight, the chosen loses the total. */
  private weighted(sorted: ReplicaCandidate[]): ReplicaCandidate[] {
    const weight = (c: ReplicaCandidate) => {
      const w = Number(c.labels[WEIGHT_LABEL] ?? 1);
      return Number.isFinite(w) && w > 0 ? w : 1;
    };
    let total = 0;
    let best: ReplicaCandidate | null = null;
    for (const c of sorted) {
      const s = this.of(c.nodeId);
      s.current += weight(c);
      total += weight(c);
      if (!best || s.current > this.of(best.nodeId).current) best = c;
    }
    this.of(best!.nodeId).current -= total;
    return [best!, ...sorted.filter((c) => c !== best)];
  }
}
