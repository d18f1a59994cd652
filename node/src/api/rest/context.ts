// What every route plugin gets: the database, the limits, and the helpers that shape answers and
// read the options every route shares (consistency, deadline, partial results).
import type { SecureContextOptions } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BackupService } from '../../backup/service.js';
import type { HnswParams } from '../../index/types.js';
import { parseReadStrategy } from '../../query/read-strategy.js';
import type { Database, ReadConsistency, ReadOptions, WriteConsistency, WriteOptions } from '../../query/types.js';
import type { Authenticator } from '../../security/auth.js';
import type { KeyLimiter } from '../../security/rate-limit.js';
import type { WriteBatch } from '../../storage/types.js';
import { JadeError } from '../../util/errors.js';
import type { NodeMetrics } from '../metrics.js';

export interface RestLimits {
  bodyBytesMax: number;
  batchPointsMax: number;
  searchBatchMax: number;
  searchLimitMax: number;
  searchEfMax: number;
  writesInFlightMax: number;
  /** The shards' exact-scan planner limits (reported as Qdrant's hnsw_config.full_scan_threshold). */
  exactScanCandidatesMax: number;
  exactScanElementsMax: number;
  /** A request without its own `timeout` gets this deadline, for every hop. */
  requestTimeoutMs: number;
  /** Per key (principal id): sustained requests per second (0 = none), burst (0 = one second's worth), requests in flight (0 = no cap). */
  keyRequestsPerSecondMax: number;
  keyRequestsBurstMax: number;
  keyRequestsInFlightMax: number;
  /** The HTTP server's slow-client guards: the headers, then the whole request, must arrive within these. */
  headersTimeoutMs: number;
  requestReceiveTimeoutMs: number;
}

export interface SystemInfo {
  version: string;
  nodeId: string;
  clusterName: string;
  startedAtMs: number;
  dataDir: string;
}

export interface AppDeps {
  database: Database;
  limits: RestLimits;
  hnswDefaults: HnswParams;
  /** Size of one WAL segment (reported as Qdrant's wal_config.wal_capacity_mb). */
  walSegmentSizeBytes: number;
  auth: Authenticator;
  metrics: NodeMetrics;
  info: SystemInfo;
  isReady(): boolean;
  /** Bytes used under the data directory (for /v1/status); optional. */
  diskUsageBytes?(): Promise<number>;
  logger?: boolean | Record<string, unknown>;
  /** Enables /internal/v1/faults (transport fault injection for tests). */
  testHooksEnabled?: boolean;
  /** Backups and snapshots (standalone mode); absent = the backup routes refuse with a coded 400. */
  backups?: BackupService;
  /** The node's bound on writes in flight, shared with the gRPC API (one writesInFlightMax across both); absent = REST builds its own. */
  writeGate?: WriteGate;
  /** Per-key request limits shared with the gRPC API (one budget per key across both); absent = REST builds its own. */
  keyLimiter?: KeyLimiter;
  /** Serve HTTPS with these (cert, key, minVersion); absent = plain HTTP. */
  https?: SecureContextOptions;
  /** GET /v1/diagnostics: the node's configuration (secrets redacted) and its recent log lines. */
  diagnostics?: { config: Record<string, unknown>; logs(): { lines: string[]; dropped: number } };
  /** Fencing (POST/DELETE /cluster/fence); absent = a node not run by a supervisor (tests), which refuses it. */
  fencing?: FenceControl;
}

/** What the fence routes need of the process that runs the node (fencing.ts NodeSupervisor). */
export interface FenceControl {
  /** The fence in force, or null. */
  state(): { fencedAtMs: number; reason: string } | null;
  /** Records the fence durably, then (after the answer) closes the node and starts it fenced. Idempotent. */
  fenceNode(reason: string): Promise<{ fencedAtMs: number; reason: string }>;
  /** Removes the fence, then (after the answer) starts the node serving again. Idempotent. */
  unfenceNode(): Promise<void>;
}

/** The Qdrant REST API level we speak; @qdrant/js-client-rest checks it on connect. */
export const QDRANT_COMPAT_VERSION = '1.18.0';

/** Seconds a client is told to wait after a 429 (queues drain within about a second). */
export const RETRY_AFTER_SECONDS = 1;

/** A request's `timeout` (seconds, Qdrant's query parameter) may not ask for more than this. */
export const REQUEST_TIMEOUT_SECONDS_MAX = 600;

export function startOf(req: FastifyRequest): bigint {
  return (req as unknown as { jadeStartNs: bigint }).jadeStartNs ?? process.hrtime.bigint();
}

export function ok(reply: FastifyReply, result: unknown, req: FastifyRequest, extra: Record<string, unknown> = {}) {
  return reply.send({ result, status: 'ok', time: Number(process.hrtime.bigint() - startOf(req)) / 1e9, ...extra });
}

export function badRequest(message: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', message);
}

