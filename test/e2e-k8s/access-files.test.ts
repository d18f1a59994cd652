// spec.security.apiKeysSecret and jwtSecret on the Kubernetes API emulator, with a real node process
// as the pod: the operator mounts both Secrets and names them by env; a read key reads and is refused
// writes (403), a JWT with "access": "r" reads, the operator's own key still manages the cluster, and
// a changed keys file rolls the pod so a key added to it works without anyone restarting anything.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import { NS, condition, startE2e, vectorCluster, type E2e } from './harness.js';

const NAME = 'acc';
const POD = `${NAME}-0`;
const READ_KEY = 'reader-key-0123456789abcdef';
const WRITE_KEY = 'writer-key-0123456789abcdef';
const JWT_SECRET = 'a-jwt-secret-of-at-least-32-bytes-0123456789';
let e2e: E2e;

const keysFile = (keys: { id: string; key: string; role: string }[]) => Buffer.from(JSON.stringify(keys)).toString('base64');

function secret(name: string, data: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, type: 'Opaque', data };
}

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 180, podIpCount: 10, tmpPrefix: 'acc' });
  await e2e.operator('op-acc');
  await e2e.client.create(secret(`${NAME}-keys`, { 'keys.json': keysFile([{ id: 'reader', key: READ_KEY, role: 'read' }]) }));
  await e2e.client.create(secret(`${NAME}-jwt`, { 'jwt-secret': Buffer.from(JWT_SECRET).toString('base64') }));
  await e2e.client.create(vectorCluster(NAME, {
    replicas: 1, storage: { size: '1Gi' },
    security: { apiKeysSecret: { name: `${NAME}-keys` }, jwtSecret: { name: `${NAME}-jwt` } },
  }));
  await waitFor(async () => {
    const c = await e2e.getCluster(NAME);
    return c?.status?.phase === 'Running' && c.status.readyReplicas === 1 ? c : undefined;
  }, 120_000, 200, `${NAME} Running`);
}, 180_000);

afterAll(() => e2e?.close());

describe('API keys file and JWT secret from Secrets', { timeout: 150_000 }, () => {
  it('a read key reads and may not write; a JWT reads; the operator\'s key manages', async () => {
    const created = await e2e.podCall(POD, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Cosine' } });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    // A new collection answers 503 until its shard group has elected a leader.
    await waitFor(async () => (await e2e.podCall(POD, 'GET', '/collections/docs')).status === 200 || undefined, 30_000, 200, 'docs open');
    const read = await e2e.podCall(POD, 'GET', '/collections', undefined, { apiKey: READ_KEY });
    expect(read.status).toBe(200);
    expect(read.json.result.collections.map((c: { name: string }) => c.name)).toContain('docs');
    const refused = await e2e.podCall(POD, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 0] }] }, { apiKey: READ_KEY });
    expect(refused.status).toBe(403);
    expect(await e2e.podCall(POD, 'GET', '/collections', undefined, { apiKey: 'not-a-key-0123456789' })).toMatchObject({ status: 401 });

    const jwt = await new SignJWT({ access: 'r' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(Buffer.from(JWT_SECRET));
    expect((await e2e.podCall(POD, 'GET', '/collections/docs', undefined, { apiKey: jwt })).status).toBe(200);
    expect((await e2e.podCall(POD, 'DELETE', '/collections/docs', undefined, { apiKey: jwt })).status).toBe(403);
  });

  it('a key added to the Secret works once the operator has rolled the pod onto it', async () => {
    expect((await e2e.podCall(POD, 'GET', '/collections', undefined, { apiKey: WRITE_KEY })).status).toBe(401);
    const uidBefore = (await e2e.client.get('Pod', NS, POD)).metadata.uid;
    await e2e.client.patch('Secret', NS, `${NAME}-keys`, {
      data: { 'keys.json': keysFile([{ id: 'reader', key: READ_KEY, role: 'read' }, { id: 'writer', key: WRITE_KEY, role: 'write' }]) },
    });
    await waitFor(async () => (await e2e.podCall(POD, 'GET', '/collections', undefined, { apiKey: WRITE_KEY })).status === 200 || undefined, 120_000, 500, 'the writer key accepted');
    expect((await e2e.client.get('Pod', NS, POD)).metadata.uid).not.toBe(uidBefore);
    const upsert = await e2e.podCall(POD, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 0] }] }, { apiKey: WRITE_KEY });
    expect(upsert.status, JSON.stringify(upsert.json)).toBe(200);
    await waitFor(async () => condition(await e2e.getCluster(NAME), 'Ready')?.status === 'True' || undefined, 60_000, 300, `${NAME} Ready again`);
  });

  it('a missing keys Secret is Degraded with the reason', async () => {
    await e2e.client.create(vectorCluster(`${NAME}-nokeys`, { replicas: 1, storage: { size: '1Gi' }, security: { apiKeysSecret: { name: 'absent-keys' } } }));
    const degraded = await waitFor(async () => {
      const c = condition(await e2e.getCluster(`${NAME}-nokeys`), 'Degraded');
      return c?.status === 'True' && c.reason === 'SecretNotFound' ? c : undefined;
    }, 30_000, 200, 'Degraded/SecretNotFound');
    expect(degraded.message).toBe('API keys file Secret absent-keys not found: the pods cannot start until it exists');
    await e2e.client.delete('VectorCluster', NS, `${NAME}-nokeys`);
  });
});
