// The operator's Kubernetes client: KubeConfig from @kubernetes/client-node for the server address and
// authentication (certificates, tokens, exec plugins), plain REST paths for CRUD so every kind we touch,
// including our CRDs and the status subresource, goes through one small, testable code path.
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { JadeError } from '../../../node/src/util/errors.js';
import type { ErrorCode } from '../../../node/src/util/errors.js';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number;
    deletionTimestamp?: string; labels?: Record<string, string>; annotations?: Record<string, string>;
    finalizers?: string[]; ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

interface ResourceInfo { group: string; version: string; plural: string; namespaced: boolean }

/** Every kind the operator reads or writes; anything else is a bug, not input. */
export const RESOURCES: Record<string, ResourceInfo> = {
  VectorCluster: { group: 'jadevectordb.io', version: 'v1alpha1', plural: 'vectorclusters', namespaced: true },
  VectorBackup: { group: 'jadevectordb.io', version: 'v1alpha1', plural: 'vectorbackups', namespaced: true },
  VectorBackupSchedule: { group: 'jadevectordb.io', version: 'v1alpha1', plural: 'vectorbackupschedules', namespaced: true },
  StatefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true },
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  Secret: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  PersistentVolumeClaim: { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true },
  Event: { group: '', version: 'v1', plural: 'events', namespaced: true },
  PodDisruptionBudget: { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true },
  NetworkPolicy: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespaced: true },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  CustomResourceDefinition: { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false },
};

export const REQUEST_TIMEOUT_MS = 30_000;
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export function resourceInfo(kind: string): ResourceInfo {
  const info = RESOURCES[kind];
  if (!info) throw new Error(`assertion failed: unknown kind ${kind}`);
  return info;
}

export function resourcePath(kind: string, namespace?: string, name?: string, subresource?: string): string {
  const r = resourceInfo(kind);
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

function codeFor(status: number): ErrorCode {
  if (status === 404) return 'JADE_ERR_NOT_FOUND';
  if (status === 409) return 'JADE_ERR_CONFLICT';
  if (status === 400 || status === 422) return 'JADE_ERR_BAD_REQUEST';
  if (status === 401) return 'JADE_ERR_UNAUTHENTICATED';
  if (status === 403) return 'JADE_ERR_FORBIDDEN';
  if (status === 429) return 'JADE_ERR_QUEUE_FULL';
  if (status === 504) return 'JADE_ERR_DEADLINE';
  return 'JADE_ERR_UNAVAILABLE';
}

/** HTTP status of a Kubernetes API error (0 when it is not one). */
export function statusCodeOf(err: unknown): number {
  if (err instanceof JadeError) return Number(err.details?.statusCode ?? 0);
  const e = err as { statusCode?: number; code?: number } | undefined;
  return Number(e?.statusCode ?? (typeof e?.code === 'number' ? e.code : 0));
}
export const isNotFound = (err: unknown) => statusCodeOf(err) === 404;
export const isConflict = (err: unknown) => statusCodeOf(err) === 409;

export interface ListResult<T> { items: T[]; resourceVersion: string }

export class KubeClient {
  readonly config: KubeConfig;
  readonly server: URL;

  constructor(config: KubeConfig) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new JadeError('JADE_ERR_BAD_REQUEST', 'kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  static fromFile(kubeconfigPath: string): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return new KubeClient(kc);
  }
  static fromDefault(): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return new KubeClient(kc);
  }

  /** One API call; JSON in, JSON out; non-2xx → JadeError with details.statusCode and the Status reason. */
  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    const options: https.RequestOptions = { method, headers: { Accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS };
    await this.config.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) Object.assign(options.headers as Record<string, string>, { 'Content-Type': contentType, 'Content-Length': String(payload.length) });
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > RESPONSE_BYTES_MAX) { req.destroy(new Error(`response larger than ${RESPONSE_BYTES_MAX} bytes`)); return; }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) { resolve(parsed as T); return; }
          const message = parsed?.message ?? (text.slice(0, 500) || `HTTP ${status}`);
          reject(new JadeError(codeFor(status), `${method} ${path}: ${message}`, { statusCode: status, reason: parsed?.reason, status: parsed }));
        });
      });
      req.on('timeout', () => req.destroy(new JadeError('JADE_ERR_DEADLINE', `${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`, { statusCode: 0 })));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  get<T extends KubeObject>(kind: string, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(kind, namespace, name));
  }
  async getOrUndefined<T extends KubeObject>(kind: string, namespace: string | undefined, name: string): Promise<T | undefined> {
    try { return await this.get<T>(kind, namespace, name); } catch (e) { if (isNotFound(e)) return undefined; throw e; }
  }
  async list<T extends KubeObject>(kind: string, namespace?: string, labelSelector?: string): Promise<ListResult<T>> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const out = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string } }>('GET', resourcePath(kind, namespace) + q);
    const items = (out.items ?? []).map((i) => ({ ...i, kind: i.kind ?? kind, apiVersion: i.apiVersion ?? apiVersionOf(kind) }));
    return { items, resourceVersion: out.metadata?.resourceVersion ?? '' };
  }
  create<T extends KubeObject>(object: T): Promise<T> {
    return this.request<T>('POST', resourcePath(object.kind, object.metadata.namespace), object);
  }
  replace<T extends KubeObject>(object: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(object.kind, object.metadata.namespace, object.metadata.name), object);
  }
  /** JSON merge patch (RFC 7386): arrays are replaced, null deletes a key. */
  patch<T extends KubeObject>(kind: string, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    return this.request<T>('PATCH', resourcePath(kind, namespace, name, subresource), patch, 'application/merge-patch+json');
  }
  patchStatus<T extends KubeObject>(kind: string, namespace: string | undefined, name: string, status: unknown): Promise<T> {
    return this.patch<T>(kind, namespace, name, { status }, 'status');
  }
  async delete(kind: string, namespace: string | undefined, name: string, propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<void> {
    try {
      await this.request('DELETE', resourcePath(kind, namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

export function apiVersionOf(kind: string): string {
  const r = resourceInfo(kind);
  return r.group ? `${r.group}/${r.version}` : r.version;
}
