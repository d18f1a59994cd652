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

/**
 * Which points an update addresses: these ids (a write goes to the shard owning each), or every
 * point matching a filter (JSON, validated by the shard), evaluated where the op is applied.
 */
export type PointSelector = { ids: PointId[] } | { filterJson: string };

export type WriteOp =
  | { kind: 'upsert'; points: PointRecord[] }
  | { kind: 'delete'; ids: PointId[] }
  /** Deletes the points matching a filter (JSON, validated by the shard) when applied: atomic, and the same on every replica. */
  | { kind: 'delete_by_filter'; filterJson: string }
  | { kind: 'create_payload_index'; field: string; schema: 'keyword' | 'integer' | 'float' | 'bool'; isTenant?: boolean }
  /** Qdrant's set_payload (keys merged into each payload) or, with overwrite, overwrite_payload / clear_payload ({}). */
  | { kind: 'set_payload'; payload: Record<string, unknown>; overwrite: boolean; target: PointSelector }
  /** Qdrant's delete_payload: removes keys (dotted paths into nested objects). */
  | { kind: 'delete_payload'; keys: string[]; target: PointSelector }
  /** Qdrant's update_vectors: new vectors for existing points, payloads kept. */
  | { kind: 'update_vectors'; points: { id: PointId; vector: Float32Array }[] };

/** One atomic unit applied to a shard: all ops or none. */
export interface WriteBatch {
  ops: WriteOp[];
}
