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
/** true / false, or the names of the vectors to return. */
const withVector = { anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' } }] } as const;
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
    status: { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' }, reason: { type: 'string', description: 'why a 409 refused the request (e.g. MOVE_IN_PROGRESS), where there is a reason' } } },
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
    // An array for the unnamed vector, {name: array} for a named one.
    vector: { type: ['array', 'object', 'null'], items: { type: 'number' }, additionalProperties: { type: 'array', items: { type: 'number' } } },
  },
} as const;

export const createCollectionBody = {
  type: 'object',
  required: ['vectors'],
  properties: {
    vectors: {
      description: '{"size", "distance"} for an unnamed vector, or {"<name>": {"size", "distance"}} for one named vector',
      type: 'object',
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

/** A point's vector in a write: dense, or {name: dense} naming the collection's vector. */
const pointVector = { description: "a dense vector, or {\"<name>\": vector} naming the collection's vector ('' is the unnamed one)", anyOf: [...vector.anyOf, { type: 'object' }] } as const;

export const upsertBody = {
  type: 'object',
  properties: {
    points: {
      type: 'array',
      items: { type: 'object', required: ['id', 'vector'], properties: { id: pointId, vector: pointVector, payload } },
    },
    batch: {
      type: 'object',
      required: ['ids', 'vectors'],
      properties: {
        ids: { type: 'array', items: pointId },
        vectors: { description: 'a list of vectors, or {"<name>": list of vectors}', anyOf: [{ type: 'array', items: vector }, { type: 'object' }] },
        payloads: { type: ['array', 'null'], items: payload },
      },
    },
  },
} as const;

const pointsOrFilter = { points: { type: 'array', items: pointId }, filter } as const;

export const setPayloadBody = {
  type: 'object',
  required: ['payload'],
  properties: { payload: { type: 'object', additionalProperties: true }, ...pointsOrFilter, key: { type: ['string', 'null'] } },
} as const;

export const deletePayloadBody = {
  type: 'object',
  required: ['keys'],
  properties: { keys: { type: 'array', items: { type: 'string' } }, ...pointsOrFilter },
} as const;

export const pointsSelectorBody = { type: 'object', properties: pointsOrFilter } as const;

export const updateVectorsBody = {
  type: 'object',
  required: ['points'],
  properties: {
    points: { type: 'array', items: { type: 'object', required: ['id', 'vector'], properties: { id: pointId, vector: pointVector } } },
  },
} as const;

export const retrieveBody = {
  type: 'object',
  required: ['ids'],
  properties: { ids: { type: 'array', items: pointId }, with_payload: withPayload, with_vector: withVector },
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
    with_vector: withVector,
  },
} as const;

/** What the older search API and the query API share besides how the query vector is given. */
const searchOptions = {
  limit: { type: 'integer', minimum: 0 },
  offset: { type: 'integer', minimum: 0 },
  filter,
  params: searchParams,
  with_payload: withPayload,
  with_vector: withVector,
  score_threshold: { type: ['number', 'null'] },
} as const;

export const searchRequest = {
  type: 'object',
  required: ['vector'],
  properties: { vector: { description: 'a dense vector, or {"name", "vector"} naming the collection\'s vector', anyOf: [...vector.anyOf, { type: 'object' }] }, ...searchOptions },
} as const;

export const queryRequest = {
  type: 'object',
  properties: {
    query: { description: 'a vector, {nearest: vector} (with "mmr": {diversity, candidates_limit} for Maximal Marginal Relevance), or a point id whose vector is used', anyOf: [vector, { type: 'object' }, pointId] },
    using: { type: ['string', 'null'], description: "the collection's vector name ('' or absent: the unnamed vector)" },
    ...searchOptions,
  },
} as const;

export const payloadIndexBody = {
  type: 'object',
  required: ['field_name'],
  properties: {
    field_name: { type: 'string', minLength: 1 },
    field_schema: {
      anyOf: [
        { type: 'string', description: 'keyword, integer, float or bool' },
        // Other Qdrant params are refused by the route with a 400 naming them, not by this schema.
        { type: 'object', properties: { type: { type: 'string' }, is_tenant: { type: 'boolean', description: 'keyword and integer: one HNSW graph per large value (plan hnsw_partition)' } } },
      ],
    },
  },
} as const;

/** Error answers every collection route may give. */
export const errorResponses = { 400: errorResponse, 404: errorResponse, 409: errorResponse, 413: errorResponse, 429: errorResponse, 503: errorResponse, 504: errorResponse };

/** Beside a search's result when allow_partial=true and some shard did not answer. */
export const partialFields = { partial: { type: 'boolean' }, missing_shards: { type: 'array', items: { type: 'integer' } } };

export const updateCollectionBody = {
  type: ['object', 'null'],
  properties: {
    hnsw_config: {
      type: ['object', 'null'],
      properties: { ef: { type: ['integer', 'null'], minimum: 1, description: 'JadeVectorDB: default search ef' }, m: { type: ['integer', 'null'] }, ef_construct: { type: ['integer', 'null'] } },
    },
  },
} as const;

export const updateAliasesBody = {
  type: 'object',
  required: ['actions'],
  properties: {
    actions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          create_alias: { type: 'object', required: ['collection_name', 'alias_name'], properties: { collection_name: { type: 'string' }, alias_name: { type: 'string' } } },
          delete_alias: { type: 'object', required: ['alias_name'], properties: { alias_name: { type: 'string' } } },
          rename_alias: { type: 'object', required: ['old_alias_name', 'new_alias_name'], properties: { old_alias_name: { type: 'string' }, new_alias_name: { type: 'string' } } },
        },
      },
    },
  },
} as const;

export const aliasesResponse = envelope({
  type: 'object',
  properties: { aliases: { type: 'array', items: { type: 'object', properties: { alias_name: { type: 'string' }, collection_name: { type: 'string' } } } } },
});
