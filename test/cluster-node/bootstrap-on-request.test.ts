// A cluster whose nodes all start with --join (as pods do on Kubernetes, every one naming the
// headless Service) forms only when one node is asked to found it (POST /cluster/bootstrap, which
// the operator sends to the pod it picked): the others join it through their seeds. A second
// bootstrap anywhere is refused with a reason, so two clusters never form from one member set.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER_DEFAULTS, ClusterNode, type ClusterOptions } from '../../node/src/cluster/cluster-node.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { freePort, waitFor } from './three-nodes.js';

let baseDir = '';
const running: ClusterNode[] = [];

afterEach(async () => {
  for (const n of running.splice(0)) await n.close();
  if (baseDir) await rm(baseDir, { recursive: true, force: true });
});

async function startJoining(ids: string[]): Promise<ClusterNode[]> {
  baseDir = await mkdtemp(path.join(os.tmpdir(), 'jade-bootstrap-'));
  const addresses = await Promise.all(ids.map(async () => `127.0.0.1:${await freePort()}`));
  for (const [i, id] of ids.entries()) {
    const opts: ClusterOptions = {
      ...CLUSTER_DEFAULTS,
      nodeId: id,
      dataDir: path.join(baseDir, id),
      peers: [],
      grpcListenAddress: addresses[i],
      advertise: { grpcAddress: addresses[i], restUrl: 'http://127.0.0.1:1' },
      bootstrap: false,
      join: addresses, // every node names all, itself included, as a headless Service resolves
      clusterName: 'test',
      wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 },
      shardLimits: DEFAULT_SHARD_LIMITS,
      faultHooksEnabled: false,
    };
    running.push(await ClusterNode.start(new RealDisk(), opts));
  }
  return running;
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; reason: unknown }> {
  try { await p; } catch (e) { return { code: (e as { code: string }).code, reason: (e as { details?: { reason?: unknown } }).details?.reason }; }
  throw new Error('expected a refusal');
}

describe('bootstrap on request', () => {
  it('nodes started with --join wait; one asked to bootstrap founds the cluster and the others join it', async () => {
    const [a, b, c] = await startJoining(['p0', 'p1', 'p2']);
    await new Promise((r) => setTimeout(r, 1500));
    expect([a, b, c].map((n) => n.isMember)).toEqual([false, false, false]);

    const founded = await a.bootstrapOnRequest();
    expect(founded).toMatchObject({ nodeId: 'p0', clusterId: expect.any(String) });
    await waitFor('three meta voters', () => [a, b, c].every((n) => n.isMember && n.members().filter((m) => m.metaRole === 'voter').length === 3), 30_000);
    expect(new Set([a, b, c].map((n) => n.identity.identity.clusterId))).toEqual(new Set([founded.clusterId]));

    expect(await refusal(a.bootstrapOnRequest())).toEqual({ code: 'JADE_ERR_CONFLICT', reason: 'ALREADY_MEMBER' });
    expect(await refusal(b.bootstrapOnRequest())).toEqual({ code: 'JADE_ERR_CONFLICT', reason: 'ALREADY_MEMBER' });
  }, 60_000);

  it('a node whose seeds already form a cluster refuses to found another', async () => {
    const [a, b] = await startJoining(['q0', 'q1']);
    await a.bootstrapOnRequest();
    // b may not have joined yet: either it did (ALREADY_MEMBER) or a seed answers with the cluster id.
    const r = await refusal(b.bootstrapOnRequest());
    expect(r.code).toBe('JADE_ERR_CONFLICT');
    expect(['CLUSTER_EXISTS', 'ALREADY_MEMBER']).toContain(r.reason);
    await waitFor('b joined', () => b.isMember, 30_000);
    expect(b.identity.identity.clusterId).toBe(a.identity.identity.clusterId);
  }, 60_000);
});
