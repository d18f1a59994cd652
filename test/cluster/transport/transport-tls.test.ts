// The Raft transport over mutual TLS, with real transports on 127.0.0.1: two members with
// certificates from one CA exchange messages; a member with a certificate from another CA, or
// without TLS, or with an expired certificate, exchanges nothing, and the TLS side's log names the cause; a server certificate
// that does not name the host dialled is refused by the client, unless it is the join seed's DNS
// name the dialled IP was resolved from.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_RPC_AUTH, NodeRpc } from '../../../node/src/cluster/transport/rpc.js';
import { GrpcRaftTransport } from '../../../node/src/cluster/transport/grpc-transport.js';
import { NodeTlsCredentials } from '../../../node/src/cluster/transport/tls-credentials.js';
import type { TlsPair } from '../../../node/src/security/tls.js';
import { X509Certificate } from 'node:crypto';
import { createCrl, issueLeaf, type IssuedPem } from '../../../operator/src/certs/x509.js';
import { parseRevocationList } from '../../../node/src/security/crl.js';
import { issueNodeCert, makeTestCa } from '../../helpers/node-certs.js';

const SECRET = 'a-cluster-secret-of-at-least-32-characters';
const open: GrpcRaftTransport[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

function pairOf(ca: IssuedPem, leaf: IssuedPem): TlsPair {
  return { cert: Buffer.from(leaf.certPem), key: Buffer.from(leaf.keyPem), ca: Buffer.from(ca.certPem), options: {}, serialNumber: '', notAfterMs: 0, subject: '', digest: '' };
}

async function start(nodeId: string, pair: TlsPair | null): Promise<{ t: GrpcRaftTransport; inbox: string[]; log: string[] }> {
  const log: string[] = [];
  const tls = pair ? { credentials: new NodeTlsCredentials(pair), pair: () => pair } : null;
  const t = new GrpcRaftTransport({ nodeId, listenAddress: '127.0.0.1:0', clusterId: 'c', clusterSecret: SECRET, backoffInitialMs: 20, backoffMaxMs: 100, connectTimeoutMs: 300, log: (l) => log.push(l), tls });
  await t.start();
  open.push(t);
  const inbox: string[] = [];
  t.onMessage((from, _group, message) => inbox.push(`${from}:${Buffer.from(message).toString()}`));
  return { t, inbox, log };
}

function connect(...transports: GrpcRaftTransport[]): void {
  const addresses = new Map(transports.map((t) => [t.nodeId, t.address]));
  for (const t of transports) t.setPeers(addresses);
}

/** Sends from `a` to `b` every 50 ms for `ms`. */
async function keepSending(a: GrpcRaftTransport, to: string, ms: number): Promise<void> {
  for (let i = 0; i < ms / 50; i++) {
    a.send(to, 'g', new TextEncoder().encode(`m${i}`));
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Raft transport over mutual TLS', () => {
  it('members with certificates from one CA exchange messages', async () => {
    const ca = await makeTestCa();
    const a = await start('a', pairOf(ca, await issueNodeCert(ca)));
    const b = await start('b', pairOf(ca, await issueNodeCert(ca)));
    connect(a.t, b.t);
    await keepSending(a.t, 'b', 500);
    expect(b.inbox.length).toBeGreaterThan(0);
    expect(b.inbox[0]).toMatch(/^a:m\d+$/);
  });

  it('a member with a certificate from another CA gets nothing through, and the log says why', async () => {
    const ca = await makeTestCa();
    const other = await makeTestCa('another CA');
    const a = await start('a', pairOf(ca, await issueNodeCert(ca)));
    const b = await start('b', pairOf(other, await issueNodeCert(other)));
    connect(a.t, b.t);
    await Promise.all([keepSending(a.t, 'b', 2_000), keepSending(b.t, 'a', 2_000)]);
    expect(b.inbox).toEqual([]);
    expect(a.inbox).toEqual([]);
    expect(a.log.some((l) => /cannot connect to peer b .*its certificate is not signed by our CA/.test(l)), a.log.join('\n')).toBe(true);
  });

  it('a plain-text member gets nothing through, and the TLS side says the peer does not answer TLS', async () => {
    const ca = await makeTestCa();
    const a = await start('a', pairOf(ca, await issueNodeCert(ca)));
    const b = await start('b', null);
    connect(a.t, b.t);
    await Promise.all([keepSending(a.t, 'b', 2_000), keepSending(b.t, 'a', 2_000)]);
    expect(b.inbox).toEqual([]);
    expect(a.inbox).toEqual([]);
    expect(a.log.some((l) => /cannot connect to peer b .*does not answer TLS/.test(l)), a.log.join('\n')).toBe(true);
  });

  it('refuses a member whose certificate has expired', async () => {
    const ca = await makeTestCa();
    const a = await start('a', pairOf(ca, await issueNodeCert(ca)));
    const expired = await issueLeaf(ca, { commonName: 'old', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validForMs: 86_400_000, nowMs: Date.now() - 3 * 86_400_000 });
    const b = await start('b', pairOf(ca, expired));
    connect(a.t, b.t);
    await Promise.all([keepSending(a.t, 'b', 2_000), keepSending(b.t, 'a', 2_000)]);
    expect(b.inbox).toEqual([]);
    expect(a.inbox).toEqual([]);
    expect(a.log.some((l) => /cannot connect to peer b .*its certificate is not valid now: CERT_HAS_EXPIRED/.test(l)), a.log.join('\n')).toBe(true);
  });

  it('a CRL refuses the revoked member both ways, and only it', async () => {
    const ca = await makeTestCa();
    const revokedLeaf = await issueNodeCert(ca);
    const crlPem = await createCrl(ca, [new X509Certificate(revokedLeaf.certPem).serialNumber], 86_400_000);
    const crl = await parseRevocationList(Buffer.from(crlPem), Buffer.from(ca.certPem), 'JADE_NODE_TLS_CRL_FILE', 'crl.pem');
    const a = await start('a', { ...pairOf(ca, await issueNodeCert(ca)), crl });
    // b does not know it is revoked: only a's CRL keeps it out, as server (b dials a) and as client (a dials b).
    const b = await start('b', pairOf(ca, revokedLeaf));
    const c = await start('c', pairOf(ca, await issueNodeCert(ca)));
    connect(a.t, b.t, c.t);
    await Promise.all([keepSending(a.t, 'b', 2_000), keepSending(b.t, 'a', 2_000), keepSending(c.t, 'a', 2_000), keepSending(a.t, 'c', 2_000)]);
    expect(a.inbox.filter((m) => m.startsWith('b:'))).toEqual([]);
    expect(b.inbox).toEqual([]);
    expect(a.inbox.some((m) => m.startsWith('c:'))).toBe(true);
    expect(c.inbox.some((m) => m.startsWith('a:'))).toBe(true);
  });

  it('a certificate issued for one node proves that node: a peer claiming another id over it is refused', async () => {
    const ca = await makeTestCa();
    const a = await start('a', pairOf(ca, await issueNodeCert(ca, { nodeId: 'a' })));
    const b = await start('b', pairOf(ca, await issueNodeCert(ca, { nodeId: 'b' })));
    // x holds the cluster secret and a certificate from the CA, but one issued for b.
    const x = await start('x', pairOf(ca, await issueNodeCert(ca, { nodeId: 'b' })));
    // Shared certificates (no node id) still work beside them: the cluster secret proves the id.
    const s = await start('s', pairOf(ca, await issueNodeCert(ca)));
    connect(a.t, b.t, x.t, s.t);
    await Promise.all([keepSending(b.t, 'a', 2_000), keepSending(x.t, 'a', 2_000), keepSending(s.t, 'a', 2_000)]);
    expect(a.inbox.some((m) => m.startsWith('b:'))).toBe(true);
    expect(a.inbox.some((m) => m.startsWith('s:'))).toBe(true);
    expect(a.inbox.filter((m) => m.startsWith('x:'))).toEqual([]);
    expect(a.log.some((l) => /refused a Raft connection .* claiming to be "x": its certificate is for node "b"/.test(l)), a.log.join('\n')).toBe(true);
  });

  it('refuses a server whose certificate does not name the host dialled', async () => {
    const ca = await makeTestCa();
    const a = await start('a', pairOf(ca, await issueNodeCert(ca)));
    const b = await start('b', pairOf(ca, await issueNodeCert(ca, { dnsNames: ['elsewhere.example'] })));
    connect(a.t, b.t);
    await keepSending(a.t, 'b', 2_000);
    expect(b.inbox).toEqual([]);
    expect(a.log.some((l) => /cannot connect to peer b .*does not name 127\.0\.0\.1/.test(l)), a.log.join('\n')).toBe(true);
  });
});

describe('internal calls over mutual TLS', () => {
  it('an IP resolved from a seed name is verified against that name, and only then', async () => {
    const ca = await makeTestCa();
    const serverPair = pairOf(ca, await issueNodeCert(ca, { dnsNames: ['seed.jade.svc.cluster.local'] }));
    const server = new NodeRpc({ nodeId: 's', clusterId: 'c', auth: NO_RPC_AUTH });
    server.handle('ping', async () => ({ json: 'pong' }));
    const g = new grpc.Server();
    const { definition, implementation } = server.service();
    g.addService(definition, implementation);
    const port = await new Promise<number>((resolve, reject) => g.bindAsync('127.0.0.1:0', new NodeTlsCredentials(serverPair).server, (e, p) => (e ? reject(e) : resolve(p))));
    const client = new NodeRpc({ nodeId: 'k', clusterId: 'c', auth: NO_RPC_AUTH, channelCredentials: new NodeTlsCredentials(pairOf(ca, await issueNodeCert(ca))).channel });
    try {
      const address = `127.0.0.1:${port}`;
      expect((await client.call(address, 'ping', { json: null }, Date.now() + 5_000, 'seed.jade.svc.cluster.local')).json).toBe('pong');
      await expect(client.call(address, 'ping', { json: null }, Date.now() + 5_000)).rejects.toThrow(/No connection established/);
      await expect(client.call(address, 'ping', { json: null }, Date.now() + 5_000, 'other.jade.svc.cluster.local')).rejects.toThrow(/No connection established/);
    } finally {
      client.close();
      g.forceShutdown();
    }
  });

  it('an internal call over a certificate issued for another node is refused, even with the cluster secret', async () => {
    const ca = await makeTestCa();
    const serverPair = pairOf(ca, await issueNodeCert(ca, { nodeId: 's' }));
    const serverSide = await start('s', serverPair);
    const server = new NodeRpc({ nodeId: 's', clusterId: 'c', auth: serverSide.t.rpcAuth() });
    server.handle('ping', async () => ({ json: 'pong' }));
    const g = new grpc.Server();
    const { definition, implementation } = server.service();
    g.addService(definition, implementation);
    const port = await new Promise<number>((resolve, reject) => g.bindAsync('127.0.0.1:0', new NodeTlsCredentials(serverPair).server, (e, p) => (e ? reject(e) : resolve(p))));
    const signer = (await start('k', pairOf(ca, await issueNodeCert(ca, { nodeId: 'k' })))).t.rpcAuth();
    // Both sign as k with the cluster secret; only the first presents k's certificate.
    const client = (leaf: IssuedPem) => new NodeRpc({ nodeId: 'k', clusterId: 'c', auth: signer, channelCredentials: new NodeTlsCredentials(pairOf(ca, leaf)).channel });
    const own = client(await issueNodeCert(ca, { nodeId: 'k' }));
    const borrowed = client(await issueNodeCert(ca, { nodeId: 'other' }));
    try {
      const address = `127.0.0.1:${port}`;
      expect((await own.call(address, 'ping', { json: null }, Date.now() + 5_000)).json).toBe('pong');
      await expect(borrowed.call(address, 'ping', { json: null }, Date.now() + 5_000)).rejects.toThrow(/not authenticated as a node of this cluster/);
      expect(serverSide.log.some((l) => /refused an internal call .* claiming to be "k": its certificate is for node "other"/.test(l)), serverSide.log.join('\n')).toBe(true);
    } finally {
      own.close();
      borrowed.close();
      g.forceShutdown();
    }
  });
});
