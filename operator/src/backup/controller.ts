// The VectorBackup and VectorBackupSchedule controllers (one work queue, keys "backup|ns/name" and
// "schedule|ns/name"); they run only while this replica leads, like the cluster controller.
//
// A VectorBackup: Pending until its cluster has a ready member, then Running: the status records the
// backup id and the pod first (a resourceVersion-guarded write, so two operators cannot both start
// it), then POST /backups {"name": id} goes to that pod. The POST answers when the backup is written;
// it is awaited in the background and the reconcile polls. An operator that restarts (or a new
// leader) finds Running with no call of its own in flight and asks GET /backups/{id} on the recorded
// pod: 200 finished, 409 still being written, 404 lost (the node restarted mid-backup or it failed),
// so a Running backup is resumed, never taken twice. Succeeded or Failed is final.
//
// A VectorBackupSchedule: decideSchedule() (schedule.ts) says whether a run is due; a run creates a
// VectorBackup named after the run's minute with an owner reference to the schedule; retention deletes
// expired VectorBackups, a succeeded one only after DELETE /backups/{id} on its pod removed its data.
import type { Registry } from 'prom-client';
import type { BackupTarget, VectorBackup, VectorBackupSchedule, VectorBackupStatus, VectorCluster } from '../api/types.js';
import { API_VERSION, backupTargetSchema } from '../api/types.js';
import { applyDefaults, defaultSpec } from '../api/validate.js';
import { Informer } from '../kube/informer.js';
import type { InformerOptions } from '../kube/informer.js';
import { isConflict, isNotFound } from '../kube/client.js';
import type { KubeClient, KubeObject } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { BACKUP_ENV_NAMES, CLUSTER_LABEL, DATA_VOLUME, apiKeySecretRef, backupEnv, backupLocation, s3Url } from '../reconcile/children.js';
import { WorkQueue } from '../reconcile/queue.js';
import { backupMetrics } from './metrics.js';
import type { BackupMetrics } from './metrics.js';
import { NodeBackupError, createBackup, deleteBackup, getBackup } from './node-backups.js';
import type { NodeBackup } from './node-backups.js';
import { memberCertificateNames } from '../reconcile/node-http.js';
import type { NodeTls } from '../reconcile/node-http.js';
import { decideSchedule, expiredBackups, lastBackupCondition, parseSchedule, scheduledBackupName } from './schedule.js';
import type { BackupOutcome, ConditionInput, FinishedBackup } from './schedule.js';

export const SCHEDULE_LABEL = 'jadevectordb.io/schedule';

export interface NodeBackupApi {
  create: typeof createBackup;
  get: typeof getBackup;
  delete: typeof deleteBackup;
}

export interface BackupControllerOptions {
  client: KubeClient;
  events: EventRecorder;
  namespace?: string;
  informer?: Partial<Omit<InformerOptions, 'kind' | 'namespace' | 'labelSelector'>>;
  log?: (m: string) => void;
  /** The schedule's clock: due runs and retention ages (tests pass a fast one). Status times are wall-clock. */
  scheduleNowMs?: () => number;
  /** How often a Running backup is looked at. */
  pollMs?: number;
  /** How soon a Pending backup (cluster not ready, another backup running) is looked at again. */
  pendingRetryMs?: number;
  /** The longest a schedule waits before it is looked at again, in real milliseconds. */
  scheduleRequeueMaxMs?: number;
  metrics?: BackupMetrics;
  /** Told when a backup of a cluster changed, so the cluster's LastBackupSucceeded is written soon. */
  onClusterBackupChanged?: (namespace: string, cluster: string) => void;
  nodeApi?: Partial<NodeBackupApi>;
  workers?: number;
}

type Backup = VectorBackup & KubeObject;
type Schedule = VectorBackupSchedule & KubeObject;

interface Task { done: boolean; result?: NodeBackup; error?: unknown; abort: AbortController }

const isFinished = (b: VectorBackup) => b.status?.phase === 'Succeeded' || b.status?.phase === 'Failed';
const wallTime = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The backup's id on the node: its name and a piece of its uid (a re-created VectorBackup of the same name is a new backup). */
export function backupIdFor(backup: VectorBackup): string {
  return `${backup.metadata.name.slice(0, 119)}-${(backup.metadata.uid ?? 'nouid').replace(/-/g, '').slice(0, 8)}`;
}

