// Checks the gRPC Raft transport with real transports on 127.0.0.1 (port 0): messages for many groups
// are batched per peer and arrive in order, a 64 MiB snapshot streamed in 1 MiB chunks arrives intact
// under flow control, a restarted peer is reconnected to, fault hooks (partition, one-way cut, delay,
// seeded drops) cut and heal traffic, queues are bounded with counted drops, and failures are coded.
// (Authentication by the cluster secret has its own file, transport-auth.test.ts.)

import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcRaftTransport } from '../../../node/src/cluster/transport/grpc-transport.js';
import type { GrpcTransportOptions } from '../../../node/src/cluster/transport/grpc-transport.js';
import { JadeError } from '../../../node/src/util/errors.js';

interface Received {
  from: string;
  group: string;
  text: string;
}

const open: GrpcRaftTransport[] = [];

async function startTransport(nodeId: string, extra: Partial<GrpcTransportOptions> = {}): Promise<{ t: GrpcRaftTransport; inbox: Received[] }> {
  const t = new GrpcRaftTransport({
    nodeId,
    listenAddress: '127.0.0.1:0',
    faultHooksEnabled: true,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    connectTimeoutMs: 500,
    ...extra,
  });
  await t.start();
  open.push(t);
  const inbox: Received[] = [];
  t.onMessage((from, group, message) => inbox.push({ from, group, text: Buffer.from(message).toString() }));
  return { t, inbox };
}

function connect(...transports: GrpcRaftTransport[]): void {
  const addresses = new Map(transports.map((t) => [t.nodeId, t.address]));
  for (const t of transports) t.setPeers(addresses);
}

const bytes = (text: string): Uint8Array => Buffer.from(text);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Send one message and wait until it arrives: the connection is then up and the stream open. */
async function warmUp(from: GrpcRaftTransport, to: GrpcRaftTransport, inbox: Received[]): Promise<void> {
  const before = inbox.length;
  from.send(to.nodeId, 'warmup', bytes('hello'));
  await waitFor(() => inbox.length > before, 5_000, 'warm-up message');
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('messages', () => {
  it('delivers messages for many groups in order, in few batch frames', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    const groups = ['meta', 'shard-1', 'shard-2'];
    for (let i = 0; i < 600; i++) a.t.send('b', groups[i % 3], bytes(`m${i}`));
    await waitFor(() => b.inbox.length === 600, 5_000, '600 messages');
    for (const group of groups) {
      const texts = b.inbox.filter((r) => r.group === group).map((r) => Number(r.text.slice(1)));
      expect(texts).toEqual([...texts].sort((x, y) => x - y));
      expect(texts).toHaveLength(200);
    }
    expect(b.inbox.every((r) => r.from === 'a')).toBe(true);
    // All 600 were queued in one event-loop turn while connecting: one frame carries them.
    expect(a.t.stats().batchesSent).toBe(1);
    expect(b.t.stats().batchesReceived).toBe(1);
    expect(a.t.stats().messagesSent).toBe(600);
  });

  it('splits a burst by batchMessagesMax and batchBytesMax', async () => {
    const a = await startTransport('a', { batchMessagesMax: 100, batchBytesMax: 10_000 });
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    const batchesBefore = a.t.stats().batchesSent;
    for (let i = 0; i < 500; i++) a.t.send('b', 'g', new Uint8Array(10)); // 100 messages = 1000 bytes
    await waitFor(() => b.inbox.length === 501, 5_000, 'burst');
    expect(a.t.stats().batchesSent - batchesBefore).toBe(5);
    const bigBefore = a.t.stats().batchesSent;
    for (let i = 0; i < 10; i++) a.t.send('b', 'g', new Uint8Array(4_000)); // two fit in 10 000 bytes
    await waitFor(() => b.inbox.length === 511, 5_000, 'big messages');
    expect(a.t.stats().batchesSent - bigBefore).toBe(5);
  });

  it('drops messages for unknown peers and oversized messages, counting them', async () => {
    const a = await startTransport('a', { messageBytesMax: 1_000 });
    const b = await startTransport('b');
    connect(a.t, b.t);
    a.t.send('nobody', 'g', bytes('x'));
    a.t.send('b', 'g', new Uint8Array(1_001));
    expect(a.t.stats().droppedOther).toBe(2);
    expect(a.t.stats().messagesQueued).toBe(0);
  });

  it('ignores frames from another cluster', async () => {
    const a = await startTransport('a', { clusterId: 'one' });
    const b = await startTransport('b', { clusterId: 'two' });
    connect(a.t, b.t);
    a.t.send('b', 'g', bytes('x'));
    await waitFor(() => b.t.stats().droppedOther === 1, 5_000, 'cluster mismatch drop');
    expect(b.inbox).toHaveLength(0);
  });
});