/** Qdrant fields we do not implement and that would change the answer if ignored: refuse them instead. */
export function refuseUnsupported(body: Record<string, unknown> | null | undefined, fields: readonly string[], where = ''): void {
  for (const field of fields) {
    const v = body?.[field];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    badRequest(`${where}"${field}" is not supported by JadeVectorDB (see the README's differences from Qdrant)`);
  }
}

export function intInRange(raw: unknown, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min) badRequest(`${name} must be an integer ≥ ${min}`);
  if (raw > max) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${name} ${raw} is over the limit ${max}`);
  return raw;
}

function param(req: FastifyRequest, name: string): unknown {
  const q = (req.query as Record<string, unknown> | undefined)?.[name];
  if (q !== undefined) return q;
  const body = req.body;
  return body && typeof body === 'object' && !Buffer.isBuffer(body) ? (body as Record<string, unknown>)[name] : undefined;
}

/** Qdrant's `consistency` (query string or body): "one"/"eventual" reads one replica as it is; anything else is strong. */
export function consistencyOf(req: FastifyRequest): ReadConsistency {
  const raw = param(req, 'consistency');
  return raw === 'eventual' || raw === 'one' || raw === 1 || raw === '1' ? 'eventual' : 'strong';
}

/** The request's absolute deadline: Qdrant's `timeout` (seconds) or the node's default. */
export function deadlineOf(req: FastifyRequest, limits: RestLimits): number {
  const raw = (req.query as Record<string, unknown> | undefined)?.timeout;
  if (raw === undefined || raw === '') return Date.now() + limits.requestTimeoutMs;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > REQUEST_TIMEOUT_SECONDS_MAX) badRequest(`timeout must be a number of seconds in (0, ${REQUEST_TIMEOUT_SECONDS_MAX}]`);
  return Date.now() + seconds * 1000;
}

export function readOptionsOf(req: FastifyRequest, limits: RestLimits): ReadOptions {
  const partial = param(req, 'allow_partial');
  const strategy = param(req, 'read_strategy');
  return {
    consistency: consistencyOf(req),
    deadlineMs: deadlineOf(req, limits),
    allowPartial: partial === true || partial === 'true',
    readStrategy: strategy === undefined || strategy === null ? undefined : parseReadStrategy(strategy),
  };
}

/** The response header of an eventual read's report (see readWithReport). */
export const READ_REPLICAS_HEADER = 'jade-read-replicas';

/**
 * Read options plus, for eventual reads, a report of which replica served each shard and how many
 * committed entries it had not applied yet: report(reply) sets it as the `jade-read-replicas`
 * header (JSON), not beside the result, whose fields are Qdrant's and nothing else.
 */
export function readWithReport(req: FastifyRequest, limits: RestLimits): { opts: ReadOptions; report(reply: FastifyReply): void } {
  const opts = readOptionsOf(req, limits);
  if (opts.consistency !== 'eventual') return { opts, report: () => undefined };
  const seen = new Map<number, { shard: number; peer_id: string; behind_entries: number }>();
  opts.observeReplica = (shard, r) => seen.set(shard, { shard, peer_id: r.nodeId, behind_entries: Math.max(0, r.commit - r.applied) });
  return {
    opts,
    report: (reply) => {
      if (seen.size > 0) reply.header(READ_REPLICAS_HEADER, JSON.stringify([...seen.values()].sort((a, b) => a.shard - b.shard)));
    },
  };
}

export const WRITE_CONSISTENCIES: readonly WriteConsistency[] = ['majority', 'all', 'one'];

/** A write consistency level from a request (`write_consistency`), or undefined when absent. */
export function parseWriteConsistency(raw: unknown): WriteConsistency | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'string' && (WRITE_CONSISTENCIES as readonly string[]).includes(raw)) return raw as WriteConsistency;
  badRequest(`write_consistency must be one of ${WRITE_CONSISTENCIES.join(', ')}`);
}

export function writeOptionsOf(req: FastifyRequest, limits: RestLimits): WriteOptions {
  return { deadlineMs: deadlineOf(req, limits), consistency: parseWriteConsistency((req.query as Record<string, unknown> | undefined)?.write_consistency) };
}

/** Bounds the writes a node has in flight (429 past writesInFlightMax) and runs them on the collection. */
export class WriteGate {
  private inFlight = 0;
  constructor(private readonly database: Database, private readonly limit: number) {}

  async write(name: string, batch: WriteBatch, opts: WriteOptions): Promise<{ operation_id: number; status: 'completed' }> {
    const collection = this.database.collection(name);
    if (this.inFlight >= this.limit) throw new JadeError('JADE_ERR_QUEUE_FULL', `too many writes in flight (writesInFlightMax ${this.limit}); retry later`);
    this.inFlight++;
    try {
      return { operation_id: await collection.write(batch, opts), status: 'completed' };
    } finally {
      this.inFlight--;
    }
  }
}

export interface RouteContext {
  deps: AppDeps;
  writes: WriteGate;
}
