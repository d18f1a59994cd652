// A replicated shard: the shard state machine applying committed write batches, with a snapshot
// image (points, labels, payload index definitions) for Raft snapshots. The HNSW graph is not in
// the image: a restored replica re-indexes in the background and searches its backlog exactly.
import { BackgroundIndexer, REPLICA_INDEX_PACING } from '../shard/indexer.js';
import { ShardState, type CollectionParams, type ShardLimits } from '../shard/state.js';
import { decodeShardSnapshot, decodeWriteBatch, shardSnapshotFrames } from '../storage/codec.js';
import type { Entry } from '../raft/types.js';
import type { PointRecord } from '../storage/types.js';

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

/** The state machine of a shard group (the cluster node's GroupStateMachine contract). */
export class ShardStateMachine {
  state: ShardState;
  readonly indexer = new BackgroundIndexer(() => this.state, REPLICA_INDEX_PACING);

  constructor(readonly params: CollectionParams, private readonly limits: ShardLimits) {
    this.state = new ShardState(params, limits);
  }

  apply(entry: Entry): number {
    // apply copies every vector into the arena: views into the entry spare an allocation per vector.
    this.state.apply(decodeWriteBatch(entry.data, { vectorViews: true }));
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
    const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
    return (async () => {
      try {
        const labels = new Uint32Array(frozen.points.size);
        const points = new Array<PointRecord>(frozen.points.size);
        let i = 0;
        for (const [label, p] of frozen.points) {
          labels[i] = label;
          points[i] = { id: p.id, payload: p.payload, vector: frozen.vectors.get(label)! };
          if (++i % SNAPSHOT_POINTS_PER_STEP === 0) await yieldToLoop();
        }
        const data = { configJson: JSON.stringify({ nextLabel: frozen.nextLabel }), lastAppliedLsn: 0, points, payloadIndexes: frozen.payloadIndexes };
        const frames: Uint8Array[] = [];
        for (const frame of shardSnapshotFrames(data, SNAPSHOT_FRAME_BYTES)) {
          frames.push(frame);
          await yieldToLoop();
        }
        return frameImage(labels, frames);
      } finally {
        frozen.vectors.release();
      }
    })();
  }

  restore(image: Uint8Array): void {
    // A received snapshot (or one read from disk) may be a Buffer view into a larger pool, and
    // Buffer#slice is a view, not a copy: the decoders below copy with slice(), so take a plain copy first.
    const data = Object.getPrototypeOf(image) === Uint8Array.prototype ? image : new Uint8Array(image);
    if (data.length === 0) {
      this.state = new ShardState(this.params, this.limits);
      return;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const labelsLength = view.getUint32(0, true);
    const labels = new Uint32Array(data.slice(4, 4 + labelsLength).buffer);
    const bodyLength = view.getUint32(4 + labelsLength, true);
    const snap = decodeShardSnapshot(data.subarray(8 + labelsLength, 8 + labelsLength + bodyLength), { vectorViews: true });
    const { nextLabel } = JSON.parse(snap.configJson) as { nextLabel: number };
    this.state = ShardState.restore(this.params, this.limits, { labels, points: snap.points, nextLabel, unindexed: labels, payloadIndexes: snap.payloadIndexes }, null);
    this.indexer.kick();
  }
}