function ordinalOf(pod: string): number {
  return Number(pod.slice(pod.lastIndexOf('-') + 1));
}
function isPodReady(pod: KubeObject): boolean {
  return ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}
/** How the cluster's pods are reached: https when spec.security.tlsSecret is set, trusting its ca.crt (none: unverified). */
interface PodAccess { port: number; tls: { ca: string | undefined } | undefined }
function podUrl(pod: KubeObject | undefined, access: PodAccess): string | undefined {
  const ip = (pod?.status as { podIP?: string } | undefined)?.podIP;
  if (!pod || !ip || pod.metadata.deletionTimestamp || !isPodReady(pod)) return undefined;
  return `${access.tls ? 'https' : 'http'}://${ip.includes(':') ? `[${ip}]` : ip}:${access.port}`;
}
function podTls(cluster: VectorCluster, pod: KubeObject, access: PodAccess): NodeTls | undefined {
  if (!access.tls) return undefined;
  const ip = String((pod.status as { podIP?: string } | undefined)?.podIP ?? '');
  return { ...(access.tls.ca ? { ca: access.tls.ca } : {}), names: memberCertificateNames(cluster, pod.metadata.name, ip) };
}
/** JSON with sorted keys and without nulls (a merge patch's "delete"): the API server returns keys in its own order. */
function canonical(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (typeof v !== 'object' || v === null) return v;
    return Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== null && (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, norm((v as Record<string, unknown>)[k])]));
  };
  return JSON.stringify(norm(value));
}

/** The backup env a pod's container runs with (plain values only: the credentials are secretKeyRefs). */
function podBackupEnv(pod: KubeObject): Record<string, string> {
  const env = ((pod.spec as { containers?: { env?: { name: string; value?: string }[] }[] } | undefined)?.containers?.[0]?.env ?? []);
  return Object.fromEntries(env.filter((e) => BACKUP_ENV_NAMES.has(e.name) && typeof e.value === 'string').map((e) => [e.name, e.value!]));
}

function describeTarget(t: BackupTarget): string {
  if (t.s3) return `${s3Url(t.s3)}${t.s3.endpoint ? ` at ${t.s3.endpoint}` : ''}`;
  return t.filesystem ? `${t.filesystem.path} on PVC ${t.filesystem.claimName}` : 'none';
}

/** Why a VectorBackup's spec.target cannot be honoured (it differs from its cluster's), or undefined when it can. */
export function targetMismatch(wanted: BackupTarget | undefined, clusterTarget: BackupTarget | undefined, clusterName: string): string | undefined {
  if (!wanted) return undefined;
  // Both defaulted as the apiserver stores them, so a prefix or region left out compares equal to its default.
  const norm = (t: BackupTarget) => {
    const d = applyDefaults(backupTargetSchema, t) as BackupTarget;
    return canonical(d.s3 ? { ...d, s3: { ...d.s3, prefix: (d.s3.prefix ?? '').replace(/\/+$/, '') } } : d);
  };
  if (clusterTarget && norm(wanted) === norm(clusterTarget)) return undefined;
  const theirs = clusterTarget ? `its target is ${describeTarget(clusterTarget)}` : 'it has no spec.backup.target (each pod writes to its own volume)';
  return `spec.target (${describeTarget(wanted)}) differs from VectorCluster ${clusterName}'s spec.backup.target: the pods write backups where the cluster says, and ${theirs}; set spec.backup.target on VectorCluster ${clusterName} to this target, or remove spec.target`;
}

function secretString(secret: KubeObject | undefined, key: string): string | undefined {
  const data = secret?.data as Record<string, string> | undefined;
  return data?.[key] ? Buffer.from(data[key], 'base64').toString('utf8') : (secret?.stringData as Record<string, string> | undefined)?.[key];
}

function ownerSchedule(o: KubeObject): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.kind === 'VectorBackupSchedule' && r.controller)?.name;
}