describe('bounded queues', () => {
  it('holds at most queueMessagesMax for an unreachable peer, then drops the queue and reports the peer unreachable', async () => {
    const a = await startTransport('a', { queueMessagesMax: 100, connectTimeoutMs: 100 });
    const unreachable: string[] = [];
    a.t.onPeerUnreachable((nodeId) => unreachable.push(nodeId));
    // A port that was just free: nothing listens there.
    const ghost = await startTransport('ghost');
    const ghostAddress = ghost.t.address;
    await ghost.t.close();
    a.t.setPeers(new Map([['ghost', ghostAddress]]));
    for (let i = 0; i < 250; i++) a.t.send('ghost', 'g', bytes(`m${i}`));
    expect(a.t.stats().droppedQueueFull).toBe(150);
    expect(a.t.peerStatus()[0].queuedMessages).toBe(100);
    await waitFor(() => unreachable.length > 0, 5_000, 'unreachable report');
    expect(unreachable[0]).toBe('ghost');
    expect(a.t.peerStatus()[0].state).not.toBe('open');
    expect(a.t.peerStatus()[0].consecutiveFailures).toBeGreaterThan(0);
    expect(a.t.peerStatus()[0].queuedMessages).toBe(0);
    expect(a.t.stats().droppedUnreachable).toBe(100);
  });

  it('bounds queued bytes too', async () => {
    const a = await startTransport('a', { queueBytesMax: 1_000 });
    a.t.setPeers(new Map([['ghost', '127.0.0.1:1']]));
    for (let i = 0; i < 5; i++) a.t.send('ghost', 'g', new Uint8Array(300));
    expect(a.t.stats().droppedQueueFull).toBe(2);
    expect(a.t.peerStatus()[0].queuedBytes).toBe(900);
  });
});

describe('reconnect', () => {
  it('reconnects to a restarted peer on the same address', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    const address = b.t.address;
    await b.t.close();
    await waitFor(() => a.t.stats().disconnects >= 1, 5_000, 'disconnect noticed');

    const restarted = await startTransport('b', { listenAddress: address });
    restarted.t.setPeers(new Map([['a', a.t.address]])); // a transport accepts only the peers it knows
    // Raft resends on every heartbeat: so does this loop, until one message gets through.
    let sent = 0;
    const deadline = Date.now() + 5_000;
    while (restarted.inbox.length === 0 && Date.now() < deadline) {
      a.t.send('b', 'g', bytes(`after-restart-${sent++}`));
      await sleep(20);
    }
    expect(restarted.inbox.length).toBeGreaterThan(0);
    expect(a.t.stats().connects).toBeGreaterThanOrEqual(2);
    expect(a.t.peerStatus()[0]).toMatchObject({ state: 'open', consecutiveFailures: 0 });
  });

  it('backs off exponentially while the peer stays down, capped at backoffMaxMs', async () => {
    const a = await startTransport('a', { backoffInitialMs: 40, backoffMaxMs: 320, connectTimeoutMs: 20 });
    const reportedAtMs: number[] = [];
    a.t.onPeerUnreachable(() => reportedAtMs.push(Date.now()));
    a.t.setPeers(new Map([['ghost', '127.0.0.1:1']]));
    // Raft sends a heartbeat every few ms: each connect attempt finds something queued.
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      a.t.send('ghost', 'g', bytes('heartbeat'));
      await sleep(5);
    }
    const gapsMs = reportedAtMs.slice(1).map((t, i) => t - reportedAtMs[i]);
    // Backoff (with 50–100 % jitter) 40, 80, 160, 320, 320 ms, plus the 20 ms connect deadline.
    expect(gapsMs.length).toBeGreaterThanOrEqual(4);
    expect(gapsMs[3]).toBeGreaterThan(2 * gapsMs[0]);
    for (const gap of gapsMs) expect(gap).toBeLessThan(320 + 20 + 150);
  });
});

