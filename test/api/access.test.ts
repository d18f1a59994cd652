// Access control (issue 18): keys with roles from a keys file beside JADE_API_KEY, Qdrant-style
// JWTs, every route's class, collection-limited keys (aliases resolved, lists filtered), per-key
// limits (429 + Retry-After), the audit line of manage operations, and secrets kept out of
// answers and logs. In-process apps (inject) plus one node listening on 127.0.0.1.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { QdrantClient } from '@qdrant/js-client-rest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_RULES, ruleOf } from '../../node/src/api/rest/access.js';
import { authRefusal, loadConfig, redactedConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { KeyLimiter } from '../../node/src/security/rate-limit.js';
import { Authenticator, ENV_ADMIN_KEY_ID } from '../../node/src/security/auth.js';
import { parseKeysFile, type ApiKeyRecord } from '../../node/src/security/keys-file.js';
import { ERROR_TABLE, type ErrorCode } from '../../node/src/util/errors.js';
import { until } from '../helpers/http-api.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { call as rawCall, GatedDisk, makeHarness, type Harness } from './harness.js';
import { standaloneConfig } from './qdrant-client.suite.js';
import { operationOf, qdrantContract } from './qdrant-schemas.js';

const ADMIN = 'admin-key-0123456789-abcdef';
const READER = 'reader-key-0123456789-abcdef';
const WRITER = 'writer-key-0123456789-abcdef';
const DOCS_READER = 'docs-reader-key-0123456789';
const DOCS_WRITER = 'docs-writer-key-0123456789';
const HASHED = 'hashed-key-0123456789-abcdef';
const JWT_SECRET = new TextEncoder().encode('jwt-secret-that-is-at-least-32-bytes-long-0123');
const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

const KEYS_FILE = JSON.stringify([
  { id: 'reader', key: READER, role: 'read' },
  { id: 'writer', key: WRITER, role: 'write' },
  { id: 'docs-reader', key: DOCS_READER, role: 'read', collections: ['docs'] },
  { id: 'docs-writer', key: DOCS_WRITER, role: 'write', collections: ['docs'] },
  { id: 'hashed', sha256: sha256hex(HASHED), role: 'read' },
]);

async function jwt(claims: Record<string, unknown>, opts: { expSeconds?: number | null; secret?: Uint8Array; sub?: string } = {}): Promise<string> {
  let t = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.expSeconds !== null) t = t.setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expSeconds ?? 600));
  if (opts.sub) t = t.setSubject(opts.sub);
  return t.sign(opts.secret ?? JWT_SECRET);
}

const contract = qdrantContract();

/** inject(), and every answer of a Qdrant route checked against Qdrant's response schema (403 and 429 included). */
async function call(target: FastifyInstance, opts: InjectOptions): ReturnType<typeof rawCall> {
  const res = await rawCall(target, opts);
  const op = operationOf(opts.method ?? 'GET', String(opts.url ?? '/'));
  if (op) contract.check(op, res.status, res.body);
  return res;
}

function expectError(res: { status: number; body: any }, code: ErrorCode, reason?: string) {
  expect({ status: res.status, code: res.body?.status?.code, reason: res.body?.status?.reason }).toEqual({ status: ERROR_TABLE[code].http, code, reason });
}

/** Log lines (parsed) of an app built with this logger. */
function logSink(): { logger: Record<string, unknown>; lines: Record<string, any>[]; raw: string[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return {
    logger: { level: 'warn', stream },
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, any>);
    },
  };
}

const VEC = { size: 2, distance: 'Dot' } as const;
let h: Harness;
let logs: ReturnType<typeof logSink>;
let keys: ApiKeyRecord[];

beforeAll(async () => {
  keys = parseKeysFile(KEYS_FILE);
  logs = logSink();
  h = await makeHarness({ auth: new Authenticator({ apiKey: ADMIN, publicPaths: ['/healthz', '/readyz'], keys, jwtSecret: JWT_SECRET }), logger: logs.logger });
  for (const name of ['docs', 'other']) {
    expect((await call(h.app, { method: 'PUT', url: `/collections/${name}`, headers: { 'api-key': ADMIN }, payload: { vectors: VEC } })).status).toBe(200);
  }
  const aliases = { actions: [{ create_alias: { alias_name: 'docs-live', collection_name: 'docs' } }, { create_alias: { alias_name: 'other-live', collection_name: 'other' } }] };
  expect((await call(h.app, { method: 'POST', url: '/collections/aliases', headers: { 'api-key': ADMIN }, payload: aliases })).status).toBe(200);
});
afterAll(async () => {
  await h?.close();
});