export class BackupController {
  readonly queue = new WorkQueue({ keysMax: 10_000 });
  readonly backups: Informer<KubeObject>;
  readonly schedules: Informer<KubeObject>;
  private readonly tasks = new Map<string, Task>();
  /** Clusters ("ns/name") a backup is being started on or taken from by this operator: one at a time per cluster. */
  private readonly busyClusters = new Set<string>();
  /** Per schedule uid, the missed run last reported in a MissedSchedule Event (one Event per missed time). */
  private readonly reportedMisses = new Map<string, number>();
  /** Uids of VectorBackups retention deleted: the cache may list one for a moment after, and it must not be expired twice. */
  private readonly expiredUids = new Set<string>();
  private readonly log: (m: string) => void;
  private readonly metrics: BackupMetrics | undefined;
  private readonly node: NodeBackupApi;
  private readonly scheduleNowMs: () => number;
  private workers: Promise<void>[] = [];
  private synced = false;
  private stopped = false;

  constructor(private readonly opts: BackupControllerOptions) {
    this.log = opts.log ?? (() => {});
    this.metrics = opts.metrics;
    this.node = { create: createBackup, get: getBackup, delete: deleteBackup, ...opts.nodeApi };
    this.scheduleNowMs = opts.scheduleNowMs ?? Date.now;
    const inf = { ...opts.informer, namespace: opts.namespace, log: this.log };
    this.backups = new Informer(opts.client, { ...inf, kind: 'VectorBackup' });
    this.schedules = new Informer(opts.client, { ...inf, kind: 'VectorBackupSchedule' });
    this.backups.on((event, o) => {
      const ns = o.metadata.namespace ?? '';
      if (event === 'DELETED' && o.metadata.uid) this.expiredUids.delete(o.metadata.uid);
      this.enqueue(`backup|${ns}/${o.metadata.name}`);
      const schedule = ownerSchedule(o);
      if (schedule) this.enqueue(`schedule|${ns}/${schedule}`);
      const cluster = (o as unknown as VectorBackup).spec?.clusterRef?.name;
      if (cluster && event !== 'RESYNC') opts.onClusterBackupChanged?.(ns, cluster);
    });
    this.schedules.on((_event, o) => this.enqueue(`schedule|${o.metadata.namespace ?? ''}/${o.metadata.name}`));
  }

  static metrics(registry: Registry): BackupMetrics {
    return backupMetrics(registry);
  }

  private enqueue(key: string): void {
    try { this.queue.add(key); } catch (e) { this.log(`dropping ${key}: ${String((e as Error).message)}`); }
  }

