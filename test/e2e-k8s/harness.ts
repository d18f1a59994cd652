// What the emulator e2e files share: an emulator with every CRD on a locked pod address range, a
// client, operators started with fast timings (logs kept for failure messages), and calls to a
// pod's REST API by its pod IP with the cluster's API key, as a client inside the cluster would.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator, type OperatorOptions, type RunningOperator } from '../../operator/src/operator.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { lockAddressRange } from './address-lock.js';

export const NS = 'default';

/** Lease, informer and controller timings short enough for tests. */
export const FAST_OPERATOR = {
  leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300,
  informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
  controller: { requeueSettlingMs: 300, requeueRunningMs: 1000, rolloutSettleMs: 1000 },
} satisfies Partial<OperatorOptions>;

export interface E2e {
  emu: Emulator;
  client: KubeClient;
  dataRoot: string;
  /** Every operator log line, prefixed with its identity. */
  logs: string[];
  /** Starts an operator (FAST_OPERATOR, overridable) and waits until it leads. */
  operator(identity: string, extra?: Partial<OperatorOptions>): Promise<RunningOperator>;
  getCluster(name: string): Promise<VectorCluster | undefined>;
  /** The API key the operator generated for a cluster, read as a client would (its Secret). */
  apiKeyOf(cluster: string): Promise<string>;
  /** A call to one pod's REST API by its pod IP; status 0 while the pod has no IP or is being deleted. */
  podCall(pod: string, method: string, urlPath: string, body?: unknown, opts?: { apiKey?: string; timeoutMs?: number }): Promise<{ status: number; json: any }>;
  /** Messages of the Events about an object with this reason. */
  events(objectName: string, reason: string): Promise<string[]>;
  /** Halts the operators, stops the emulator, removes the data and unlocks the range. */
  close(): Promise<void>;
}

export const condition = (c: VectorCluster | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);

export function vectorCluster(name: string, spec: VectorCluster['spec']): KubeObject {
  return { apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name, namespace: NS }, spec };
}

/** An emulator on 127.0.0.<podIpBase>..+podIpCount-1 (locked against a second run of the same file). */
export async function startE2e(o: { podIpBase: number; podIpCount: number; tmpPrefix: string }): Promise<E2e> {
  const unlock = await lockAddressRange(`127.0.0.${o.podIpBase}-${o.podIpBase + o.podIpCount - 1}`);
  const dataRoot = mkdtempSync(path.join(os.tmpdir(), `jade-e2e-${o.tmpPrefix}-`));
  const crdDir = path.resolve('crds');
  let emu: Emulator;
  try {
    emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: o.podIpBase, podIpCount: o.podIpCount });
  } catch (e) {
    unlock();
    throw e;
  }
  const client = KubeClient.fromFile(emu.kubeconfigPath);
  const logs: string[] = [];
  const operators: RunningOperator[] = [];
  const keys = new Map<string, string>();
  const apiKeyOf = async (cluster: string): Promise<string> => {
    const known = keys.get(cluster);
    if (known) return known;
    const secret = await client.get('Secret', NS, `${cluster}-api-key`);
    const data = secret.data as Record<string, string> | undefined;
    const key = data?.['api-key'] ? Buffer.from(data['api-key'], 'base64').toString('utf8') : String((secret.stringData as Record<string, string>)['api-key']);
    keys.set(cluster, key);
    return key;
  };
  return {
    emu,
    client,
    dataRoot,
    logs,
    async operator(identity, extra = {}) {
      const op = await startOperator({
        client, identity, leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1', log: (m) => logs.push(`${identity} ${m}`),
        ...FAST_OPERATOR, ...extra,
        informer: { ...FAST_OPERATOR.informer, ...extra.informer },
        controller: { ...FAST_OPERATOR.controller, ...extra.controller },
      });
      operators.push(op);
      await waitFor(() => op.isLeader(), 15_000, 50, `${identity} leading`);
      return op;
    },
    getCluster: (name) => client.getOrUndefined<KubeObject>('VectorCluster', NS, name) as Promise<VectorCluster | undefined>,
    apiKeyOf,
    async podCall(pod, method, urlPath, body, opts = {}) {
      const p = emu.list(`/api/v1/namespaces/${NS}/pods`).find((x: any) => x.metadata.name === pod) as any;
      if (!p?.status?.podIP || p.metadata.deletionTimestamp) return { status: 0, json: null };
      const apiKey = opts.apiKey ?? (await apiKeyOf(pod.slice(0, pod.lastIndexOf('-'))));
      const res = await fetch(`http://${p.status.podIP}:8080${urlPath}`, {
        method, headers: { 'api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
    events: async (objectName, reason) => (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === objectName && e.reason === reason).map((e: any) => String(e.message)),
    async close() {
      for (const op of operators) await op.halt().catch(() => undefined);
      await emu.stop();
      rmSync(dataRoot, { recursive: true, force: true });
      unlock();
    },
  };
}
