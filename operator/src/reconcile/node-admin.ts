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
