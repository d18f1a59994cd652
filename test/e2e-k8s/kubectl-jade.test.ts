// The kubectl-jade plugin on the Kubernetes API emulator: a 2-pod VectorCluster of real node
// processes; the plugin (a real child process with the emulator's kubeconfig) finds the cluster,
// reads the API key Secret and runs `jade` commands against a pod through the API server's pod
// proxy: status (the operator's view, then the node's), a collection created and listed, a cluster
// backup created and listed, and clear errors for a cluster or pod that does not exist.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import { NS, startE2e, vectorCluster, type E2e } from './harness.js';

const NAME = 'kj';
const run = promisify(execFile);
let e2e: E2e;

/** kubectl-jade as a user runs it; never throws: the exit code is part of the answer. */
async function plugin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['operator/bin/kubectl-jade.js', '--kubeconfig', e2e.emu.kubeconfigPath, '-n', NS, ...args], { timeout: 60_000, env: { ...process.env, JADE_API_KEY: '', JADE_URL: '' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 100, podIpCount: 10, tmpPrefix: 'kj' });
  await e2e.operator('op-kj');
  await e2e.client.create(vectorCluster(NAME, { replicas: 2, storage: { size: '1Gi' } }));
  await waitFor(async () => {
    const c = await e2e.getCluster(NAME);
    return c?.status?.phase === 'Running' && c.status.readyReplicas === 2 && c.status.members?.every((m) => m.joined) ? c : undefined;
  }, 120_000, 200, `${NAME} Running with 2 joined members`);
}, 180_000);

afterAll(() => e2e?.close());

describe('kubectl-jade on the emulator', { timeout: 120_000 }, () => {
  it('status shows the operator\'s view and the node\'s, through the pod proxy', async () => {
    const s = await plugin('status');
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/VECTORCLUSTER default\/kj: phase Running/);
    expect(s.stdout).toMatch(/^kj-0 +kj-0 +yes +yes/m);
    expect(s.stdout).toMatch(/^kj-1 +kj-1 +yes +yes/m);
    expect(s.stdout).toContain('NODE (as pod kj-0 reports it)');
    expect(s.stdout).toMatch(/mode\s+cluster/);
    // The API key reached the node (auth is on: pods bind 127.0.0.x) and never the output.
    expect(s.stdout).not.toContain(await e2e.apiKeyOf(NAME));

    const other = await plugin('--pod', 'kj-1', '--output', 'json', 'nodes');
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout).jade.members.map((n: { id: string }) => n.id).sort()).toEqual(['kj-0', 'kj-1']);
  });

  it('runs jade commands: a collection and a cluster backup', async () => {
    const created = await plugin('collections', 'create', 'docs', '--dimension', '4', '--metric', 'cosine');
    expect(created.code, created.stderr).toBe(0);
    const listed = await plugin('--pod', 'kj-1', '--output', 'json', 'collections', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('docs');

    const backup = await plugin('--pod', 'kj-1', '--output', 'json', 'backup', 'create', '--name', 'b1');
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ id: 'b1' });
    const backups = await plugin('--pod', 'kj-1', '--output', 'json', 'backup', 'list');
    expect(backups.code, backups.stderr).toBe(0);
    expect(JSON.parse(backups.stdout).map((b: { id: string }) => b.id)).toContain('b1');
  });

  it('names what is missing: an unknown cluster, a pod that is not a member', async () => {
    const noCluster = await plugin('--cluster', 'nope', 'status');
    expect(noCluster.code).toBe(1);
    expect(noCluster.stderr).toContain('no VectorCluster "nope" in namespace "default"');
    const noPod = await plugin('--pod', 'kj-7', 'status');
    expect(noPod.code).toBe(1);
    expect(noPod.stderr).toContain('pod "kj-7" is not a member of VectorCluster "kj" (its pods: kj-0, kj-1)');
  });
});
