// Cluster routes in Qdrant's dialect where it has one: GET /cluster (peers and Raft status),
// GET /collections/{name}/cluster (shards, replicas, their states and leaders) and
// DELETE /cluster/peer/{id} (remove a node; refused while it holds replicas unless forced), and
// POST /cluster/bootstrap (found a new cluster with a node started with --join: the Kubernetes
// operator picks the one pod that does it).
// A standalone node answers GET /cluster with status "disabled", as Qdrant does.
import type { FastifyInstance } from 'fastify';
import { JadeError } from '../../../util/errors.js';
import { deadlineOf, ok, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

function clusterModeOnly(what: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', `${what} needs cluster mode: this node runs standalone (start nodes with --bootstrap / --join)`);
}

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
            members: c.members.map((m) => ({ id: m.id, incarnation: m.incarnation, rest_url: m.restUrl, grpc_address: m.grpcAddress, meta_role: m.metaRole, replicas: m.replicas, labels: m.labels })),
          },
        },
        req,
      );
    });

    app.get<{ Params: { name: string } }>('/collections/:name/cluster', { schema: { tags: ['cluster'], params: S.collectionNameParams, response: { 200: anyResult, ...errors } } }, async (req, reply) => {
      const collection = database.collection(req.params.name); // a 404 before anything else
      if (!database.collectionClusterInfo) {
        const info = await collection.info({ consistency: 'eventual', deadlineMs: deadlineOf(req, limits) });
        return ok(reply, { peer_id: deps.info.nodeId, shard_count: 1, local_shards: [{ shard_id: 0, points_count: info.points, state: 'Active' }], remote_shards: [], shard_transfers: [] }, req);
      }
      const c = await database.collectionClusterInfo(req.params.name, Math.min(deadlineOf(req, limits), Date.now() + 3_000));
      const me = deps.info.nodeId;
      const qdrantState = (s: string) => (s === 'active' ? 'Active' : 'Dead');
      return ok(
        reply,
        {
          peer_id: me,
          shard_count: c.shards.length,
          local_shards: c.shards.flatMap((s) => s.replicas.filter((r) => r.nodeId === me).map((r) => ({ shard_id: s.shard, points_count: r.points ?? 0, state: qdrantState(r.state) }))),
          remote_shards: c.shards.flatMap((s) => s.replicas.filter((r) => r.nodeId !== me).map((r) => ({ shard_id: s.shard, peer_id: r.nodeId, state: qdrantState(r.state) }))),
          shard_transfers: [],
          jade: {
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
