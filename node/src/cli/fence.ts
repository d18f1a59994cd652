// `jade fence [--reason R]`, `jade unfence`, `jade fence --status`: fencing acts on the node that
// --url names (not a Service in front of several): it keeps its data and serves nothing but
// /healthz and these routes until unfenced. `kubectl jade --pod P fence` does it for a pod.
import type { Command } from 'commander';
import type { ClientOf } from './moves.js';
import { printObject } from './output.js';

function show(r: Record<string, unknown>, output: string): void {
  printObject(output === 'json' ? r : { node: r.node_id, fenced: r.fenced, since: r.fenced_at ?? '-', reason: r.reason ?? '-', ...(r.switching ? { now: r.fenced ? 'closing its data; then serving /healthz and /cluster/fence only' : 'starting to serve again' } : {}) }, output === 'json' ? 'json' : 'table');
}

export function addFenceCommands(program: Command, clientOf: ClientOf): void {
  program
    .command('fence')
    .description('fence the node --url names: it hands off its leaderships, closes its data and serves nothing until unfenced (survives restarts)')
    .option('--reason <text>', 'why (kept with the fence, shown by --status)')
    .option('--status', 'only show whether the node is fenced (GET /cluster/fence)')
    .action(async (o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = o.status ? await client.call<Record<string, unknown>>('GET', '/cluster/fence') : await client.call<Record<string, unknown>>('POST', '/cluster/fence', o.reason ? { reason: o.reason } : {});
      show(r, output);
    });
  program
    .command('unfence')
    .description('unfence the node --url names: it opens its data and serves again (a cluster member catches up)')
    .action(async (_o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      show(await client.call<Record<string, unknown>>('DELETE', '/cluster/fence'), output);
    });
}
