// The node's /backups API as the operator calls it: on a member pod's REST address with the cluster's
// API key, like the admin calls in reconcile/node-admin.ts. POST /backups answers only once the backup
// is written, so it gets a long timeout; a call that ends without an answer anyway (fetch's own header
// timeout, a dropped connection) is not an outcome: the controller then asks GET /backups/{id}, which
// tells "being written" (409) from "none" (404).
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

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, apiKey: string | undefined, timeoutMs: number, body?: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, {
    method,
    headers: { ...(apiKey ? { 'api-key': apiKey } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
  });
  const json = (await res.json().catch(() => ({}))) as { result?: Record<string, unknown>; status?: { error?: string; code?: string } };
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
export async function createBackup(baseUrl: string, apiKey: string | undefined, id: string, signal?: AbortSignal, timeoutMs = BACKUP_CREATE_TIMEOUT_MS): Promise<NodeBackup> {
  return summary(await call('POST', `${baseUrl}/backups`, apiKey, timeoutMs, { name: id }, signal));
}

/** GET /backups/{id}: the backup when written; 'writing' while POST /backups is still at it; undefined when the node has none. */
export async function getBackup(baseUrl: string, apiKey: string | undefined, id: string, timeoutMs = BACKUP_READ_TIMEOUT_MS): Promise<NodeBackup | 'writing' | undefined> {
  try {
    return summary(await call('GET', `${baseUrl}/backups/${encodeURIComponent(id)}`, apiKey, timeoutMs));
  } catch (e) {
    if (e instanceof NodeBackupError && e.httpStatus === 404) return undefined;
    if (e instanceof NodeBackupError && e.httpStatus === 409) return 'writing';
    throw e;
  }
}

/** DELETE /backups/{id}: 'deleted', 'absent' (404), or 'busy' (409: a backup, verify or restore runs on the node). */
export async function deleteBackup(baseUrl: string, apiKey: string | undefined, id: string, timeoutMs = BACKUP_READ_TIMEOUT_MS): Promise<'deleted' | 'absent' | 'busy'> {
  try {
    await call('DELETE', `${baseUrl}/backups/${encodeURIComponent(id)}`, apiKey, timeoutMs);
    return 'deleted';
  } catch (e) {
    if (e instanceof NodeBackupError && e.httpStatus === 404) return 'absent';
    if (e instanceof NodeBackupError && e.httpStatus === 409) return 'busy';
    throw e;
  }
}
