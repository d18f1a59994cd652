// Checks that the gRPC Raft transport authenticates every connection by the cluster secret, with
// real transports and raw gRPC clients on 127.0.0.1: peers that share the secret exchange messages
// and snapshots; a connection without a proof, with a wrong secret, from a node outside the peer
// set, with a stale timestamp, a replayed proof or one made for another node is refused (UNAUTHENTICATED, counted, logged on
// both sides); a valid connection whose batch or snapshot claims another sender is dropped and
// counted; and neither the secret nor a proof is ever in a log line.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcRaftTransport, NODE_ID_METADATA, NODE_PROOF_METADATA, type GrpcTransportOptions } from '../../../node/src/cluster/transport/grpc-transport.js';
import { raftTransportService, type RaftTransportClient } from '../../../node/src/cluster/transport/proto.js';
import { NODE_AUTH_CLOCK_SKEW_MS, NODE_AUTH_WINDOW_CALLS, NodeProofSigner, NodeProofVerifier } from '../../../node/src/security/node-auth.js';

const SECRET = 'a-cluster-secret-of-at-least-32-characters';
const CLUSTER = 'test-cluster';

interface Received {
  from: string;
  group: string;
  text: string;
}

const open: GrpcRaftTransport[] = [];
const clients: RaftTransportClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function startTransport(nodeId: string, extra: Partial<GrpcTransportOptions> = {}): Promise<{ t: GrpcRaftTransport; inbox: Received[]; log: string[] }> {
  const log: string[] = [];
  const t = new GrpcRaftTransport({ nodeId, listenAddress: '127.0.0.1:0', clusterId: CLUSTER, clusterSecret: SECRET, backoffInitialMs: 20, backoffMaxMs: 200, connectTimeoutMs: 500, log: (line) => log.push(line), ...extra });
  await t.start();
  open.push(t);
  const inbox: Received[] = [];
  t.onMessage((from, group, message) => inbox.push({ from, group, text: Buffer.from(message).toString() }));
  return { t, inbox, log };
}

