// Move progress with four ClusterNodes in this process: a shard whose log is compacted (so the
// target fills from the leader's snapshot) moves from a follower to the fourth node. Snapshot
// chunks are small and the leader's delay fault to the target slows each one, so the transfer
// takes seconds. Asked through a node that does not lead the meta group (the progress lives on
// the meta leader), the move's progress shows the snapshot's bytes growing with a rate and an
// ETA, the points in the snapshot, and at the end bytes sent equal to the size of the snapshot
// the leader holds; then the target's log lag. GET /collections/{name}/cluster on that node shows
// the same numbers, and jade's progress line draws a bar from them.
import { afterEach, describe, expect, it } from 'vitest';
import { NodeMetrics } from '../../node/src/api/metrics.js';
import { buildApp } from '../../node/src/api/rest/app.js';
import { progressLine } from '../../node/src/cli/moves.js';
import { DEFAULT_CONFIG } from '../../node/src/config.js';
import { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { Authenticator } from '../../node/src/security/auth.js';
import { RAFT_GROUP_DEFAULTS } from '../../node/src/cluster/cluster-node.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import type { MoveProgress } from '../../node/src/cluster/move-progress.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const DIM = 16;
const PARAMS = { dimension: DIM, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const POINTS = 6000;
const BATCH = 200;
const CHUNK_BYTES = 16 << 10;
const CHUNK_DELAY_MS = 60;

function upsert(from: number, n: number): WriteBatch {
  return { ops: [{ kind: 'upsert', points: Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Float32Array.from({ length: DIM }, (_, d) => from + i + d), payload: { i: from + i } })) }] };
}

