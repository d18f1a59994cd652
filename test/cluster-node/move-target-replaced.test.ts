// A move whose target comes back empty under its old node id (a new incarnation) never fills: it
// rolls back at once, not after the stage timeout (MOVE_STAGE_TIMEOUT_MS, 120 s). Found by chaos
// seed 3: the target was killed and wiped mid-copy, the move sat in `copying` and the shard did not
// settle. Here the leader's messages to the target are held back so the move stays in `copying`,
// then the target is stopped, wiped and started again.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import { MOVE_STAGE_TIMEOUT_MS } from '../../node/src/cluster/move-executor.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 4, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };

describe('a move whose target is replaced', () => {
  const cluster = new ThreeNodes(() => ({ faultHooksEnabled: true }));
  afterEach(() => cluster.cleanUp());

  it('fails at once when the target comes back as a new incarnation, and the shard keeps its replicas', async () => {
    const ids = ['n0', 'n1', 'n2', 'n3'];
    await cluster.startAll(ids);
    const groupId = await cluster.create('m', PARAMS);
    const any = cluster.node('n0');
    const placed = any.collectionMeta('m').shards[0].replicas.map(nodeOfMember);
    const spare = ids.find((id) => !placed.includes(id))!;
    const leader = await waitFor('a shard leader', () => cluster.leaderOf(groupId));
    // Everything the leader sends the target arrives a minute late: the move cannot leave `copying`.
    leader.setFaults({ delayMsByPeer: { [spare]: 60_000 } });
    const source = placed.find((id) => id !== leader.nodeId)!;
    // Watched through a node that stays up: `any` (n0) may be the spare, whose object is closed below.
    const asker = [...cluster.running.values()].find((n) => n.nodeId !== spare)!;
    const moveId = await asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: source, to: spare }, Date.now() + 5_000);
    await waitFor('the move copying', () => asker.moves().find((m) => m.id === moveId)?.stage === 'copying');
    const oldMember = asker.moves().find((m) => m.id === moveId)!.to!;

    await cluster.stop(spare);
    // The delay has done its job (the move is stuck in copying). Lifted now, because when the shard
    // leader also leads the meta group it would hold back the new incarnation's join by a minute
    // too (seen in CI: the wait below timed out).
    leader.setFaults({ delayMsByPeer: {} });
    await rm(path.join(cluster.baseDir, spare), { recursive: true, force: true });
    const started = Date.now();
    await cluster.start(spare);
    await waitFor('the new incarnation recorded', () => asker.members().some((m) => m.id === spare && `${m.id}#${m.incarnation}` !== oldMember), 60_000);

    const failed = await waitFor('the move rolled back', () => {
      const m = asker.moves().find((x) => x.id === moveId);
      return m && ['failed', 'done', 'cancelled'].includes(m.stage) ? m : null;
    }, 30_000);
    expect(failed.stage).toBe('failed');
    expect(failed.reason).toMatch(/no longer a current member/);
    expect(Date.now() - started).toBeLessThan(MOVE_STAGE_TIMEOUT_MS / 2);
    // The old incarnation left the group; the shard still has its three original replicas.
    await waitFor('the group without the old target', () => {
      const conf = cluster.leaderOf(groupId)?.groupStatuses().find((g) => g.groupId === groupId)?.conf;
      return conf && ![...conf.voters, ...conf.learners].includes(oldMember) && conf.voters.length === 3;
    });
    expect(asker.collectionMeta('m').shards[0].replicas.map(nodeOfMember).sort()).toEqual([...placed].sort());
  }, 90_000);
});