/** One request of each class; `coll` requests name a collection (or alias). */
const REQUESTS = {
  open: [{ method: 'GET', url: '/' }, { method: 'GET', url: '/openapi.json' }],
  list: [{ method: 'GET', url: '/collections' }, { method: 'GET', url: '/aliases' }],
  nodeRead: [{ method: 'GET', url: '/v1/status' }, { method: 'GET', url: '/metrics' }],
  read: [
    { method: 'POST', url: '/collections/docs/points/search', payload: { vector: [1, 0], limit: 1 } },
    { method: 'GET', url: '/collections/docs' },
    { method: 'POST', url: '/collections/docs/points/count', payload: {} },
    { method: 'POST', url: '/collections/docs/points/scroll', payload: {} },
  ],
  write: [
    { method: 'PUT', url: '/collections/docs/points', payload: { points: [{ id: 1, vector: [1, 0] }] } },
    { method: 'POST', url: '/collections/docs/points/payload', payload: { payload: { a: 1 }, points: [1] } },
    { method: 'PUT', url: '/collections/docs/index', payload: { field_name: 'a', field_schema: 'integer' } },
  ],
  manage: [
    // Each answers without changing anything for an admin: a 200 false, or a coded 400/404.
    { method: 'DELETE', url: '/collections/never-made' },
    { method: 'PATCH', url: '/collections/docs', payload: {} },
    { method: 'POST', url: '/collections/aliases', payload: { actions: [{ delete_alias: { alias_name: 'no-such-alias' } }] } },
    { method: 'GET', url: '/cluster' },
    { method: 'POST', url: '/cluster/rebalance?dry_run=true' },
    { method: 'POST', url: '/cluster/peer/n1/drain' },
    { method: 'GET', url: '/backups' },
    { method: 'POST', url: '/collections/docs/snapshots' },
  ],
} satisfies Record<string, InjectOptions[]>;
type RequestClass = keyof typeof REQUESTS;

async function expectAllowed(headers: Record<string, string>, classes: RequestClass[]) {
  for (const c of classes) {
    for (const r of REQUESTS[c]) {
      const res = await call(h.app, { ...r, headers } as InjectOptions);
      expect([401, 403, 429], `${r.method} ${r.url} (${c}) should be allowed: ${JSON.stringify(res.body)}`).not.toContain(res.status);
    }
  }
}

async function expectForbidden(headers: Record<string, string>, classes: RequestClass[], reason: string) {
  for (const c of classes) {
    for (const r of REQUESTS[c]) {
      const res = await call(h.app, { ...r, headers } as InjectOptions);
      expect({ route: `${r.method} ${r.url}`, status: res.status, code: res.body?.status?.code, reason: res.body?.status?.reason }).toEqual({ route: `${r.method} ${r.url}`, status: 403, code: 'JADE_ERR_FORBIDDEN', reason });
    }
  }
}

describe('roles × route classes', () => {
  it('admin (JADE_API_KEY, api-key header as the operator sends it): everything', async () => {
    await expectAllowed({ 'api-key': ADMIN }, ['open', 'list', 'nodeRead', 'read', 'write', 'manage']);
  });

  it('write: reads and writes of data on every collection; no manage', async () => {
    await expectAllowed({ 'api-key': WRITER }, ['open', 'list', 'nodeRead', 'read', 'write']);
    await expectForbidden({ 'api-key': WRITER }, ['manage'], 'ROLE_TOO_LOW');
    const create = await call(h.app, { method: 'PUT', url: '/collections/by-writer', headers: { 'api-key': WRITER }, payload: { vectors: VEC } });
    expectError(create, 'JADE_ERR_FORBIDDEN', 'ROLE_TOO_LOW');
    expect(h.catalog.names()).not.toContain('by-writer');
  });

  it('read: reads, /v1/status and /metrics; no write, no manage', async () => {
    for (const headers of [{ 'api-key': READER }, { authorization: `Bearer ${READER}` }, { 'api-key': HASHED }] as Record<string, string>[]) {
      await expectAllowed(headers, ['open', 'list', 'nodeRead', 'read']);
      await expectForbidden(headers, ['write', 'manage'], 'ROLE_TOO_LOW');
    }
    const metrics = await call(h.app, { method: 'GET', url: '/metrics', headers: { 'api-key': READER } });
    expect(metrics.status).toBe(200);
    expect(String(metrics.body)).toContain('# HELP');
  });

  it('a collection-limited key: its collection only, node-wide routes refused', async () => {
    await expectAllowed({ 'api-key': DOCS_WRITER }, ['open', 'list', 'read', 'write']);
    await expectForbidden({ 'api-key': DOCS_WRITER }, ['nodeRead'], 'NODE_ACCESS_REQUIRED');
    // Managing is global even on its own collection (Qdrant's "m").
    await expectForbidden({ 'api-key': DOCS_WRITER }, ['manage'], 'NODE_ACCESS_REQUIRED');
    await expectAllowed({ 'api-key': DOCS_READER }, ['open', 'list', 'read']);
    await expectForbidden({ 'api-key': DOCS_READER }, ['write'], 'ROLE_TOO_LOW');
  });

  it('no key: 401 MISSING_CREDENTIALS; a wrong key: 401 INVALID_KEY; probes stay open', async () => {
    for (const c of Object.keys(REQUESTS) as RequestClass[]) {
      for (const r of REQUESTS[c]) {
        expectError(await call(h.app, r as InjectOptions), 'JADE_ERR_UNAUTHENTICATED', 'MISSING_CREDENTIALS');
        expectError(await call(h.app, { ...r, headers: { 'api-key': `${READER}x` } } as InjectOptions), 'JADE_ERR_UNAUTHENTICATED', 'INVALID_KEY');
      }
    }
    expect((await call(h.app, { method: 'GET', url: '/healthz' })).status).toBe(200);
    expect((await call(h.app, { method: 'GET', url: '/readyz' })).status).toBe(200);
  });

  it('every registered route has a rule, and every rule a route', async () => {
    const doc = (await call(h.app, { method: 'GET', url: '/openapi.json', headers: { 'api-key': ADMIN } })).body as { paths: Record<string, Record<string, unknown>> };
    const registered = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    registered.push('GET /openapi.json');
    expect(registered.filter((r) => !(r in ROUTE_RULES))).toEqual([]);
    // Test hooks are off here, so their route is not registered.
    expect(Object.keys(ROUTE_RULES).filter((r) => !registered.includes(r) && r !== 'POST /internal/v1/faults')).toEqual([]);
    // The OpenAPI document says what each route needs; probes need nothing.
    expect(doc.paths['/healthz'].get).toMatchObject({ security: [], 'x-jade-access': 'no key' });
    expect(doc.paths['/collections/{name}/points'].put).toMatchObject({ 'x-jade-access': 'write on the collection (aliases resolved)' });
    expect(Object.keys((doc.paths['/collections/{name}/points'].put as any).responses)).toEqual(expect.arrayContaining(['401', '403', '429']));
    expect(doc.paths['/cluster/rebalance'].post).toMatchObject({ 'x-jade-access': 'admin (the whole node)' });
    expect(ruleOf('POST', '/a/route/nobody/classified')).toEqual({ class: 'manage', collection: false });
    expect(ruleOf('HEAD', '/collections')).toEqual(ROUTE_RULES['GET /collections']);
  });
});

