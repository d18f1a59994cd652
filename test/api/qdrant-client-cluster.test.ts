// The @qdrant/js-client-rest suite (qdrant-client.suite.ts) against a cluster: three nodes started
// in this process (the first --bootstrap, the others --join), every collection with 3 shards × 3
// replicas, the client talking to a node that is not the one that bootstrapped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { freeLoopbackPorts } from '../cluster/cluster-processes.js';
import { clusterMemberConfig, qdrantClientSuite } from './qdrant-client.suite.js';

qdrantClientSuite({
  name: 'a 3-node cluster with 3 shards per collection',
  standalone: false,
  createOptions: { shard_number: 3, replication_factor: 3 },
  async start() {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-qdrant-client-cluster-'));
    const ports = await freeLoopbackPorts(6);
    const nodes: RunningNode[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports)));
    }
    // Collections get 3 replicas only once all three are members and meta voters.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const c = (await (await fetch(`${nodes[1].url}/cluster`)).json()) as { result: { jade?: { members: { meta_role: string }[] } } };
      if (c.result.jade?.members.filter((m) => m.meta_role === 'voter').length === 3) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not form: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      url: nodes[1].url,
      server: nodes[1].app.server,
      async close() {
        for (const n of nodes) await n.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
