// `jade diagnostics`: one archive with what a support request needs from every node, as
// `kubectl cnpg report` does for CloudNativePG: per node its /v1/status, configuration (secrets
// redacted by the node), recent log lines, process facts, /metrics and its view of the cluster
// (meta group, members); per collection its info and shard layout. A node that does not answer is
// recorded in summary.json and the archive is still written. Nothing here reads or writes points.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Command } from 'commander';
import tar from 'tar-stream';
import { CliError, type JadeClient } from './client.js';
import type { ClientOf } from './moves.js';

/** Collections whose info and layout are collected (the rest are listed only). */
export const DIAGNOSTICS_COLLECTIONS_MAX = 200;
/** Members asked (a larger cluster is cut, and summary.json says so). */
export const DIAGNOSTICS_NODES_MAX = 100;

interface Entry {
  name: string;
  body: string;
}

interface NodeReport {
  node: string;
  url: string;
  files: string[];
  errors: Record<string, string>;
}

async function collect(client: JadeClient, node: string, entries: Entry[], files: [file: string, path: string, text?: boolean][]): Promise<NodeReport> {
  const report: NodeReport = { node, url: client.baseUrl, files: [], errors: {} };
  await Promise.all(
    files.map(async ([file, path, text]) => {
      try {
        const r = await client.call<unknown>('GET', path);
        entries.push({ name: `${node}/${file}`, body: text && typeof r === 'string' ? r : `${JSON.stringify(r, null, 2)}\n` });
        report.files.push(file);
      } catch (e) {
        report.errors[path] = (e as Error).message;
      }
    }),
  );
  report.files.sort();
  return report;
}

/** Node ids are path segments of the archive: keep them to safe characters. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128) || 'node';
}

export async function writeDiagnostics(client: JadeClient, file: string, now = new Date()): Promise<{ file: string; nodes: NodeReport[]; collections: number; bytes: number }> {
  const entries: Entry[] = [];
  const cluster = await client.call<Record<string, any>>('GET', '/cluster').catch((e: Error) => {
    throw new CliError(`cannot read ${client.baseUrl}/cluster: ${e.message}`);
  });
  const members: { id: string; url: string }[] =
    cluster.status === 'enabled' && Array.isArray(cluster.jade?.members) ? cluster.jade.members.map((m: { id: string; rest_url: string }) => ({ id: m.id, url: m.rest_url })) : [];
  const targets = members.length > 0 ? members.slice(0, DIAGNOSTICS_NODES_MAX) : [{ id: 'node', url: client.baseUrl }];
  const perNode: [string, string, boolean?][] = [
    ['status.json', '/v1/status'],
    ['diagnostics.json', '/v1/diagnostics'],
    ['metrics.txt', '/metrics', true],
    ['cluster.json', '/cluster'],
    ['fence.json', '/cluster/fence'],
  ];
  const nodes = await Promise.all(targets.map((t) => collect(t.url === client.baseUrl ? client : client.forUrl(t.url), safeName(t.id), entries, perNode)));

  // Collections: once, through the node asked (any node serves any collection).
  let names: string[] = [];
  const collectionErrors: Record<string, string> = {};
  try {
    const list = await client.call<{ collections: { name: string }[] }>('GET', '/collections');
    names = list.collections.map((c) => c.name).sort();
    entries.push({ name: 'collections/list.json', body: `${JSON.stringify(list, null, 2)}\n` });
  } catch (e) {
    collectionErrors['/collections'] = (e as Error).message;
  }
  for (const name of names.slice(0, DIAGNOSTICS_COLLECTIONS_MAX)) {
    for (const [suffix, path] of [['info.json', ''], ['cluster.json', '/cluster']] as const) {
      try {
        const r = await client.call<unknown>('GET', `/collections/${encodeURIComponent(name)}${path}`);
        entries.push({ name: `collections/${safeName(name)}/${suffix}`, body: `${JSON.stringify(r, null, 2)}\n` });
      } catch (e) {
        collectionErrors[`/collections/${name}${path}`] = (e as Error).message;
      }
    }
  }
  const summary = {
    collectedAt: now.toISOString(),
    askedNode: client.baseUrl,
    mode: members.length > 0 ? 'cluster' : 'standalone',
    members: members.length,
    nodesCut: Math.max(0, members.length - DIAGNOSTICS_NODES_MAX),
    nodes,
    collections: names.length,
    collectionsCut: Math.max(0, names.length - DIAGNOSTICS_COLLECTIONS_MAX),
    collectionErrors,
  };
  entries.push({ name: 'summary.json', body: `${JSON.stringify(summary, null, 2)}\n` });

  const pack = tar.pack();
  const root = `jade-diagnostics-${now.toISOString().replace(/[:.]/g, '-')}`;
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) pack.entry({ name: `${root}/${e.name}`, mtime: now, mode: 0o600 }, e.body);
  pack.finalize();
  const out = createWriteStream(file, { mode: 0o600 });
  await pipeline(pack, createGzip(), out);
  return { file, nodes, collections: names.length, bytes: out.bytesWritten };
}

export function addDiagnosticsCommand(program: Command, clientOf: ClientOf): void {
  program
    .command('diagnostics')
    .description('write one .tar.gz with every node\'s status, configuration (secrets redacted), recent logs, metrics and cluster view, and each collection\'s info and shard layout')
    .option('--file <path>', 'where to write the archive (default jade-diagnostics-<time>.tar.gz here)')
    .action(async (o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const now = new Date();
      const file = o.file ?? `jade-diagnostics-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
      const r = await writeDiagnostics(client, file, now);
      const failed = r.nodes.filter((n) => Object.keys(n.errors).length > 0);
      if (output === 'json') {
        process.stdout.write(`${JSON.stringify({ file: r.file, bytes: r.bytes, nodes: r.nodes, collections: r.collections })}\n`);
        return;
      }
      process.stdout.write(`wrote ${r.file} (${r.bytes} bytes): ${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'}, ${r.collections} collection${r.collections === 1 ? '' : 's'}\n`);
      for (const n of failed) process.stdout.write(`  ${n.node} (${n.url}): ${Object.entries(n.errors).map(([p, m]) => `${p}: ${m}`).join('; ')}\n`);
    });
}
