// Admin calls the operator makes on a member's REST API (api-key header), beside its status polling.
export const NODE_ADMIN_TIMEOUT_MS = 10_000;

export type BootstrapResult = { founded: true; clusterId: string } | { founded: false; reason: string; message: string };

/** POST /cluster/bootstrap: founds the cluster with this node. A 409 (already a member, a cluster exists, ...) is an answer, not an error. */
export async function requestBootstrap(baseUrl: string, apiKey: string | undefined, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<BootstrapResult> {
  const res = await fetch(`${baseUrl}/cluster/bootstrap`, {
    method: 'POST',
    headers: { ...(apiKey ? { 'api-key': apiKey } : {}), 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json().catch(() => ({}))) as { result?: { cluster_id?: string }; status?: { error?: string; reason?: string } };
  if (res.ok && typeof body.result?.cluster_id === 'string') return { founded: true, clusterId: body.result.cluster_id };
  if (res.status === 409) return { founded: false, reason: body.status?.reason ?? 'CONFLICT', message: body.status?.error ?? 'refused' };
  throw new Error(`POST /cluster/bootstrap: HTTP ${res.status}${body.status?.error ? `: ${body.status.error}` : ''}`);
}

export type AdminResult = { done: true } | { done: false; reason: string; message: string };

async function adminCall(method: string, url: string, apiKey: string | undefined, timeoutMs: number): Promise<AdminResult> {
  const res = await fetch(url, {
    method,
    headers: { ...(apiKey ? { 'api-key': apiKey } : {}), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    ...(method === 'POST' ? { body: '{}' } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json().catch(() => ({}))) as { status?: { error?: string; reason?: string } };
  if (res.ok) return { done: true };
  // 409: the cluster refused (NO_TARGET_NODE, WOULD_LOSE_QUORUM, NODE_HOLDS_REPLICAS, ...): an answer to show, not an error.
  if (res.status === 409) return { done: false, reason: body.status?.reason ?? 'CONFLICT', message: body.status?.error ?? 'refused' };
  throw new Error(`${method} ${new URL(url).pathname}: HTTP ${res.status}${body.status?.error ? `: ${body.status.error}` : ''}`);
}

/** POST /cluster/peer/{id}/drain through any member (it forwards to the meta leader); idempotent. */
export function requestDrain(baseUrl: string, apiKey: string | undefined, nodeId: string, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return adminCall('POST', `${baseUrl}/cluster/peer/${encodeURIComponent(nodeId)}/drain`, apiKey, timeoutMs);
}

/** DELETE /cluster/peer/{id}: refused (409) while the node still holds replicas. */
export function requestRemove(baseUrl: string, apiKey: string | undefined, nodeId: string, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return adminCall('DELETE', `${baseUrl}/cluster/peer/${encodeURIComponent(nodeId)}`, apiKey, timeoutMs);
}
