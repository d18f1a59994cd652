// Cluster routes in Qdrant's dialect where it has one: GET /cluster (peers and Raft status),
// GET /collections/{name}/cluster (shards, replicas, their states and leaders) and
// DELETE /cluster/peer/{id} (remove a node; refused while it holds replicas unless forced), and
// POST /cluster/bootstrap (found a new cluster with a node started with --join: the Kubernetes
// operator picks the one pod that does it).
// Replica moves: POST /collections/{name}/cluster with Qdrant's move_shard, replicate_shard,
// drop_replica or abort_transfer (the meta leader drives each move through its stages; GET
// /collections/{name}/cluster lists the moves in flight as Qdrant's shard_transfers), and drains:
// POST /cluster/peer/{id}/drain moves every replica off a node, GET reports how far it got.
// A standalone node answers GET /cluster with status "disabled", as Qdrant does.
import type { FastifyInstance } from 'fastify';
import type { Database, DrainInfo, MoveInfo, MoveProgressInfo, MoveRequest, RebalanceInfo } from '../../../query/types.js';
import { JadeError } from '../../../util/errors.js';
import { deadlineOf, ok, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

function clusterModeOnly(what: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', `${what} needs cluster mode: this node runs standalone (start nodes with --bootstrap / --join)`);
}

/** Shards of a collection (meta.ts SHARDS_PER_COLLECTION_MAX; the node layer checks it again). */
const SHARD_ID_MAX = 1023;
const peerId = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' } as const;
const shardId = { type: 'integer', minimum: 0, maximum: SHARD_ID_MAX } as const;
/** Qdrant's transfer methods: accepted and ignored (a target always fills from the group leader's Raft snapshot and log). */
const transferMethod = { type: ['string', 'null'], enum: ['stream_records', 'snapshot', 'wal_delta', 'resharding_stream_records', null] } as const;
const transfer = (extra: Record<string, object> = {}) => ({
  type: 'object',
  additionalProperties: false,
  required: ['shard_id', 'from_peer_id', 'to_peer_id'],
  properties: { shard_id: shardId, from_peer_id: peerId, to_peer_id: peerId, ...extra },
});

/** Qdrant's ClusterOperations, the four that move replicas: exactly one per request. */
export const clusterOperationBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  description: 'exactly one of move_shard, replicate_shard, drop_replica, abort_transfer (peer ids are node ids)',
  properties: {
    move_shard: transfer({ method: transferMethod }),
    replicate_shard: transfer({ method: transferMethod }),
    drop_replica: { type: 'object', additionalProperties: false, required: ['shard_id', 'peer_id'], properties: { shard_id: shardId, peer_id: peerId } },
    abort_transfer: transfer(),
  },
} as const;

interface ClusterOperation {
  move_shard?: { shard_id: number; from_peer_id: string; to_peer_id: string };
  replicate_shard?: { shard_id: number; from_peer_id: string; to_peer_id: string };
  drop_replica?: { shard_id: number; peer_id: string };
  abort_transfer?: { shard_id: number; from_peer_id: string; to_peer_id: string };
}

