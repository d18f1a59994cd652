// The consensus host: the Raft groups of this node (the meta group and its shard replicas), one
// tick timer for all of them, and message routing between the gRPC transport and the groups.
// Groups address members as node#incarnation; the transport addresses nodes. A message for
// another incarnation of this node (sent to the member it was before its data was lost) is
// dropped: that member's votes and log are gone, and this node is not it.
import path from 'node:path';
import { RaftDriver, type RaftStateMachine } from '../raft/driver.js';
import type { Entry, Message } from '../raft/types.js';
import type { Disk } from '../storage/disk.js';
import type { WalOptions } from '../storage/wal.js';
import { FileRaftStorage } from './file-raft-storage.js';
import { HostedGroup, NOTHING_APPLIED, type ApplyOutcome, type GroupStateMachine, type RaftGroupOptions } from './hosted-group.js';
import { nodeOfMember } from './identity.js';
import { LIVENESS_CHANNEL, Liveness, QUIESCE_CHANNEL, QUIESCENCE_DEFAULTS, decodeNotice, encodeNotice, followerAccepts, leaderCanQuiesce, type QuiescenceOptions } from './quiescence.js';
import { decodeMessage, decodeSnapshotMeta, encodeMessage, encodeMessageParts, encodeSnapshotMeta } from './raft-codec.js';
import { GrpcRaftTransport } from './transport/grpc-transport.js';
import { JadeError, isJadeError } from '../util/errors.js';
import type { GroupObserver } from '../util/observers.js';

const EMPTY = new Uint8Array(0);

/** Each group's Raft storage lives in <dataDir>/groups/<groupId>. */
export const GROUPS_DIR = 'groups';

export interface GroupHostOptions {
  nodeId: string;
  /** This incarnation's member id (node#incarnation). */
  memberId: string;
  dataDir: string;
  tickIntervalMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  wal: WalOptions;
  group: RaftGroupOptions;
  log: (line: string) => void;
  observer?: GroupObserver;
  quiescence?: QuiescenceOptions;
  /** What an operator must see (refused entries, forged messages); never given secrets. Default: log. */
  warn?: (line: string) => void;
}

/** Per group: whether its clock is stopped, and for how many ticks a leader has seen it idle. */
interface Clock {
  quiesced: boolean;
  idleTicks: number;
  /** Set on the successor of a silent leader: campaign at this time (epoch ms), if still leaderless. */
  campaignAtMs?: number;
}

class SeededRandom {
  constructor(private state: number) {}
  nextInt(maxExclusive: number): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state % maxExclusive;
  }
}

/**
 * The driver's state machine contract over a GroupStateMachine; a failing command fails its
 * proposer, not the group. State machines refuse a bad entry whole and alike on every replica, so
 * a refusal is reported (`onRefused`) and the group goes on.
 */
function driverStateMachine(sm: GroupStateMachine, onRefused: (entry: Entry, error: unknown) => void): RaftStateMachine {
  return {
    apply: (entries) => {
      const outcomes = entries.map((e): ApplyOutcome => {
        // Leader no-op entries and membership changes carry no command.
        if (e.type !== 'normal' || e.data.length === 0) return NOTHING_APPLIED;
        try {
          return { ok: true, value: sm.apply(e) };
        } catch (error) {
          onRefused(e, error);
          return { ok: false, error };
        }
      });
      return Promise.resolve(outcomes);
    },
    snapshot: () => Promise.resolve(sm.snapshot()),
    restore: (snap) => Promise.resolve(sm.restore(snap.data)),
  };
}

export class GroupHost {
  private readonly groups = new Map<string, HostedGroup>();
  private readonly clocks = new Map<string, Clock>();
  /** Per group: the points in one of its snapshot images (move progress). */
  private readonly snapshotPointsOf = new Map<string, (image: Uint8Array) => number | null>();
  private readonly quiescence: QuiescenceOptions;
  private readonly liveness: Liveness;
  private tickTimer: NodeJS.Timeout | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Messages dropped because they were for another incarnation of this node (forged ones: transport.stats().droppedForgedSender). */
  droppedForOtherMember = 0;

