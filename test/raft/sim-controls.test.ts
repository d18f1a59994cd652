// Negative controls: the simulation runs against deliberately broken variants of the Raft core
// and driver (test-only `bugs` knobs) and must find a seed where a safety invariant fails, within
// a bounded number of seeds. A checker that cannot fail proves nothing.
import { describe, expect, it } from 'vitest';
import { replayCommand, runSim } from './sim.js';
import type { Variant } from './sim.js';

/** Longer runs than the main suite: leader churn needs time to line up figure-8 histories. */
const CHAOS_STEPS = 1500;
const SEEDS_MAX = 400;

const CONTROLS: { variant: Variant; expected: string[] }[] = [
  { variant: 'voteWithoutLogCheck', expected: ['leader-completeness', 'committed-entry-changed', 'state-machine-safety', 'log-matching'] },
  { variant: 'commitOldTermByCount', expected: ['leader-completeness', 'committed-entry-changed', 'state-machine-safety'] },
  { variant: 'doubleVote', expected: ['vote-changed', 'election-safety'] },
  { variant: 'readWithoutQuorum', expected: ['linearizable-read'] },
  { variant: 'ackBeforePersist', expected: ['leader-completeness', 'committed-entry-changed', 'state-machine-safety', 'log-matching'] },
];

describe('simulation negative controls', () => {
  for (const { variant, expected } of CONTROLS) {
    it(`catches ${variant}`, { timeout: 120_000 }, () => {
      const started = Date.now();
      let caught: { seed: number; nodes: number; invariant: string; violation: string } | undefined;
      for (let seed = 1; seed <= SEEDS_MAX && !caught; seed++) {
        const nodes = seed % 2 === 0 ? 5 : 3;
        const res = runSim({ seed, nodes, variant, chaosSteps: CHAOS_STEPS });
        // Only safety violations count: a broken variant that merely stalls proves nothing here.
        if (!res.ok && res.invariant !== 'liveness') caught = { seed, nodes, invariant: res.invariant!, violation: res.violation! };
      }
      expect(caught, `${variant} not caught within ${SEEDS_MAX} seeds`).toBeDefined();
      console.log(`${variant}: caught at seed ${caught!.seed} in ${Date.now() - started} ms by ${caught!.violation}\n  replay: ${replayCommand(caught!.seed, caught!.nodes, variant)}`);
      expect(expected).toContain(caught!.invariant);
    });
  }
});
