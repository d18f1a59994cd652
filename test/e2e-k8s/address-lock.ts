// A cross-process lock on a pod address range: two runs of the same e2e file at once (two people
// testing in one work tree) would otherwise start node processes on the same 127.0.0.x:8080.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A lock older than this is left over from a killed run and is taken over. */
const STALE_LOCK_MS = 10 * 60_000;

export async function lockAddressRange(name: string, timeoutMs = 10 * 60_000): Promise<() => void> {
  const dir = path.join(os.tmpdir(), `jade-address-lock-${name}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      try {
        if (Date.now() - statSync(dir).mtimeMs > STALE_LOCK_MS) rmSync(dir, { recursive: true, force: true });
      } catch { /* removed meanwhile */ }
      if (Date.now() > deadline) throw new Error(`address range ${name} stayed locked for ${timeoutMs} ms (${dir})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
