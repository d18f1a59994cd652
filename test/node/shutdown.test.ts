// Checks, with a real node process, that a SIGTERM whose checkpoint fails is not a silent success:
// the node logs the failure with its errno and exits 1, and nothing acknowledged is lost (the next
// start replays the WAL). The disk refuses the checkpoint because a directory sits where the new
// manifest must be renamed to (EISDIR, which root cannot override either; no small tmpfs here).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startNodeProcess } from '../helpers/node-process.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'jade-shutdown-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function json(url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('shutdown on a disk that refuses the checkpoint', () => {
  it('logs the errno, exits 1, and the next start has every acknowledged write', { timeout: 90_000 }, async () => {
    const node = await startNodeProcess({ dataDir });
    expect((await json(`${node.url}/collections/c`, 'PUT', { vectors: { size: 2, distance: 'Euclid' } })).status).toBe(200);
    expect((await json(`${node.url}/collections/c/points`, 'PUT', { points: [{ id: 7, vector: [1, 2], payload: { kept: true } }] })).status).toBe(200);
    const manifest = path.join(dataDir, 'collections', 'c', 'shard-0', 'checkpoint.manifest');
    mkdirSync(path.join(manifest, 'in-the-way'), { recursive: true });

    const code = await node.stop();
    expect(code).toBe(1);
    expect(node.output()).toMatch(/shutdown did not complete \(EISDIR\)/);
    expect(node.output()).toMatch(/checkpoint on close failed for c \(EISDIR\)/);

    rmSync(manifest, { recursive: true, force: true });
    const again = await startNodeProcess({ dataDir });
    try {
      const got = await json(`${again.url}/collections/c/points/7`, 'GET');
      expect(got.body.result).toMatchObject({ id: 7, payload: { kept: true }, vector: [1, 2] });
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });
});
