// CLI for the Raft simulation (`npm run sim -- ...`):
//   --seeds N [--from S]   run N seeds (alternating 3 and 5 nodes unless --nodes is given)
//   --seed S               replay one seed and print its trace
//   --nodes 3|5  --variant NAME (negative controls: voteWithoutLogCheck, commitOldTermByCount, doubleVote, ackBeforePersist, readWithoutQuorum)
//   --steps N              chaos steps per seed (default 600)
import { VARIANTS, replayCommand, runSim } from './sim.js';
import type { Variant } from './sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const variant = (arg('variant') ?? 'none') as Variant;
if (!VARIANTS.includes(variant)) {
  console.error(`unknown variant ${variant}; one of ${VARIANTS.join(', ')}`);
  process.exit(2);
}
const nodesArg = arg('nodes');
const chaosSteps = arg('steps') ? Number(arg('steps')) : undefined;

if (arg('seed') !== undefined) {
  const seed = Number(arg('seed'));
  const nodes = Number(nodesArg ?? 3);
  const res = runSim({ seed, nodes, variant, chaosSteps, trace: true });
  for (const line of res.trace) console.log(line);
  console.log(JSON.stringify(res.stats));
  console.log(res.ok ? `seed ${seed}: ok` : `seed ${seed}: VIOLATION ${res.violation} at step ${res.step}`);
  process.exitCode = res.ok ? 0 : 1;
} else {
  const count = Number(arg('seeds') ?? 100);
  const from = Number(arg('from') ?? 1);
  const started = Date.now();
  let failures = 0;
  const totals: Record<string, number> = {};
  for (let seed = from; seed < from + count; seed++) {
    const nodes = nodesArg ? Number(nodesArg) : seed % 2 === 0 ? 5 : 3;
    const res = runSim({ seed, nodes, variant, chaosSteps });
    for (const [k, v] of Object.entries(res.stats)) totals[k] = (totals[k] ?? 0) + v;
    if (!res.ok) {
      failures++;
      console.log(`FAIL seed ${seed} (${nodes} nodes): ${res.violation} at step ${res.step}\n  replay: ${replayCommand(seed, nodes, variant)}`);
    }
  }
  console.log(`totals over all seeds: ${JSON.stringify(totals)}`);
  console.log(`${count} seeds, ${failures} failures, ${((Date.now() - started) / 1000).toFixed(1)}s`);
  process.exitCode = failures === 0 ? 0 : 1;
}
