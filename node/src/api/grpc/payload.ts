// qdrant.Points payload and vector updates (SetPayload, OverwritePayload, DeletePayload, ClearPayload,
// UpdateVectors): one write op each, as the REST routes of routes/payload.ts make them. Points are
// named by ids or chosen by a filter evaluated where the write is applied.
import {
  type ClearPayloadPoints,
  type DeletePayloadPoints,
  type PointsSelector,
  type SetPayloadPoints,
  type UpdatePointVectors,
} from '@qdrant/js-client-grpc';
import { PAYLOAD_KEYS_MAX, parseFilter } from '../../query/vocabulary.js';
import type { PointSelector, WriteOp } from '../../storage/types.js';
import { JadeError } from '../../util/errors.js';
import { parseVectors } from '../rest/convert.js';
import type { GrpcCall, GrpcDeps } from './context.js';
import { writeOptionsOf } from './context.js';
import { filterIn, invalid, payloadIn, pointIdIn, pointVectorIn, unsupported } from './convert.js';
import { operationOut } from './points.js';

export function payloadHandlers(deps: GrpcDeps) {
  const { database, limits } = deps.app;
  const tooMany = (n: number, what: string) => new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${n} ${what} in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);

  function selectorOf(s: PointsSelector | undefined, where: string): PointSelector {
    const o = s?.pointsSelectorOneOf;
    if (!o || o.case === undefined) invalid(`${where}: name the points with ids or a filter`);
    if (o.case === 'filter') {
      const filter = filterIn(o.value) ?? {};
      parseFilter(filter); // a bad filter is refused before anything is logged
      return { filterJson: JSON.stringify(filter) };
    }
    if (o.value.ids.length > limits.batchPointsMax) throw tooMany(o.value.ids.length, 'ids');
    return { ids: o.value.ids.map((id, i) => pointIdIn(id, `${where}.ids[${i}]`)) };
  }

  const write = async (name: string, op: WriteOp, call: GrpcCall, timeout: bigint | undefined) => operationOut((await deps.writes.write(name, { ops: [op] }, writeOptionsOf(call, timeout))).operation_id);

  function setPayload(req: SetPayloadPoints, overwrite: boolean, call: GrpcCall) {
    if (req.shardKeySelector) unsupported('shard_key_selector', 'is not supported: sharding is automatic (by point id)');
    if (req.key !== undefined) unsupported('key', 'is not supported: set the payload at its top level');
    const payload = payloadIn(req.payload, 'payload') ?? {};
    return write(req.collectionName, { kind: 'set_payload', payload, overwrite, target: selectorOf(req.pointsSelector, 'points_selector') }, call, req.timeout);
  }

  return {
    SetPayload: (req: SetPayloadPoints, call: GrpcCall) => setPayload(req, false, call),
    OverwritePayload: (req: SetPayloadPoints, call: GrpcCall) => setPayload(req, true, call),

    async DeletePayload(req: DeletePayloadPoints, call: GrpcCall) {
      if (req.shardKeySelector) unsupported('shard_key_selector', 'is not supported: sharding is automatic (by point id)');
      if (req.keys.length === 0 || req.keys.length > PAYLOAD_KEYS_MAX) invalid(`keys must list 1..${PAYLOAD_KEYS_MAX} payload keys`);
      return write(req.collectionName, { kind: 'delete_payload', keys: req.keys, target: selectorOf(req.pointsSelector, 'points_selector') }, call, req.timeout);
    },

    async ClearPayload(req: ClearPayloadPoints, call: GrpcCall) {
      if (req.shardKeySelector) unsupported('shard_key_selector', 'is not supported: sharding is automatic (by point id)');
      return write(req.collectionName, { kind: 'set_payload', payload: {}, overwrite: true, target: selectorOf(req.points, 'points') }, call, req.timeout);
    },

    async UpdateVectors(req: UpdatePointVectors, call: GrpcCall) {
      if (req.shardKeySelector) unsupported('shard_key_selector', 'is not supported: sharding is automatic (by point id)');
      if (req.updateFilter) unsupported('update_filter', 'is not supported: vector updates are unconditional');
      const params = database.collection(req.collectionName).params;
      if (req.points.length > limits.batchPointsMax) throw tooMany(req.points.length, 'points');
      const vectors = parseVectors(req.points.map((p, i) => pointVectorIn(p.vectors, params, `points[${i}].vectors`)), (i) => `points[${i}].vectors`);
      const points = req.points.map((p, i) => ({ id: pointIdIn(p.id, `points[${i}].id`), vector: vectors[i] }));
      return write(req.collectionName, { kind: 'update_vectors', points }, call, req.timeout);
    },
  };
}
