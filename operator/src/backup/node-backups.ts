// The node's /backups API as the operator calls it: on a member pod's REST address with the cluster's
// API key, like the admin calls in reconcile/node-admin.ts. POST /backups answers only once the backup
// is written, so it gets a long timeout; a call that ends without an answer anyway (over http, fetch's own header
// timeout, a dropped connection) is not an outcome: the controller then asks GET /backups/{id}, which
// tells "being written" (409) from "none" (404).
import { nodeRequest } from '../reconcile/node-http.js';
import type { NodeTls } from '../reconcile/node-http.js';

export const BACKUP_CREATE_TIMEOUT_MS = 6 * 3_600_000;
export const BACKUP_READ_TIMEOUT_MS = 10_000;

export interface NodeBackup {
  id: string;
  sizeBytes: number;
  createdAt: string;
}

/** A node's answer that is not 2xx: its HTTP status, coded reason and message. */
export class NodeBackupError extends Error {
  constructor(readonly httpStatus: number, readonly code: string, message: string) {
    super(message);
  }
}

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, apiKey: string | undefined, timeoutMs: number, body?: unknown, signal?: AbortSignal, tls?: NodeTls): Promise<Record<string, unknown>> {
  const res = await nodeRequest(url, {
    method,
    headers: { ...(apiKey ? { 'api-key': apiKey } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    timeoutMs, ...(signal ? { signal } : {}), ...(tls ? { tls } : {}),
  });
  let json: { result?: Record<string, unknown>; status?: { error?: string; code?: string } } = {};
  try { json = JSON.parse(res.text) as typeof json; } catch { /* not JSON: the status says enough */ }
  if (!res.ok) {
    throw new NodeBackupError(res.status, json.status?.code ?? `HTTP_${res.status}`, `${method} ${new URL(url).pathname}: HTTP ${res.status}${json.status?.error ? `: ${json.status.error}` : ''}`);
  }
  return json.result ?? {};
}

function summary(r: Record<string, unknown>): NodeBackup {
  if (typeof r.id !== 'string') throw new Error('the node\'s answer names no backup id');
  return { id: r.id, sizeBytes: typeof r.size_bytes === 'number' ? r.size_bytes : 0, createdAt: typeof r.created_at === 'string' ? r.created_at : '' };
}

/** POST /backups {"name": id}: every collection, into this node's backup directory. Resolves when written. */
export async function createBackup(baseUrl: string, apiKey: string | undefined, id: string, signal?: AbortSignal, timeoutMs = BACKUP_CREATE_TIMEOUT_MS, tls?: NodeTls): Promise<NodeBackup> {
  return summary(await call('POST', `${baseUrl}/backups`, apiKey, timeoutMs, { name: id }, signal, tls));
}

/** GET /backups/{id}: the backup when written; 'writing' while POST /backups is still at it; undefined when the node has none. */
export async function getBackup(baseUrl: string, apiKey: string | undefined, id: string, timeoutMs = BACKUP_READ_TIMEOUT_MS, tls?: NodeTls): Promise<NodeBackup | 'writing' | undefined> {
  try {
    return summary(await call('GET', `${baseUrl}/backups/${encodeURIComponent(id)}`, apiKey, timeoutMs, undefined, undefined, tls));
  } catch (e) {
    if (e instanceof NodeBackupError && e.httpStatus === 404) return undefined;
    if (e instanceof NodeBackupError && e.httpStatus === 409) return 'writing';
    throw e;
  }
}

/** DELETE /backups/{id}: 'deleted', 'absent' (404), or 'busy' (409: a backup, verify or restore runs on the node). */
export async function deleteBackup(baseUrl: string, apiKey: string | undefined, id: string, timeoutMs = BACKUP_READ_TIMEOUT_MS, tls?: NodeTls): Promise<'deleted' | 'absent' | 'busy'> {
  try {
    await call('DELETE', `${baseUrl}/backups/${encodeURIComponent(id)}`, apiKey, timeoutMs, undefined, undefined, tls);
    return 'deleted';
  } catch (e) {
    if (e instanceof NodeBackupError && e.httpStatus === 404) return 'absent';
    if (e instanceof NodeBackupError && e.httpStatus === 409) return 'busy';
    throw e;
  }
}
