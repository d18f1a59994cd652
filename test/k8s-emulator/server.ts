// HTTP front of the emulator: the REST paths @kubernetes/client-node uses (CRUD, patch,
// status/scale subresources, list, watch with bookmarks and 410), discovery, and fault switches.
import http from 'node:http';
import https from 'node:https';
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { evictPod } from './disruption.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { clone, jsonPatch, mergePatch } from './patch.js';
import { apiVersionOf, discoveryGroup, discoveryGroupList, discoveryResourceList, typeKey, type ResourceType } from './resources.js';
import { labelSelectorObjectToString, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelRequirement } from './selectors.js';
import type { DeleteOptions, Store, StoreEvent } from './store.js';

/** Request bodies above this are refused with 413, like the apiserver's 3 MiB limit (with headroom). */
export const requestBodyBytesMax = 8 * 1024 * 1024;
/** A watch whose unsent output grows past this is closed (a slow client), as the apiserver does. */
export const watchBufferBytesMax = 16 * 1024 * 1024;
/** /api/v1/namespaces/{ns}/pods/{name[:port]}/proxy[/path] */
const POD_PROXY_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/proxy(\/.*)?$/;
/** Bound on queued request faults. */
const failRulesMax = 1000;

export interface ParsedPath {
  t: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  watchPrefix: boolean;
}

/** Parse /api/v1/... or /apis/<group>/<version>/... into a resource reference; throws 404. */
export function parseResourcePath(store: Store, pathname: string): ParsedPath {
  const segs = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const t = store.findType(group, version, rest[0] ?? '');
  if (!t || rest.length > 3) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (namespace !== undefined && !t.namespaced) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  return { t, version, namespace, name: rest[1], subresource: rest[2], watchPrefix };
}

