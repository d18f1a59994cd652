// A replicated shard: the shard state machine applying committed write batches, with a snapshot
// image (points, labels, payload index definitions) for Raft snapshots. The HNSW graph is not in
// the image: a restored replica re-indexes in the background and searches its backlog exactly.
import { BackgroundIndexer, REPLICA_INDEX_PACING } from '../shard/indexer.js';
import { ShardState, type CollectionParams, type ShardLimits } from '../shard/state.js';
import { decodeShardSnapshot, decodeWriteBatch, encodeShardSnapshot } from '../storage/codec.js';
import type { Entry } from '../raft/types.js';

/** Longest run of graph insertions before a replica's indexer yields (see REPLICA_INDEX_PACING). */
export const REPLICA_INDEX_STEP_MS = REPLICA_INDEX_PACING.stepMs;

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

  snapshot(): Uint8Array {
    const exported = this.state.exportPoints();
    const body = encodeShardSnapshot({
      configJson: JSON.stringify({ nextLabel: exported.nextLabel }),
      lastAppliedLsn: 0,
      points: exported.points,
      payloadIndexes: this.state.payloadIndexList().map(({ field, schema }) => ({ field, schema })),
    });
    const labels = new Uint8Array(exported.labels.buffer);
    const out = new Uint8Array(8 + labels.length + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, labels.length, true);
    out.set(labels, 4);
    view.setUint32(4 + labels.length, body.length, true);
    out.set(body, 8 + labels.length);
    return out;
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