function connect(...transports: GrpcRaftTransport[]): void {
  const addresses = new Map(transports.map((t) => [t.nodeId, t.address]));
  for (const t of transports) t.setPeers(addresses);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function rawClient(address: string): RaftTransportClient {
  const Client = raftTransportService();
  const c = new Client(address, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

/** Metadata as a node would send it; `proof` null leaves the proof out. */
function metadata(nodeId: string, proof: string | null): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(NODE_ID_METADATA, nodeId);
  if (proof !== null) md.set(NODE_PROOF_METADATA, proof);
  return md;
}

/** Opens a Send stream with `md`, writes one batch, ends it; resolves with the call's status code. */
function sendRaw(address: string, md: grpc.Metadata, fromNodeId: string, text: string): Promise<grpc.status> {
  return new Promise((resolve) => {
    const stream = rawClient(address).Send(md, (error) => resolve(error ? error.code : grpc.status.OK));
    stream.on('error', () => {});
    stream.write({ fromNodeId, clusterId: CLUSTER, messages: [{ groupId: 'g', payload: Buffer.from(text) }] });
    stream.end();
  });
}

describe('transport authentication by the cluster secret', () => {
  it('peers sharing the secret exchange messages and snapshots', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    a.t.send('b', 'g', Buffer.from('hello'));
    await waitFor(() => b.inbox.length === 1, 'the message');
    expect(b.inbox[0]).toEqual({ from: 'a', group: 'g', text: 'hello' });
    const snaps: string[] = [];
    b.t.onSnapshot(async (from, _group, meta) => void snaps.push(`${from}:${Buffer.from(meta).toString()}`));
    await a.t.sendSnapshot('b', 'g', Buffer.from('m'), new Uint8Array(100));
    expect(snaps).toEqual(['a:m']);
    expect(a.t.authenticated && b.t.authenticated).toBe(true);
    expect(b.t.stats().refusedUnauthenticated).toBe(0);
  });

  it('refuses a node without the secret or with another one, and both sides say so', async () => {
    const b = await startTransport('b');
    const noSecret = await startTransport('a', { clusterSecret: null });
    connect(noSecret.t, b.t);
    noSecret.t.send('b', 'g', Buffer.from('forged'));
    await waitFor(() => b.t.stats().refusedUnauthenticated >= 1, 'a refusal');
    await waitFor(() => noSecret.t.stats().refusedByPeer >= 1, 'the sender to see the refusal');
    expect(b.log.join('\n')).toMatch(/refused a Raft connection .* claiming to be "a": no proof/);
    expect(noSecret.log.join('\n')).toMatch(/peer b refused our Raft connection/);

    const wrong = await startTransport('a', { clusterSecret: 'another-secret-of-at-least-32-characters!!' });
    connect(wrong.t, b.t);
    wrong.t.send('b', 'g', Buffer.from('forged'));
    await waitFor(() => b.t.stats().refusedUnauthenticated >= 2, 'a second refusal');
    expect(b.log.join('\n')).toMatch(/wrong proof/);
    await wrong.t.sendSnapshot('b', 'g', Buffer.from('m'), new Uint8Array(10)).then(
      () => expect.fail('the snapshot must be refused'),
      (e: unknown) => expect(e).toMatchObject({ code: 'JADE_ERR_UNAUTHENTICATED' }),
    );
    expect(b.inbox).toHaveLength(0);
    expect(b.t.stats().snapshotsReceived).toBe(0);
  });

  it('refuses a valid proof from a node outside the peer set, a stale one and a replayed one', async () => {
    const b = await startTransport('b');
    b.t.setPeers(new Map([['a', '127.0.0.1:1']]));
    const signers = new Map<string, NodeProofSigner>();
    const proof = (from: string, nowMs = Date.now()) => {
      if (!signers.has(from)) signers.set(from, new NodeProofSigner(SECRET, CLUSTER, from));
      return signers.get(from)!.proof('b', nowMs);
    };
    expect(await sendRaw(b.t.address, metadata('stranger', proof('stranger')), 'stranger', 'x')).toBe(grpc.status.UNAUTHENTICATED);
    expect(await sendRaw(b.t.address, metadata('a', proof('a', Date.now() - NODE_AUTH_CLOCK_SKEW_MS - 60_000)), 'a', 'x')).toBe(grpc.status.UNAUTHENTICATED);
    // A proof made for another receiver does not open a connection here.
    expect(await sendRaw(b.t.address, metadata('a', new NodeProofSigner(SECRET, CLUSTER, 'a').proof('c')), 'a', 'x')).toBe(grpc.status.UNAUTHENTICATED);
    const once = proof('a');
    expect(await sendRaw(b.t.address, metadata('a', once), 'a', 'first')).toBe(grpc.status.OK);
    expect(await sendRaw(b.t.address, metadata('a', once), 'a', 'replayed')).toBe(grpc.status.UNAUTHENTICATED);
    expect(b.inbox.map((r) => r.text)).toEqual(['first']);
    expect(b.t.stats().refusedUnauthenticated).toBe(4);
    expect(b.log.join('\n')).toMatch(/not in the peer set/);
    expect(b.log.join('\n')).toMatch(/already used/);
  });

  it('drops a batch or snapshot of an authenticated peer that claims another sender', async () => {
    const b = await startTransport('b');
    b.t.setPeers(new Map([['a', '127.0.0.1:1'], ['c', '127.0.0.1:2']]));
    const signerC = new NodeProofSigner(SECRET, CLUSTER, 'c');
    const asC = () => metadata('c', signerC.proof('b'));
    expect(await sendRaw(b.t.address, asC(), 'a', 'as-a')).toBe(grpc.status.OK);
    expect(await sendRaw(b.t.address, asC(), 'c', 'as-c')).toBe(grpc.status.OK);
    await waitFor(() => b.inbox.length === 1, 'the honest batch');
    expect(b.inbox).toEqual([{ from: 'c', group: 'g', text: 'as-c' }]);
    expect(b.t.stats().droppedForgedSender).toBe(1);

    let handled = 0;
    b.t.onSnapshot(async () => void handled++);
    const code = await new Promise<grpc.status>((resolve) => {
      const call = rawClient(b.t.address).InstallSnapshot(asC(), {}, (error) => resolve(error ? error.code : grpc.status.OK));
      call.on('error', () => {});
      call.write({ header: { fromNodeId: 'a', clusterId: CLUSTER, groupId: 'g', meta: Buffer.from('m') } });
      call.write({ chunk: Buffer.alloc(10) });
      call.end();
    });
    expect(code).toBe(grpc.status.PERMISSION_DENIED);
    expect(handled).toBe(0);
    expect(b.t.stats().droppedForgedSender).toBe(2);
    // The host reports forged Raft messages (a `from` inside the payload) to the same counter.
    b.t.reportForgedSender('c', 'a');
    expect(b.t.stats().droppedForgedSender).toBe(3);
    expect(b.log.join('\n')).toMatch(/claims to come from "a"/);
  });

  it('never logs the secret or a proof', async () => {
    const b = await startTransport('b');
    const wrong = await startTransport('a', { clusterSecret: `${SECRET}-but-not-quite` });
    connect(wrong.t, b.t);
    for (let i = 0; i < 5; i++) wrong.t.send('b', 'g', Buffer.from('x'));
    await waitFor(() => b.t.stats().refusedUnauthenticated >= 1 && wrong.log.length > 0, 'refusals logged');
    const lines = [...b.log, ...wrong.log].join('\n');
    expect(lines).not.toContain(SECRET.slice(0, 16));
    expect(lines).not.toMatch(/v1\.\d+\.[0-9a-f]{32}/);
  });
});

describe('NodeProofVerifier', () => {
  it('takes each call once, in any order within the window, from several sessions of a sender', () => {
    let now = 1_000_000_000;
    const verifier = new NodeProofVerifier(SECRET, CLUSTER, 'b', { clockSkewMs: 1_000, now: () => now });
    const signer = new NodeProofSigner(SECRET, CLUSTER, 'a');
    const proofs = Array.from({ length: 5 }, () => signer.proof('b', now));
    for (const i of [1, 0, 4, 2]) expect(verifier.verify('a', proofs[i]), `proof ${i}`).toEqual({ ok: true });
    expect(verifier.verify('a', proofs[2])).toMatchObject({ ok: false, reason: expect.stringContaining('replay') });
    expect(verifier.verify('a', proofs[3])).toEqual({ ok: true });
    // A proof for any node (internal calls to an address) is taken, but only as the node it names.
    const anyNode = signer.proof(null, now);
    expect(verifier.verify('c', anyNode)).toMatchObject({ ok: false, reason: expect.stringContaining('wrong proof') });
    expect(verifier.verify('a', anyNode)).toEqual({ ok: true });
    // A restarted sender (a new session) is taken beside the old one.
    const restarted = new NodeProofSigner(SECRET, CLUSTER, 'a');
    expect(verifier.verify('a', restarted.proof('b', now))).toEqual({ ok: true });
    expect(verifier.verify('a', signer.proof('b', now))).toEqual({ ok: true });
    // Too far behind the window, or out of the clock skew.
    const old = signer.proof('b', now);
    for (let i = 0; i < NODE_AUTH_WINDOW_CALLS; i++) signer.proof('b', now);
    expect(verifier.verify('a', signer.proof('b', now))).toEqual({ ok: true });
    expect(verifier.verify('a', old)).toMatchObject({ ok: false, reason: expect.stringContaining('too old') });
    const stale = signer.proof('b', now);
    now += 2_000;
    expect(verifier.verify('a', stale)).toMatchObject({ ok: false, reason: expect.stringContaining('clock') });
    expect(verifier.verify('a', 'v1.n.00.1.1.x')).toMatchObject({ ok: false, reason: 'malformed proof' });
    expect(verifier.verify('a', undefined)).toMatchObject({ ok: false });
  });
});