describe('peer set changes', () => {
  it('follows a peer to its new address and forgets removed peers', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    const moved = await startTransport('b'); // same node id, new port
    moved.t.setPeers(new Map([['a', a.t.address]]));
    a.t.setPeers(new Map([['b', moved.t.address]]));
    a.t.send('b', 'g', bytes('to-new-address'));
    await waitFor(() => moved.inbox.some((r) => r.text === 'to-new-address'));
    expect(b.inbox.some((r) => r.text === 'to-new-address')).toBe(false);

    a.t.setPeers(new Map());
    a.t.send('b', 'g', bytes('nobody'));
    expect(a.t.peerStatus()).toEqual([]);
    expect(a.t.stats().droppedOther).toBe(1);
  });

  it('rejects a snapshot in flight when the transport closes', async () => {
    const a = await startTransport('a', { snapshotChunkBytes: 64 * 1024 });
    const b = await startTransport('b');
    connect(a.t, b.t);
    b.t.onSnapshot(async () => {});
    async function* endless(): AsyncIterable<Uint8Array> {
      for (;;) {
        yield new Uint8Array(64 * 1024);
        await sleep(5);
      }
    }
    const sending = a.t.sendSnapshot('b', 'g', bytes('m'), endless());
    await sleep(100);
    await a.t.close();
    await expect(sending).rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });
  });
});

describe('fault hooks', () => {
  it('partition drops both directions and heals', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    await warmUp(b.t, a.t, a.inbox);

    a.t.setFaults({ partitionedPeers: { b: 'both' } });
    for (let i = 0; i < 10; i++) {
      a.t.send('b', 'g', bytes('cut'));
      b.t.send('a', 'g', bytes('cut'));
    }
    await sleep(200);
    expect(b.inbox.filter((r) => r.text === 'cut')).toHaveLength(0);
    expect(a.inbox.filter((r) => r.text === 'cut')).toHaveLength(0);
    expect(a.t.stats().droppedByFault).toBe(20); // 10 outbound at send, 10 inbound at receipt

    a.t.healFaults();
    a.t.send('b', 'g', bytes('healed'));
    b.t.send('a', 'g', bytes('healed'));
    await waitFor(() => b.inbox.some((r) => r.text === 'healed') && a.inbox.some((r) => r.text === 'healed'));
  });

  it('one-way partition cuts only outbound traffic', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    a.t.setFaults({ partitionedPeers: { b: 'outbound' } });
    a.t.send('b', 'g', bytes('a-to-b'));
    b.t.send('a', 'g', bytes('b-to-a'));
    await waitFor(() => a.inbox.some((r) => r.text === 'b-to-a'));
    await sleep(100);
    expect(b.inbox).toHaveLength(0);
    expect(a.t.getFaults().partitionedPeers).toEqual({ b: 'outbound' });
  });

  it('delays messages to a peer by delayMsByPeer', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    a.t.setFaults({ delayMsByPeer: { b: 250 } });
    const sentAt = Date.now();
    a.t.send('b', 'g', bytes('late'));
    await waitFor(() => b.inbox.some((r) => r.text === 'late'));
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(240);
  });

  it('drops with a seeded probability, the same messages for the same seed', async () => {
    const a = await startTransport('a');
    const b = await startTransport('b');
    connect(a.t, b.t);
    await warmUp(a.t, b.t, b.inbox);
    const run = async (tag: string): Promise<number[]> => {
      a.t.setFaults({ dropProbability: 0.5, seed: 42 });
      for (let i = 0; i < 200; i++) a.t.send('b', tag, bytes(String(i)));
      await sleep(300);
      return b.inbox.filter((r) => r.group === tag).map((r) => Number(r.text));
    };
    const first = await run('first');
    const second = await run('second');
    expect(first.length).toBeGreaterThan(60);
    expect(first.length).toBeLessThan(140);
    expect(second).toEqual(first);
  });

  it('refuses fault hooks unless enabled', async () => {
    const plain = await startTransport('plain', { faultHooksEnabled: false });
    expect(plain.t.faultHooksEnabled).toBe(false);
    expect(() => plain.t.setFaults({ dropProbability: 1 })).toThrow(JadeError);
    expect(() => plain.t.getFaults()).toThrow(expect.objectContaining({ code: 'JADE_ERR_FORBIDDEN' }));
  });

  it('validates fault specs', async () => {
    const a = await startTransport('a');
    expect(() => a.t.setFaults({ dropProbability: 2 })).toThrow(expect.objectContaining({ code: 'JADE_ERR_BAD_REQUEST' }));
    expect(() => a.t.setFaults({ partitionedPeers: { b: 'sideways' as 'both' } })).toThrow(
      expect.objectContaining({ code: 'JADE_ERR_BAD_REQUEST' }),
    );
  });
});

