// All file access of the storage layer goes through Disk, so tests can swap the real file system
// for FaultyMemoryDisk: an in-memory disk that models what survives a power loss (only fsynced
// data and fsynced directory entries) and injects EIO / ENOSPC / short writes on demand.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * 'r': read only, must exist. 'rw': read/write, must exist. 'create': read/write, created if
 * missing and truncated if present. 'append': read/write, created if missing, writes go to the end.
 */
export type OpenMode = 'r' | 'rw' | 'create' | 'append';

export interface DiskFile {
  /** Writes at `position` (or at the end for 'append' / when omitted). May write fewer bytes than asked: returns the count. */
  write(data: Uint8Array, position?: number): Promise<number>;
  /** Reads up to buf.length bytes at position; returns the count (0 at end of file). */
  read(buf: Uint8Array, position: number): Promise<number>;
  /** Makes the file's data and size durable (fdatasync). */
  sync(): Promise<void>;
  size(): Promise<number>;
  truncate(len: number): Promise<void>;
  close(): Promise<void>;
}

export interface Disk {
  open(path: string, mode: OpenMode): Promise<DiskFile>;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file so that after a crash it is either the old or the new content: tmp + fsync + rename + fsync dir. */
  writeFileAtomic(path: string, data: Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a file or a directory tree; no error if it does not exist. */
  removeAll(path: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  /** Entry names (not paths) of a directory, sorted. */
  list(dir: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
  statSize(path: string): Promise<number>;
  /** Makes the directory's entries (created, renamed, removed names) durable. */
  syncDir(dir: string): Promise<void>;
}

/** Writes all of data at position, looping over short writes. */
export async function writeAll(file: DiskFile, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = await file.write(data.subarray(done), position + done);
    if (n <= 0) throw fsError('EIO', 'write', '(short write of 0 bytes)');
    done += n;
  }
}

/** Reads exactly len bytes at position, or fewer if the file ends first. */
export async function readAt(file: DiskFile, position: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const n = await file.read(buf.subarray(done), position + done);
    if (n <= 0) break;
    done += n;
  }
  return done === len ? buf : buf.subarray(0, done);
}

export function fsError(code: string, syscall: string, filePath: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${filePath}'`);
  e.code = code;
  e.syscall = syscall;
  e.path = filePath;
  return e;
}

function tmpName(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Real disk

const OPEN_FLAGS: Record<OpenMode, string> = { r: 'r', rw: 'r+', create: 'w+', append: 'a+' };

class RealDiskFile implements DiskFile {
  constructor(private readonly handle: fs.FileHandle, private readonly appendOnly: boolean) {}
  async write(data: Uint8Array, position?: number): Promise<number> {
    const pos = this.appendOnly || position === undefined ? null : position;
    const { bytesWritten } = await this.handle.write(data, 0, data.length, pos);
    return bytesWritten;
  }
  async read(buf: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, position);
    return bytesRead;
  }
  sync(): Promise<void> {
    return this.handle.datasync();
  }
  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }
  truncate(len: number): Promise<void> {
    return this.handle.truncate(len);
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

export class RealDisk implements Disk {
  async open(filePath: string, mode: OpenMode): Promise<DiskFile> {
    return new RealDiskFile(await fs.open(filePath, OPEN_FLAGS[mode]), mode === 'append');
  }
  async readFile(filePath: string): Promise<Uint8Array> {
    const b = await fs.readFile(filePath);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  async writeFileAtomic(filePath: string, data: Uint8Array): Promise<void> {
    const tmp = tmpName(filePath);
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
    await fh.close();
    await fs.rename(tmp, filePath);
    await this.syncDir(path.dirname(filePath));
  }
  rename(from: string, to: string): Promise<void> {
    return fs.rename(from, to);
  }
  unlink(filePath: string): Promise<void> {
    return fs.unlink(filePath);
  }
  removeAll(filePath: string): Promise<void> {
    return fs.rm(filePath, { recursive: true, force: true });
  }
  async mkdirp(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
  }
  async list(dir: string): Promise<string[]> {
    return (await fs.readdir(dir)).sort();
  }
  async exists(filePath: string): Promise<boolean> {
    try {
      await fs.stat(filePath);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
  async statSize(filePath: string): Promise<number> {
    return (await fs.stat(filePath)).size;
  }
  async syncDir(dir: string): Promise<void> {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Faulty in-memory disk

export type FaultOp = 'open' | 'read' | 'write' | 'sync' | 'truncate' | 'rename' | 'unlink' | 'syncDir' | 'writeFileAtomic';

export interface FaultRule {
  op: FaultOp;
  /** errno code thrown, e.g. 'EIO' or 'ENOSPC'. Ignored for short writes without an error. */
  code?: string;
  /** How many operations the rule hits before it expires; Infinity = until clearFaults(). Default 1. */
  times?: number;
  /** Only operations on paths containing this string. */
  pathIncludes?: string;
  /** For 'write': write only this many bytes and report the short count (no error unless `code` is also set, which is thrown on the following write). */
  shortWriteBytes?: number;
}

export interface DiskStats {
  fileSyncs: number;
  dirSyncs: number;
  writes: number;
  bytesWritten: number;
}

interface Inode {
  /** Current (page cache) content; only [0, length) is valid. */
  data: Uint8Array;
  length: number;
  /** Content that survives a crash. */
  synced: Uint8Array;
}

export interface CrashOptions {
  /**
   * Torn writes: for each file, keep a random part of its unsynced tail beyond the synced content
   * (as if some pages reached the disk). random() returns [0,1). Default: drop all unsynced data.
   */
  random?: () => number;
  /** With random: also flip a byte inside the kept unsynced tail, sometimes. */
  garbleTornTail?: boolean;
}

/**
 * In-memory Disk with a crash model: crash() keeps, per file, only its last fsynced content, and
 * per directory only the entries that existed at its last syncDir() (names created or renamed
 * since are lost, names removed since come back). Directories themselves are durable at once.
 */
export class FaultyMemoryDisk implements Disk {
  private files = new Map<string, Inode>();
  private durableFiles = new Map<string, Inode>();
  private dirs = new Set<string>(['/']);
  private rules: FaultRule[] = [];
  private pendingErrorAfterShortWrite: { code: string; pathIncludes?: string } | null = null;
  readonly stats: DiskStats = { fileSyncs: 0, dirSyncs: 0, writes: 0, bytesWritten: 0 };

  inject(rule: FaultRule): void {
    this.rules.push({ times: 1, ...rule });
  }
  /** The next fsync (of a file) fails with `code`. */
  failNextSync(code = 'EIO', pathIncludes?: string): void {
    this.inject({ op: 'sync', code, times: 1, pathIncludes });
  }
  /** Every write fails with ENOSPC (or `code`) until clearFaults(). */
  failWrites(code = 'ENOSPC', pathIncludes?: string): void {
    this.inject({ op: 'write', code, times: Infinity, pathIncludes });
  }
  /** The next write writes only `bytes` bytes; if `thenCode` is set the write after it fails with that code. */
  shortWriteNext(bytes: number, thenCode?: string): void {
    this.inject({ op: 'write', shortWriteBytes: bytes, code: thenCode, times: 1 });
  }
  /**
   * File fsyncs wait until the returned function is called (writes still land in the page cache):
   * lets a test crash() while a group commit is between its write and its fsync.
   */
  holdSyncs(): () => void {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    this.syncGate = gate;
    return () => {
      if (this.syncGate === gate) this.syncGate = null;
      release();
    };
  }
  private syncGate: Promise<void> | null = null;
  /** @internal */
  async waitSyncGate(): Promise<void> {
    while (this.syncGate) await this.syncGate;
  }
  clearFaults(): void {
    this.rules = [];
    this.pendingErrorAfterShortWrite = null;
  }

  /** Simulates power loss: everything not fsynced is gone (see CrashOptions for torn writes). Open handles become stale. */
  crash(options: CrashOptions = {}): void {
    const survivors = new Map<string, Inode>();
    for (const [p, inode] of this.durableFiles) {
      let content = inode.synced;
      const rnd = options.random;
      if (rnd && inode.length > content.length && isPrefix(content, inode.data)) {
        const extra = Math.floor(rnd() * (inode.length - content.length + 1));
        const kept = inode.data.slice(0, content.length + extra);
        if (options.garbleTornTail && extra > 0 && rnd() < 0.5) {
          kept[content.length + Math.floor(rnd() * extra)] ^= 0xff;
        }
        content = kept;
      }
      const fresh: Inode = { data: content.slice(), length: content.length, synced: content.slice() };
      survivors.set(p, fresh);
    }
    this.files = survivors;
    this.durableFiles = new Map(survivors);
    this.generation++;
    this.rules = [];
    this.pendingErrorAfterShortWrite = null;
  }

  /** Bumped by crash(): handles from before a crash refuse to work. */
  private generation = 0;

  private norm(p: string): string {
    return path.resolve('/', p);
  }

  private fault(op: FaultOp, p: string): FaultRule | null {
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (r.op !== op) continue;
      if (r.pathIncludes !== undefined && !p.includes(r.pathIncludes)) continue;
      r.times = (r.times ?? 1) - 1;
      if (r.times <= 0) this.rules.splice(i, 1);
      return r;
    }
    return null;
  }

  private throwIfFault(op: FaultOp, p: string): void {
    const r = this.fault(op, p);
    if (r) throw fsError(r.code ?? 'EIO', op, p);
  }

  private requireDir(dir: string, syscall: string): void {
    if (!this.dirs.has(dir)) throw fsError('ENOENT', syscall, dir);
  }

  async open(p: string, mode: OpenMode): Promise<DiskFile> {
    const fp = this.norm(p);
    this.throwIfFault('open', fp);
    if (this.dirs.has(fp)) throw fsError('EISDIR', 'open', fp);
    let inode = this.files.get(fp);
    if (!inode) {
      if (mode === 'r' || mode === 'rw') throw fsError('ENOENT', 'open', fp);
      this.requireDir(path.dirname(fp), 'open');
      inode = { data: new Uint8Array(0), length: 0, synced: new Uint8Array(0) };
      this.files.set(fp, inode);
    } else if (mode === 'create') {
      inode.length = 0;
    }
    return new MemoryFile(this, fp, inode, mode, this.generation);
  }

  /** @internal used by MemoryFile */
  checkGeneration(gen: number, p: string): void {
    if (gen !== this.generation) throw fsError('EBADF', 'stale handle after crash', p);
  }

  /** @internal */
  doWrite(p: string, inode: Inode, data: Uint8Array, position: number): number {
    if (this.pendingErrorAfterShortWrite) {
      const pe = this.pendingErrorAfterShortWrite;
      if (pe.pathIncludes === undefined || p.includes(pe.pathIncludes)) {
        this.pendingErrorAfterShortWrite = null;
        throw fsError(pe.code, 'write', p);
      }
    }
    const r = this.fault('write', p);
    let len = data.length;
    if (r) {
      if (r.shortWriteBytes === undefined) throw fsError(r.code ?? 'EIO', 'write', p);
      len = Math.min(len, r.shortWriteBytes);
      if (r.code) this.pendingErrorAfterShortWrite = { code: r.code, pathIncludes: r.pathIncludes };
    }
    const end = position + len;
    if (end > inode.data.length) {
      const grown = new Uint8Array(Math.max(end, inode.data.length * 2, 64));
      grown.set(inode.data.subarray(0, inode.length));
      inode.data = grown;
    }
    if (position > inode.length) inode.data.fill(0, inode.length, position);
    inode.data.set(data.subarray(0, len), position);
    inode.length = Math.max(inode.length, end);
    this.stats.writes++;
    this.stats.bytesWritten += len;
    return len;
  }

  /** @internal */
  doSync(p: string, inode: Inode): void {
    this.throwIfFault('sync', p);
    this.stats.fileSyncs++;
    inode.synced = inode.data.slice(0, inode.length);
  }

  /** @internal */
  doTruncate(p: string, inode: Inode, len: number): void {
    this.throwIfFault('truncate', p);
    if (len > inode.length) {
      const grown = new Uint8Array(len);
      grown.set(inode.data.subarray(0, inode.length));
      inode.data = grown;
    }
    inode.length = len;
  }

  /** @internal */
  doRead(p: string, inode: Inode, buf: Uint8Array, position: number): number {
    this.throwIfFault('read', p);
    if (position >= inode.length) return 0;
    const n = Math.min(buf.length, inode.length - position);
    buf.set(inode.data.subarray(position, position + n));
    return n;
  }

  async readFile(p: string): Promise<Uint8Array> {
    const fp = this.norm(p);
    this.throwIfFault('read', fp);
    const inode = this.files.get(fp);
    if (!inode) throw fsError(this.dirs.has(fp) ? 'EISDIR' : 'ENOENT', 'readFile', fp);
    return inode.data.slice(0, inode.length);
  }

  async writeFileAtomic(p: string, data: Uint8Array): Promise<void> {
    const fp = this.norm(p);
    this.throwIfFault('writeFileAtomic', fp);
    const tmp = tmpName(fp);
    const f = await this.open(tmp, 'create');
    try {
      await writeAll(f, data, 0);
      await f.sync();
      await f.close();
    } catch (e) {
      await f.close();
      await this.unlink(tmp).catch(() => undefined);
      throw e;
    }
    await this.rename(tmp, fp);
    await this.syncDir(path.dirname(fp));
  }

  async rename(from: string, to: string): Promise<void> {
    const f = this.norm(from);
    const t = this.norm(to);
    this.throwIfFault('rename', f);
    const inode = this.files.get(f);
    if (!inode) throw fsError(this.dirs.has(f) ? 'EISDIR' : 'ENOENT', 'rename', f);
    this.requireDir(path.dirname(t), 'rename');
    if (this.dirs.has(t)) throw fsError('EISDIR', 'rename', t);
    this.files.delete(f);
    this.files.set(t, inode);
  }

  async unlink(p: string): Promise<void> {
    const fp = this.norm(p);
    this.throwIfFault('unlink', fp);
    if (!this.files.delete(fp)) throw fsError(this.dirs.has(fp) ? 'EISDIR' : 'ENOENT', 'unlink', fp);
  }

  async removeAll(p: string): Promise<void> {
    const fp = this.norm(p);
    this.throwIfFault('unlink', fp);
    const prefix = fp.endsWith('/') ? fp : fp + '/';
    for (const k of [...this.files.keys()]) if (k === fp || k.startsWith(prefix)) this.files.delete(k);
    // Directory removal is durable at once, like creation; file names inside go with it.
    for (const k of [...this.durableFiles.keys()]) if (k.startsWith(prefix)) this.durableFiles.delete(k);
    for (const d of [...this.dirs]) if (d === fp || d.startsWith(prefix)) this.dirs.delete(d);
  }

  async mkdirp(dir: string): Promise<void> {
    let d = this.norm(dir);
    const toMake: string[] = [];
    while (!this.dirs.has(d)) {
      if (this.files.has(d)) throw fsError('EEXIST', 'mkdir', d);
      toMake.push(d);
      d = path.dirname(d);
    }
    for (const m of toMake) this.dirs.add(m);
  }

  async list(dir: string): Promise<string[]> {
    const d = this.norm(dir);
    this.requireDir(d, 'scandir');
    const names = new Set<string>();
    for (const k of [...this.files.keys(), ...this.dirs]) {
      if (k !== d && path.dirname(k) === d) names.add(path.basename(k));
    }
    return [...names].sort();
  }

  async exists(p: string): Promise<boolean> {
    const fp = this.norm(p);
    return this.files.has(fp) || this.dirs.has(fp);
  }

  async statSize(p: string): Promise<number> {
    const fp = this.norm(p);
    const inode = this.files.get(fp);
    if (inode) return inode.length;
    if (this.dirs.has(fp)) return 0;
    throw fsError('ENOENT', 'stat', fp);
  }

  async syncDir(dir: string): Promise<void> {
    const d = this.norm(dir);
    this.requireDir(d, 'fsync');
    this.throwIfFault('syncDir', d);
    this.stats.dirSyncs++;
    for (const k of [...this.durableFiles.keys()]) if (path.dirname(k) === d) this.durableFiles.delete(k);
    for (const [k, inode] of this.files) if (path.dirname(k) === d) this.durableFiles.set(k, inode);
  }

  /** Test helper: overwrite bytes of a file in place, durably (bit rot, a bad sector). */
  corrupt(p: string, position: number, bytes: Uint8Array): void {
    const fp = this.norm(p);
    const inode = this.files.get(fp);
    if (!inode) throw fsError('ENOENT', 'corrupt', fp);
    this.doWrite(fp, inode, bytes, position);
    inode.synced = inode.data.slice(0, inode.length);
  }
}

function isPrefix(prefix: Uint8Array, data: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== data[i]) return false;
  return true;
}

class MemoryFile implements DiskFile {
  private closed = false;
  constructor(
    private readonly disk: FaultyMemoryDisk,
    private readonly p: string,
    private readonly inode: Inode,
    private readonly mode: OpenMode,
    private readonly gen: number,
  ) {}
  private check(writing: boolean): void {
    if (this.closed) throw fsError('EBADF', 'closed handle', this.p);
    this.disk.checkGeneration(this.gen, this.p);
    if (writing && this.mode === 'r') throw fsError('EBADF', 'write on read-only handle', this.p);
  }
  async write(data: Uint8Array, position?: number): Promise<number> {
    this.check(true);
    const pos = this.mode === 'append' || position === undefined ? this.inode.length : position;
    return this.disk.doWrite(this.p, this.inode, data, pos);
  }
  async read(buf: Uint8Array, position: number): Promise<number> {
    this.check(false);
    return this.disk.doRead(this.p, this.inode, buf, position);
  }
  async sync(): Promise<void> {
    this.check(false);
    await this.disk.waitSyncGate();
    this.check(false);
    this.disk.doSync(this.p, this.inode);
  }
  async size(): Promise<number> {
    this.check(false);
    return this.inode.length;
  }
  async truncate(len: number): Promise<void> {
    this.check(true);
    this.disk.doTruncate(this.p, this.inode, len);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
