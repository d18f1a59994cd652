// The `jade` command line. Every command except serve and repair is a client of the public REST
// API. Errors print one line and exit non-zero.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runServe, serveCommand } from '../main.js';
import { JADE_VERSION } from '../node.js';
import { RealDisk } from '../storage/disk.js';
import { lockDataDir } from '../storage/lock.js';
import { repairWal } from '../storage/wal.js';
import { addBackupCommands } from './backup.js';
import { CliError, JadeClient } from './client.js';
import { importVectors } from './import.js';
import { addMoveCommands, moveRows } from './moves.js';
import { addRebalanceCommand } from './rebalance.js';
import { addFenceCommands } from './fence.js';
import { addDiagnosticsCommand } from './diagnostics.js';
import { runLocalCluster } from './cluster-local.js';
import type { OutputFormat } from './output.js';
import { printObject, printRows } from './output.js';

const env = process.env;

/** The private CA to trust for an https:// node (--ca-file, else JADE_CA_FILE), read once per command. */
function caOf(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CliError(`--ca-file ${file}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function clientOf(cmd: Command): { client: JadeClient; output: OutputFormat } {
  const o = cmd.optsWithGlobals() as { url: string; output: OutputFormat; caFile?: string };
  return { client: new JadeClient(o.url, env.JADE_API_KEY ?? null, { ca: caOf(o.caFile) }), output: o.output };
}

function parseJson(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new CliError(`${what} is not valid JSON`);
  }
}

function parseIntOption(raw: string, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new CliError(`${what} must be an integer`);
  return n;
}

export function buildProgram(): Command {
  const program = new Command('jade')
    .description('JadeVectorDB command line')
    .version(JADE_VERSION)
    .option('--url <url>', 'node REST address, http:// or https:// (env JADE_URL)', env.JADE_URL ?? 'http://127.0.0.1:8080')
    .option('--ca-file <file>', 'https:// only: PEM file of the CA that signed the node\'s certificate, trusted besides the system\'s (env JADE_CA_FILE)', env.JADE_CA_FILE || undefined)
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', '\nThe API key is read from JADE_API_KEY (never a flag, so it stays out of shell history and process lists).')
    .showHelpAfterError();

  program.addCommand(serveCommand().action(async (opts) => runServe(opts, env)));

  program
    .command('status')
    .description('show the node: version, uptime, collections, points, memory, WAL')
    .action(async (_o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const s = await client.call<Record<string, any>>('GET', '/v1/status');
      if (output === 'json') return printObject(s, 'json');
      printObject({ node: s.nodeId, version: s.version, mode: s.mode, cluster: s.clusterId ?? '', member: s.memberId ?? '', joined: s.joined ?? '', role: s.role, term: s.term, meta_leader: s.metaLeader, ready: s.ready, uptime_s: s.uptimeSeconds, collections: s.collections.length, points: s.points, wal_bytes: s.walBytes, rss_bytes: s.memory?.rssBytes }, 'table');
      if (s.mode === 'cluster') {
        process.stdout.write('\nMEMBERS\n');
        printRows((s.members as any[]).map((m) => ({ id: m.id, incarnation: m.incarnation, rest: m.restUrl, grpc: m.grpcAddress, meta: m.metaRole, replicas: m.replicas })), 'table');
        process.stdout.write('\nRAFT GROUPS (as seen by this node; lag = entries each member is behind, on leaders)\n');
        printRows((s.groups as any[]).map((g) => ({ group: g.groupId, role: g.role, term: g.term, leader: g.leader, commit: g.commit, applied: g.applied, voters: g.conf.voters.length, learners: g.conf.learners.length, lag: g.lag ? Object.entries(g.lag).map(([m, n]) => `${String(m).split('#')[0]}:${n}`).join(' ') : '' })), 'table');
        if ((s.lostGroups as string[] | undefined)?.length) process.stdout.write(`\nLOST REPLICAS (directories gone after founding; not re-founded): ${s.lostGroups.join(', ')}\n`);
      }
    });

  program
    .command('nodes')
    .description('list the cluster\'s nodes: incarnation, addresses, meta role, replicas held')
    .action(async (_o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const c = await client.call<Record<string, any>>('GET', '/cluster');
      if (c.status !== 'enabled') throw new CliError('this node runs standalone: there are no other nodes');
      if (output === 'json') return printObject(c, 'json');
      printRows((c.jade.members as any[]).map((m) => ({ id: m.id, incarnation: m.incarnation, rest: m.rest_url, grpc: m.grpc_address, meta: m.meta_role, meta_leader: m.id === c.raft_info.leader ? 'yes' : '', replicas: m.replicas })), 'table');
    });

  program
    .command('shards <collection>')
    .description('list a collection\'s shards: hash range, leader, replicas and their states')
    .action(async (collection: string, _o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const c = await client.call<Record<string, any>>('GET', `/collections/${encodeURIComponent(collection)}/cluster`);
      if (output === 'json') return printObject(c, 'json');
      if (!c.jade) return printRows((c.local_shards as any[]).map((s) => ({ shard: s.shard_id, points: s.points_count, state: s.state })), 'table');
      printRows(
        (c.jade.shards as any[]).map((s) => ({
          shard: s.shard_id,
          group: s.group_id,
          range: `${s.hash_range[0]}..${s.hash_range[1]}`,
          leader: s.leader ?? '(none known)',
          replicas: (s.replicas as any[]).map((r) => `${r.peer_id}${r.state === 'active' ? '' : `(${r.state})`}`).join(' '),
          degraded: s.degraded ? 'yes' : '',
        })),
        'table',
      );
      const moving = ((c.jade.moves ?? []) as any[]).filter((m) => !m.finished);
      if (moving.length) {
        process.stdout.write('\nmoves in flight:\n');
        printRows(moveRows(moving), 'table');
      }
    });

  program
    .command('remove-node <id>')
    .description('take a node out of the cluster (refused while it holds replicas, unless --force)')
    .option('--force', 'remove it even though it holds replicas: their shards run one replica short')
    .action(async (id: string, o, cmd: Command) => {
      const { client } = clientOf(cmd);
      await client.call('DELETE', `/cluster/peer/${encodeURIComponent(id)}${o.force ? '?force=true' : ''}`);
      process.stdout.write(`removed node ${id}\n`);
    });

  addMoveCommands(program, clientOf);
  addRebalanceCommand(program, clientOf);
  addFenceCommands(program, clientOf);
  addDiagnosticsCommand(program, clientOf);
  addBackupCommands(program, clientOf, env);

  const collections = program.command('collections').description('list, create, inspect and delete collections');
  collections
    .command('list')
    .description('list collections')
    .action(async (_o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<{ collections: { name: string }[] }>('GET', '/collections');
      printRows(r.collections, output);
    });
  collections
    .command('create <name>')
    .description('create a collection')
    .requiredOption('--dimension <n>', 'vector dimension')
    .addOption(new Option('--metric <metric>', 'distance metric').choices(['l2', 'cosine', 'ip']).default('l2'))
    .option('--m <n>', 'HNSW m (links per node)')
    .option('--ef-construction <n>', 'HNSW ef at build time')
    .option('--ef <n>', 'default HNSW ef at search time')
    .option('--shards <n>', 'cluster mode: shards over point-hash ranges')
    .option('--replication-factor <n>', 'cluster mode: replicas of each shard')
    .addOption(new Option('--write-consistency <level>', 'cluster mode: default write consistency').choices(['majority', 'all', 'one']))
    .action(async (name: string, o, cmd: Command) => {
      const { client } = clientOf(cmd);
      const hnsw: Record<string, number> = {};
      if (o.m) hnsw.m = parseIntOption(o.m, '--m');
      if (o.efConstruction) hnsw.ef_construct = parseIntOption(o.efConstruction, '--ef-construction');
      if (o.ef) hnsw.ef = parseIntOption(o.ef, '--ef');
      const body: Record<string, unknown> = { vectors: { size: parseIntOption(o.dimension, '--dimension'), distance: o.metric }, hnsw_config: hnsw };
      if (o.shards) body.shard_number = parseIntOption(o.shards, '--shards');
      if (o.replicationFactor) body.replication_factor = parseIntOption(o.replicationFactor, '--replication-factor');
      if (o.writeConsistency) body.write_consistency = o.writeConsistency;
      await client.call('PUT', `/collections/${encodeURIComponent(name)}`, body);
      process.stdout.write(`created collection ${name}\n`);
    });
  collections
    .command('info <name>')
    .description('show a collection: count, parameters, index status, memory')
    .action(async (name: string, _o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const c = await client.call<Record<string, any>>('GET', `/collections/${encodeURIComponent(name)}`);
      // JadeVectorDB's own details (metric, ef, index backlog, memory) are beside Qdrant's info.
      const own = await client.call<Record<string, any>>('GET', `/v1/collections/${encodeURIComponent(name)}`);
      if (output === 'json') return printObject({ ...c, jade: own }, 'json');
      printObject({ name, points: c.points_count, shards: own.shard_number, replication_factor: own.replication_factor, dimension: own.dimension, metric: own.metric, m: own.hnsw.m, ef_construction: own.hnsw.ef_construct, ef: own.hnsw.ef, index_status: own.index_status, memory_bytes: own.memory_bytes, wal_bytes: own.wal_bytes, payload_indexes: Object.keys(c.payload_schema ?? {}).join(',') }, 'table');
    });
  collections
    .command('delete <name>')
    .description('delete a collection and all its points')
    .action(async (name: string, _o, cmd: Command) => {
      const { client } = clientOf(cmd);
      const deleted = await client.call<boolean>('DELETE', `/collections/${encodeURIComponent(name)}`);
      if (!deleted) throw new CliError(`collection "${name}" does not exist`);
      process.stdout.write(`deleted collection ${name}\n`);
    });

  program
    .command('import <file>')
    .description('import vectors from IDX (optionally .gz), fvecs, bvecs, .npy or JSONL; resumable')
    .requiredOption('--collection <name>', 'target collection')
    .addOption(new Option('--format <format>', 'file format (default: from the file name)').choices(['idx', 'fvecs', 'bvecs', 'npy', 'jsonl']))
    .option('--batch-size <n>', 'points per request', '1000')
    .option('--labels <file>', 'IDX1 label file: payload {"label": n} per row')
    .option('--create <metric>', 'create the collection if missing, with this metric (l2, cosine, ip)')
    .option('--limit <n>', 'import only the first n rows')
    .option('--restart', 'ignore a saved resume point and start from the first row')
    .action(async (file: string, o, cmd: Command) => {
      const { client } = clientOf(cmd);
      const tty = process.stderr.isTTY;
      const r = await importVectors(client, {
        file,
        collection: o.collection,
        format: o.format,
        batchSize: parseIntOption(o.batchSize, '--batch-size'),
        labelsFile: o.labels,
        create: o.create ? { distance: o.create } : undefined,
        limit: o.limit ? parseIntOption(o.limit, '--limit') : undefined,
        restart: o.restart === true,
        progress: (line) => process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`),
      });
      if (tty) process.stderr.write('\n');
      process.stdout.write(`imported ${r.imported} vectors into ${o.collection} in ${r.seconds.toFixed(1)} s${r.resumedFrom ? ` (resumed at row ${r.resumedFrom})` : ''}\n`);
    });

  program
    .command('search <collection>')
    .description('nearest-neighbour search')
    .requiredOption('--vector <json>', 'query vector as a JSON array')
    .option('--k <n>', 'number of results', '10')
    .option('--ef <n>', 'HNSW ef for this search')
    .option('--filter <json>', 'Qdrant filter as JSON')
    .option('--exact', 'exact search (no index)')
    .option('--with-payload', 'include payloads', true)
    .action(async (collection: string, o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const body: Record<string, unknown> = { query: parseJson(o.vector, '--vector'), limit: parseIntOption(o.k, '--k'), with_payload: o.withPayload !== false };
      const params: Record<string, unknown> = {};
      if (o.ef) params.hnsw_ef = parseIntOption(o.ef, '--ef');
      if (o.exact) params.exact = true;
      body.params = params;
      if (o.filter) body.filter = parseJson(o.filter, '--filter');
      const r = await client.call<{ points: { id: unknown; score: number; payload?: unknown }[] }>('POST', `/collections/${encodeURIComponent(collection)}/points/query`, body);
      printRows(r.points.map((p) => ({ id: p.id, score: p.score, payload: p.payload })), output);
    });

  program
    .command('cluster')
    .description('local clusters for development')
    .command('local')
    .description('start N node processes on the loopback that form one Raft cluster: node-0 --bootstrap, the rest --join (Ctrl-C stops them)')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data-dir <dir>', 'parent data directory (node-i below it)', './data/local-cluster')
    .option('--host <address>', 'loopback address to bind', '127.0.0.1')
    .option('--port <port>', 'REST port of node-0 (node-i gets port+i)', '8080')
    .option('--grpc-port <port>', 'Raft transport port of node-0 (node-i gets port+i)', '9090')
    .option('--api-grpc-port <port>', 'client gRPC API (Qdrant-compatible) port of node-0 (node-i gets port+i)', '6334')
    .action(async (o) => {
      await runLocalCluster({
        nodes: parseIntOption(o.nodes, '--nodes'),
        dataDir: o.dataDir,
        host: o.host,
        basePort: parseIntOption(o.port, '--port'),
        grpcBasePort: parseIntOption(o.grpcPort, '--grpc-port'),
        apiGrpcBasePort: parseIntOption(o.apiGrpcPort, '--api-grpc-port'),
        env,
        log: (line) => process.stdout.write(line + '\n'),
      });
    });

  program
    .command('repair')
    .description('offline: cut each collection\'s WAL at its first corrupt record, keeping everything before it (stop the node first)')
    .option('--data-dir <dir>', 'data directory', env.JADE_DATA_DIR ?? './data')
    .action(async (o) => {
      const lock = await lockDataDir(o.dataDir);
      try {
        const disk = new RealDisk();
        const root = path.join(o.dataDir, 'collections');
        const names = (await disk.exists(root)) ? await disk.list(root) : [];
        let repaired = 0;
        for (const name of names.filter((n) => !n.startsWith('.'))) {
          const walDir = path.join(root, name, 'shard-0', 'wal');
          if (!(await disk.exists(walDir))) continue;
          const r = await repairWal(disk, walDir);
          if (r) {
            repaired++;
            process.stdout.write(`${name}: corrupt record in ${r.file} at offset ${r.offset}; kept ${r.keptRecords} records, dropped ${r.droppedBytes} bytes\n`);
          } else {
            process.stdout.write(`${name}: WAL is intact\n`);
          }
        }
        process.stdout.write(repaired ? `repaired ${repaired} collection(s)\n` : 'nothing to repair\n');
      } finally {
        await lock.release();
      }
    });

  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`jade: ${(e as Error).message}\n`);
  process.exit(1);
}
