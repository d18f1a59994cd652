// Data types of the pure Raft core. Shaped after etcd-io/raft (raftpb), but plain TypeScript
// objects: the transport (proto/raft.proto) converts them; the core never serializes anything
// except ConfChange payloads (confchange.ts).

export type NodeId = string;
export type GroupId = string;

/** "No node": no vote cast, no known leader. */
export const NO_NODE: NodeId = '';

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to the core for 'normal' entries; an encoded ConfChange for 'confChange'. */
  readonly data: Uint8Array;
}

/** Must be durable before any message produced in the same Ready is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** State machine image, opaque to the core. Chunking on the wire belongs to the transport. */
  data: Uint8Array;
}

/**
 * Single-server membership changes: one voter or learner added, promoted or removed per entry.
 * Chosen over joint consensus because it is simpler and sufficient: JadeVectorDB changes one
 * member at a time (migration = add learner, promote, remove source), and any two majorities of
 * configurations that differ by one voter overlap, so safety holds as long as only one change is
 * in flight (enforced: proposeConfChange rejects while a previous one is not yet applied, and a
 * new leader may not propose one before its first entry of its term is applied).
 */
export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
}

export type MessageType =
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgSnap'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp'
  | 'MsgTransferLeader';

export interface Message {
  type: MessageType;
  groupId: GroupId;
  from: NodeId;
  to: NodeId;
  term: number;
  /** MsgApp: term of the entry at `index`; MsgVote: candidate's last term; reject: hint term. */
  logTerm: number;
  /** MsgApp: index preceding `entries`; MsgAppResp: last index matched (or rejected index). */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** MsgAppResp reject: the follower's guess of the last index that may match (fast backtracking). */
  rejectHint: number;
  snapshot?: Snapshot;
  /** ReadIndex request id (MsgReadIndex, heartbeats, answers); 'transfer' on votes forced by a leader transfer; the target on a forwarded MsgTransferLeader. */
  context?: string;
}

export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  lead: NodeId;
  role: RaftRole;
}

/** Answer to readIndex(context): once the local state machine applied `index`, a read is linearizable. */
export interface ReadState {
  index: number;
  context: string;
}

/**
 * One batch of work for the driver. Processing order (see driver contract in core.ts):
 * install snapshot → append entries + hard state (fsync if mustSync) → send messages →
 * apply committedEntries → advance(ready).
 */
export interface Ready {
  /** Set only when it changed since the previous Ready. Volatile, never persisted. */
  softState?: SoftState;
  /** Set only when it changed. Persist. */
  hardState?: HardState;
  /** Append to stable storage; may overwrite the tail of the log starting at entries[0].index. */
  entries: Entry[];
  /** Install into storage and the state machine (before entries). */
  snapshot?: Snapshot;
  /** Committed, to apply to the state machine in order. */
  committedEntries: Entry[];
  /** Send only after hardState + entries + snapshot are durable. */
  messages: Message[];
  readStates: ReadState[];
  /** True when hardState term/vote or entries changed: the write must be fsynced. */
  mustSync: boolean;
}

/** Injected randomness for election timeouts; the core never calls Math.random. */
export interface RandomSource {
  /** Uniform integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/**
 * TEST-ONLY deliberately broken behaviours, used by the simulation's negative controls to prove
 * the checkers can fail. Never set in production code: every flag defaults to off.
 */
export interface RaftBugs {
  /** Grant votes without the "candidate's log is at least as up-to-date" check. */
  voteWithoutLogCheck?: boolean;
  /** Commit the quorum-matched index even when its entry is from an older term. */
  commitOldTermByCount?: boolean;
  /** Grant a vote even when already voted for another candidate in this term. */
  doubleVote?: boolean;
  /** Answer ReadIndex at once from the leader's commit index, without a quorum heartbeat round. */
  readWithoutQuorum?: boolean;
}
