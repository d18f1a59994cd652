// `jade rebalance`: POST /cluster/rebalance (start; --dry-run only shows the plan), GET (--status),
// DELETE (--stop: no further moves). With --wait it polls until the rebalance is done or stopped,
// printing the moves started so far and the replicas per node.
import type { Command } from 'commander';
import { CliError } from './client.js';
import { POLL_MS, type ClientOf } from './moves.js';
import { printObject, printRows } from './output.js';

const WAIT_SECONDS_DEFAULT = 3600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function show(r: Record<string, any>, output: string): void {
  if (output === 'json') return printObject(r, 'json');
  const last = r.rebalance;
  printObject({ rebalance: last ? `${last.state} (${last.reason}), ${last.moves_started} moves started` : 'none ran', moves_planned: r.plan.moves.length, moves_in_flight: r.moves_in_flight.length }, 'table');
  const nodes = Object.keys(r.plan.replicas_before).sort();
  process.stdout.write('\n');
  printRows(nodes.map((n) => ({ node: n, replicas_now: r.plan.replicas_before[n], after_plan: r.plan.replicas_after[n] })), 'table');
  if (r.plan.moves.length) {
    process.stdout.write('\n');
    printRows(r.plan.moves.map((m: Record<string, any>) => ({ collection: m.collection, shard: m.shard_id, from: m.from, to: m.to })), 'table');
  }
}

export function addRebalanceCommand(program: Command, clientOf: ClientOf): void {
  program
    .command('rebalance')
    .description('even out replicas per node: show the plan (--dry-run), start it, follow it (--wait) or stop it (--stop)')
    .option('--dry-run', 'only show the plan: the moves and the replicas per node before and after')
    .option('--status', 'only show the last rebalance and the plan now (GET)')
    .option('--stop', 'start no further moves (those in flight finish)')
    .option('--wait', 'wait until the rebalance is done or stopped, printing its progress')
    .option('--wait-timeout <seconds>', 'with --wait: give up after this long', String(WAIT_SECONDS_DEFAULT))
    .action(async (o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      if ([o.dryRun, o.status, o.stop].filter(Boolean).length > 1) throw new CliError('give at most one of --dry-run, --status, --stop');
      const method = o.status ? 'GET' : o.stop ? 'DELETE' : 'POST';
      let r = await client.call<Record<string, any>>(method, `/cluster/rebalance${o.dryRun ? '?dry_run=true' : ''}`);
      if (!o.wait || o.dryRun) return show(r, output);
      const waitS = Number(o.waitTimeout);
      if (!Number.isFinite(waitS) || waitS <= 0) throw new CliError('--wait-timeout must be a number of seconds > 0');
      const deadline = Date.now() + waitS * 1000;
      let last = '';
      for (;;) {
        const b = r.rebalance;
        if (!b) throw new CliError('no rebalance has run (start one without --status)');
        const line = `rebalance: ${b.state}, ${b.moves_started} move${b.moves_started === 1 ? '' : 's'} started, ${r.moves_in_flight.length} in flight, ${r.plan.moves.length} planned`;
        if (line !== last && output !== 'json') process.stdout.write(`${line}\n`);
        last = line;
        if (b.state !== 'running' && r.moves_in_flight.length === 0) {
          if (output === 'json') printObject(r, 'json');
          return;
        }
        if (Date.now() > deadline) throw new CliError(`the rebalance is still running after --wait-timeout ${o.waitTimeout} s (it goes on on the cluster)`);
        await sleep(POLL_MS);
        r = await client.call<Record<string, any>>('GET', '/cluster/rebalance');
      }
    });
}
