// The pure Raft core of JadeVectorDB, shaped after etcd-io/raft (raft.go + rawnode.go): a state
// machine that takes messages (step), ticks (tick) and local requests (propose, readIndex, ...)
// and produces Ready batches. No I/O, no clock, no randomness of its own.
//
// Driver contract (how a host drives one group; driver.ts implements it):
//   loop:
//     feed tick() on a timer and step(m) for every message received for this group
//     if hasReady():
//       rd = ready()
//       1. if rd.snapshot: install it into RaftStorage and the state machine
//       2. append rd.entries and set rd.hardState in RaftStorage, then FSYNC if rd.mustSync.
//          This fsync is the durability point: a vote (hard state) or an appended entry must
//          survive a crash before any message of this Ready is sent, because those messages
//          (MsgVoteResp, MsgAppResp, the leader's MsgApp counting its own copy) promise it.
//       3. send rd.messages (any order, may be lost or reordered: the core copes)
//       4. apply rd.committedEntries to the state machine, in order
//       5. advance(rd)
//   Only one Ready is outstanding at a time; step/tick/propose may be called in between.
import { JadeError, assert } from '../util/errors.js';
import { applyToConf, confChangeProblem, decodeConfChange, encodeConfChange, validateConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { RaftStorage } from './storage.js';
import { ENTRY_OVERHEAD_BYTES, entrySizeBytes } from './storage.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  GroupId,
  HardState,
  Message,
  MessageType,
  NodeId,
  RaftBugs,
  RaftRole,
  RandomSource,
  ReadState,
  Ready,
  SoftState,
  Snapshot,
} from './types.js';
import { NO_NODE } from './types.js';

export interface RaftConfig {
  id: NodeId;
  groupId: GroupId;
  storage: RaftStorage;
  random: RandomSource;
  /** Follower timeout before campaigning is randomized in [electionTicks, 2*electionTicks). */
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Index already applied by the state machine at start; storage confState must match it. */
  applied?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Byte limit of entries in one MsgApp (at least one entry is always sent). */
  maxMsgBytes?: number;
  /** Per-follower bound on MsgApps in flight in replicate state: count ... */
  maxInflightMsgs?: number;
  /** ... and bytes. */
  maxInflightBytes?: number;
  /** Proposals are rejected (JADE_ERR_QUEUE_FULL) while this many bytes are appended but not applied. */
  maxUncommittedBytes?: number;
  /** Entries in one propose() call. */
  maxProposalEntries?: number;
  /** Bytes of committed entries in one Ready. */
  maxCommittedBytesPerReady?: number;
  /** ReadIndex requests waiting on one leader. */
  maxPendingReads?: number;
  /** Receives one line per notable event (elections, votes, membership). */
  logger?: (line: string) => void;
  /** TEST-ONLY: deliberately broken behaviours for negative controls. */
  bugs?: RaftBugs;
}

export interface RaftStatus {
  id: NodeId;
  groupId: GroupId;
  role: RaftRole;
  term: number;
  vote: NodeId;
  lead: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  conf: ConfState;
  leadTransferee: NodeId;
  /** Leader only: per-member replication progress. */
  progress: Record<NodeId, { match: number; next: number; state: string; description: string }>;
}

export interface ProposeResult {
  term: number;
  firstIndex: number;
  lastIndex: number;
}

const TRANSFER_CONTEXT = 'transfer';

interface PendingRead {
  context: string;
  from: NodeId;
  index: number;
  acks: Set<NodeId>;
}

