// The replica's side of a cluster backup. A coordinator asks a node holding a replica of a shard to
// capture it: after a read barrier (the replica is then as current as the group's commit index when
// asked) the image is taken synchronously together with the applied Raft index and its term, and
// held here under a token while the coordinator pulls its files in chunks (one internal call carries
// at most RPC_MESSAGE_BYTES_MAX; an image may be hundreds of MiB). Held images are bounded in
// number and dropped after a TTL without reads, so a coordinator that died frees them.
import { randomUUID } from 'node:crypto';
import type { ClusterNode, LocalShardReplica } from '../cluster/cluster-node.js';
import type { AppliedPosition } from '../cluster/hosted-group.js';
import { remainingMs } from '../util/deadline.js';
import { JadeError } from '../util/errors.js';
import { bad, wireInt, wireObject } from '../util/wire-args.js';
import { digestOf } from './digest.js';
import { sha256Hex } from './target.js';
import { IMAGE_FILES, captureShardImage, type ImageRole, type ShardImage } from './shard-image.js';

export const IMAGE_METHODS = { capture: 'backup.captureImage', read: 'backup.readImage', release: 'backup.releaseImage', digest: 'backup.replicaDigest' } as const;
/** Images one node holds for coordinators at once: each is a whole copy of a shard in memory. */
export const IMAGES_HELD_MAX = 2;
/** A held image nobody read for this long is dropped (its coordinator is gone or stuck). */
export const IMAGE_HOLD_TTL_MS = 5 * 60_000;
/** Bytes of one chunk of a pull: far under RPC_MESSAGE_BYTES_MAX, small enough not to stall the channel. */
export const IMAGE_CHUNK_BYTES = 4 * 1024 * 1024;
const TOKEN_RE = /^[0-9a-f-]{36}$/;

export interface CapturedFile {
  role: ImageRole;
  sizeBytes: number;
  sha256: string;
}

/** What a capture reports: where the image stands, what it holds, and its files (without their bytes). */
export interface CapturedImageInfo {
  nodeId: string;
  position: AppliedPosition;
  points: number;
  contentDigest: string;
  files: CapturedFile[];
}

export function describeImage(image: ShardImage): CapturedFile[] {
  return (Object.entries(image.files) as [ImageRole, Uint8Array][]).map(([role, bytes]) => ({ role, sizeBytes: bytes.length, sha256: sha256Hex(bytes) }));
}

/**
 * Captures a replica after a read barrier (retried while the group has no leader, until the
 * deadline): the image and the applied position are read in one synchronous step.
 */
export async function captureReplica(replica: LocalShardReplica, scratchDir: string, deadlineMs: number): Promise<{ image: ShardImage; position: AppliedPosition }> {
  await replica.group.readBarrierBy(deadlineMs);
  return replica.group.atAppliedPosition((position) => ({ image: captureShardImage(replica.sm.state, position.index, scratchDir), position }), Math.max(1, remainingMs(deadlineMs)));
}

/** A replica's point count and content digest after a read barrier (a restore's read-back). */
export async function replicaDigest(replica: LocalShardReplica, deadlineMs: number): Promise<{ points: number; digest: string }> {
  await replica.group.readBarrierBy(deadlineMs);
  return digestOf(replica.sm.state.exportPoints().points);
}

interface Held {
  owner: string;
  image: ShardImage;
  timer: NodeJS.Timeout;
}

/** Images held for coordinators, by token. */
export class ImageHolds {
  private readonly held = new Map<string, Held>();

  constructor(private readonly ttlMs = IMAGE_HOLD_TTL_MS, private readonly heldMax = IMAGES_HELD_MAX) {}

  get size(): number {
    return this.held.size;
  }

  /** Refuses (429) before a capture when no room is left, so no image is taken only to be dropped. */
  checkRoom(): void {
    if (this.held.size >= this.heldMax) throw new JadeError('JADE_ERR_QUEUE_FULL', `this node already holds ${this.held.size} backup images for coordinators (at most ${this.heldMax}); retry when a backup is done`);
  }

  hold(owner: string, image: ShardImage): string {
    this.checkRoom();
    const token = randomUUID();
    this.held.set(token, { owner, image, timer: this.expiry(token) });
    return token;
  }

