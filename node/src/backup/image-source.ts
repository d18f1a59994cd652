// The coordinator's side of a cluster backup: a captured shard image to copy into the target, from
// this node's own replica (the bytes are here) or from a replica on another node (pulled in chunks
// of IMAGE_CHUNK_BYTES through internal calls, then released there).
import type { ClusterNode } from '../cluster/cluster-node.js';
import { JadeError } from '../util/errors.js';
import { IMAGE_CHUNK_BYTES, IMAGE_METHODS, describeImage, type CapturedImageInfo } from './replica-images.js';
import type { ImageRole, ShardImage } from './shard-image.js';
import type { AppliedPosition } from '../cluster/hosted-group.js';

/** How long one capture, chunk read or release may take (a capture of a large shard takes seconds). */
export const IMAGE_CALL_TIMEOUT_MS = 60_000;

export interface ShardImageSource extends CapturedImageInfo {
  /** The bytes of one file, in order. */
  chunks(role: ImageRole): AsyncIterable<Uint8Array>;
  /** Lets the replica drop its copy (best effort: it also drops it after a TTL). */
  release(): Promise<void>;
}

export function localImageSource(nodeId: string, image: ShardImage, position: AppliedPosition): ShardImageSource {
  return {
    nodeId,
    position,
    points: image.points,
    contentDigest: image.contentDigest,
    files: describeImage(image),
    async *chunks(role) {
      const bytes = image.files[role];
      if (!bytes) throw new JadeError('JADE_ERR_NOT_FOUND', `the image has no ${role} file`);
      for (let at = 0; at < bytes.length; at += IMAGE_CHUNK_BYTES) yield bytes.subarray(at, at + IMAGE_CHUNK_BYTES);
    },
    release: async () => undefined,
  };
}

/** Asks `nodeId` to capture its replica of `groupId` and hold it; the source pulls from there, chunkBytes at a time. */
export async function remoteImageSource(node: ClusterNode, nodeId: string, groupId: string, chunkBytes = IMAGE_CHUNK_BYTES): Promise<ShardImageSource> {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > IMAGE_CHUNK_BYTES) throw new Error(`chunkBytes must be an integer in [1, ${IMAGE_CHUNK_BYTES}]`);
  const address = node.nodeAddress(nodeId);
  if (!address) throw new JadeError('JADE_ERR_UNAVAILABLE', `no address known for node ${nodeId}`);
  const call = (method: string, json: unknown) => node.rpc.call(address, method, { json }, Date.now() + IMAGE_CALL_TIMEOUT_MS);
  const reply = (await call(IMAGE_METHODS.capture, { groupId })).json as CapturedImageInfo & { token: string };
  const { token } = reply;
  return {
    nodeId: reply.nodeId,
    position: reply.position,
    points: reply.points,
    contentDigest: reply.contentDigest,
    files: reply.files,
    async *chunks(role) {
      const file = reply.files.find((f) => f.role === role);
      if (!file) throw new JadeError('JADE_ERR_NOT_FOUND', `the image on ${nodeId} has no ${role} file`);
      let offset = 0;
      while (offset < file.sizeBytes) {
        const r = await call(IMAGE_METHODS.read, { token, role, offset, length: Math.min(chunkBytes, file.sizeBytes - offset) });
        const chunk = r.binary ?? new Uint8Array(0);
        if (chunk.length === 0) throw new JadeError('JADE_ERR_UNAVAILABLE', `node ${nodeId} sent no bytes of ${role} at offset ${offset} of ${file.sizeBytes}`);
        offset += chunk.length;
        yield chunk;
      }
    },
    release: async () => {
      await call(IMAGE_METHODS.release, { token }).catch(() => undefined);
    },
  };
}