function moveRequestOfBody(collection: string, body: ClusterOperation): MoveRequest {
  const ops = Object.keys(body ?? {});
  if (ops.length !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', 'exactly one of move_shard, replicate_shard, drop_replica, abort_transfer per request');
  if (body.move_shard) return { kind: 'move', collection, shard: body.move_shard.shard_id, from: body.move_shard.from_peer_id, to: body.move_shard.to_peer_id };
  if (body.replicate_shard) return { kind: 'replicate', collection, shard: body.replicate_shard.shard_id, from: body.replicate_shard.from_peer_id, to: body.replicate_shard.to_peer_id };
  if (body.drop_replica) return { kind: 'drop', collection, shard: body.drop_replica.shard_id, from: body.drop_replica.peer_id, to: null };
  if (body.abort_transfer) return { kind: 'abort', collection, shard: body.abort_transfer.shard_id, from: body.abort_transfer.from_peer_id, to: body.abort_transfer.to_peer_id };
  throw new JadeError('JADE_ERR_BAD_REQUEST', `unsupported cluster operation ${ops[0]}`);
}

/** How long a read of move progress may wait for the meta leader: progress is garnish, the rest of the answer must not wait on it. */
const PROGRESS_WAIT_MS = 1_000;

type ProgressById = Record<string, MoveProgressInfo>;

/** The meta leader's move progress, or none (every move's progress then shows null: unknown) when it does not answer in time. */
async function progressOfMoves(database: Database, moves: readonly MoveInfo[], deadlineMs: number): Promise<ProgressById> {
  if (!database.moveProgress || moves.length === 0) return {};
  try {
    return await database.moveProgress(Math.min(deadlineMs, Date.now() + PROGRESS_WAIT_MS));
  } catch {
    return {};
  }
}

const round = (x: number | null, digits: number) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

export function progressOut(p: MoveProgressInfo | undefined) {
  if (!p) return null;
  return {
    phase: p.phase,
    snapshot_index: p.snapshotIndex,
    snapshot_bytes_sent: p.snapshotBytesSent,
    snapshot_bytes_total: p.snapshotBytesTotal,
    snapshot_points: p.snapshotPoints,
    bytes_per_second: round(p.bytesPerSecond, 0),
    lag_entries: p.lagEntries,
    catch_up_entries_per_second: round(p.catchUpEntriesPerSecond, 1),
    eta_seconds: round(p.etaSeconds, 1),
    observed_at: new Date(p.observedAtMs).toISOString(),
  };
}

const nullable = (type: string, description: string) => ({ type: [type, 'null'], description });

/** A move's progress in GET /collections/{name}/cluster and the drain and rebalance reports. */
export const progressSchema = {
  type: ['object', 'null'],
  description: 'how far the target has filled, as the meta leader last observed it (every few hundred ms); null when it has not observed the move (another meta leader, or none reachable); a field is null when not known',
  properties: {
    phase: { type: ['string', 'null'], enum: ['snapshot', 'log', null], description: 'snapshot: the group leader streams its snapshot to the target; log: the target catches up from the log' },
    snapshot_index: nullable('integer', 'Raft index of the snapshot sent to the target'),
    snapshot_bytes_sent: nullable('integer', 'bytes of it written to the target so far (equal to snapshot_bytes_total once the target acknowledged all)'),
    snapshot_bytes_total: nullable('integer', 'size of the snapshot'),
    snapshot_points: nullable('integer', 'points in the snapshot'),
    bytes_per_second: nullable('number', 'snapshot phase: send rate over the last 5 s'),
    lag_entries: nullable('integer', 'the group leader\'s last log index minus the target\'s match index'),
    catch_up_entries_per_second: nullable('number', 'log phase: how fast the lag shrinks over the last 5 s (negative: it grows)'),
    eta_seconds: nullable('number', 'snapshot phase: until the snapshot is sent; log phase: until the lag is small enough to promote the target; null when not moving forward'),
    observed_at: { type: 'string', description: 'when the meta leader observed these numbers' },
  },
} as const;

function moveOut(m: MoveInfo, progress: ProgressById = {}) {
  return {
    id: m.id,
    collection: m.collection,
    shard_id: m.shard,
    group_id: m.groupId,
    from: m.from,
    to: m.to,
    stage: m.stage,
    finished: m.finished,
    drain: m.drain,
    reason: m.reason,
    verified: m.verified,
    started_at: new Date(m.startedAtMs).toISOString(),
    updated_at: new Date(m.updatedAtMs).toISOString(),
    progress: progressOut(progress[m.id]),
  };
}

function drainOut(d: DrainInfo, progress: ProgressById = {}) {
  return { node: d.node, state: d.state, replicas_left: d.replicasLeft, moves_started: d.movesStarted, moves: d.moves.map((m) => moveOut(m, progress)) };
}

const moveSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    collection: { type: 'string' },
    shard_id: { type: ['integer', 'null'] },
    group_id: { type: 'string' },
    from: { type: ['string', 'null'] },
    to: { type: ['string', 'null'] },
    stage: { type: 'string' },
    finished: { type: 'boolean' },
    drain: { type: ['string', 'null'] },
    reason: { type: ['string', 'null'] },
    verified: { type: ['object', 'null'], properties: { index: { type: 'integer' }, count: { type: 'integer' }, digest: { type: 'string' } } },
    started_at: { type: 'string' },
    updated_at: { type: 'string' },
    progress: progressSchema,
  },
} as const;

