// Replica moves and drains through the REST API and the jade CLI: four nodes started in this
// process (startNode: the real fastify app over HTTP, n0 --bootstrap, the others --join), one
// collection of one shard × 2 replicas (so two drains in a row each find a target). Checked:
// move_shard of the leader's replica to a node without one is listed in shard_transfers while in
// flight and under jade.moves once done, after which the target holds every point and the
// placement names it; refusals keep their code and reason (409 TARGET_HOLDS_REPLICA,
// MOVE_IN_PROGRESS, NO_TARGET_NODE; 404 unknown shard, peer, transfer); bad bodies are coded 400s;
// drop_replica removes a replica; POST /cluster/peer/{id}/drain then GET until drained with no
// replicas left; jade move --wait and jade drain --wait do the same from the command line.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { freeLoopbackPorts } from '../cluster/cluster-processes.js';
import { REPO_ROOT } from '../helpers/node-process.js';
import { clusterMemberConfig } from './qdrant-client.suite.js';
import { api as callApi, until as pollUntil, type Answer } from '../helpers/http-api.js';

const C = 'mv';
const POINTS = 200;
const WAIT_MS = 20_000;

/** The shared helpers with this file's request timeout and polling interval. */
const api = (url: string, method: string, route: string, body?: unknown): Promise<Answer> => callApi(url, method, route, body, 15_000);
const until = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, probe, timeoutMs, 100);

function expectRefusal(a: Answer, status: number, code: string, reason?: string): void {
  expect({ status: a.status, code: a.body?.status?.code, reason: a.body?.status?.reason }, JSON.stringify(a.body)).toEqual({ status, code, reason });
  expect(a.body.status.error.length).toBeGreaterThan(0);
}

