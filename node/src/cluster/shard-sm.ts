// A replicated shard: the shard state machine applying committed write batches, with a snapshot
// image (points, labels, payload index definitions) for Raft snapshots. The HNSW graph is not in
// the image (each replica builds its own): a replica restored from a received image re-indexes in
// the background and searches its backlog exactly. Each replica also writes its graph beside its
// own snapshots (a local file the image names, with its length and CRC32C), so a restart from its
// own snapshot loads the graph instead of rebuilding it.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { HnswIndex } from '../index/hnsw.js';
import { BackgroundIndexer, REPLICA_INDEX_PACING } from '../shard/indexer.js';
import { ShardState, type CollectionParams, type ShardLimits } from '../shard/state.js';
import { decodeShardSnapshot, decodeWriteBatch, shardSnapshotFrames } from '../storage/codec.js';
import type { Entry } from '../raft/types.js';
import type { Disk } from '../storage/disk.js';
import type { PointRecord, WriteBatch } from '../storage/types.js';
import { JadeError } from '../util/errors.js';
import { DIGESTS_KEPT, digestMarkerToken, digestState, type ShardDigest } from './shard-digest.js';

/** Longest run of graph insertions before a replica's indexer yields (see REPLICA_INDEX_PACING). */
export const REPLICA_INDEX_STEP_MS = REPLICA_INDEX_PACING.stepMs;

/** Bytes of one snapshot frame: the encoder yields to the event loop after each (~50 ms of work). */
const SNAPSHOT_FRAME_BYTES = 8 << 20;
/** Points gathered into the image between yields. */
const SNAPSHOT_POINTS_PER_STEP = 20_000;

