// Read-your-writes for GET /collections/{name} in a cluster: a payload index created with wait=true
// through a node is in that node's collection info at once, even when its own replica of the shard
// lags the leader. Found in CI: the info was read from the local replica as it was (eventual), and
// the Qdrant client suite saw no payload_schema right after create_payload_index. Here the lag is
// forced: the shard's leader delays everything it sends to the node the client talks to.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { freeLoopbackPorts } from '../cluster/cluster-processes.js';
import { api, until } from '../helpers/http-api.js';
import { clusterMemberConfig } from './qdrant-client.suite.js';

describe('collection info in a cluster', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jade-info-consistency-'));
  const nodes: RunningNode[] = [];

  beforeAll(async () => {
    const ports = await freeLoopbackPorts(6);
    for (let i = 0; i < 3; i++) {
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports, { testHooksEnabled: true })));
    }
    await until('three meta voters', async () => {
      const c = await api(nodes[0].url, 'GET', '/cluster');
      return (c.body.result?.jade?.members ?? []).filter((m: { meta_role: string }) => m.meta_role === 'voter').length === 3;
    }, 30_000);
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) await n.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a payload index created through a node whose replica lags', async () => {
    const create = await api(nodes[0].url, 'PUT', '/collections/lag', { vectors: { size: 4, distance: 'Euclid' }, shard_number: 1, replication_factor: 3 });
    expect(create.status).toBe(200);
    const leaderId = await until('a shard leader', async () => {
      const c = await api(nodes[0].url, 'GET', '/collections/lag/cluster');
      const s = c.body.result?.jade?.shards?.[0];
      return s?.leader && s.replicas.length === 3 ? (s.leader as string) : null;
    }, 20_000);
    const leader = nodes.find((n) => leaderIdOf(n) === leaderId)!;
    const lagging = nodes.find((n) => leaderIdOf(n) !== leaderId)!;
    expect(leader).toBeDefined();

    // The leader commits with the third node; the client's node hears of it 3 s later.
    expect((await api(leader.url, 'POST', '/internal/v1/faults', { delayMsByPeer: { [leaderIdOf(lagging)]: 3_000 } })).status).toBe(200);
    try {
      const idx = await api(lagging.url, 'PUT', '/collections/lag/index?wait=true', { field_name: 'category', field_schema: 'keyword' });
      expect(idx.status).toBe(200);
      const info = await api(lagging.url, 'GET', '/collections/lag');
      expect(info.status).toBe(200);
      expect(info.body.result.payload_schema.category?.data_type).toBe('keyword');
      // Asked for explicitly, an eventual read is served as the replica is (here: without the index yet).
      const eventual = await api(lagging.url, 'GET', '/collections/lag?consistency=eventual');
      expect(eventual.status).toBe(200);
    } finally {
      await api(leader.url, 'POST', '/internal/v1/faults', {});
    }
  }, 60_000);

  function leaderIdOf(n: RunningNode): string {
    return `n${nodes.indexOf(n)}`;
  }
});
