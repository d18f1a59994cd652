// Fault hooks for tests: partitions (one-way or both), per-peer delay, and seeded random drops.
// A transport built without `faultHooksEnabled` has none of this on its path and refuses to set it.

import { JadeError } from '../../util/errors.js';
import type { FaultSpec, NodeId } from './types.js';

export const DELAY_MS_MAX = 60_000;

export function healthySpec(): FaultSpec {
  return { partitionedPeers: {}, delayMsByPeer: {}, dropProbability: 0, seed: 1 };
}

export class FaultHooks {
  private spec: FaultSpec = healthySpec();
  private rngState = 1;

  /** Replace the whole fault configuration (validated: a typo must not silently mean "no fault"). */
  set(spec: Partial<FaultSpec>): void {
    const next: FaultSpec = { ...healthySpec(), ...spec };
    for (const [peer, direction] of Object.entries(next.partitionedPeers)) {
      if (direction !== 'both' && direction !== 'outbound' && direction !== 'inbound') {
        throw new JadeError('JADE_ERR_BAD_REQUEST', `partition direction for ${peer} must be both, outbound or inbound`);
      }
    }
    for (const [peer, delayMs] of Object.entries(next.delayMsByPeer)) {
      if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > DELAY_MS_MAX) {
        throw new JadeError('JADE_ERR_BAD_REQUEST', `delay for ${peer} must be within 0..${DELAY_MS_MAX} ms`);
      }
    }
    if (!(next.dropProbability >= 0 && next.dropProbability <= 1)) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', 'dropProbability must be within 0..1');
    }
    if (!Number.isInteger(next.seed)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'seed must be an integer');
    this.spec = {
      partitionedPeers: { ...next.partitionedPeers },
      delayMsByPeer: { ...next.delayMsByPeer },
      dropProbability: next.dropProbability,
      seed: next.seed,
    };
    this.rngState = next.seed >>> 0 || 1;
  }

  get(): FaultSpec {
    return structuredClone(this.spec);
  }

  heal(): void {
    this.set(healthySpec());
  }

  /** Whether an outbound message to `peer` is dropped now (partition or a seeded coin flip). */
  dropOutbound(peer: NodeId): boolean {
    const cut = this.spec.partitionedPeers[peer];
    if (cut === 'both' || cut === 'outbound') return true;
    return this.spec.dropProbability > 0 && this.nextRandom() < this.spec.dropProbability;
  }

  dropInbound(peer: NodeId): boolean {
    const cut = this.spec.partitionedPeers[peer];
    return cut === 'both' || cut === 'inbound';
  }

  outboundCut(peer: NodeId): boolean {
    const cut = this.spec.partitionedPeers[peer];
    return cut === 'both' || cut === 'outbound';
  }

  delayMs(peer: NodeId): number {
    return this.spec.delayMsByPeer[peer] ?? 0;
  }

  /** xorshift32: cheap, seeded, good enough for coin flips. */
  private nextRandom(): number {
    let s = this.rngState;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.rngState = s >>> 0;
    return this.rngState / 2 ** 32;
  }
}