describe('collection-limited keys: aliases and lists', () => {
  it('an alias resolves to its collection before the check', async () => {
    const search = (name: string, key: string) => call(h.app, { method: 'POST', url: `/collections/${name}/points/search`, headers: { 'api-key': key }, payload: { vector: [1, 0], limit: 1 } });
    expect((await search('docs-live', DOCS_READER)).status).toBe(200);
    expectError(await search('other', DOCS_READER), 'JADE_ERR_FORBIDDEN', 'COLLECTION_NOT_GRANTED');
    expectError(await search('other-live', DOCS_READER), 'JADE_ERR_FORBIDDEN', 'COLLECTION_NOT_GRANTED');
    const upsert = (name: string) => call(h.app, { method: 'PUT', url: `/collections/${name}/points`, headers: { 'api-key': DOCS_WRITER }, payload: { points: [{ id: 7, vector: [0, 1] }] } });
    expect((await upsert('docs-live')).status).toBe(200);
    expectError(await upsert('other-live'), 'JADE_ERR_FORBIDDEN', 'COLLECTION_NOT_GRANTED');
    expect(h.catalog.get('other').shard.state.count).toBe(0);
  });

  it('an alias repointed while the body arrives is checked again before the handler', async () => {
    const body = new PassThrough();
    const pending = call(h.app, { method: 'PUT', url: '/collections/docs-live/points', headers: { 'api-key': DOCS_WRITER, 'content-type': 'application/json' }, payload: body });
    await new Promise((r) => setTimeout(r, 20));
    const repoint = (to: string) => call(h.app, { method: 'POST', url: '/collections/aliases', headers: { 'api-key': ADMIN }, payload: { actions: [{ create_alias: { alias_name: 'docs-live', collection_name: to } }] } });
    expect((await repoint('other')).status).toBe(200);
    body.end(JSON.stringify({ points: [{ id: 99, vector: [1, 1] }] }));
    try {
      expectError(await pending, 'JADE_ERR_FORBIDDEN', 'COLLECTION_NOT_GRANTED');
      expect(h.catalog.get('other').shard.state.count).toBe(0);
    } finally {
      expect((await repoint('docs')).status).toBe(200);
    }
  });

  it('GET /collections and GET /aliases list only the key\'s collections', async () => {
    const names = async (key: string) => (await call(h.app, { method: 'GET', url: '/collections', headers: { 'api-key': key } })).body.result.collections.map((c: { name: string }) => c.name).sort();
    expect(await names(DOCS_READER)).toEqual(['docs']);
    expect(await names(READER)).toEqual(['docs', 'other']);
    const aliases = async (key: string) => (await call(h.app, { method: 'GET', url: '/aliases', headers: { 'api-key': key } })).body.result.aliases;
    expect(await aliases(DOCS_READER)).toEqual([{ alias_name: 'docs-live', collection_name: 'docs' }]);
    expect((await aliases(ADMIN)).length).toBe(2);
    const limited = await jwt({ access: [{ collection: 'other', access: 'r' }] });
    expect(await names(limited)).toEqual(['other']);
  });
});

