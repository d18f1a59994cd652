// What a backup is described as (REST, CLI), read from its manifest in the target; the defaults a
// backup nobody named gets. Shared by standalone and cluster backups.
import type { BackupTarget } from './target.js';
import type { BackupManifest } from './manifest.js';
import { validateBackupName } from './names.js';

export interface BackupSummary {
  id: string;
  kind: BackupManifest['kind'];
  mode: BackupManifest['mode'];
  createdAt: string;
  nodeVersion: string;
  formatVersion: number;
  /** Bytes stored: every file as written (compressed, encrypted) and the manifest. */
  sizeBytes: number;
  /** Bytes of the files' contents once decoded, and the manifest. */
  contentSizeBytes: number;
  compression: BackupManifest['compression'];
  /** The key the files are encrypted with (its id, never the key), or null. */
  encryption: { algorithm: string; keyId: string } | null;
  manifestSha256: string;
  collections: { name: string; points: number; contentDigest: string; shards: { index: number; points: number; position: BackupManifest['collections'][number]['shards'][number]['position']; capturedFrom: string | null }[] }[];
  files: number;
}

export function summarize(manifest: BackupManifest, manifestSha256: string, manifestBytes: number): BackupSummary {
  return {
    id: manifest.id,
    kind: manifest.kind,
    mode: manifest.mode,
    createdAt: manifest.createdAt,
    nodeVersion: manifest.nodeVersion,
    formatVersion: manifest.formatVersion,
    sizeBytes: manifest.files.reduce((n, f) => n + f.sizeBytes, manifestBytes),
    contentSizeBytes: manifest.files.reduce((n, f) => n + f.contentSizeBytes, manifestBytes),
    compression: manifest.compression,
    encryption: manifest.encryption === null ? null : { algorithm: manifest.encryption.algorithm, keyId: manifest.encryption.keyId },
    manifestSha256,
    collections: manifest.collections.map((c) => ({ name: c.name, points: c.points, contentDigest: c.contentDigest, shards: c.shards.map((s) => ({ index: s.index, points: s.points, position: s.position, capturedFrom: s.capturedFrom ?? null })) })),
    files: manifest.files.length,
  };
}

/** A name for a backup nobody named: the collection (when it makes a valid name) and the time. */
export function defaultBackupName(prefix: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  const rand = Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
  const name = `${prefix}-${stamp}-${rand}`;
  try {
    return validateBackupName(name);
  } catch {
    return `snapshot-${stamp}-${rand}`;
  }
}

export interface BackupRequest {
  /** The backup's name (validated); generated when absent. */
  id?: string;
  /** One collection (a 'collection' backup) or, when absent, every collection ('full'). */
  collection?: string;
}

export async function summaryOf(target: BackupTarget, id: string): Promise<BackupSummary> {
  const { manifest, sha256, sizeBytes } = await target.readManifest(id);
  return summarize(manifest, sha256, sizeBytes - manifest.files.reduce((n, f) => n + f.sizeBytes, 0));
}

/** Every whole backup of the target; one whose manifest cannot be read is left out (GET /backups/{id} names its error). */
export async function listSummaries(target: BackupTarget): Promise<BackupSummary[]> {
  const out: BackupSummary[] = [];
  for (const id of await target.list()) {
    try {
      out.push(await summaryOf(target, id));
    } catch {
      // left out, see above
    }
  }
  return out;
}
