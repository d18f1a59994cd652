// `npm run chaos -- --seeds N [--rounds R] [--move-faults M]`: the long chaos run. The sharded
// linearizability run (5 real processes, 6 shards × 3 replicas) with the moving-and-healing faults,
// seeds 1..N (or a list), R rounds each; every round's history is checked and the cluster must
// settle (moves ended, every shard at its replication factor, completed moves verified).
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';

const program = new Command('chaos')
  .description('seeded chaos run: moves, drains, rebalances and kill -9 / partitions under a checked workload')
  .option('--seeds <n|list>', 'seeds 1..n, or a comma-separated list', '3')
  .option('--rounds <n>', 'rounds per seed', '2')
  .option('--move-faults <n>', 'moving-and-healing faults per round', '2')
  .option('--faults <n>', 'other faults per round (kill -9, partitions, wipes, forged messages)', '3')
  .parse();
const o = program.opts<{ seeds: string; rounds: string; moveFaults: string; faults: string }>();
const seeds = o.seeds.includes(',') ? o.seeds : Array.from({ length: Number(o.seeds) }, (_, i) => i + 1).join(',');
const env = {
  ...process.env,
  JADE_LINCHECK_SHARDED_SEEDS: seeds,
  JADE_LINCHECK_SHARDED_ROUNDS: o.rounds,
  JADE_LINCHECK_MOVE_FAULTS: o.moveFaults,
  JADE_LINCHECK_FAULTS: o.faults,
};
const r = spawnSync('npx', ['vitest', 'run', 'test/cluster/lincheck-cluster.test.ts', '-t', 'sharded'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