describe('snapshots', () => {
  function pattern(sizeBytes: number, seed: number): Uint8Array {
    const out = new Uint8Array(sizeBytes);
    let s = seed;
    for (let i = 0; i < sizeBytes; i += 4) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s & 0xff;
      out[i + 1] = (s >>> 8) & 0xff;
      out[i + 2] = (s >>> 16) & 0xff;
      out[i + 3] = (s >>> 24) & 0xff;
    }
    return out;
  }
  const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

  it('streams a 64 MiB snapshot in 1 MiB chunks intact, under flow control', async () => {
    const a = await startTransport('a', { snapshotChunkBytes: 1024 * 1024 });
    const b = await startTransport('b');
    connect(a.t, b.t);
    const data = pattern(64 * 1024 * 1024, 7);
    const received: { from: string; group: string; meta: string; sha: string; size: number }[] = [];
    b.t.onSnapshot(async (from, group, meta, snapshot) => {
      received.push({ from, group, meta: Buffer.from(meta).toString(), sha: sha(snapshot), size: snapshot.length });
    });
    // An async source in uneven pieces: the transport re-chunks them to at most 1 MiB.
    async function* source(): AsyncIterable<Uint8Array> {
      const pieceBytes = 3 * 1024 * 1024 + 17;
      for (let offset = 0; offset < data.length; offset += pieceBytes) yield data.subarray(offset, offset + pieceBytes);
    }
    await a.t.sendSnapshot('b', 'shard-7', bytes('{"index":42,"term":3}'), source());
    expect(received).toEqual([{ from: 'a', group: 'shard-7', meta: '{"index":42,"term":3}', sha: sha(data), size: data.length }]);
    expect(a.t.stats().snapshotBytesSent).toBe(data.length);
    expect(a.t.stats().snapshotsSent).toBe(1);
    expect(b.t.stats().snapshotsReceived).toBe(1);
    expect(a.t.stats().snapshotBackpressureWaits).toBeGreaterThan(0);
  }, 60_000);

  it('rejects a snapshot to a partitioned peer, over the size limit, past its deadline, or when the handler fails', async () => {
    const a = await startTransport('a', { snapshotDeadlineMs: 300 });
    const b = await startTransport('b', { snapshotBytesMax: 1_000 });
    connect(a.t, b.t);
    let mode: 'fail' | 'hang' = 'fail';
    b.t.onSnapshot(async () => {
      if (mode === 'fail') throw new Error('disk full');
      await new Promise(() => {});
    });

    a.t.setFaults({ partitionedPeers: { b: 'outbound' } });
    await expect(a.t.sendSnapshot('b', 'g', bytes('m'), new Uint8Array(10))).rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });
    a.t.healFaults();

    await expect(a.t.sendSnapshot('b', 'g', bytes('m'), new Uint8Array(2_000))).rejects.toMatchObject({
      code: 'JADE_ERR_PAYLOAD_TOO_LARGE',
    });
    await expect(a.t.sendSnapshot('b', 'g', bytes('m'), new Uint8Array(10))).rejects.toMatchObject({
      code: 'JADE_ERR_INTERNAL',
      message: expect.stringContaining('disk full'),
    });
    mode = 'hang';
    await expect(a.t.sendSnapshot('b', 'g', bytes('m'), new Uint8Array(10))).rejects.toMatchObject({ code: 'JADE_ERR_DEADLINE' });
    await expect(a.t.sendSnapshot('nobody', 'g', bytes('m'), new Uint8Array(10))).rejects.toMatchObject({
      code: 'JADE_ERR_UNAVAILABLE',
    });
    expect(a.t.stats().snapshotsSent).toBe(0);
  });
});

describe('three nodes', () => {
  it('routes each message to its peer with the right sender', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startTransport(id)));
    connect(...nodes.map((n) => n.t));
    for (const from of nodes) {
      for (const to of nodes) if (from !== to) from.t.send(to.t.nodeId, 'meta', bytes(`${from.t.nodeId}->${to.t.nodeId}`));
    }
    await waitFor(() => nodes.every((n) => n.inbox.length === 2), 5_000, 'all-to-all');
    for (const n of nodes) {
      for (const r of n.inbox) expect(r.text).toBe(`${r.from}->${n.t.nodeId}`);
    }
  });
});
