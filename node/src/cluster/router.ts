// Proposals to a group from any node: proposed here when this node leads the group, otherwise
// forwarded over an internal call to the leader (learned from NOT_LEADER hints and the local
// replica's Raft status, else tried replica by replica). A forward is retried only when it
// provably was not applied (never sent, or refused as not the leader); any other failure leaves
// the outcome unknown and says so.
import { JadeError, isJadeError } from '../util/errors.js';
import { remainingMs, retryUntil } from '../util/deadline.js';
import type { GroupHost } from './group-host.js';
import type { ProposeAck } from './hosted-group.js';
import { nodeOfMember } from './identity.js';
import { neverSent, type NodeRpc } from './transport/rpc.js';

export const PROPOSE_METHOD = 'group.propose';

export interface RouterOptions {
  nodeId: string;
  /** gRPC address of a node, or undefined when unknown. */
  addressOf(nodeId: string): string | undefined;
  /** Node ids holding a replica of the group, preferred leader first (empty when unknown). */
  replicasOf(groupId: string): string[];
  isClosed(): boolean;
  /**
   * What the leader proposes for `data` it did not validate itself (a forwarded write, or one
   * the caller sent before this node hosted the group): validated and normalized, or refused.
   */
  prepare(groupId: string, data: Uint8Array): Uint8Array;
}

export interface ProposeOptions {
  /** `data` was validated by this node's own replica of the group, so its leader need not redo it. */
  validatedHere?: boolean;
}

export class Router {
  /** Last known leader (node id) per group, from hints. */
  private readonly leaderHints = new Map<string, string>();
  private readonly rotation = new Map<string, number>();

  constructor(private readonly host: GroupHost, private readonly rpc: NodeRpc, private readonly opts: RouterOptions) {}

  /** The node believed to lead the group: this replica's view, else the last hint. */
  leaderOf(groupId: string): string | undefined {
    const local = this.host.get(groupId)?.leaderMember;
    if (local) return nodeOfMember(local);
    return this.leaderHints.get(groupId);
  }

  noteLeader(groupId: string, nodeId: string | undefined): void {
    if (nodeId) this.leaderHints.set(groupId, nodeId);
    else this.leaderHints.delete(groupId);
  }

  private nextReplica(groupId: string): string | undefined {
    const replicas = this.opts.replicasOf(groupId).filter((n) => n !== this.opts.nodeId);
    if (replicas.length === 0) return undefined;
    const i = this.rotation.get(groupId) ?? 0;
    this.rotation.set(groupId, i + 1);
    return replicas[i % replicas.length];
  }

  /** Proposes `data` to the group until done or the deadline; resolves with the state machine's result. */
  propose(groupId: string, data: Uint8Array, ack: ProposeAck, deadlineMs: number, options: ProposeOptions = {}): Promise<unknown> {
    return retryUntil(
      deadlineMs,
      `write to ${groupId}`,
      async (remaining) => {
        const local = this.host.get(groupId);
        if (local?.isLeader) {
          try {
            // Unvalidated bytes (the replica was not hosted yet when the caller checked) are held
            // to the same rules as a forwarded write: the log only ever holds validated batches.
            const entry = options.validatedHere ? data : this.opts.prepare(groupId, data);
            return { done: true, value: await local.propose(entry, ack, remaining) };
          } catch (e) {
            // Not leader any more, or the entry was replaced: not applied, so trying again is safe.
            if (isJadeError(e) && e.code === 'JADE_ERR_NOT_LEADER') return { done: false, error: e };
            throw e;
          }
        }
        const target = this.leaderOf(groupId) ?? this.nextReplica(groupId);
        const address = target && target !== this.opts.nodeId ? this.opts.addressOf(target) : undefined;
        if (!target || !address) return { done: false, error: new JadeError('JADE_ERR_NOT_LEADER', `no leader known for ${groupId}`) };
        try {
          const reply = await this.rpc.call(address, PROPOSE_METHOD, { json: { groupId, ack }, binary: data }, Date.now() + remaining);
          this.noteLeader(groupId, target);
          return { done: true, value: reply.json };
        } catch (e) {
          if (isJadeError(e) && e.code === 'JADE_ERR_NOT_LEADER') {
            const hint = typeof e.details?.leader === 'string' && e.details.leader ? nodeOfMember(e.details.leader) : undefined;
            this.noteLeader(groupId, hint && hint !== target ? hint : undefined);
            if (!hint || hint === target) this.nextReplica(groupId);
            return { done: false, error: e };
          }
          if (neverSent(e)) {
            this.noteLeader(groupId, undefined);
            this.nextReplica(groupId);
            return { done: false, error: e, retryInMs: 100 };
          }
          if (isJadeError(e) && e.code !== 'JADE_ERR_UNAVAILABLE' && e.code !== 'JADE_ERR_DEADLINE') throw e;
          throw new JadeError('JADE_ERR_UNAVAILABLE', `forwarding the write for ${groupId} to ${target} failed (${(e as Error).message}); its outcome is unknown`);
        }
      },
      () => this.opts.isClosed(),
    );
  }

  /** Handler side of a forwarded proposal: propose here only if this node leads the group. */
  async proposeHere(groupId: string, data: Uint8Array, ack: ProposeAck, deadlineMs: number): Promise<unknown> {
    const group = this.host.get(groupId);
    if (!group) throw new JadeError('JADE_ERR_NOT_LEADER', `group ${groupId} is not hosted on ${this.opts.nodeId}`, { leader: '' });
    if (!group.isLeader) throw new JadeError('JADE_ERR_NOT_LEADER', `${this.opts.nodeId} does not lead ${groupId}`, { leader: group.leaderMember });
    return group.propose(this.opts.prepare(groupId, data), ack, remainingMs(deadlineMs));
  }
}
