// DELETE /backups/{id} on a standalone node: a whole backup goes (listed no more, 404 after), an
// unknown one is a coded 404, and while POST /backups is still writing a named backup both GET and
// DELETE of that name answer 409 (what lets the operator tell "still being written" from "gone").
// `jade backup delete` calls it.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StandaloneBackups } from '../../node/src/backup/standalone.js';
import { DEFAULT_CONFIG } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';

let root: string;
let backupDir: string;
let node: RunningNode;

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
  const r = await node.app.inject({ method, url, payload: payload as any });
  return { status: r.statusCode, body: r.json() as any };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'jade-backup-del-'));
  backupDir = path.join(root, 'backups');
  node = await startNode({ ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir: path.join(root, 'data'), backupDir });
  expect((await call('PUT', '/collections/c', { vectors: { size: 2, distance: 'Dot' } })).status).toBe(200);
  expect((await call('PUT', '/collections/c/points?wait=true', { points: [{ id: 1, vector: [1, 2] }] })).status).toBe(200);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await node?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('DELETE /backups/{id}', () => {
  it('removes a whole backup; a second delete and a GET are coded 404s', async () => {
    expect((await call('POST', '/backups', { name: 'b1' })).status).toBe(200);
    expect((await call('POST', '/backups', { name: 'b2' })).status).toBe(200);
    const del = await call('DELETE', '/backups/b1');
    expect(del).toMatchObject({ status: 200, body: { result: { id: 'b1', deleted: true } } });
    expect(existsSync(path.join(backupDir, 'b1'))).toBe(false);
    expect(readdirSync(backupDir).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await call('GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b2']);
    const again = await call('DELETE', '/backups/b1');
    expect(again.status).toBe(404);
    expect(again.body.status.error).toMatch(/no backup named b1/);
    expect((await call('GET', '/backups/b1')).status).toBe(404);
    expect((await call('DELETE', '/backups/..%2Fx')).status).toBe(400);
  });

  it('answers 409 to GET and DELETE of a backup POST /backups is still writing, then 200 once written', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const original = StandaloneBackups.prototype.create;
    const spy = vi.spyOn(StandaloneBackups.prototype, 'create').mockImplementation(async function (this: StandaloneBackups, request) {
      await gate;
      return original.call(this, request);
    });
    const post = call('POST', '/backups', { name: 'slow' });
    await vi.waitFor(() => expect(spy).toHaveBeenCalled());
    const get = await call('GET', '/backups/slow');
    expect(get.status).toBe(409);
    expect(get.body.status.error).toMatch(/being written/);
    expect((await call('DELETE', '/backups/slow')).status).toBe(409);
    release();
    expect((await post).status).toBe(200);
    spy.mockRestore();
    expect((await call('GET', '/backups/slow')).status).toBe(200);
    expect((await call('DELETE', '/backups/slow')).status).toBe(200);
  });

  it('jade backup delete removes a backup through the REST API', async () => {
    expect((await call('POST', '/backups', { name: 'by-cli' })).status).toBe(200);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', node.url, 'backup', 'delete', 'by-cli'], { cwd: path.resolve('.') });
    expect(stdout).toBe('backup by-cli deleted\n');
    expect((await call('GET', '/backups/by-cli')).status).toBe(404);
  });
});
