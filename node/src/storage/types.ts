// Records that the shard writes to its WAL (and that later travel inside Raft log entries).
// Storage only encodes and decodes them; their meaning belongs to the shard layer.

/** External point id: an unsigned integer (≤ 2^53-1) or a UUID string (lower-case, hyphenated). */
export type PointId = number | string;

export interface PointRecord {
  id: PointId;
  vector: Float32Array;
  /** JSON payload, already validated; stored as UTF-8 JSON text. */
  payload: Record<string, unknown> | null;
}

export type WriteOp =
  | { kind: 'upsert'; points: PointRecord[] }
  | { kind: 'delete'; ids: PointId[] }
  /** Deletes the points matching a filter (JSON, validated by the shard) when applied: atomic, and the same on every replica. */
  | { kind: 'delete_by_filter'; filterJson: string }
  | { kind: 'create_payload_index'; field: string; schema: 'keyword' | 'integer' | 'float' | 'bool' };

/** One atomic unit applied to a shard: all ops or none. */
export interface WriteBatch {
  ops: WriteOp[];
}
