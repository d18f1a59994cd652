// Node-to-node mutual TLS (issue 18): three in-process nodes with certificates from one CA form a
// cluster over mTLS gRPC, replicate a write and read it back on every node; a node whose certificate
// comes from another CA, and a node without TLS, cannot join (and nothing of the cluster reaches
// them); a replaced certificate is served to new connections without a restart.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { loadTlsPair } from '../../node/src/security/tls.js';
import { startNodeTls } from '../../node/src/node-tls.js';
import type { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { createCrl, type IssuedPem } from '../../operator/src/certs/x509.js';
import { clusterMemberConfig } from '../api/qdrant-client.suite.js';
import { until } from '../helpers/http-api.js';
import { issueNodeCert, makeTestCa, writeNodeTlsFiles, type NodeTlsFiles } from '../helpers/node-certs.js';
import { freeLoopbackPorts } from '../helpers/ports.js';

const SECRET = 'node-mtls-test-cluster-secret-0123456789';

function logSink(lines: string[]): Record<string, unknown> {
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(String((JSON.parse(l) as { msg?: string }).msg ?? ''));
      done();
    },
  });
  return { level: 'info', stream };
}

async function api(n: RunningNode, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${n.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.json() };
}

/** The serial of the certificate a TLS server at 127.0.0.1:port presents to a client with `files`. */
function servedSerial(port: number, ca: IssuedPem, client: IssuedPem): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: ca.certPem, cert: client.certPem, key: client.keyPem, ALPNProtocols: ['h2'] }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

