// qdrant.Collections: list, get, create, delete, exists and aliases, as the REST routes do them.
// A create's settings go through the REST parser of the same body (parseVectorsConfig), so both
// APIs accept and refuse the same things.
import { create } from '@bufbuild/protobuf';
import {
  CollectionExistsResponseSchema,
  CollectionOperationResponseSchema,
  CollectionStatus,
  Datatype,
  Distance,
  GetCollectionInfoResponseSchema,
  ListAliasesResponseSchema,
  ListCollectionsResponseSchema,
  PayloadSchemaType,
  ShardingMethod,
  type ChangeAliases,
  type CollectionExistsRequest,
  type CreateCollection,
  type DeleteCollection,
  type GetCollectionInfoRequest,
  type ListAliasesRequest,
  type ListCollectionAliasesRequest,
  type ListCollectionsRequest,
  type VectorParams,
} from '@qdrant/js-client-grpc';
import type { AliasAction, CollectionInfo } from '../../query/types.js';
import { ALIAS_ACTIONS_MAX, type CollectionParams } from '../../query/vocabulary.js';
import { visible } from '../../security/access.js';
import { JadeError } from '../../util/errors.js';
import { parseVectorsConfig, QDRANT_DISTANCE } from '../rest/convert.js';
import type { GrpcCall, GrpcDeps } from './context.js';
import { readOptionsOf } from './context.js';
import { invalid, safeNumber, snakeCase, unsupported } from './convert.js';

const DISTANCE_OUT: Record<string, Distance> = { Cosine: Distance.Cosine, Euclid: Distance.Euclid, Dot: Distance.Dot };
const PAYLOAD_TYPE_OUT: Record<string, PayloadSchemaType> = { keyword: PayloadSchemaType.Keyword, integer: PayloadSchemaType.Integer, float: PayloadSchemaType.Float, bool: PayloadSchemaType.Bool };

/** One VectorParams as the REST body's {size, distance} (its refusals are the REST parser's). */
function vectorParamsJson(v: VectorParams, where: string): Record<string, unknown> {
  if (v.hnswConfig) unsupported(`${where}.hnsw_config`, 'per vector is not supported: set the collection\'s hnsw_config');
  if (v.quantizationConfig) unsupported(`${where}.quantization_config`, 'is not supported: vectors are not quantized');
  if (v.multivectorConfig) unsupported(`${where}.multivector_config`, 'is not supported: multi-vectors are not');
  if (v.onDisk === true) unsupported(`${where}.on_disk`, 'is not supported: vectors are kept in memory');
  if (v.datatype !== undefined && v.datatype !== Datatype.Default && v.datatype !== Datatype.Float32) unsupported(`${where}.datatype ${Datatype[v.datatype]}`, 'is not supported: only float32 vectors are stored');
  return { size: safeNumber(v.size, `${where}.size`), distance: Distance[v.distance] ?? String(v.distance) };
}

function vectorsParamsOf(req: CreateCollection): Pick<CollectionParams, 'dimension' | 'metric' | 'vectorName'> {
  const config = req.vectorsConfig?.config;
  if (!config || config.case === undefined) invalid('vectors_config is required');
  if (config.case === 'params') return parseVectorsConfig(vectorParamsJson(config.value, 'vectors_config.params'));
  const named: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(config.value.map)) named[name] = vectorParamsJson(v, `vectors_config.params_map[${JSON.stringify(name)}]`);
  return parseVectorsConfig(named);
}

function infoOut(info: CollectionInfo, deps: GrpcDeps) {
  const p = info.params;
  const vector = { size: BigInt(p.dimension), distance: DISTANCE_OUT[QDRANT_DISTANCE[p.metric]] };
  const payloadSchema: Record<string, { dataType: PayloadSchemaType; points: bigint }> = {};
  for (const i of info.payloadIndexes) payloadSchema[i.field] = { dataType: PAYLOAD_TYPE_OUT[i.schema] ?? PayloadSchemaType.UnknownType, points: BigInt(i.points) };
  return {
    status: info.indexBacklog > 0 ? CollectionStatus.Yellow : CollectionStatus.Green,
    optimizerStatus: { ok: true, error: '' },
    // One segment per shard: each shard is one store with one HNSW graph.
    segmentsCount: BigInt(info.shardNumber),
    pointsCount: BigInt(info.points),
    indexedVectorsCount: BigInt(info.points - info.indexBacklog),
    config: {
      params: {
        shardNumber: info.shardNumber,
        replicationFactor: info.replicationFactor,
        writeConsistencyFactor: 1,
        onDiskPayload: false,
        vectorsConfig: { config: p.vectorName === undefined ? { case: 'params' as const, value: vector } : { case: 'paramsMap' as const, value: { map: { [p.vectorName]: vector } } } },
      },
      hnswConfig: { m: BigInt(p.hnsw.m), efConstruct: BigInt(p.hnsw.efConstruction), fullScanThreshold: BigInt(info.fullScanThresholdKb), onDisk: false },
      optimizerConfig: { deletedThreshold: 1, vacuumMinVectorNumber: 0n, defaultSegmentNumber: 1n, flushIntervalSec: 0n },
      walConfig: { walCapacityMb: BigInt(Math.max(1, Math.round(deps.app.walSegmentSizeBytes / (1024 * 1024)))), walSegmentsAhead: 0n },
    },
    payloadSchema,
  };
}

