// Rebalancing through the REST API and the jade CLI: nodes started in this process (startNode, the
// real fastify app over HTTP). Three nodes hold a collection of 4 shards × 2 replicas (3/3/2): the
// dry run plans nothing. A fourth joins and the meta leader rebalances by itself (reason "node n3
// joined") until no two nodes differ by more than one replica, every point still there. Then the
// CLI's dry run, DELETE (stop), POST (start) and --wait on a balanced cluster, and standalone's 400.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { REPO_ROOT } from '../helpers/node-process.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { clusterMemberConfig, standaloneConfig } from './qdrant-client.suite.js';
import { api as callApi, until as pollUntil, type Answer } from '../helpers/http-api.js';

const C = 'rb';
const POINTS = 300;
const WAIT_MS = 30_000;

/** The shared helpers with this file's request timeout and polling interval. */
const api = (url: string, method: string, route: string, body?: unknown): Promise<Answer> => callApi(url, method, route, body, 15_000);
const until = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, probe, timeoutMs, 150);

describe('rebalance over REST and the CLI (nodes in this process)', () => {
  let dir = '';
  let ports: number[] = [];
  const nodes: RunningNode[] = [];
  const log: string[] = [];
  const start = async (i: number, extra: Record<string, unknown> = {}) => {
    const id = `n${i}`;
    nodes.push(await startNode(clusterMemberConfig(i, dir, ports, extra), { clusterLog: (line) => log.push(`${new Date().toISOString()} ${id}: ${line}`) }));
  };
  const replicasPerNode = async () => {
    const c = await api(nodes[0].url, 'GET', `/collections/${C}/cluster`);
    const counts: Record<string, number> = {};
    for (const n of nodes) counts[`n${nodes.indexOf(n)}`] = 0;
    for (const s of c.body.result.jade.shards as { replicas: { peer_id: string }[] }[]) for (const r of s.replicas) counts[r.peer_id]++;
    return counts;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-cluster-rebalance-'));
    ports = await freeLoopbackPorts(10);
    for (let i = 0; i < 3; i++) await start(i);
    await until('three meta voters', async () => (await api(nodes[0].url, 'GET', '/cluster')).body.result.jade?.members.filter((m: { meta_role: string }) => m.meta_role === 'voter').length === 3);
    const created = await api(nodes[0].url, 'PUT', `/collections/${C}`, { vectors: { size: 4, distance: 'Euclid' }, shard_number: 4, replication_factor: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const points = Array.from({ length: POINTS }, (_, i) => ({ id: i, vector: [i, 1, 2, 3], payload: { i } }));
    expect((await api(nodes[1].url, 'PUT', `/collections/${C}/points?wait=true`, { points })).status).toBe(200);
  }, 60_000);

  afterEach((t) => {
    if (t.task.result?.state === 'fail') process.stderr.write(`cluster log:\n${log.join('\n')}\n`);
  });

  afterAll(async () => {
    for (const n of nodes) await n.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a balanced cluster plans nothing; the dry run changes nothing', async () => {
    const dry = await api(nodes[2].url, 'POST', '/cluster/rebalance?dry_run=true');
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.result.plan.moves).toEqual([]);
    expect(Object.values(dry.body.result.plan.replicas_before).sort()).toEqual([2, 3, 3]);
    expect(dry.body.result.rebalance).toBeNull();
  });

  it('a node that joins takes replicas until no two nodes differ by more than one; every point stays', async () => {
    await start(3);
    const done = await until('the rebalance after n3 joined to finish', async () => {
      const r = (await api(nodes[1].url, 'GET', '/cluster/rebalance')).body.result;
      return r.rebalance?.state === 'done' && r.moves_in_flight.length === 0 ? r : null;
    });
    expect(done.rebalance).toMatchObject({ state: 'done', reason: 'node n3 joined' });
    expect(done.rebalance.moves_started).toBeGreaterThanOrEqual(1);
    const status = await api(nodes[3].url, 'GET', '/v1/status');
    expect(status.body.rebalance).toMatchObject({ state: 'done', reason: 'node n3 joined', movesInFlight: 0 });
    const counts = await replicasPerNode();
    expect(counts.n3).toBeGreaterThanOrEqual(1);
    expect(Math.max(...Object.values(counts)) - Math.min(...Object.values(counts))).toBeLessThanOrEqual(1);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(8);
    const count = await api(nodes[3].url, 'POST', `/collections/${C}/points/count`, { exact: true });
    expect(count.body.result.count).toBe(POINTS);
    const moves = ((await api(nodes[0].url, 'GET', `/collections/${C}/cluster`)).body.result.jade.moves as { stage: string; to: string }[]).filter((m) => m.to === 'n3');
    expect(moves.length).toBeGreaterThanOrEqual(1);
    expect(moves.every((m) => m.stage === 'done')).toBe(true);
  }, 60_000);

  it('jade rebalance --dry-run shows the plan; --stop and a POST start and stop it; standalone refuses with a coded 400', async () => {
    // Unbalance by hand: move one of n3's replicas back to a node that has one fewer than the most.
    const jade = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', nodes[2].url, ...args], { cwd: REPO_ROOT });
    const dry = await jade('rebalance', '--dry-run');
    expect(dry.stdout).toMatch(/moves_planned\s+0/);
    expect(dry.stdout).toMatch(/n3\s+\d+\s+\d+/);
    const stopped = await api(nodes[1].url, 'DELETE', '/cluster/rebalance');
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    expect(stopped.body.result.rebalance.state).toBe('done'); // nothing was running: nothing to stop
    const started = await api(nodes[1].url, 'POST', '/cluster/rebalance');
    expect(started.body.result.rebalance).toMatchObject({ state: 'running', reason: 'requested', moves_started: 0 });
    const again = JSON.parse((await jade('--output', 'json', 'rebalance', '--wait')).stdout);
    expect(again.rebalance).toMatchObject({ state: 'done', reason: 'requested', moves_started: 0 });

    const standaloneDir = path.join(dir, 'alone');
    const alone = await startNode(standaloneConfig({ dataDir: standaloneDir }));
    try {
      const r = await api(alone.url, 'POST', '/cluster/rebalance');
      expect(r.status).toBe(400);
      expect(r.body.status.code).toBe('JADE_ERR_BAD_REQUEST');
      expect(r.body.status.error).toMatch(/cluster mode/);
    } finally {
      await alone.close();
    }
  }, 60_000);
});
