// The meta leader's failure detector (pure): which nodes to declare dead, or alive again, from how
// long each has been silent. `suspect` after suspectAfterMs (reported only), `dead` after
// deadAfterMs: its replicas then count as lost and re-replication replaces them on other nodes.
// A node heard from again is declared alive (its replicas that were not replaced yet catch up;
// those that were are gone from their groups). A new meta leader has no history of who was
// silent for how long, so it declares no one dead before it has led for deadAfterMs itself.
import type { MetaState } from './meta.js';
import { isDeclaredDead } from './moves.js';

export interface FailureDetectorSettings {
  suspectAfterMs: number;
  deadAfterMs: number;
}

export const FAILURE_DETECTOR_DEFAULTS: FailureDetectorSettings = { suspectAfterMs: 10_000, deadAfterMs: 300_000 };

export type Liveness = 'alive' | 'suspect' | 'dead';

export interface LivenessChange {
  nodeId: string;
  incarnation: string;
  dead: boolean;
  reason: string;
}

/** A node's liveness as the meta leader sees it: declared dead wins; else by its silence. */
export function livenessOf(state: MetaState, nodeId: string, silentMs: number, s: FailureDetectorSettings): Liveness {
  if (isDeclaredDead(state, nodeId)) return 'dead';
  return silentMs >= s.suspectAfterMs ? 'suspect' : 'alive';
}

/**
 * The declarations to propose now. `silentMs(id)` is how long the meta leader has not heard from
 * a node; `ledForMs` how long it has led the meta group. Never the leader itself.
 */
export function livenessChanges(state: MetaState, self: string, silentMs: (nodeId: string) => number, ledForMs: number, s: FailureDetectorSettings): LivenessChange[] {
  const out: LivenessChange[] = [];
  for (const n of Object.values(state.nodes)) {
    if (n.id === self) continue;
    const silent = silentMs(n.id);
    const dead = isDeclaredDead(state, n.id);
    if (!dead && silent >= s.deadAfterMs && ledForMs >= s.deadAfterMs) {
      out.push({ nodeId: n.id, incarnation: n.incarnation, dead: true, reason: `not heard from for ${Math.round(silent / 1000)} s (dead after ${Math.round(s.deadAfterMs / 1000)} s)` });
    } else if (dead && silent < s.suspectAfterMs) {
      out.push({ nodeId: n.id, incarnation: n.incarnation, dead: false, reason: 'heard from again' });
    }
  }
  return out;
}