  constructor(private readonly disk: Disk, readonly transport: GrpcRaftTransport, private readonly opts: GroupHostOptions) {
    this.quiescence = opts.quiescence ?? QUIESCENCE_DEFAULTS;
    this.liveness = new Liveness(this.quiescence.livenessTimeoutMs);
    transport.onMessage((fromNodeId, groupId, bytes) => {
      this.liveness.heard(fromNodeId);
      if (groupId === LIVENESS_CHANNEL) return;
      if (groupId === QUIESCE_CHANNEL) return this.onQuiesceNotice(fromNodeId, bytes);
      let m: Message;
      try {
        m = decodeMessage(bytes);
      } catch {
        return; // a malformed frame is dropped like a lost message
      }
      if (!this.accepts(fromNodeId, groupId, m)) return;
      this.groups.get(groupId)?.driver.step(m);
    });
    transport.onSnapshot(async (fromNodeId, groupId, metaBytes, data) => {
      const { message, snapMeta } = splitSnapshotHeader(metaBytes);
      if (!this.accepts(fromNodeId, groupId, message)) throw new JadeError('JADE_ERR_FORBIDDEN', `snapshot for ${message.to} from ${message.from} is not for this member (${opts.memberId}) from ${fromNodeId}`);
      message.snapshot = { meta: snapMeta, data };
      const group = this.groups.get(groupId);
      if (!group) throw new JadeError('JADE_ERR_NOT_FOUND', `no group ${groupId} here yet`);
      group.driver.step(message);
    });
    // Like etcd's ReportUnreachable: leaders stop streaming optimistically to a dead peer and probe.
    transport.onPeerUnreachable((peerNodeId) => {
      for (const g of this.groups.values()) {
        for (const m of [...g.driver.core.confState().voters, ...g.driver.core.confState().learners]) if (nodeOfMember(m) === peerNodeId) g.driver.reportUnreachable(m);
      }
    });
  }

  /**
   * A message's claimed sender is the node the transport authenticated it from (else it is forged:
   * counted and logged by the transport), its group is the one its envelope names, and it is for
   * this incarnation (else it is for the member this node was before its data was lost).
   */
  private accepts(fromNodeId: string, groupId: string, m: Message): boolean {
    if (nodeOfMember(m.from) !== fromNodeId || m.groupId !== groupId) {
      this.transport.reportForgedSender(fromNodeId, m.groupId === groupId ? m.from : `${m.from} (group ${m.groupId.slice(0, 64)})`);
      return false;
    }
    if (m.to === this.opts.memberId) return true;
    this.droppedForOtherMember++;
    return false;
  }

  get memberId(): string {
    return this.opts.memberId;
  }

  private warn(line: string): void {
    (this.opts.warn ?? this.opts.log)(line);
  }

  start(): void {
    this.tickTimer = setInterval(() => this.tick(), this.opts.tickIntervalMs);
    this.beatTimer = setInterval(() => this.beat(), this.quiescence.livenessIntervalMs);
  }

  /** Ticks every awake group; a leader idle long enough quiesces its group; quiesced groups wake when their peers fall silent. */
  private tick(): void {
    const now = Date.now();
    for (const [groupId, g] of this.groups) {
      const clock = this.clocks.get(groupId)!;
      if (clock.quiesced) {
        if (!this.wakeReason(g, now)) continue;
        this.wake(groupId);
      }
      g.driver.tick();
      if (clock.campaignAtMs !== undefined && now >= clock.campaignAtMs) {
        clock.campaignAtMs = undefined;
        const s = g.driver.core.basicStatus();
        if (s.role !== 'leader' && (!s.lead || !this.liveness.alive(nodeOfMember(s.lead), now))) g.driver.campaign();
      }
      // A follower whose leader's node has been silent past the liveness timeout (longer than an
      // election timeout) stops honouring the leader's lease: a quiesced peer that woke a moment
      // earlier may be campaigning for this group already.
      const lead = g.driver.core.basicStatus().lead;
      if (lead && lead !== this.opts.memberId && !this.liveness.alive(nodeOfMember(lead), now)) g.driver.forgetLeader();
      if (!leaderCanQuiesce(g.driver)) {
        clock.idleTicks = 0;
        continue;
      }
      if (++clock.idleTicks < this.quiescence.idleTicksBeforeQuiesce) continue;
      this.quiesceAsLeader(groupId, g, clock);
    }
  }

  private quiesceAsLeader(groupId: string, g: HostedGroup, clock: Clock): void {
    const s = g.driver.core.status();
    const notice = encodeNotice({ g: groupId, t: s.term, l: s.id, i: s.lastIndex });
    for (const m of [...s.conf.voters, ...s.conf.learners]) if (m !== s.id) this.transport.send(nodeOfMember(m), QUIESCE_CHANNEL, notice);
    clock.quiesced = true;
    clock.idleTicks = 0;
  }

