// Crash safety of the WAL with real processes: a child appends on the real file system and is
// kill -9'd at seeded random moments; after each kill, reopening must replay every record whose
// acknowledgement the parent saw, with consecutive LSNs, and only whole, intact records.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealDisk } from '../../node/src/storage/disk.js';
import { Wal } from '../../node/src/storage/wal.js';

const WRITER = fileURLToPath(new URL('./fixtures/wal-writer.ts', import.meta.url));
const KILLS = 4;
let root = '';

afterEach(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
});

/** Runs the writer until killAfterMs after its first ack; returns the acks it printed (lsn → i). */
function runAndKill(dir: string, start: number, killAfterMs: number): Promise<Map<number, number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks = new Map<number, number>();
  let buf = '';
  let timer: NodeJS.Timeout | null = null;
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [kind, a, b] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (kind === 'ack') {
          acks.set(Number(a), Number(b));
          timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acks);
      else reject(new Error(`writer exited on its own: ${code}`));
    });
  });
}

describe('WAL crash safety with kill -9', () => {
  it(`every acknowledged record survives ${KILLS} seeded kills; nothing partial replays`, async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'jade-walcrash-'));
    const dir = path.join(root, 'wal');
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const allAcked = new Map<number, number>();
    let next = 0;
    for (let k = 0; k < KILLS; k++) {
      const acks = await runAndKill(dir, next, 20 + Math.floor(random() * 300));
      for (const [lsn, i] of acks) allAcked.set(lsn, i);
      const { wal, records } = await Wal.open(new RealDisk(), dir, { segmentSizeBytesMax: 64 * 1024, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 });
      const byLsn = new Map<number, number>();
      records.forEach((r, idx) => {
        expect(r.lsn).toBe(records[0].lsn + idx);
        const m = /^(\d+):(x*):(\d+)$/.exec(new TextDecoder().decode(r.payload));
        expect(m, `record ${r.lsn} is whole`).not.toBeNull();
        const i = Number(m![1]);
        expect(Number(m![3])).toBe(i);
        expect(m![2].length).toBe((i * 37) % 3000);
        byLsn.set(r.lsn, i);
      });
      for (const [lsn, i] of allAcked) expect(byLsn.get(lsn), `acknowledged LSN ${lsn}`).toBe(i);
      console.log(`kill ${k + 1}: ${acks.size} acks seen, ${records.length} records replayed`);
      expect(acks.size).toBeGreaterThan(0);
      next = Math.max(...byLsn.values()) + 1;
      await wal.close();
    }
  }, 120_000);
});
