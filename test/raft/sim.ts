// Seeded deterministic simulation of one Raft group: N nodes over a simulated network (loss,
// delay, duplication, reordering, symmetric and one-way partitions) and simulated disks (slow
// writes; a crash loses every write not yet synced). Clients propose batches, read with
// ReadIndex, change membership, transfer leadership; nodes snapshot and compact their logs.
// After every step the Raft safety properties are checked; at the end, liveness once faults heal.
import { decodeConfChange } from '../../node/src/raft/confchange.js';
import { RaftCore } from '../../node/src/raft/core.js';
import { MemoryRaftStorage } from '../../node/src/raft/storage.js';
import type { ConfChange, Entry, HardState, Message, RaftBugs, Ready } from '../../node/src/raft/types.js';
import { isJadeError } from '../../node/src/util/errors.js';
import { Prng } from './prng.js';

/** Deliberately broken variants (negative controls); 'none' is the real core. */
export const VARIANTS = ['none', 'voteWithoutLogCheck', 'commitOldTermByCount', 'doubleVote', 'ackBeforePersist', 'readWithoutQuorum'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface SimOptions {
  seed: number;
  nodes: number;
  variant?: Variant;
  /** Steps with faults; liveness phase follows. */
  chaosSteps?: number;
  livenessStepsMax?: number;
  trace?: boolean;
}

export interface SimResult {
  seed: number;
  nodes: number;
  variant: Variant;
  ok: boolean;
  /** Which invariant failed, with details. */
  violation?: string;
  invariant?: string;
  step: number;
  stats: SimStats;
  trace: string[];
}

export interface SimStats {
  committed: number;
  leaders: number;
  crashes: number;
  snapshots: number;
  snapshotsInstalled: number;
  confChanges: number;
  confChangesApplied: number;
  reads: number;
  readsAnswered: number;
  messages: number;
}

export function replayCommand(seed: number, nodes: number, variant: Variant): string {
  return `npm run sim -- --seed ${seed}${nodes !== 3 ? ` --nodes ${nodes}` : ''}${variant !== 'none' ? ` --variant ${variant}` : ''}`;
}

class Violation extends Error {
  constructor(readonly invariant: string, message: string) {
    super(`${invariant}: ${message}`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** State machine image in a snapshot: entry keys of indexes 1..index (empty data = bootstrap). */
function decodeImage(data: Uint8Array, index: number): string[] {
  if (data.length === 0) return Array.from({ length: index }, () => 'bootstrap');
  return JSON.parse(decoder.decode(data)) as string[];
}

function entryKey(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    return `${e.term}:cc:${cc.type}:${cc.nodeId}`;
  }
  return `${e.term}:${decoder.decode(e.data)}`;
}

interface InFlight {
  msg: Message;
  deliverAt: number;
  /** Sender incarnation, so snapshot reports go to the process that sent it. */
  senderIncarnation: number;
}

interface SimNode {
  id: string;
  up: boolean;
  incarnation: number;
  /** Durable disk image: only synced writes reach it. */
  disk: MemoryRaftStorage;
  core: RaftCore | null;
  pending: { rd: Ready; doneAt: number } | null;
  /** State machine: entry keys of indexes 1..appliedIndex (volatile; rebuilt from snapshot on restart). */
  sm: string[];
  appliedIndex: number;
  lastCommit: number;
  diskSlowUntil: number;
  checkedLeaderTerm: number;
}

interface Params {
  dropP: number;
  dupP: number;
  maxDelay: number;
  crashP: number;
  partitionP: number;
  healP: number;
  proposeP: number;
  readP: number;
  confP: number;
  transferP: number;
  snapshotP: number;
  slowDiskP: number;
  /** Faults aimed at the current leader (most bugs hide in leader changes). */
  leaderCrashP: number;
  leaderIsolateP: number;
  restartP: number;
  maxMsgBytes: number;
  maxInflightMsgs: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
}

export function runSim(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  return sim.run();
}

class Simulation {
  private readonly rng: Prng;
  private readonly variant: Variant;
  private readonly bugs: RaftBugs;
  private readonly nodes: SimNode[] = [];
  private readonly net: InFlight[] = [];
  private readonly blocked = new Set<string>();
  private readonly params: Params;
  private now = 0;
  private proposalSeq = 0;
  private readSeq = 0;
  private readonly traceOn: boolean;
  private readonly traceLines: string[] = [];
  private readonly stats: SimStats = { committed: 0, leaders: 0, crashes: 0, snapshots: 0, snapshotsInstalled: 0, confChanges: 0, confChangesApplied: 0, reads: 0, readsAnswered: 0, messages: 0 };
  private faultsOn = true;

  // Global knowledge for the checkers.
  private readonly leaderOfTerm = new Map<number, string>();
  /** (index:term) → entry key and the term of the entry before it (log matching). */
  private readonly entryAt = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** index → committed entry key, and the lowest term at which some node knew it committed. */
  private readonly committed = new Map<number, { key: string; term: number }>();
  private maxCommitted = 0;
  private readonly appliedAt = new Map<number, string>();
  /** Read contexts → the commit index that the answer must reach. */
  private readonly reads = new Map<string, number>();

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed * 2654435761 + opts.nodes);
    this.variant = opts.variant ?? 'none';
    this.bugs = {};
    if (this.variant === 'voteWithoutLogCheck') this.bugs.voteWithoutLogCheck = true;
    if (this.variant === 'commitOldTermByCount') this.bugs.commitOldTermByCount = true;
    if (this.variant === 'doubleVote') this.bugs.doubleVote = true;
    if (this.variant === 'readWithoutQuorum') this.bugs.readWithoutQuorum = true;
    this.traceOn = opts.trace === true;
    const r = this.rng;
    const knobs = new Prng(opts.seed * 40503 + 7);
    this.params = {
      dropP: r.pick([0, 0.02, 0.05, 0.15]),
      dupP: r.pick([0, 0.02, 0.1]),
      maxDelay: r.pick([1, 3, 6]),
      crashP: r.pick([0.002, 0.006, 0.015]),
      partitionP: r.pick([0.003, 0.01, 0.02]),
      healP: r.pick([0.02, 0.05]),
      proposeP: r.pick([0.1, 0.3, 0.6]),
      readP: r.pick([0.02, 0.1]),
      confP: r.pick([0, 0.01, 0.03]),
      transferP: r.pick([0, 0.005, 0.02]),
      snapshotP: r.pick([0, 0.01, 0.05]),
      slowDiskP: r.pick([0, 0.005, 0.02]),
      leaderCrashP: r.pick([0, 0.005, 0.02, 0.05]),
      leaderIsolateP: r.pick([0, 0.005, 0.02]),
      restartP: r.pick([0.02, 0.05, 0.2]),
      maxMsgBytes: r.pick([20, 20, 40, 100, 1000]),
      maxInflightMsgs: r.pick([1, 2, 4, 16]),
      heartbeatTicks: r.pick([1, 2, 3]),
      // Mostly the production setting (both on); the other combinations keep their code paths
      // honest. Drawn from a separate stream so that adding knobs does not reshuffle old seeds.
      preVote: knobs.chance(0.75),
      checkQuorum: knobs.chance(0.75),
    };
    // Liveness with membership changes needs check-quorum's lease: a removed server that never
    // learns of its removal keeps campaigning, and only followers that ignore vote requests while
    // they hear from a leader keep it from deposing that leader again and again (Raft thesis 4.2.3).
    if (this.params.confP > 0) this.params.checkQuorum = true;
    // One seed in three uses a leader-churn profile: leaders crash and come back quickly while
    // clients keep proposing, one entry per message. That is where old-term commit bugs
    // (Raft paper, figure 8) and persistence-order bugs show up.
    if (r.chance(1 / 3)) {
      Object.assign(this.params, {
        dropP: 0.02,
        maxDelay: 3,
        crashP: 0.01,
        leaderCrashP: 0.05,
        restartP: 0.2,
        proposeP: 0.6,
        maxMsgBytes: 20,
        maxInflightMsgs: 1,
        confP: 0,
      });
    }
    // 3 nodes: all voters. 5 nodes: 3 or 5 initial voters; the others join through the log.
    const initialVoters = opts.nodes <= 3 || r.chance(0.5) ? opts.nodes : 3;
    const voters = Array.from({ length: initialVoters }, (_, i) => `n${i + 1}`);
    for (let i = 1; i <= opts.nodes; i++) {
      const id = `n${i}`;
      const disk = new MemoryRaftStorage(i <= initialVoters ? { voters, learners: [] } : { voters: [], learners: [] });
      const n: SimNode = { id, up: true, incarnation: 0, disk, core: null, pending: null, sm: [], appliedIndex: 0, lastCommit: 0, diskSlowUntil: 0, checkedLeaderTerm: 0 };
      this.nodes.push(n);
      this.boot(n);
    }
    this.trace(`params ${JSON.stringify(this.params)} voters=${voters.join(',')}`);
  }

  private trace(line: string): void {
    if (this.traceOn) this.traceLines.push(`[${this.now}] ${line}`);
  }

  private boot(n: SimNode): void {
    n.incarnation++;
    n.up = true;
    n.pending = null;
    const snap = n.disk.snapshot()!;
    n.sm = decodeImage(snap.data, snap.meta.index);
    n.appliedIndex = snap.meta.index;
    n.lastCommit = n.disk.hardStateNow().commit;
    n.checkedLeaderTerm = 0;
    // The core reads a private copy; the disk image changes only when a write is synced.
    n.core = new RaftCore({
      id: n.id,
      groupId: 'g',
      storage: n.disk,
      random: { nextInt: (max) => this.rng.nextInt(max) },
      applied: snap.meta.index,
      electionTicks: 10,
      heartbeatTicks: this.params.heartbeatTicks,
      preVote: this.params.preVote,
      checkQuorum: this.params.checkQuorum,
      maxMsgBytes: this.params.maxMsgBytes,
      maxInflightMsgs: this.params.maxInflightMsgs,
      maxInflightBytes: 4096,
      maxUncommittedBytes: 2048,
      bugs: this.bugs,
      logger: this.traceOn ? (line) => this.trace(line) : undefined,
    });
  }

  run(): SimResult {
    const chaos = this.opts.chaosSteps ?? 600;
    const livenessMax = this.opts.livenessStepsMax ?? 600;
    try {
      for (; this.now < chaos; this.now++) this.step();
      this.healAll();
      const healedAt = this.now;
      // The bound grows with the backlog of appended-but-uncommitted entries, which must commit
      // first (one entry per message and a small inflight window make that slow, not stuck).
      let lastIndexMax = 0;
      for (const n of this.nodes) if (n.up) lastIndexMax = Math.max(lastIndexMax, n.core!.basicStatus().lastIndex);
      const deadline = this.now + livenessMax + 4 * Math.max(0, lastIndexMax - this.maxCommitted);
      let liveKey: string | null = null;
      let liveLeader = '';
      for (; this.now < deadline; this.now++) {
        this.step();
        const leader = this.currentLeader();
        if (leader && (liveKey === null || leader.id !== liveLeader)) {
          try {
            const seq = ++this.proposalSeq;
            leader.core!.propose([encoder.encode(`live${seq}`)]);
            liveKey = `live${seq}`;
            liveLeader = leader.id;
          } catch {
            // not accepted now (transfer, uncommitted limit): retry next step
          }
        }
        if (liveKey !== null && this.appliedAnywhere(liveKey)) {
          this.trace(`liveness ok: ${liveKey} applied`);
          return this.result(true);
        }
      }
      throw new Violation('liveness', `no proposal committed within ${deadline - healedAt} steps after faults healed (leader: ${this.currentLeader()?.id ?? 'none'})`);
    } catch (e) {
      if (e instanceof Violation) {
        for (const n of this.nodes) {
          if (!n.up) {
            this.trace(`final ${n.id}: down`);
            continue;
          }
          const st = n.core!.status();
          this.trace(`final ${n.id}: ${st.role} term ${st.term} lead ${st.lead} commit ${st.commit} applied ${st.applied} log ${st.firstIndex}..${st.lastIndex} voters ${st.conf.voters} learners ${st.conf.learners} pending ${n.pending ? 'yes' : 'no'}`);
          for (const [id, p] of Object.entries(st.progress)) this.trace(`  ${id}: ${p.description}`);
        }
        this.trace(`VIOLATION ${e.message}`);
        return this.result(false, e);
      }
      throw e;
    }
  }

  private result(ok: boolean, v?: Violation): SimResult {
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      variant: this.variant,
      ok,
      violation: v?.message,
      invariant: v?.invariant,
      step: this.now,
      stats: { ...this.stats, committed: this.maxCommitted },
      trace: this.traceLines,
    };
  }

  private appliedAnywhere(data: string): boolean {
    for (const [, key] of this.appliedAt) if (key.endsWith(`:${data}`)) return true;
    return false;
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const n of this.nodes) {
      if (!n.up) continue;
      const s = n.core!.basicStatus();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = n;
        bestTerm = s.term;
      }
    }
    return best;
  }

  private healAll(): void {
    this.faultsOn = false;
    this.blocked.clear();
    for (const n of this.nodes) {
      n.diskSlowUntil = 0;
      if (!n.up) {
        this.trace(`restart ${n.id} (heal)`);
        this.boot(n);
      }
    }
    this.trace('healed all faults');
  }

  // ------------------------------------------------------------------ one step

  private step(): void {
    const r = this.rng;
    const p = this.params;
    if (this.faultsOn) this.faults();
    // Clients (in the liveness phase only the liveness probe proposes).
    if (this.faultsOn && r.chance(p.proposeP)) this.clientPropose();
    if (r.chance(p.readP)) this.clientRead();
    if (this.faultsOn && r.chance(p.confP)) this.clientConfChange();
    if (this.faultsOn && r.chance(p.transferP)) this.clientTransfer();
    if (r.chance(p.snapshotP)) this.takeSnapshot(r.pick(this.nodes));
    // Time.
    for (const n of this.nodes) if (n.up) n.core!.tick();
    // Network: deliver due messages in random order (reordering).
    const due: InFlight[] = [];
    for (let i = this.net.length - 1; i >= 0; i--) {
      if (this.net[i].deliverAt <= this.now) {
        due.push(this.net[i]);
        this.net.splice(i, 1);
      }
    }
    for (let i = due.length - 1; i > 0; i--) {
      const j = r.nextInt(i + 1);
      [due[i], due[j]] = [due[j], due[i]];
    }
    for (const f of due) this.deliver(f);
    // Disks: finish due writes, then start new ones.
    for (const n of this.nodes) {
      if (n.up && n.pending && n.pending.doneAt <= this.now) this.finishWrite(n);
      if (n.up && !n.pending) this.startWrite(n);
      if (n.up && n.pending && n.pending.doneAt <= this.now) this.finishWrite(n);
    }
    this.checkStep();
  }

  private faults(): void {
    const r = this.rng;
    const p = this.params;
    if (r.chance(p.crashP)) {
      const n = r.pick(this.nodes);
      if (n.up) {
        this.trace(`crash ${n.id}${n.pending ? ` (losing unsynced write of ${n.pending.rd.entries.length} entries)` : ''}`);
        n.up = false;
        n.core = null;
        n.pending = null;
        this.stats.crashes++;
      }
    }
    if (r.chance(p.leaderCrashP)) {
      const leader = this.currentLeader();
      if (leader) {
        this.trace(`crash leader ${leader.id}${leader.pending ? ` (losing unsynced write of ${leader.pending.rd.entries.length} entries)` : ''}`);
        leader.up = false;
        leader.core = null;
        leader.pending = null;
        this.stats.crashes++;
      }
    }
    if (r.chance(p.leaderIsolateP)) {
      const leader = this.currentLeader();
      if (leader) {
        for (const b of this.nodes) if (b !== leader) this.blocked.add(`${leader.id}->${b.id}`).add(`${b.id}->${leader.id}`);
        this.trace(`isolate leader ${leader.id}`);
      }
    }
    for (const n of this.nodes) {
      if (!n.up && r.chance(p.restartP)) {
        this.trace(`restart ${n.id}`);
        this.boot(n);
      }
    }
    if (r.chance(p.partitionP)) {
      const kind = r.nextInt(3);
      const ids = this.nodes.map((n) => n.id);
      if (kind === 0) {
        // symmetric split into two sides
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}->${b}`);
        this.trace(`partition {${[...side].join(',')}} | rest`);
      } else if (kind === 1) {
        const a = r.pick(ids);
        const b = r.pick(ids);
        if (a !== b) this.blocked.add(`${a}->${b}`);
        this.trace(`one-way cut ${a}->${b}`);
      } else {
        const a = r.pick(ids);
        for (const b of ids) if (a !== b) this.blocked.add(`${a}->${b}`).add(`${b}->${a}`);
        this.trace(`isolate ${a}`);
      }
    }
    if (this.blocked.size > 0 && r.chance(p.healP)) {
      this.blocked.clear();
      this.trace('heal partitions');
    }
    if (r.chance(p.slowDiskP)) {
      const n = r.pick(this.nodes);
      n.diskSlowUntil = this.now + 20 + r.nextInt(60);
      this.trace(`slow disk ${n.id} until ${n.diskSlowUntil}`);
    }
  }

  // ------------------------------------------------------------------ clients

  private leaders(): SimNode[] {
    return this.nodes.filter((n) => n.up && n.core!.basicStatus().role === 'leader');
  }

  private clientPropose(): void {
    const r = this.rng;
    // Sometimes a stale leader gets the request: it must not be able to commit it.
    const cands = this.leaders();
    if (cands.length === 0) return;
    const n = r.pick(cands);
    const count = 1 + r.nextInt(3);
    const datas: Uint8Array[] = [];
    for (let i = 0; i < count; i++) datas.push(encoder.encode(`p${++this.proposalSeq}`));
    try {
      const res = n.core!.propose(datas);
      this.trace(`propose at ${n.id}: ${res.firstIndex}..${res.lastIndex} term ${res.term}`);
    } catch (e) {
      if (!isJadeError(e)) throw e;
      this.trace(`propose at ${n.id} rejected: ${e.code}`);
    }
  }

  private clientRead(): void {
    const up = this.nodes.filter((n) => n.up);
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    const ctx = `r${++this.readSeq}`;
    try {
      n.core!.readIndex(ctx);
      // Everything committed before the read began must be visible at its read index.
      this.reads.set(ctx, this.maxCommitted);
      this.stats.reads++;
      this.trace(`read ${ctx} at ${n.id} (must reach ${this.maxCommitted})`);
    } catch (e) {
      if (!isJadeError(e)) throw e;
    }
  }

  private clientConfChange(): void {
    const r = this.rng;
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const n = r.pick(leaders);
    const conf = n.core!.confState();
    const members = new Set([...conf.voters, ...conf.learners]);
    const outsiders = this.nodes.map((x) => x.id).filter((id) => !members.has(id));
    const options: ConfChange[] = [];
    for (const id of outsiders) options.push({ type: 'addLearner', nodeId: id });
    for (const id of conf.learners) options.push({ type: 'addVoter', nodeId: id }, { type: 'removeNode', nodeId: id });
    if (conf.voters.length > 2) for (const id of conf.voters) options.push({ type: 'removeNode', nodeId: id });
    if (options.length === 0) return;
    const cc = r.pick(options);
    try {
      n.core!.proposeConfChange(cc);
      this.stats.confChanges++;
      this.trace(`conf change at ${n.id}: ${cc.type} ${cc.nodeId}`);
    } catch (e) {
      if (!isJadeError(e)) throw e;
    }
  }

  private clientTransfer(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const n = this.rng.pick(leaders);
    const voters = n.core!.confState().voters.filter((v) => v !== n.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.trace(`transfer leadership ${n.id} -> ${to}`);
    n.core!.transferLeader(to);
  }

  private takeSnapshot(n: SimNode): void {
    if (!n.up || n.appliedIndex <= n.disk.firstIndex()) return;
    // The snapshot is taken at the applied index, where the core's membership is current.
    const snapIndex = n.appliedIndex;
    if (snapIndex > n.disk.lastIndex()) return;
    n.disk.createSnapshot(snapIndex, n.core!.confState(), encoder.encode(JSON.stringify(n.sm.slice(0, snapIndex))));
    const keep = this.rng.nextInt(4);
    n.disk.compact(Math.max(n.disk.firstIndex() - 1, snapIndex - keep));
    this.stats.snapshots++;
    this.trace(`snapshot ${n.id} at ${snapIndex}, first index ${n.disk.firstIndex()}`);
  }

  // ------------------------------------------------------------------ network

  private send(from: SimNode, m: Message): void {
    this.stats.messages++;
    const r = this.rng;
    const copies = this.faultsOn && r.chance(this.params.dupP) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // Healed network: a fixed one-step delay, so no reordering either.
      const delay = this.faultsOn ? r.nextInt(this.params.maxDelay + 1) : 1;
      this.net.push({ msg: m, deliverAt: this.now + delay, senderIncarnation: from.incarnation });
    }
  }

  private deliver(f: InFlight): void {
    const m = f.msg;
    const to = this.nodes.find((n) => n.id === m.to);
    const from = this.nodes.find((n) => n.id === m.from)!;
    const dropped = !to || !to.up || this.blocked.has(`${m.from}->${m.to}`) || (this.faultsOn && this.rng.chance(this.params.dropP));
    if (m.type === 'MsgSnap' && from.up && from.incarnation === f.senderIncarnation) {
      // The transport tells the leader how a snapshot stream ended.
      from.core!.reportSnapshot(m.to, !dropped);
    }
    if (this.traceOn) this.trace(`${dropped ? 'drop' : 'recv'} ${m.from}->${m.to} ${m.type} t${m.term} i${m.index} lt${m.logTerm} c${m.commit}${m.reject ? ` rej hint ${m.rejectHint}` : ''}${m.entries.length ? ` ents ${m.entries[0].index}..${m.entries[m.entries.length - 1].index}` : ''}`);
    if (dropped) return;
    to.core!.step(m);
  }

  // ------------------------------------------------------------------ disk

  private startWrite(n: SimNode): void {
    const rd = n.core!.ready();
    if (!rd) return;
    const slow = n.diskSlowUntil > this.now;
    const latency = rd.mustSync ? (slow ? 3 + this.rng.nextInt(8) : this.rng.nextInt(2)) : 0;
    n.pending = { rd, doneAt: this.now + latency };
    if (this.variant === 'ackBeforePersist') {
      // BUG (negative control): messages leave before the write is durable.
      for (const m of rd.messages) this.send(n, m);
    }
  }

  private finishWrite(n: SimNode): void {
    const { rd } = n.pending!;
    n.pending = null;
    const core = n.core!;
    // 1. snapshot, entries, hard state become durable (the fsync point).
    if (rd.snapshot) {
      const image = decodeImage(rd.snapshot.data, rd.snapshot.meta.index);
      this.checkSnapshot(n, rd.snapshot.meta.index, rd.snapshot.meta.term, image);
      n.disk.applySnapshot(rd.snapshot);
      n.sm = image;
      this.stats.snapshotsInstalled++;
      n.appliedIndex = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      n.disk.append(rd.entries);
      this.checkAppended(n, rd.entries);
    }
    if (rd.hardState) this.persistHardState(n, rd.hardState);
    // 2. send.
    if (this.variant !== 'ackBeforePersist') for (const m of rd.messages) this.send(n, m);
    // 3. apply.
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) this.checkRead(n, rs.index, rs.context);
    core.advance(rd);
  }

  private persistHardState(n: SimNode, hs: HardState): void {
    const prev = n.disk.hardStateNow();
    if (hs.term < prev.term) throw new Violation('monotonic-term', `${n.id} term ${prev.term} -> ${hs.term}`);
    if (hs.commit < prev.commit) throw new Violation('monotonic-commit', `${n.id} durable commit ${prev.commit} -> ${hs.commit}`);
    if (hs.term === prev.term && prev.vote !== '' && hs.vote !== prev.vote) {
      throw new Violation('vote-changed', `${n.id} changed vote in term ${hs.term}: ${prev.vote} -> ${hs.vote}`);
    }
    n.disk.setHardState(hs);
    // Everything up to commit is committed: record it (state machine safety at commit level).
    for (let i = prev.commit + 1; i <= hs.commit; i++) {
      if (i < n.disk.firstIndex()) continue;
      const ents = n.disk.entries(i, i + 1, Number.MAX_SAFE_INTEGER);
      this.recordCommitted(n, i, entryKey(ents[0]), hs.term);
    }
  }

  private recordCommitted(n: SimNode, index: number, key: string, term: number): void {
    const prev = this.committed.get(index);
    if (prev && prev.key !== key) {
      throw new Violation('committed-entry-changed', `${n.id} committed ${key} at ${index}, but ${prev.key} was committed there before`);
    }
    if (!prev || term < prev.term) this.committed.set(index, { key, term });
    if (index > this.maxCommitted) this.maxCommitted = index;
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1) throw new Violation('apply-order', `${n.id} applied ${e.index} after ${n.appliedIndex}`);
    const key = entryKey(e);
    const prev = this.appliedAt.get(e.index);
    if (prev !== undefined && prev !== key) {
      throw new Violation('state-machine-safety', `${n.id} applied ${key} at ${e.index}, another node applied ${prev}`);
    }
    this.appliedAt.set(e.index, key);
    if (e.type === 'confChange') this.stats.confChangesApplied++;
    n.sm[e.index - 1] = key;
    n.appliedIndex = e.index;
  }

  private checkRead(n: SimNode, index: number, ctx: string): void {
    const need = this.reads.get(ctx);
    if (need === undefined) return;
    this.reads.delete(ctx);
    this.stats.readsAnswered++;
    if (index < need) throw new Violation('linearizable-read', `read ${ctx} at ${n.id} got index ${index}, but ${need} was committed before it began`);
  }

  private checkAppended(n: SimNode, ents: Entry[]): void {
    for (const e of ents) {
      const prevTerm = e.index - 1 >= n.disk.firstIndex() - 1 ? n.disk.term(e.index - 1) : undefined;
      const k = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const seen = this.entryAt.get(k);
      if (!seen) {
        this.entryAt.set(k, { key, prevTerm });
        continue;
      }
      if (seen.key !== key) throw new Violation('log-matching', `${n.id} has ${key} at ${k}, another node has ${seen.key}`);
      if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        throw new Violation('log-matching', `${n.id}: entry ${k} preceded by term ${prevTerm}, elsewhere by ${seen.prevTerm}`);
      }
    }
  }

  private checkSnapshot(n: SimNode, index: number, term: number, sm: string[]): void {
    if (sm.length !== index) throw new Violation('snapshot', `${n.id} snapshot at ${index} holds ${sm.length} entries`);
    for (let i = 1; i <= index; i++) {
      const key = sm[i - 1];
      const prev = this.appliedAt.get(i);
      if (prev !== undefined && prev !== key) throw new Violation('state-machine-safety', `${n.id} installed snapshot with ${key} at ${i}, applied elsewhere: ${prev}`);
      this.appliedAt.set(i, key);
      this.recordCommitted(n, i, key, term);
    }
  }

  // ------------------------------------------------------------------ per-step checks

  private checkStep(): void {
    for (const n of this.nodes) {
      if (!n.up) continue;
      const s = n.core!.basicStatus();
      if (s.commit < n.lastCommit) throw new Violation('monotonic-commit', `${n.id} commit ${n.lastCommit} -> ${s.commit}`);
      // An in-memory commit index is a claim too: record what it covers.
      if (s.commit > n.lastCommit) {
        const ents = n.core!.entriesForTest(n.lastCommit + 1, s.commit + 1);
        if (ents) for (const e of ents) this.recordCommitted(n, e.index, entryKey(e), s.term);
      }
      n.lastCommit = s.commit;
      if (s.applied > s.commit) throw new Violation('applied-beyond-commit', `${n.id} applied ${s.applied} > commit ${s.commit}`);
      if (s.role !== 'leader') continue;
      const known = this.leaderOfTerm.get(s.term);
      if (known === undefined) {
        this.leaderOfTerm.set(s.term, n.id);
        this.stats.leaders++;
        this.trace(`${n.id} is leader of term ${s.term}`);
      } else if (known !== n.id) {
        throw new Violation('election-safety', `${known} and ${n.id} are both leaders of term ${s.term}`);
      }
      if (n.checkedLeaderTerm !== s.term) {
        n.checkedLeaderTerm = s.term;
        this.checkLeaderCompleteness(n, s.term, s.lastIndex);
      }
    }
  }

  /** A leader of term T holds every entry committed in a term below T. */
  private checkLeaderCompleteness(n: SimNode, term: number, lastIndex: number): void {
    const first = n.core!.status().firstIndex;
    for (const [index, c] of this.committed) {
      if (c.term >= term || index < first) continue;
      if (index > lastIndex) throw new Violation('leader-completeness', `${n.id} leader of term ${term} lacks committed index ${index} (${c.key}); its last index is ${lastIndex}`);
      const e = n.core!.entriesForTest(index, index + 1)![0];
      if (entryKey(e) !== c.key) throw new Violation('leader-completeness', `${n.id} leader of term ${term} has ${entryKey(e)} at ${index}, committed was ${c.key}`);
    }
  }
}