export function collectionHandlers(deps: GrpcDeps) {
  const { database, hnswDefaults } = deps.app;
  return {
    async List(_req: ListCollectionsRequest, call: GrpcCall) {
      return create(ListCollectionsResponseSchema, { collections: visible(call.principal, database.names()).map((name) => ({ name })) });
    },

    async Get(req: GetCollectionInfoRequest, call: GrpcCall) {
      const info = await database.collection(req.collectionName).info(readOptionsOf(call, undefined, undefined));
      return create(GetCollectionInfoResponseSchema, { result: infoOut(info, deps) });
    },

    async CollectionExists(req: CollectionExistsRequest) {
      return create(CollectionExistsResponseSchema, { result: { exists: database.has(database.resolve(req.collectionName)) } });
    },

    async Create(req: CreateCollection) {
      for (const field of ['walConfig', 'optimizersConfig', 'quantizationConfig', 'sparseVectorsConfig', 'strictModeConfig'] as const) {
        if (req[field]) unsupported(snakeCase(field));
      }
      if (Object.keys(req.metadata).length > 0) unsupported('metadata');
      if (req.onDiskPayload === true) unsupported('on_disk_payload', 'is not supported: payloads are kept in memory');
      if (req.shardingMethod === ShardingMethod.Custom) unsupported('sharding_method Custom', '(shard keys) is not supported');
      if (req.writeConsistencyFactor !== undefined && req.writeConsistencyFactor !== 1) unsupported('write_consistency_factor', 'must be 1: writes are acknowledged by a Raft quorum');
      const h = req.hnswConfig;
      for (const field of ['fullScanThreshold', 'maxIndexingThreads', 'onDisk', 'payloadM', 'inlineStorage'] as const) {
        if (h?.[field] !== undefined) unsupported(`hnsw_config.${snakeCase(field)}`);
      }
      await database.create(
        req.collectionName,
        {
          ...vectorsParamsOf(req),
          hnsw: {
            m: h?.m === undefined ? hnswDefaults.m : safeNumber(h.m, 'hnsw_config.m'),
            efConstruction: h?.efConstruct === undefined ? hnswDefaults.efConstruction : safeNumber(h.efConstruct, 'hnsw_config.ef_construct'),
            efSearch: hnswDefaults.efSearch,
          },
        },
        { shardNumber: req.shardNumber, replicationFactor: req.replicationFactor },
      );
      return create(CollectionOperationResponseSchema, { result: true });
    },

    // As Qdrant (and REST): deleting a collection that does not exist answers false.
    async Delete(req: DeleteCollection) {
      return create(CollectionOperationResponseSchema, { result: await database.delete(req.collectionName) });
    },

    async UpdateAliases(req: ChangeAliases) {
      if (req.actions.length > ALIAS_ACTIONS_MAX) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${req.actions.length} alias actions in one request; the limit is ${ALIAS_ACTIONS_MAX}`);
      const actions = req.actions.map((a, i): AliasAction => {
        const o = a.action;
        switch (o.case) {
          case 'createAlias':
            return { kind: 'create', alias: o.value.aliasName, collection: o.value.collectionName };
          case 'deleteAlias':
            return { kind: 'delete', alias: o.value.aliasName };
          case 'renameAlias':
            return { kind: 'rename', from: o.value.oldAliasName, to: o.value.newAliasName };
          default:
            return invalid(`actions[${i}] must hold one of create_alias, delete_alias, rename_alias`);
        }
      });
      await database.updateAliases(actions);
      return create(CollectionOperationResponseSchema, { result: true });
    },

    async ListCollectionAliases(req: ListCollectionAliasesRequest) {
      const name = database.collection(req.collectionName).name; // NOT_FOUND for a collection that does not exist
      return create(ListAliasesResponseSchema, { aliases: database.aliases().filter((a) => a.collection === name).map((a) => ({ aliasName: a.alias, collectionName: a.collection })) });
    },

    async ListAliases(_req: ListAliasesRequest, call: GrpcCall) {
      const all = database.aliases();
      const shown = new Set(visible(call.principal, all.map((a) => a.collection)));
      return create(ListAliasesResponseSchema, { aliases: all.filter((a) => shown.has(a.collection)).map((a) => ({ aliasName: a.alias, collectionName: a.collection })) });
    },
  };
}
