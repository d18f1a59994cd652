// The internal calls a move is made of, served by a shard group's replicas: a membership change
// and a leadership transfer on the group's leader, a digest marker proposed by the leader, and a
// replica's digest at that marker. The meta leader's move executor calls them on any node (on
// itself without the network).
import type { ConfChange } from '../raft/types.js';
import { JadeError } from '../util/errors.js';
import { beforeDeadline } from '../util/deadline.js';
import { wireInt, wireObject } from '../util/wire-args.js';
import type { GroupStatus, HostedGroup } from './hosted-group.js';
import type { ShardDigest } from './shard-digest.js';
import { encodeDigestMarker } from './shard-digest.js';
import type { ShardStateMachine } from './shard-sm.js';
import type { NodeRpc, RpcCallContext, RpcPayload } from './transport/rpc.js';

const MEMBER_RE = /^[A-Za-z0-9_.-]{1,128}#[0-9a-f]{4,32}$/;
const TOKEN_RE = /^[A-Za-z0-9_.:-]{1,100}$/;
const CHANGE_TYPES: readonly ConfChange['type'][] = ['addLearner', 'addVoter', 'removeNode'];

export interface GroupAdminHost {
  nodeId: string;
  group(groupId: string): HostedGroup | undefined;
  /** Every group this node hosts (meta included). */
  groups(): HostedGroup[];
  shard(groupId: string): ShardStateMachine | undefined;
  rpc: NodeRpc;
  addressOf(nodeId: string): string | undefined;
}

type Handler = (json: Record<string, unknown>, ctx: RpcCallContext) => Promise<unknown>;

function groupIdOf(json: Record<string, unknown>, method: string): string {
  if (typeof json.groupId !== 'string' || json.groupId.length === 0 || json.groupId.length > 300) throw new JadeError('JADE_ERR_BAD_REQUEST', `${method}: groupId must be a group id`);
  return json.groupId;
}

function memberArg(v: unknown, method: string, field: string): string {
  if (typeof v !== 'string' || !MEMBER_RE.test(v)) throw new JadeError('JADE_ERR_BAD_REQUEST', `${method}: ${field} must be node#incarnation`);
  return v;
}

export class GroupAdmin {
  private readonly handlers = new Map<string, Handler>();

