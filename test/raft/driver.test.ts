// Checks the Raft driver end to end in one process: three members of a group wired by an in-memory
// transport, driven by a fake clock, persist through FileRaftStorage on FaultyMemoryDisk (only
// fsynced data survives a crash). Proposals resolve once applied everywhere they must, reads
// return linearizable indexes, snapshots + compaction bound the log, and a crashed node recovers
// its durable state from disk and catches up (through a snapshot when needed).
import { describe, expect, it } from 'vitest';
import { RaftDriver, snapshotThresholdFactor } from '../../node/src/raft/driver.js';
import type { RaftDriverOptions, RaftStateMachine } from '../../node/src/raft/driver.js';
import { FileRaftStorage, decodeEntry, entryHeader } from '../../node/src/cluster/file-raft-storage.js';
import type { Entry, Message, Snapshot } from '../../node/src/raft/types.js';
import { FaultyMemoryDisk } from '../../node/src/storage/disk.js';
import { writeCheckpoint } from '../../node/src/storage/checkpoint.js';
import { Prng } from './prng.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A tiny state machine: the list of applied normal entries' data. */
class ListMachine implements RaftStateMachine {
  items: string[] = [];
  applied = 0;
  restores = 0;
  async apply(entries: Entry[]): Promise<void> {
    for (const e of entries) {
      if (e.type === 'normal' && e.data.length > 0) this.items.push(dec.decode(e.data));
      this.applied = e.index;
    }
  }
  /** While set, a snapshot's image (captured at the call) is handed over only once this resolves. */
  snapshotGate: Promise<void> | null = null;
  snapshotsStarted = 0;
  async snapshot(): Promise<Uint8Array> {
    this.snapshotsStarted++;
    const image = enc.encode(JSON.stringify({ items: this.items, applied: this.applied }));
    if (this.snapshotGate) await this.snapshotGate;
    return image;
  }
  async restore(s: Snapshot): Promise<void> {
    const v = s.data.length > 0 ? (JSON.parse(dec.decode(s.data)) as { items: string[] }) : { items: [] };
    this.items = v.items;
    this.applied = s.meta.index;
    this.restores++;
  }
}

interface Member {
  id: string;
  disk: FaultyMemoryDisk;
  storage: FileRaftStorage;
  driver: RaftDriver;
  sm: ListMachine;
  up: boolean;
}

class Cluster {
  members = new Map<string, Member>();
  private readonly rng = new Prng(7);

  constructor(private readonly driverOptions: Partial<RaftDriverOptions> = {}) {}

  async add(id: string, voters: string[], disk = new FaultyMemoryDisk()): Promise<Member> {
    const storage = await FileRaftStorage.open({ disk, dir: `/data/${id}/g1`, bootstrap: { voters, learners: [] } });
    const sm = new ListMachine();
    // The state machine is volatile here: rebuild it from the durable snapshot.
    const snap = storage.snapshot();
    if (snap && snap.meta.index > 0) await sm.restore(snap);
    const driver = new RaftDriver({
      core: { id, groupId: 'g1', random: { nextInt: (n) => this.rng.nextInt(n) }, electionTicks: 10, heartbeatTicks: 1 },
      storage,
      transport: { send: (msgs) => this.send(msgs) },
      stateMachine: sm,
      snapshotEveryEntries: 8,
      compactionLagEntries: 2,
      ...this.driverOptions,
    });
    const m: Member = { id, disk, storage, driver, sm, up: true };
    this.members.set(id, m);
    return m;
  }

  /** Messages this returns true for are lost. */
  drop: (m: Message) => boolean = () => false;

  private send(msgs: Message[]): void {
    for (const msg of msgs) {
      if (this.drop(msg)) continue;
      setImmediate(() => {
        const to = this.members.get(msg.to);
        if (!to || !to.up) {
          if (msg.type === 'MsgSnap') this.members.get(msg.from)?.driver.reportSnapshot(msg.to, false);
          return;
        }
        to.driver.step(msg);
        if (msg.type === 'MsgSnap') this.members.get(msg.from)?.driver.reportSnapshot(msg.to, true);
      });
    }
  }

