// JSON schemas of the REST routes: the contract, the validator and the source of /openapi.json.
export const pointId = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }] } as const;
/** Ids in responses: a type union, not anyOf, because the serializer runs a validator per value to pick an anyOf branch. */
export const pointIdOut = { type: ['integer', 'string'] } as const;
const vector = {
  description: 'dense vector: JSON array of numbers, or base64 of little-endian float32',
  anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }],
} as const;
const payload = { type: ['object', 'null'], additionalProperties: true } as const;
const filter = { type: ['object', 'null'], additionalProperties: true, description: 'Qdrant filter: must / should / must_not / min_should of conditions' } as const;
const withPayload = { anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' } }, { type: 'object' }] } as const;
const searchParams = {
  type: ['object', 'null'],
  properties: { hnsw_ef: { type: ['integer', 'null'], minimum: 1 }, exact: { type: ['boolean', 'null'] } },
} as const;

export const collectionNameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

/** The {result, status, time} envelope; `extra` names fields beside result (the serializer drops unlisted ones). */
export const envelope = (result: object = {}, extra: Record<string, object> = {}) => ({
  type: 'object',
  properties: { result, status: { type: 'string' }, time: { type: 'number' }, ...extra },
});

export const errorResponse = {
  type: 'object',
  properties: {
    status: { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' } } },
    time: { type: 'number' },
  },
} as const;

export const scoredPoint = {
  type: 'object',
  properties: {
    id: pointIdOut,
    version: { type: 'integer' },
    score: { type: 'number' },
    payload: { type: ['object', 'null'], additionalProperties: true },
    vector: { type: ['array', 'null'], items: { type: 'number' } },
  },
} as const;

export const createCollectionBody = {
  type: 'object',
  required: ['vectors'],
  properties: {
    vectors: {
      type: 'object',
      required: ['size', 'distance'],
      properties: { size: { type: 'integer', minimum: 1 }, distance: { type: 'string' } },
    },
    replication_factor: { type: ['integer', 'null'], minimum: 1, description: 'cluster mode: replicas of each shard (default min(3, nodes))' },
    shard_number: { type: ['integer', 'null'], minimum: 1, maximum: 1024, description: 'cluster mode: shards over point-hash ranges (default JADE_DEFAULT_SHARDS); standalone: 1' },
    write_consistency: { type: ['string', 'null'], enum: ['majority', 'all', 'one', null], description: 'JadeVectorDB, cluster mode: default write consistency of the collection (JADE_WRITE_CONSISTENCY)' },
    hnsw_config: {
      type: ['object', 'null'],
      properties: { m: { type: 'integer' }, ef_construct: { type: 'integer' }, ef: { type: 'integer', description: 'JadeVectorDB: default search ef' } },
    },
  },
} as const;

export const upsertBody = {
  type: 'object',
  properties: {
    points: {
      type: 'array',
      items: { type: 'object', required: ['id', 'vector'], properties: { id: pointId, vector, payload } },
    },
    batch: {
      type: 'object',
      required: ['ids', 'vectors'],
      properties: { ids: { type: 'array', items: pointId }, vectors: { type: 'array', items: vector }, payloads: { type: ['array', 'null'], items: payload } },
    },
  },
} as const;

export const retrieveBody = {
  type: 'object',
  required: ['ids'],
  properties: { ids: { type: 'array', items: pointId }, with_payload: withPayload, with_vector: { type: 'boolean' } },
} as const;

export const deleteBody = {
  type: 'object',
  properties: { points: { type: 'array', items: pointId }, filter },
} as const;

export const countBody = { type: ['object', 'null'], properties: { filter, exact: { type: 'boolean' } } } as const;

export const scrollBody = {
  type: ['object', 'null'],
  properties: {
    filter,
    limit: { type: 'integer', minimum: 0 },
    offset: { anyOf: [pointId, { type: 'null' }] },
    with_payload: withPayload,
    with_vector: { type: 'boolean' },
  },
} as const;

/** What the older search API and the query API share besides how the query vector is given. */
const searchOptions = {
  limit: { type: 'integer', minimum: 0 },
  offset: { type: 'integer', minimum: 0 },
  filter,
  params: searchParams,
  with_payload: withPayload,
  with_vector: { type: 'boolean' },
  score_threshold: { type: ['number', 'null'] },
} as const;

export const searchRequest = {
  type: 'object',
  required: ['vector'],
  properties: { vector, ...searchOptions },
} as const;

export const queryRequest = {
  type: 'object',
  properties: {
    query: { description: 'a vector, {nearest: vector}, or a point id whose vector is used', anyOf: [vector, { type: 'object' }, pointId] },
    ...searchOptions,
  },
} as const;

export const payloadIndexBody = {
  type: 'object',
  required: ['field_name'],
  properties: { field_name: { type: 'string', minLength: 1 }, field_schema: { anyOf: [{ type: 'string' }, { type: 'object' }] } },
} as const;

/** Error answers every collection route may give. */
export const errorResponses = { 400: errorResponse, 404: errorResponse, 409: errorResponse, 413: errorResponse, 429: errorResponse, 503: errorResponse, 504: errorResponse };

/** Beside an eventual read's result (cluster mode): the replica that served each shard and how far it was behind. */
export const readReplicasField = {
  read_replicas: { type: 'array', items: { type: 'object', properties: { shard: { type: 'integer' }, peer_id: { type: 'string' }, behind_entries: { type: 'integer' } } } },
};

/** Beside a search's result when allow_partial=true and some shard did not answer. */
export const partialFields = { partial: { type: 'boolean' }, missing_shards: { type: 'array', items: { type: 'integer' } }, ...readReplicasField };