  constructor(private readonly host: GroupAdminHost) {
    this.handlers.set('group.confChange', async (json, ctx) => {
      const g = this.leaderGroup(json, 'group.confChange');
      if (!CHANGE_TYPES.includes(json.type as ConfChange['type'])) throw new JadeError('JADE_ERR_BAD_REQUEST', `group.confChange: type must be one of ${CHANGE_TYPES.join(', ')}`);
      const change = { type: json.type as ConfChange['type'], nodeId: memberArg(json.member, 'group.confChange', 'member') };
      await beforeDeadline(g.driver.proposeConfChange(change), ctx.deadlineMs, `group ${g.groupId}: ${change.type} ${change.nodeId}`);
      return g.status();
    });
    this.handlers.set('group.transferLeader', async (json) => {
      const g = this.leaderGroup(json, 'group.transferLeader');
      g.driver.transferLeader(memberArg(json.to, 'group.transferLeader', 'to'));
      return true;
    });
    this.handlers.set('group.digestMarker', async (json, ctx) => {
      const g = this.leaderGroup(json, 'group.digestMarker');
      const token = json.token;
      if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'group.digestMarker: token must match [A-Za-z0-9_.:-]{1,100}');
      const sm = this.host.shard(g.groupId);
      if (!sm) throw new JadeError('JADE_ERR_UNAVAILABLE', `no shard replica of ${g.groupId} on ${this.host.nodeId}`);
      await g.propose(encodeDigestMarker(token), 'majority', Math.max(1, ctx.deadlineMs - Date.now()));
      return sm.digestAt(token) ?? null;
    });
    this.handlers.set('group.digest', async (json, ctx) => {
      const groupId = groupIdOf(json, 'group.digest');
      const token = json.token;
      if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'group.digest: token must match [A-Za-z0-9_.:-]{1,100}');
      const index = wireInt(json.index, 'group.digest', 'index', 1, Number.MAX_SAFE_INTEGER);
      const g = this.host.group(groupId);
      const sm = this.host.shard(groupId);
      if (!g || !sm) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of ${groupId} on ${this.host.nodeId}`);
      await g.whenApplied(index, Math.max(1, ctx.deadlineMs - Date.now()));
      return sm.digestAt(token) ?? null;
    });
    // The shard groups this node leads (the leader balancer's census: one call per node, not per group).
    this.handlers.set('group.leaderships', async () => this.host.groups().filter((g) => g.isLeader && this.host.shard(g.groupId) !== undefined).map((g) => g.groupId));
    this.handlers.set('group.statusOf', async (json) => {
      const g = this.host.group(groupIdOf(json, 'group.statusOf'));
      return g ? g.status() : null;
    });
  }

  private leaderGroup(json: Record<string, unknown>, method: string): HostedGroup {
    const groupId = groupIdOf(json, method);
    const g = this.host.group(groupId);
    if (!g) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of ${groupId} on ${this.host.nodeId}`);
    if (!g.isLeader) throw new JadeError('JADE_ERR_NOT_LEADER', `${this.host.nodeId} does not lead ${groupId}`, { leader: g.status().leader });
    return g;
  }

  register(rpc: NodeRpc): void {
    for (const [method, handler] of this.handlers) rpc.handle(method, async ({ json }: RpcPayload, ctx) => ({ json: await handler(wireObject(json, method), ctx) }));
  }

  /** Calls `method` on `nodeId` (here without the network). */
  private async call(nodeId: string, method: string, args: Record<string, unknown>, deadlineMs: number): Promise<unknown> {
    if (nodeId === this.host.nodeId) return this.handlers.get(method)!(args, { fromNodeId: nodeId, deadlineMs });
    const address = this.host.addressOf(nodeId);
    if (!address) throw new JadeError('JADE_ERR_UNAVAILABLE', `no address for ${nodeId}`);
    return (await this.host.rpc.call(address, method, { json: args }, deadlineMs)).json;
  }

  /** A replica's view of the group (null when it does not host it). */
  statusOf(nodeId: string, groupId: string, deadlineMs: number): Promise<GroupStatus | null> {
    return this.call(nodeId, 'group.statusOf', { groupId }, deadlineMs) as Promise<GroupStatus | null>;
  }

  async confChange(leader: string, groupId: string, change: ConfChange, deadlineMs: number): Promise<GroupStatus> {
    return (await this.call(leader, 'group.confChange', { groupId, type: change.type, member: change.nodeId }, deadlineMs)) as GroupStatus;
  }

  async transferLeader(leader: string, groupId: string, to: string, deadlineMs: number): Promise<void> {
    await this.call(leader, 'group.transferLeader', { groupId, to }, deadlineMs);
  }

  async leaderships(nodeId: string, deadlineMs: number): Promise<string[]> {
    const r = await this.call(nodeId, 'group.leaderships', {}, deadlineMs);
    if (!Array.isArray(r) || r.some((g) => typeof g !== 'string')) throw new JadeError('JADE_ERR_INTERNAL', `group.leaderships from ${nodeId}: not a list of group ids`);
    return r as string[];
  }

  digestMarker(leader: string, groupId: string, token: string, deadlineMs: number): Promise<ShardDigest | null> {
    return this.call(leader, 'group.digestMarker', { groupId, token }, deadlineMs) as Promise<ShardDigest | null>;
  }

  digest(nodeId: string, groupId: string, token: string, index: number, deadlineMs: number): Promise<ShardDigest | null> {
    return this.call(nodeId, 'group.digest', { groupId, token, index }, deadlineMs) as Promise<ShardDigest | null>;
  }
}
