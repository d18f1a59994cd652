// Admin calls the operator makes on a member's REST API (api-key header), beside its status polling.
// A 409 (the cluster refused: ALREADY_MEMBER, NO_TARGET_NODE, WOULD_LOSE_QUORUM, ...) is an answer to
// show, not an error; anything else that is not 2xx throws.
import { nodeRequest, type NodeTls } from './node-http.js';

export const NODE_ADMIN_TIMEOUT_MS = 10_000;

export type BootstrapResult = { founded: true; clusterId: string } | { founded: false; reason: string; message: string };
export type AdminResult = { done: true } | { done: false; reason: string; message: string };

type Answer = { ok: true; body: { result?: Record<string, unknown> } } | { ok: false; reason: string; message: string };

async function adminCall(method: 'POST' | 'DELETE', url: string, apiKey: string | undefined, timeoutMs: number, tls: NodeTls | undefined, notFoundIsAnswer = false, body = '{}'): Promise<Answer> {
  const res = await nodeRequest(url, {
    method,
    headers: { ...(apiKey ? { 'api-key': apiKey } : {}), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    ...(method === 'POST' ? { body } : {}),
    timeoutMs,
    tls,
  });
  const answer = (() => {
    try {
      return JSON.parse(res.text) as unknown;
    } catch {
      return {};
    }
  })() as { result?: Record<string, unknown>; status?: { error?: string; reason?: string } };
  if (res.ok) return { ok: true, body: answer };
  if (res.status === 409) return { ok: false, reason: answer.status?.reason ?? 'CONFLICT', message: answer.status?.error ?? 'refused' };
  if (res.status === 404 && notFoundIsAnswer) return { ok: false, reason: answer.status?.reason ?? 'NOT_FOUND', message: answer.status?.error ?? 'not found' };
  throw new Error(`${method} ${new URL(url).pathname}: HTTP ${res.status}${answer.status?.error ? `: ${answer.status.error}` : ''}`);
}

/** POST /cluster/bootstrap: founds the cluster with this node. */
export async function requestBootstrap(baseUrl: string, apiKey: string | undefined, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<BootstrapResult> {
  const a = await adminCall('POST', `${baseUrl}/cluster/bootstrap`, apiKey, timeoutMs, tls);
  if (!a.ok) return { founded: false, reason: a.reason, message: a.message };
  const clusterId = a.body.result?.cluster_id;
  if (typeof clusterId !== 'string') throw new Error('POST /cluster/bootstrap: the answer names no cluster_id');
  return { founded: true, clusterId };
}

async function done(a: Promise<Answer>): Promise<AdminResult> {
  const r = await a;
  return r.ok ? { done: true } : { done: false, reason: r.reason, message: r.message };
}

/** POST /cluster/peer/{id}/drain through any member (it forwards to the meta leader); idempotent. */
export function requestDrain(baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return done(adminCall('POST', `${baseUrl}/cluster/peer/${encodeURIComponent(nodeId)}/drain`, apiKey, timeoutMs, tls));
}

/** DELETE /cluster/peer/{id}: refused (409) while the node still holds replicas. */
export function requestRemove(baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return done(adminCall('DELETE', `${baseUrl}/cluster/peer/${encodeURIComponent(nodeId)}`, apiKey, timeoutMs, tls));
}

/**
 * POST /cluster/peer/{id}/dead through any member (it acts on the meta leader); idempotent. Refused with
 * 409 NODE_ALIVE while the meta leader still hears the node, 404 when the cluster has no such member.
 */
export function requestDeclareDead(baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return done(adminCall('POST', `${baseUrl}/cluster/peer/${encodeURIComponent(nodeId)}/dead`, apiKey, timeoutMs, tls, true));
}

/** POST /cluster/fence on the pod's own node: it stops serving (keeping its data) until unfenced; idempotent. */
export function requestFence(baseUrl: string, apiKey: string | undefined, reason: string, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return done(adminCall('POST', `${baseUrl}/cluster/fence`, apiKey, timeoutMs, tls, false, JSON.stringify({ reason })));
}

/** DELETE /cluster/fence on the pod's own node: it starts serving again; idempotent. */
export function requestUnfence(baseUrl: string, apiKey: string | undefined, tls?: NodeTls, timeoutMs = NODE_ADMIN_TIMEOUT_MS): Promise<AdminResult> {
  return done(adminCall('DELETE', `${baseUrl}/cluster/fence`, apiKey, timeoutMs, tls));
}
