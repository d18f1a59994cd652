// A node's identity (DESIGN.md "Membership and identity"): (cluster, node id, incarnation),
// written to the data directory on first start, before anything else. Raft groups know their
// members by member id = node id + incarnation, so a node that comes back with an empty data
// directory under an old node id is a new member: it never votes, acknowledges or re-founds a
// group as the member it was (its votes and log are gone). The identity also lists the shard
// groups this node founded, so a group directory that disappeared is never founded again.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';

export const IDENTITY_FILE = 'identity.json';
const FORMAT = 1;

export interface NodeIdentity {
  format: number;
  /** The configured cluster name (JADE_CLUSTER_NAME); a data directory never changes clusters. */
  clusterName: string;
  /** The cluster's id, set by --bootstrap or learned when joining; null until then. */
  clusterId: string | null;
  nodeId: string;
  /** Random, made on first start: a wiped node gets a new one. */
  incarnation: string;
  createdAtMs: number;
  /** Shard groups this incarnation founded (opened with their initial voters). */
  foundedGroups: string[];
}

const MEMBER_SEPARATOR = '#';

/** The Raft member id of a node's incarnation. */
export function memberId(nodeId: string, incarnation: string): string {
  return `${nodeId}${MEMBER_SEPARATOR}${incarnation}`;
}

/** The node id part of a Raft member id. */
export function nodeOfMember(member: string): string {
  const i = member.lastIndexOf(MEMBER_SEPARATOR);
  return i < 0 ? member : member.slice(0, i);
}

export function incarnationOfMember(member: string): string {
  const i = member.lastIndexOf(MEMBER_SEPARATOR);
  return i < 0 ? '' : member.slice(i + 1);
}

export function newIncarnation(): string {
  return randomBytes(6).toString('hex');
}

export function newClusterId(): string {
  return randomBytes(16).toString('hex');
}

function isIdentity(v: unknown): v is NodeIdentity {
  const o = v as Record<string, unknown>;
  return (
    typeof o === 'object' && o !== null && o.format === FORMAT && typeof o.clusterName === 'string' && (o.clusterId === null || typeof o.clusterId === 'string') &&
    typeof o.nodeId === 'string' && typeof o.incarnation === 'string' && /^[0-9a-f]{4,32}$/.test(o.incarnation) && typeof o.createdAtMs === 'number' &&
    Array.isArray(o.foundedGroups) && o.foundedGroups.every((g) => typeof g === 'string')
  );
}

/** The identity file of one data directory; every change is written atomically before it is used. */
export class IdentityStore {
  private constructor(private readonly disk: Disk, private readonly file: string, private current: NodeIdentity, readonly createdNow: boolean) {}

  /**
   * Reads the identity, or makes a new one when the directory has none. A directory that holds
   * cluster data but no identity (written by an older version, or partly wiped) is refused: it
   * cannot be told apart from a node that lost its identity and must not vote as anyone.
   */
  static async open(disk: Disk, dataDir: string, expect: { nodeId: string; clusterName: string }): Promise<IdentityStore> {
    await disk.mkdirp(dataDir);
    const file = path.join(dataDir, IDENTITY_FILE);
    if (await disk.exists(file)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(await disk.readFile(file)));
      } catch {
        throw new JadeError('JADE_ERR_STORAGE', `${file} is not valid JSON: the node's identity is damaged; restore it or start the node with an empty data directory (it then joins as a new member)`);
      }
      if (!isIdentity(parsed)) throw new JadeError('JADE_ERR_STORAGE', `${file} is not a node identity of format ${FORMAT}`);
      if (parsed.nodeId !== expect.nodeId) throw new JadeError('JADE_ERR_CONFLICT', `the data directory belongs to node "${parsed.nodeId}", not "${expect.nodeId}": start it with --node-id ${parsed.nodeId}, or use another data directory`);
      if (parsed.clusterName !== expect.clusterName) throw new JadeError('JADE_ERR_CONFLICT', `the data directory belongs to cluster "${parsed.clusterName}", not "${expect.clusterName}" (JADE_CLUSTER_NAME)`);
      return new IdentityStore(disk, file, parsed, false);
    }
    if (await disk.exists(path.join(dataDir, 'groups'))) {
      throw new JadeError('JADE_ERR_CONFLICT', `${dataDir} holds Raft groups but no ${IDENTITY_FILE}: it was written by an older version or partly wiped. Such a directory cannot vote safely; move it away and start with an empty data directory (the node then joins as a new member)`);
    }
    const identity: NodeIdentity = { format: FORMAT, clusterName: expect.clusterName, clusterId: null, nodeId: expect.nodeId, incarnation: newIncarnation(), createdAtMs: Date.now(), foundedGroups: [] };
    const store = new IdentityStore(disk, file, identity, true);
    await store.write(identity);
    return store;
  }

  get identity(): Readonly<NodeIdentity> {
    return this.current;
  }

  get memberId(): string {
    return memberId(this.current.nodeId, this.current.incarnation);
  }

  private async write(next: NodeIdentity): Promise<void> {
    await this.disk.writeFileAtomic(this.file, new TextEncoder().encode(JSON.stringify(next, null, 2)));
    this.current = next;
  }

  /** Changes run one at a time, each on the identity as the previous one left it. */
  private update(change: (current: NodeIdentity) => NodeIdentity | null): Promise<void> {
    const run = this.updating.then(async () => {
      const next = change(this.current);
      if (next) await this.write(next);
    });
    this.updating = run.catch(() => undefined);
    return run;
  }
  private updating: Promise<void> = Promise.resolve();

  setClusterId(clusterId: string): Promise<void> {
    return this.update((c) => {
      if (c.clusterId === clusterId) return null;
      if (c.clusterId !== null) throw new JadeError('JADE_ERR_CONFLICT', `this node belongs to cluster ${c.clusterId}, not ${clusterId}`);
      return { ...c, clusterId };
    });
  }

  hasFounded(groupId: string): boolean {
    return this.current.foundedGroups.includes(groupId);
  }

  /** Recorded before the group's directory is made, so a lost directory is never founded twice. */
  markFounded(groupId: string): Promise<void> {
    return this.update((c) => (c.foundedGroups.includes(groupId) ? null : { ...c, foundedGroups: [...c.foundedGroups, groupId] }));
  }

  forgetGroups(groupIds: readonly string[]): Promise<void> {
    const drop = new Set(groupIds);
    return this.update((c) => (c.foundedGroups.some((g) => drop.has(g)) ? { ...c, foundedGroups: c.foundedGroups.filter((g) => !drop.has(g)) } : null));
  }
}
