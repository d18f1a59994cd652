// Forged Raft traffic for fault tests: a raw gRPC client that opens a message stream to a node's
// Raft port as whoever it claims to be (with or without a proof of the cluster secret) and sends
// Raft messages it made up: an append of an entry the leader never wrote, a MsgTimeoutNow; and the
// linearizability test's nemesis fault built on it (forgeAtFollower).
import * as grpc from '@grpc/grpc-js';
import { encodeMessage } from '../../node/src/cluster/raft-codec.js';
import { NODE_ID_METADATA, NODE_PROOF_METADATA } from '../../node/src/cluster/transport/grpc-transport.js';
import { raftTransportService } from '../../node/src/cluster/transport/proto.js';
import type { Message } from '../../node/src/raft/types.js';
import { NodeProofSigner } from '../../node/src/security/node-auth.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';
import type { ProcessCluster } from './cluster-processes.js';

export interface ForgeOptions {
  /** host:port of the victim's Raft transport. */
  address: string;
  clusterId: string;
  /** The node id the connection claims (metadata). */
  connectAs: string;
  /** With the cluster secret, a valid proof for `connectAs` → `victimId`; without, none. */
  secret: string | null;
  victimId: string;
  /** The batch's from_node_id (defaults to connectAs). */
  batchFrom?: string;
  messages: Message[];
  timeoutMs?: number;
}

/** Sends one batch of forged messages; resolves with the gRPC status the victim answered. */
export function sendForged(o: ForgeOptions): Promise<grpc.status> {
  const Client = raftTransportService();
  const client = new Client(o.address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set(NODE_ID_METADATA, o.connectAs);
  if (o.secret !== null) md.set(NODE_PROOF_METADATA, new NodeProofSigner(o.secret, o.clusterId, o.connectAs).proof(o.victimId));
  return new Promise<grpc.status>((resolve) => {
    const timer = setTimeout(() => resolve(grpc.status.DEADLINE_EXCEEDED), o.timeoutMs ?? 5_000);
    const stream = client.Send(md, (error) => {
      clearTimeout(timer);
      resolve(error ? error.code : grpc.status.OK);
    });
    stream.on('error', () => {});
    stream.write({ fromNodeId: o.batchFrom ?? o.connectAs, clusterId: o.clusterId, messages: o.messages.map((m) => ({ groupId: m.groupId, payload: encodeMessage(m) })) });
    stream.end();
  }).finally(() => client.close());
}

function message(fields: Partial<Message> & Pick<Message, 'type' | 'groupId' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...fields };
}

/**
 * An append the leader never sent: one entry after the follower's last one (assumed to be of the
 * current term, as right after a write), committed at once.
 */
export function forgedAppend(o: { groupId: string; leader: string; to: string; term: number; lastIndex: number; data: Uint8Array }): Message {
  const index = o.lastIndex + 1;
  return message({ type: 'MsgApp', groupId: o.groupId, from: o.leader, to: o.to, term: o.term, logTerm: o.term, index: o.lastIndex, commit: index, entries: [{ term: o.term, index, type: 'normal', data: o.data }] });
}

/** "Take over leadership now", as a leader transferring it would say. */
export function forgedTimeoutNow(o: { groupId: string; leader: string; to: string; term: number }): Message {
  return message({ type: 'MsgTimeoutNow', groupId: o.groupId, from: o.leader, to: o.to, term: o.term });
}

/** One attempt of forgeAtFollower: whom the connection claims to be, with which secret. */
interface ForgeAttempt {
  connectAs: string;
  secret: string | null;
}

/**
 * The nemesis's "forged message from a non-member" against real processes: a follower of `groupId`
 * gets, from connections that are not a member's (a node id outside the cluster; the leader's id
 * without the secret; the leader's id with a wrong secret), an append writing `value` under point
 * `pointId` (a value no client writes) and a MsgTimeoutNow. With a cluster secret each connection
 * must be refused: throws if one is not, or if a strong read at the follower then returns the
 * forged value. Returns a line for the fault log.
 */
export async function forgeAtFollower(
  cluster: ProcessCluster,
  o: { groupId: string; collection: string; pointId: number; value: string; random: () => number },
): Promise<string> {
  const leader = await cluster.leaderOf(o.groupId);
  const followers = cluster.members.filter((m) => m.id !== leader && m.running());
  if (!leader || followers.length === 0) return 'forged-message skipped: no leader with a running follower';
  const victim = followers[Math.floor(o.random() * followers.length)];
  type Status = { memberId: string; groups: { groupId: string; term: number; lastIndex: number; conf: { voters: string[]; learners: string[] } }[]; transport: { refusedUnauthenticated: number } };
  const statusOf = async () => (await (await fetch(`${victim.url}/v1/status`, { signal: AbortSignal.timeout(2_000) })).json()) as Status;
  const before = await statusOf();
  const g = before.groups.find((x) => x.groupId === o.groupId);
  if (!g) return `forged-message skipped: ${victim.id} has no group ${o.groupId}`;
  // Raft addresses members as node#incarnation.
  const leaderMember = [...g.conf.voters, ...g.conf.learners].find((m) => m.startsWith(`${leader}#`)) ?? leader;
  const data = encodeWriteBatch({ ops: [{ kind: 'upsert', points: [{ id: o.pointId, vector: Float32Array.from([1, 0]), payload: { v: o.value } }] }] });
  const attempts: ForgeAttempt[] = [
    { connectAs: 'intruder', secret: null },
    { connectAs: leader, secret: null },
    { connectAs: leader, secret: `not-${cluster.clusterSecret ?? ''}-the-cluster-secret` },
  ];
  const answers: string[] = [];
  for (const a of attempts) {
    const status = await sendForged({
      address: `127.0.0.1:${victim.grpcPort}`,
      clusterId: 'jade',
      connectAs: a.connectAs,
      secret: a.secret,
      victimId: victim.id,
      messages: [
        forgedAppend({ groupId: o.groupId, leader: leaderMember, to: before.memberId, term: g.term, lastIndex: g.lastIndex, data }),
        forgedTimeoutNow({ groupId: o.groupId, leader: leaderMember, to: before.memberId, term: g.term }),
      ],
    });
    answers.push(grpc.status[status]);
    if (cluster.clusterSecret !== null && status !== grpc.status.UNAUTHENTICATED) {
      throw new Error(`${victim.id} accepted a forged connection as ${a.connectAs} (gRPC status ${grpc.status[status]})`);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const res = await fetch(`${victim.url}/collections/${o.collection}/points`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [o.pointId], with_payload: true }), signal: AbortSignal.timeout(4_000) }).catch(() => null);
  const found = res?.status === 200 ? ((await res.json()) as { result: { payload?: { v?: string } }[] }).result[0]?.payload?.v : undefined;
  if (found === o.value) throw new Error(`${victim.id} serves the forged value ${o.value} of point ${o.pointId}`);
  const refused = (await statusOf()).transport.refusedUnauthenticated - before.transport.refusedUnauthenticated;
  return `forged-message to ${victim.id} (${answers.join(', ')}; ${refused} refused)`;
}
