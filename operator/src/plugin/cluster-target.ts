// Which VectorCluster, which pod and which API key a kubectl-jade command uses: read from the API
// server as the user's kubeconfig allows (get VectorClusters, list pods, get the API key Secret).
import type { KubeClient, KubeObject } from '../kube/client.js';
import type { VectorCluster } from '../api/types.js';
import { defaultSpec } from '../api/validate.js';
import { apiKeySecretRef, selectorString } from '../reconcile/children.js';

export class PluginError extends Error {}

export async function findCluster(client: KubeClient, namespace: string, name: string | undefined): Promise<VectorCluster> {
  if (name) {
    const c = await client.getOrUndefined<KubeObject>('VectorCluster', namespace, name);
    if (!c) throw new PluginError(`no VectorCluster "${name}" in namespace "${namespace}"`);
    return c as unknown as VectorCluster;
  }
  const { items } = await client.list<KubeObject>('VectorCluster', namespace);
  if (items.length === 0) throw new PluginError(`no VectorCluster in namespace "${namespace}" (use -n to choose another namespace)`);
  if (items.length > 1) {
    throw new PluginError(`${items.length} VectorClusters in namespace "${namespace}" (${items.map((i) => i.metadata.name).join(', ')}): choose one with --cluster`);
  }
  return items[0] as unknown as VectorCluster;
}

function isReady(pod: KubeObject): boolean {
  const conditions = (pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The named pod (it must belong to the cluster), or the first Ready one by name. */
export async function pickPod(client: KubeClient, cluster: VectorCluster, wanted: string | undefined): Promise<string> {
  const namespace = cluster.metadata.namespace!;
  const { items } = await client.list<KubeObject>('Pod', namespace, selectorString(cluster.metadata.name));
  const pods = items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }));
  if (wanted) {
    if (!pods.some((p) => p.metadata.name === wanted)) {
      throw new PluginError(`pod "${wanted}" is not a member of VectorCluster "${cluster.metadata.name}" (its pods: ${pods.map((p) => p.metadata.name).join(', ') || 'none'})`);
    }
    return wanted;
  }
  const ready = pods.find(isReady);
  if (!ready) throw new PluginError(`no pod of VectorCluster "${cluster.metadata.name}" is Ready${pods.length ? ` (${pods.map((p) => p.metadata.name).join(', ')})` : ''}: name one with --pod`);
  return ready.metadata.name;
}

/** The API key the nodes require (a Secret the operator generated or the user named). */
export async function apiKeyOf(client: KubeClient, cluster: VectorCluster): Promise<string> {
  const ref = apiKeySecretRef(cluster, defaultSpec(cluster.spec));
  const secret = await client.getOrUndefined<KubeObject>('Secret', cluster.metadata.namespace, ref.name);
  if (!secret) throw new PluginError(`the API key Secret "${ref.name}" does not exist (yet)`);
  const data = secret.data as Record<string, string> | undefined;
  const encoded = data?.[ref.key];
  if (encoded === undefined) throw new PluginError(`Secret "${ref.name}" has no key "${ref.key}"`);
  return Buffer.from(encoded, 'base64').toString('utf8');
}

export function restPortOf(cluster: VectorCluster): number {
  return defaultSpec(cluster.spec).node.ports.rest;
}

/** The pods' REST scheme: https with spec.security.tlsSecret. */
export function restSchemeOf(cluster: VectorCluster): 'http' | 'https' {
  return defaultSpec(cluster.spec).security.tlsSecret ? 'https' : 'http';
}
