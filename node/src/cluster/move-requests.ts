// A replica move as the API asks for it (Qdrant's move_shard, replicate_shard, drop_replica and
// abort_transfer on POST /collections/{name}/cluster), checked where it arrives and again where a
// forwarded one lands on the meta leader.
import { JadeError } from '../util/errors.js';
import { wireObject } from '../util/wire-args.js';
import { COLLECTION_NAME_RE } from '../shard/collection-name.js';
import { SHARDS_PER_COLLECTION_MAX } from './meta.js';

export type MoveKind = 'move' | 'replicate' | 'drop' | 'abort';

export interface MoveApiRequest {
  kind: MoveKind;
  collection: string;
  shard: number;
  /** Node ids (peer ids); null where the kind has none. replicate's source must hold a replica, but the target copies from the group's leader. */
  from: string | null;
  to: string | null;
}

const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;

export function moveRequestOf(json: unknown): MoveApiRequest {
  const v = wireObject(json, 'cluster.move');
  const bad = (what: string): never => {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `cluster.move: ${what}`);
  };
  if (!['move', 'replicate', 'drop', 'abort'].includes(v.kind as string)) bad('kind must be move, replicate, drop or abort');
  if (typeof v.collection !== 'string' || !COLLECTION_NAME_RE.test(v.collection)) bad('collection must be a collection name');
  if (typeof v.shard !== 'number' || !Number.isInteger(v.shard) || v.shard < 0 || v.shard >= SHARDS_PER_COLLECTION_MAX) bad(`shard must be an integer in [0, ${SHARDS_PER_COLLECTION_MAX})`);
  const node = (x: unknown, what: string) => (x === null ? null : typeof x === 'string' && NODE_ID_RE.test(x) ? x : bad(`${what} must be a node id or null`));
  const kind = v.kind as MoveKind;
  const from = node(v.from, 'from');
  const to = node(v.to, 'to');
  if ((kind === 'move' || kind === 'replicate') && to === null) bad(`${kind} needs a target`);
  if ((kind === 'move' || kind === 'drop') && from === null) bad(`${kind} needs a source`);
  if (kind === 'drop' && to !== null) bad('drop takes no target');
  if (kind === 'move' && from === to) bad('from and to must differ');
  return { kind, collection: v.collection as string, shard: v.shard as number, from, to };
}