describe('node-to-node mutual TLS', () => {
  let dir = '';
  let ports: number[] = [];
  let ca: IssuedPem;
  const files: NodeTlsFiles[] = [];
  const nodes: RunningNode[] = [];
  const logs: string[][] = [[], [], [], [], []];

  const members = async (n: RunningNode): Promise<string[]> => ((await api(n, 'GET', '/cluster')).body.result.jade?.members ?? []).map((m: { id: string }) => m.id).sort();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-mtls-'));
    ports = await freeLoopbackPorts(10);
    ca = await makeTestCa();
    for (let i = 0; i < 3; i++) {
      files.push(await writeNodeTlsFiles(path.join(dir, `tls${i}`), ca, await issueNodeCert(ca)));
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports, { clusterSecret: SECRET, nodeTls: files[i] }), { logger: logSink(logs[i]), clusterLog: (l) => logs[i].push(l) }));
    }
    await until('three members known to all', async () => (await Promise.all(nodes.map(members))).every((m) => m.length === 3), 30_000);
  }, 90_000);
  afterAll(async () => {
    for (const n of nodes) await n.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forms, replicates a write to every node and reads it on each', async () => {
    expect((nodes[0].database as ClusterDatabase).node.transport.tlsEnabled).toBe(true);
    const created = await api(nodes[0], 'PUT', '/collections/c', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 1, replication_factor: 3 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const points = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, vector: [Math.cos(i), Math.sin(i)], payload: { i } }));
    await until('upsert', async () => (await api(nodes[1], 'PUT', '/collections/c/points?wait=true', { points })).status === 200, 20_000);
    for (const n of nodes) {
      const got = await until('point 7 on every node', async () => {
        const r = await api(n, 'POST', '/collections/c/points', { ids: [7], with_payload: true });
        return r.status === 200 && r.body.result.length === 1 ? r.body.result[0] : null;
      }, 20_000);
      expect(got.payload).toEqual({ i: 6 });
    }
    const metrics = await (await fetch(`${nodes[0].url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('jade_tls_certificate_expiry_seconds{kind="node"}'));
    expect(line, metrics.slice(0, 2000)).toBeDefined();
    const seconds = Number(line!.split(' ').at(-1));
    expect(seconds).toBeGreaterThan(9 * 86400);
    expect(seconds).toBeLessThanOrEqual(10 * 86400);
  }, 60_000);

  it('refuses a node whose certificate comes from another CA', async () => {
    const otherCa = await makeTestCa('another CA');
    const otherFiles = await writeNodeTlsFiles(path.join(dir, 'tls3'), otherCa, await issueNodeCert(otherCa));
    const stranger = await startNode(clusterMemberConfig(3, dir, ports, { clusterSecret: SECRET, nodeTls: otherFiles }), { logger: logSink(logs[3]), clusterLog: (l) => logs[3].push(l) });
    nodes.push(stranger);
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await members(nodes[0])).toEqual(['n0', 'n1', 'n2']);
    expect((stranger.database as ClusterDatabase).node.isServing).toBe(false);
    // Nothing of the cluster reached it: it knows no collection.
    expect((await api(stranger, 'GET', '/collections')).status).not.toBe(200);
    // Its log says why.
    expect(logs[3].some((l) => /not in a cluster yet.*its certificate is not signed by our CA/.test(l)), logs[3].join('\n')).toBe(true);
  }, 30_000);

  it('refuses a node without TLS', async () => {
    const plain = await startNode(clusterMemberConfig(4, dir, ports, { clusterSecret: SECRET }), { logger: logSink(logs[4]), clusterLog: (l) => logs[4].push(l) });
    nodes.push(plain);
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await members(nodes[0])).toEqual(['n0', 'n1', 'n2']);
    expect((plain.database as ClusterDatabase).node.isServing).toBe(false);
    expect(logs[4].some((l) => /not in a cluster yet.*it serves node-to-node TLS and this node has none/.test(l)), logs[4].join('\n')).toBe(true);
  }, 30_000);

  it('serves a replaced certificate to new connections without a restart, and the cluster keeps working', async () => {
    const client = await issueNodeCert(ca);
    const before = await servedSerial(ports[1], ca, client);
    const renewed = await issueNodeCert(ca);
    // Key first, then the certificate: in between the pair does not match and the old one stays in use.
    await writeFile(files[0].keyFile, renewed.keyPem);
    await writeFile(files[0].certFile, renewed.certPem);
    const after = await until('the new certificate served', async () => {
      const s = await servedSerial(ports[1], ca, client);
      return s !== before ? s : null;
    }, 20_000);
    expect(after.toLowerCase()).toBe(new X509Certificate(renewed.certPem).serialNumber.toLowerCase());
    expect(logs[0].some((l) => /node-to-node TLS: reloaded/.test(l)), logs[0].join('\n')).toBe(true);
    const up = await until('upsert after the reload', async () => (await api(nodes[2], 'PUT', '/collections/c/points?wait=true', { points: [{ id: 100, vector: [1, 1] }] })).status === 200, 20_000);
    expect(up).toBe(true);
  }, 60_000);
});

describe('node TLS settings', () => {
  it('refuses at start a certificate that does not chain to the CA, naming the settings', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-mtls-files-'));
    try {
      const ca = await makeTestCa();
      const other = await makeTestCa('another CA');
      const files = await writeNodeTlsFiles(dir, ca, await issueNodeCert(other));
      const config = loadConfig({ JADE_NODE_TLS_CERT_FILE: files.certFile, JADE_NODE_TLS_KEY_FILE: files.keyFile, JADE_NODE_TLS_CA_FILE: files.caFile });
      await expect(loadTlsPair({ ...config.nodeTls!, certSetting: 'JADE_NODE_TLS_CERT_FILE', keySetting: 'JADE_NODE_TLS_KEY_FILE', caSetting: 'JADE_NODE_TLS_CA_FILE' }))
        .rejects.toThrow(/^JADE_NODE_TLS_CERT_FILE: the certificate in .* is not signed by the CA in .*ca\.crt: peers would refuse it$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a CRL must come from the CA and must not revoke the node itself; a CRL needs node TLS', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-mtls-crl-'));
    try {
      const ca = await makeTestCa();
      const leaf = await issueNodeCert(ca);
      const files = await writeNodeTlsFiles(dir, ca, leaf);
      const crlFile = path.join(dir, 'crl.pem');
      const settings = { certSetting: 'JADE_NODE_TLS_CERT_FILE', keySetting: 'JADE_NODE_TLS_KEY_FILE', caSetting: 'JADE_NODE_TLS_CA_FILE', crlSetting: 'JADE_NODE_TLS_CRL_FILE' };
      const config = loadConfig({ JADE_NODE_TLS_CERT_FILE: files.certFile, JADE_NODE_TLS_KEY_FILE: files.keyFile, JADE_NODE_TLS_CA_FILE: files.caFile, JADE_NODE_TLS_CRL_FILE: crlFile });
      expect(config.nodeTls?.crlFile).toBe(crlFile);
      const other = await issueNodeCert(ca);
      await writeFile(crlFile, await createCrl(ca, [new X509Certificate(other.certPem).serialNumber], 86_400_000));
      const pair = await loadTlsPair({ ...config.nodeTls!, ...settings });
      expect([...pair.crl!.revoked]).toEqual([new X509Certificate(other.certPem).serialNumber.replace(/^0+/, '')]);
      await writeFile(crlFile, await createCrl(await makeTestCa('another CA'), [], 86_400_000));
      await expect(loadTlsPair({ ...config.nodeTls!, ...settings })).rejects.toThrow(/^JADE_NODE_TLS_CRL_FILE: the CRL in .*crl\.pem .* is not signed by the CA: it would revoke nothing$/);
      await writeFile(crlFile, await createCrl(ca, [new X509Certificate(leaf.certPem).serialNumber], 86_400_000));
      await expect(loadTlsPair({ ...config.nodeTls!, ...settings })).rejects.toThrow(/^JADE_NODE_TLS_CERT_FILE: the certificate in .* is revoked by the CRL in .*crl\.pem: peers would refuse it$/);
      await writeFile(crlFile, 'not a crl');
      await expect(loadTlsPair({ ...config.nodeTls!, ...settings })).rejects.toThrow(/^JADE_NODE_TLS_CRL_FILE: .*crl\.pem is not a CRL/);
      expect(() => loadConfig({ JADE_NODE_TLS_CRL_FILE: crlFile })).toThrow(/JADE_NODE_TLS_CRL_FILE needs node-to-node TLS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses at start a certificate issued for another node', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-mtls-id-'));
    try {
      const ca = await makeTestCa();
      const files = await writeNodeTlsFiles(dir, ca, await issueNodeCert(ca, { nodeId: 'n1' }));
      const config = loadConfig({ JADE_NODE_ID: 'n0', JADE_NODE_TLS_CERT_FILE: files.certFile, JADE_NODE_TLS_KEY_FILE: files.keyFile, JADE_NODE_TLS_CA_FILE: files.caFile });
      const log = { info: () => undefined, warn: () => undefined };
      await expect(startNodeTls(config, log)).rejects.toThrow(/^JADE_NODE_TLS_CERT_FILE: .*tls\.crt is not this node's: its certificate is for node "n1", this node is "n0"/);
      const own = await startNodeTls({ ...config, nodeId: 'n1' }, log);
      expect(own).not.toBeNull();
      own!.reloader.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes all three files or none', () => {
    const env = { JADE_NODE_TLS_CERT_FILE: '/c', JADE_NODE_TLS_KEY_FILE: '/k', JADE_NODE_TLS_CA_FILE: '/ca' };
    expect(loadConfig(env).nodeTls).toEqual({ certFile: '/c', keyFile: '/k', caFile: '/ca' });
    expect(loadConfig({}).nodeTls).toBeNull();
    expect(() => loadConfig({ JADE_NODE_TLS_CERT_FILE: '/c', JADE_NODE_TLS_KEY_FILE: '/k' })).toThrow(ConfigError);
    expect(() => loadConfig({ JADE_NODE_TLS_CA_FILE: '/ca' })).toThrow(/JADE_NODE_TLS_CERT_FILE and JADE_NODE_TLS_KEY_FILE not set/);
  });
});
