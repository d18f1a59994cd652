// Checks distributed collections with real processes on the loopback: 5 nodes formed by bootstrap
// and join hold a collection of 6 shards × 3 replicas; every node answers every route, and exact
// search, retrieve, scroll (paged to the end) and count equal an in-process flat oracle; a 6th
// node joins at runtime and serves reads and writes without holding a replica; removing a node
// that holds replicas is refused (409) and removing one that holds none works; then shard
// leaders and the meta leader are killed (-9) while writes and deletes go on, and afterwards no
// acknowledged write is lost and no acknowledged delete comes back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/node-process.js';
import { ShardState } from '../../node/src/shard/state.js';
import { startProcessCluster, type ProcessCluster } from './cluster-processes.js';

const DIM = 8;
const POINTS = 600;
const PARAMS = { dimension: DIM, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 64, efSearch: 64 } };
const C = 'dist';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(url: string, method: string, route: string, body?: unknown, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${route}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Retries a call while the cluster settles (elections after kills): up to `timeoutMs`. */
async function until<T>(what: string, f: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(100);
  }
}

describe('distributed collections on 5 real processes', () => {
  let dir = '';
  let cluster: ProcessCluster;
  const oracle = new ShardState(PARAMS);
  const r = rng(42);
  const points = Array.from({ length: POINTS }, (_, i) => ({
    id: i % 5 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : i,
    vector: Array.from({ length: DIM }, () => Math.fround(r() * 2 - 1)),
    payload: { tag: ['a', 'b', 'c'][i % 3], n: i },
  }));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-dist-'));
    // The 6th node joins to serve without replicas (a node with none is what this checks): no rebalance on join.
    cluster = await startProcessCluster({ nodeCount: 5, baseDir: dir, formation: 'join', env: { JADE_REBALANCE_ON_JOIN: 'false' } });
    await cluster.waitForMembers(5);
  }, 90_000);

  afterAll(async () => {
    await cluster?.stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const urls = () => cluster.members.filter((m) => m.running()).map((m) => m.url);

  it('creates 6 shards × 3 replicas placed on distinct nodes, balanced', async () => {
    const created = await until('create', async () => {
      const res = await api(cluster.members[2].url, 'PUT', `/collections/${C}`, { vectors: { size: DIM, distance: 'Euclid' }, shard_number: 6, replication_factor: 3 });
      return res.status === 200 ? res : null;
    });
    expect(created.body.result).toBe(true);
    const info = await until('shards placed', async () => {
      const res = await api(cluster.members[0].url, 'GET', `/collections/${C}/cluster`);
      return res.status === 200 && res.body.result.jade.shards.every((s: { leader: string | null }) => s.leader) ? res.body.result : null;
    });
    expect(info.shard_count).toBe(6);
    const perNode = new Map<string, number>();
    for (const s of info.jade.shards) {
      expect(new Set(s.replicas.map((x: { peer_id: string }) => x.peer_id)).size).toBe(3);
      for (const x of s.replicas) perNode.set(x.peer_id, (perNode.get(x.peer_id) ?? 0) + 1);
    }
    // 18 replicas over 5 nodes: 3 or 4 each.
    expect([...perNode.values()].every((n) => n === 3 || n === 4)).toBe(true);
    const get = await api(cluster.members[4].url, 'GET', `/collections/${C}`);
    expect(get.body.result.config.params).toMatchObject({ shard_number: 6, replication_factor: 3 });
  }, 60_000);

  it('writes through every node, and every node answers search, retrieve, scroll and count as the oracle', async () => {
    for (let i = 0; i < POINTS; i += 50) {
      const batch = points.slice(i, i + 50);
      const url = urls()[(i / 50) % urls().length];
      const res = await api(url, 'PUT', `/collections/${C}/points?wait=true`, { points: batch });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    oracle.apply(oracle.validateBatch({ ops: [{ kind: 'upsert', points: points.map((p) => ({ id: p.id, vector: Float32Array.from(p.vector), payload: p.payload })) }] }));
    const q = rng(7);
    const queries = Array.from({ length: 5 }, () => Array.from({ length: DIM }, () => Math.fround(q() * 2 - 1)));
    for (const url of urls()) {
      for (const [i, vector] of queries.entries()) {
        const filter = i % 2 ? { must: [{ key: 'tag', match: { value: 'b' } }] } : undefined;
        const res = await api(url, 'POST', `/collections/${C}/points/search`, { vector, limit: 7, offset: i, filter, params: { exact: true }, with_payload: true });
        expect(res.status).toBe(200);
        const expected = oracle.search({ vector: Float32Array.from(vector), k: 7 + i, exact: true, filter: filter ? { must: [{ type: 'match', key: 'tag', value: 'b' }], should: [], mustNot: [] } : null }).hits.slice(i);
        expect(res.body.result.map((h: { id: unknown }) => h.id)).toEqual(expected.map((h) => h.id));
        for (const [j, h] of res.body.result.entries()) expect(h.score).toBeCloseTo(expected[j].distance, 4);
      }
      const ids = [points[3].id, points[10].id, 123_456, points[599].id];
      const got = await api(url, 'POST', `/collections/${C}/points`, { ids, with_payload: true, with_vector: true });
      expect(got.body.result.map((p: { id: unknown }) => p.id)).toEqual([points[3].id, points[10].id, points[599].id]);
      expect(got.body.result[0].vector).toEqual(points[3].vector);
      // As Qdrant: the missing id is left out, and nothing is added beside the result.
      expect(Object.keys(got.body).sort()).toEqual(['result', 'status', 'time']);
      const count = await api(url, 'POST', `/collections/${C}/points/count`, { filter: { must: [{ key: 'tag', match: { value: 'a' } }] } });
      expect(count.body.result.count).toBe(oracle.countMatching({ must: [{ type: 'match', key: 'tag', value: 'a' }], should: [], mustNot: [] }));
    }
    // Scroll from one node pages through every point, in the oracle's id order.
    const scrolled: unknown[] = [];
    let offset: unknown = null;
    do {
      const page = await api(urls()[1], 'POST', `/collections/${C}/points/scroll`, { limit: 97, offset, with_payload: false });
      scrolled.push(...page.body.result.points.map((p: { id: unknown }) => p.id));
      offset = page.body.result.next_page_offset;
    } while (offset !== null);
    const expectedOrder: unknown[] = [];
    let o: string | number | null = null;
    do {
      const page = oracle.scroll(o, 1000, null);
      expectedOrder.push(...page.labels.map((l) => oracle.pointInfoByLabel(l).id));
      o = page.nextOffset;
    } while (o !== null);
    expect(scrolled).toEqual(expectedOrder);
  }, 120_000);

  it('a 6th node joins at runtime and serves reads and writes without holding a replica', async () => {
    const sixth = await cluster.addMember('n5');
    await cluster.waitForMembers(6);
    const res = await api(sixth.url, 'PUT', `/collections/${C}/points?wait=true`, { points: [{ id: 10_000, vector: Array(DIM).fill(0.5), payload: { tag: 'new' } }] });
    expect(res.status).toBe(200);
    const search = await api(sixth.url, 'POST', `/collections/${C}/points/search`, { vector: Array(DIM).fill(0.5), limit: 1 });
    expect(search.body.result[0].id).toBe(10_000);
    const status = await api(sixth.url, 'GET', '/v1/status');
    expect(status.body.groups.map((g: { groupId: string }) => g.groupId)).toEqual(['meta']);
    // Its metrics show the fan-out per shard and the internal calls it made; a leader's, per-member lag.
    const metrics = await (await fetch(`${sixth.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`jade_shard_fanout_seconds_count\\{collection="${C}",shard="5",op="search",outcome="ok"\\} [1-9]`));
    expect(metrics).toMatch(/jade_internal_call_seconds_count\{method="group.propose",code="ok"\} [1-9]/);
    const leaderMetrics = await Promise.all(cluster.members.slice(0, 5).map(async (m) => (await fetch(`${m.url}/metrics`)).text()));
    expect(leaderMetrics.some((t) => /jade_raft_follower_lag_entries\{group="c-dist-[^"]+",member="n\d#[0-9a-f]+"\} \d+/.test(t))).toBe(true);
    expect(leaderMetrics.join('\n')).toMatch(/jade_raft_proposal_seconds_count\{group="c-dist-[^"]+",outcome="ok"\} [1-9]/);
    const view = await api(sixth.url, 'GET', '/cluster');
    expect(view.body.result.status).toBe('enabled');
    expect(Object.keys(view.body.result.peers).sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
  }, 60_000);

  it('jade nodes and jade shards show the members and each shard\'s leader and replicas', async () => {
    const jade = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', cluster.members[1].url, ...args], { cwd: REPO_ROOT });
    const nodes = await jade('nodes');
    for (const id of ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']) expect(nodes.stdout).toContain(id);
    expect(nodes.stdout).toMatch(/voter/);
    const shards = JSON.parse((await jade('--output', 'json', 'shards', C)).stdout);
    expect(shards.shard_count).toBe(6);
    expect(shards.jade.shards.every((x: { leader: string | null; replicas: unknown[] }) => x.leader && x.replicas.length === 3)).toBe(true);
    const table = await jade('shards', C);
    expect(table.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l))).toHaveLength(6);
  }, 60_000);

  it('removing a node that holds replicas is refused with a reason; one that holds none is removed', async () => {
    const refused = await api(cluster.members[0].url, 'DELETE', '/cluster/peer/n1');
    expect(refused.status).toBe(409);
    expect(refused.body.status.code).toBe('JADE_ERR_CONFLICT');
    expect(refused.body.status.error).toMatch(/holds \d+ replica/);
    const removed = await api(cluster.members[3].url, 'DELETE', '/cluster/peer/n5');
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    await until('n5 gone from every view', async () => {
      const views = await Promise.all(cluster.members.slice(0, 5).map((m) => api(m.url, 'GET', '/cluster')));
      return views.every((v) => !('n5' in v.body.result.peers)) ? true : null;
    });
    await cluster.member('n5').stop();
    const missing = await api(cluster.members[0].url, 'DELETE', '/cluster/peer/n5');
    expect(missing.status).toBe(404);
  }, 60_000);

  it('kill -9 of shard leaders and the meta leader during writes and deletes loses no acknowledged write and resurrects no delete', async () => {
    // Per id, what the last acknowledged operation says must hold afterwards.
    interface Fate {
      /** 'write': the value acknowledged last; 'delete': gone, unless a write not acknowledged before it started re-created it. */
      kind: 'write' | 'delete';
      value: number;
      /** An operation with an unknown outcome was issued after the acknowledged one (it may have applied). */
      unknownAfter: boolean;
    }
    const fates = new Map<number, Fate>();
    let stop = false;
    let seq = 0;
    const writer = async (w: number) => {
      const wr = rng(100 + w);
      while (!stop) {
        // Each writer owns its ids, so the operations on one id are sequential and the last one acknowledged is what must hold.
        const id = 20_000 + w * 1_000 + Math.floor(wr() * 70);
        const url = urls()[Math.floor(wr() * urls().length)];
        const before = fates.get(id);
        const del = wr() < 0.2 && before?.kind === 'write';
        const value = ++seq;
        // For a delete: the newest write acknowledged before it was issued must not come back.
        const ackedBefore = before?.kind === 'write' ? before.value : 0;
        let ok = false;
        try {
          const res = del
            ? await api(url, 'POST', `/collections/${C}/points/delete?wait=true`, { points: [id] }, 8_000)
            : await api(url, 'PUT', `/collections/${C}/points?wait=true`, { points: [{ id, vector: Array(DIM).fill(value / 1e6), payload: { v: value } }] }, 8_000);
          ok = res.status === 200;
        } catch {
          ok = false; // timeout or dropped connection: the outcome is unknown
        }
        if (ok) fates.set(id, del ? { kind: 'delete', value: ackedBefore, unknownAfter: false } : { kind: 'write', value, unknownAfter: false });
        else if (fates.has(id)) fates.get(id)!.unknownAfter = true;
        await sleep(5);
      }
    };
    const writers = [0, 1, 2].map(writer);
    const kill = async (id: string) => {
      const m = cluster.member(id);
      await m.kill9();
      await sleep(1_500);
      await m.restart();
    };
    try {
      for (let round = 0; round < 2; round++) {
        const shardGroups = ((await cluster.groups('n0')) ?? []).filter((g) => g.groupId.startsWith(`c-${C}-`));
        const leader = shardGroups.length > 0 ? await cluster.leaderOf(shardGroups[round % shardGroups.length].groupId) : null;
        if (leader) await kill(leader);
        const metaLeader = await cluster.leaderOf('meta');
        if (metaLeader) await kill(metaLeader);
      }
      await sleep(1_000);
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    expect(fates.size).toBeGreaterThan(20);
    // Strong reads from every node: every acknowledged write is there, no acknowledged delete came back.
    for (const url of urls()) {
      const ids = [...fates.keys()];
      const got = await until('strong retrieve after the faults', async () => {
        const res = await api(url, 'POST', `/collections/${C}/points`, { ids, with_payload: true });
        return res.status === 200 ? res.body : null;
      });
      const byId = new Map<number, number>(got.result.map((p: { id: number; payload: { v: number } }) => [p.id, p.payload.v]));
      for (const [id, fate] of fates) {
        const v = byId.get(id);
        if (fate.kind === 'write') {
          // A later write or delete with an unknown outcome may have applied after it: never an older value.
          if (v === undefined) expect(fate.unknownAfter, `acknowledged write of point ${id} (v ${fate.value}) lost`).toBe(true);
          else expect(v, `point ${id}`).toBeGreaterThanOrEqual(fate.value);
        } else if (v !== undefined) {
          expect(v, `point ${id} deleted after v ${fate.value} was acknowledged came back with v ${v}`).toBeGreaterThan(fate.value);
        }
      }
    }
  }, 180_000);
});
