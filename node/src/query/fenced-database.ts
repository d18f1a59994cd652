// The database of a fenced node (fencing.ts): the data directory is kept as it is, closed, and every
// request that would read or change it is refused with JADE_ERR_FENCED (503), so clients and load
// balancers move on to other nodes while an operator inspects or repairs this one.
import { JadeError } from '../util/errors.js';
import type { Collection, Database, LocalCollectionStats } from './types.js';

export interface FenceRecord {
  fencedAtMs: number;
  /** Why, as the caller said (shown by GET /cluster/fence and /v1/status). */
  reason: string;
}

/** The refusal every route and database call of a fenced node answers with. */
export function fencedError(record: FenceRecord): JadeError {
  return new JadeError('JADE_ERR_FENCED', `this node is fenced since ${new Date(record.fencedAtMs).toISOString()} (${record.reason}); it serves nothing until unfenced (DELETE /cluster/fence)`);
}

function fenced(record: FenceRecord): never {
  throw fencedError(record);
}

export class FencedDatabase implements Database {
  readonly mode: 'standalone' | 'cluster';
  constructor(
    private readonly record: FenceRecord,
    mode: 'standalone' | 'cluster',
  ) {
    this.mode = mode;
  }
  names(): string[] {
    return fenced(this.record);
  }
  has(): boolean {
    return fenced(this.record);
  }
  resolve(): string {
    return fenced(this.record);
  }
  collection(): Collection {
    return fenced(this.record);
  }
  async create(): Promise<void> {
    fenced(this.record);
  }
  async delete(): Promise<boolean> {
    return fenced(this.record);
  }
  async update(): Promise<void> {
    fenced(this.record);
  }
  aliases(): never {
    return fenced(this.record);
  }
  async updateAliases(): Promise<void> {
    fenced(this.record);
  }
  clusterStatus(): Record<string, unknown> {
    return { fenced: true, fencedAtMs: this.record.fencedAtMs, fenceReason: this.record.reason };
  }
  localStats(): LocalCollectionStats[] {
    return [];
  }
}
