// Loads the shared Fashion-MNIST files (read in place, never copied into the project).
import { existsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdxImages, readIdxLabels } from '../../node/src/cli/formats.js';

export const FASHION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/fashion-mnist');

export function fashionAvailable(): boolean {
  return existsSync(path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'));
}

export interface Fashion {
  base: Float32Array[];
  baseLabels: Uint8Array;
  queries: Float32Array[];
  queryLabels: Uint8Array;
}

export function loadFashion(baseCount = 60_000, queryCount = 10_000): Fashion {
  const base = readIdxImages(path.join(FASHION_DIR, 'train-images-idx3-ubyte.gz'));
  const queries = readIdxImages(path.join(FASHION_DIR, 't10k-images-idx3-ubyte.gz'));
  const take = (rows: typeof base, n: number) => Array.from({ length: Math.min(n, rows.count) }, (_, i) => new Float32Array(rows.row(i)));
  return {
    base: take(base, baseCount),
    baseLabels: readIdxLabels(path.join(FASHION_DIR, 'train-labels-idx1-ubyte.gz')).subarray(0, baseCount),
    queries: take(queries, queryCount),
    queryLabels: readIdxLabels(path.join(FASHION_DIR, 't10k-labels-idx1-ubyte.gz')).subarray(0, queryCount),
  };
}

/** Ground truth rows (int32 ids, float32 distances), `width` per query. */
export function loadGroundTruth(name: 'gt100' | 'gt10-label'): { ids: Int32Array; dist: Float32Array; width: number } {
  const ids = readFileSync(path.join(FASHION_DIR, `${name}.ids.i32`));
  const dist = readFileSync(path.join(FASHION_DIR, `${name}.dist.f32`));
  const width = name === 'gt100' ? 100 : 10;
  return {
    ids: new Int32Array(ids.buffer.slice(ids.byteOffset, ids.byteOffset + ids.length)),
    dist: new Float32Array(dist.buffer.slice(dist.byteOffset, dist.byteOffset + dist.length)),
    width,
  };
}
