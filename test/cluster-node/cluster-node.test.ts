// Checks that cluster groups run on RaftDriver + FileRaftStorage end to end, with three
// ClusterNodes in this process on 127.0.0.1: proposals resolve with the state machine's result
// (a meta command's MetaResult, a shard write's index), a follower that missed more entries than
// the leader retains catches up through a snapshot streamed by the transport (snapshots every
// 8 entries, 2 retained), and a whole cluster restarted on its data dirs recovers every group.
// Payload and vector updates replicate like upserts (every replica reaches the same payloads and
// payload-index answers, also after a restart), and aliases and PATCHed parameters are meta commands.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER_DEFAULTS, ClusterNode, type ClusterOptions, type ClusterPeer } from '../../node/src/cluster/cluster-node.js';
import { PROPOSE_METHOD } from '../../node/src/cluster/router.js';
import { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { parseFilter } from '../../node/src/shard/filter.js';
import { DEFAULT_SHARD_LIMITS, type ShardState } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { freePort } from '../helpers/ports.js';

/** A write of the collection's one shard, through its leader (forwarded when elsewhere). */
function write(node: ClusterNode, name: string, batch: WriteBatch): Promise<number> {
  return node.writeShard(node.collectionMeta(name).shards[0].groupId, batch, 'majority', Date.now() + 10_000);
}

/** This node's replica of the collection's one shard, after a linearizable read barrier. */
async function read(node: ClusterNode, name: string): Promise<ShardState> {
  const replica = node.localReplica(node.collectionMeta(name).shards[0].groupId);
  if (!replica) throw new Error('no replica here yet');
  await replica.group.readBarrierBy(Date.now() + 5_000); // retried across a leader change, as strong reads are
  return replica.sm.state;
}

const SNAPSHOT_EVERY_ENTRIES = 8;
const RETAIN_ENTRIES = 2;
const WAIT_MS = 15_000;


async function waitFor<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface GroupInfo {
  groupId: string;
  role: string;
}

function groupsOf(node: ClusterNode): GroupInfo[] {
  return node.clusterStatus().groups as GroupInfo[];
}

describe('cluster node on RaftDriver + FileRaftStorage', () => {
  let baseDir = '';
  let peers: ClusterPeer[] = [];
  const running = new Map<string, ClusterNode>();

  async function start(id: string): Promise<ClusterNode> {
    const self = peers.find((p) => p.id === id)!;
    const opts: ClusterOptions = {
      ...CLUSTER_DEFAULTS,
      tickIntervalMs: 20,
      nodeId: id,
      dataDir: path.join(baseDir, id),
      peers,
      grpcListenAddress: self.grpcAddress,
      advertise: { grpcAddress: self.grpcAddress, restUrl: self.restUrl },
      bootstrap: false,
      join: [],
      clusterName: 'test',
      wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 },
      shardLimits: DEFAULT_SHARD_LIMITS,
      group: { ...CLUSTER_DEFAULTS.group, snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES, retainEntries: RETAIN_ENTRIES },
      faultHooksEnabled: false,
    };
    const node = await ClusterNode.start(new RealDisk(), opts);
    running.set(id, node);
    return node;
  }

  async function stop(id: string): Promise<void> {
    await running.get(id)?.close();
    running.delete(id);
  }

  function leaderOf(groupPrefix: string): ClusterNode | undefined {
    return [...running.values()].find((n) => groupsOf(n).some((g) => g.groupId.startsWith(groupPrefix) && g.role === 'leader'));
  }

  function upsert(id: number) {
    return { ops: [{ kind: 'upsert' as const, points: [{ id, vector: Float32Array.from([id, 1]), payload: null }] }] };
  }

  /** Three nodes on fresh directories. REST URLs point at a closed port: proposals here are made at the group's leader. */
  async function startThree(): Promise<void> {
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'jade-cluster-node-'));
    peers = await Promise.all(['n0', 'n1', 'n2'].map(async (id) => ({ id, grpcAddress: `127.0.0.1:${await freePort()}`, restUrl: 'http://127.0.0.1:1' })));
    for (const p of peers) await start(p.id);
    // The first peer bootstraps, the others join and are promoted to meta voters.
    await waitFor('three meta voters', () => [...running.values()].every((n) => n.isMember && n.members().filter((m) => m.metaRole === 'voter').length === 3));
  }

  afterEach(async () => {
    for (const id of [...running.keys()]) await stop(id);
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  it('resolves proposals with apply results, ships snapshots to a lagging follower and recovers after a full restart', async () => {
    await startThree();

    // create() unwraps the MetaResult the meta state machine returned for the entry.
    const metaLeader = await waitFor('a meta leader', () => leaderOf('meta'));
    await metaLeader.create('t', { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } }, { replicationFactor: 3 });
    const shardLeader = await waitFor('a shard leader', () => leaderOf('c-t-'));
    const firstIndex = await write(shardLeader, 't', upsert(0));
    expect(typeof firstIndex).toBe('number');

    // A follower of the shard goes away; the leader writes far past what it retains.
    const laggingId = peers.map((p) => p.id).find((id) => running.get(id) !== shardLeader)!;
    await stop(laggingId);
    const writesWhileDown = 3 * SNAPSHOT_EVERY_ENTRIES;
    let lastIndex = firstIndex;
    for (let i = 1; i <= writesWhileDown; i++) {
      const index = await write(shardLeader, 't', upsert(i));
      // Each write resolves with its own entry's index (the shard state machine's result).
      expect(index).toBeGreaterThan(lastIndex);
      lastIndex = index;
    }

    // The leader compacted its log past everything the follower has: it can only catch up from a snapshot.
    const lagging = await start(laggingId);
    const caughtUp = await waitFor('the restarted follower to catch up', async () => {
      if (!lagging.has('t')) return null;
      try {
        const state = await read(lagging, 't');
        return state.count === writesWhileDown + 1 ? state : null;
      } catch {
        return null;
      }
    });
    for (let i = 0; i <= writesWhileDown; i++) expect(Array.from(caughtUp.get(i)?.vector ?? [])).toEqual([i, 1]);

    // Enough meta commands that the meta group snapshots too (its state then restores from the image).
    for (let i = 0; i < SNAPSHOT_EVERY_ENTRIES / 2; i++) {
      const leader = await waitFor('a meta leader', () => leaderOf('meta'));
      await leader.create(`x${i}`, { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } }, { replicationFactor: 1 });
      expect(await leader.delete(`x${i}`)).toBe(true);
    }

    // A full restart: every node recovers meta and shard groups from its own directory.
    for (const p of peers) await stop(p.id);
    for (const p of peers) await start(p.id);
    for (const p of peers) {
      const node = running.get(p.id)!;
      // Until the leader's commit index reaches it, a restarted node's meta state may lag (the
      // stored commit index is only a hint), so wait for it to converge too.
      const count = await waitFor(`${p.id} to recover the collections`, async () => {
        if (node.names().join() !== 't') return null;
        try {
          return (await read(node, 't')).count;
        } catch {
          return null;
        }
      });
      expect(count).toBe(writesWhileDown + 1);
    }
    const newLeader = await waitFor('a shard leader after restart', () => leaderOf('c-t-'));
    expect(await write(newLeader, 't', upsert(1000))).toBeGreaterThan(lastIndex);
  }, 60_000);

  it('refuses a write larger than one replicated entry may be (413), and the group goes on', async () => {
    await startThree();
    const metaLeader = await waitFor('a meta leader', () => leaderOf('meta'));
    await metaLeader.create('big', { dimension: 784, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } }, { replicationFactor: 3 });
    const leader = await waitFor('a shard leader', () => leaderOf('c-big-'));
    // The WAL here takes 1 MiB records: 400 points of 784 float32s encode to ~1.25 MiB.
    expect(leader.entryBytesMax).toBeLessThan(1 << 20);
    const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i, vector: new Float32Array(784).fill(i), payload: null }));
    await expect(write(leader, 'big', { ops: [{ kind: 'upsert', points: points(0, 400) }] })).rejects.toMatchObject({ code: 'JADE_ERR_PAYLOAD_TOO_LARGE' });
    // Forwarded bytes over the limit are refused by the leader too.
    const follower = [...running.values()].find((n) => n !== leader)!;
    const groupId = leader.collectionMeta('big').shards[0].groupId;
    await expect(follower.rpc.call(peers.find((p) => p.id === leader.nodeId)!.grpcAddress, PROPOSE_METHOD, { json: { groupId, ack: 'majority' }, binary: new Uint8Array(leader.entryBytesMax + 1) }, Date.now() + 5_000)).rejects.toMatchObject({ code: 'JADE_ERR_PAYLOAD_TOO_LARGE' });
    // Smaller batches go through, on every replica.
    for (let from = 0; from < 400; from += 100) await write(leader, 'big', { ops: [{ kind: 'upsert', points: points(from, 100) }] });
    for (const node of running.values()) {
      const count = await waitFor('every replica to hold 400 points', async () => {
        try {
          const n = (await read(node, 'big')).count;
          return n === 400 ? n : null;
        } catch {
          return null;
        }
      });
      expect(count).toBe(400);
    }
    // A delete by filter is one replicated op, evaluated by every replica against the same state.
    await write(leader, 'big', { ops: [{ kind: 'upsert', points: points(1000, 5).map((p) => ({ ...p, payload: { tag: 'x' } })) }] });
    await expect(write(leader, 'big', { ops: [{ kind: 'delete_by_filter', filterJson: '{"must":[{"key":"tag","match":{}}]}' }] })).rejects.toMatchObject({ code: 'JADE_ERR_BAD_FILTER' });
    await write(leader, 'big', { ops: [{ kind: 'delete_by_filter', filterJson: JSON.stringify({ must: [{ key: 'tag', match: { value: 'x' } }] }) }] });
    for (const node of running.values()) {
      const count = await waitFor('every replica to drop the 5 tagged points', async () => {
        try {
          const state = await read(node, 'big');
          return state.count === 400 && state.get(1000) === null ? state.count : null;
        } catch {
          return null;
        }
      });
      expect(count).toBe(400);
    }
  }, 60_000);

  it('replicates payload and vector updates to every replica, and aliases and search parameters through the meta group', async () => {
    await startThree();
    const metaLeader = await waitFor('a meta leader', () => leaderOf('meta'));
    await metaLeader.create('p', { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 }, vectorName: 'text' }, { replicationFactor: 3 });
    const leader = await waitFor('a shard leader', () => leaderOf('c-p-'));
    const points = Array.from({ length: 10 }, (_, id) => ({ id, vector: Float32Array.from([id, 0]), payload: { c: id % 2 ? 'odd' : 'even', n: id } as Record<string, unknown> }));
    await write(leader, 'p', { ops: [{ kind: 'create_payload_index', field: 'c', schema: 'keyword' }, { kind: 'upsert', points }] });
    await write(leader, 'p', { ops: [{ kind: 'set_payload', payload: { c: 'set', extra: 1 }, overwrite: false, target: { ids: [0, 1] } }] });
    await write(leader, 'p', { ops: [{ kind: 'set_payload', payload: { tag: true }, overwrite: false, target: { filterJson: JSON.stringify({ must: [{ key: 'c', match: { value: 'odd' } }] }) } }] });
    await write(leader, 'p', { ops: [{ kind: 'set_payload', payload: { c: 'over' }, overwrite: true, target: { ids: [2] } }] });
    await write(leader, 'p', { ops: [{ kind: 'delete_payload', keys: ['n'], target: { ids: [4] } }] });
    await write(leader, 'p', { ops: [{ kind: 'update_vectors', points: [{ id: 5, vector: Float32Array.from([50, 50]) }] }] });
    await expect(write(leader, 'p', { ops: [{ kind: 'set_payload', payload: { a: 1 }, overwrite: false, target: { ids: [999] } }] })).rejects.toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    const want = new Map<number, Record<string, unknown>>(points.map((p) => [p.id as number, { ...p.payload }]));
    want.set(0, { c: 'set', n: 0, extra: 1 });
    want.set(1, { c: 'set', n: 1, extra: 1 });
    for (const id of [3, 5, 7, 9]) want.set(id, { ...want.get(id)!, tag: true });
    want.set(2, { c: 'over' });
    want.set(4, { c: 'even' });
    // Through a follower right after an upsert through the leader: its read barrier makes the point
    // exist there before the update is validated (no spurious 404).
    const follower = [...running.values()].find((n) => n !== leader)!;
    for (let i = 0; i < 5; i++) {
      await write(leader, 'p', { ops: [{ kind: 'upsert', points: [{ id: 100 + i, vector: Float32Array.from([1, i]), payload: { c: 'late' } }] }] });
      await write(follower, 'p', { ops: [{ kind: 'set_payload', payload: { via: 'follower' }, overwrite: false, target: { ids: [100 + i] } }] });
      want.set(100 + i, { c: 'late', via: 'follower' });
    }
    const oddCount = [...want.values()].filter((p) => p.c === 'odd').length;
    const expectReplicas = async (when: string) => {
      for (const node of running.values()) {
        const state = await waitFor(`${when}: every replica to apply the updates`, async () => {
          try {
            const s = await read(node, 'p');
            return Array.from(s.get(5)?.vector ?? []).join() === '50,50' ? s : null;
          } catch {
            return null;
          }
        });
        for (const [id, payload] of want) expect(state.get(id)!.payload, `${when}: payload of ${id}`).toEqual(payload);
        expect(state.countMatching(parseFilter({ must: [{ key: 'c', match: { value: 'odd' } }] }))).toBe(oddCount);
        expect(state.countMatching(parseFilter({ must: [{ key: 'c', match: { value: 'set' } }] }))).toBe(2);
      }
    };
    await expectReplicas('after the writes');

    // Aliases and PATCHed parameters: meta commands every node applies.
    await (await waitFor('a meta leader', () => leaderOf('meta'))).updateAliases([{ kind: 'create', alias: 'live', collection: 'p' }]);
    await (await waitFor('a meta leader', () => leaderOf('meta'))).updateSearchParams('p', 77);
    await expect((await waitFor('a meta leader', () => leaderOf('meta'))).updateAliases([{ kind: 'create', alias: 'x', collection: 'p' }, { kind: 'delete', alias: 'nope' }])).rejects.toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    const expectMeta = async (when: string) => {
      for (const node of running.values()) {
        await waitFor(`${when}: ${node.nodeId} to see the alias and the new ef`, () => node.resolve('live') === 'p' && node.collectionMeta('p').params.hnsw.efSearch === 77);
        expect(node.aliases()).toEqual([{ alias: 'live', collection: 'p' }]);
        const collection = new ClusterDatabase(node, { readStrategy: 'round-robin' }).collection('live');
        expect([collection.name, collection.params.vectorName, collection.params.hnsw.efSearch]).toEqual(['p', 'text', 77]);
      }
    };
    await expectMeta('after the meta commands');

    // A full restart replays (or restores from snapshots) the same state on every node.
    for (const p of peers) await stop(p.id);
    for (const p of peers) await start(p.id);
    await expectMeta('after a restart');
    await expectReplicas('after a restart');
  }, 60_000);
});