describe('replica moves and drains over REST and the CLI (4 nodes in this process)', () => {
  let dir = '';
  const nodes: RunningNode[] = [];
  const log: string[] = [];
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const url = (id: string) => nodes[ids.indexOf(id)].url;
  const jade = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', nodes[1].url, ...args], { cwd: REPO_ROOT });
  /** The shard's replicas (node ids) and leader as n0 sees them. */
  const placement = async (name = C) => {
    const c = await api(nodes[0].url, 'GET', `/collections/${name}/cluster`);
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    return { replicas: (c.body.result.jade.shards[0].replicas as { peer_id: string }[]).map((r) => r.peer_id).sort(), leader: c.body.result.jade.shards[0].leader as string | null, body: c.body.result };
  };
  /** A node's own replica of the shard: its point count (null while it holds none). */
  const localPoints = async (id: string, name = C) => {
    const c = await api(url(id), 'GET', `/collections/${name}/cluster`);
    return (c.body.result.local_shards as { points_count: number }[])[0]?.points_count ?? null;
  };
  const move = (body: unknown, via = nodes[2].url, name = C) => api(via, 'POST', `/collections/${name}/cluster`, body);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-cluster-moves-'));
    const ports = await freeLoopbackPorts(8);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports), { clusterLog: (line) => log.push(`${new Date().toISOString()} ${id}: ${line}`) }));
    }
    await until('four members known to every node, three meta voters', async () => {
      const views = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/cluster')));
      return views.every((v) => v.body.result.jade?.members.length === 4 && v.body.result.jade.members.filter((m: { meta_role: string }) => m.meta_role === 'voter').length === 3);
    }, 30_000);
    const created = await api(nodes[1].url, 'PUT', `/collections/${C}`, { vectors: { size: 4, distance: 'Euclid' }, shard_number: 1, replication_factor: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const points = Array.from({ length: POINTS }, (_, i) => ({ id: i, vector: [i, 1, 2, 3], payload: { i } }));
    const up = await api(nodes[1].url, 'PUT', `/collections/${C}/points?wait=true`, { points });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
  }, 60_000);

  afterEach((t) => {
    // The cluster's own log (moves, stages, elections), for a failed test only.
    if (t.task.result?.state === 'fail') process.stderr.write(`cluster log:\n${log.join('\n')}\n`);
  });

  afterAll(async () => {
    for (const n of nodes) await n.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bad bodies are coded 400s; unknown shard, peer and transfer 404; a target holding a replica 409 with its reason', async () => {
    const { replicas } = await placement();
    const [a, b] = replicas;
    const spare = ids.find((id) => !replicas.includes(id))!;
    const bad: unknown[] = [
      {},
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: spare }, drop_replica: { shard_id: 0, peer_id: a } },
      { restart_transfer: { shard_id: 0, from_peer_id: a, to_peer_id: spare } },
      { move_shard: { shard_id: -1, from_peer_id: a, to_peer_id: spare } },
      { move_shard: { shard_id: '0', from_peer_id: a, to_peer_id: spare } },
      { move_shard: { shard_id: 0.5, from_peer_id: a, to_peer_id: spare } },
      { move_shard: { shard_id: 5000, from_peer_id: a, to_peer_id: spare } },
      { move_shard: { shard_id: 0, from_peer_id: a } },
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: spare, extra: 1 } },
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: 'n/../x' } },
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: 'x'.repeat(129) } },
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: a } },
      { move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: spare, method: 'teleport' } },
      { drop_replica: { shard_id: 0 } },
      { drop_replica: { shard_id: 0, peer_id: a, to_peer_id: spare } },
      { drop_replica: null },
      [],
      'move',
    ];
    for (const body of bad) {
      const a = await move(body);
      expect(a.status, `${JSON.stringify(body)} answered ${JSON.stringify(a.body)}`).toBe(400);
      expectRefusal(a, 400, 'JADE_ERR_BAD_REQUEST');
    }
    const none = await fetch(`${nodes[2].url}/collections/${C}/cluster`, { method: 'POST' });
    expect(none.status).toBe(400);

    expectRefusal(await move({ move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: spare } }, nodes[2].url, 'nope'), 404, 'JADE_ERR_COLLECTION_NOT_FOUND');
    expectRefusal(await move({ move_shard: { shard_id: 3, from_peer_id: a, to_peer_id: spare } }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await move({ move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: 'n9' } }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await move({ move_shard: { shard_id: 0, from_peer_id: spare, to_peer_id: a } }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await move({ drop_replica: { shard_id: 0, peer_id: spare } }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await move({ abort_transfer: { shard_id: 0, from_peer_id: a, to_peer_id: spare } }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await move({ move_shard: { shard_id: 0, from_peer_id: a, to_peer_id: b } }), 409, 'JADE_ERR_CONFLICT', 'TARGET_HOLDS_REPLICA');
    expectRefusal(await api(nodes[2].url, 'GET', '/cluster/peer/n9/drain'), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await api(nodes[2].url, 'POST', '/cluster/peer/n9/drain'), 404, 'JADE_ERR_NOT_FOUND');
    // Nothing above started a move.
    expect((await placement()).body.jade.moves).toEqual([]);
  }, 30_000);

  it('move_shard moves the leader\'s replica to a node without one: a shard transfer while in flight, done with every point on the target', async () => {
    const before = await placement();
    const source = await until('a leader of the shard', async () => (await placement()).leader);
    const spare = ids.find((id) => !before.replicas.includes(id))!;
    const other = before.replicas.find((id) => id !== source)!;
    const started = await move({ move_shard: { shard_id: 0, from_peer_id: source, to_peer_id: spare } });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body).toMatchObject({ result: true, status: 'ok', jade: { move_id: expect.any(String) } });
    const id = started.body.jade.move_id as string;

    // In flight: a transfer in Qdrant's shape, and a second move of the shard is refused.
    const inFlight = (await placement()).body;
    expect(inFlight.shard_transfers).toEqual([{ shard_id: 0, from: source, to: spare, sync: false, method: 'snapshot', comment: expect.any(String), jade: { id, stage: expect.any(String), started_at: expect.any(String), progress: inFlight.shard_transfers[0]?.jade?.progress ?? null } }]);
    // Progress: null until the meta leader observed the move, then every field present (null where unknown).
    const progress = inFlight.shard_transfers[0].jade.progress;
    if (progress !== null) expect(Object.keys(progress).sort()).toEqual(['bytes_per_second', 'catch_up_entries_per_second', 'eta_seconds', 'lag_entries', 'observed_at', 'phase', 'snapshot_bytes_sent', 'snapshot_bytes_total', 'snapshot_index', 'snapshot_points'].sort());
    expect(Date.parse(inFlight.shard_transfers[0].jade.started_at)).toBeGreaterThan(Date.now() - 60_000);
    expectRefusal(await move({ move_shard: { shard_id: 0, from_peer_id: other, to_peer_id: ids.find((x) => x !== spare && !before.replicas.includes(x)) ?? source } }), 409, 'JADE_ERR_CONFLICT', 'MOVE_IN_PROGRESS');

    const done = await until('the move to finish', async () => {
      const m = ((await placement()).body.jade.moves as any[]).find((x) => x.id === id);
      return m?.finished ? m : null;
    });
    expect(done).toMatchObject({ id, collection: C, shard_id: 0, from: source, to: spare, stage: 'done', reason: null, drain: null });
    expect(done.verified.count).toBe(POINTS);
    const after = await placement();
    expect(after.body.shard_transfers).toEqual([]);
    expect(after.replicas).toEqual([other, spare].sort());
    expect(await until('the target to hold every point', async () => (await localPoints(spare)) === POINTS)).toBe(true);
    await until('the source to give up its replica', async () => (await localPoints(source)) === null);
    // A strong count through the old source (which holds no replica now) sees every point.
    const count = await api(url(source), 'POST', `/collections/${C}/points/count`, { exact: true });
    expect(count.body.result.count).toBe(POINTS);
  }, 30_000);

  it('drop_replica removes a replica; abort_transfer of a move in flight cancels it', async () => {
    const name = 'drops';
    expect((await api(nodes[0].url, 'PUT', `/collections/${name}`, { vectors: { size: 4, distance: 'Euclid' }, shard_number: 1, replication_factor: 3 })).status).toBe(200);
    expect((await api(nodes[0].url, 'PUT', `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: [1, 2, 3, 4] }] })).status).toBe(200);
    // Deleted however this ends: a collection left behind would hold replicas the later drains count.
    try {
      const { replicas } = await until('a leader of the shard', async () => {
        const p = await placement(name);
        return p.leader ? p : null;
      });
      const dropped = await move({ drop_replica: { shard_id: 0, peer_id: replicas[0] } }, nodes[3].url, name);
      expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
      const m = await until('the drop to finish', async () => ((await placement(name)).body.jade.moves as any[]).find((x) => x.id === dropped.body.jade.move_id && x.finished));
      expect(m).toMatchObject({ stage: 'done', from: replicas[0], to: null });
      expect((await placement(name)).replicas).toEqual(replicas.slice(1));

      // Cancel a replicate_shard back to that node while it is in flight; an abort naming another transfer is a 404.
      const rep = await move({ replicate_shard: { shard_id: 0, from_peer_id: replicas[1], to_peer_id: replicas[0] } }, nodes[3].url, name);
      expect(rep.status, JSON.stringify(rep.body)).toBe(200);
      expectRefusal(await move({ abort_transfer: { shard_id: 0, from_peer_id: replicas[1], to_peer_id: ids.find((x) => !replicas.includes(x))! } }, nodes[3].url, name), 404, 'JADE_ERR_NOT_FOUND');
      const abort = await move({ abort_transfer: { shard_id: 0, from_peer_id: replicas[1], to_peer_id: replicas[0] } }, nodes[3].url, name);
      const ended = await until('the replicate to end', async () => ((await placement(name)).body.jade.moves as any[]).find((x) => x.id === rep.body.jade.move_id && x.finished));
      // The replicate takes a snapshot transfer and a promotion (about a second): the abort lands first.
      expect(abort.status, JSON.stringify(abort.body)).toBe(200);
      expect(abort.body.jade.move_id).toBe(rep.body.jade.move_id);
      expect(ended).toMatchObject({ stage: 'cancelled', reason: expect.stringMatching(/cancel/) });
      expect((await placement(name)).replicas).toEqual(replicas.slice(1));
    } finally {
      expect((await api(nodes[0].url, 'DELETE', `/collections/${name}`)).status).toBe(200);
    }
  }, 30_000);

  it('a drain no node can take is refused with 409 NO_TARGET_NODE (REST and jade drain)', async () => {
    const { replicas } = await placement();
    expect((await api(nodes[0].url, 'PUT', '/collections/everywhere', { vectors: { size: 4, distance: 'Euclid' }, shard_number: 1, replication_factor: 4 })).status).toBe(200);
    try {
      const refused = await api(nodes[3].url, 'POST', `/cluster/peer/${replicas[0]}/drain`);
      expectRefusal(refused, 409, 'JADE_ERR_CONFLICT', 'NO_TARGET_NODE');
      expect(refused.body.status.error).toMatch(/no other node can take/);
      const cli = await jade('drain', replicas[0], '--wait').then(() => null, (e: { code: number; stderr: string }) => e);
      expect(cli?.code).toBe(1);
      expect(cli?.stderr).toMatch(/^jade: no other node can take .*\(JADE_ERR_CONFLICT, NO_TARGET_NODE\)\n$/);
      // Nothing was recorded: the node is not draining.
      expect((await api(nodes[0].url, 'GET', `/cluster/peer/${replicas[0]}/drain`)).body.result).toMatchObject({ node: replicas[0], state: null, moves_started: 0, moves: [] });
    } finally {
      expect((await api(nodes[0].url, 'DELETE', '/collections/everywhere')).status).toBe(200);
    }
  }, 30_000);

  it('POST /cluster/peer/{id}/drain moves the node\'s replica away; GET reports it until drained with no replicas left', async () => {
    const { replicas } = await placement();
    const victim = replicas[0];
    const started = await api(nodes[2].url, 'POST', `/cluster/peer/${victim}/drain`);
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body.result).toMatchObject({ node: victim, state: expect.stringMatching(/^(draining|drained)$/) });
    expect(typeof started.body.result.replicas_left).toBe('number');
    const seen = new Set<number>();
    const drained = await until('the drain to finish', async () => {
      const r = await api(nodes[1].url, 'GET', `/cluster/peer/${victim}/drain`);
      seen.add(r.body.result.replicas_left);
      return r.body.result.state === 'drained' ? r.body.result : null;
    });
    expect(drained).toMatchObject({ node: victim, state: 'drained', replicas_left: 0, moves_started: 1 });
    expect(drained.moves).toHaveLength(1);
    expect(drained.moves[0]).toMatchObject({ collection: C, shard_id: 0, from: victim, stage: 'done', drain: victim, finished: true });
    expect((await placement()).replicas).not.toContain(victim);
    // Idempotent: asking again reports the same drain.
    const again = await api(nodes[0].url, 'POST', `/cluster/peer/${victim}/drain`);
    expect(again.body.result).toMatchObject({ node: victim, state: 'drained', replicas_left: 0, moves_started: 1 });
    // A drained node takes no new replica.
    const other = (await placement()).replicas[0];
    expectRefusal(await move({ replicate_shard: { shard_id: 0, from_peer_id: other, to_peer_id: victim } }), 409, 'JADE_ERR_CONFLICT', 'TARGET_DRAINING');
  }, 30_000);

  it('jade move --wait and jade drain --wait print progress until done', async () => {
    const { replicas } = await placement();
    const drained = (await Promise.all(ids.map(async (id) => ((await api(nodes[0].url, 'GET', `/cluster/peer/${id}/drain`)).body.result.state === 'drained' ? id : null)))).filter(Boolean);
    const free = ids.find((id) => !replicas.includes(id) && !drained.includes(id))!;
    const moved = await jade('move', C, '0', '--from', replicas[0], '--to', free, '--wait');
    expect(moved.stdout).toMatch(/: done\n$/);
    const now = (await placement()).replicas;
    expect(now).toEqual([replicas[1], free].sort());

    // jade drain --wait on the node that just took the replica: it goes back to the one that gave it up.
    const r = await jade('drain', free, '--wait');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^drain of ${free}: draining, 1 replica left`));
    expect(lines.at(-1)).toMatch(new RegExp(`^drain of ${free}: drained, 0 replicas left, \\d+ moves? started$`));
    expect((await placement()).replicas).toEqual(replicas);
    const status = JSON.parse((await jade('--output', 'json', 'drain', free, '--status')).stdout);
    expect(status).toMatchObject({ node: free, state: 'drained', replicas_left: 0 });
    // Asking again for a drained node reports it drained at once.
    const again = await jade('drain', drained[0]!, '--wait');
    expect(again.stdout).toMatch(new RegExp(`^drain of ${drained[0]}: drained, 0 replicas left, 1 move started\n$`));
  }, 45_000);
});
