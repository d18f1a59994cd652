// Fencing (node/src/fencing.ts): a fenced node keeps its data and its REST port, answers 503
// JADE_ERR_FENCED to everything but the probes and the fence routes, stays fenced across a
// restart, and serves every point again once unfenced. In a cluster the other members keep
// serving writes while one is fenced, and the fenced one catches up when it comes back.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeSupervisor } from '../../node/src/fencing.js';
import { startNode } from '../../node/src/node.js';
import { clusterMemberConfig, standaloneConfig } from '../api/qdrant-client.suite.js';
import { freeLoopbackPorts, freePort } from '../helpers/ports.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'jade-fence-'));
  dirs.push(d);
  return d;
}

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fencing a standalone node', () => {
  it('refuses data routes while fenced, stays fenced across a restart, and serves every point after unfencing', { timeout: 60_000 }, async () => {
    const dataDir = await tempDir();
    const config = standaloneConfig({ dataDir, port: await freePort() });
    let s = await NodeSupervisor.start(config);
    const url = s.current.url;
    try {
      expect((await call(`${url}/collections/c`, 'PUT', { vectors: { size: 2, distance: 'Euclid' } })).status).toBe(200);
      expect((await call(`${url}/collections/c/points?wait=true`, 'PUT', { points: [{ id: 7, vector: [1, 2], payload: { kept: true } }] })).status).toBe(200);
      expect((await call(`${url}/cluster/fence`, 'GET')).body.result).toMatchObject({ fenced: false, reason: null });

      const fenced = await call(`${url}/cluster/fence`, 'POST', { reason: 'disk check' });
      expect(fenced.status).toBe(202);
      expect(fenced.body.result).toMatchObject({ fenced: true, reason: 'disk check', switching: true });
      await s.settled();

      const read = await call(`${url}/collections/c/points/7`, 'GET');
      expect(read.status).toBe(503);
      expect(read.body.status.code).toBe('JADE_ERR_FENCED');
      expect((await call(`${url}/collections`, 'GET')).body.status.code).toBe('JADE_ERR_FENCED');
      expect((await call(`${url}/collections/c/points`, 'PUT', { points: [{ id: 8, vector: [3, 4] }] })).status).toBe(503);
      expect((await call(`${url}/backups`, 'GET')).body.status.code).toBe('JADE_ERR_FENCED');
      const ready = await call(`${url}/readyz`, 'GET');
      expect(ready.status).toBe(503);
      expect(ready.body.status.code).toBe('JADE_ERR_FENCED');
      expect((await call(`${url}/healthz`, 'GET')).status).toBe(200);
      expect((await call(`${url}/v1/status`, 'GET')).body).toMatchObject({ fenced: true, fenceReason: 'disk check', ready: false });
      // Idempotent: a second fence changes nothing and says so.
      expect((await call(`${url}/cluster/fence`, 'POST', {})).status).toBe(200);

      // The fence is in the data directory: a restart comes back fenced.
      await s.close();
      s = await NodeSupervisor.start(config);
      expect((await call(`${url}/collections/c/points/7`, 'GET')).body.status.code).toBe('JADE_ERR_FENCED');
      expect((await call(`${url}/cluster/fence`, 'GET')).body.result).toMatchObject({ fenced: true, reason: 'disk check' });
      const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', url, '--output', 'json', 'fence', '--status'], { cwd: path.resolve('.') });
      expect(JSON.parse(cli.stdout)).toMatchObject({ fenced: true, reason: 'disk check' });

      const unfenced = await call(`${url}/cluster/fence`, 'DELETE');
      expect(unfenced.status).toBe(202);
      expect(unfenced.body.result).toMatchObject({ fenced: false });
      await s.settled();
      const back = await call(`${url}/collections/c/points/7`, 'GET');
      expect(back.status).toBe(200);
      expect(back.body.result).toMatchObject({ id: 7, payload: { kept: true }, vector: [1, 2] });
      expect((await call(`${url}/readyz`, 'GET')).status).toBe(200);
      expect((await call(`${url}/cluster/fence`, 'DELETE')).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('refuses a fence body with unknown fields, and fencing a node embedded without its supervisor', async () => {
    const node = await startNode(standaloneConfig({ dataDir: await tempDir() }));
    try {
      const bad = await call(`${node.url}/cluster/fence`, 'POST', { reason: 'x', forever: true });
      expect(bad.status).toBe(400);
      const refused = await call(`${node.url}/cluster/fence`, 'POST', { reason: 'x' });
      expect(refused.status).toBe(400);
      expect(refused.body.status.error).toMatch(/supervisor/);
      expect((await call(`${node.url}/collections`, 'GET')).status).toBe(200);
    } finally {
      await node.close();
    }
  });
});

describe('fencing one member of three', () => {
  it('the others keep taking writes; the unfenced member catches up and serves them', { timeout: 120_000 }, async () => {
    const dir = await tempDir();
    const ports = await freeLoopbackPorts(6);
    const nodes: NodeSupervisor[] = [];
    try {
      for (let i = 0; i < 3; i++) nodes.push(await NodeSupervisor.start(clusterMemberConfig(i, dir, ports, { defaultShards: 1, defaultReplicationFactor: 3 })));
      const [a, , c] = nodes.map((n) => n.current.url);
      await waitFor('three members', async () => (await call(`${a}/cluster`, 'GET')).body.result?.peers && Object.keys((await call(`${a}/cluster`, 'GET')).body.result.peers).length === 3);
      await waitFor('collection created', async () => (await call(`${a}/collections/c`, 'PUT', { vectors: { size: 2, distance: 'Euclid' }, replication_factor: 3 })).status === 200);
      expect((await call(`${a}/collections/c/points?wait=true`, 'PUT', { points: [{ id: 1, vector: [1, 1] }] })).status).toBe(200);
      await waitFor('n2 reads point 1', async () => (await call(`${c}/collections/c/points/1`, 'GET')).status === 200);

      expect((await call(`${c}/cluster/fence`, 'POST', { reason: 'maintenance' })).status).toBe(202);
      await nodes[2].settled();
      expect((await call(`${c}/collections/c/points/1`, 'GET')).body.status.code).toBe('JADE_ERR_FENCED');
      // Two of three replicas are a majority: writes and strong reads go on without the fenced one.
      await waitFor('write without n2', async () => (await call(`${a}/collections/c/points?wait=true`, 'PUT', { points: [{ id: 2, vector: [2, 2] }] })).status === 200);
      expect((await call(`${a}/collections/c/points/2`, 'GET')).status).toBe(200);

      expect((await call(`${c}/cluster/fence`, 'DELETE')).status).toBe(202);
      await nodes[2].settled();
      const got = await waitFor('n2 serves point 2 again', async () => {
        const r = await call(`${c}/collections/c/points/2`, 'GET');
        return r.status === 200 ? r : null;
      });
      expect(got.body.result).toMatchObject({ id: 2, vector: [2, 2] });
    } finally {
      for (const n of nodes.reverse()) await n.close().catch(() => undefined);
    }
  });
});
