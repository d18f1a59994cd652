// Request ids (issue 19): every REST answer carries x-request-id — the caller's when it is valid
// (printable ASCII, at most 128 characters), else a new UUID —, the request's log lines and audit line
// carry it as requestId, and the internal calls the handler makes forward it in their gRPC metadata,
// hop after hop (NodeRpc over a real gRPC server), and on a real two-node cluster a forwarded write
// and a search's remote shard read reach the other node with the caller's id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RPC_AUTH, NodeRpc, type RpcHandler } from '../../node/src/cluster/transport/rpc.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import type { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { REQUEST_ID_LENGTH_MAX, currentRequestId, isValidRequestId, withRequestId } from '../../node/src/util/request-context.js';
import { until } from '../helpers/http-api.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { makeHarness, type Harness } from './harness.js';
import { clusterMemberConfig } from './qdrant-client.suite.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const KEY = 'request-id-test-key-0123456789';

async function rpcServer(rpc: NodeRpc): Promise<{ address: string; close(): void }> {
  const server = new grpc.Server();
  const { definition, implementation } = rpc.service();
  server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

describe('request ids', () => {
  let h: Harness;
  const lines: Record<string, unknown>[] = [];
  // Three "nodes": the REST handler calls b, whose handler calls c.
  const a = new NodeRpc({ nodeId: 'a', clusterId: 'test', auth: NO_RPC_AUTH });
  const b = new NodeRpc({ nodeId: 'b', clusterId: 'test', auth: NO_RPC_AUTH });
  const c = new NodeRpc({ nodeId: 'c', clusterId: 'test', auth: NO_RPC_AUTH });
  const servers: { address: string; close(): void }[] = [];
  const seen: { hop: string; ctx: string | undefined; current: string | undefined }[] = [];

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    h = await makeHarness({ apiKey: KEY, logger: { level: 'info', stream } });
    const cServer = await rpcServer(c);
    const bServer = await rpcServer(b);
    servers.push(cServer, bServer);
    c.handle('leaf', async (_args, ctx) => {
      seen.push({ hop: 'c', ctx: ctx.requestId, current: currentRequestId() });
      return { json: null };
    });
    b.handle('middle', async (_args, ctx) => {
      seen.push({ hop: 'b', ctx: ctx.requestId, current: currentRequestId() });
      await b.call(cServer.address, 'leaf', { json: {} }, Date.now() + 5_000);
      return { json: null };
    });
    // Test routes on the real app: one logs through req.log, one fans out over internal calls after reading a body.
    h.app.get('/test/log', async (req) => {
      req.log.warn('a line of this request');
      return { ok: true };
    });
    h.app.post('/test/fan-out', async (req) => {
      seen.push({ hop: 'rest', ctx: undefined, current: currentRequestId() });
      await a.call(bServer.address, 'middle', { json: req.body }, Date.now() + 5_000);
      return { ok: true };
    });
  });
  afterAll(async () => {
    for (const n of [a, b, c]) n.close();
    for (const s of servers) s.close();
    await h?.close();
  });

  const auth = { 'api-key': KEY };

  it('validates a caller id: printable ASCII, 1..128 characters', () => {
    expect(isValidRequestId('req-1/abc:DEF_~')).toBe(true);
    expect(isValidRequestId('x'.repeat(REQUEST_ID_LENGTH_MAX))).toBe(true);
    for (const bad of ['', 'x'.repeat(REQUEST_ID_LENGTH_MAX + 1), 'a b', 'a\tb', 'a\u0000b', 'é', 42, undefined]) expect(isValidRequestId(bad), JSON.stringify(bad)).toBe(false);
  });

  it('keeps a valid caller id, replaces an invalid one, makes one when there is none', async () => {
    const kept = await h.app.inject({ method: 'GET', url: '/collections', headers: { ...auth, 'x-request-id': 'caller-42' } });
    expect(kept.statusCode).toBe(200);
    expect(kept.headers['x-request-id']).toBe('caller-42');
    const fresh = await h.app.inject({ method: 'GET', url: '/collections', headers: auth });
    expect(fresh.headers['x-request-id']).toMatch(UUID);
    const again = await h.app.inject({ method: 'GET', url: '/collections', headers: auth });
    expect(again.headers['x-request-id']).not.toBe(fresh.headers['x-request-id']);
    for (const bad of ['x'.repeat(REQUEST_ID_LENGTH_MAX + 1), 'has space']) {
      const r = await h.app.inject({ method: 'GET', url: '/collections', headers: { ...auth, 'x-request-id': bad } });
      expect(r.headers['x-request-id']).toMatch(UUID);
    }
  });

  it('errors answer with the id too: 401, 404, 400 (bad JSON, bad URL)', async () => {
    const headers = { 'x-request-id': 'err-1' };
    expect((await h.app.inject({ method: 'GET', url: '/collections', headers })).statusCode).toBe(401);
    for (const r of [
      await h.app.inject({ method: 'GET', url: '/collections', headers }),
      await h.app.inject({ method: 'GET', url: '/no/such/route', headers: { ...headers, ...auth } }),
      await h.app.inject({ method: 'PUT', url: '/collections/x', headers: { ...headers, ...auth, 'content-type': 'application/json' }, payload: '{not json' }),
      await h.app.inject({ method: 'GET', url: '/collections/%E0%A4%A', headers: { ...headers, ...auth } }),
    ]) {
      expect(r.statusCode).toBeGreaterThanOrEqual(400);
      expect(r.headers['x-request-id'], `${r.statusCode} ${r.body}`).toBe('err-1');
    }
  });

  it("the request's log lines and its audit line carry the id", async () => {
    await h.app.inject({ method: 'GET', url: '/test/log', headers: { ...auth, 'x-request-id': 'log-1' } });
    expect(lines.find((l) => l.msg === 'a line of this request')).toMatchObject({ requestId: 'log-1', level: 40 });
    expect((await h.app.inject({ method: 'PUT', url: '/collections/audited', headers: { ...auth, 'x-request-id': 'audit-1' }, payload: { vectors: { size: 2, distance: 'Cosine' } } })).statusCode).toBe(200);
    expect(lines.find((l) => l.audit === true && l.path === '/collections/audited')).toMatchObject({ requestId: 'audit-1', status: 200 });
  });

  it('internal calls forward it, hop after hop; without one, none is made up', async () => {
    seen.length = 0;
    // Over a real socket, with a body that arrives in several chunks.
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address() as { port: number };
    const r = await fetch(`http://127.0.0.1:${address.port}/test/fan-out`, { method: 'POST', headers: { ...auth, 'x-request-id': 'fan-1', 'content-type': 'application/json' }, body: JSON.stringify({ big: 'x'.repeat(200_000) }) });
    expect(r.status, await r.text()).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('fan-1');
    expect(seen).toEqual([
      { hop: 'rest', ctx: undefined, current: 'fan-1' },
      { hop: 'b', ctx: 'fan-1', current: 'fan-1' },
      { hop: 'c', ctx: 'fan-1', current: 'fan-1' },
    ]);
    // A call outside any request (background duties) carries no id.
    seen.length = 0;
    await a.call(servers[1].address, 'middle', { json: {} }, Date.now() + 5_000);
    expect(seen).toEqual([{ hop: 'b', ctx: undefined, current: undefined }, { hop: 'c', ctx: undefined, current: undefined }]);
    // Concurrent requests keep their own ids.
    seen.length = 0;
    await Promise.all(['p-1', 'p-2', 'p-3'].map((id) => h.app.inject({ method: 'POST', url: '/test/fan-out', headers: { ...auth, 'x-request-id': id }, payload: {} })));
    for (const id of ['p-1', 'p-2', 'p-3']) expect(seen.filter((s) => s.ctx === id && s.current === id).map((s) => s.hop).sort()).toEqual(['b', 'c']);
    // An invalid id in the metadata (a peer of another version) is dropped, not passed on.
    seen.length = 0;
    await withRequestId('bad id', () => a.call(servers[1].address, 'middle', { json: {} }, Date.now() + 5_000));
    expect(seen.map((s) => s.ctx)).toEqual([undefined, undefined]);
  });
});

