// Seeded end-to-end simulation of the real RaftDriver + FileRaftStorage on FaultyMemoryDisk: three
// nodes, a lossy reordering network with partitions, and crashes that cut a node off its disk at
// any await (so writes that were not yet fsynced are lost) before restarting it from the disk image.
// Checks: every acknowledged proposal survives and is applied in the same order everywhere
// (state machines are prefixes of one another), every read sees all writes acknowledged before it
// began, and after healing a proposal commits.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RaftDriver } from '../../node/src/raft/driver.js';
import type { RaftStateMachine } from '../../node/src/raft/driver.js';
import { FileRaftStorage } from '../../node/src/cluster/file-raft-storage.js';
import type { Entry, Message, Snapshot } from '../../node/src/raft/types.js';
import type { Disk, DiskFile, OpenMode } from '../../node/src/storage/disk.js';
import { FaultyMemoryDisk, fsError, writeAll } from '../../node/src/storage/disk.js';
import { Prng } from './prng.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const SEEDS = 30;
const CHAOS_STEPS = 300;
const LIVENESS_STEPS = 600;

/** A Disk view that one process incarnation uses; fence() makes every later call fail, like a dead process. */
class FencedDisk implements Disk {
  private fenced = false;
  constructor(
    private readonly inner: Disk,
    readonly syncDelayTurns: () => number,
    /** Negative control: fsync reports success without making anything durable (a lying write cache). */
    private readonly lying = false,
  ) {}
  fence(): void {
    this.fenced = true;
  }
  private check(op: string, p: string): void {
    if (this.fenced) throw fsError('EIO', op, p);
  }
  async open(p: string, mode: OpenMode): Promise<DiskFile> {
    this.check('open', p);
    const f = await this.inner.open(p, mode);
    return {
      write: async (data, position) => {
        this.check('write', p);
        return f.write(data, position);
      },
      read: async (buf, position) => {
        this.check('read', p);
        return f.read(buf, position);
      },
      sync: async () => {
        this.check('sync', p);
        // A slow disk: the fsync takes a few turns of the event loop (crashes can land in between).
        for (let i = this.syncDelayTurns(); i > 0; i--) await new Promise((r) => setImmediate(r));
        this.check('sync', p);
        if (this.lying) return;
        return f.sync();
      },
      size: async () => {
        this.check('size', p);
        return f.size();
      },
      truncate: async (len) => {
        this.check('truncate', p);
        return f.truncate(len);
      },
      close: async () => f.close(),
    };
  }
  async readFile(p: string) {
    this.check('readFile', p);
    return this.inner.readFile(p);
  }
  /** Step by step through the fenced calls, so a dead incarnation cannot finish one after its crash. */
  async writeFileAtomic(p: string, data: Uint8Array) {
    const tmp = `${p}.tmp`;
    const f = await this.open(tmp, 'create');
    try {
      await writeAll(f, data, 0);
      await f.sync();
    } finally {
      await f.close();
    }
    await this.rename(tmp, p);
    await this.syncDir(path.dirname(p));
  }
  async rename(a: string, b: string) {
    this.check('rename', a);
    return this.inner.rename(a, b);
  }
  async unlink(p: string) {
    this.check('unlink', p);
    return this.inner.unlink(p);
  }
  async removeAll(p: string) {
    this.check('removeAll', p);
    return this.inner.removeAll(p);
  }
  async mkdirp(p: string) {
    this.check('mkdirp', p);
    return this.inner.mkdirp(p);
  }
  async list(p: string) {
    this.check('list', p);
    return this.inner.list(p);
  }
  async exists(p: string) {
    this.check('exists', p);
    return this.inner.exists(p);
  }
  async statSize(p: string) {
    this.check('statSize', p);
    return this.inner.statSize(p);
  }
  async syncDir(p: string) {
    this.check('syncDir', p);
    if (this.lying) return;
    return this.inner.syncDir(p);
  }
}

class ListMachine implements RaftStateMachine {
  items: string[] = [];
  async apply(entries: Entry[]): Promise<void> {
    for (const e of entries) if (e.type === 'normal' && e.data.length > 0) this.items.push(dec.decode(e.data));
  }
  async snapshot(): Promise<Uint8Array> {
    return enc.encode(JSON.stringify(this.items));
  }
  restores = 0;
  async restore(s: Snapshot): Promise<void> {
    this.items = s.data.length > 0 ? (JSON.parse(dec.decode(s.data)) as string[]) : [];
    this.restores++;
  }
}

