// Checks that forged node-to-node traffic changes nothing in a cluster whose nodes share a
// cluster secret, with three ClusterNodes in this process: a follower receives a made-up MsgApp (a
// point the leader never wrote, committed at once) and a MsgTimeoutNow "from the leader", once
// over a connection without the secret and once over a connection authenticated as the third
// member; an internal call (a forwarded write) without the secret is refused too. Neither the point
// nor a leadership change follows, the refusals and forgeries are counted and logged, and the
// cluster goes on replicating. (Without the secret the same MsgApp wrote the point on the
// follower, which then diverged; the MsgTimeoutNow moved leadership.)
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PROPOSE_METHOD } from '../../node/src/cluster/router.js';
import { NODE_ID_METADATA } from '../../node/src/cluster/transport/grpc-transport.js';
import { NodeRpc, NO_RPC_AUTH } from '../../node/src/cluster/transport/rpc.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';
import { forgedAppend, forgedTimeoutNow, sendForged } from '../cluster/forge.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const SECRET = 'the-cluster-secret-shared-by-n0-n1-n2';
const PARAMS = { dimension: 2, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const point = (id: number) => ({ ops: [{ kind: 'upsert' as const, points: [{ id, vector: Float32Array.from([id, 1]), payload: null }] }] });

const cluster = new ThreeNodes(() => ({ clusterSecret: SECRET }));

afterEach(async () => {
  await cluster.cleanUp();
});

interface TransportStatus {
  authenticated: boolean;
  refusedUnauthenticated: number;
  droppedForgedSender: number;
}

describe('forged node-to-node traffic', () => {
  it('a forged MsgApp and MsgTimeoutNow to a follower, and a forged internal call, change nothing', async () => {
    await cluster.startAll();
    const groupId = await cluster.create('f', PARAMS);
    await cluster.write('f', point(1));
    const leader = await waitFor('a shard leader', () => cluster.leaderOf(groupId));
    const victim = [...cluster.running.values()].find((n) => n !== leader)!;
    const third = [...cluster.running.values()].find((n) => n !== leader && n !== victim)!;
    await waitFor('the victim to apply the write', async () => (await cluster.read(victim, 'f'))?.get(1));

    const attempts = [
      { what: 'without the secret, claiming to be the leader', connectAs: leader.nodeId, secret: null, id: 99, expected: grpc.status.UNAUTHENTICATED },
      { what: 'authenticated as the third member, messages claiming the leader', connectAs: third.nodeId, secret: SECRET, id: 98, expected: grpc.status.OK },
    ];
    for (const a of attempts) {
      const g = cluster.group(victim, groupId);
      const status = await sendForged({
        address: cluster.address(victim.nodeId),
        clusterId: 'test',
        connectAs: a.connectAs,
        secret: a.secret,
        victimId: victim.nodeId,
        messages: [
          forgedAppend({ groupId, leader: leader.memberId, to: victim.memberId, term: g.term, lastIndex: g.lastIndex, data: encodeWriteBatch(point(a.id)) }),
          forgedTimeoutNow({ groupId, leader: leader.memberId, to: victim.memberId, term: g.term }),
        ],
      });
      expect(status, a.what).toBe(a.expected);
      await new Promise((r) => setTimeout(r, 400));
      // A MsgTimeoutNow taken for real makes the victim campaign at once and win.
      expect(cluster.group(victim, groupId).role, a.what).not.toBe('leader');
      expect((await cluster.read(victim, 'f'))?.get(a.id), a.what).toBeNull();
    }

    // An internal call without the secret (naming a member, with no proof): a forwarded write of a point, straight to the leader.
    const intruder = new NodeRpc({ nodeId: third.nodeId, clusterId: 'test', auth: { ...NO_RPC_AUTH, sign: (md) => md.set(NODE_ID_METADATA, third.nodeId) } });
    try {
      await expect(intruder.call(cluster.address(leader.nodeId), PROPOSE_METHOD, { json: { groupId, ack: 'majority' }, binary: encodeWriteBatch(point(97)) }, Date.now() + 5_000)).rejects.toMatchObject({ code: 'JADE_ERR_UNAUTHENTICATED' });
    } finally {
      intruder.close();
    }

    const stats = (n: typeof victim) => n.clusterStatus().transport as TransportStatus;
    expect(stats(victim)).toMatchObject({ authenticated: true, droppedForgedSender: 2 });
    expect(stats(victim).refusedUnauthenticated).toBeGreaterThanOrEqual(1);
    expect(stats(leader).refusedUnauthenticated).toBeGreaterThanOrEqual(1);
    const warnings = cluster.warnings.join('\n');
    expect(warnings).toMatch(new RegExp(`${victim.nodeId}: node-to-node: refused a Raft connection .*no proof`));
    expect(warnings).toMatch(new RegExp(`${victim.nodeId}: node-to-node: dropped a Raft message from ${third.nodeId} that claims to come from "${leader.memberId}"`));
    expect(warnings).toMatch(new RegExp(`${leader.nodeId}: node-to-node: refused an internal call .*no proof`));
    expect(warnings).not.toContain(SECRET);

    // The honest members go on: a write after the forgeries reaches every replica, and only it.
    await cluster.write('f', point(2));
    for (const node of cluster.running.values()) {
      const state = await waitFor('the next write everywhere', async () => {
        const s = await cluster.read(node, 'f');
        return s?.get(2) ? s : null;
      });
      expect(state.count).toBe(2);
    }
  }, 60_000);
});
