// Regression for the wiped-node bug (issue 11, part 1), with real processes: C stops; 20 points
// are written (acknowledged by A and B); B's data directory is wiped and A stops; B (empty) and C
// (stale) start. Before node identities, B founded its groups afresh and voted for C, which then
// overwrote A's log: the 20 points were lost everywhere. Now B comes back as a new incarnation
// that is not a member of any group, so C cannot be elected without A; once A returns, every
// node reads all 20 points, B is in the cluster as a new incarnation, and the old B's replica is
// reported dead (re-replication refills it later, issue 14).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcessCluster, type ProcessCluster } from './cluster-processes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(`${url}${route}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return null;
  }
}

describe('a node whose data directory was wiped', () => {
  let dir = '';
  let cluster: ProcessCluster;
  afterAll(async () => {
    await cluster?.stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('comes back as a new member and no acknowledged write is lost', { timeout: 120_000 }, async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-wiped-'));
    cluster = await startProcessCluster({ nodeCount: 3, baseDir: dir });
    await cluster.waitForMembers(3);
    const [a, b, c] = cluster.members;
    for (;;) {
      const r = await api(a.url, 'PUT', '/collections/w', { vectors: { size: 2, distance: 'Euclid' }, replication_factor: 3 });
      if (r?.status === 200) break;
      await sleep(200);
    }
    const oldB = (await api(b.url, 'GET', '/v1/status'))!.body.memberId as string;
    await c.stop();
    const points = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, vector: [i, 1], payload: { i } }));
    for (;;) {
      const r = await api(a.url, 'PUT', '/collections/w/points?wait=true', { points });
      if (r?.status === 200) break;
      await sleep(200);
    }
    await b.wipe();
    await a.stop();
    await b.restart();
    await c.restart();
    // Without A, C must not become a leader: the old B's vote is gone and the new B is no member.
    await sleep(3_000);
    const cGroups = await cluster.groups(c.id);
    expect(cGroups?.every((g) => g.role !== 'leader'), JSON.stringify(cGroups)).toBe(true);
    const bStatus = (await api(b.url, 'GET', '/v1/status'))!.body;
    expect(bStatus.memberId).not.toBe(oldB);
    expect(bStatus.joined).toBe(false);
    await a.restart();
    await cluster.waitForMembers(3, 60_000);
    for (const m of cluster.members) {
      const deadline = Date.now() + 30_000;
      let got: any = null;
      for (;;) {
        got = await api(m.url, 'POST', '/collections/w/points', { ids: points.map((p) => p.id), with_payload: true });
        if (got?.status === 200 && got.body.result.length === 20) break;
        if (Date.now() > deadline) break;
        await sleep(200);
      }
      expect(got?.body?.result?.map((p: { id: number }) => p.id), `strong read through ${m.id}`).toEqual(points.map((p) => p.id));
    }
    const shards = (await api(a.url, 'GET', '/collections/w/cluster'))!.body.result.jade.shards;
    const replicaOfB = shards[0].replicas.find((r: { peer_id: string }) => r.peer_id === b.id);
    expect(replicaOfB).toMatchObject({ member: oldB, state: 'dead' });
    expect(shards[0].degraded).toBe(true);
  });
});