interface Watcher {
  t: ResourceType;
  key: string;
  version: string;
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  res: http.ServerResponse;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

interface FailRule {
  remaining: number;
  status: number;
  method?: string;
  path?: RegExp;
}

function getPath(obj: any, path: string): any {
  let v = obj;
  for (const key of path.replace(/^\./, '').split('.')) v = v == null ? undefined : v[key];
  return v;
}

function setPath(obj: any, path: string, value: any): void {
  const keys = path.replace(/^\./, '').split('.');
  let v = obj;
  for (const key of keys.slice(0, -1)) {
    v[key] ??= {};
    v = v[key];
  }
  v[keys[keys.length - 1]] = value;
}

export interface ServerHooks {
  /** Path of a pod container's log file, for GET .../pods/<name>/log. */
  podLogPath(namespace: string, pod: string, container?: string): string;
}

export class ApiServer {
  readonly server: http.Server;
  private readonly watchers = new Set<Watcher>();
  private readonly goneNext: (string | undefined)[] = [];
  private readonly failRules: FailRule[] = [];
  private readonly stalledResources = new Set<string>();
  private stallAll = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly token: string,
    private readonly bookmarkIntervalMs: number,
    private readonly hooks: ServerHooks,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => this.sendError(res, e));
    });
    this.server.keepAliveTimeout = 5000;
    this.unsubscribe = store.subscribe((event) => this.dispatch(event));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    for (const w of [...this.watchers]) this.endWatch(w, true);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- faults ----

  goneNextWatch(resource?: string): void {
    this.goneNext.push(resource);
  }

  dropWatchConnections(resource?: string): void {
    for (const w of [...this.watchers]) if (!resource || w.t.plural === resource) this.endWatch(w, true);
  }

  closeWatches(resource?: string): void {
    for (const w of [...this.watchers]) if (!resource || w.t.plural === resource) this.endWatch(w, false);
  }

  /** Open watches get an ERROR event with a 410 Expired Status (as after an etcd compaction), then close. */
  expireWatches(resource?: string): void {
    const status = new ApiError(410, 'Expired', 'The resourceVersion for the provided watch is too old.').toStatus();
    for (const w of [...this.watchers]) {
      if (resource && w.t.plural !== resource) continue;
      this.writeEvent(w, 'ERROR', status);
      this.endWatch(w, false);
    }
  }

  failNextRequests(n: number, status = 500, match?: { method?: string; path?: RegExp }): void {
    if (this.failRules.length >= failRulesMax) throw new Error(`more than ${failRulesMax} request fault rules queued`);
    this.failRules.push({ remaining: n, status, method: match?.method?.toUpperCase(), path: match?.path });
  }

  stallWatches(resource?: string): void {
    if (resource) this.stalledResources.add(resource);
    else this.stallAll = true;
    for (const w of this.watchers) if (!resource || w.t.plural === resource) w.stalled = true;
  }

  clearFaults(): void {
    this.goneNext.length = 0;
    this.failRules.length = 0;
    this.stalledResources.clear();
    this.stallAll = false;
  }

  /** Number of open watch connections (for tests and diagnostics). */
  get openWatchCount(): number {
    return this.watchers.size;
  }

  // ---- request handling ----

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendError(res: http.ServerResponse, e: unknown): void {
    if (e instanceof ApiError) {
      this.send(res, e.code, e.toStatus());
      return;
    }
    const message = e instanceof Error ? e.stack ?? e.message : String(e);
    console.error(`k8s-emulator: internal error: ${message}`);
    this.send(res, 500, new ApiError(500, 'InternalError', `Internal error occurred: ${e instanceof Error ? e.message : String(e)}`).toStatus());
  }

  private async readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > requestBodyBytesMax) throw new ApiError(413, 'RequestEntityTooLarge', `the request body exceeds ${requestBodyBytesMax} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private takeFailure(method: string, path: string): FailRule | undefined {
    const rule = this.failRules.find((r) => (!r.method || r.method === method) && (!r.path || r.path.test(path)));
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.failRules.splice(this.failRules.indexOf(rule), 1);
    return rule;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    // kubectl (client-go) does not send a bearer token over plain http, so a request without
    // credentials is served as anonymous; a wrong token is refused.
    if (req.headers.authorization !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    }
    const failure = this.takeFailure(method, `${path}${url.search}`);
    if (failure) {
      const reason = failure.status === 500 ? 'InternalError' : failure.status === 503 ? 'ServiceUnavailable' : failure.status === 429 ? 'TooManyRequests' : 'InternalError';
      throw new ApiError(failure.status, reason, `injected fault: ${failure.status}`);
    }
    if (path === '/version') {
      this.send(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-jadevectordb-emulator', gitCommit: '', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'n/a', compiler: 'n/a', platform: `${process.platform}/${process.arch}` });
      return;
    }
    const types = this.store.allTypes();
    if (path === '/api' || path === '/api/') {
      this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '127.0.0.1' }] });
      return;
    }
    if (path === '/apis' || path === '/apis/') {
      this.send(res, 200, discoveryGroupList(types));
      return;
    }
    const segs = path.split('/').filter((s) => s !== '');
    if (segs[0] === 'api' && segs.length === 2) {
      this.send(res, 200, discoveryResourceList(types, '', segs[1]));
      return;
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const group = discoveryGroup(types, segs[1]);
      if (!group) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      this.send(res, 200, group);
      return;
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const list = discoveryResourceList(types, segs[1], segs[2]);
      if (list.resources.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      this.send(res, 200, list);
      return;
    }
    const proxied = POD_PROXY_PATH.exec(path);
    if (proxied) {
      this.proxyToPod(req, res, decodeURIComponent(proxied[1]), decodeURIComponent(proxied[2]), `${proxied[3] ?? '/'}${url.search}`);
      return;
    }
    const p = parseResourcePath(this.store, path);
    const q = url.searchParams;
    const dryRun = q.getAll('dryRun').includes('All');
    const { t, version, namespace, name, subresource } = p;
    if (!name) {
      if (method === 'GET' && (p.watchPrefix || q.get('watch') === 'true' || q.get('watch') === '1')) {
        this.serveWatch(req, res, p, q);
        return;
      }
      if (method === 'GET') {
        this.serveList(res, p, q);
        return;
      }
      if (method === 'POST') {
        const body = this.parseJsonOrYaml(await this.readBody(req), String(req.headers['content-type'] ?? ''));
        this.send(res, 201, this.store.create(t, namespace, body, version, { dryRun }));
        return;
      }
      if (method === 'DELETE') {
        const items = this.store.list(t, namespace, q.get('labelSelector') ?? undefined, q.get('fieldSelector') ?? undefined);
        const opts = this.deleteOptions(await this.readBody(req), q);
        const deleted = items.map((o) => this.store.delete(t, o.metadata.namespace, o.metadata.name, opts, version));
        this.send(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t.group, version), metadata: { resourceVersion: String(this.store.currentResourceVersion) }, items: deleted });
        return;
      }
      throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    if (subresource && !this.subresourceAllowed(t, subresource)) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (subresource === 'log') {
      this.servePodLog(res, namespace!, name, q);
      return;
    }
    if (subresource === 'eviction') {
      if (method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const body = this.parseJsonOrYaml(await this.readBody(req), String(req.headers['content-type'] ?? ''));
      this.send(res, 201, evictPod(this.store, namespace!, name, body));
      return;
    }
    switch (method) {
      case 'GET': {
        const obj = this.store.get(t, namespace, name);
        this.send(res, 200, subresource === 'scale' ? this.toScale(t, obj) : this.store.present(t, obj, version));
        return;
      }
      case 'PUT': {
        const body = this.parseJsonOrYaml(await this.readBody(req), String(req.headers['content-type'] ?? ''));
        if (subresource === 'scale') {
          this.send(res, 200, this.updateScale(t, namespace, name, body, dryRun));
          return;
        }
        this.send(res, 200, this.store.update(t, namespace, name, body, subresource === 'status' ? 'status' : '', version, { dryRun }));
        return;
      }
      case 'PATCH': {
        const text = await this.readBody(req);
        const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
        this.send(res, 200, this.patch(p, text, contentType, dryRun));
        return;
      }
      case 'DELETE': {
        if (subresource) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const opts = this.deleteOptions(await this.readBody(req), q);
        this.send(res, 200, this.store.delete(t, namespace, name, opts, version));
        return;
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  /**
   * pods/{name[:port]}/proxy/{path}: the request streamed to the pod's IP, as the apiserver's pod
   * proxy does (kubectl-jade reaches the nodes' REST API this way). An unreachable pod is a 503.
   */
  private proxyToPod(req: http.IncomingMessage, res: http.ServerResponse, namespace: string, target: string, pathAndQuery: string): void {
    const parts = target.split(':');
    // name, name:port, or scheme:name:port; https as the apiserver does it: TLS without verifying the pod's certificate.
    const [scheme, name, portText] = parts.length === 3 ? [parts[0], parts[1], parts[2]] : ['http', parts[0], parts[1]];
    if (scheme !== 'http' && scheme !== 'https') throw badRequest(`invalid scheme in "${target}"`);
    const pods = this.store.findType('', 'v1', 'pods')!;
    const pod = this.store.get(pods, namespace, name);
    const ip = pod?.status?.podIP as string | undefined;
    const port = portText === undefined ? 80 : Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw badRequest(`invalid port in "${target}"`);
    if (!ip) throw new ApiError(503, 'ServiceUnavailable', `error trying to reach service: pod ${name} has no IP`);
    const headers = { ...req.headers };
    delete headers.authorization;
    delete headers.host;
    const onResponse = (up: http.IncomingMessage) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    };
    const options = { host: ip, port, method: req.method, path: pathAndQuery, headers };
    const upstream = scheme === 'https' ? https.request({ ...options, rejectUnauthorized: false }, onResponse) : http.request(options, onResponse);
    upstream.on('error', (e) => {
      if (res.headersSent) { res.destroy(); return; }
      this.send(res, 503, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `error trying to reach service: ${e.message}`, reason: 'ServiceUnavailable', code: 503 });
    });
    req.pipe(upstream);
  }

  private subresourceAllowed(t: ResourceType, sub: string): boolean {
    if (sub === 'status') return t.statusSubresource;
    if (sub === 'scale') return t.scale !== undefined;
    if (sub === 'log' || sub === 'eviction') return t.group === '' && t.plural === 'pods';
    if (sub === 'finalize') return t.group === '' && t.plural === 'namespaces';
    return false;
  }

  private parseJsonOrYaml(text: string, contentType: string): any {
    if (contentType.includes('protobuf') || contentType.includes('cbor')) {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
    }
    if (text.trim() === '') return undefined;
    try {
      return contentType.includes('yaml') ? parseYaml(text) : JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding request body: ${(e as Error).message}`);
    }
  }

  private deleteOptions(bodyText: string, q: URLSearchParams): DeleteOptions {
    const body = bodyText.trim() ? this.parseJsonOrYaml(bodyText, 'application/json') ?? {} : {};
    const grace = body.gracePeriodSeconds ?? (q.get('gracePeriodSeconds') !== null ? Number(q.get('gracePeriodSeconds')) : undefined);
    return {
      propagationPolicy: body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined,
      gracePeriodSeconds: grace,
      preconditions: body.preconditions,
      dryRun: (body.dryRun ?? q.getAll('dryRun')).includes('All'),
    };
  }

  private patch(p: ParsedPath, text: string, contentType: string, dryRun: boolean): any {
    const { t, version, namespace, name, subresource } = p;
    const patchBody = this.parseJsonOrYaml(text, contentType);
    const existing = this.store.getRaw(t, namespace, name!);
    if (!existing) {
      if (contentType === 'application/apply-patch+yaml' && !subresource) {
        return this.store.create(t, namespace, { ...patchBody, metadata: { ...(patchBody?.metadata ?? {}), name } }, version, { dryRun });
      }
      throw notFound(t.group, t.plural, name!);
    }
    const current = subresource === 'scale' ? this.toScale(t, existing) : this.store.present(t, existing, version);
    let patched: any;
    switch (contentType) {
      case 'application/json-patch+json':
        patched = jsonPatch(current, patchBody);
        break;
      case 'application/merge-patch+json':
      case 'application/strategic-merge-patch+json':
      case 'application/apply-patch+yaml':
        if (typeof patchBody !== 'object' || patchBody === null || Array.isArray(patchBody)) throw badRequest('a merge patch must be a JSON object');
        patched = mergePatch(current, patchBody);
        break;
      default:
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    }
    if (subresource === 'scale') return this.updateScale(t, namespace, name!, patched, dryRun);
    patched.metadata ??= {};
    patched.metadata.resourceVersion ??= existing.metadata.resourceVersion;
    return this.store.update(t, namespace, name!, patched, subresource === 'status' ? 'status' : '', version, { dryRun });
  }

  toScale(t: ResourceType, obj: any): any {
    const scale = t.scale!;
    let selector: string | undefined;
    if (t.crd) selector = scale.labelSelectorPath ? getPath(obj, scale.labelSelectorPath) : undefined;
    else selector = labelSelectorObjectToString(obj.spec?.selector);
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion, creationTimestamp: obj.metadata.creationTimestamp },
      spec: { replicas: getPath(obj, scale.specReplicasPath) ?? 0 },
      status: { replicas: getPath(obj, scale.statusReplicasPath) ?? 0, ...(selector !== undefined ? { selector } : {}) },
    };
  }

  private updateScale(t: ResourceType, namespace: string | undefined, name: string, scale: any, dryRun: boolean): any {
    const obj = this.store.get(t, namespace, name);
    const replicas = scale?.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
    }
    if (scale.metadata?.resourceVersion) obj.metadata.resourceVersion = scale.metadata.resourceVersion;
    setPath(obj, t.scale!.specReplicasPath, replicas);
    const updated = this.store.update(t, namespace, name, obj, '', t.versions[0], { dryRun });
    return this.toScale(t, updated);
  }

  private servePodLog(res: http.ServerResponse, namespace: string, name: string, q: URLSearchParams): void {
    const pod = this.store.get(this.store.findType('', 'v1', 'pods')!, namespace, name);
    const container = q.get('container') ?? pod.spec?.containers?.[0]?.name;
    const file = this.hooks.podLogPath(namespace, name, container ?? undefined);
    let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const tail = q.get('tailLines');
    if (tail !== null) text = text.split('\n').slice(-(Number(tail) + 1)).join('\n');
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(text);
  }

  private serveList(res: http.ServerResponse, p: ParsedPath, q: URLSearchParams): void {
    const { t, version, namespace } = p;
    let items = this.store.list(t, namespace, q.get('labelSelector') ?? undefined, q.get('fieldSelector') ?? undefined);
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.currentResourceVersion) };
    const limit = Number(q.get('limit') ?? 0);
    const start = q.get('continue') ? Number(Buffer.from(q.get('continue')!, 'base64').toString('utf8')) : 0;
    if (Number.isNaN(start)) throw badRequest('invalid continue token');
    if (limit > 0 || start > 0) {
      const end = limit > 0 ? start + limit : items.length;
      if (end < items.length) {
        metadata.continue = Buffer.from(String(end)).toString('base64');
        metadata.remainingItemCount = items.length - end;
      }
      items = items.slice(start, end);
    }
    this.send(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t.group, version), metadata, items: items.map((o) => this.store.present(t, o, version)) });
  }

  // ---- watch ----

  private writeEvent(w: Watcher, type: string, object: any): void {
    if (w.res.destroyed || w.res.writableEnded) return;
    w.res.write(`${JSON.stringify({ type, object })}\n`);
    if (w.res.writableLength > watchBufferBytesMax) this.endWatch(w, true);
  }

  private endWatch(w: Watcher, abrupt: boolean): void {
    for (const timer of w.timers) clearTimeout(timer);
    w.timers.length = 0;
    this.watchers.delete(w);
    if (abrupt) w.res.socket?.destroy();
    else if (!w.res.writableEnded) w.res.end();
  }

  private serveWatch(req: http.IncomingMessage, res: http.ServerResponse, p: ParsedPath, q: URLSearchParams): void {
    const { t, version, namespace } = p;
    const w: Watcher = {
      t, key: typeKey(t.group, t.plural), version, namespace,
      labels: parseLabelSelector(q.get('labelSelector')),
      fields: parseFieldSelector(q.get('fieldSelector')),
      res,
      stalled: this.stallAll || this.stalledResources.has(t.plural),
      timers: [],
    };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const goneIndex = this.goneNext.findIndex((r) => r === undefined || r === t.plural);
    const rvText = q.get('resourceVersion') ?? '';
    const since = rvText === '' || rvText === '0' ? undefined : Number(rvText);
    const history = since === undefined ? [] : this.store.eventsSince(w.key, since);
    if (goneIndex >= 0 || history === undefined || Number.isNaN(since)) {
      if (goneIndex >= 0) this.goneNext.splice(goneIndex, 1);
      const status = new ApiError(410, 'Expired', `too old resource version: ${rvText} (${this.store.currentResourceVersion})`).toStatus();
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    this.watchers.add(w);
    req.on('close', () => this.endWatch(w, false));
    res.on('close', () => this.endWatch(w, false));
    const sendInitial = since === undefined || q.get('sendInitialEvents') === 'true';
    if (!w.stalled) {
      if (sendInitial) {
        for (const obj of this.store.list(t, namespace)) {
          if (this.matches(w, obj)) this.writeEvent(w, 'ADDED', this.store.present(t, obj, version));
        }
        if (q.get('sendInitialEvents') === 'true') {
          this.writeEvent(w, 'BOOKMARK', this.bookmark(w, { 'k8s.io/initial-events-end': 'true' }));
        }
      } else {
        for (const e of history) this.deliver(w, e);
      }
    }
    if (q.get('allowWatchBookmarks') === 'true') {
      const tick = (): void => {
        if (!this.watchers.has(w)) return;
        if (!w.stalled) this.writeEvent(w, 'BOOKMARK', this.bookmark(w));
        w.timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
      };
      w.timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) w.timers.push(setTimeout(() => this.endWatch(w, false), timeoutSeconds * 1000));
  }

  private bookmark(w: Watcher, annotations?: Record<string, string>): any {
    return {
      kind: w.t.kind,
      apiVersion: apiVersionOf(w.t.group, w.version),
      metadata: { resourceVersion: String(this.store.currentResourceVersion), ...(annotations ? { annotations } : {}) },
    };
  }

  private matches(w: Watcher, obj: any): boolean {
    if (w.namespace && obj.metadata.namespace !== w.namespace) return false;
    return matchesLabels(w.labels, obj.metadata.labels) && matchesFields(w.fields, obj);
  }

  private deliver(w: Watcher, e: StoreEvent): void {
    if (e.typeKey !== w.key) return;
    const nowMatches = this.matches(w, e.object);
    const wasMatching = e.oldObject ? this.matches(w, e.oldObject) : false;
    const obj = (): any => {
      const o = clone(e.object);
      o.apiVersion = apiVersionOf(w.t.group, w.version);
      return o;
    };
    if (e.type === 'ADDED') {
      if (nowMatches) this.writeEvent(w, 'ADDED', obj());
    } else if (e.type === 'MODIFIED') {
      if (nowMatches && wasMatching) this.writeEvent(w, 'MODIFIED', obj());
      else if (nowMatches) this.writeEvent(w, 'ADDED', obj());
      else if (wasMatching) this.writeEvent(w, 'DELETED', obj());
    } else if (nowMatches || wasMatching) {
      this.writeEvent(w, 'DELETED', obj());
    }
  }

  private dispatch(e: StoreEvent): void {
    for (const w of this.watchers) {
      if (w.stalled) continue;
      this.deliver(w, e);
    }
  }
}