describe('JWT (Qdrant\'s RBAC claims)', () => {
  it('global "m" manages, global "r" reads, in the api-key header or as a Bearer token', async () => {
    const m = await jwt({ access: 'm' }, { sub: 'ops' });
    await expectAllowed({ 'api-key': m }, ['open', 'list', 'nodeRead', 'read', 'write', 'manage']);
    const r = await jwt({ access: 'r' });
    await expectAllowed({ authorization: `Bearer ${r}` }, ['open', 'list', 'nodeRead', 'read']);
    await expectForbidden({ authorization: `Bearer ${r}` }, ['write', 'manage'], 'ROLE_TOO_LOW');
  });

  it('a per-collection list: "rw" on one, "r" on another, nothing elsewhere', async () => {
    const t = await jwt({ access: [{ collection: 'docs', access: 'rw' }, { collection: 'other', access: 'r' }] });
    const headers = { 'api-key': t };
    await expectAllowed(headers, ['read', 'write']);
    await expectForbidden(headers, ['nodeRead', 'manage'], 'NODE_ACCESS_REQUIRED');
    expectError(await call(h.app, { method: 'PUT', url: '/collections/other/points', headers, payload: { points: [{ id: 1, vector: [1, 0] }] } }), 'JADE_ERR_FORBIDDEN', 'ROLE_TOO_LOW');
    expect((await call(h.app, { method: 'POST', url: '/collections/other-live/points/count', headers, payload: {} })).status).toBe(200);
  });

  it('expired, wrongly signed, unsigned, without exp or access, or with unsupported claims: 401 with a reason', async () => {
    const url = '/collections/docs/points/count';
    const expect401 = async (token: string, reason: string) => expectError(await call(h.app, { method: 'POST', url, headers: { 'api-key': token }, payload: {} }), 'JADE_ERR_UNAUTHENTICATED', reason);
    await expect401(await jwt({ access: 'm' }, { expSeconds: -60 }), 'TOKEN_EXPIRED');
    await expect401(await jwt({ access: 'm' }, { secret: new TextEncoder().encode('another-secret-of-more-than-32-bytes-xyz') }), 'INVALID_TOKEN');
    await expect401(new UnsecuredJWT({ access: 'm' }).setExpirationTime('10m').encode(), 'INVALID_TOKEN');
    await expect401(await jwt({ access: 'm' }, { expSeconds: null }), 'INVALID_TOKEN');
    await expect401(await jwt({}), 'INVALID_TOKEN');
    await expect401(await jwt({ access: 'x' }), 'INVALID_TOKEN');
    await expect401(await jwt({ access: [{ collection: 'docs', access: 'm' }] }), 'INVALID_TOKEN');
    await expect401(await jwt({ access: [{ collection: 'docs', access: 'r', payload: { tenant: 'a' } }] }), 'UNSUPPORTED_CLAIM');
    await expect401(await jwt({ access: 'r', value_exists: { collection: 'users', matches: [] } }), 'UNSUPPORTED_CLAIM');
    // A token signed with HS256 whose header is tampered to another algorithm.
    const good = await jwt({ access: 'r' });
    const [, body, sig] = good.split('.');
    await expect401(`${Buffer.from(JSON.stringify({ alg: 'HS512' })).toString('base64url')}.${body}.${sig}`, 'INVALID_TOKEN');
  });

  it('a token is named by its sub, or by a digest prefix (never by the token)', async () => {
    const auth = new Authenticator({ apiKey: null, publicPaths: [], jwtSecret: JWT_SECRET });
    expect((await auth.authenticate({ 'api-key': await jwt({ access: 'r' }, { sub: 'alice@example.com' }) })).id).toBe('jwt:alice@example.com');
    const anonymous = await jwt({ access: 'r' });
    expect((await auth.authenticate({ authorization: `Bearer ${anonymous}` })).id).toBe(`jwt:sha256:${sha256hex(anonymous).slice(0, 16)}`);
  });

  it('without a JWT secret a token is just a wrong key', async () => {
    const plain = await makeHarness({ apiKey: ADMIN });
    try {
      expectError(await call(plain.app, { method: 'GET', url: '/collections', headers: { 'api-key': await jwt({ access: 'm' }) } }), 'JADE_ERR_UNAUTHENTICATED', 'INVALID_KEY');
    } finally {
      await plain.close();
    }
  });
});