function emptyMessage(type: MessageType, groupId: GroupId, from: NodeId, to: NodeId, term: number): Message {
  return { type, groupId, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

export class RaftCore {
  readonly id: NodeId;
  readonly groupId: GroupId;
  private readonly log: RaftLog;
  private readonly random: RandomSource;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxMsgBytes: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly maxProposalEntries: number;
  private readonly maxCommittedBytesPerReady: number;
  private readonly maxPendingReads: number;
  private readonly logger: ((line: string) => void) | undefined;
  private readonly bugs: RaftBugs;

  private term = 0;
  private vote: NodeId = NO_NODE;
  private lead: NodeId = NO_NODE;
  private role: RaftRole = 'follower';
  private conf: ConfState;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId = NO_NODE;
  /** Index of the latest conf change appended by this leader; new ones wait until it applies. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private pendingReads: PendingRead[] = [];
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private deferredReads: { context: string; from: NodeId }[] = [];
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOutstanding = false;

  constructor(cfg: RaftConfig) {
    this.id = cfg.id;
    this.groupId = cfg.groupId;
    this.random = cfg.random;
    this.electionTicks = cfg.electionTicks ?? 10;
    this.heartbeatTicks = cfg.heartbeatTicks ?? 1;
    assert(this.heartbeatTicks > 0 && this.electionTicks > this.heartbeatTicks, 'electionTicks must exceed heartbeatTicks');
    this.preVote = cfg.preVote ?? true;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.maxMsgBytes = cfg.maxMsgBytes ?? 1 << 20;
    this.maxInflightMsgs = cfg.maxInflightMsgs ?? 64;
    this.maxInflightBytes = cfg.maxInflightBytes ?? 32 << 20;
    this.maxUncommittedBytes = cfg.maxUncommittedBytes ?? 64 << 20;
    this.maxProposalEntries = cfg.maxProposalEntries ?? 10_000;
    this.maxCommittedBytesPerReady = cfg.maxCommittedBytesPerReady ?? 16 << 20;
    this.maxPendingReads = cfg.maxPendingReads ?? 4096;
    this.logger = cfg.logger;
    this.bugs = cfg.bugs ?? {};
    const { hardState, confState } = cfg.storage.initialState();
    this.log = new RaftLog(cfg.storage, cfg.applied ?? 0, hardState.commit);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = { voters: [...confState.voters].sort(), learners: [...confState.learners].sort() };
    this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.prevSoft = { lead: NO_NODE, role: 'follower' };
    this.becomeFollower(this.term, NO_NODE);
    this.info(
      `started [voters: ${this.conf.voters.join(',')}${this.conf.learners.length ? ` learners: ${this.conf.learners.join(',')}` : ''}, term: ${this.term}, commit: ${this.log.committed}, applied: ${this.log.applied}, last: ${this.log.lastTerm()}/${this.log.lastIndex()}]`,
    );
  }

  // ---------------------------------------------------------------- public API for the host

  /** Advance logical time by one tick (election timeout / heartbeat / check-quorum). */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Start an election now (pre-vote first if enabled). No-op for learners and non-members. */
  campaign(): void {
    if (this.role === 'leader') return;
    this.hup(false);
  }

  /**
   * A follower forgets its leader (etcd raft's ForgetLeader): it stays a leaderless follower in
   * its term, without campaigning, and no longer refuses votes on the leader's behalf (check-quorum
   * lease). For a host that knows the leader is gone (its node fell silent) while this replica's
   * clock stood still.
   */
  forgetLeader(): void {
    if (this.role !== 'follower' || this.lead === NO_NODE) return;
    this.info(`forgetting leader ${this.lead} at term ${this.term}`);
    this.lead = NO_NODE;
  }

  /** Append a batch of normal entries. Leader only. */
  propose(datas: Uint8Array[]): ProposeResult {
    if (datas.length > this.maxProposalEntries) {
      throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `proposal of ${datas.length} entries exceeds ${this.maxProposalEntries}`);
    }
    return this.appendProposal(datas.map((data) => ({ type: 'normal', data })));
  }

  /** Propose a single-server membership change (see ConfChangeType for why single-server). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.applied) {
      throw new JadeError('JADE_ERR_CONFLICT', `a membership change (index ${this.pendingConfIndex}) is still pending; apply it first`, {
        pendingIndex: this.pendingConfIndex,
      });
    }
    validateConfChange(this.conf, cc);
    const res = this.appendProposal([{ type: 'confChange', data: encodeConfChange(cc) }]);
    this.pendingConfIndex = res.lastIndex;
    return res;
  }

  /**
   * Linearizable read: a ReadState with `context` appears in a later Ready once the leader has
   * confirmed with a quorum that it is still leader; the read may be served once applied ≥ index.
   * Requests are lost if leadership changes meanwhile (the host times them out).
   */
  readIndex(context: string): void {
    if (this.role === 'leader') {
      this.leaderReadIndex(context, this.id);
    } else if (this.lead !== NO_NODE) {
      const m = this.newMsg('MsgReadIndex', this.lead);
      m.context = context;
      this.send(m);
    } else {
      throw new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: no leader known for a read`, { leader: NO_NODE });
    }
  }

  /** Hand leadership to `to` (a voter). On a follower the request is forwarded to the leader. */
  transferLeader(to: NodeId): void {
    if (this.role !== 'leader') {
      if (this.lead === NO_NODE) throw new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: no leader to transfer from`);
      const m = this.newMsg('MsgTransferLeader', this.lead);
      m.index = 0;
      m.context = to;
      this.send(m);
      return;
    }
    this.handleTransferLeader(to);
  }

  /** The transport could not deliver a snapshot (ok=false) or finished sending it (ok=true). */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    // On success too we wait for the follower's MsgAppResp; probing from the snapshot on
    // failure would be wrong, so reset the pending snapshot first.
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for a heartbeat response before probing again
  }

  /** The transport failed to reach `to`: stop streaming optimistically, probe instead. */
  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease = this.checkQuorum && this.lead !== NO_NODE && this.electionElapsed < this.electionTicks;
        if (!force && inLease) {
          this.info(`[term: ${this.term}] ignored ${m.type} from ${m.from} [term: ${m.term}]: lease with ${this.lead} not expired`);
          return;
        }
      }
      if (m.type === 'MsgPreVote') {
        // Never change term on a pre-vote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // Granted pre-votes carry the future term; the term moves when the real election starts.
      } else {
        this.info(`[term: ${this.term}] received ${m.type} with higher term from ${m.from} [term: ${m.term}]`);
        const leaderMsg = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
        this.becomeFollower(m.term, leaderMsg ? m.from : NO_NODE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (e.g. after a partition) learns the new term from this and steps down;
        // without it, pre-vote/check-quorum could leave it isolated forever.
        this.send(this.newMsg('MsgAppResp', m.from));
      } else if (m.type === 'MsgPreVote') {
        const r = this.newMsg('MsgPreVoteResp', m.from);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    switch (m.type) {
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'follower':
        this.stepFollower(m);
        break;
      case 'preCandidate':
      case 'candidate':
        this.stepCandidate(m);
        break;
      case 'leader':
        this.stepLeader(m);
        break;
    }
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstableEntries.length > 0 || this.log.unstableSnapshot) return true;
    if (this.log.committed > this.log.applied && !this.log.unstableSnapshot) return true;
    const hs = this.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    return this.lead !== this.prevSoft.lead || this.role !== this.prevSoft.role;
  }

  /** The next batch of work, or null when there is none (or one is still outstanding). */
  ready(): Ready | null {
    if (!this.hasReady()) return null;
    const rd: Ready = {
      entries: this.log.unstableEntries.slice(),
      committedEntries: this.log.nextCommittedEntries(this.maxCommittedBytesPerReady),
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: false,
    };
    this.msgs = [];
    this.readStates = [];
    if (this.log.unstableSnapshot) rd.snapshot = this.log.unstableSnapshot;
    const hs = this.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) rd.hardState = hs;
    if (this.lead !== this.prevSoft.lead || this.role !== this.prevSoft.role) rd.softState = { lead: this.lead, role: this.role };
    rd.mustSync = rd.entries.length > 0 || rd.snapshot !== undefined || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    this.readyOutstanding = true;
    return rd;
  }

  /** The driver finished processing rd (persisted, sent, applied). */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance without an outstanding Ready');
    this.readyOutstanding = false;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      this.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.log.applied) this.log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1];
      this.log.appliedTo(last.index);
      for (const e of rd.committedEntries) {
        if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entrySizeBytes(e));
        if (e.type === 'confChange') this.applyConfChange(decodeConfChange(e.data), e.index);
      }
    }
  }

  /** Membership as of the applied index (what a snapshot taken now must record). */
  confState(): ConfState {
    return { voters: [...this.conf.voters], learners: [...this.conf.learners] };
  }

  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {};
    if (this.role === 'leader') {
      for (const [id, pr] of [...this.progress.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, description: pr.describe() };
      }
    }
    return {
      id: this.id,
      groupId: this.groupId,
      role: this.role,
      term: this.term,
      vote: this.vote,
      lead: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.confState(),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /** Cheap subset of status() for hot loops (simulation checks every step). */
  basicStatus(): { role: RaftRole; term: number; lead: NodeId; commit: number; applied: number; lastIndex: number } {
    return { role: this.role, term: this.term, lead: this.lead, commit: this.log.committed, applied: this.log.applied, lastIndex: this.log.lastIndex() };
  }

  /** Entries [lo, hi) of the local log (stable + unstable), for tests and debugging. */
  entriesForTest(lo: number, hi: number): Entry[] | undefined {
    return this.log.slice(lo, hi, Number.MAX_SAFE_INTEGER);
  }

  // ---------------------------------------------------------------- roles

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.nextInt(this.electionTicks);
    this.leadTransferee = NO_NODE;
    this.votes.clear();
    this.pendingReads = [];
    this.deferredReads = [];
    this.uncommittedBytes = 0;
    this.rebuildProgress();
  }

  private rebuildProgress(): void {
    this.progress = new Map();
    const last = this.log.lastIndex();
    const add = (id: NodeId, learner: boolean): void => {
      const pr = new Progress(last + 1, learner, this.maxInflightMsgs, this.maxInflightBytes);
      if (id === this.id) pr.match = last;
      this.progress.set(id, pr);
    };
    for (const v of this.conf.voters) add(v, false);
    for (const l of this.conf.learners) add(l, true);
  }

  private becomeFollower(term: number, lead: NodeId): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (wasLeader || this.prevSoft.role !== 'follower') this.info(`became follower at term ${term}${lead ? ` (leader ${lead})` : ''}`);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Pre-vote does not change term or vote, so an unreachable node cannot disrupt the cluster.
    this.votes.clear();
    this.role = 'preCandidate';
    this.lead = NO_NODE;
    this.info(`became pre-candidate at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.info(`became candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.progress.get(this.id)?.becomeReplicate();
    // The empty entry lets the leader commit (and so learn the commit index of) its term.
    this.appendEntries([{ type: 'normal', data: new Uint8Array(0) }]);
    // Conf changes wait until this term's first entry applies (Ongaro's single-server fix).
    this.pendingConfIndex = this.log.lastIndex();
    this.info(`became leader at term ${this.term}`);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && !this.log.unstableSnapshot;
  }

  private hup(transfer: boolean): void {
    if (!this.promotable()) {
      this.info('is not promotable (not a voter or snapshot pending); not campaigning');
      return;
    }
    if (this.log.hasConfChangeBetween(this.log.applied, this.log.committed)) {
      this.info(`cannot campaign at term ${this.term}: committed membership changes not yet applied`);
      return;
    }
    this.info(`starting a new election at term ${this.term}`);
    if (this.preVote && !transfer) this.runElection('pre');
    else this.runElection(transfer ? 'transfer' : 'vote');
  }

  private runElection(kind: 'pre' | 'vote' | 'transfer'): void {
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
      type = 'MsgPreVote';
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = 'MsgVote';
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre') this.runElection('vote');
      else this.becomeLeader();
      return;
    }
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      const m = this.newMsg(type, v);
      m.term = voteTerm;
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      if (kind === 'transfer') m.context = TRANSFER_CONTEXT;
      this.send(m);
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const v of this.conf.voters) {
      const g = this.votes.get(v);
      if (g === true) yes++;
      else if (g === false) no++;
    }
    const q = this.quorum();
    if (yes >= q) return 'won';
    if (no > this.conf.voters.length - q) return 'lost';
    return 'pending';
  }

  private quorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === 'MsgPreVote';
    const respType: MessageType = isPre ? 'MsgPreVoteResp' : 'MsgVoteResp';
    const canVote =
      this.vote === m.from ||
      (this.vote === NO_NODE && this.lead === NO_NODE) ||
      (isPre && m.term > this.term) ||
      (this.bugs.doubleVote === true && !isPre);
    const upToDate = this.bugs.voteWithoutLogCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    const r = this.newMsg(respType, m.from);
    if (canVote && upToDate) {
      this.info(`[last: ${this.log.lastTerm()}/${this.log.lastIndex()}, vote: ${this.vote || '-'}] cast ${m.type} for ${m.from} [last: ${m.logTerm}/${m.index}] at term ${m.term}`);
      // A vote response carries the term of the request so a pre-candidate can count it.
      r.term = m.term;
      this.send(r);
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.info(`[last: ${this.log.lastTerm()}/${this.log.lastIndex()}, vote: ${this.vote || '-'}] rejected ${m.type} from ${m.from} [last: ${m.logTerm}/${m.index}] at term ${this.term}`);
      r.reject = true;
      this.send(r);
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.promotable()) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.info(`stepped down at term ${this.term}: no quorum heard from within an election timeout`);
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NO_NODE) this.abortLeaderTransfer('timed out');
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(undefined);
    }
  }

  /** True when a quorum of voters (self included) was heard from since the last call; resets activity. */
  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      const pr = this.progress.get(v);
      if (v === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= this.quorum();
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case 'MsgTimeoutNow':
        this.info(`received MsgTimeoutNow from ${m.from}: campaigning to take over leadership`);
        this.hup(true);
        break;
      case 'MsgTransferLeader':
        if (this.lead !== NO_NODE) this.send({ ...m, from: m.from, to: this.lead });
        break;
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? '' });
        break;
      case 'MsgReadIndex':
        // Sent to a node that is no longer leader: drop, the requester times out.
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp: MessageType = this.role === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgApp':
      case 'MsgHeartbeat':
      case 'MsgSnap':
        // A leader exists at our term: follow it.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== myResp) break;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.runElection('vote');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.info(`lost the ${this.role === 'preCandidate' ? 'pre-vote' : 'election'} at term ${this.term}`);
          this.becomeFollower(this.term, NO_NODE);
        }
        break;
      }
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'MsgReadIndex':
        try {
          this.leaderReadIndex(m.context ?? '', m.from);
        } catch {
          // Queue full: drop; the follower's requester times out and retries.
        }
        return;
      case 'MsgTransferLeader':
        if (m.context) this.handleTransferLeader(m.context);
        return;
      default:
        break;
    }
    if (!pr) return; // not (or no longer) a member
    switch (m.type) {
      case 'MsgAppResp':
        pr.recentActive = true;
        pr.ackedSinceHeartbeat = true;
        if (m.reject) this.handleAppReject(m, pr);
        else this.handleAppAck(m, pr);
        break;
      case 'MsgHeartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && !pr.ackedSinceHeartbeat) pr.heartbeatAllowance = true;
        pr.ackedSinceHeartbeat = false;
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context) this.ackRead(m.context, m.from);
        break;
      default:
        break;
    }
  }

  private handleAppReject(m: Message, pr: Progress): void {
    // Fast backtracking: skip a whole term of conflicting entries per round trip, using the
    // follower's hint (index, term) and our own log (Raft thesis §5.3 optimization, etcd style).
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from, true);
    }
  }

  private handleAppAck(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    // An ack of exactly our match while probing still proves where the logs agree.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up through the snapshot (or otherwise): resume normal replication.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) {
      this.releaseDeferredReads();
      this.bcastAppend();
    } else if (wasPaused) {
      // It was waiting on us: send even an empty MsgApp so it learns the commit index.
      this.sendAppend(m.from, true);
    }
    while (this.maybeSendAppend(m.from, false)) {
      // keep streaming while the inflight window allows
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.info(`sent MsgTimeoutNow to ${m.from}: it caught up`);
      this.sendTimeoutNow(m.from);
    }
  }

  private maybeCommit(): boolean {
    const matches = this.conf.voters.map((v) => this.progress.get(v)?.match ?? 0).sort((a, b) => b - a);
    if (matches.length === 0) return false;
    const mci = matches[this.quorum() - 1];
    if (mci <= this.log.committed) return false;
    // Raft §5.4.2: only entries of the current term are committed by counting replicas.
    if (this.log.term(mci) !== this.term && this.bugs.commitOldTermByCount !== true) return false;
    this.log.commitTo(mci);
    return true;
  }

  /** A leader that has committed an entry of its own term: everything committed before it is known committed. */
  get leaderCaughtUp(): boolean {
    return this.role === 'leader' && this.committedEntryInCurrentTerm();
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---------------------------------------------------------------- follower handlers

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      const r = this.newMsg('MsgAppResp', m.from);
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    const r = this.newMsg('MsgAppResp', m.from);
    if (lastNew !== undefined) {
      r.index = lastNew;
      this.send(r);
      return;
    }
    // Reject with a hint: the largest index ≤ m.index whose term ≤ m.logTerm, so the leader
    // can skip all entries of terms the leader does not have at that position.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const [hi, ht] = this.log.findConflictByTerm(hintIndex, m.logTerm);
    r.index = m.index;
    r.reject = true;
    r.rejectHint = hi;
    r.logTerm = ht;
    this.send(r);
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const r = this.newMsg('MsgHeartbeatResp', m.from);
    if (m.context) r.context = m.context;
    this.send(r);
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s, 'MsgSnap without snapshot');
    const r = this.newMsg('MsgAppResp', m.from);
    if (this.restore(s)) {
      this.info(`restored snapshot ${s.meta.term}/${s.meta.index} from ${m.from}`);
      r.index = this.log.lastIndex();
    } else {
      r.index = this.log.committed;
    }
    this.send(r);
  }

  private restore(s: Snapshot): boolean {
    const meta = s.meta;
    if (meta.index <= this.log.committed) return false;
    // A snapshot whose membership lacks us is still accepted: a joining node may get one taken
    // before its own addition, which follows in the log. Without being a voter we never campaign.
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already have the entries: just fast-forward the commit index.
      this.log.commitTo(meta.index);
      return false;
    }
    this.log.restore(s);
    this.conf = { voters: [...meta.conf.voters].sort(), learners: [...meta.conf.learners].sort() };
    this.rebuildProgress();
    return true;
  }

  // ---------------------------------------------------------------- leader internals

  private checkCanPropose(): void {
    if (this.role !== 'leader') {
      throw new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: ${this.id} is not the leader`, { leader: this.lead });
    }
    if (this.leadTransferee !== NO_NODE) {
      throw new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: leadership is being transferred to ${this.leadTransferee}`, {
        leader: this.leadTransferee,
      });
    }
  }

  private appendProposal(ents: { type: Entry['type']; data: Uint8Array }[]): ProposeResult {
    this.checkCanPropose();
    if (!this.conf.voters.includes(this.id)) {
      throw new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: ${this.id} was removed and is stepping down`);
    }
    let bytes = 0;
    for (const e of ents) bytes += e.data.length + ENTRY_OVERHEAD_BYTES;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `group ${this.groupId}: ${this.uncommittedBytes} uncommitted bytes, limit ${this.maxUncommittedBytes}`, {
        uncommittedBytes: this.uncommittedBytes,
      });
    }
    const first = this.log.lastIndex() + 1;
    this.appendEntries(ents);
    this.uncommittedBytes += bytes;
    this.bcastAppend();
    return { term: this.term, firstIndex: first, lastIndex: this.log.lastIndex() };
  }

  private appendEntries(ents: { type: Entry['type']; data: Uint8Array }[]): void {
    let index = this.log.lastIndex();
    const full: Entry[] = ents.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    const last = this.log.append(full);
    // The leader counts its own copy now: messages carrying it leave only after the Ready
    // holding these entries is durable, so no follower can ack before the leader persisted.
    this.progress.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(context: string | undefined): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const m = this.newMsg('MsgHeartbeat', id);
      // Never tell a follower to commit beyond what it is known to hold.
      m.commit = Math.min(pr.match, this.log.committed);
      if (context !== undefined) m.context = context;
      this.send(m);
    }
  }

  private sendAppend(to: NodeId, sendIfEmpty: boolean): void {
    this.maybeSendAppend(to, sendIfEmpty);
  }

  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxMsgBytes);
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m = this.newMsg('MsgApp', to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = ents;
    m.commit = this.log.committed;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    pr.sentEntries(prevIndex + ents.length, ents.length, bytes);
    this.send(m);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // do not ship a snapshot to a node that seems down
    const snap = this.log.storage.snapshot();
    if (!snap || snap.meta.index === 0) return false;
    pr.becomeSnapshot(snap.meta.index);
    const m = this.newMsg('MsgSnap', to);
    m.snapshot = snap;
    this.info(`sent snapshot ${snap.meta.term}/${snap.meta.index} to ${to} [${pr.describe()}]`);
    this.send(m);
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(this.newMsg('MsgTimeoutNow', to));
  }

  private handleTransferLeader(to: NodeId): void {
    const pr = this.progress.get(to);
    if (!pr || pr.isLearner) {
      this.info(`ignored leadership transfer to ${to}: not a voter`);
      return;
    }
    if (to === this.id) return;
    if (this.leadTransferee === to) return;
    if (this.leadTransferee !== NO_NODE) this.abortLeaderTransfer(`superseded by ${to}`);
    this.leadTransferee = to;
    // The transfer must finish within one election timeout, else it is abandoned.
    this.electionElapsed = 0;
    this.info(`starting leadership transfer to ${to}`);
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  private abortLeaderTransfer(why: string): void {
    this.info(`aborted leadership transfer to ${this.leadTransferee}: ${why}`);
    this.leadTransferee = NO_NODE;
  }

  private leaderReadIndex(context: string, from: NodeId): void {
    if ((this.conf.voters.length === 1 && this.conf.voters[0] === this.id) || this.bugs.readWithoutQuorum === true) {
      this.answerRead({ context, from, index: this.log.committed, acks: new Set() });
      return;
    }
    if (this.pendingReads.length + this.deferredReads.length >= this.maxPendingReads) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `group ${this.groupId}: ${this.maxPendingReads} reads pending`);
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Until it commits an entry of its term, the leader does not know the latest commit index.
      this.deferredReads.push({ context, from });
      return;
    }
    this.startRead(context, from);
  }

  private startRead(context: string, from: NodeId): void {
    if (this.pendingReads.some((r) => r.context === context)) return;
    this.pendingReads.push({ context, from, index: this.log.committed, acks: new Set([this.id]) });
    this.bcastHeartbeat(context);
  }

  private releaseDeferredReads(): void {
    if (!this.committedEntryInCurrentTerm() || this.deferredReads.length === 0) return;
    const reads = this.deferredReads;
    this.deferredReads = [];
    for (const r of reads) this.startRead(r.context, r.from);
  }

  private ackRead(context: string, from: NodeId): void {
    const at = this.pendingReads.findIndex((r) => r.context === context);
    if (at < 0) return;
    const req = this.pendingReads[at];
    req.acks.add(from);
    let acked = 0;
    for (const v of this.conf.voters) if (req.acks.has(v)) acked++;
    if (acked < this.quorum()) return;
    // A quorum confirmed leadership after every earlier request was registered too.
    const done = this.pendingReads.splice(0, at + 1);
    for (const r of done) this.answerRead(r);
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) {
      this.readStates.push({ index: r.index, context: r.context });
    } else {
      const m = this.newMsg('MsgReadIndexResp', r.from);
      m.index = r.index;
      m.context = r.context;
      this.send(m);
    }
  }

  // ---------------------------------------------------------------- membership

  private applyConfChange(cc: ConfChange, index: number): void {
    const problem = confChangeProblem(this.conf, cc);
    if (problem) {
      this.info(`ignored membership change at ${index} (${cc.type} ${cc.nodeId}): ${problem}`);
      return;
    }
    this.conf = applyToConf(this.conf, cc);
    this.info(`applied ${cc.type} ${cc.nodeId} at ${index}: voters=(${this.conf.voters.join(' ')}) learners=(${this.conf.learners.join(' ')})`);
    if (this.role === 'leader') {
      for (const id of [...this.progress.keys()]) {
        if (!this.conf.voters.includes(id) && !this.conf.learners.includes(id)) this.progress.delete(id);
      }
      for (const id of [...this.conf.voters, ...this.conf.learners]) {
        const isLearner = this.conf.learners.includes(id);
        const pr = this.progress.get(id);
        if (pr) pr.isLearner = isLearner;
        else {
          const np = new Progress(this.log.lastIndex() + 1, isLearner, this.maxInflightMsgs, this.maxInflightBytes);
          // A new member may already be reachable: allow the first snapshot without waiting a round.
          np.recentActive = true;
          this.progress.set(id, np);
          this.sendAppend(id, true);
        }
      }
      if (this.leadTransferee !== NO_NODE && !this.conf.voters.includes(this.leadTransferee)) this.abortLeaderTransfer('transferee removed');
      if (!this.conf.voters.includes(this.id)) {
        // The leader removed itself: hand over to the most caught-up voter, then step down.
        let best: NodeId = NO_NODE;
        let bestMatch = -1;
        for (const v of this.conf.voters) {
          const m = this.progress.get(v)?.match ?? 0;
          if (m > bestMatch) {
            best = v;
            bestMatch = m;
          }
        }
        if (best !== NO_NODE && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
        this.info(`stepping down: removed from the configuration${best !== NO_NODE && bestMatch === this.log.lastIndex() ? `, handed over to ${best}` : ''}`);
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // Quorum changed: the commit index may move (e.g. a slow voter was removed).
      if (this.maybeCommit()) {
        this.releaseDeferredReads();
        this.bcastAppend();
      }
    } else {
      this.rebuildProgress();
    }
  }

  // ---------------------------------------------------------------- plumbing

  private newMsg(type: MessageType, to: NodeId): Message {
    return emptyMessage(type, this.groupId, this.id, to, this.term);
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private info(line: string): void {
    if (this.logger) this.logger(`${this.id} ${line}`);
  }
}