interface SimNode {
  id: string;
  disk: FaultyMemoryDisk;
  fenced: FencedDisk;
  driver: RaftDriver | null;
  sm: ListMachine;
  up: boolean;
  booting: boolean;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface DriverSimResult {
  acked: number;
  reads: number;
  crashes: number;
  snapshotsInstalled: number;
}

/** lyingDisk (negative control): fsync returns without making data durable, so Readies are acknowledged before they are. */
async function runDriverSim(seed: number, lyingDisk = false): Promise<DriverSimResult> {
  const rng = new Prng(seed * 7919 + 13);
  const ids = ['a', 'b', 'c'];
  const nodes = new Map<string, SimNode>();
  const net: { msg: Message; at: number }[] = [];
  const blocked = new Set<string>();
  let now = 0;
  let faults = true;
  const acked: string[] = [];
  let reads = 0;
  let seq = 0;
  const violations: string[] = [];
  let crashes = 0;
  let snapshotsInstalled = 0;
  const dropP = rng.pick([0, 0.05, 0.15]);

  const boot = async (n: SimNode): Promise<void> => {
    n.booting = true;
    n.fenced = new FencedDisk(n.disk, () => rng.nextInt(6), lyingDisk);
    const storage = await FileRaftStorage.open({ disk: n.fenced, dir: `/${n.id}`, bootstrap: { voters: ids, learners: [] } });
    n.sm = new ListMachine();
    const snap = storage.snapshot();
    if (snap && snap.meta.index > 0) await n.sm.restore(snap);
    n.driver = new RaftDriver({
      core: { id: n.id, groupId: 'g', random: { nextInt: (k) => rng.nextInt(k) }, electionTicks: 10, heartbeatTicks: 1, maxMsgBytes: rng.pick([64, 4096]) },
      storage,
      transport: { send: (msgs) => msgs.forEach((m) => net.push({ msg: m, at: now + (faults ? rng.nextInt(4) : 1) })) },
      stateMachine: n.sm,
      snapshotEveryEntries: rng.pick([5, 20]),
      compactionLagEntries: 2,
      // A fatal storage error ends the process; the sim restarts it from its disk later.
      onFatal: () => {
        if (n.driver === driver && n.up) crash(n);
      },
    });
    const driver = n.driver;
    n.up = true;
    n.booting = false;
  };

  const crash = (n: SimNode): void => {
    crashes++;
    snapshotsInstalled += Math.max(0, n.sm.restores - 1);
    n.up = false;
    n.fenced.fence();
    const old = n.driver;
    n.driver = null;
    void old?.stop().catch(() => undefined);
    // What was not fsynced when the process died is gone.
    n.disk.crash();
  };

  for (const id of ids) {
    const n: SimNode = { id, disk: new FaultyMemoryDisk(), fenced: null as unknown as FencedDisk, driver: null, sm: new ListMachine(), up: false, booting: false };
    nodes.set(id, n);
    await boot(n);
  }

  const leader = (): SimNode | undefined => {
    let best: SimNode | undefined;
    for (const n of nodes.values()) {
      if (!n.up || !n.driver) continue;
      const s = n.driver.core.basicStatus();
      if (s.role === 'leader' && (!best || s.term > best.driver!.core.basicStatus().term)) best = n;
    }
    return best;
  };

  const checkPrefixes = (): void => {
    const lists = [...nodes.values()].filter((n) => n.up).map((n) => n.sm.items);
    for (const a of lists) for (const b of lists) {
      const k = Math.min(a.length, b.length);
      for (let i = 0; i < k; i++) if (a[i] !== b[i]) throw new Error(`seed ${seed}: state machines diverge at item ${i}: ${a[i]} vs ${b[i]}`);
    }
  };

  const step = async (): Promise<void> => {
    now++;
    if (faults) {
      if (rng.chance(0.01)) {
        const n = rng.pick([...nodes.values()]);
        if (n.up) crash(n);
      }
      for (const n of nodes.values()) if (!n.up && !n.booting && rng.chance(0.1)) await boot(n);
      if (rng.chance(0.01)) {
        const a = rng.pick(ids);
        for (const b of ids) if (a !== b) blocked.add(`${a}->${b}`).add(`${b}->${a}`);
      }
      if (rng.chance(0.05)) blocked.clear();
      const l = leader();
      if (l && rng.chance(0.4)) {
        const data = `w${seed}-${++seq}`;
        l.driver!.propose([enc.encode(data)]).then(
          () => acked.push(data),
          () => undefined,
        );
      }
      const r = rng.pick([...nodes.values()]);
      if (r.up && r.driver && rng.chance(0.1)) {
        const before = [...acked];
        const sm = r.sm;
        r.driver.readIndex().then(
          () => {
            // Linearizable: everything acknowledged before the read began is visible now.
            for (const d of before) if (!sm.items.includes(d)) violations.push(`seed ${seed}: read at ${r.id} misses acknowledged ${d}`);
            reads++;
          },
          () => undefined,
        );
      }
    }
    for (const n of nodes.values()) if (n.up) n.driver!.tick();
    const due = net.filter((x) => x.at <= now);
    for (let i = net.length - 1; i >= 0; i--) if (net[i].at <= now) net.splice(i, 1);
    for (const { msg } of due) {
      const to = nodes.get(msg.to)!;
      const lost = !to.up || blocked.has(`${msg.from}->${msg.to}`) || (faults && rng.chance(dropP));
      if (msg.type === 'MsgSnap') nodes.get(msg.from)?.driver?.reportSnapshot(msg.to, !lost);
      if (!lost) to.driver!.step(msg);
    }
    await tick();
    await tick();
    checkPrefixes();
  };

  for (let i = 0; i < CHAOS_STEPS; i++) await step();
  faults = false;
  blocked.clear();
  for (const n of nodes.values()) if (!n.up) await boot(n);
  let probe: string | null = null;
  for (let i = 0; i < LIVENESS_STEPS; i++) {
    await step();
    const l = leader();
    if (l && probe === null) {
      probe = `live${seed}`;
      const p = probe;
      l.driver!.propose([enc.encode(p)]).then(
        () => acked.push(p),
        () => {
          probe = null;
        },
      );
    }
    if (probe && acked.includes(probe)) break;
  }
  if (!acked.includes(`live${seed}`)) violations.push(`seed ${seed}: liveness probe never acknowledged`);
  for (let i = 0; i < 30 && violations.length === 0; i++) await step();
  // Every acknowledged write is in the leader's state machine, once.
  const final = leader()?.sm.items ?? [];
  for (const d of acked) {
    const copies = final.filter((x) => x === d).length;
    if (copies !== 1) violations.push(`seed ${seed}: acknowledged ${d} appears ${copies} times`);
  }
  for (const n of nodes.values()) {
    snapshotsInstalled += Math.max(0, n.sm.restores - 1);
    await n.driver?.stop();
  }
  if (violations.length > 0) throw new Error(violations[0]);
  return { acked: acked.length, reads, crashes, snapshotsInstalled };
}

describe('driver simulation (RaftDriver + FileRaftStorage + crashes on FaultyMemoryDisk)', () => {
  it(`${SEEDS} seeds keep acknowledged writes and linearizable reads`, { timeout: 120_000 }, async () => {
    const total = { acked: 0, reads: 0, crashes: 0, snapshotsInstalled: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runDriverSim(seed);
      for (const k of Object.keys(total) as (keyof DriverSimResult)[]) total[k] += r[k];
    }
    console.log(`driver simulation over ${SEEDS} seeds: ${JSON.stringify(total)}`);
    // The runs must have exercised something.
    expect(total.acked).toBeGreaterThan(SEEDS * 10);
    expect(total.reads).toBeGreaterThan(SEEDS);
    expect(total.crashes).toBeGreaterThan(SEEDS);
  });

  it('negative control: a disk whose fsync lies (acknowledged writes not durable) is caught', { timeout: 120_000 }, async () => {
    let caught: string | null = null;
    for (let seed = 1; seed <= SEEDS && !caught; seed++) {
      try {
        await runDriverSim(seed, true);
      } catch (e) {
        const msg = (e as Error).message;
        // Only a broken guarantee counts, not an incidental error.
        if (/acknowledged|diverge|misses/.test(msg)) caught = msg;
        else throw e;
      }
    }
    console.log(`lying fsync caught: ${caught}`);
    expect(caught).not.toBeNull();
  });
});