const drainSchema = {
  type: 'object',
  properties: {
    node: { type: 'string' },
    state: { type: ['string', 'null'], description: 'draining, drained, or null when no drain was asked for the node\'s current incarnation' },
    replicas_left: { type: 'integer' },
    moves_started: { type: 'integer' },
    moves: { type: 'array', items: moveSchema },
  },
} as const;

function rebalanceOut(r: RebalanceInfo, progress: ProgressById = {}) {
  return {
    rebalance: r.last && { state: r.last.state, reason: r.last.reason, started_at: new Date(r.last.startedAtMs).toISOString(), updated_at: new Date(r.last.updatedAtMs).toISOString(), moves_started: r.last.moves },
    plan: { moves: r.plan.moves.map((m) => ({ collection: m.collection, shard_id: m.shard, from: m.from, to: m.to })), replicas_before: r.plan.before, replicas_after: r.plan.after },
    moves_in_flight: r.inFlight.map((m) => moveOut(m, progress)),
  };
}

const rebalanceSchema = {
  type: 'object',
  properties: {
    rebalance: {
      type: ['object', 'null'],
      description: 'the last rebalance (running, done or stopped), null when none ran',
      properties: { state: { type: 'string' }, reason: { type: 'string' }, started_at: { type: 'string' }, updated_at: { type: 'string' }, moves_started: { type: 'integer' } },
    },
    plan: {
      type: 'object',
      description: 'the moves that would even out replicas per node now, and the replicas per node before and after them',
      properties: {
        moves: { type: 'array', items: { type: 'object', properties: { collection: { type: 'string' }, shard_id: { type: 'integer' }, from: { type: 'string' }, to: { type: 'string' } } } },
        replicas_before: { type: 'object', additionalProperties: { type: 'integer' } },
        replicas_after: { type: 'object', additionalProperties: { type: 'integer' } },
      },
    },
    moves_in_flight: { type: 'array', items: moveSchema },
  },
} as const;

/** GET /collections/{name}/cluster: Qdrant's CollectionClusterInfo plus JadeVectorDB's detail; what is not described here passes as is. */
const collectionClusterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    local_shards: { type: 'array', items: { type: 'object', additionalProperties: true } },
    remote_shards: { type: 'array', items: { type: 'object', additionalProperties: true } },
    shard_transfers: {
      type: 'array',
      description: 'moves in flight, as Qdrant\'s shard transfers',
      items: {
        type: 'object',
        properties: {
          shard_id: { type: 'integer' },
          from: { type: ['string', 'null'], description: 'null for replicate_shard: the target copies from the group leader' },
          to: { type: ['string', 'null'], description: 'null for drop_replica' },
          sync: { type: 'boolean' },
          method: { type: 'string' },
          comment: { type: 'string', description: 'the move\'s stage' },
          jade: { type: 'object', properties: { id: { type: 'string' }, stage: { type: 'string' }, started_at: { type: 'string' }, progress: progressSchema } },
        },
      },
    },
    jade: {
      type: 'object',
      additionalProperties: true,
      properties: {
        moves: { type: 'array', description: 'moves the meta state lists: in flight and the last finished (progress: as last observed)', items: moveSchema },
        shards: { type: 'array', items: { type: 'object', additionalProperties: true } },
      },
    },
  },
} as const;

const peerParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } } as const;

