// Checks node-to-node authentication with real node processes on 127.0.0.1: two nodes sharing a
// JADE_CLUSTER_SECRET replicate a write (the authenticated path works end to end) and report
// `transport.authenticated` in /v1/status; a connection without the secret is refused and logged;
// the secret appears in no log line and not in /v1/status. A cluster node started without a
// secret says in its log that node-to-node traffic is unauthenticated.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcessCluster, type ProcessCluster } from './cluster-processes.js';
import { forgedTimeoutNow, sendForged } from './forge.js';

const SECRET = 'process-test-cluster-secret-0123456789';
const started: { cluster: ProcessCluster; dir: string }[] = [];
afterAll(async () => {
  for (const { cluster, dir } of started) {
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function start(nodeCount: number, clusterSecret: string | null): Promise<ProcessCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'jade-node-auth-'));
  const cluster = await startProcessCluster({ nodeCount, baseDir: dir, clusterSecret, logLevel: 'info' });
  started.push({ cluster, dir });
  return cluster;
}

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

async function untilOk(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('node-to-node authentication between real processes', () => {
  it('replicates with the secret, refuses a connection without it, and never shows the secret', { timeout: 120_000 }, async () => {
    const cluster = await start(2, SECRET);
    const [a, b] = cluster.members;
    await untilOk('the collection', async () => (await call(`${a.url}/collections/s`, 'PUT', { vectors: { size: 2, distance: 'Euclid' } })).status === 200);
    await untilOk('a write through the second node', async () => (await call(`${b.url}/collections/s/points`, 'PUT', { points: [{ id: 1, vector: [1, 2], payload: { v: 'x' } }] })).status === 200);
    for (const m of cluster.members) {
      const got = await call(`${m.url}/collections/s/points/1`, 'GET');
      expect(JSON.parse(got.text).result).toMatchObject({ id: 1, payload: { v: 'x' } });
    }

    const answer = await sendForged({ address: `127.0.0.1:${b.grpcPort}`, clusterId: 'jade', connectAs: a.id, secret: null, victimId: b.id, messages: [forgedTimeoutNow({ groupId: 'meta', leader: a.id, to: b.id, term: 1 })] });
    expect(answer).toBe(grpc.status.UNAUTHENTICATED);

    const status = await call(`${b.url}/v1/status`, 'GET');
    expect(JSON.parse(status.text).transport).toMatchObject({ authenticated: true, refusedUnauthenticated: 1, droppedForgedSender: 0 });
    await untilOk('the refusal in the log', async () => /refused a Raft connection .* no proof/.test(b.output()), 5_000);
    for (const m of cluster.members) {
      expect(m.output()).toMatch(/node-to-node auth on/);
      expect(m.output()).toMatch(/"clusterSecret":"<redacted>"/);
      expect(m.output()).not.toContain(SECRET);
      expect((await call(`${m.url}/v1/status`, 'GET')).text).not.toContain(SECRET);
    }
  });

  it('says in its log when node-to-node traffic is unauthenticated', { timeout: 60_000 }, async () => {
    const cluster = await start(1, null);
    await untilOk('the start-up lines', async () => /node-to-node traffic is unauthenticated/.test(cluster.members[0].output()), 5_000);
    expect(cluster.members[0].output()).toMatch(/node-to-node auth off/);
  });
});