/** The image: u32 length + the labels (u32 each), then u32 length + the encoded shard snapshot (its frames, in order). */
function frameImage(labelArray: Uint32Array, bodyFrames: readonly Uint8Array[]): Uint8Array {
  const labels = new Uint8Array(labelArray.buffer, labelArray.byteOffset, labelArray.byteLength);
  let bodyLength = 0;
  for (const f of bodyFrames) bodyLength += f.length;
  const out = new Uint8Array(8 + labels.length + bodyLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, labels.length, true);
  out.set(labels, 4);
  view.setUint32(4 + labels.length, bodyLength, true);
  let at = 8 + labels.length;
  for (const f of bodyFrames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/** Where a replica keeps the graph files of its own snapshots. */
export interface GraphStore {
  disk: Disk;
  /** An existing directory on the real file system (hnswlib writes and reads files by path). */
  dir: string;
  log?: (line: string) => void;
}

/** A graph file as the snapshot image names it. */
interface GraphFileRef {
  file: string;
  bytes: number;
  crc32c: number;
  /** Labels stored but not in the graph when it was written (base64 of little-endian u32). */
  unindexed: string;
}

/**
 * When the indexer empties its backlog and the graph saved with the last own snapshot lacked at
 * least this many of the points and this share of them, the replica asks for a snapshot (so a
 * restart after a bulk load does not index most of it again). The share bounds what these extra
 * snapshots write: at most one per quarter of the shard's points newly indexed.
 */
export const GRAPH_SNAPSHOT_MISSING_POINTS_MIN = 5_000;
export const GRAPH_SNAPSHOT_MISSING_SHARE_MIN = 0.25;

/** Graph files kept: the newest own snapshot's and the one before (its snapshot may still be the stored one). */
const GRAPH_FILES_KEPT = 2;
/** Chunk read while checksumming a graph file. */
const GRAPH_CHECKSUM_CHUNK_BYTES = 8 << 20;

async function checksumFile(disk: Disk, file: string, syncFirst: boolean): Promise<{ bytes: number; crc32c: number }> {
  const f = await disk.open(file, 'r');
  try {
    if (syncFirst) await f.sync();
    const buf = new Uint8Array(GRAPH_CHECKSUM_CHUNK_BYTES);
    let crc = 0;
    let at = 0;
    for (;;) {
      const n = await f.read(buf, at);
      if (n === 0) break;
      crc = crc32c(Buffer.from(buf.buffer, buf.byteOffset, n), crc);
      at += n;
    }
    return { bytes: at, crc32c: crc };
  } finally {
    await f.close();
  }
}

/** The state machine of a shard group (the cluster node's GroupStateMachine contract). */
export class ShardStateMachine {
  state: ShardState;
  readonly indexer = new BackgroundIndexer(() => this.state, REPLICA_INDEX_PACING);
  /** Asks the group for a snapshot (see GRAPH_SNAPSHOT_MISSING_POINTS_MIN); set by the host. */
  onGraphCaughtUp: (() => void) | null = null;
  /** Digests computed at marker entries (shard-digest.ts), by token, the newest DIGESTS_KEPT. */
  private readonly digests = new Map<string, ShardDigest>();

  /** The digest this replica computed when it applied the marker `token`, if it applied it (a snapshot may have skipped it). */
  digestAt(token: string): ShardDigest | undefined {
    return this.digests.get(token);
  }

  /** Points in the graph saved with (or loaded from) the last own snapshot. */
  private pointsInSavedGraph = 0;

  constructor(
    readonly params: CollectionParams,
    private readonly limits: ShardLimits,
    private readonly graphStore: GraphStore | null = null,
  ) {
    this.state = new ShardState(params, limits);
    this.indexer.onDrained = () => {
      const missing = this.state.count - this.pointsInSavedGraph;
      if (!this.graphStore || !this.onGraphCaughtUp) return;
      if (missing < GRAPH_SNAPSHOT_MISSING_POINTS_MIN || missing < GRAPH_SNAPSHOT_MISSING_SHARE_MIN * this.state.count) return;
      this.pointsInSavedGraph = this.state.count; // asked once; the snapshot records what it saved
      this.onGraphCaughtUp();
    };
  }

  /**
   * Applies one entry, or refuses all of it with a coded error (bytes that are no write batch, or a
   * batch ShardState.apply finds not applicable): deterministic, so every replica skips the same
   * entries and the proposer gets the error.
   */
  apply(entry: Entry): number {
    const token = digestMarkerToken(entry.data);
    if (token !== null) {
      this.digests.set(token, digestState(this.state, entry.index));
      for (const old of this.digests.keys()) if (this.digests.size > DIGESTS_KEPT) this.digests.delete(old);
      return entry.index;
    }
    let batch: WriteBatch;
    try {
      // apply copies every vector into the arena: views into the entry spare an allocation per vector.
      batch = decodeWriteBatch(entry.data, { vectorViews: true });
    } catch (e) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', `entry ${entry.index} is not a write batch (${(e as Error).message}); not applied, on any replica`);
    }
    this.state.apply(batch);
    this.indexer.noteWrite();
    this.indexer.kick();
    return entry.index;
  }

  /**
   * Captures the state as it is now (copies of the maps and a copy-on-write view of the vectors:
   * later upserts reuse arena slots), then builds and encodes the image in steps, yielding to the
   * event loop between them, so the group's Raft loop (heartbeats, replication) goes on while a
   * large shard is snapshotted.
   */
  snapshot(): Promise<Uint8Array> {
    const frozen = this.state.freeze();
    // Started in the same turn as the capture: the file then holds exactly the graph of this state.
    const graphJob = this.startGraphSave();
    const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
    return (async () => {
      const labels = new Uint32Array(frozen.points.size);
      const points = new Array<PointRecord>(frozen.points.size);
      const frames: Uint8Array[] = [];
      const config = { nextLabel: frozen.nextLabel };
      const data = { configJson: JSON.stringify(config), lastAppliedLsn: 0, points, payloadIndexes: frozen.payloadIndexes };
      try {
        let i = 0;
        for (const [label, p] of frozen.points) {
          labels[i] = label;
          points[i] = { id: p.id, payload: p.payload, vector: frozen.vectors.get(label)! };
          if (++i % SNAPSHOT_POINTS_PER_STEP === 0) await yieldToLoop();
        }
        for (const frame of shardSnapshotFrames(data, SNAPSHOT_FRAME_BYTES)) {
          frames.push(frame);
          await yieldToLoop();
        }
      } finally {
        // Released before waiting for the graph file: writes stop copying arena chunks for us.
        frozen.vectors.release();
      }
      const graph = graphJob ? await graphJob : null;
      // The first frame (the meta, with the config) again, now naming the graph file: it is
      // built alone (the generator is lazy) and reads only the points' count, not their vectors.
      if (graph) frames[0] = shardSnapshotFrames({ ...data, configJson: JSON.stringify({ ...config, graph }) }).next().value as Uint8Array;
      return frameImage(labels, frames);
    })();
  }

  /** Points in an image: it starts with the byte length of its labels, one u32 per point (frameImage). */
  snapshotPoints(image: Uint8Array): number | null {
    if (image.length < 8) return null;
    const labelBytes = new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(0, true);
    return labelBytes % 4 === 0 && labelBytes + 8 <= image.length ? labelBytes / 4 : null;
  }

  /** Restores a received image: the graph is rebuilt in the background. */
  restore(image: Uint8Array): void {
    this.restoreWithoutGraph(decodeImage(image));
  }

  private restoreWithoutGraph(decoded: DecodedImage | null): void {
    this.state = decoded ? ShardState.restore(this.params, this.limits, { ...decoded.data, unindexed: decoded.data.labels }, null) : new ShardState(this.params, this.limits);
    this.pointsInSavedGraph = 0;
    this.indexer.kick();
  }

  /**
   * Restores this replica's own stored snapshot: with the graph file it names, intact (length and
   * CRC32C), the graph is loaded and only the points not in it are indexed; otherwise as restore().
   */
  async restoreOwn(image: Uint8Array): Promise<void> {
    const decoded = decodeImage(image);
    const ref = decoded?.graph;
    const store = this.graphStore;
    if (!decoded || !ref || !store) return this.restoreWithoutGraph(decoded);
    const file = path.join(store.dir, path.basename(ref.file));
    try {
      const sum = await checksumFile(store.disk, file, false);
      if (sum.bytes !== ref.bytes || sum.crc32c !== ref.crc32c) throw new Error(`${sum.bytes} bytes with crc32c ${sum.crc32c}, the snapshot names ${ref.bytes} and ${ref.crc32c}`);
      const unindexedBytes = Buffer.from(ref.unindexed, 'base64');
      const unindexed = new Uint32Array(unindexedBytes.buffer.slice(unindexedBytes.byteOffset, unindexedBytes.byteOffset + unindexedBytes.length));
      // Read on a worker thread: a large graph takes seconds, and health checks are answered meanwhile.
      const graph = await HnswIndex.loadAsync(file, this.params.dimension, this.params.metric, this.params.hnsw, ShardState.graphLabels(decoded.data.labels, new Set(unindexed)));
      this.state = ShardState.restore(this.params, this.limits, { ...decoded.data, unindexed }, graph);
      this.pointsInSavedGraph = this.state.count - this.state.indexBacklog;
      this.indexer.kick();
    } catch (e) {
      store.log?.(`graph file ${ref.file} not used (${(e as Error).message}); rebuilding the graph in the background`);
      this.restoreWithoutGraph(decoded);
    }
  }

  /**
   * Starts writing the graph to a new file in the graph store (off the loop; see
   * ShardState.saveGraphAsync). Resolves with the file's reference once it is durable, or null
   * when there is nothing to save or the save failed (the snapshot then names no graph).
   */
  private startGraphSave(): Promise<GraphFileRef | null> | null {
    const store = this.graphStore;
    const state = this.state;
    if (!store || state.graphSaving || state.count === state.indexBacklog) return null;
    this.pointsInSavedGraph = state.count - state.indexBacklog;
    // Names sort by time: a zero-padded base-36 clock, then randomness (two replicas never share a directory, but restarts do).
    const name = `hnsw-${Date.now().toString(36).padStart(10, '0')}-${randomBytes(4).toString('hex')}.bin`;
    const tmp = path.join(store.dir, `${name}.tmp`);
    const saving = state.saveGraphAsync(tmp);
    return (async () => {
      try {
        try {
          await saving.done;
        } finally {
          this.indexer.kick();
        }
        const sum = await checksumFile(store.disk, tmp, true);
        await store.disk.rename(tmp, path.join(store.dir, name));
        await store.disk.syncDir(store.dir);
        const unindexed = Buffer.from(saving.unindexed.buffer, saving.unindexed.byteOffset, saving.unindexed.byteLength).toString('base64');
        await this.pruneGraphFiles(store, name);
        return { file: name, bytes: sum.bytes, crc32c: sum.crc32c, unindexed };
      } catch (e) {
        store.log?.(`graph save failed: ${(e as Error).message}`);
        this.pointsInSavedGraph = 0; // the snapshot names no graph: ask again when the indexer catches up
        await store.disk.unlink(tmp).catch(() => undefined);
        return null;
      }
    })();
  }

  /** Drops graph files older than the newest GRAPH_FILES_KEPT (and stale partial ones). */
  private async pruneGraphFiles(store: GraphStore, newest: string): Promise<void> {
    const names = (await store.disk.list(store.dir)).filter((n) => n.startsWith('hnsw-') && n <= `${newest}.tmp`);
    const complete = names.filter((n) => n.endsWith('.bin')).sort();
    const keep = new Set(complete.slice(-GRAPH_FILES_KEPT));
    for (const n of names) if (!keep.has(n)) await store.disk.unlink(path.join(store.dir, n)).catch(() => undefined);
  }
}

interface DecodedImage {
  data: { labels: Uint32Array; points: PointRecord[]; nextLabel: number; payloadIndexes: { field: string; schema: string; isTenant?: boolean }[] };
  graph: GraphFileRef | null;
}

/** Decodes an image (null for the empty one); vectors are views into a private copy of it. */
function decodeImage(image: Uint8Array): DecodedImage | null {
  // A received snapshot (or one read from disk) may be a Buffer view into a larger pool, and
  // Buffer#slice is a view, not a copy: the decoders below copy with slice(), so take a plain copy first.
  const data = Object.getPrototypeOf(image) === Uint8Array.prototype ? image : new Uint8Array(image);
  if (data.length === 0) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const labelsLength = view.getUint32(0, true);
  const labels = new Uint32Array(data.slice(4, 4 + labelsLength).buffer);
  const bodyLength = view.getUint32(4 + labelsLength, true);
  const snap = decodeShardSnapshot(data.subarray(8 + labelsLength, 8 + labelsLength + bodyLength), { vectorViews: true });
  const config = JSON.parse(snap.configJson) as { nextLabel: number; graph?: GraphFileRef };
  return { data: { labels, points: snap.points, nextLabel: config.nextLabel, payloadIndexes: snap.payloadIndexes }, graph: config.graph ?? null };
}