export function clusterRoutes({ deps }: RouteContext) {
  const { database, limits } = deps;
  const errors = S.errorResponses;
  const anyResult = S.envelope({ type: 'object', additionalProperties: true });
  return async (app: FastifyInstance) => {
    app.get('/cluster', { schema: { tags: ['cluster'], response: { 200: anyResult, ...errors } } }, async (req, reply) => {
      if (!database.clusterInfo) return ok(reply, { status: 'disabled' }, req);
      const c = database.clusterInfo();
      const self = c.members.find((m) => m.id === c.nodeId);
      return ok(
        reply,
        {
          status: 'enabled',
          peer_id: c.nodeId,
          peers: Object.fromEntries(c.members.map((m) => [m.id, { uri: m.restUrl }])),
          raft_info: { term: c.term, commit: c.commit, pending_operations: 0, leader: c.metaLeader, role: c.role === 'leader' ? 'Leader' : c.role === 'follower' ? 'Follower' : c.role, is_voter: self?.metaRole === 'voter' },
          consensus_thread_status: { consensus_thread_status: 'working' },
          message_send_failures: {},
          jade: {
            cluster_id: c.clusterId,
            members: c.members.map((m) => ({ id: m.id, incarnation: m.incarnation, rest_url: m.restUrl, grpc_address: m.grpcAddress, meta_role: m.metaRole, replicas: m.replicas, labels: m.labels, liveness: m.liveness })),
          },
        },
        req,
      );
    });

    app.get<{ Params: { name: string } }>('/collections/:name/cluster', { schema: { tags: ['cluster'], params: S.collectionNameParams, response: { 200: S.envelope(collectionClusterSchema), ...errors } } }, async (req, reply) => {
      const collection = database.collection(req.params.name); // a 404 before anything else
      if (!database.collectionClusterInfo) {
        const info = await collection.info({ consistency: 'eventual', deadlineMs: deadlineOf(req, limits) });
        return ok(reply, { peer_id: deps.info.nodeId, shard_count: 1, local_shards: [{ shard_id: 0, points_count: info.points, state: 'Active' }], remote_shards: [], shard_transfers: [] }, req);
      }
      const c = await database.collectionClusterInfo(req.params.name, Math.min(deadlineOf(req, limits), Date.now() + 3_000));
      const me = deps.info.nodeId;
      const name = database.resolve(req.params.name);
      const moves = (database.moves?.() ?? []).filter((m) => m.collection === name && m.shard !== null);
      const active = moves.filter((m) => !m.finished);
      const progress = await progressOfMoves(database, moves, deadlineOf(req, limits));
      const qdrantState = (s: string) => (s === 'active' ? 'Active' : 'Dead');
      return ok(
        reply,
        {
          peer_id: me,
          shard_count: c.shards.length,
          local_shards: c.shards.flatMap((s) => s.replicas.filter((r) => r.nodeId === me).map((r) => ({ shard_id: s.shard, points_count: r.points ?? 0, state: qdrantState(r.state) }))),
          remote_shards: c.shards.flatMap((s) => s.replicas.filter((r) => r.nodeId !== me).map((r) => ({ shard_id: s.shard, peer_id: r.nodeId, state: qdrantState(r.state) }))),
          // Moves in flight as Qdrant's transfers (from is null for replicate_shard: the target
          // copies from the group's leader; to is null for drop_replica).
          shard_transfers: active.map((m) => ({ shard_id: m.shard, from: m.from, to: m.to, sync: m.from === null, method: 'snapshot', comment: m.stage, jade: { id: m.id, stage: m.stage, started_at: new Date(m.startedAtMs).toISOString(), progress: progressOut(progress[m.id]) } })),
          jade: {
            // Every move of the collection the meta state still lists: in flight and recently finished.
            moves: moves.map((m) => moveOut(m, progress)),
            shards: c.shards.map((s) => ({
              shard_id: s.shard,
              group_id: s.groupId,
              hash_range: [s.range.start, s.range.end],
              leader: s.leader,
              degraded: s.replicas.some((r) => r.state !== 'active'),
              replicas: s.replicas.map((r) => ({ peer_id: r.nodeId, member: r.member, state: r.state, local: r.local, points_count: r.points, raft_role: r.role })),
            })),
          },
        },
        req,
      );
    });

    app.post<{ Params: { name: string }; Body: ClusterOperation }>(
      '/collections/:name/cluster',
      { schema: { tags: ['cluster'], params: S.collectionNameParams, querystring: { type: 'object', properties: { timeout: { type: 'string' } } }, body: clusterOperationBody, response: { 200: S.envelope({ type: 'boolean' }, { jade: { type: 'object', properties: { move_id: { type: 'string' } } } }), ...errors } } },
      async (req, reply) => {
        database.collection(req.params.name); // a 404 before anything else
        if (!database.requestMove) clusterModeOnly('moving replicas');
        const id = await database.requestMove(moveRequestOfBody(database.resolve(req.params.name), req.body), deadlineOf(req, limits));
        return ok(reply, true, req, { jade: { move_id: id } });
      },
    );

    app.post<{ Params: { id: string } }>(
      '/cluster/peer/:id/drain',
      { schema: { tags: ['cluster'], params: peerParams, querystring: { type: 'object', properties: { timeout: { type: 'string' } } }, response: { 200: S.envelope(drainSchema), ...errors } } },
      async (req, reply) => {
        if (!database.drainPeer) clusterModeOnly('draining a peer');
        const d = await database.drainPeer(req.params.id, deadlineOf(req, limits));
        return ok(reply, drainOut(d, await progressOfMoves(database, d.moves, deadlineOf(req, limits))), req);
      },
    );

    app.post<{ Params: { id: string } }>(
      '/cluster/peer/:id/dead',
      { schema: { tags: ['cluster'], summary: 'declare a silent (suspect) node dead now: its replicas are re-created elsewhere', params: peerParams, querystring: { type: 'object', properties: { timeout: { type: 'string' } } }, response: { 200: S.envelope({ type: 'object', properties: { node: { type: 'string' }, dead: { type: 'boolean' } } }), ...errors } } },
      async (req, reply) => {
        if (!database.declarePeerDead) clusterModeOnly('declaring a peer dead');
        return ok(reply, await database.declarePeerDead(req.params.id, deadlineOf(req, limits)), req);
      },
    );

    app.get<{ Params: { id: string } }>('/cluster/peer/:id/drain', { schema: { tags: ['cluster'], params: peerParams, response: { 200: S.envelope(drainSchema), ...errors } } }, async (req, reply) => {
      if (!database.drainStatus) clusterModeOnly('draining a peer');
      const d = database.drainStatus(req.params.id);
      return ok(reply, drainOut(d, await progressOfMoves(database, d.moves, deadlineOf(req, limits))), req);
    });

    app.post<{ Querystring: { dry_run?: 'true' | 'false'; timeout?: string } }>(
      '/cluster/rebalance',
      { schema: { tags: ['cluster'], querystring: { type: 'object', properties: { dry_run: { type: 'string', enum: ['true', 'false'], description: 'true: only show the plan' }, timeout: { type: 'string' } } }, response: { 200: S.envelope(rebalanceSchema), ...errors } } },
      async (req, reply) => {
        if (!database.rebalance) clusterModeOnly('rebalancing');
        return ok(reply, rebalanceOut(await database.rebalance({ dryRun: req.query.dry_run === 'true', stop: false }, deadlineOf(req, limits))), req);
      },
    );

    app.get('/cluster/rebalance', { schema: { tags: ['cluster'], response: { 200: S.envelope(rebalanceSchema), ...errors } } }, async (req, reply) => {
      if (!database.rebalanceStatus) clusterModeOnly('rebalancing');
      const r = database.rebalanceStatus();
      return ok(reply, rebalanceOut(r, await progressOfMoves(database, r.inFlight, deadlineOf(req, limits))), req);
    });

    app.delete<{ Querystring: { timeout?: string } }>(
      '/cluster/rebalance',
      { schema: { tags: ['cluster'], querystring: { type: 'object', properties: { timeout: { type: 'string' } } }, response: { 200: S.envelope(rebalanceSchema), ...errors } } },
      async (req, reply) => {
        if (!database.rebalance) clusterModeOnly('rebalancing');
        return ok(reply, rebalanceOut(await database.rebalance({ dryRun: false, stop: true }, deadlineOf(req, limits))), req);
      },
    );

    app.post('/cluster/bootstrap', { schema: { tags: ['cluster'], response: { 200: S.envelope({ type: 'object', properties: { cluster_id: { type: 'string' }, node_id: { type: 'string' }, incarnation: { type: 'string' } } }), ...errors } } }, async (req, reply) => {
      if (!database.bootstrapCluster) clusterModeOnly('bootstrapping a cluster');
      const r = await database.bootstrapCluster();
      return ok(reply, { cluster_id: r.clusterId, node_id: r.nodeId, incarnation: r.incarnation }, req);
    });

    app.delete<{ Params: { id: string }; Querystring: { force?: string } }>(
      '/cluster/peer/:id',
      { schema: { tags: ['cluster'], params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } }, querystring: { type: 'object', properties: { force: { type: 'string', enum: ['true', 'false'] }, timeout: { type: 'string' } } }, response: { 200: S.envelope({ type: 'boolean' }, { jade: { type: 'object', additionalProperties: true } }), ...errors } } },
      async (req, reply) => {
        if (!database.removePeer) clusterModeOnly('removing a peer');
        const r = await database.removePeer(req.params.id, req.query.force === 'true', deadlineOf(req, limits));
        return ok(reply, true, req, { jade: { removed: r.removed, degraded_groups: r.degradedGroups } });
      },
    );
  };
}
