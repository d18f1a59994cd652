// Checks the durable shard: acknowledged writes survive restart (checkpoint + WAL tail) and
// simulated power loss; disk faults (fsync EIO, ENOSPC, short write) are never acknowledged, leave
// the state unchanged, and writing works again once the fault clears; a failed checkpoint (on close
// or in the background) is reported with its errno, never swallowed, and loses nothing. Uses the
// in-memory faulty disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../node/src/query/catalog.js';
import { LocalShard, type LocalShardOptions } from '../../node/src/shard/local-shard.js';
import type { CollectionParams } from '../../node/src/shard/state.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { FaultyMemoryDisk, RealDisk } from '../../node/src/storage/disk.js';

const params: CollectionParams = { dimension: 4, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const scratch = mkdtempSync(path.join(tmpdir(), 'jade-shard-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function options(over: Partial<LocalShardOptions> = {}): LocalShardOptions {
  return {
    wal: { segmentSizeBytesMax: 4096, recordSizeBytesMax: 1 << 20, pendingBytesMax: 1 << 22 },
    limits: DEFAULT_SHARD_LIMITS,
    checkpointWalBytes: 1 << 30,
    scratchDir: scratch,
    ...over,
  };
}

function point(id: number) {
  return { id, vector: Float32Array.from([id, id + 1, id + 2, id + 3]), payload: { n: id } };
}

async function upsert(shard: LocalShard, ids: number[]) {
  return shard.write({ ops: [{ kind: 'upsert', points: ids.map(point) }] });
}

describe('LocalShard durability', () => {
  it('restores from checkpoint plus WAL tail, with the saved graph and pending backlog', async () => {
    const disk = new RealDisk();
    const dir = mkdtempSync(path.join(scratch, 'real-'));
    const a = await LocalShard.open(disk, dir, params, options());
    for (let i = 0; i < 10; i++) await upsert(a, [i * 10, i * 10 + 1]);
    await a.waitIndexed();
    await a.write({ ops: [{ kind: 'delete', ids: [0] }] });
    await a.checkpoint();
    await upsert(a, [500, 501]); // tail after the checkpoint, never indexed before "crash"
    // No close(): the process dies here; the WAL tail must carry the last batch.
    const b = await LocalShard.open(disk, dir, params, options());
    expect(b.state.count).toBe(21);
    expect(b.state.get(0)).toBeNull();
    expect(b.state.get(501)?.payload).toEqual({ n: 501 });
    const hit = b.state.search({ vector: point(91).vector, k: 1 }).hits[0];
    expect(hit.id).toBe(91);
    await b.close();
  });

  it('keeps every acknowledged batch across a simulated power loss', async () => {
    const disk = new FaultyMemoryDisk();
    const shard = await LocalShard.open(disk, '/data/c', params, options());
    const acked: number[] = [];
    const inflight = [];
    for (let i = 0; i < 50; i++) inflight.push(upsert(shard, [i]).then(() => acked.push(i)));
    await Promise.all(inflight);
    const release = disk.holdSyncs();
    const unacked = upsert(shard, [1000]).catch(() => 'failed');
    await new Promise((r) => setTimeout(r, 5));
    disk.crash();
    release();
    await unacked;
    const reopened = await LocalShard.open(disk, '/data/c', params, options());
    for (const id of acked) expect(reopened.state.get(id)?.payload).toEqual({ n: id });
    // The unacknowledged batch was never fsynced, so the crash dropped it entirely.
    expect(reopened.state.get(1000)).toBeNull();
  });

  for (const fault of ['fsync EIO', 'ENOSPC', 'short write'] as const) {
    it(`does not acknowledge a write on ${fault}, keeps state, and recovers when the fault clears`, async () => {
      const disk = new FaultyMemoryDisk();
      const shard = await LocalShard.open(disk, '/data/f', params, options());
      await upsert(shard, [1, 2, 3]);
      if (fault === 'fsync EIO') disk.failNextSync('EIO');
      if (fault === 'ENOSPC') disk.failWrites('ENOSPC');
      if (fault === 'short write') disk.shortWriteNext(10, 'EIO');
      await expect(upsert(shard, [4])).rejects.toMatchObject({ code: 'JADE_ERR_STORAGE' });
      expect(shard.state.get(4)).toBeNull();
      expect(shard.state.count).toBe(3);
      disk.clearFaults();
      await upsert(shard, [5]);
      expect(shard.state.get(5)?.payload).toEqual({ n: 5 });
      // After power loss, everything acknowledged is there and the state is one of the valid ones.
      disk.crash();
      const reopened = await LocalShard.open(disk, '/data/f', params, options());
      for (const id of [1, 2, 3, 5]) expect(reopened.state.get(id)?.payload).toEqual({ n: id });
      expect([4, 5]).toContain(reopened.state.count);
    });
  }

  it('rejects invalid batches before logging anything', async () => {
    const disk = new FaultyMemoryDisk();
    const shard = await LocalShard.open(disk, '/data/v', params, options());
    await upsert(shard, [1]);
    const writesBefore = disk.stats.writes;
    await expect(shard.write({ ops: [{ kind: 'upsert', points: [{ id: 2, vector: new Float32Array(3), payload: null }] }] })).rejects.toMatchObject({ code: 'JADE_ERR_DIMENSION_MISMATCH' });
    expect(disk.stats.writes).toBe(writesBefore);
    const reopened = await LocalShard.open(disk, '/data/v', params, options());
    expect(reopened.state.count).toBe(1);
  });
});

describe('LocalShard checkpoints', () => {
  it('keeps LSNs increasing across repeated checkpoint + restart cycles, losing nothing', async () => {
    const disk = new FaultyMemoryDisk();
    let shard = await LocalShard.open(disk, '/data/cp', params, options());
    let lastLsn = 0;
    for (let cycle = 0; cycle < 4; cycle++) {
      const lsn = await upsert(shard, [cycle * 2, cycle * 2 + 1]);
      expect(lsn).toBeGreaterThan(lastLsn);
      lastLsn = lsn;
      await shard.checkpoint();
      const after = await upsert(shard, [100 + cycle]);
      expect(after).toBeGreaterThan(lastLsn);
      lastLsn = after;
      await shard.close({ checkpoint: cycle % 2 === 0 });
      shard = await LocalShard.open(disk, '/data/cp', params, options());
      expect(shard.state.count).toBe((cycle + 1) * 3);
    }
  });

  it('rejects close() with the errno when its checkpoint fails, closes the WAL and loses nothing', async () => {
    const disk = new FaultyMemoryDisk();
    const shard = await LocalShard.open(disk, '/data/full', params, options());
    await upsert(shard, [1, 2, 3]);
    disk.failWrites('ENOSPC', 'checkpoint');
    await expect(shard.close()).rejects.toMatchObject({ code: 'JADE_ERR_STORAGE', details: expect.objectContaining({ errno: 'ENOSPC' }) });
    await expect(shard.write({ ops: [{ kind: 'delete', ids: [1] }] })).rejects.toMatchObject({ code: 'JADE_ERR_NOT_READY' });
    disk.clearFaults();
    const reopened = await LocalShard.open(disk, '/data/full', params, options());
    for (const id of [1, 2, 3]) expect(reopened.state.get(id)?.payload).toEqual({ n: id });
  });

  it('reports a failed background checkpoint to its observer, and the next write retries it', async () => {
    const disk = new FaultyMemoryDisk();
    const failures: unknown[] = [];
    let checkpoints = 0;
    const shard = await LocalShard.open(disk, '/data/bg', params, options({ checkpointWalBytes: 1024 }), {
      onCheckpointFailed: (e) => failures.push(e),
      onCheckpoint: () => checkpoints++,
    });
    disk.failWrites('EIO', 'checkpoint');
    for (let i = 0; i < 20 && failures.length === 0; i++) {
      await upsert(shard, [i]);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(failures[0]).toMatchObject({ code: 'JADE_ERR_STORAGE', details: expect.objectContaining({ errno: 'EIO' }) });
    disk.clearFaults();
    for (let i = 100; i < 120 && checkpoints === 0; i++) {
      await upsert(shard, [i]);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(checkpoints).toBeGreaterThan(0);
    await shard.close();
  });

  it('Catalog.close closes every collection when one checkpoint fails, then names it with its errno', async () => {
    const disk = new FaultyMemoryDisk();
    const shardOptions = { wal: options().wal, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 30, scratchDir: scratch };
    const catalog = await Catalog.open(disk, '/data/cat', { collectionsMax: 10, shard: shardOptions });
    await catalog.create('good', params);
    await catalog.create('bad', params);
    await catalog.get('good').shard.write({ ops: [{ kind: 'upsert', points: [point(1)] }] });
    await catalog.get('bad').shard.write({ ops: [{ kind: 'upsert', points: [point(2)] }] });
    disk.failWrites('ENOSPC', '/bad/');
    await expect(catalog.close()).rejects.toMatchObject({
      code: 'JADE_ERR_STORAGE',
      message: expect.stringContaining('bad (ENOSPC)'),
      details: expect.objectContaining({ errno: 'ENOSPC', failures: [expect.objectContaining({ collection: 'bad', errno: 'ENOSPC' })] }),
    });
    disk.clearFaults();
    const reopened = await Catalog.open(disk, '/data/cat', { collectionsMax: 10, shard: shardOptions });
    expect(reopened.get('good').shard.state.get(1)).not.toBeNull();
    expect(reopened.get('bad').shard.state.get(2)).not.toBeNull();
    await reopened.close();
  });
});
