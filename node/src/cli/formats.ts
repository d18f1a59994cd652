// Readers for the vector files `jade import` and the benchmarks accept: IDX (as the shared
// Fashion-MNIST files, optionally gzipped), fvecs, bvecs, .npy (float32/float64/uint8, C order)
// and JSONL ({"id", "vector", "payload"} per line). Each yields rows; ids default to row numbers.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface VectorRows {
  count: number;
  dimension: number;
  /** Row i as float32 (a view into a shared buffer when possible: copy to keep). */
  row(i: number): Float32Array;
  id?(i: number): number | string;
  payload?(i: number): Record<string, unknown> | null;
}

export type VectorFormat = 'idx' | 'fvecs' | 'bvecs' | 'npy' | 'jsonl';

export function detectFormat(path: string): VectorFormat {
  const p = path.replace(/\.gz$/, '');
  if (p.endsWith('.fvecs')) return 'fvecs';
  if (p.endsWith('.bvecs')) return 'bvecs';
  if (p.endsWith('.npy')) return 'npy';
  if (p.endsWith('.jsonl') || p.endsWith('.ndjson')) return 'jsonl';
  if (/idx\d-ubyte$/.test(p) || p.endsWith('.idx')) return 'idx';
  throw new Error(`cannot tell the format of ${path}; pass --format idx|fvecs|bvecs|npy|jsonl`);
}

export function readMaybeGzip(path: string): Buffer {
  const raw = readFileSync(path);
  return raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
}

/** IDX3 (unsigned bytes): 16-byte big-endian header, then rows of rows×cols pixels. */
export function readIdxImages(path: string): VectorRows {
  const buf = readMaybeGzip(path);
  if (buf.length < 16 || buf.readUInt32BE(0) !== 0x00000803) throw new Error(`${path}: not an IDX3 unsigned-byte file`);
  const count = buf.readUInt32BE(4);
  const dimension = buf.readUInt32BE(8) * buf.readUInt32BE(12);
  if (buf.length < 16 + count * dimension) throw new Error(`${path}: truncated (expected ${count} rows of ${dimension})`);
  return u8Rows(buf.subarray(16), count, dimension, 0);
}

/** IDX1 labels: 8-byte header, then one byte per row. */
export function readIdxLabels(path: string): Uint8Array {
  const buf = readMaybeGzip(path);
  if (buf.length < 8 || buf.readUInt32BE(0) !== 0x00000801) throw new Error(`${path}: not an IDX1 label file`);
  const count = buf.readUInt32BE(4);
  return new Uint8Array(buf.subarray(8, 8 + count));
}

function u8Rows(bytes: Uint8Array, count: number, dimension: number, strideExtra: number): VectorRows {
  const out = new Float32Array(dimension);
  const stride = dimension + strideExtra;
  return {
    count,
    dimension,
    row(i) {
      const start = i * stride + strideExtra;
      for (let j = 0; j < dimension; j++) out[j] = bytes[start + j];
      return out;
    },
  };
}

export function readFvecs(path: string): VectorRows {
  const buf = readMaybeGzip(path);
  if (buf.length < 4) throw new Error(`${path}: empty`);
  const dimension = buf.readInt32LE(0);
  const stride = 4 + dimension * 4;
  if (dimension <= 0 || buf.length % stride !== 0) throw new Error(`${path}: not an fvecs file`);
  const count = buf.length / stride;
  const aligned = new Uint8Array(buf).buffer; // copy to an aligned buffer for Float32Array views
  return {
    count,
    dimension,
    row: (i) => new Float32Array(aligned, i * stride + 4, dimension),
  };
}

export function readBvecs(path: string): VectorRows {
  const buf = readMaybeGzip(path);
  if (buf.length < 4) throw new Error(`${path}: empty`);
  const dimension = buf.readInt32LE(0);
  const stride = 4 + dimension;
  if (dimension <= 0 || buf.length % stride !== 0) throw new Error(`${path}: not a bvecs file`);
  return u8Rows(buf, buf.length / stride, dimension, 4);
}

export function readNpy(path: string): VectorRows {
  const buf = readMaybeGzip(path);
  if (buf.length < 10 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr || !shape || shape.length !== 2 || fortran) throw new Error(`${path}: need a C-order 2-D array, got ${header.trim()}`);
  const [count, dimension] = shape;
  const body = new Uint8Array(buf.subarray(headerStart + headerLen));
  if (descr === '<f4') {
    const f = new Float32Array(body.buffer, body.byteOffset, count * dimension);
    return { count, dimension, row: (i) => f.subarray(i * dimension, (i + 1) * dimension) };
  }
  if (descr === '<f8') {
    const f = new Float64Array(body.buffer, body.byteOffset, count * dimension);
    const out = new Float32Array(dimension);
    return { count, dimension, row: (i) => { for (let j = 0; j < dimension; j++) out[j] = f[i * dimension + j]; return out; } };
  }
  if (descr === '|u1') return u8Rows(body, count, dimension, 0);
  throw new Error(`${path}: unsupported dtype ${descr} (float32, float64 or uint8)`);
}

export function readJsonl(path: string): VectorRows {
  const lines = readMaybeGzip(path).toString('utf8').split('\n').filter((l) => l.trim().length > 0);
  const rows = lines.map((l, i) => {
    let o: any;
    try {
      o = JSON.parse(l);
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
    if (!Array.isArray(o.vector)) throw new Error(`${path}:${i + 1}: "vector" must be an array`);
    return { id: o.id ?? i, vector: Float32Array.from(o.vector as number[]), payload: (o.payload ?? null) as Record<string, unknown> | null };
  });
  const dimension = rows[0]?.vector.length ?? 0;
  return { count: rows.length, dimension, row: (i) => rows[i].vector, id: (i) => rows[i].id, payload: (i) => rows[i].payload };
}

export function readVectors(path: string, format: VectorFormat = detectFormat(path)): VectorRows {
  switch (format) {
    case 'idx':
      return readIdxImages(path);
    case 'fvecs':
      return readFvecs(path);
    case 'bvecs':
      return readBvecs(path);
    case 'npy':
      return readNpy(path);
    case 'jsonl':
      return readJsonl(path);
  }
}
