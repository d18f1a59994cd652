// Builds the REST app for tests the way node.ts wires it (Catalog on a RealDisk in a fresh temp
// dir, NodeMetrics, Authenticator), without listening, so suites drive it with inject(). The
// disk can hold every fsync at a gate, which makes "a write is in flight" deterministic, and can
// fail the next fsyncs with an errno.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { NodeMetrics } from '../../node/src/api/metrics.js';
import { buildApp } from '../../node/src/api/rest/app.js';
import { Catalog, StandaloneDatabase } from '../../node/src/query/catalog.js';
import { DEFAULT_CONFIG, type NodeLimits } from '../../node/src/config.js';
import { Authenticator } from '../../node/src/security/auth.js';
import type { Disk, DiskFile, OpenMode } from '../../node/src/storage/disk.js';
import { fsError, RealDisk } from '../../node/src/storage/disk.js';

/** A RealDisk whose file syncs wait while the gate is closed (to hold writes in flight). */
export class GatedDisk extends RealDisk {
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  /** Syncs currently waiting at the closed gate. */
  waitingSyncs = 0;

  closeGate(): void {
    if (this.gate) return;
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  releaseGate(): void {
    this.openGate?.();
    this.gate = null;
    this.openGate = null;
  }

  /** Errno codes the next file syncs fail with, one per sync (EIO, ENOSPC, ...). */
  readonly syncFailures: string[] = [];

  override async open(filePath: string, mode: OpenMode): Promise<DiskFile> {
    const file = await super.open(filePath, mode);
    const sync = file.sync.bind(file);
    file.sync = async () => {
      const failure = this.syncFailures.shift();
      if (failure) throw fsError(failure, 'fsync', filePath);
      while (this.gate) {
        this.waitingSyncs++;
        try {
          await this.gate;
        } finally {
          this.waitingSyncs--;
        }
      }
      await sync();
    };
    return file;
  }
}

export interface HarnessOptions {
  limits?: Partial<NodeLimits>;
  apiKey?: string | null;
  /** An authenticator of its own (keys with roles, JWTs); overrides apiKey. */
  auth?: Authenticator;
  /** fastify's logger option (e.g. { level: 'info', stream } to read the log lines). */
  logger?: boolean | Record<string, unknown>;
  /** Initial readiness; flip it later with setReady. */
  ready?: boolean;
  disk?: Disk;
  /** Reopen an existing data directory (after close({ keepData: true })) instead of a fresh one. */
  dataDir?: string;
}

export interface Harness {
  app: FastifyInstance;
  catalog: Catalog;
  limits: NodeLimits;
  dataDir: string;
  setReady(ready: boolean): void;
  /**
   * Stops the app and closes the collections; removes the data unless keepData. With checkpoint:
   * false the shards stop without a checkpoint, like a crash after the last fsync, so reopening
   * must replay the WAL.
   */
  close(options?: { keepData?: boolean; checkpoint?: boolean }): Promise<void>;
}

export async function makeHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'jade-api-'));
  const limits: NodeLimits = { ...DEFAULT_CONFIG.limits, ...options.limits };
  const disk = options.disk ?? new RealDisk();
  const metrics = new NodeMetrics();
  const catalog = await Catalog.open(disk, dataDir, {
    collectionsMax: limits.collectionsMax,
    shard: {
      wal: { ...DEFAULT_CONFIG.wal, pendingBytesMax: limits.walPendingBytesMax },
      limits: { batchPointsMax: limits.batchPointsMax, payloadBytesMax: limits.payloadBytesMax, exactScanCandidatesMax: limits.exactScanCandidatesMax, exactScanElementsMax: limits.exactScanElementsMax, indexBacklogMax: limits.indexBacklogMax },
      checkpointWalBytes: DEFAULT_CONFIG.checkpointWalBytes,
    },
  }, (name) => ({
    onFsync: (s) => metrics.walFsyncSeconds.observe({ collection: name }, s),
    onCheckpoint: (s) => metrics.checkpointSeconds.observe({ collection: name }, s),
  }));
  metrics.setCollectionSource(() =>
    catalog.names().map((name) => {
      const { shard } = catalog.get(name);
      const m = shard.state.memoryBytes();
      return { name, points: shard.state.count, indexMemoryBytes: m.vectors + m.index, walBytes: shard.walSizeBytes(), indexBacklog: shard.state.indexBacklog };
    }),
  );
  let ready = options.ready ?? true;
  const app = await buildApp({
    database: new StandaloneDatabase(catalog),
    limits,
    hnswDefaults: DEFAULT_CONFIG.hnswDefaults,
    walSegmentSizeBytes: DEFAULT_CONFIG.wal.segmentSizeBytesMax,
    auth: options.auth ?? new Authenticator({ apiKey: options.apiKey ?? null, publicPaths: ['/healthz', '/readyz'] }),
    logger: options.logger,
    metrics,
    info: { version: '0.1.0-test', nodeId: 'node-test', clusterName: 'test', startedAtMs: Date.now(), dataDir },
    isReady: () => ready,
    diskUsageBytes: async () => 0,
  });
  return {
    app,
    catalog,
    limits,
    dataDir,
    setReady(r) {
      ready = r;
    },
    async close(closeOptions = {}) {
      await app.close();
      if (closeOptions.checkpoint === false) {
        for (const name of catalog.names()) await catalog.get(name).shard.close({ checkpoint: false });
      } else {
        await catalog.close();
      }
      if (!closeOptions.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** inject() that returns the parsed JSON body beside the response. */
export async function call(app: FastifyInstance, opts: InjectOptions): Promise<{ status: number; body: any; res: LightMyRequestResponse }> {
  const res = await app.inject(opts);
  let body: unknown = res.body;
  try {
    body = res.json();
  } catch {
    // not JSON (e.g. /metrics): keep the text
  }
  return { status: res.statusCode, body, res };
}

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function randomVector(r: () => number, dim: number): number[] {
  return Array.from({ length: dim }, () => Math.fround(r() * 2 - 1));
}

/** base64 of little-endian float32, the fast vector form the API accepts. */
export function base64Vector(v: ArrayLike<number>): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i], i * 4);
  return buf.toString('base64');
}

/** A number as text that tells NaN and ±Infinity apart (JSON.stringify writes null for all three). */
function exactNumber(x: number): string | number {
  return Number.isFinite(x) ? x : String(x);
}

/** A stable fingerprint of every point of a collection (ids, vectors, payloads), read via the shard. */
export function collectionChecksum(catalog: Catalog, name: string): string {
  const parts = collectionDump(catalog, name);
  return `${parts.length}:${parts.join(';')}`;
}

/** One line per point (id | vector | payload) in scroll order, for diffs that name the point. */
export function collectionDump(catalog: Catalog, name: string): string[] {
  const state = catalog.get(name).shard.state;
  const parts: string[] = [];
  let offset: number | string | null = null;
  do {
    const page = state.scroll(offset, 1000, null);
    for (const l of page.labels) {
      const p = state.pointByLabel(l);
      parts.push(`${JSON.stringify(p.id)}|${Array.from(p.vector, exactNumber).join(',')}|${JSON.stringify(p.payload, (_key, value: unknown) => (typeof value === 'number' ? exactNumber(value) : value))}`);
    }
    offset = page.nextOffset;
  } while (offset !== null);
  return parts;
}
