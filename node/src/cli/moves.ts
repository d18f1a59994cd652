// `jade move` (Qdrant's move_shard, replicate_shard, drop_replica, abort_transfer on
// POST /collections/{name}/cluster) and `jade drain` (POST /cluster/peer/{id}/drain), clients of
// the REST API. With --wait each polls until the move or the drain is over, printing progress.
import type { Command } from 'commander';
import { CliError, type JadeClient } from './client.js';
import type { OutputFormat } from './output.js';
import { formatDuration, printObject, printRows } from './output.js';

export type ClientOf = (cmd: Command) => { client: JadeClient; output: OutputFormat };

export const POLL_MS = 500;
const WAIT_SECONDS_DEFAULT = 1800;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseWaitSeconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new CliError('--wait-timeout must be a number of seconds > 0');
  return n;
}

/** A move's progress as GET /collections/{name}/cluster shows it (snake_case, null where unknown). */
export interface ProgressOut {
  phase: 'snapshot' | 'log' | null;
  snapshot_bytes_sent: number | null;
  snapshot_bytes_total: number | null;
  snapshot_points: number | null;
  bytes_per_second: number | null;
  lag_entries: number | null;
  catch_up_entries_per_second: number | null;
  eta_seconds: number | null;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Under a second shows as such, not as a rounded "0s" that reads like "done". */
const etaText = (seconds: number) => (seconds < 1 ? '<1s' : formatDuration(seconds));

/** `[#####-----]`: the share done; an empty bar when it is not known. */
export function progressBar(fraction: number | null, width = 20): string {
  if (fraction === null || !Number.isFinite(fraction)) return `[${' '.repeat(width)}]`;
  const done = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(done)}${'-'.repeat(width - done)}]`;
}

/**
 * One line of a move's progress: the snapshot as a bar with bytes, points, rate and ETA while it
 * is sent, then the log lag with the catch-up rate and ETA. Only what is known is shown; '' when
 * nothing is.
 */
export function progressLine(p: ProgressOut | null | undefined, width = 20): string {
  if (!p) return '';
  const parts: string[] = [];
  const total = p.snapshot_bytes_total;
  const sent = p.snapshot_bytes_sent;
  if (p.phase === 'snapshot' && sent !== null && total !== null) {
    const fraction = total > 0 ? sent / total : null;
    parts.push(`${progressBar(fraction, width)} ${fraction === null ? '' : `${Math.floor(fraction * 100)}% `}snapshot ${formatBytes(sent)}/${formatBytes(total)}`);
    if (p.snapshot_points !== null) parts.push(`${p.snapshot_points} points`);
    if (p.bytes_per_second !== null) parts.push(`${formatBytes(p.bytes_per_second)}/s`);
  } else if (sent !== null && total !== null && total > 0) {
    parts.push(`snapshot ${formatBytes(sent)} sent${p.snapshot_points !== null ? ` (${p.snapshot_points} points)` : ''}`);
  }
  if (p.lag_entries !== null) parts.push(`lag ${p.lag_entries} entries`);
  if (p.phase === 'log' && p.catch_up_entries_per_second !== null) parts.push(`catching up ${Math.round(p.catch_up_entries_per_second)} entries/s`);
  if (p.eta_seconds !== null && p.eta_seconds > 0) parts.push(`ETA ${etaText(p.eta_seconds)}`);
  return parts.join(', ');
}

/** The compact form for tables: the share of the snapshot or the lag, the rate and the ETA. */
export function progressCell(p: ProgressOut | null | undefined): string {
  if (!p) return '';
  const parts: string[] = [];
  const total = p.snapshot_bytes_total;
  if (p.phase === 'snapshot' && p.snapshot_bytes_sent !== null && total) parts.push(`${Math.floor((p.snapshot_bytes_sent / total) * 100)}% of ${formatBytes(total)}`);
  if (p.phase === 'snapshot' && p.bytes_per_second !== null) parts.push(`${formatBytes(p.bytes_per_second)}/s`);
  if (p.phase === 'log' && p.lag_entries !== null) parts.push(`lag ${p.lag_entries}`);
  if (p.eta_seconds !== null && p.eta_seconds > 0) parts.push(`ETA ${etaText(p.eta_seconds)}`);
  return parts.join(' ');
}

export function moveRows(moves: Record<string, any>[]) {
  return moves.map((m) => ({ id: m.id, collection: m.collection, shard: m.shard_id ?? '', from: m.from ?? '-', to: m.to ?? '-', stage: m.stage, progress: m.finished ? '' : progressCell(m.progress), reason: m.reason ?? '', started: m.started_at }));
}

/** How often a progress line is printed again when stdout is no terminal (a log, a pipe): each poll would flood it. */
const PROGRESS_LINE_EVERY_MS = 5_000;

/** The operation body of `jade move`: one of Qdrant's four, from the flags. */
export function moveBody(shard: number, o: { from?: string; to?: string; replicate?: boolean; drop?: boolean; cancel?: boolean }): Record<string, unknown> {
  const variants = [o.replicate, o.drop, o.cancel].filter(Boolean).length;
  if (variants > 1) throw new CliError('give at most one of --replicate, --drop, --cancel');
  if (o.drop) {
    if (!o.from) throw new CliError('--drop needs --from (the peer whose replica goes)');
    if (o.to) throw new CliError('--drop takes no --to');
    return { drop_replica: { shard_id: shard, peer_id: o.from } };
  }
  if (!o.from || !o.to) throw new CliError('--from and --to are required (or --drop with --from)');
  const t = { shard_id: shard, from_peer_id: o.from, to_peer_id: o.to };
  if (o.cancel) return { abort_transfer: t };
  return o.replicate ? { replicate_shard: t } : { move_shard: t };
}

export function addMoveCommands(program: Command, clientOf: ClientOf): void {
  program
    .command('move <collection> <shard>')
    .description('move a shard\'s replica from one node to another (--replicate: add one, --drop: remove one, --cancel: abort the move in flight)')
    .option('--from <peer>', 'node that gives up its replica (--replicate: a node that holds one; --drop: the replica to remove)')
    .option('--to <peer>', 'node that receives a replica')
    .option('--replicate', 'copy a replica to --to and keep the one on --from (Qdrant\'s replicate_shard)')
    .option('--drop', 'remove the replica on --from (Qdrant\'s drop_replica)')
    .option('--cancel', 'abort the move of this shard from --from to --to (Qdrant\'s abort_transfer)')
    .option('--wait', 'wait until the move is done (or cancelled, or failed), printing its stages')
    .option('--wait-timeout <seconds>', 'with --wait: give up after this long', String(WAIT_SECONDS_DEFAULT))
    .action(async (collection: string, shardRaw: string, o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const shard = Number(shardRaw);
      if (!Number.isInteger(shard) || shard < 0) throw new CliError('<shard> must be a shard number (0, 1, ...)');
      const path = `/collections/${encodeURIComponent(collection)}/cluster`;
      const reply = await client.callEnvelope<boolean>('POST', path, moveBody(shard, o));
      const id = (reply.jade as { move_id?: string } | undefined)?.move_id ?? '';
      if (!o.wait || o.cancel) {
        if (output === 'json') return printObject({ result: reply.result, move_id: id }, 'json');
        process.stdout.write(`${o.cancel ? 'cancelled' : 'started'} move ${id}\n`);
        return;
      }
      const deadline = Date.now() + parseWaitSeconds(o.waitTimeout) * 1000;
      let last = '';
      // On a terminal the progress line is redrawn in place; elsewhere printed now and then.
      const tty = output !== 'json' && process.stdout.isTTY === true;
      let drawn = false;
      let lastLine = '';
      let lastLineAtMs = 0;
      const endLine = () => {
        if (drawn) process.stdout.write('\n');
        drawn = false;
      };
      for (;;) {
        const c = await client.call<Record<string, any>>('GET', path);
        const m = (c.jade?.moves as Record<string, any>[] | undefined)?.find((x) => x.id === id);
        if (!m) {
          endLine();
          throw new CliError(`move ${id} is no longer listed by the node (it keeps only the most recent finished moves); see jade shards ${collection}`);
        }
        if (m.stage !== last && output !== 'json') {
          endLine();
          process.stdout.write(`move ${id}: ${m.stage}${m.reason ? ` (${m.reason})` : ''}\n`);
        }
        last = m.stage;
        const line = m.finished ? '' : progressLine(m.progress);
        if (line && output !== 'json') {
          if (tty) {
            process.stdout.write(`\r\x1b[K  ${line}`);
            drawn = true;
          } else if (line !== lastLine && Date.now() - lastLineAtMs >= PROGRESS_LINE_EVERY_MS) {
            process.stdout.write(`  ${line}\n`);
            lastLine = line;
            lastLineAtMs = Date.now();
          }
        }
        if (m.finished) {
          endLine();
          if (output === 'json') printObject(m, 'json');
          if (m.stage !== 'done') throw new CliError(`move ${id} ${m.stage}${m.reason ? `: ${m.reason}` : ''}`);
          return;
        }
        if (Date.now() > deadline) {
          endLine();
          throw new CliError(`move ${id} is still ${m.stage} after --wait-timeout ${o.waitTimeout} s (it goes on on the cluster)`);
        }
        await sleep(POLL_MS);
      }
    });

  program
    .command('drain <peer>')
    .description('move every replica off a node, one move at a time (then jade remove-node can take it out); shows the drain when one is running')
    .option('--wait', 'wait until the node is drained, printing the replicas left')
    .option('--wait-timeout <seconds>', 'with --wait: give up after this long', String(WAIT_SECONDS_DEFAULT))
    .option('--status', 'only show the drain (GET), do not start one')
    .action(async (peer: string, o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const path = `/cluster/peer/${encodeURIComponent(peer)}/drain`;
      let r = await client.call<Record<string, any>>(o.status ? 'GET' : 'POST', path);
      const show = (d: Record<string, any>) => {
        if (output === 'json') return printObject(d, 'json');
        printObject({ node: d.node, state: d.state ?? 'not draining', replicas_left: d.replicas_left, moves_started: d.moves_started }, 'table');
        if (d.moves.length) {
          process.stdout.write('\n');
          printRows(moveRows(d.moves), 'table');
        }
      };
      if (!o.wait) return show(r);
      if (r.state === null) throw new CliError(`no drain of ${peer} is running (start one without --status)`);
      const deadline = Date.now() + parseWaitSeconds(o.waitTimeout) * 1000;
      let last = '';
      let progressAtMs = 0;
      const failed = new Set<string>();
      for (;;) {
        const line = `drain of ${peer}: ${r.state}, ${r.replicas_left} replica${r.replicas_left === 1 ? '' : 's'} left, ${r.moves_started} move${r.moves_started === 1 ? '' : 's'} started`;
        if (line !== last && output !== 'json') process.stdout.write(`${line}\n`);
        last = line;
        // The move in flight now and then (each poll would flood the output).
        if (output !== 'json' && Date.now() - progressAtMs >= PROGRESS_LINE_EVERY_MS) {
          for (const m of r.moves as Record<string, any>[]) {
            const text = m.finished ? '' : progressLine(m.progress);
            if (!text) continue;
            process.stdout.write(`  move ${m.id} (shard ${m.shard_id ?? '?'} of ${m.collection}, ${m.stage}): ${text}\n`);
            progressAtMs = Date.now();
          }
        }
        for (const m of r.moves as Record<string, any>[]) {
          if ((m.stage === 'failed' || m.stage === 'cancelled') && !failed.has(m.id)) {
            failed.add(m.id);
            process.stderr.write(`move ${m.id} (shard ${m.shard_id ?? '?'} of ${m.collection}, ${m.from ?? '-'} -> ${m.to ?? '-'}) ${m.stage}${m.reason ? `: ${m.reason}` : ''}; the drain tries again\n`);
          }
        }
        if (r.state === 'drained') {
          if (output === 'json') printObject(r, 'json');
          return;
        }
        if (r.state === null) throw new CliError(`the drain of ${peer} is gone (the node restarted as a new incarnation?)`);
        if (Date.now() > deadline) throw new CliError(`${peer} is still draining after --wait-timeout ${o.waitTimeout} s (${r.replicas_left} replicas left; the drain goes on on the cluster)`);
        await sleep(POLL_MS);
        r = await client.call<Record<string, any>>('GET', path);
      }
    });
}