  async start(): Promise<void> {
    await Promise.all([this.backups.start(), this.schedules.start()]);
    this.synced = true;
    for (let i = 0; i < (this.opts.workers ?? 2); i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.shutDown();
    // The node goes on writing a backup whose caller went away; the next leader polls it by id.
    for (const t of this.tasks.values()) t.abort.abort();
    await Promise.all([this.backups.stop(), this.schedules.stop()]);
    await Promise.all(this.workers);
  }

  /** LastBackupSucceeded for a cluster from the newest finished VectorBackup; undefined before the first list. */
  lastBackupCondition(namespace: string, cluster: string): ConditionInput | undefined {
    if (!this.synced) return undefined;
    const finished: BackupOutcome[] = [];
    for (const o of this.backups.list()) {
      const b = o as unknown as VectorBackup;
      if (b.metadata.namespace !== namespace || b.spec?.clusterRef?.name !== cluster || !isFinished(b) || !b.status?.completionTime) continue;
      finished.push({ name: b.metadata.name, phase: b.status.phase as 'Succeeded' | 'Failed', completionTime: b.status.completionTime, backupId: b.status.backupId, sizeBytes: b.status.sizeBytes, message: b.status.message });
    }
    return lastBackupCondition(finished);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined || this.stopped) return;
      try {
        const [kind, rest] = key.split('|');
        const [ns, name] = rest.split('/');
        const requeueMs = kind === 'backup' ? await this.reconcileBackup(ns, name) : await this.reconcileSchedule(ns, name);
        this.queue.forget(key);
        if (requeueMs !== undefined && !this.stopped) this.queue.addAfter(key, requeueMs);
      } catch (e) {
        const delay = this.queue.addRateLimited(key);
        this.log(`reconcile ${key} failed (${isConflict(e) ? 'conflict' : String((e as Error).message ?? e)}); retry in ${delay} ms`);
      } finally {
        this.queue.done(key);
      }
    }
  }

  // ---- VectorBackup ----

  async reconcileBackup(ns: string, name: string): Promise<number | undefined> {
    // A finished backup never changes again: the cache is enough (no GET per backup at every resync).
    const cached = this.backups.get(ns, name) as Backup | undefined;
    const backup = cached && isFinished(cached) ? cached : await this.opts.client.getOrUndefined<Backup>('VectorBackup', ns, name);
    if (!backup || backup.metadata.deletionTimestamp) return undefined;
    const status = backup.status ?? {};
    if (status.phase === 'Succeeded') {
      this.metrics?.succeeded({ namespace: ns, cluster: backup.spec.clusterRef.name }, Date.parse(status.completionTime ?? '') / 1000 || 0, status.sizeBytes ?? 0);
      return undefined;
    }
    if (status.phase === 'Failed') return undefined;
    if (status.phase === 'Running') return this.pollRunning(backup);
    return this.startBackup(backup);
  }

  private pollMs(): number { return this.opts.pollMs ?? 2000; }
  private pendingRetryMs(): number { return this.opts.pendingRetryMs ?? 5000; }

  private async writeStatus(backup: Backup, status: VectorBackupStatus, guard = false): Promise<void> {
    const patch: Record<string, unknown> = { status: { ...status, observedGeneration: backup.metadata.generation ?? 0 } };
    if (guard) patch.metadata = { resourceVersion: backup.metadata.resourceVersion };
    await this.opts.client.patch('VectorBackup', backup.metadata.namespace, backup.metadata.name, patch, 'status');
  }

  /** Pending with a reason, written only when it changed (a waiting backup is looked at every few seconds). */
  private async pending(backup: Backup, reason: string, message: string): Promise<number> {
    const s = backup.status;
    if (s?.phase !== 'Pending' || s.reason !== reason || s.message !== message) await this.writeStatus(backup, { phase: 'Pending', reason, message });
    return this.pendingRetryMs();
  }

  private async fail(backup: Backup, reason: string, message: string): Promise<undefined> {
    const completionTime = wallTime();
    await this.writeStatus(backup, { ...backup.status, phase: 'Failed', reason, message, completionTime });
    await this.opts.events.record(backup, 'Warning', 'BackupFailed', message);
    if (backup.status?.startTime) {
      this.metrics?.finished({ namespace: backup.metadata.namespace ?? '', cluster: backup.spec.clusterRef.name }, 'failed', (Date.parse(completionTime) - Date.parse(backup.status.startTime)) / 1000);
    }
    return undefined;
  }

  private async succeed(backup: Backup, result: NodeBackup): Promise<undefined> {
    const completionTime = wallTime();
    const pod = backup.status?.pod ?? '';
    const message = `pod ${pod} wrote backup ${result.id} (${result.sizeBytes} bytes)`;
    await this.writeStatus(backup, { ...backup.status, phase: 'Succeeded', reason: 'BackupSucceeded', message, completionTime, sizeBytes: result.sizeBytes });
    await this.opts.events.record(backup, 'Normal', 'BackupSucceeded', message);
    const labels = { namespace: backup.metadata.namespace ?? '', cluster: backup.spec.clusterRef.name };
    if (backup.status?.startTime) this.metrics?.finished(labels, 'succeeded', (Date.parse(completionTime) - Date.parse(backup.status.startTime)) / 1000);
    this.metrics?.succeeded(labels, Date.parse(completionTime) / 1000, result.sizeBytes);
    return undefined;
  }

  private async clusterContext(ns: string, clusterName: string): Promise<{ cluster: VectorCluster; pods: KubeObject[]; apiKey: string | undefined; port: number; access: PodAccess; tlsFor: (pod: KubeObject) => NodeTls | undefined } | undefined> {
    const { client } = this.opts;
    const cluster = await client.getOrUndefined<KubeObject>('VectorCluster', ns, clusterName) as unknown as VectorCluster | undefined;
    if (!cluster) return undefined;
    const spec = defaultSpec(cluster.spec);
    const ref = apiKeySecretRef(cluster, spec);
    const secret = await client.getOrUndefined<KubeObject>('Secret', ns, ref.name);
    const apiKey = secretString(secret, ref.key);
    const tlsRef = spec.security.tlsSecret;
    const access: PodAccess = { port: spec.node.ports.rest, tls: tlsRef ? { ca: secretString(await client.getOrUndefined<KubeObject>('Secret', ns, tlsRef.name), 'ca.crt') } : undefined };
    const pods = (await client.list('Pod', ns, `${CLUSTER_LABEL}=${clusterName}`)).items.sort((a, b) => ordinalOf(a.metadata.name) - ordinalOf(b.metadata.name));
    return { cluster, pods, apiKey, port: spec.node.ports.rest, access, tlsFor: (pod) => podTls(cluster, pod, access) };
  }

  private async startBackup(backup: Backup): Promise<number | undefined> {
    const ns = backup.metadata.namespace ?? 'default';
    const clusterName = backup.spec.clusterRef.name;
    const clusterKey = `${ns}/${clusterName}`;
    // Claimed before the first await: two workers starting two backups of one cluster would have the node refuse one (409).
    if (this.busyClusters.has(clusterKey)) return this.pending(backup, 'WaitingForBackup', `another backup of VectorCluster ${clusterName} is being started or taken; one backup at a time`);
    this.busyClusters.add(clusterKey);
    let launched = false;
    try {
      const r = await this.startClaimed(backup, ns, clusterName, clusterKey);
      launched = r.launched;
      return r.requeueMs;
    } finally {
      if (!launched) this.busyClusters.delete(clusterKey);
    }
  }

  private async startClaimed(backup: Backup, ns: string, clusterName: string, clusterKey: string): Promise<{ launched: boolean; requeueMs: number | undefined }> {
    const waitWith = async (p: Promise<number | undefined>) => ({ launched: false, requeueMs: await p });
    if ((backup.spec.collections ?? []).length > 0) {
      return waitWith(this.fail(backup, 'CollectionsNotSupported', 'spec.collections is not supported yet: a backup holds every collection of the cluster; remove spec.collections'));
    }
    const ctx = await this.clusterContext(ns, clusterName);
    if (!ctx) return waitWith(this.pending(backup, 'ClusterNotFound', `VectorCluster ${clusterName} not found`));
    const clusterSpec = defaultSpec(ctx.cluster.spec);
    // The pods write where their env says, which is the cluster's target: a backup's own target can only be that one.
    const mismatch = targetMismatch(backup.spec.target, clusterSpec.backup?.target, clusterName);
    if (mismatch) return waitWith(this.fail(backup, 'TargetNotSupported', mismatch));
    if (ctx.cluster.metadata.deletionTimestamp) return waitWith(this.pending(backup, 'ClusterTerminating', `VectorCluster ${clusterName} is being deleted`));
    const running = this.backups.list().find((o) => {
      const b = o as unknown as VectorBackup;
      return o.metadata.namespace === ns && o.metadata.name !== backup.metadata.name && b.spec?.clusterRef?.name === clusterName && b.status?.phase === 'Running';
    });
    if (running) return waitWith(this.pending(backup, 'WaitingForBackup', `VectorBackup ${running.metadata.name} of this cluster is running; one backup at a time`));
    // The lowest-numbered ready pod: backups of a cluster land on one pod's volume while it is up.
    const pod = ctx.pods.find((p) => podUrl(p, ctx.access) !== undefined);
    if (!pod) return waitWith(this.pending(backup, 'ClusterNotReady', `no pod of VectorCluster ${clusterName} is ready`));
    // During a rollout onto a changed spec.backup a pod may still run with the previous target or key.
    const expected = backupEnv(clusterSpec);
    const podEnv = podBackupEnv(pod);
    if (canonical(expected) !== canonical(podEnv)) {
      return waitWith(this.pending(backup, 'WaitingForRollout', `pod ${pod.metadata.name} still runs with the previous spec.backup settings; waiting for it to be restarted onto the current ones`));
    }
    const url = podUrl(pod, ctx.access)!;
    const id = backupIdFor(backup);
    const podName = pod.metadata.name;
    const startTime = wallTime();
    try {
      await this.writeStatus(backup, {
        phase: 'Running', reason: 'BackupRunning', message: `pod ${podName} is writing backup ${id}`, startTime, backupId: id, pod: podName,
        location: backupLocation(clusterSpec, id, podName),
      }, true);
    } catch (e) {
      // Someone else changed it first (another operator, a user): look again from a fresh read.
      if (isConflict(e)) return { launched: false, requeueMs: 0 };
      throw e;
    }
    await this.opts.events.record(backup, 'Normal', 'BackupStarted', `asked pod ${podName} to back up every collection of ${clusterName} as ${id}`);
    const task: Task = { done: false, abort: new AbortController() };
    const uid = backup.metadata.uid ?? backup.metadata.name;
    this.tasks.set(uid, task);
    const key = `backup|${ns}/${backup.metadata.name}`;
    this.node.create(url, ctx.apiKey, id, task.abort.signal, undefined, ctx.tlsFor(pod)).then((r) => { task.result = r; }, (e: unknown) => { task.error = e; }).finally(() => {
      task.done = true;
      this.busyClusters.delete(clusterKey);
      if (!this.stopped) this.enqueue(key);
    });
    return { launched: true, requeueMs: this.pollMs() };
  }

  private async pollRunning(backup: Backup): Promise<number | undefined> {
    const uid = backup.metadata.uid ?? backup.metadata.name;
    const task = this.tasks.get(uid);
    if (task && !task.done) return this.pollMs();
    const id = backup.status?.backupId;
    const podName = backup.status?.pod;
    if (!id || !podName) return this.fail(backup, 'BackupLost', 'status says Running but names no backup id or pod');
    let callError = '';
    if (task) {
      this.tasks.delete(uid);
      if (task.result) return this.succeed(backup, task.result);
      // The node answered and refused or failed: that is the backup's outcome.
      if (task.error instanceof NodeBackupError) return this.fail(backup, 'BackupFailed', task.error.message);
      callError = String((task.error as Error)?.message ?? task.error);
      this.log(`${backup.metadata.namespace}/${backup.metadata.name}: POST /backups to ${podName} got no answer (${callError}); asking the node by id`);
    }
    const ns = backup.metadata.namespace ?? 'default';
    const ctx = await this.clusterContext(ns, backup.spec.clusterRef.name);
    if (!ctx) return this.fail(backup, 'ClusterNotFound', `VectorCluster ${backup.spec.clusterRef.name} is gone; backup ${id} on pod ${podName} cannot be checked`);
    const podObject = ctx.pods.find((p) => p.metadata.name === podName);
    const replicas = defaultSpec(ctx.cluster.spec).replicas;
    if (!podObject && ordinalOf(podName) >= replicas) {
      return this.fail(backup, 'BackupLost', `pod ${podName} is gone (VectorCluster ${backup.spec.clusterRef.name} has ${replicas} replica${replicas === 1 ? '' : 's'}) and backup ${id} cannot be checked${callError ? ` (POST /backups got no answer: ${callError})` : ''}`);
    }
    const url = podUrl(podObject, ctx.access);
    if (!url) return this.pollMs(); // the pod is restarting: its PVC still holds whatever was written
    let answer: NodeBackup | 'writing' | undefined;
    try {
      answer = await this.node.get(url, ctx.apiKey, id, undefined, ctx.tlsFor(podObject!));
    } catch (e) {
      this.log(`${ns}/${backup.metadata.name}: GET /backups/${id} on ${podName}: ${String((e as Error).message ?? e)}`);
      return this.pollMs();
    }
    if (answer === 'writing') return this.pollMs();
    if (answer) return this.succeed(backup, answer);
    return this.fail(backup, 'BackupLost', `pod ${podName} has no backup ${id} and is not writing it: the backup failed or the node restarted while writing it${callError ? ` (POST /backups got no answer: ${callError})` : ''}`);
  }

  // ---- VectorBackupSchedule ----

  async reconcileSchedule(ns: string, name: string): Promise<number | undefined> {
    const { client, events } = this.opts;
    const schedule = await client.getOrUndefined<Schedule>('VectorBackupSchedule', ns, name);
    if (!schedule || schedule.metadata.deletionTimestamp) return undefined;
    const uid = schedule.metadata.uid ?? '';
    const prev = schedule.status ?? {};
    const generation = schedule.metadata.generation ?? 0;
    let cron;
    try {
      cron = parseSchedule(schedule.spec.schedule);
    } catch (e) {
      const message = `spec.schedule ${JSON.stringify(schedule.spec.schedule)}: ${String((e as Error).message)}`;
      await this.writeScheduleStatus(schedule, { ...prev, conditions: [this.condition(prev, 'False', 'InvalidSchedule', message, generation)] });
      return undefined;
    }
    const nowMs = this.scheduleNowMs();
    const owned = this.backups.list().filter((o) => o.metadata.namespace === ns && o.metadata.ownerReferences?.some((r) => r.uid === uid) && !this.expiredUids.has(o.metadata.uid ?? '')) as unknown as Backup[];
    const active = owned.filter((b) => !isFinished(b)).map((b) => b.metadata.name);
    const lastScheduleMs = prev.lastScheduleTime ? Date.parse(prev.lastScheduleTime) : undefined;
    const decision = decideSchedule({
      cron, suspend: schedule.spec.suspend ?? false, startingDeadlineSeconds: schedule.spec.startingDeadlineSeconds,
      createdMs: Date.parse(String(schedule.metadata.creationTimestamp ?? '')) || nowMs, lastScheduleMs, activeBackups: active.length, nowMs,
    });
    let lastScheduleTime = prev.lastScheduleTime;
    if (decision.action === 'run') {
      const backupName = scheduledBackupName(name, decision.scheduledMs);
      const created = await this.createScheduled(schedule, backupName);
      lastScheduleTime = new Date(decision.scheduledMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
      if (!active.includes(backupName)) active.push(backupName);
      if (created) {
        const skipped = decision.missedRunsSkipped > 0 ? `; ${decision.missedRunsSkipped}${decision.missedRunsSkipped >= 100 ? ' or more' : ''} earlier missed run(s) skipped` : '';
        await events.record(schedule, 'Normal', 'BackupScheduled', `created VectorBackup ${backupName} for the run at ${lastScheduleTime}${skipped}`);
      }
    } else if (decision.action === 'wait' && decision.reason === 'pastDeadline' && decision.missedMs !== undefined && this.reportedMisses.get(uid) !== decision.missedMs) {
      this.reportedMisses.set(uid, decision.missedMs);
      await events.record(schedule, 'Warning', 'MissedSchedule', `the run at ${new Date(decision.missedMs).toISOString()} was missed by more than startingDeadlineSeconds (${schedule.spec.startingDeadlineSeconds}) and is skipped`);
    }
    await this.applyRetention(schedule, owned, nowMs);
    const succeeded = owned.filter((b) => b.status?.phase === 'Succeeded' && b.status.completionTime).map((b) => b.status!.completionTime!).sort();
    const suspended = schedule.spec.suspend ?? false;
    const status = {
      ...prev,
      ...(lastScheduleTime ? { lastScheduleTime } : {}),
      ...(succeeded.length > 0 ? { lastSuccessfulTime: succeeded[succeeded.length - 1] } : {}),
      active: active.slice(0, 16),
      nextScheduleTime: suspended || decision.nextMs === null ? null : new Date(decision.nextMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      conditions: [suspended
        ? this.condition(prev, 'False', 'Suspended', 'spec.suspend is true: no backups are created', generation)
        : this.condition(prev, 'True', 'Scheduled', `backups of VectorCluster ${schedule.spec.clusterRef.name} are created on schedule ${schedule.spec.schedule} (UTC)`, generation)],
    };
    await this.writeScheduleStatus(schedule, status);
    if (suspended || decision.nextMs === null) return this.opts.scheduleRequeueMaxMs ?? 300_000;
    return Math.min(Math.max(0, decision.nextMs - this.scheduleNowMs()) + 10, this.opts.scheduleRequeueMaxMs ?? 300_000);
  }

  private condition(prev: NonNullable<VectorBackupSchedule['status']>, status: 'True' | 'False', reason: string, message: string, generation: number) {
    const old = prev.conditions?.find((c) => c.type === 'Ready');
    return { type: 'Ready', status, reason, message, observedGeneration: generation, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : wallTime() };
  }

  private async writeScheduleStatus(schedule: Schedule, status: Record<string, unknown>): Promise<void> {
    const next = { ...status, observedGeneration: schedule.metadata.generation ?? 0 };
    // Only a change is written: every write is a watch event that brings the schedule back here.
    if (canonical(next) === canonical(schedule.status ?? {})) return;
    try {
      await this.opts.client.patchStatus('VectorBackupSchedule', schedule.metadata.namespace, schedule.metadata.name, next);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Creates the run's VectorBackup; false when it exists already (a create retried after a failed status write). */
  private async createScheduled(schedule: Schedule, name: string): Promise<boolean> {
    const backup = {
      apiVersion: API_VERSION, kind: 'VectorBackup',
      metadata: {
        name, namespace: schedule.metadata.namespace,
        labels: { ...(schedule.metadata.name.length <= 63 ? { [SCHEDULE_LABEL]: schedule.metadata.name } : {}), [CLUSTER_LABEL]: schedule.spec.clusterRef.name },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'VectorBackupSchedule', name: schedule.metadata.name, uid: schedule.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: { clusterRef: { name: schedule.spec.clusterRef.name }, ...(schedule.spec.target ? { target: schedule.spec.target } : {}) },
    };
    try {
      await this.opts.client.create(backup as unknown as KubeObject);
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  private async applyRetention(schedule: Schedule, owned: Backup[], nowMs: number): Promise<void> {
    const retention = { count: schedule.spec.retention?.count ?? 7, maxAgeHours: schedule.spec.retention?.maxAgeHours ?? 0 };
    const finished: FinishedBackup[] = owned.filter(isFinished).map((b) => ({
      name: b.metadata.name, phase: b.status!.phase as 'Succeeded' | 'Failed',
      finishedMs: Date.parse(b.status?.completionTime ?? '') || Date.parse(String(b.metadata.creationTimestamp ?? '')) || 0,
    }));
    const expired = expiredBackups(finished, retention, nowMs);
    if (expired.length === 0) return;
    const ns = schedule.metadata.namespace ?? 'default';
    const ctx = await this.clusterContext(ns, schedule.spec.clusterRef.name);
    for (const { name, why } of expired) {
      const backup = owned.find((b) => b.metadata.name === name)!;
      const id = backup.status?.backupId;
      const podName = backup.status?.pod;
      let data = 'it held no backup data';
      if (backup.status?.phase === 'Succeeded' && id && podName) {
        let pod = ctx?.pods.find((p) => p.metadata.name === podName);
        // In the cluster's shared target (S3, a shared PVC) any ready pod reaches the backup, if the target is still the one it was written to.
        const shared = ctx && defaultSpec(ctx.cluster.spec).backup?.target !== undefined && backup.status?.location === backupLocation(defaultSpec(ctx.cluster.spec), id, podName);
        if (shared && (!pod || !podUrl(pod, ctx.access))) pod = ctx.pods.find((p) => podUrl(p, ctx.access) !== undefined) ?? pod;
        if (!ctx || !pod) {
          const where = shared ? `it stays at ${backup.status.location}` : `it stays on PVC ${DATA_VOLUME}-${podName} if that was kept`;
          data = `its data (backup ${id}) could not be deleted: ${!ctx ? `VectorCluster ${schedule.spec.clusterRef.name} is gone` : `pod ${podName} is gone`}; ${where}`;
        } else {
          const asked = pod.metadata.name;
          const url = podUrl(pod, ctx.access);
          if (!url) { this.log(`${ns}/${name}: expired, waiting for pod ${asked} to be ready to delete backup ${id}`); continue; }
          let r: Awaited<ReturnType<NodeBackupApi['delete']>>;
          try {
            r = await this.node.delete(url, ctx.apiKey, id, undefined, ctx.tlsFor(pod));
          } catch (e) {
            this.log(`${ns}/${name}: DELETE /backups/${id} on ${asked}: ${String((e as Error).message ?? e)}; retrying later`);
            continue;
          }
          if (r === 'busy') { this.log(`${ns}/${name}: ${asked} is busy with a backup, verify or restore; deleting ${id} later`); continue; }
          const from = shared ? `${backup.status.location} (through pod ${asked})` : `pod ${asked}`;
          data = r === 'deleted' ? `deleted backup ${id} from ${from}` : `${from} no longer had backup ${id}`;
        }
      }
      await this.opts.client.delete('VectorBackup', ns, name);
      if (backup.metadata.uid) this.expiredUids.add(backup.metadata.uid);
      await this.opts.events.record(schedule, 'Normal', 'BackupExpired', `deleted VectorBackup ${name} (${why}); ${data}`);
    }
  }
}
