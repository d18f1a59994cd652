// `jade import`: streams a vector file into a collection in batches of base64 float32 vectors
// (the fast path), shows rate and ETA, and records the last acknowledged batch in a state file so
// an interrupted import resumes where it stopped (upserts are idempotent, so a redone batch is harmless).
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { JadeClient } from './client.js';
import { CliError } from './client.js';
import type { VectorFormat } from './formats.js';
import { readIdxLabels, readVectors } from './formats.js';
import { formatDuration } from './output.js';

export const IMPORT_BATCH_SIZE_MAX = 10_000;

export interface ImportOptions {
  file: string;
  collection: string;
  format?: VectorFormat;
  batchSize: number;
  labelsFile?: string;
  create?: { distance: string };
  stateFile?: string;
  restart?: boolean;
  limit?: number;
  progress?: (line: string) => void;
}

interface ImportState {
  file: string;
  fileBytes: number;
  collection: string;
  nextRow: number;
}

export function encodeVectorBase64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export async function importVectors(client: JadeClient, o: ImportOptions): Promise<{ imported: number; resumedFrom: number; seconds: number }> {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > IMPORT_BATCH_SIZE_MAX) {
    throw new CliError(`--batch-size must be an integer in 1..${IMPORT_BATCH_SIZE_MAX}`);
  }
  if (!existsSync(o.file)) throw new CliError(`no such file: ${o.file}`);
  let rows;
  try {
    rows = readVectors(o.file, o.format);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const labels = o.labelsFile ? readIdxLabels(o.labelsFile) : null;
  const total = Math.min(rows.count, o.limit ?? Infinity);
  const stateFile = o.stateFile ?? `${o.file}.jade-import-${o.collection}.json`;
  const fileBytes = statSync(o.file).size;

  const exists = await client.call<{ exists: boolean }>('GET', `/collections/${encodeURIComponent(o.collection)}/exists`);
  if (!exists.exists) {
    if (!o.create) throw new CliError(`collection "${o.collection}" does not exist (add --create to create it with dimension ${rows.dimension})`);
    await client.call('PUT', `/collections/${encodeURIComponent(o.collection)}`, { vectors: { size: rows.dimension, distance: o.create.distance } });
  }

  let start = 0;
  if (!o.restart && existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as ImportState;
    if (s.collection === o.collection && s.fileBytes === fileBytes) start = Math.min(s.nextRow, total);
  }
  const resumedFrom = start;
  const started = performance.now();
  let lastPrint = 0;
  for (let row = start; row < total; ) {
    const end = Math.min(total, row + o.batchSize);
    const ids: (number | string)[] = [];
    const vectors: string[] = [];
    const payloads: (Record<string, unknown> | null)[] = [];
    for (let i = row; i < end; i++) {
      ids.push(rows.id ? rows.id(i) : i);
      vectors.push(encodeVectorBase64(rows.row(i)));
      payloads.push(rows.payload ? rows.payload(i) : labels ? { label: labels[i] } : null);
    }
    await client.call('PUT', `/collections/${encodeURIComponent(o.collection)}/points?wait=true`, { batch: { ids, vectors, payloads } });
    row = end;
    writeFileSync(stateFile, JSON.stringify({ file: o.file, fileBytes, collection: o.collection, nextRow: row } satisfies ImportState));
    const now = performance.now();
    if (o.progress && (now - lastPrint > 250 || row === total)) {
      lastPrint = now;
      const done = row - resumedFrom;
      const rate = done / ((now - started) / 1000);
      const pct = ((row / total) * 100).toFixed(1);
      o.progress(`${row}/${total} (${pct}%)  ${Math.round(rate)} vectors/s  ETA ${formatDuration((total - row) / rate)}`);
    }
  }
  rmSync(stateFile, { force: true });
  return { imported: total - resumedFrom, resumedFrom, seconds: (performance.now() - started) / 1000 };
}