describe('per-key limits: 429 JADE_ERR_RATE_LIMITED with Retry-After', () => {
  it('a token bucket per key: the burst passes, the next waits; other keys are not affected', async () => {
    const sink = logSink();
    const own = await makeHarness({ auth: new Authenticator({ apiKey: ADMIN, publicPaths: ['/healthz'], keys }), limits: { keyRequestsPerSecondMax: 1, keyRequestsBurstMax: 3 }, logger: sink.logger });
    try {
      const get = (key: string) => call(own.app, { method: 'GET', url: '/collections', headers: { 'api-key': key } });
      for (let i = 0; i < 3; i++) expect((await get(READER)).status).toBe(200);
      const limited = await get(READER);
      expectError(limited, 'JADE_ERR_RATE_LIMITED', 'REQUEST_RATE');
      expect(Number(limited.res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await get(WRITER)).status).toBe(200);
      // A manage request refused for the rate is audited under its key.
      expectError(await call(own.app, { method: 'POST', url: '/cluster/rebalance', headers: { 'api-key': READER } }), 'JADE_ERR_RATE_LIMITED', 'REQUEST_RATE');
      expect(sink.lines.filter((l) => l.audit)).toMatchObject([{ keyId: 'reader', route: '/cluster/rebalance', status: 429 }]);
      // Probes are never limited.
      for (let i = 0; i < 5; i++) expect((await call(own.app, { method: 'GET', url: '/healthz' })).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('the bucket refills at the rate; a key of the keys file may have its own limits', () => {
    let now = 0;
    const limiter = new KeyLimiter({ requestsPerSecondMax: 2, requestsBurstMax: 2, requestsInFlightMax: 0 }, () => now);
    const p = { id: 'k', kind: 'key', global: 'read', collections: null } as const;
    limiter.acquire(p)();
    limiter.acquire(p)();
    expect(() => limiter.acquire(p)).toThrow(/request rate/);
    now += 500; // one token back at 2/s
    limiter.acquire(p)();
    expect(() => limiter.acquire(p)).toThrow(/request rate/);
    const own = parseKeysFile(JSON.stringify([{ id: 'slow', key: READER, role: 'read', requests_per_second_max: 1, requests_burst_max: 1 }]))[0];
    const slow = { id: own.id, kind: 'key', global: 'read', collections: null, limits: own.limits } as const;
    limiter.acquire(slow)();
    expect(() => limiter.acquire(slow)).toThrow(/1\/s, burst 1/);
  });

  it('requests in flight per key: past the cap a 429 with Retry-After: 1, free again once they end', async () => {
    const disk = new GatedDisk();
    const own = await makeHarness({ disk, auth: new Authenticator({ apiKey: ADMIN, publicPaths: [], keys }), limits: { keyRequestsInFlightMax: 1 } });
    try {
      expect((await call(own.app, { method: 'PUT', url: '/collections/c', headers: { 'api-key': ADMIN }, payload: { vectors: VEC } })).status).toBe(200);
      disk.closeGate();
      const held = call(own.app, { method: 'PUT', url: '/collections/c/points', headers: { 'api-key': WRITER }, payload: { points: [{ id: 1, vector: [1, 0] }] } });
      while (disk.waitingSyncs === 0) await new Promise((r) => setTimeout(r, 5));
      const second = await call(own.app, { method: 'POST', url: '/collections/c/points/count', headers: { 'api-key': WRITER }, payload: {} });
      expectError(second, 'JADE_ERR_RATE_LIMITED', 'REQUESTS_IN_FLIGHT');
      expect(second.res.headers['retry-after']).toBe('1');
      expect((await call(own.app, { method: 'POST', url: '/collections/c/points/count', headers: { 'api-key': READER }, payload: {} })).status).toBe(200);
      disk.releaseGate();
      expect((await held).status).toBe(200);
      expect((await call(own.app, { method: 'POST', url: '/collections/c/points/count', headers: { 'api-key': WRITER }, payload: {} })).status).toBe(200);
    } finally {
      disk.releaseGate();
      await own.close();
    }
  });
});

describe('audit log and secrets', () => {
  const SECRETS = [ADMIN, READER, WRITER, DOCS_READER, DOCS_WRITER, HASHED];

  it('one line per manage operation: key id, method, route, collection, status, duration; never the key', async () => {
    const before = logs.raw.length;
    const token = await jwt({ access: 'm' }, { sub: 'deployer' });
    expect((await call(h.app, { method: 'PUT', url: '/collections/audited', headers: { 'api-key': ADMIN }, payload: { vectors: VEC } })).status).toBe(200);
    expect((await call(h.app, { method: 'DELETE', url: '/collections/audited', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expectError(await call(h.app, { method: 'DELETE', url: '/collections/docs-live', headers: { 'api-key': WRITER } }), 'JADE_ERR_FORBIDDEN', 'ROLE_TOO_LOW');
    // Without a valid key: one line per route and second at most (they cost the sender nothing).
    for (let i = 0; i < 5; i++) expectError(await call(h.app, { method: 'POST', url: '/cluster/bootstrap' }), 'JADE_ERR_UNAUTHENTICATED', 'MISSING_CREDENTIALS');
    // Reads and data writes are not audited.
    await call(h.app, { method: 'POST', url: '/collections/docs/points/count', headers: { 'api-key': ADMIN }, payload: {} });
    await call(h.app, { method: 'GET', url: '/cluster', headers: { 'api-key': ADMIN } });
    const audit = logs.lines.slice(0).filter((l, i) => i >= before && l.audit === true);
    expect(audit.map(({ keyId, method, route, path: p, collection, status }) => ({ keyId, method, route, path: p, collection, status }))).toEqual([
      { keyId: ENV_ADMIN_KEY_ID, method: 'PUT', route: '/collections/:name', path: '/collections/audited', collection: 'audited', status: 200 },
      { keyId: 'jwt:deployer', method: 'DELETE', route: '/collections/:name', path: '/collections/audited', collection: 'audited', status: 200 },
      // The alias is resolved: the line names the collection it would have deleted.
      { keyId: 'writer', method: 'DELETE', route: '/collections/:name', path: '/collections/docs-live', collection: 'docs', status: 403 },
      { keyId: null, method: 'POST', route: '/cluster/bootstrap', path: '/cluster/bootstrap', collection: null, status: 401 },
    ]);
    for (const line of audit) {
      expect(line.level).toBe(30);
      expect(typeof line.durationMs).toBe('number');
      expect(line.msg).toBe('audit');
    }
    const all = logs.raw.join('\n');
    for (const s of [...SECRETS, token]) expect(all).not.toContain(s);
  });

  it('the alias change names its collections', async () => {
    const before = logs.raw.length;
    expect((await call(h.app, { method: 'POST', url: '/collections/aliases', headers: { 'api-key': ADMIN }, payload: { actions: [{ create_alias: { alias_name: 'docs-2', collection_name: 'docs' } }, { delete_alias: { alias_name: 'docs-2' } }] } })).status).toBe(200);
    const line = logs.lines.slice(before).find((l) => l.audit === true);
    expect(line).toMatchObject({ keyId: ENV_ADMIN_KEY_ID, route: '/collections/aliases', names: ['docs', 'docs-2'], status: 200 });
  });

  it('no key or token is in /v1/status, the OpenAPI document, an error, or the keys file\'s errors', async () => {
    const token = await jwt({ access: 'm' });
    const answers = [
      await call(h.app, { method: 'GET', url: '/v1/status', headers: { 'api-key': ADMIN } }),
      await call(h.app, { method: 'GET', url: '/openapi.json', headers: { 'api-key': token } }),
      await call(h.app, { method: 'GET', url: '/collections', headers: { 'api-key': `${ADMIN}x` } }),
      await call(h.app, { method: 'PUT', url: '/collections/docs/points', headers: { 'api-key': READER }, payload: { points: [] } }),
    ];
    for (const a of answers) for (const s of [...SECRETS, token]) expect(a.res.body).not.toContain(s);
    const bad = [
      `[{"id": "x", "key": "${READER}", "role": "root"}]`,
      `[{"id": "x", "key": "${READER}", "role": "read", "collection": ["docs"]}]`,
      `[{"id": "x", "key": "${READER}", "role": "admin", "collections": ["docs"]}]`,
      `[{"id": "x", "key": "${READER}", "role": "read"}, {"id": "y", "key": "${READER}", "role": "write"}]`,
      `[{"id": "x", "key": "${READER}", "role": "read",}]`,
      `[{"id": "x", "key": "short", "role": "read"}]`,
      `[{"id": "bad id", "key": "${READER}", "role": "read"}]`,
      '[]',
    ];
    for (const text of bad) {
      let message = '';
      try {
        parseKeysFile(text);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, text).toMatch(/^JADE_API_KEYS_FILE: /);
      expect(message).not.toContain(READER);
    }
  });
});

describe('settings', () => {
  it('loadConfig reads the access settings; a keys file or a JWT secret alone is authentication enough', () => {
    const c = loadConfig({ JADE_API_KEYS_FILE: '/k.json', JADE_JWT_SECRET_FILE: '/j', JADE_KEY_REQUESTS_PER_SECOND_MAX: '50', JADE_KEY_REQUESTS_BURST_MAX: '100', JADE_KEY_REQUESTS_IN_FLIGHT_MAX: '8', JADE_HEADERS_TIMEOUT_MS: '10000', JADE_REQUEST_RECEIVE_TIMEOUT_MS: '20000' });
    expect({ f: c.apiKeysFile, j: c.jwtSecretFile, r: c.limits.keyRequestsPerSecondMax, b: c.limits.keyRequestsBurstMax, i: c.limits.keyRequestsInFlightMax, ht: c.limits.headersTimeoutMs, rt: c.limits.requestReceiveTimeoutMs }).toEqual({ f: '/k.json', j: '/j', r: 50, b: 100, i: 8, ht: 10_000, rt: 20_000 });
    expect(authRefusal(loadConfig({ JADE_HOST: '0.0.0.0', JADE_API_KEYS_FILE: '/k.json' }))).toBeNull();
    expect(authRefusal(loadConfig({ JADE_HOST: '0.0.0.0', JADE_JWT_SECRET_FILE: '/j' }))).toBeNull();
    expect(authRefusal(loadConfig({ JADE_HOST: '0.0.0.0' }))).toMatch(/JADE_API_KEYS_FILE or JADE_JWT_SECRET_FILE/);
    expect(() => loadConfig({ JADE_HEADERS_TIMEOUT_MS: '30000', JADE_REQUEST_RECEIVE_TIMEOUT_MS: '10000' })).toThrow(/headersTimeoutMs/);
    // What the start-up line logs: the files' paths, never a key.
    const shown = JSON.stringify(redactedConfig(loadConfig({ JADE_API_KEY: ADMIN, JADE_API_KEYS_FILE: '/run/keys.json', JADE_JWT_SECRET_FILE: '/run/jwt' })));
    expect(shown).not.toContain(ADMIN);
    expect(shown).toContain('/run/keys.json');
  });

  it('a client that sends its headers or its body too slowly gets a 408 and the connection closed', async () => {
    const own = await makeHarness({ limits: { headersTimeoutMs: 1_000, requestReceiveTimeoutMs: 1_500 } });
    try {
      await own.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (own.app.server.address() as { port: number }).port;
      const stall = (bytes: string) =>
        new Promise<{ answer: string; ms: number }>((resolve, reject) => {
          const started = Date.now();
          const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
          let answer = '';
          socket.on('data', (d) => (answer += String(d)));
          socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
          socket.on('error', reject);
          setTimeout(() => reject(new Error('the server kept a stalled connection open')), 10_000).unref();
        });
      const headers = await stall('GET /collections HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      expect(headers.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(headers.answer).toContain('JADE_ERR_REQUEST_TIMEOUT');
      const body = await stall('PUT /collections/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vectors":');
      expect(body.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(body.ms).toBeGreaterThanOrEqual(1_400);
      expect(own.catalog.names()).not.toContain('slow');
    } finally {
      await own.close();
    }
  });

  it('the HTTP server gets the slow-client timeouts (fastify would leave the request unbounded)', async () => {
    const own = await makeHarness({ limits: { headersTimeoutMs: 7_000, requestReceiveTimeoutMs: 9_000 } });
    try {
      expect({ headers: own.app.server.headersTimeout, request: own.app.server.requestTimeout }).toEqual({ headers: 7_000, request: 9_000 });
    } finally {
      await own.close();
    }
  });
});

describe('a node listening on 127.0.0.1 with a keys file and a JWT secret file', () => {
  let dir: string;
  let node: RunningNode;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-access-'));
    writeFileSync(path.join(dir, 'keys.json'), KEYS_FILE);
    writeFileSync(path.join(dir, 'jwt.secret'), `${Buffer.from(JWT_SECRET).toString()}\n`);
    const config = loadConfig({ JADE_DATA_DIR: path.join(dir, 'data'), JADE_PORT: '0', JADE_API_GRPC_PORT: '0', JADE_API_KEY: ADMIN, JADE_API_KEYS_FILE: path.join(dir, 'keys.json'), JADE_JWT_SECRET_FILE: path.join(dir, 'jwt.secret') });
    const stream = new Writable({
      write(chunk, _e, done) {
        lines.push(String(chunk));
        done();
      },
    });
    node = await startNode(config, { logger: { level: 'info', stream } });
  });
  afterAll(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keys and JWTs from the files work over HTTP; the operator\'s admin calls keep working', async () => {
    const req = (method: string, p: string, headers: Record<string, string>, body?: unknown) =>
      fetch(`${node.url}${p}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await req('PUT', '/collections/docs', { 'api-key': ADMIN }, { vectors: VEC })).status).toBe(200);
    expect((await req('PUT', '/collections/private', { 'api-key': ADMIN }, { vectors: VEC })).status).toBe(200);
    expect((await req('PUT', '/collections/docs/points', { 'api-key': WRITER }, { points: [{ id: 1, vector: [1, 0] }] })).status).toBe(200);
    const denied = await req('PUT', '/collections/docs/points', { 'api-key': READER }, { points: [{ id: 2, vector: [1, 0] }] });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).status.reason).toBe('ROLE_TOO_LOW');
    const t = await jwt({ access: [{ collection: 'docs', access: 'r' }] });
    expect((await req('POST', '/collections/docs/points/count', { authorization: `Bearer ${t}` }, {})).status).toBe(200);
    // What the operator calls, with the api-key header: status, and the admin routes (400 here: standalone).
    expect((await req('GET', '/v1/status', { 'api-key': ADMIN })).status).toBe(200);
    expect((await req('POST', '/cluster/bootstrap', { 'api-key': ADMIN })).status).toBe(400);
    expect((await req('POST', '/cluster/peer/n1/drain', { 'api-key': ADMIN })).status).toBe(400);
    expect((await req('DELETE', '/cluster/peer/n1', { 'api-key': ADMIN })).status).toBe(400);
    expect((await req('GET', '/healthz', {})).status).toBe(200);
    const all = lines.join('');
    expect(all).toContain('"audit":true');
    for (const s of [ADMIN, READER, WRITER, t, Buffer.from(JWT_SECRET).toString()]) expect(all).not.toContain(s);
  });

  it('@qdrant/js-client-rest with a JWT as its apiKey: filtered list, 403 surfaced as its error', async () => {
    const token = await jwt({ access: [{ collection: 'docs', access: 'r' }] }, { sub: 'client' });
    const client = new QdrantClient({ url: node.url, apiKey: token, https: false, checkCompatibility: false });
    expect((await client.getCollections()).collections.map((c) => c.name)).toEqual(['docs']);
    expect((await client.count('docs')).count).toBeGreaterThanOrEqual(0);
    const denied = await client.upsert('docs', { points: [{ id: 3, vector: [1, 1] }] }).then(() => null, (e: { status?: number }) => e);
    expect(denied?.status).toBe(403);
  });

  it('a keys file that cannot be used stops the node, naming the entry, never its key', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ id: 'x', key: READER, role: 'superuser' }]));
    const config = loadConfig({ JADE_DATA_DIR: path.join(dir, 'data2'), JADE_PORT: '0', JADE_API_GRPC_PORT: '0', JADE_API_KEYS_FILE: bad });
    const err = await startNode(config, { logger: false }).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/JADE_API_KEYS_FILE: entry 0 \(id "x"\): role must be one of/);
    expect(err?.message).not.toContain(READER);
    writeFileSync(path.join(dir, 'short.secret'), 'too-short');
    const short = await startNode(loadConfig({ JADE_DATA_DIR: path.join(dir, 'data3'), JADE_PORT: '0', JADE_API_GRPC_PORT: '0', JADE_JWT_SECRET_FILE: path.join(dir, 'short.secret') }), { logger: false }).then(() => null, (e: Error) => e);
    expect(short?.message).toMatch(/JADE_JWT_SECRET_FILE: the secret must be at least 32 bytes/);
  });
});

describe('a one-node cluster (bootstrapped, 127.0.0.1) with a keys file', () => {
  let dir: string;
  let node: RunningNode;
  const req = async (method: string, p: string, key: string | null, body?: unknown) => {
    const res = await fetch(`${node.url}${p}`, { method, headers: { ...(key ? { 'api-key': key } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-access-cluster-'));
    writeFileSync(path.join(dir, 'keys.json'), KEYS_FILE);
    const [port, grpcPort] = await freeLoopbackPorts(2);
    node = await startNode(standaloneConfig({ nodeId: 'n0', dataDir: path.join(dir, 'n0'), port, grpcPort, bootstrap: true, apiKey: ADMIN, apiKeysFile: path.join(dir, 'keys.json') }), { clusterLog: () => undefined });
    await until('a member', async () => (await req('GET', '/readyz', null)).status === 200, 30_000);
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cluster routes are admin only; aliases resolve through the meta state; data keys keep to their collections', async () => {
    expect((await req('GET', '/cluster', ADMIN)).body.result.status).toBe('enabled');
    expect((await req('GET', '/cluster', WRITER)).body.status.reason).toBe('ROLE_TOO_LOW');
    expect((await req('POST', '/cluster/rebalance?dry_run=true', DOCS_WRITER)).body.status.reason).toBe('NODE_ACCESS_REQUIRED');
    expect((await req('POST', '/cluster/rebalance?dry_run=true', ADMIN)).status).toBe(200);
    for (const c of ['docs', 'other']) expect((await req('PUT', `/collections/${c}`, ADMIN, { vectors: VEC, replication_factor: 1 })).status).toBe(200);
    expect((await req('POST', '/collections/aliases', ADMIN, { actions: [{ create_alias: { alias_name: 'live', collection_name: 'docs' } }] })).status).toBe(200);
    expect((await req('PUT', '/collections/live/points', DOCS_WRITER, { points: [{ id: 1, vector: [1, 0] }] })).status).toBe(200);
    expect((await req('PUT', '/collections/other/points', DOCS_WRITER, { points: [{ id: 1, vector: [1, 0] }] })).body.status.reason).toBe('COLLECTION_NOT_GRANTED');
    expect((await req('POST', '/collections/live/points/count', DOCS_READER, {})).body.result.count).toBe(1);
    expect((await req('GET', '/collections', DOCS_READER)).body.result.collections).toEqual([{ name: 'docs' }]);
    expect((await req('GET', '/collections/docs/cluster', DOCS_WRITER)).body.status.reason).toBe('NODE_ACCESS_REQUIRED');
  });
});