  private onQuiesceNotice(fromNodeId: string, bytes: Uint8Array): void {
    const n = decodeNotice(bytes);
    const g = n ? this.groups.get(n.g) : undefined;
    const clock = n ? this.clocks.get(n.g) : undefined;
    if (!n || !g || !clock || !followerAccepts(g.driver, n, fromNodeId)) return;
    clock.quiesced = true;
    clock.idleTicks = 0;
  }

  /** A quiesced follower wakes when its leader's node falls silent; a quiesced leader when it no longer hears a quorum. */
  private wakeReason(g: HostedGroup, now: number): 'leader-silent' | 'quorum-silent' | null {
    const s = g.driver.core.basicStatus();
    if (s.role !== 'leader') return !s.lead || !this.liveness.alive(nodeOfMember(s.lead), now) ? 'leader-silent' : null;
    const voters = g.driver.core.confState().voters;
    const heard = voters.filter((m) => m === this.opts.memberId || this.liveness.alive(nodeOfMember(m), now)).length;
    return heard < Math.floor(voters.length / 2) + 1 ? 'quorum-silent' : null;
  }

  /**
   * Starts a quiesced group's clock again. If its leader's node has been silent for the liveness
   * timeout, this follower's election clock stood still meanwhile, so its check-quorum lease would
   * make it refuse votes for another election timeout: it forgets the leader instead, and one
   * successor, the same on every follower (the first live voter by member id), campaigns a beat
   * later (by then the others have seen the silence too).
   * Done also when a message wakes the group (before it is handled: a candidate's vote request).
   */
  private wake(groupId: string): void {
    const clock = this.clocks.get(groupId);
    const g = this.groups.get(groupId);
    if (!clock || !g || !clock.quiesced) return;
    clock.quiesced = false;
    clock.idleTicks = 0;
    if (this.wakeReason(g, Date.now()) !== 'leader-silent') return;
    const now = Date.now();
    const voters = g.driver.core.confState().voters.filter((m) => m !== g.leaderMember && (m === this.opts.memberId || this.liveness.alive(nodeOfMember(m), now))).sort();
    g.driver.forgetLeader();
    // A beat later, when every other survivor has seen the silence too and forgotten the leader.
    if (voters[0] === this.opts.memberId) clock.campaignAtMs = now + this.quiescence.livenessIntervalMs;
  }

  /** One liveness beat to every node this node shares a group with. */
  private beat(): void {
    const peers = new Set<string>();
    for (const g of this.groups.values()) {
      const conf = g.driver.core.confState();
      for (const m of [...conf.voters, ...conf.learners]) peers.add(nodeOfMember(m));
    }
    peers.delete(this.opts.nodeId);
    for (const nodeId of peers) this.transport.send(nodeId, LIVENESS_CHANNEL, EMPTY);
  }

  /** How long since any message came from a node (the failure detector's input). */
  silentMs(nodeId: string): number {
    return this.liveness.silentMs(nodeId);
  }

  /** Whether a group's clock is stopped (it is idle and quiesced). */
  isQuiesced(groupId: string): boolean {
    return this.clocks.get(groupId)?.quiesced ?? false;
  }

  groupDir(groupId: string): string {
    return path.join(this.opts.dataDir, GROUPS_DIR, groupId);
  }

  get(groupId: string): HostedGroup | undefined {
    return this.groups.get(groupId);
  }

  all(): HostedGroup[] {
    return [...this.groups.values()];
  }

  /** Whether the group's directory holds durable Raft state (it was opened here before). */
  hasState(groupId: string): Promise<boolean> {
    return FileRaftStorage.hasDurableState(this.disk, this.groupDir(groupId));
  }