describe('move progress', () => {
  const cluster = new ThreeNodes(() => ({
    faultHooksEnabled: true,
    snapshotChunkBytes: CHUNK_BYTES,
    // Snapshot and compact often: a new replica cannot fill from the log.
    group: { ...RAFT_GROUP_DEFAULTS, snapshotEveryEntries: 5, retainEntries: 1 },
  }));
  afterEach(() => cluster.cleanUp());

  it('shows snapshot bytes growing, a rate, an ETA and the points, then bytes sent equal to the snapshot size', async () => {
    await cluster.startAll(['n0', 'n1', 'n2', 'n3']);
    const groupId = await cluster.create('p', PARAMS);
    const any = cluster.node('n0');
    const placed = any.collectionMeta('p').shards[0].replicas.map(nodeOfMember);
    const spare = ['n0', 'n1', 'n2', 'n3'].find((id) => !placed.includes(id))!;
    for (let i = 0; i < POINTS; i += BATCH) await cluster.write('p', upsert(i, BATCH));
    const leader = await waitFor('a leader of the shard', () => cluster.leaderOf(groupId));
    const leaderGroup = leader.localReplica(groupId)!.group;
    // The leader's stored snapshot holds most points and its log is compacted: a new replica starts from it.
    const pointsIn = (data: Uint8Array) => leader.localReplica(groupId)!.sm.snapshotPoints(data);
    await waitFor('a snapshot of most points, the log compacted', () => {
      const snap = leaderGroup.storage.snapshot();
      return snap && pointsIn(snap.data)! >= POINTS / 2 && leaderGroup.storage.firstIndex() > 1;
    });
    leader.setFaults({ delayMsByPeer: { [spare]: CHUNK_DELAY_MS } });
    const source = placed.find((id) => id !== leader.nodeId)!;
    const meta = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    const asker = [...cluster.running.values()].find((n) => n !== meta)!;

    const app = await buildApp({
      database: new ClusterDatabase(asker, { readStrategy: 'round-robin' }),
      limits: DEFAULT_CONFIG.limits,
      hnswDefaults: DEFAULT_CONFIG.hnswDefaults,
      walSegmentSizeBytes: DEFAULT_CONFIG.wal.segmentSizeBytesMax,
      auth: new Authenticator({ apiKey: null, publicPaths: [] }),
      metrics: new NodeMetrics(),
      info: { version: 'test', nodeId: asker.nodeId, clusterName: 'test', startedAtMs: Date.now(), dataDir: '' },
      isReady: () => true,
    });
    const rest: Record<string, any>[] = [];

    // The leader's snapshots by index: the membership changes of the move itself can make it take a
    // newer one after it sent the target the one in the progress.
    const leaderSnapshots = new Map<number, { bytes: number; points: number | null }>();
    const noteSnapshot = () => {
      const snap = leaderGroup.storage.snapshot();
      if (snap && !leaderSnapshots.has(snap.meta.index)) leaderSnapshots.set(snap.meta.index, { bytes: snap.data.length, points: pointsIn(snap.data) });
    };
    noteSnapshot();
    const moveId = await asker.requestMove({ kind: 'move', collection: 'p', shard: 0, from: source, to: spare }, Date.now() + 5_000);
    const seen: MoveProgress[] = [];
    const done = await waitFor('the move to finish', async () => {
      noteSnapshot();
      const p = (await asker.moveProgress(Date.now() + 2_000))[moveId];
      if (p && (seen.length === 0 || seen[seen.length - 1].observedAtMs !== p.observedAtMs)) seen.push(p);
      const body = (await app.inject({ method: 'GET', url: '/collections/p/cluster' })).json();
      const transfer = body.result.shard_transfers.find((t: Record<string, any>) => t.jade.id === moveId);
      if (transfer?.jade.progress) rest.push({ transfer: transfer.jade.progress, listed: body.result.jade.moves.find((m: Record<string, any>) => m.id === moveId)?.progress });
      const m = any.moves().find((x) => x.id === moveId);
      return m && ['done', 'failed', 'cancelled'].includes(m.stage) ? m : null;
    }, 90_000);
    expect(done.stage).toBe('done');

    const sending = seen.filter((p) => p.phase === 'snapshot');
    console.log(`${seen.length} observations, ${sending.length} while the snapshot was sent: ${sending.map((p) => `${p.snapshotBytesSent}/${p.snapshotBytesTotal} ${Math.round(p.bytesPerSecond ?? -1)} B/s eta ${p.etaSeconds?.toFixed(1)} s`).join('; ')}`);
    // Seen in flight, growing: several distinct byte counts below the total, never going back
    // (the last chunk may be written and not yet acknowledged: sent = total, still sending).
    const sent = sending.map((p) => p.snapshotBytesSent!);
    expect(new Set(sent.filter((n, i) => n < sending[i].snapshotBytesTotal!)).size).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < sent.length; i++) expect(sent[i]).toBeGreaterThanOrEqual(sent[i - 1]);
    expect(sending.every((p) => p.snapshotBytesTotal !== null && p.snapshotBytesSent! <= p.snapshotBytesTotal)).toBe(true);
    expect(sending.some((p) => p.bytesPerSecond !== null && p.bytesPerSecond > 0)).toBe(true);
    expect(sending.some((p) => p.etaSeconds !== null && p.etaSeconds > 0)).toBe(true);

    // At the end: every byte of the snapshot the leader holds was sent; the target's lag was seen.
    const last = seen[seen.length - 1];
    const snap = leaderSnapshots.get(last.snapshotIndex!);
    expect(snap, `the leader held snapshot ${last.snapshotIndex} (it held ${[...leaderSnapshots.keys()].join(', ')})`).toBeDefined();
    expect(last.snapshotBytesTotal).toBe(snap!.bytes);
    expect(last.snapshotBytesSent).toBe(snap!.bytes);
    expect(Math.ceil(snap!.bytes / CHUNK_BYTES)).toBeGreaterThan(3);
    expect(seen.every((p) => p.snapshotPoints === null || p.snapshotPoints === snap!.points)).toBe(true);
    expect(last.snapshotPoints).toBe(snap!.points);
    expect(last.phase).toBe('log');
    expect(last.lagEntries).not.toBeNull();
    expect(last.lagEntries!).toBeLessThanOrEqual(64);

    // The REST answer: the same numbers in snake_case, in shard_transfers and in jade.moves alike.
    await app.close();
    const restSending = rest.filter((r) => r.transfer.phase === 'snapshot');
    expect(restSending.length).toBeGreaterThan(0);
    for (const r of rest) expect(r.listed).toEqual(r.transfer);
    const sample = restSending[restSending.length - 1].transfer;
    expect(sample).toMatchObject({ snapshot_bytes_total: snap!.bytes, snapshot_points: snap!.points, snapshot_index: last.snapshotIndex, observed_at: expect.any(String) });
    expect(sample.snapshot_bytes_sent).toBeLessThanOrEqual(sample.snapshot_bytes_total);
    const line = progressLine(sample);
    console.log(`jade: ${line}`);
    expect(line).toMatch(/^\[#*-*\] \d+% snapshot /);
  }, 150_000);
});
