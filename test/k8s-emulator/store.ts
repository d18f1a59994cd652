// The object store: typed collections with a global resourceVersion counter, a bounded watch
// event history, metadata semantics (uid, generation, finalizers, deletionTimestamp), owner
// reference garbage collection and built-in/custom resource admission.
import { randomBytes, randomUUID } from 'node:crypto';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound } from './errors.js';
import { canonicalJson, clone } from './patch.js';
import { apiVersionOf, builtinResourceTypes, resourceTypeFromCrd, typeKey, type ResourceType } from './resources.js';
import { admitCustomResource, parseQuantity } from './schema.js';
import { checkCrdSchemas } from './crd-check.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  resourceVersion: number;
  typeKey: string;
  type: EventType;
  object: any;
  /** The object before this change (MODIFIED and DELETED), for selector transitions on watches. */
  oldObject?: any;
}

export interface WriteOptions {
  dryRun?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

const metadataMutableFields = ['labels', 'annotations', 'finalizers', 'ownerReferences'];
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Total size of annotations (keys + values), as the apiserver limits it. */
const annotationsBytesMax = 256 * 1024;

/** Label/annotation key: optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
function qualifiedNameError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix))) return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63) return 'name part must be no more than 63 characters and not empty';
  if (!qualifiedNamePart.test(name)) return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

/** metadata.name, labels and annotations checks shared by every kind (like ValidateObjectMeta). */
function metadataCauses(t: ResourceType, meta: any): { field: string; message: string }[] {
  const causes: { field: string; message: string }[] = [];
  const name = meta.name;
  const key = typeKey(t.group, t.plural);
  if (key === '/services' && (name.length > 63 || !dns1035Label.test(name))) {
    causes.push({ field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(name)}: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character, and be at most 63 characters` });
  } else if (key === '/namespaces' && (name.length > 63 || !dns1123Label.test(name))) {
    causes.push({ field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character, and be at most 63 characters` });
  }
  for (const [k, v] of Object.entries<any>(meta.labels ?? {})) {
    const keyError = qualifiedNameError(k);
    if (keyError) causes.push({ field: 'metadata.labels', message: `metadata.labels: Invalid value: ${JSON.stringify(k)}: ${keyError}` });
    if (typeof v !== 'string' || v.length > 63 || !labelValuePattern.test(v)) {
      causes.push({ field: 'metadata.labels', message: `metadata.labels: Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, and be at most 63 characters` });
    }
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries<any>(meta.annotations ?? {})) {
    const keyError = qualifiedNameError(k);
    if (keyError) causes.push({ field: 'metadata.annotations', message: `metadata.annotations: Invalid value: ${JSON.stringify(k)}: ${keyError}` });
    annotationBytes += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  }
  if (annotationBytes > annotationsBytesMax) causes.push({ field: 'metadata.annotations', message: `metadata.annotations: Too long: must have at most ${annotationsBytesMax} bytes` });
  return causes;
}

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function specOf(obj: any, withStatus: boolean): string {
  const { metadata: _m, apiVersion: _a, kind: _k, status, ...rest } = obj;
  return canonicalJson(withStatus ? { ...rest, status } : rest);
}

/** A pod spec with the fields an update may change blanked out (and nodeName binding allowed once). */
function mutablePodSpec(spec: any, oldSpec?: any): any {
  const copy = clone(spec ?? {});
  for (const list of ['containers', 'initContainers']) {
    for (const c of copy[list] ?? []) delete c.image;
  }
  delete copy.activeDeadlineSeconds;
  delete copy.tolerations;
  if (oldSpec && !oldSpec.nodeName) delete copy.nodeName;
  return copy;
}

export class Store {
  private readonly types = new Map<string, ResourceType>();
  private readonly collections = new Map<string, Map<string, any>>();
  private readonly uidIndex = new Map<string, { typeKey: string; key: string }>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private resourceVersion = 1;
  /** resourceVersion of the newest event dropped from history: watches from before it get 410. */
  private compactedThroughRv = 0;
  /** Pods are deleted gracefully (deletionTimestamp first) when a kubelet is attached. */
  gracefulPodDeletion = false;

  constructor(private readonly watchHistoryMax: number) {
    for (const t of builtinResourceTypes()) this.registerType(t);
  }

  get currentResourceVersion(): number {
    return this.resourceVersion;
  }