describe('request ids across a two-node cluster (in this process)', () => {
  let dir = '';
  const nodes: RunningNode[] = [];
  const seen: { node: string; method: string; ctx: string | undefined; current: string | undefined }[] = [];
  const api = async (n: RunningNode, method: string, p: string, body?: unknown, requestId?: string) => {
    const res = await fetch(`${n.url}${p}`, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(requestId ? { 'x-request-id': requestId } : {}) }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    return { status: res.status, requestId: res.headers.get('x-request-id'), body: await res.json() as any };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-request-id-'));
    const ports = await freeLoopbackPorts(4);
    for (let i = 0; i < 2; i++) {
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports), { clusterLog: () => undefined }));
    }
    await until('two members known to both', async () => (await Promise.all(nodes.map((n) => api(n, 'GET', '/cluster')))).every((v) => v.body.result.jade?.members.length === 2), 30_000);
    // Every internal call a node serves is recorded with the id its handler saw.
    for (const [i, n] of nodes.entries()) {
      const handlers = (n.database as ClusterDatabase).node.rpc as unknown as { handlers: Map<string, RpcHandler> };
      for (const [method, handler] of handlers.handlers) {
        handlers.handlers.set(method, (args, ctx) => {
          seen.push({ node: `n${i}`, method, ctx: ctx.requestId, current: currentRequestId() });
          return handler(args, ctx);
        });
      }
    }
    const created = await api(nodes[0], 'PUT', '/collections/spread', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 4, replication_factor: 1 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    // Shards on both nodes (one replica each): some writes and reads of n0's requests must go to n1.
    const placed = await until('shards on both nodes', async () => {
      const info = (await api(nodes[0], 'GET', '/collections/spread/cluster')).body.result;
      return info?.local_shards.length > 0 && info.remote_shards.some((r: any) => r.peer_id === 'n1' && r.state === 'Active') ? info : null;
    }, 30_000);
    expect(placed.local_shards.length + placed.remote_shards.length).toBe(4);
  }, 90_000);
  afterAll(async () => {
    for (const n of nodes) await n.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a write forwarded to a shard leader and a search fanned out to a remote shard carry the caller id to the other node', async () => {
    seen.length = 0;
    const points = Array.from({ length: 40 }, (_, i) => ({ id: i + 1, vector: [Math.cos(i), Math.sin(i)] }));
    const up = await until('upsert', async () => ((r) => (r.status === 200 ? r : null))(await api(nodes[0], 'PUT', '/collections/spread/points?wait=true', { points }, 'write-1')), 20_000);
    expect(up.requestId).toBe('write-1');
    const onOther = (id: string) => seen.filter((s) => s.node === 'n1' && s.ctx === id);
    expect(onOther('write-1').length, JSON.stringify(seen)).toBeGreaterThan(0);
    const search = await api(nodes[0], 'POST', '/collections/spread/points/search', { vector: [1, 0], limit: 40 }, 'search-1');
    expect(search.status, JSON.stringify(search.body)).toBe(200);
    expect(search.body.result.length).toBe(40);
    expect(onOther('search-1').length, JSON.stringify(seen)).toBeGreaterThan(0);
    for (const s of seen.filter((x) => x.ctx !== undefined)) expect(s.current).toBe(s.ctx);
  });
});
