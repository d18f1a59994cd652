// Node-to-node authentication by a shared cluster secret (JADE_CLUSTER_SECRET). Every call between
// nodes (a Raft message stream, a snapshot, each internal call) carries a proof made for it:
//
//   v1.<scope>.<session: 8 random bytes, hex>.<counter>.<timestamp ms>.<base64url HMAC-SHA256>
//   HMAC over "jade-node-auth-v1" | cluster id | sender id | receiver id or "*" | session | counter | timestamp
//
// The scope says whom the proof is for: "n" one receiver node (the Raft streams know their peer),
// "a" any node of the cluster (internal calls go to addresses, e.g. a seed while joining). The
// receiver recomputes the HMAC and compares in constant time, accepts timestamps within
// NODE_AUTH_CLOCK_SKEW_MS of its clock, and accepts each (sender, session, counter) once: per
// sender session it keeps a sliding window of the last NODE_AUTH_WINDOW_CALLS counters (as IPsec
// does against replays), so memory stays a few KiB per sender however many calls are made, calls
// may arrive out of order, and a replayed proof is refused. Each sender process has its own random
// session and counts up from 1. Chosen over a challenge-response because a gRPC call carries
// metadata only up front (no round trip before the first message), and internal calls are many
// and short; the nodes' clocks are NTP-synchronized in practice. Mutual TLS comes later and makes
// the traffic itself private. The secret is never logged or sent.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Characters a cluster secret must have at least (an HMAC key: 32 random characters or more). */
export const CLUSTER_SECRET_LENGTH_MIN = 32;
/** How far a proof's timestamp may be from the receiver's clock. */
export const NODE_AUTH_CLOCK_SKEW_MS = 5 * 60_000;
/** Counters per sender session remembered behind the highest seen (calls arriving this far out of order still pass). */
export const NODE_AUTH_WINDOW_CALLS = 65_536;
/** Sessions remembered per sender (restarts within the skew window); the least recently seen goes first. */
const SESSIONS_PER_SENDER_MAX = 16;
/** Senders remembered (each proved the secret); the least recently seen goes first. */
const SENDERS_MAX = 4_096;

const CONTEXT_TAG = 'jade-node-auth-v1';
const ANY_RECEIVER = '*';
const MAC_BYTES = 32;
const PROOF_RE = /^v1\.([na])\.([0-9a-f]{16})\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

export interface ProofFields {
  clusterId: string;
  fromNodeId: string;
  /** The receiver's node id, or "*" for any node of the cluster. */
  toNodeId: string;
  session: string;
  counter: number;
  timestampMs: number;
}

function mac(secret: string, f: ProofFields): Buffer {
  return createHmac('sha256', secret).update([CONTEXT_TAG, f.clusterId, f.fromNodeId, f.toNodeId, f.session, String(f.counter), String(f.timestampMs)].join('\0')).digest();
}

/** Makes the proofs of one node process (one session, counting up). */
export class NodeProofSigner {
  private readonly session = randomBytes(8).toString('hex');
  private counter = 0;

  constructor(
    private readonly secret: string,
    private readonly clusterId: string,
    private readonly fromNodeId: string,
  ) {}

  /** A proof for one call to `toNodeId`, or to any node of the cluster when null. */
  proof(toNodeId: string | null, nowMs = Date.now()): string {
    const f: ProofFields = { clusterId: this.clusterId, fromNodeId: this.fromNodeId, toNodeId: toNodeId ?? ANY_RECEIVER, session: this.session, counter: ++this.counter, timestampMs: nowMs };
    return `v1.${toNodeId === null ? 'a' : 'n'}.${f.session}.${f.counter}.${f.timestampMs}.${mac(this.secret, f).toString('base64url')}`;
  }
}

/** The counters seen of one sender session: the highest, and a ring of bits for the window behind it. */
class ReplayWindow {
  private highest = 0;
  private readonly bits = new Uint32Array(NODE_AUTH_WINDOW_CALLS / 32);