  registerType(t: ResourceType): void {
    const key = typeKey(t.group, t.plural);
    this.types.set(key, t);
    if (!this.collections.has(key)) this.collections.set(key, new Map());
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  typeByKey(key: string): ResourceType | undefined {
    return this.types.get(key);
  }

  /** Resource type served at group/version/plural, or undefined. */
  findType(group: string, version: string, plural: string): ResourceType | undefined {
    const t = this.types.get(typeKey(group, plural));
    return t && t.versions.includes(version) ? t : undefined;
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after resourceVersion `since` for a type; undefined when history no longer reaches back (410). */
  eventsSince(key: string, since: number): StoreEvent[] | undefined {
    if (since < this.compactedThroughRv) return undefined;
    return this.history.filter((e) => e.resourceVersion > since && e.typeKey === key);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.watchHistoryMax) {
      this.compactedThroughRv = this.history.shift()!.resourceVersion;
    }
    for (const listener of [...this.listeners]) listener(event);
  }

  private nextRv(): number {
    this.resourceVersion += 1;
    return this.resourceVersion;
  }

  /** A copy of the object presented at the requested version (custom resources store one apiVersion). */
  present(t: ResourceType, obj: any, version?: string): any {
    const copy = clone(obj);
    if (version) copy.apiVersion = apiVersionOf(t.group, version);
    return copy;
  }

  getRaw(t: ResourceType, namespace: string | undefined, name: string): any | undefined {
    return this.collections.get(typeKey(t.group, t.plural))!.get(objectKey(t.namespaced ? namespace : undefined, name));
  }

  get(t: ResourceType, namespace: string | undefined, name: string): any {
    const obj = this.getRaw(t, namespace, name);
    if (!obj) throw notFound(t.group, t.plural, name);
    return clone(obj);
  }

  list(t: ResourceType, namespace: string | undefined, labelSelector?: string, fieldSelector?: string): any[] {
    const labels = parseLabelSelector(labelSelector);
    const fields = parseFieldSelector(fieldSelector);
    const items: any[] = [];
    for (const obj of this.collections.get(typeKey(t.group, t.plural))!.values()) {
      if (t.namespaced && namespace && obj.metadata.namespace !== namespace) continue;
      if (!matchesLabels(labels, obj.metadata.labels) || !matchesFields(fields, obj)) continue;
      items.push(clone(obj));
    }
    items.sort((a, b) => objectKey(a.metadata.namespace, a.metadata.name).localeCompare(objectKey(b.metadata.namespace, b.metadata.name)));
    return items;
  }

  getByUid(uid: string): any | undefined {
    const ref = this.uidIndex.get(uid);
    return ref ? this.collections.get(ref.typeKey)!.get(ref.key) : undefined;
  }

  private put(t: ResourceType, obj: any, type: EventType, oldObject?: any): any {
    const key = typeKey(t.group, t.plural);
    obj.metadata.resourceVersion = String(this.nextRv());
    const k = objectKey(obj.metadata.namespace, obj.metadata.name);
    this.collections.get(key)!.set(k, obj);
    this.uidIndex.set(obj.metadata.uid, { typeKey: key, key: k });
    this.emit({ resourceVersion: Number(obj.metadata.resourceVersion), typeKey: key, type, object: clone(obj), oldObject: oldObject ? clone(oldObject) : undefined });
    this.afterWrite(t, obj, oldObject);
    return clone(obj);
  }

  private remove(t: ResourceType, obj: any): any {
    const key = typeKey(t.group, t.plural);
    const k = objectKey(obj.metadata.namespace, obj.metadata.name);
    this.collections.get(key)!.delete(k);
    this.uidIndex.delete(obj.metadata.uid);
    const final = clone(obj);
    final.metadata.resourceVersion = String(this.nextRv());
    this.emit({ resourceVersion: Number(final.metadata.resourceVersion), typeKey: key, type: 'DELETED', object: clone(final), oldObject: clone(obj) });
    if (t.group === 'apiextensions.k8s.io' && t.plural === 'customresourcedefinitions') this.uninstallCrd(obj);
    setImmediate(() => this.collectGarbage(obj.metadata.uid));
    return final;
  }

  private checkNamespace(t: ResourceType, namespace: string | undefined): void {
    if (!t.namespaced) return;
    if (!namespace) throw badRequest('the server could not find the requested resource: a namespace is required');
    const ns = this.collections.get(typeKey('', 'namespaces'))!.get(objectKey(undefined, namespace));
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${t.plural} "${''}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  create(t: ResourceType, namespace: string | undefined, body: any, version: string = t.versions[0], opts: WriteOptions = {}): any {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    const obj = clone(body);
    obj.metadata = { ...(obj.metadata ?? {}) };
    if (t.namespaced) {
      if (obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = namespace ?? obj.metadata.namespace;
    } else {
      delete obj.metadata.namespace;
    }
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = `${obj.metadata.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
    }
    const name = obj.metadata.name;
    if (!name) throw invalid(t.kind, t.group, '', [{ field: 'metadata.name', reason: 'FieldValueRequired', message: 'metadata.name: Required value: name or generateName is required' }]);
    if (typeof name !== 'string' || name.length > 253 || !dnsSubdomain.test(name)) {
      throw invalid(t.kind, t.group, String(name), [{ field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` }]);
    }
    this.checkNamespace(t, obj.metadata.namespace);
    if (this.getRaw(t, obj.metadata.namespace, name)) throw alreadyExists(t.group, t.plural, name);
    obj.apiVersion = apiVersionOf(t.group, t.versions[0]);
    obj.kind = t.kind;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowIso();
    delete obj.metadata.resourceVersion;
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    delete obj.metadata.managedFields;
    if (t.tracksGeneration) obj.metadata.generation = 1;
    else delete obj.metadata.generation;
    if (t.statusSubresource && !(t.group === '' && t.plural === 'namespaces')) delete obj.status;
    let admitted = this.admit(t, version, obj, undefined);
    if (opts.dryRun) return this.present(t, admitted, version);
    admitted = this.put(t, admitted, 'ADDED');
    return this.present(t, admitted, version);
  }

  /**
   * PUT of the main resource (subresource 'status' replaces only status; '' replaces all but
   * status when the type has a status subresource).
   */
  update(t: ResourceType, namespace: string | undefined, name: string, body: any, subresource: '' | 'status', version: string = t.versions[0], opts: WriteOptions = {}): any {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    if (body.metadata?.name && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    const old = this.getRaw(t, namespace, name);
    if (!old) throw notFound(t.group, t.plural, name);
    const requestedRv = body.metadata?.resourceVersion;
    if (requestedRv !== undefined && requestedRv !== '' && String(requestedRv) !== old.metadata.resourceVersion) {
      throw conflict(t.group, t.plural, name);
    }
    if ((requestedRv === undefined || requestedRv === '') && t.requiresResourceVersionOnUpdate && subresource === '') {
      throw invalid(t.kind, t.group, name, [{ field: 'metadata.resourceVersion', message: 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update' }]);
    }
    let next: any;
    if (subresource === 'status') {
      next = clone(old);
      next.status = clone(body.status);
      if (next.status === undefined) delete next.status;
    } else {
      next = clone(body);
      next.apiVersion = old.apiVersion;
      next.kind = old.kind;
      const meta: any = {};
      for (const [k, v] of Object.entries(old.metadata)) if (!metadataMutableFields.includes(k)) meta[k] = v;
      for (const k of metadataMutableFields) if (body.metadata?.[k] !== undefined) meta[k] = clone(body.metadata[k]);
      next.metadata = meta;
      if (t.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      if (old.metadata.deletionTimestamp) {
        const oldFinalizers = new Set<string>(old.metadata.finalizers ?? []);
        const added = (meta.finalizers ?? []).filter((f: string) => !oldFinalizers.has(f));
        if (added.length > 0) {
          throw invalid(t.kind, t.group, name, [{ field: 'metadata.finalizers', reason: 'FieldValueForbidden', message: `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
        }
      }
    }
    let admitted = this.admit(t, version, next, old);
    if (t.tracksGeneration && subresource === '' && specOf(admitted, !t.statusSubresource) !== specOf(old, !t.statusSubresource)) {
      admitted.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    const { resourceVersion: _r1, ...newMeta } = admitted.metadata;
    const { resourceVersion: _r2, ...oldMeta } = old.metadata;
    const unchanged = specOf(admitted, true) === specOf(old, true) && canonicalJson(newMeta) === canonicalJson(oldMeta);
    if (opts.dryRun || unchanged) return this.present(t, unchanged ? old : admitted, version);
    if (admitted.metadata.deletionTimestamp && (admitted.metadata.finalizers ?? []).length === 0 && this.finalizable(t, admitted)) {
      return this.present(t, this.remove(t, admitted), version);
    }
    admitted = this.put(t, admitted, 'MODIFIED', old);
    return this.present(t, admitted, version);
  }

  /** A terminating object without finalizers may go, except a pod still waiting for its processes. */
  private finalizable(t: ResourceType, obj: any): boolean {
    if (t.group === '' && t.plural === 'pods' && this.gracefulPodDeletion) return obj.metadata.deletionGracePeriodSeconds === 0;
    return true;
  }

  delete(t: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}, version: string = t.versions[0]): any {
    const obj = this.getRaw(t, namespace, name);
    if (!obj) throw notFound(t.group, t.plural, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== obj.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
    }
    if (opts.dryRun) return this.present(t, obj, version);
    if (opts.propagationPolicy === 'Orphan') this.orphanDependents(obj.metadata.uid);
    const isPod = t.group === '' && t.plural === 'pods';
    if (t.group === '' && t.plural === 'namespaces') return this.present(t, this.deleteNamespace(obj), version);
    if (isPod && this.gracefulPodDeletion) {
      const grace = opts.gracePeriodSeconds ?? obj.metadata.deletionGracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
      const next = clone(obj);
      next.metadata.deletionTimestamp ??= nowIso();
      const previousGrace = obj.metadata.deletionGracePeriodSeconds;
      next.metadata.deletionGracePeriodSeconds = previousGrace === undefined ? grace : Math.min(previousGrace, grace);
      if (next.metadata.deletionGracePeriodSeconds === 0 && (next.metadata.finalizers ?? []).length === 0) {
        return this.present(t, this.remove(t, obj), version);
      }
      if (canonicalJson(next.metadata) === canonicalJson(obj.metadata)) return this.present(t, obj, version);
      return this.present(t, this.put(t, next, 'MODIFIED', obj), version);
    }
    if (opts.propagationPolicy === 'Foreground' && this.dependentsOf(obj.metadata.uid).length > 0) {
      const finalizers: string[] = obj.metadata.finalizers ?? [];
      const next = clone(obj);
      next.metadata.deletionTimestamp ??= nowIso();
      next.metadata.deletionGracePeriodSeconds ??= 0;
      if (!finalizers.includes('foregroundDeletion')) next.metadata.finalizers = [...finalizers, 'foregroundDeletion'];
      const result = canonicalJson(next.metadata) === canonicalJson(obj.metadata) ? obj : this.put(t, next, 'MODIFIED', obj);
      this.sweepForeground(t, obj.metadata.uid);
      return this.present(t, result, version);
    }
    if ((obj.metadata.finalizers ?? []).length > 0) {
      if (obj.metadata.deletionTimestamp) return this.present(t, obj, version);
      const next = clone(obj);
      next.metadata.deletionTimestamp = nowIso();
      next.metadata.deletionGracePeriodSeconds = 0;
      return this.present(t, this.put(t, next, 'MODIFIED', obj), version);
    }
    return this.present(t, this.remove(t, obj), version);
  }

  /** Namespace deletion: Terminating, then every object in it is deleted, then the namespace. */
  private deleteNamespace(ns: any): any {
    if (ns.metadata.deletionTimestamp) return ns;
    const next = clone(ns);
    next.metadata.deletionTimestamp = nowIso();
    next.status = { ...(next.status ?? {}), phase: 'Terminating' };
    const t = this.types.get(typeKey('', 'namespaces'))!;
    const result = this.put(t, next, 'MODIFIED', ns);
    const name = ns.metadata.name;
    const sweep = (): void => {
      let remaining = 0;
      for (const nt of this.types.values()) {
        if (!nt.namespaced) continue;
        for (const obj of this.list(nt, name)) {
          remaining++;
          try {
            this.delete(nt, name, obj.metadata.name, { propagationPolicy: 'Background' });
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 404)) throw e;
          }
        }
      }
      const current = this.getRaw(t, undefined, name);
      if (!current) return;
      if (remaining === 0) this.remove(t, current);
      else this.later(sweep, 50);
    };
    setImmediate(sweep);
    return result;
  }

  readonly sweepTimers = new Set<NodeJS.Timeout>();

  /** Run fn after delayMs on a timer that stop() can cancel. */
  private later(fn: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.sweepTimers.delete(timer);
      fn();
    }, delayMs);
    this.sweepTimers.add(timer);
  }

  private dependentsOf(ownerUid: string): { t: ResourceType; obj: any }[] {
    const found: { t: ResourceType; obj: any }[] = [];
    for (const [key, collection] of this.collections) {
      const t = this.types.get(key);
      if (!t) continue;
      for (const obj of collection.values()) {
        if ((obj.metadata.ownerReferences ?? []).some((r: any) => r.uid === ownerUid)) found.push({ t, obj });
      }
    }
    return found;
  }

  /**
   * Foreground deletion: the owner keeps the foregroundDeletion finalizer while its dependents are
   * deleted (also in foreground); it goes once none with blockOwnerDeletion is left.
   */
  private sweepForeground(t: ResourceType, ownerUid: string): void {
    const sweep = (): void => {
      const owner = this.getByUid(ownerUid);
      if (!owner) return;
      const dependents = this.dependentsOf(ownerUid);
      for (const { t: dt, obj } of dependents) {
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.delete(dt, obj.metadata.namespace, obj.metadata.name, { propagationPolicy: 'Foreground' });
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
      const blocking = this.dependentsOf(ownerUid).filter(({ obj }) => (obj.metadata.ownerReferences ?? []).some((r: any) => r.uid === ownerUid && r.blockOwnerDeletion === true));
      if (blocking.length > 0) {
        this.later(sweep, 50);
        return;
      }
      const next = clone(owner);
      next.metadata.finalizers = (owner.metadata.finalizers ?? []).filter((f: string) => f !== 'foregroundDeletion');
      this.update(t, owner.metadata.namespace, owner.metadata.name, next, '');
    };
    setImmediate(sweep);
  }

  private orphanDependents(ownerUid: string): void {
    for (const [key, collection] of this.collections) {
      const t = this.types.get(key)!;
      for (const obj of [...collection.values()]) {
        const refs: any[] = obj.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === ownerUid)) continue;
        const next = clone(obj);
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== ownerUid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.put(t, next, 'MODIFIED', obj);
      }
    }
  }

  /**
   * Background garbage collection: dependents whose every owner reference points at an object
   * that no longer exists are deleted (recursively, through delete()).
   */
  collectGarbage(deletedUid: string): void {
    for (const [key, collection] of this.collections) {
      const t = this.types.get(key);
      if (!t) continue;
      for (const obj of [...collection.values()]) {
        const refs: any[] = obj.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === deletedUid)) continue;
        if (refs.some((r) => r.uid !== deletedUid && this.uidIndex.has(r.uid))) continue;
        try {
          this.delete(t, obj.metadata.namespace, obj.metadata.name, { propagationPolicy: 'Background' });
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
    }
  }

  /** Type-specific defaulting and validation (built-ins) and schema admission (custom resources). */
  private admit(t: ResourceType, version: string, obj: any, old: any | undefined): any {
    const metaCauses = metadataCauses(t, obj.metadata);
    if (metaCauses.length > 0) throw invalid(t.kind, t.group, obj.metadata.name, metaCauses);
    if (t.crd) {
      const metadata = obj.metadata;
      const admitted = admitCustomResource(t.crd, version, obj, old);
      admitted.metadata = metadata;
      admitted.apiVersion = apiVersionOf(t.group, t.versions[0]);
      admitted.kind = t.kind;
      return admitted;
    }
    const key = typeKey(t.group, t.plural);
    if ((key === '/secrets' || key === '/configmaps') && old?.immutable === true) {
      if (canonicalJson([old.data ?? null, old.binaryData ?? null]) !== canonicalJson([obj.data ?? null, obj.binaryData ?? null]) || obj.immutable !== true) {
        throw invalid(t.kind, t.group, obj.metadata.name, [{ field: 'data', reason: 'FieldValueForbidden', message: 'data: Forbidden: field is immutable when `immutable` is set' }]);
      }
    }
    switch (key) {
      case '/secrets': {
        if (obj.stringData) {
          obj.data = { ...(obj.data ?? {}) };
          for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v)).toString('base64');
          delete obj.stringData;
        }
        obj.type ??= 'Opaque';
        break;
      }
      case '/namespaces':
        obj.status = { phase: obj.metadata.deletionTimestamp ? 'Terminating' : 'Active', ...(old?.status ?? {}), ...(obj.status ?? {}) };
        obj.spec ??= { finalizers: ['kubernetes'] };
        break;
      case '/services':
        obj.spec ??= {};
        obj.spec.type ??= 'ClusterIP';
        if (!obj.spec.clusterIP) obj.spec.clusterIP = old?.spec?.clusterIP ?? `10.96.${(this.resourceVersion >> 8) & 255}.${this.resourceVersion & 255}`;
        obj.spec.clusterIPs ??= [obj.spec.clusterIP];
        break;
      case '/persistentvolumeclaims':
        if (old && canonicalJson({ ...old.spec, resources: undefined, volumeName: undefined }) !== canonicalJson({ ...obj.spec, resources: undefined, volumeName: undefined })) {
          throw invalid(t.kind, t.group, obj.metadata.name, [{ field: 'spec', reason: 'FieldValueForbidden', message: 'spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims' }]);
        }
        if (old && parseQuantity(obj.spec?.resources?.requests?.storage ?? '0') < parseQuantity(old.spec?.resources?.requests?.storage ?? '0')) {
          throw invalid(t.kind, t.group, obj.metadata.name, [{ field: 'spec.resources.requests.storage', reason: 'FieldValueForbidden', message: 'spec.resources.requests.storage: Forbidden: field can not be less than status.capacity' }]);
        }
        break;
      case 'apps/statefulsets':
        obj.spec ??= {};
        obj.spec.replicas ??= 1;
        obj.spec.podManagementPolicy ??= 'OrderedReady';
        obj.spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
        obj.spec.revisionHistoryLimit ??= 10;
        obj.spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
        if (old) {
          for (const field of ['selector', 'serviceName', 'volumeClaimTemplates', 'podManagementPolicy']) {
            if (canonicalJson(old.spec?.[field]) !== canonicalJson(obj.spec[field])) {
              throw invalid(t.kind, t.group, obj.metadata.name, [{ field: 'spec', reason: 'FieldValueForbidden', message: "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden" }]);
            }
          }
        }
        break;
      case 'apps/deployments':
        obj.spec ??= {};
        obj.spec.replicas ??= 1;
        break;
      case '/pods':
        obj.spec ??= {};
        obj.spec.restartPolicy ??= 'Always';
        obj.spec.terminationGracePeriodSeconds ??= 30;
        if (!old) obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
        else if (canonicalJson(mutablePodSpec(old.spec)) !== canonicalJson(mutablePodSpec(obj.spec, old.spec))) {
          throw invalid(t.kind, t.group, obj.metadata.name, [{ field: 'spec', reason: 'FieldValueForbidden', message: 'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)' }]);
        }
        break;
      case 'apiextensions.k8s.io/customresourcedefinitions':
        this.admitCrd(obj, old);
        break;
      default:
        break;
    }
    return obj;
  }

  private admitCrd(crd: any, old: any | undefined): void {
    const spec = crd.spec;
    const causes: { field: string; message: string }[] = [];
    if (!spec?.group) causes.push({ field: 'spec.group', message: 'spec.group: Required value' });
    if (!spec?.names?.plural) causes.push({ field: 'spec.names.plural', message: 'spec.names.plural: Required value' });
    if (!spec?.names?.kind) causes.push({ field: 'spec.names.kind', message: 'spec.names.kind: Required value' });
    if (!Array.isArray(spec?.versions) || spec.versions.length === 0) causes.push({ field: 'spec.versions', message: 'spec.versions: Invalid value: null: must have exactly one version marked as storage version' });
    if (causes.length === 0 && crd.metadata.name !== `${spec.names.plural}.${spec.group}`) {
      causes.push({ field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group` });
    }
    if (causes.length > 0) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', crd.metadata.name, causes);
    checkCrdSchemas(crd);
    spec.scope ??= 'Namespaced';
    spec.names.singular ??= spec.names.kind.toLowerCase();
    spec.names.listKind ??= `${spec.names.kind}List`;
    const existing = this.types.get(typeKey(spec.group, spec.names.plural));
    if (existing && !existing.crd) {
      throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', crd.metadata.name, [{ field: 'spec.names.plural', message: 'spec.names.plural: Invalid value: conflicts with a built-in resource' }]);
    }
    const now = nowIso();
    crd.status = {
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: old?.status?.conditions?.[0]?.lastTransitionTime ?? now },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: old?.status?.conditions?.[1]?.lastTransitionTime ?? now },
      ],
      acceptedNames: { ...spec.names },
      storedVersions: [spec.versions.find((v: any) => v.storage)?.name ?? spec.versions[0].name],
    };
  }

  private afterWrite(t: ResourceType, obj: any, _old: any | undefined): void {
    if (t.group === 'apiextensions.k8s.io' && t.plural === 'customresourcedefinitions' && !obj.metadata.deletionTimestamp) {
      this.registerType(resourceTypeFromCrd(obj));
    }
  }

  private uninstallCrd(crd: any): void {
    const key = typeKey(crd.spec.group, crd.spec.names.plural);
    const t = this.types.get(key);
    if (!t) return;
    for (const obj of [...this.collections.get(key)!.values()]) this.remove(t, obj);
    this.types.delete(key);
    this.collections.delete(key);
  }
}
