// Runs the operator the way a user does outside a cluster, `node --import tsx operator/src/main.ts
// --kubeconfig FILE` (what `npm run operator --` runs), against the API emulator: it takes the Lease,
// serves /healthz and /metrics on --metrics-port, and on SIGTERM releases the Lease and exits 0.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';

let emu: Emulator;
let dataRoot: string;

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-op-cli-'));
  emu = await startEmulator({ dataRoot, crdPaths: [path.resolve('crds/vectorclusters.jadevectordb.io.yaml')] });
});
afterAll(async () => {
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('operator CLI', () => {
  it('--help documents the flags', () => {
    const help = execFileSync(process.execPath, ['--import', 'tsx', 'operator/src/main.ts', '--help'], { encoding: 'utf8' });
    for (const flag of ['--kubeconfig', '--namespace', '--metrics-port', '--leader-election-namespace']) expect(help).toContain(flag);
  });

  it('leads, serves /healthz and /metrics, and releases the Lease on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts', '--kubeconfig', emu.kubeconfigPath, '--metrics-port', '0',
      '--metrics-host', '127.0.0.1', '--identity', 'cli-op', '--leader-election-namespace', 'default'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.stderr.on('data', (d) => { out += String(d); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitFor(() => out.match(/metrics and \/healthz on (http:\/\/\S+)/)?.[1], 30_000, 50, 'metrics address in the log');
      const client = KubeClient.fromFile(emu.kubeconfigPath);
      await waitFor(async () => ((await client.get('Lease', 'default', 'jadevectordb-operator')).spec as any)?.holderIdentity === 'cli-op', 15_000, 50, 'lease held');
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await waitFor(async () => /jadevectordb_operator_leader 1/.test(await (await fetch(`${url}/metrics`)).text()), 10_000, 50, 'leader gauge');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(((await client.get('Lease', 'default', 'jadevectordb-operator')).spec as any).holderIdentity).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