  private bit(c: number): boolean {
    const i = c % NODE_AUTH_WINDOW_CALLS;
    return (this.bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  private set(c: number, on: boolean): void {
    const i = c % NODE_AUTH_WINDOW_CALLS;
    if (on) this.bits[i >>> 5] |= 1 << (i & 31);
    else this.bits[i >>> 5] &= ~(1 << (i & 31));
  }

  /** Records `c`; false when it was seen already or is too far behind the window. */
  accept(c: number): boolean {
    if (c > this.highest) {
      if (c - this.highest >= NODE_AUTH_WINDOW_CALLS) this.bits.fill(0);
      else for (let k = this.highest + 1; k < c; k++) this.set(k, false);
      this.highest = c;
      this.set(c, true);
      return true;
    }
    if (this.highest - c >= NODE_AUTH_WINDOW_CALLS || this.bit(c)) return false;
    this.set(c, true);
    return true;
  }
}

export type ProofCheck = { ok: true } | { ok: false; reason: string };

/** Checks the proofs of calls made to one node; remembers what it accepted (bounded, see above). */
export class NodeProofVerifier {
  /** sender → session → window; Map order is the recency order (re-inserted on use). */
  private readonly senders = new Map<string, Map<string, ReplayWindow>>();

  constructor(
    private readonly secret: string,
    private readonly clusterId: string,
    private readonly selfNodeId: string,
    private readonly options: { clockSkewMs?: number; now?: () => number } = {},
  ) {}

  verify(fromNodeId: string, proof: string | undefined): ProofCheck {
    if (proof === undefined || proof === '') return { ok: false, reason: 'no proof of the cluster secret (is JADE_CLUSTER_SECRET set on the sender?)' };
    const m = PROOF_RE.exec(proof);
    if (!m) return { ok: false, reason: 'malformed proof' };
    const f: ProofFields = { clusterId: this.clusterId, fromNodeId, toNodeId: m[1] === 'n' ? this.selfNodeId : ANY_RECEIVER, session: m[2], counter: Number(m[3]), timestampMs: Number(m[4]) };
    const presented = Buffer.from(m[5], 'base64url');
    // The MAC is checked before anything the sender chose is trusted (timestamp, counter).
    if (presented.length !== MAC_BYTES || !timingSafeEqual(presented, mac(this.secret, f))) {
      return { ok: false, reason: 'wrong proof (is JADE_CLUSTER_SECRET the same on every node?)' };
    }
    const now = (this.options.now ?? Date.now)();
    const skewMs = this.options.clockSkewMs ?? NODE_AUTH_CLOCK_SKEW_MS;
    if (Math.abs(now - f.timestampMs) > skewMs) {
      return { ok: false, reason: `proof made ${Math.round((f.timestampMs - now) / 1000)} s from this node's clock (at most ±${skewMs / 1000} s: are the clocks synchronized?)` };
    }
    if (!this.window(fromNodeId, f.session).accept(f.counter)) return { ok: false, reason: 'proof already used or too old (a replay)' };
    return { ok: true };
  }

  /**
   * The window of a sender session, now the most recently used. (A session evicted for more recent
   * ones would start afresh if its proofs came back within the skew window: that takes more than
   * SESSIONS_PER_SENDER_MAX restarts of one node within it.)
   */
  private window(fromNodeId: string, session: string): ReplayWindow {
    let sessions = this.senders.get(fromNodeId);
    if (sessions) this.senders.delete(fromNodeId);
    else sessions = new Map();
    this.senders.set(fromNodeId, sessions);
    if (this.senders.size > SENDERS_MAX) this.senders.delete(this.senders.keys().next().value!);
    let w = sessions.get(session);
    if (w) sessions.delete(session);
    else w = new ReplayWindow();
    sessions.set(session, w);
    if (sessions.size > SESSIONS_PER_SENDER_MAX) sessions.delete(sessions.keys().next().value!);
    return w;
  }
}