  private expiry(token: string): NodeJS.Timeout {
    const t = setTimeout(() => this.held.delete(token), this.ttlMs);
    t.unref();
    return t;
  }

  private get(token: string, owner: string): Held {
    const h = this.held.get(token);
    // Another node's token is as unknown as an expired one: each coordinator reads only its own.
    if (!h || h.owner !== owner) throw new JadeError('JADE_ERR_NOT_FOUND', `no backup image held under ${token} (released, or dropped after ${this.ttlMs} ms without reads)`);
    return h;
  }

  /** Bytes [offset, offset + length) of one file of a held image (fewer at its end); resets the TTL. */
  read(token: string, owner: string, role: ImageRole, offset: number, length: number): Uint8Array {
    const h = this.get(token, owner);
    clearTimeout(h.timer);
    h.timer = this.expiry(token);
    const bytes = h.image.files[role];
    if (!bytes) throw new JadeError('JADE_ERR_NOT_FOUND', `the held image has no ${role} file`);
    if (offset > bytes.length) throw new JadeError('JADE_ERR_BAD_REQUEST', `offset ${offset} is past the end of the ${role} file (${bytes.length} bytes)`);
    return bytes.subarray(offset, Math.min(bytes.length, offset + length));
  }

  release(token: string, owner: string): boolean {
    const h = this.held.get(token);
    if (!h || h.owner !== owner) return false;
    clearTimeout(h.timer);
    this.held.delete(token);
    return true;
  }

  clear(): void {
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
  }
}

function tokenOf(raw: unknown, method: string): string {
  if (typeof raw !== 'string' || !TOKEN_RE.test(raw)) bad(method, 'token must be the one a capture answered');
  return raw;
}

function roleOf(raw: unknown, method: string): ImageRole {
  if (typeof raw !== 'string' || !(raw in IMAGE_FILES)) bad(method, `role must be one of ${Object.keys(IMAGE_FILES).join(', ')}`);
  return raw as ImageRole;
}

/** Registers the capture, read and release calls this node serves for its replicas. */
export function serveReplicaImages(node: ClusterNode, holds: ImageHolds, scratchDir: string): void {
  node.handle(IMAGE_METHODS.capture, async ({ json }, ctx) => {
    const { groupId } = wireObject(json, IMAGE_METHODS.capture);
    if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 300) bad(IMAGE_METHODS.capture, 'groupId must be a string');
    const replica = node.localReplica(groupId);
    if (!replica) throw new JadeError('JADE_ERR_UNAVAILABLE', `no open replica of ${groupId} on ${node.nodeId}`, { noReplica: true });
    holds.checkRoom();
    const { image, position } = await captureReplica(replica, scratchDir, ctx.deadlineMs);
    const token = holds.hold(ctx.fromNodeId, image);
    const info: CapturedImageInfo = { nodeId: node.nodeId, position, points: image.points, contentDigest: image.contentDigest, files: describeImage(image) };
    return { json: { token, ...info } };
  });
  node.handle(IMAGE_METHODS.digest, async ({ json }, ctx) => {
    const { groupId } = wireObject(json, IMAGE_METHODS.digest);
    if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 300) bad(IMAGE_METHODS.digest, 'groupId must be a string');
    const replica = node.localReplica(groupId);
    if (!replica) throw new JadeError('JADE_ERR_UNAVAILABLE', `no open replica of ${groupId} on ${node.nodeId}`, { noReplica: true });
    return { json: await replicaDigest(replica, ctx.deadlineMs) };
  });
  node.handle(IMAGE_METHODS.read, async ({ json }, ctx) => {
    const args = wireObject(json, IMAGE_METHODS.read);
    const token = tokenOf(args.token, IMAGE_METHODS.read);
    const role = roleOf(args.role, IMAGE_METHODS.read);
    const offset = wireInt(args.offset, IMAGE_METHODS.read, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const length = wireInt(args.length, IMAGE_METHODS.read, 'length', 1, IMAGE_CHUNK_BYTES);
    return { json: true, binary: holds.read(token, ctx.fromNodeId, role, offset, length) };
  });
  node.handle(IMAGE_METHODS.release, async ({ json }, ctx) => {
    const token = tokenOf(wireObject(json, IMAGE_METHODS.release).token, IMAGE_METHODS.release);
    return { json: holds.release(token, ctx.fromNodeId) };
  });
}