  /**
   * Opens a group from its directory and restores the state machine from the stored snapshot (the
   * driver replays the log after it). A new directory is founded with `founders` as voters, or
   * opened empty (no members) to be filled by the leader when `founders` is null (joining).
   */
  async open(groupId: string, sm: GroupStateMachine, founders: string[] | null): Promise<HostedGroup> {
    if (this.closed) throw new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down');
    const storage = await FileRaftStorage.open({ disk: this.disk, dir: this.groupDir(groupId), bootstrap: founders ? { voters: founders, learners: [] } : undefined, wal: this.opts.wal, onAppendDurable: (seconds) => this.opts.observer?.logAppended(groupId, seconds) });
    const snap = storage.snapshot();
    if (snap && snap.data.length > 0) {
      if (sm.restoreOwn) await sm.restoreOwn(snap.data);
      else sm.restore(snap.data);
    }
    const seed = [...`${this.opts.memberId}/${groupId}`].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
    let driver: RaftDriver | null = null;
    driver = new RaftDriver({
      core: {
        id: this.opts.memberId,
        groupId,
        random: new SeededRandom(seed || 1),
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        preVote: true,
        checkQuorum: true,
        logger: (line) => this.opts.log(`[${groupId}] ${line}`),
      },
      storage,
      transport: { send: (messages) => this.send(groupId, messages, () => driver) },
      stateMachine: driverStateMachine(sm, (entry, error) =>
        this.warn(`[${groupId}] entry ${entry.index} not applied (every replica refuses it alike): ${isJadeError(error) ? `${error.code} ` : ''}${(error as Error).message}`),
      ),
      snapshotEveryEntries: this.opts.group.snapshotEveryEntries,
      snapshotEveryBytes: this.opts.group.snapshotEveryBytes,
      compactionLagEntries: this.opts.group.retainEntries,
      compactionLagBytes: this.opts.group.retainBytes,
      maxPendingProposals: this.opts.group.waitersMax,
      maxPendingReads: this.opts.group.waitersMax,
      onFatal: (e) => this.opts.log(`[${groupId}] stopped after a storage or state machine failure: ${String(e)}`),
    });
    const group = new HostedGroup(groupId, driver, storage, this.opts.group, this.opts.observer);
    this.clocks.set(groupId, { quiesced: false, idleTicks: 0 });
    this.snapshotPointsOf.set(groupId, (image) => sm.snapshotPoints?.(image) ?? null);
    driver.onActivity(() => this.wake(groupId));
    if (this.closed) {
      await group.close();
      throw new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down');
    }
    this.groups.set(groupId, group);
    return group;
  }

  /** Closes a group; with `removeData` its directory goes too (the replica left this node). */
  async close(groupId: string, removeData: boolean): Promise<void> {
    const g = this.groups.get(groupId);
    this.groups.delete(groupId);
    this.clocks.delete(groupId);
    this.snapshotPointsOf.delete(groupId);
    if (g) await g.close();
    if (removeData) await this.disk.removeAll(this.groupDir(groupId));
  }

  /** Raft messages go as transport frames to the member's node; a MsgSnap goes as a snapshot stream whose outcome is reported to the core. */
  private send(groupId: string, messages: Message[], driverOf: () => RaftDriver | null): void {
    for (const m of messages) {
      const toNode = nodeOfMember(m.to);
      if (m.type !== 'MsgSnap') {
        this.transport.send(toNode, groupId, encodeMessageParts(m));
        continue;
      }
      const data = m.snapshot!.data;
      // Counted where the bytes go out, for the move progress the group's status reports.
      const sends = this.groups.get(groupId)?.snapshotSends;
      sends?.start(m.to, { index: m.snapshot!.meta.index, bytesTotal: data.length, points: this.snapshotPointsOf.get(groupId)?.(data) ?? null }, Date.now());
      this.transport.sendSnapshot(toNode, groupId, joinSnapshotHeader(m), data, { onBytesSent: (bytes) => sends?.sent(m.to, bytes, Date.now()) }).then(
        () => {
          sends?.finish(m.to, true, Date.now());
          driverOf()?.reportSnapshot(m.to, true);
        },
        () => {
          sends?.finish(m.to, false, Date.now());
          driverOf()?.reportSnapshot(m.to, false);
        },
      );
    }
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.beatTimer) clearInterval(this.beatTimer);
    for (const id of [...this.groups.keys()]) await this.close(id, false);
  }
}

/** The MsgSnap header travels as the transport's snapshot "meta": message + snapshot metadata. */
function joinSnapshotHeader(m: Message): Uint8Array {
  const msg = encodeMessage({ ...m, snapshot: undefined });
  const meta = encodeSnapshotMeta(m.snapshot!.meta);
  const out = new Uint8Array(4 + msg.length + meta.length);
  new DataView(out.buffer).setUint32(0, msg.length, true);
  out.set(msg, 4);
  out.set(meta, 4 + msg.length);
  return out;
}

function splitSnapshotHeader(bytes: Uint8Array): { message: Message; snapMeta: ReturnType<typeof decodeSnapshotMeta> } {
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  return { message: decodeMessage(bytes.subarray(4, 4 + len)), snapMeta: decodeSnapshotMeta(bytes.subarray(4 + len)) };
}
