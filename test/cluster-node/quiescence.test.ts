// Checks quiescence with three in-process ClusterNodes: once 40 collections are idle, their groups
// stop ticking and the nodes send a few liveness beats per second instead of a heartbeat per group
// (measured from the transports' counters); a write to a quiesced group is applied at once; when a
// node holding leaderships stops, every group it led elects a new leader among the others.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_DEFAULTS, ClusterNode, type ClusterPeer } from '../../node/src/cluster/cluster-node.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { freePort } from '../helpers/ports.js';

const COLLECTIONS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function waitFor<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('quiescence of idle groups', () => {
  let dir = '';
  const nodes: ClusterNode[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('idle groups stop ticking, wake for a write, and re-elect when a leader node stops', { timeout: 90_000 }, async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jade-quiesce-'));
    const peers: ClusterPeer[] = await Promise.all(['n0', 'n1', 'n2'].map(async (id) => ({ id, grpcAddress: `127.0.0.1:${await freePort()}`, restUrl: 'http://127.0.0.1:1' })));
    for (const p of peers) {
      nodes.push(
        await ClusterNode.start(new RealDisk(), {
          ...CLUSTER_DEFAULTS,
          nodeId: p.id,
          dataDir: path.join(dir, p.id),
          clusterName: 'q',
          grpcListenAddress: p.grpcAddress,
          advertise: { grpcAddress: p.grpcAddress, restUrl: p.restUrl },
          bootstrap: false,
          join: [],
          peers,
          wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 },
          shardLimits: DEFAULT_SHARD_LIMITS,
          faultHooksEnabled: false,
        }),
      );
    }
    await waitFor('three voters', () => nodes.every((n) => n.isMember && n.members().filter((m) => m.metaRole === 'voter').length === 3));
    const metaLeader = await waitFor('meta leader', () => nodes.find((n) => n.groupStatuses().some((g) => g.groupId === 'meta' && g.role === 'leader')));
    for (let i = 0; i < COLLECTIONS; i++) await metaLeader.create(`c${i}`, { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 16, efSearch: 16 } }, { replicationFactor: 3 });
    const groups = COLLECTIONS + 1;
    await waitFor('every group open on every node and quiesced', () => nodes.every((n) => n.groupStatuses().length === groups && n.groupStatuses().every((g) => g.quiesced)), 30_000);

    const sent = () => nodes.reduce((a, n) => a + n.transport.stats().messagesSent, 0);
    const before = sent();
    await sleep(2_000);
    const perSecond = (sent() - before) / 2;
    // Awake, each group's leader would send ~2 heartbeats per tick (20 ticks/s): ~3,300 messages/s for 41 groups.
    // Quiesced: 3 nodes × 2 peers × 5 liveness beats/s = 30.
    expect(perSecond).toBeLessThan(60);

    // A write to a quiesced group is applied at once.
    const c0 = metaLeader.collectionMeta('c0').shards[0].groupId;
    const started = Date.now();
    await metaLeader.writeShard(c0, { ops: [{ kind: 'upsert', points: [{ id: 1, vector: Float32Array.from([1, 2]), payload: null }] }] }, 'majority', Date.now() + 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);

    // The node leading the most groups stops: every group it led elects a leader among the others.
    const leads = (n: ClusterNode) => n.groupStatuses().filter((g) => g.role === 'leader').map((g) => g.groupId);
    const victim = nodes.reduce((a, b) => (leads(a).length >= leads(b).length ? a : b));
    const led = leads(victim);
    expect(led.length).toBeGreaterThan(0);
    await victim.close();
    nodes.splice(nodes.indexOf(victim), 1);
    const stoppedAt = Date.now();
    await waitFor(
      'new leaders for every group the stopped node led',
      () => led.every((g) => nodes.some((n) => n.groupStatuses().some((s) => s.groupId === g && s.role === 'leader'))),
      20_000,
    );
    const failoverMs = Date.now() - stoppedAt;
    console.log(`${led.length} groups re-elected ${failoverMs} ms after their leader's node stopped (liveness timeout 750 ms, then a beat)`);
    expect(failoverMs).toBeLessThan(10_000);
  });
});