  /** Advance the fake clock one tick on every live member and let the loops run. */
  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) if (m.up) m.driver.tick();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.up && m.driver.status().role === 'leader');
  }

  async waitLeader(): Promise<Member> {
    for (let i = 0; i < 200; i++) {
      const l = this.leader();
      if (l) return l;
      await this.tick();
    }
    throw new Error('no leader');
  }

  /** Crash: the driver stops and the disk keeps only fsynced state. */
  async crash(id: string): Promise<FaultyMemoryDisk> {
    const m = this.members.get(id)!;
    m.up = false;
    await m.driver.stop();
    m.disk.crash();
    return m.disk;
  }
}

async function settle<T>(c: Cluster, p: Promise<T>): Promise<T> {
  let done = false;
  let out: T | undefined;
  let err: unknown;
  p.then(
    (v) => {
      done = true;
      out = v;
    },
    (e) => {
      done = true;
      err = e;
    },
  );
  for (let i = 0; i < 300 && !done; i++) await c.tick();
  if (!done) throw new Error('did not settle');
  if (err) throw err;
  return out as T;
}

describe('RaftDriver over FileRaftStorage', () => {
  it('replicates proposals, serves linearizable reads, snapshots and compacts', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    for (let i = 0; i < 20; i++) {
      const r = await settle(c, leader.driver.propose([enc.encode(`v${i}`)]));
      expect(r.index).toBeGreaterThan(1);
    }
    await c.tick(5);
    for (const m of c.members.values()) expect(m.sm.items).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
    const follower = [...c.members.values()].find((m) => m !== leader)!;
    const readAt = await settle(c, follower.driver.readIndex());
    expect(readAt).toBeGreaterThanOrEqual(leader.driver.status().commit - 1);
    expect(follower.sm.applied).toBeGreaterThanOrEqual(readAt);
    // Snapshots every 8 entries, compaction keeps 2 below: the log does not hold everything.
    expect(leader.storage.firstIndex()).toBeGreaterThan(10);
  });

  it('snapshots by applied bytes and keeps at most compactionLagBytes of log behind the snapshot', async () => {
    const c = new Cluster({ snapshotEveryEntries: 1_000, compactionLagEntries: 1_000, snapshotEveryBytes: 10_000, compactionLagBytes: 3_500 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    const big = (i: number) => new Uint8Array(1_000).fill(65 + (i % 26)); // letters: ~1 KB of JSON state each
    for (let i = 0; i < 30; i++) await settle(c, leader.driver.propose([big(i)]));
    await c.tick(5);
    for (const m of c.members.values()) {
      expect(m.sm.items).toHaveLength(30);
      const snapIndex = m.storage.snapshot()!.meta.index;
      // By entry count (1,000) no snapshot would have happened yet; by bytes one did after ~10 entries.
      expect(snapIndex).toBeGreaterThanOrEqual(10);
      const behind = m.storage.entries(m.storage.firstIndex(), snapIndex + 1, Infinity);
      expect(behind.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(3_500);
      expect(behind.length).toBeGreaterThan(0);
    }
  });

  it('staggers the snapshot thresholds of a group\'s voters so they do not all stall at once', () => {
    const voters = ['n2', 'n0', 'n1'];
    const factors = voters.map((id) => snapshotThresholdFactor(id, voters));
    expect(new Set(factors).size).toBe(3);
    for (const f of factors) expect(f >= 1 && f < 1.5).toBe(true);
    expect(snapshotThresholdFactor('learner', voters)).toBe(1);
  });

  it('waits for as many log bytes as the last snapshot holds before the next (write amplification ≤ 2×)', async () => {
    const c = new Cluster({ snapshotEveryEntries: 1_000, compactionLagEntries: 1_000, snapshotEveryBytes: 2_000 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    let snapshots = 0;
    const create = leader.storage.createSnapshot.bind(leader.storage);
    leader.storage.createSnapshot = (...args) => {
      snapshots++;
      return create(...args);
    };
    // The state (a JSON list of every item) grows by ~1 KB an entry: after a snapshot of S bytes
    // the next comes S log bytes later, so 30 entries give ~4 snapshots, not the 15 of a fixed 2 KB.
    for (let i = 0; i < 30; i++) await settle(c, leader.driver.propose([new Uint8Array(1_000).fill(65)]));
    await c.tick(5);
    expect(snapshots).toBeGreaterThanOrEqual(3);
    expect(snapshots).toBeLessThanOrEqual(6);
  });

  it('takes a requested snapshot below the thresholds, and none when nothing was applied since the last', async () => {
    const c = new Cluster({ snapshotEveryEntries: 1_000, compactionLagEntries: 0 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    for (let i = 0; i < 5; i++) await settle(c, leader.driver.propose([enc.encode(`r${i}`)]));
    const before = leader.storage.snapshot()?.meta.index ?? 0;
    expect(leader.sm.applied).toBeGreaterThan(before);
    leader.driver.requestSnapshot();
    await c.tick(2);
    await leader.driver.idle();
    const snap = leader.storage.snapshot()!;
    expect(snap.meta.index).toBe(leader.sm.applied);
    const started = leader.sm.snapshotsStarted;
    leader.driver.requestSnapshot(); // nothing new applied: no snapshot
    await c.tick(2);
    await leader.driver.idle();
    expect(leader.sm.snapshotsStarted).toBe(started);
    // The request does not linger: later entries wait for the thresholds again.
    await settle(c, leader.driver.propose([enc.encode('after')]));
    await c.tick(2);
    await leader.driver.idle();
    expect(leader.sm.snapshotsStarted).toBe(started);
  });

  it('goes on committing and applying while a snapshot is being produced, then records it at the captured index', async () => {
    const c = new Cluster({ snapshotEveryEntries: 8, compactionLagEntries: 0 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    let release!: () => void;
    leader.sm.snapshotGate = new Promise((r) => (release = r));
    let i = 0;
    while (leader.sm.snapshotsStarted === 0) await settle(c, leader.driver.propose([enc.encode(`v${i++}`)]));
    const capturedAt = leader.sm.applied;
    // The snapshot is held back: proposals still commit and apply on the leader.
    for (let j = 0; j < 10; j++) await settle(c, leader.driver.propose([enc.encode(`w${j}`)]));
    expect(leader.sm.applied).toBeGreaterThan(capturedAt + 9);
    expect(leader.storage.snapshot()!.meta.index).toBeLessThan(capturedAt);
    expect(leader.sm.snapshotsStarted).toBe(1); // one at a time
    release();
    await c.tick(5);
    await leader.driver.idle();
    const snap = leader.storage.snapshot()!;
    expect(snap.meta.index).toBeGreaterThanOrEqual(capturedAt);
    expect((JSON.parse(dec.decode(snap.data)) as { applied: number }).applied).toBe(snap.meta.index);
    expect(leader.storage.firstIndex()).toBe(snap.meta.index + 1);
  });

  it('a follower that rejects a proposal names the leader', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    await c.tick(3); // let the followers hear from it
    const follower = [...c.members.values()].find((m) => m !== leader)!;
    await expect(follower.driver.propose([enc.encode('x')])).rejects.toMatchObject({ code: 'JADE_ERR_NOT_LEADER', details: { leader: leader.id } });
  });

  it('a restarted follower is never handed the answer to a read its previous process sent', async () => {
    // The leader keys pending reads by context and answers each with the commit index it had when
    // the read arrived. Sharded lincheck seed 1: a node killed and restarted counted its contexts
    // from 1 again, so a read it sent after restart matched one its old process had left pending,
    // and was answered with that older index (a stale read).
    const c = new Cluster({ snapshotEveryEntries: 1_000 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    await settle(c, leader.driver.propose([enc.encode('before')]));
    await c.tick(3);
    const f = [...c.members.values()].find((m) => m !== leader)!;
    // Heartbeat answers are lost: the leader cannot confirm reads, which stay pending there.
    c.drop = (m) => m.type === 'MsgHeartbeatResp';
    f.driver.readIndex().catch(() => undefined);
    await c.tick(2);
    const disk = await c.crash(f.id);
    const written = await settle(c, leader.driver.propose([enc.encode('acknowledged after the first read')]));
    const back = await c.add(f.id, ['a', 'b', 'c'], disk);
    await c.tick(5);
    expect(back.driver.status().lead).toBe(leader.id);
    const read = back.driver.readIndex();
    await c.tick(2);
    c.drop = () => false;
    // Any later read the leader confirms also answers every read pending before it.
    await settle(c, leader.driver.readIndex());
    expect(await settle(c, read)).toBeGreaterThanOrEqual(written.index);
  });

  it('batches reads: callers arriving while a round is in flight share the next round; none joins a round already sent', async () => {
    const c = new Cluster({ snapshotEveryEntries: 1_000 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    await settle(c, leader.driver.propose([enc.encode('x')]));
    await c.tick(5);
    const core = (leader.driver as unknown as { core: { readIndex(ctx: string): void } }).core;
    const rounds: string[] = [];
    const readIndexOfCore = core.readIndex.bind(core);
    core.readIndex = (ctx: string) => {
      rounds.push(ctx);
      readIndexOfCore(ctx);
    };
    const first = leader.driver.readIndex();
    expect(rounds).toHaveLength(1);
    // Sent while the first round is in flight: they gather, nothing more goes to the core yet.
    const gathered = Array.from({ length: 20 }, () => leader.driver.readIndex());
    expect(rounds).toHaveLength(1);
    const firstAt = await settle(c, first);
    // One settle loop for all of them (concurrent loops would tick the clock ahead of the messages).
    const at = await settle(c, Promise.all(gathered));
    // One more round for all twenty, sent after they arrived (so its index is taken after them).
    expect(rounds).toHaveLength(2);
    expect(new Set(at).size).toBe(1);
    expect(at[0]).toBeGreaterThanOrEqual(firstAt);
  });

  it('a read round whose answer is lost does not hold the next one back', async () => {
    const c = new Cluster({ snapshotEveryEntries: 1_000 });
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    const leader = await c.waitLeader();
    await settle(c, leader.driver.propose([enc.encode('x')]));
    const f = [...c.members.values()].find((m) => m !== leader)!;
    // The follower's first read is lost on its way to the leader.
    let dropped = 0;
    c.drop = (m) => m.type === 'MsgReadIndex' && dropped++ === 0;
    f.driver.readIndex().catch(() => undefined);
    await c.tick(1);
    const next = f.driver.readIndex();
    await new Promise((r) => setTimeout(r, 400));
    expect(await settle(c, next)).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThanOrEqual(2);
  });

  it('a crashed node recovers its durable log from disk and catches up through a snapshot', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) await c.add(id, ['a', 'b', 'c']);
    let leader = await c.waitLeader();
    await settle(c, leader.driver.propose([enc.encode('before')]));
    await c.tick(3);
    const victim = [...c.members.values()].find((m) => m !== leader)!;
    const termBefore = victim.driver.status().term;
    const disk = await c.crash(victim.id);
    for (let i = 0; i < 20; i++) await settle(c, leader.driver.propose([enc.encode(`during${i}`)]));
    // Restart from the crashed disk image.
    const back = await c.add(victim.id, ['a', 'b', 'c'], disk);
    const restoresAtStart = back.sm.restores;
    expect(back.driver.status().term).toBe(termBefore);
    expect(back.sm.items.length + back.storage.lastIndex()).toBeGreaterThan(0);
    leader = await c.waitLeader();
    await settle(c, leader.driver.propose([enc.encode('after')]));
    await c.tick(10);
    expect(back.sm.items).toEqual(leader.sm.items);
    expect(back.sm.items.at(-1)).toBe('after');
    expect(back.sm.items).toContain('before');
    // The leader had compacted past what the victim held: it caught up through a snapshot.
    expect(back.sm.restores).toBeGreaterThan(restoresAtStart);
  });
});

describe('restart after membership changes', () => {
  // A founder's snapshot lists only itself; the members added since live in its log. Its hard state
  // used to be written on term/vote changes only, so a restart re-applied the log only up to a stale
  // commit and the node took its voters from the snapshot: alone, it elected itself (a second leader
  // beside the real majority). Seen as an e2e rolling restart whose nodes campaigned with old voters.
  for (const how of ['crash', 'clean stop'] as const) {
    it(`a ${how} keeps every membership change the node applied (it never campaigns with the snapshot's voters)`, async () => {
      const c = new Cluster({ snapshotEveryEntries: 1000 });
      const a = await c.add('a', ['a']);
      await c.add('b', []);
      await c.add('c', []);
      a.driver.campaign();
      await c.waitLeader();
      await settle(c, a.driver.propose([enc.encode('w0')]));
      await settle(c, a.driver.proposeConfChange({ type: 'addVoter', nodeId: 'b' }));
      await settle(c, a.driver.proposeConfChange({ type: 'addVoter', nodeId: 'c' }));
      for (let i = 1; i < 3; i++) await settle(c, a.driver.propose([enc.encode(`w${i}`)]));
      await c.tick(5);
      expect(a.storage.snapshot()!.meta.conf.voters).toEqual(['a']);
      expect(a.driver.core.confState().voters).toEqual(['a', 'b', 'c']);
      // b and c go silent; a restarts from its disk.
      for (const id of ['b', 'c']) c.members.get(id)!.up = false;
      let disk: FaultyMemoryDisk;
      if (how === 'crash') disk = await c.crash('a');
      else {
        a.up = false;
        await a.driver.stop();
        await a.storage.close();
        disk = a.disk;
      }
      const back = await c.add('a', [], disk);
      const leaders: string[] = [];
      back.driver.onLeaderChange((l) => leaders.push(l));
      await c.tick(60);
      expect(back.driver.core.confState().voters).toEqual(['a', 'b', 'c']);
      expect(leaders).not.toContain('a');
      // Once the others are back the group elects a leader of all three again, with every write.
      for (const id of ['b', 'c']) c.members.get(id)!.up = true;
      const leader = await c.waitLeader();
      await settle(c, leader.driver.propose([enc.encode('after')]));
      await c.tick(5);
      expect(back.sm.items).toEqual(['w0', 'w1', 'w2', 'after']);
    });
  }
});

describe('FileRaftStorage', () => {
  const entry = (index: number, term: number, data: string): Entry => ({ index, term, type: 'normal', data: enc.encode(data) });

  it('encodes entries losslessly', () => {
    const e: Entry = { index: 9, term: 2 ** 40 + 3, type: 'confChange', data: enc.encode('{"x":1}') };
    expect(decodeEntry(9, new Uint8Array(Buffer.concat([entryHeader(e), e.data])))).toEqual(e);
  });

  it('keeps synced entries and term/vote across a crash, overwrites conflicting tails', async () => {
    const disk = new FaultyMemoryDisk();
    let s = await FileRaftStorage.open({ disk, dir: '/g', bootstrap: { voters: ['a', 'b', 'c'], learners: [] } });
    expect([s.firstIndex(), s.lastIndex()]).toEqual([2, 1]);
    await s.save({ hardState: { term: 2, vote: 'a', commit: 1 }, entries: [entry(2, 2, 'x'), entry(3, 2, 'y'), entry(4, 2, 'z')] }, true);
    await s.save({ hardState: { term: 3, vote: 'b', commit: 2 }, entries: [entry(3, 3, 'Y')] }, true);
    disk.crash();
    s = await FileRaftStorage.open({ disk, dir: '/g' });
    expect(s.initialState().hardState).toEqual({ term: 3, vote: 'b', commit: 2 });
    expect(s.lastIndex()).toBe(3);
    expect(s.entries(2, 4, 1 << 20).map((e) => dec.decode(e.data))).toEqual(['x', 'Y']);
    expect(s.initialState().confState.voters).toEqual(['a', 'b', 'c']);
  });

  it('writes a commit that passes a membership change, so a restart rebuilds the membership it had applied', async () => {
    // Seed 1 of the sharded lincheck run (n0, the meta group's founder, killed and restarted):
    // with only term/vote written, the node came back with its bootstrap voter set {n0}, a quorum
    // of one, while the log's committed conf changes had made it five.
    const disk = new FaultyMemoryDisk();
    let s = await FileRaftStorage.open({ disk, dir: '/g', bootstrap: { voters: ['a'], learners: [] } });
    const addB: Entry = { index: 3, term: 2, type: 'confChange', data: enc.encode('{"type":"addNode","nodeId":"b"}') };
    await s.save({ hardState: { term: 2, vote: 'a', commit: 1 }, entries: [entry(2, 2, 'x'), addB, entry(4, 2, 'y')] }, true);
    await s.save({ hardState: { term: 2, vote: 'a', commit: 2 }, entries: [] }, true); // passes no conf change: not written
    await s.save({ hardState: { term: 2, vote: 'a', commit: 4 }, entries: [] }, true);
    await s.save({ hardState: { term: 2, vote: 'a', commit: 4 }, entries: [entry(5, 2, 'z')] }, true);
    await s.save({ hardState: { term: 2, vote: 'a', commit: 5 }, entries: [] }, true); // a plain commit advance: not written
    disk.crash();
    s = await FileRaftStorage.open({ disk, dir: '/g' });
    expect(s.initialState().hardState).toEqual({ term: 2, vote: 'a', commit: 4 });
  });

  it('an own snapshot written while a newer leader snapshot is installed does not replace it, and its compaction is a no-op', async () => {
    const disk = new FaultyMemoryDisk();
    const s = await FileRaftStorage.open({ disk, dir: '/g', bootstrap: { voters: ['a', 'b'], learners: [] } });
    await s.save({ hardState: { term: 2, vote: 'a', commit: 6 }, entries: [2, 3, 4, 5, 6].map((i) => entry(i, 2, `e${i}`)) }, true);
    const conf = { voters: ['a', 'b'], learners: [] };
    // Both at once, as the driver may do them now: ours at 4, the leader's at 9.
    const ours = s.createSnapshot(4, conf, enc.encode('own4')).then(() => s.compact(4));
    const install = s.save({ snapshot: { meta: { index: 9, term: 3, conf }, data: enc.encode('leader9') }, entries: [], hardState: { term: 3, vote: '', commit: 9 } }, true);
    await Promise.all([ours, install]);
    // Ours was first in line and is superseded; a late one (index ≤ 9) is dropped outright.
    await s.createSnapshot(6, conf, enc.encode('own6-late'));
    expect(dec.decode(s.snapshot()!.data)).toBe('leader9');
    expect([s.firstIndex(), s.lastIndex()]).toEqual([10, 9]);
    disk.crash();
    const back = await FileRaftStorage.open({ disk, dir: '/g' });
    expect(dec.decode(back.snapshot()!.data)).toBe('leader9');
    expect(back.snapshot()!.meta.index).toBe(9);
  });

  it('a leader snapshot replaces the log; a divergent tail left by a crash before the log reset is dropped', async () => {
    const disk = new FaultyMemoryDisk();
    let s = await FileRaftStorage.open({ disk, dir: '/g', bootstrap: { voters: ['a', 'b'], learners: [] } });
    await s.save({ hardState: { term: 2, vote: 'a', commit: 1 }, entries: [2, 3, 4, 5, 6, 7].map((i) => entry(i, 2, `old${i}`)) }, true);
    // Crash between writing the snapshot (index 5, term 3: our entry 5 has term 2) and resetting the WAL.
    const meta = { index: 5, term: 3, conf: { voters: ['a', 'b'], learners: [] } };
    await writeCheckpoint(disk, '/g', 'raft-snapshot', { snapshot: enc.encode('img'), extra: { meta: enc.encode(JSON.stringify(meta)) } });
    disk.crash();
    s = await FileRaftStorage.open({ disk, dir: '/g' });
    expect([s.firstIndex(), s.lastIndex()]).toEqual([6, 5]);
    expect(s.term(5)).toBe(3);
    expect(s.initialState().hardState.commit).toBeLessThanOrEqual(5);
    // A complete install, then new entries: all survive.
    await s.save({ snapshot: { meta: { index: 9, term: 4, conf: meta.conf }, data: enc.encode('img9') }, entries: [entry(10, 4, 'n10')], hardState: { term: 4, vote: '', commit: 9 } }, true);
    disk.crash();
    s = await FileRaftStorage.open({ disk, dir: '/g' });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([10, 10, 4]);
    expect(dec.decode(s.snapshot()!.data)).toBe('img9');
  });

  it('own snapshot + compaction survive a crash and keep the entries after the snapshot', async () => {
    const disk = new FaultyMemoryDisk();
    let s = await FileRaftStorage.open({ disk, dir: '/g', bootstrap: { voters: ['a'], learners: [] } });
    await s.save({ hardState: { term: 2, vote: 'a', commit: 8 }, entries: [2, 3, 4, 5, 6, 7, 8].map((i) => entry(i, 2, `e${i}`)) }, true);
    await s.createSnapshot(6, { voters: ['a'], learners: [] }, enc.encode('img6'));
    await s.compact(4);
    disk.crash();
    s = await FileRaftStorage.open({ disk, dir: '/g' });
    expect([s.firstIndex(), s.lastIndex()]).toEqual([7, 8]);
    expect(s.entries(7, 9, 1 << 20).map((e) => dec.decode(e.data))).toEqual(['e7', 'e8']);
  });
});
