// The fence file in a data directory (fencing.ts): its presence fences the node, at every start.
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FenceRecord } from './query/fenced-database.js';

export const FENCE_FILE = 'FENCED';
/** Characters of a fence's reason. */
export const FENCE_REASON_LENGTH_MAX = 256;

/** The fence recorded in a data directory, or null. A file that cannot be parsed still fences (it was written to). */
export async function readFence(dataDir: string): Promise<FenceRecord | null> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, FENCE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const r = JSON.parse(text) as Partial<FenceRecord>;
    return { fencedAtMs: typeof r.fencedAtMs === 'number' ? r.fencedAtMs : 0, reason: typeof r.reason === 'string' ? r.reason : 'unreadable fence file' };
  } catch {
    return { fencedAtMs: 0, reason: 'unreadable fence file' };
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Writes the fence durably (temp file, fsync, rename, fsync of the directory). */
export async function writeFence(dataDir: string, record: FenceRecord): Promise<void> {
  const tmp = path.join(dataDir, `${FENCE_FILE}.tmp`);
  const h = await open(tmp, 'w');
  try {
    await h.writeFile(JSON.stringify(record));
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path.join(dataDir, FENCE_FILE));
  await fsyncDir(dataDir);
}

export async function removeFence(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, FENCE_FILE), { force: true });
  await fsyncDir(dataDir);
}

