// Wires the store, the HTTP server, the kubelet (pods as local processes) and the StatefulSet
// controller together behind startEmulator(); see index.ts for the contract.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ContainerCommand, Emulator, EmulatorOptions, ListOptions } from './index.js';
import { ApiError } from './errors.js';
import { DisruptionController } from './disruption.js';
import { clusterDnsRecords, resolveClusterName } from './dns.js';
import { Kubelet } from './kubelet.js';
import { ApiServer, parseResourcePath } from './server.js';
import { StatefulSetController } from './statefulset.js';
import { Store } from './store.js';
import { withNodeProcessFlags } from '../../node/src/cli/node-env.js';

const emulatorDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(emulatorDir, '../..');
/** Preload (node --import) that resolves cluster DNS names inside pod processes. */
export const dnsShimPath = path.join(emulatorDir, 'dns-shim.mjs');

/** Default image mapping: any image containing "jadevectordb" runs the node from source. */
function defaultImageCommands(): Record<string, (container: any) => ContainerCommand> {
  return {
    jadevectordb: (container: any) => ({
      command: process.execPath,
      // The image's ENTRYPOINT (node flags, tsx, main.ts), plus the DNS shim.
      args: withNodeProcessFlags(['--import', 'tsx', '--import', dnsShimPath, path.join(repoRoot, 'node/src/main.ts'), ...(container.args ?? [])]),
    }),
  };
}

function writeKubeconfig(file: string, url: string, token: string): void {
  const config = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: emulator',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: emulator-user',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: emulator',
    '  context:',
    '    cluster: emulator',
    '    user: emulator-user',
    '    namespace: default',
    'current-context: emulator',
    '',
  ].join('\n');
  writeFileSync(file, config, { mode: 0o600 });
}

export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const dataRoot = path.resolve(opts.dataRoot);
  mkdirSync(dataRoot, { recursive: true });
  const token = opts.token ?? 'emulator-token';
  const store = new Store(opts.watchHistoryMax ?? 1000);
  const kubelet = new Kubelet(store, {
    dataRoot,
    repoRoot,
    imageCommands: { ...defaultImageCommands(), ...(opts.imageCommands ?? {}) },
    podIpBase: opts.podIpBase ?? 10,
    podIpCount: opts.podIpCount ?? 64,
    terminationGraceCapMs: opts.terminationGraceCapMs ?? 3000,
    probePeriodCapMs: opts.probePeriodCapMs ?? 300,
    restartBackoffBaseMs: opts.restartBackoffBaseMs ?? 200,
    restartBackoffMaxMs: opts.restartBackoffMaxMs ?? 3000,
    dnsFile: path.join(dataRoot, 'cluster-dns.json'),
  });
  const statefulSets = new StatefulSetController(store);
  const disruptions = new DisruptionController(store);
  const api = new ApiServer(store, token, opts.bookmarkIntervalMs ?? 1000, {
    podLogPath: (ns, pod, container) => kubelet.logPath(ns, pod, container),
  });
  const nsType = store.findType('', 'v1', 'namespaces')!;
  for (const name of ['default', 'kube-system', 'kube-public']) store.create(nsType, undefined, { metadata: { name } });
  store.create(store.findType('', 'v1', 'nodes')!, undefined, {
    metadata: { name: 'emulator-node', labels: { 'kubernetes.io/hostname': 'emulator-node' } },
    status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const crdType = store.findType('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
  for (const file of opts.crdPaths ?? []) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJSON();
      if (!crd || crd.kind !== 'CustomResourceDefinition') continue;
      store.create(crdType, undefined, crd);
    }
  }
  const port = await api.listen();
  const url = `http://127.0.0.1:${port}`;
  const kubeconfigPath = path.join(dataRoot, 'kubeconfig.yaml');
  writeKubeconfig(kubeconfigPath, url, token);
  kubelet.start();
  statefulSets.start();
  disruptions.start();

  let stopped = false;
  return {
    url,
    kubeconfigPath,
    faults: {
      goneNextWatch: (resource) => api.goneNextWatch(resource),
      dropWatchConnections: (resource) => api.dropWatchConnections(resource),
      closeWatches: (resource) => api.closeWatches(resource),
      expireWatches: (resource) => api.expireWatches(resource),
      failNextRequests: (n, status, match) => api.failNextRequests(n, status, match),
      stallWatches: (resource) => api.stallWatches(resource),
      clear: () => api.clearFaults(),
    },
    get(apiPath: string): any {
      const p = parseResourcePath(store, apiPath);
      if (!p.name) throw new Error(`not an object path: ${apiPath}`);
      try {
        const obj = store.get(p.t, p.namespace, p.name);
        return p.subresource === 'scale' ? api.toScale(p.t, obj) : store.present(p.t, obj, p.version);
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      }
    },
    list(apiPath: string, listOpts: ListOptions = {}): any[] {
      const p = parseResourcePath(store, apiPath);
      return store.list(p.t, p.namespace, listOpts.labelSelector, listOpts.fieldSelector).map((o) => store.present(p.t, o, p.version));
    },
    resolve: (hostname, namespace = 'default') => resolveClusterName(clusterDnsRecords(store), hostname, namespace),
    killPod: (namespace, name, signal = 'SIGKILL') => kubelet.killPod(namespace, name, signal),
    pvcDir: (namespace, claimName) => kubelet.pvcDir(namespace, claimName),
    podLogPath: (namespace, podName, container) => kubelet.logPath(namespace, podName, container),
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      statefulSets.stop();
      disruptions.stop();
      for (const timer of store.sweepTimers) clearTimeout(timer);
      await kubelet.stop();
      await api.close();
    },
  };
}

/** Poll until `check` returns a truthy value (returned) or throw after timeoutMs with the last error. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
