// The emulator's kubelet: runs each pod's containers as real local processes on their own
// 127.0.0.x pod IP, resolves env and volumes (a PVC is a directory under dataRoot), runs HTTP(S)/TCP
// probes, restarts exited containers with backoff, terminates with SIGTERM → SIGKILL on deletion,
// reports pod status, and provisions PVC directories (Bound at once).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { clusterDnsRecords } from './dns.js';
import type { ContainerCommand } from './index.js';
import { canonicalJson } from './patch.js';
import { ApiError } from './errors.js';
import type { ResourceType } from './resources.js';
import type { Store, StoreEvent } from './store.js';

export interface KubeletOptions {
  dataRoot: string;
  repoRoot: string;
  imageCommands: Record<string, (container: any) => ContainerCommand>;
  podIpBase: number;
  /** Size of the pod IP pool podIpBase..podIpBase+podIpCount-1 (capped at .254). */
  podIpCount: number;
  terminationGraceCapMs: number;
  probePeriodCapMs: number;
  restartBackoffBaseMs: number;
  restartBackoffMaxMs: number;
  /** JSON file of cluster DNS records that dns-shim.mjs reads in pod processes. */
  dnsFile: string;
}

/** Highest last octet of a pod IP (127.0.0.254). */
const podIpLastOctetMax = 254;
/** A container that ran this long without exiting gets its restart backoff reset. */
const backoffResetAfterMs = 10_000;
/** How often a pod that cannot start yet (missing PVC, ConfigMap, Secret, image) is retried. */
const startRetryIntervalMs = 100;
/** Upper bound on waiting for processes to exit during stop(). */
const stopWaitMs = 5000;

/** Every live child process group, so that an exiting test runner does not leak them. */
const liveProcessGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const pid of liveProcessGroups) signalGroup(pid, 'SIGKILL');
  };
  process.on('exit', killAll);
  // A runner stopped by a signal does not emit 'exit': kill the pods, then die of the same signal.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

class ContainerError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

interface ContainerRuntime {
  spec: any;
  /** init: runs to completion before the main containers; sidecar: an init container with restartPolicy Always. */
  kind: 'init' | 'sidecar' | 'main';
  /** An init container that exited 0. */
  succeeded: boolean;
  /** A restart is pending until this time (backoff). */
  restartAtMs: number;
  proc?: ChildProcess;
  exited?: Promise<void>;
  restartCount: number;
  consecutiveFailures: number;
  state: any;
  lastState: any;
  ready: boolean;
  started: boolean;
  startedAtMs: number;
  startupDone: boolean;
  readinessSuccesses: number;
  readinessFailures: number;
  livenessFailures: number;
  timers: NodeJS.Timeout[];
}

interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  startTime: string;
  containers: Map<string, ContainerRuntime>;
  terminating: boolean;
  /** All init containers succeeded and sidecars started (sticky). */
  initialized: boolean;
  gone: boolean;
  startTimer?: NodeJS.Timeout;
  statusScheduled: boolean;
  conditionTimes: Map<string, { status: string; time: string }>;
  pvcDirs: string[];
}

export class Kubelet {
  private readonly pods = new Map<string, PodRuntime>();
  private readonly usedIps = new Set<number>();
  private nextIpOffset = 0;
  private unsubscribe?: () => void;
  private readonly podType: ResourceType;
  private readonly pvcType: ResourceType;
  private readonly pendingPvcRemovals = new Set<string>();
  private stopped = false;
  private dnsWriteScheduled = false;

  constructor(private readonly store: Store, private readonly opts: KubeletOptions) {
    this.podType = store.findType('', 'v1', 'pods')!;
    this.pvcType = store.findType('', 'v1', 'persistentvolumeclaims')!;
  }

  start(): void {
    installExitHook();
    this.store.gracefulPodDeletion = true;
    this.unsubscribe = this.store.subscribe((e) => setImmediate(() => this.onEvent(e)));
    this.writeDns();
    for (const pod of this.store.list(this.podType, undefined)) this.ensurePod(pod);
  }

  pvcDir(namespace: string, claimName: string): string {
    return path.join(this.opts.dataRoot, 'pvc', namespace, claimName);
  }

  private podDir(namespace: string, name: string): string {
    return path.join(this.opts.dataRoot, 'pods', namespace, name);
  }

  logPath(namespace: string, pod: string, container?: string): string {
    return path.join(this.podDir(namespace, pod), `${container ?? 'main'}.log`);
  }

  killPod(namespace: string, name: string, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): void {
    const pod = [...this.pods.values()].find((p) => p.namespace === namespace && p.name === name && !p.gone);
    if (!pod) throw new Error(`no running pod ${namespace}/${name}`);
    for (const c of pod.containers.values()) if (c.proc?.pid) signalGroup(c.proc.pid, signal);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    const exits: Promise<void>[] = [];
    for (const pod of this.pods.values()) {
      pod.terminating = true;
      if (pod.startTimer) clearTimeout(pod.startTimer);
      for (const c of pod.containers.values()) {
        for (const t of c.timers) clearTimeout(t);
        if (c.proc?.pid && c.exited) {
          signalGroup(c.proc.pid, 'SIGKILL');
          exits.push(c.exited);
        }
      }
    }
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, stopWaitMs))]);
  }

  /** Rewrite the cluster DNS file (atomically: pod processes read it on every lookup). */
  private writeDns(): void {
    const tmp = `${this.opts.dnsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(clusterDnsRecords(this.store)));
    renameSync(tmp, this.opts.dnsFile);
  }

  private scheduleDnsWrite(): void {
    if (this.dnsWriteScheduled) return;
    this.dnsWriteScheduled = true;
    setImmediate(() => {
      this.dnsWriteScheduled = false;
      if (!this.stopped) this.writeDns();
    });
  }

  private onEvent(e: StoreEvent): void {
    if (this.stopped) return;
    if (e.typeKey === '/pods' || e.typeKey === '/services') this.scheduleDnsWrite();
    if (e.typeKey === '/pods') {
      if (e.type === 'DELETED') {
        const pod = this.pods.get(e.object.metadata.uid);
        if (pod) this.forceStop(pod);
      } else {
        this.ensurePod(e.object);
      }
    } else if (e.typeKey === '/persistentvolumeclaims') {
      this.onPvcEvent(e);
    }
  }

  private onPvcEvent(e: StoreEvent): void {
    const pvc = e.object;
    const dir = this.pvcDir(pvc.metadata.namespace, pvc.metadata.name);
    if (e.type === 'DELETED') {
      if (this.pvcInUse(dir)) this.pendingPvcRemovals.add(dir);
      else rmSync(dir, { recursive: true, force: true });
      return;
    }
    if (e.type === 'ADDED') {
      this.pendingPvcRemovals.delete(dir);
      mkdirSync(dir, { recursive: true });
    }
    const current = this.store.getRaw(this.pvcType, pvc.metadata.namespace, pvc.metadata.name);
    if (!current || current.metadata.deletionTimestamp) return;
    // Bound at once; a raised storage request is "expanded" at once too (no StorageClass check).
    const status = {
      phase: 'Bound',
      accessModes: current.spec?.accessModes ?? ['ReadWriteOnce'],
      capacity: { storage: current.spec?.resources?.requests?.storage ?? '1Gi' },
    };
    if (canonicalJson(status) === canonicalJson(current.status)) return;
    const next = structuredClone(current);
    next.status = status;
    try {
      this.store.update(this.pvcType, pvc.metadata.namespace, pvc.metadata.name, next, 'status');
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  private pvcInUse(dir: string): boolean {
    for (const pod of this.pods.values()) if (!pod.gone && pod.pvcDirs.includes(dir)) return true;
    return false;
  }

  private ensurePod(pod: any): void {
    let runtime = this.pods.get(pod.metadata.uid);
    if (!runtime) {
      if (pod.metadata.deletionTimestamp) {
        this.finishDeletion(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid);
        return;
      }
      runtime = {
        uid: pod.metadata.uid,
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        ip: this.allocateIp(),
        startTime: nowIso(),
        containers: new Map(),
        terminating: false,
        initialized: false,
        gone: false,
        statusScheduled: false,
        conditionTimes: new Map(),
        pvcDirs: [],
      };
      this.pods.set(pod.metadata.uid, runtime);
      const specs = [
        ...(pod.spec?.initContainers ?? []).map((spec: any) => ({ spec, kind: spec.restartPolicy === 'Always' ? 'sidecar' as const : 'init' as const })),
        ...(pod.spec?.containers ?? []).map((spec: any) => ({ spec, kind: 'main' as const })),
      ];
      for (const { spec, kind } of specs) {
        runtime.containers.set(spec.name, {
          spec, kind, succeeded: false, restartAtMs: 0,
          restartCount: 0, consecutiveFailures: 0, state: { waiting: { reason: kind === 'main' && specs.some((x) => x.kind !== 'main') ? 'PodInitializing' : 'ContainerCreating' } }, lastState: {},
          ready: false, started: false, startedAtMs: 0, startupDone: !spec.startupProbe,
          readinessSuccesses: 0, readinessFailures: 0, livenessFailures: 0, timers: [],
        });
      }
      if (!pod.spec?.nodeName) this.bindNode(runtime);
      this.scheduleStatus(runtime);
      this.tryStart(runtime);
      return;
    }
    if (pod.metadata.deletionTimestamp && !runtime.terminating) this.terminate(runtime, pod.metadata.deletionGracePeriodSeconds ?? 30);
  }

  private bindNode(pod: PodRuntime): void {
    const current = this.store.getRaw(this.podType, pod.namespace, pod.name);
    if (!current || current.metadata.uid !== pod.uid) return;
    const next = structuredClone(current);
    next.spec.nodeName = 'emulator-node';
    try {
      this.store.update(this.podType, pod.namespace, pod.name, next, '');
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    }
  }

  private allocateIp(): string {
    const poolSize = Math.min(this.opts.podIpCount, podIpLastOctetMax - this.opts.podIpBase + 1);
    for (let i = 0; i < poolSize; i++) {
      const octet = this.opts.podIpBase + ((this.nextIpOffset + i) % poolSize);
      if (!this.usedIps.has(octet)) {
        this.usedIps.add(octet);
        this.nextIpOffset = (octet - this.opts.podIpBase + 1) % poolSize;
        return `127.0.0.${octet}`;
      }
    }
    throw new Error('k8s-emulator: pod IP pool exhausted');
  }

  private releaseIp(pod: PodRuntime): void {
    this.usedIps.delete(Number(pod.ip.split('.')[3]));
  }

  // ---- starting containers ----

  private tryStart(pod: PodRuntime): void {
    pod.startTimer = undefined;
    if (pod.terminating || this.stopped) return;
    const obj = this.store.getRaw(this.podType, pod.namespace, pod.name);
    if (!obj || obj.metadata.uid !== pod.uid) return;
    let mounts: Map<string, Map<string, string>>;
    try {
      mounts = this.prepareVolumes(pod, obj);
    } catch (e) {
      if (!(e instanceof ContainerError)) throw e;
      for (const c of pod.containers.values()) c.state = { waiting: { reason: e.reason, message: e.message } };
      this.scheduleStatus(pod);
      pod.startTimer = setTimeout(() => this.tryStart(pod), startRetryIntervalMs);
      return;
    }
    let waiting = false;
    const start = (c: ContainerRuntime): boolean => {
      if (c.proc) return true;
      if (c.kind === 'init' && c.succeeded) return false;
      const backoffLeftMs = c.restartAtMs - Date.now();
      if (backoffLeftMs > 0) {
        // Still backing off (a timer can fire a little early against the wall clock): retry then.
        c.timers.push(setTimeout(() => this.tryStart(pod), backoffLeftMs + 1));
        return false;
      }
      try {
        this.startContainer(pod, obj, c, mounts.get(c.spec.name) ?? new Map());
        return true;
      } catch (e) {
        if (!(e instanceof ContainerError)) throw e;
        c.state = { waiting: { reason: e.reason, message: e.message } };
        waiting = true;
        return false;
      }
    };
    // Init containers in order, each to completion; a sidecar only has to be started (and is
    // restarted whenever it exits). Once initialized, a pod stays initialized.
    let initialized = true;
    for (const c of pod.containers.values()) {
      if (c.kind === 'main' || (c.kind === 'init' && (c.succeeded || pod.initialized))) continue;
      const running = start(c);
      if (c.kind === 'sidecar' && (running || pod.initialized)) continue;
      initialized = false;
      break;
    }
    if (initialized) {
      pod.initialized = true;
      for (const c of pod.containers.values()) if (c.kind === 'main') start(c);
    }
    this.scheduleStatus(pod);
    if (waiting) pod.startTimer = setTimeout(() => this.tryStart(pod), startRetryIntervalMs);
  }

  private isInitialized(pod: PodRuntime): boolean {
    return pod.initialized;
  }

  /** Volume name → host directory; returns per container: mountPath → host path. */
  private prepareVolumes(pod: PodRuntime, obj: any): Map<string, Map<string, string>> {
    const hostDirs = new Map<string, string>();
    const pvcDirs: string[] = [];
    for (const v of obj.spec?.volumes ?? []) {
      const volumeDir = path.join(this.podDir(pod.namespace, pod.name), 'volumes', v.name);
      if (v.persistentVolumeClaim) {
        const claim = v.persistentVolumeClaim.claimName;
        const pvc = this.store.getRaw(this.pvcType, pod.namespace, claim);
        if (!pvc || pvc.metadata.deletionTimestamp) throw new ContainerError('ContainerCreating', `persistentvolumeclaim "${claim}" not found`);
        const dir = this.pvcDir(pod.namespace, claim);
        mkdirSync(dir, { recursive: true });
        hostDirs.set(v.name, dir);
        pvcDirs.push(dir);
      } else if (v.configMap || v.secret) {
        const isSecret = Boolean(v.secret);
        const refName = isSecret ? v.secret.secretName : v.configMap.name;
        const optional = (isSecret ? v.secret.optional : v.configMap.optional) === true;
        const t = this.store.findType('', 'v1', isSecret ? 'secrets' : 'configmaps')!;
        const source = this.store.getRaw(t, pod.namespace, refName);
        if (!source && !optional) throw new ContainerError('ContainerCreating', `${isSecret ? 'secret' : 'configmap'} "${refName}" not found`);
        rmSync(volumeDir, { recursive: true, force: true });
        mkdirSync(volumeDir, { recursive: true });
        const data: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries<string>(source?.data ?? {})) data[k] = isSecret ? Buffer.from(val, 'base64') : Buffer.from(val);
        for (const [k, val] of Object.entries<string>(source?.binaryData ?? {})) data[k] = Buffer.from(val, 'base64');
        const items: any[] | undefined = isSecret ? v.secret.items : v.configMap.items;
        const entries = items ? items.filter((i) => data[i.key]).map((i) => [i.path, data[i.key]] as const) : Object.entries(data);
        for (const [file, content] of entries) {
          mkdirSync(path.dirname(path.join(volumeDir, file)), { recursive: true });
          writeFileSync(path.join(volumeDir, file), content);
        }
        hostDirs.set(v.name, volumeDir);
      } else {
        mkdirSync(volumeDir, { recursive: true });
        hostDirs.set(v.name, volumeDir);
      }
    }
    pod.pvcDirs = pvcDirs;
    const result = new Map<string, Map<string, string>>();
    for (const c of [...(obj.spec?.initContainers ?? []), ...(obj.spec?.containers ?? [])]) {
      const mounts = new Map<string, string>();
      for (const m of c.volumeMounts ?? []) {
        const dir = hostDirs.get(m.name);
        if (!dir) continue;
        const target = m.subPath ? path.join(dir, m.subPath) : dir;
        if (m.subPath && !(obj.spec.volumes ?? []).some((v: any) => v.name === m.name && (v.configMap || v.secret))) mkdirSync(target, { recursive: true });
        mounts.set(String(m.mountPath).replace(/\/+$/, '') || '/', target);
      }
      result.set(c.name, mounts);
    }
    return result;
  }

  private lookupKey(namespace: string, kind: 'secrets' | 'configmaps', ref: any): string | undefined {
    const t = this.store.findType('', 'v1', kind)!;
    const source = this.store.getRaw(t, namespace, ref.name);
    const raw = source?.data?.[ref.key];
    if (raw === undefined) {
      if (ref.optional === true) return undefined;
      const what = kind === 'secrets' ? 'secret' : 'configmap';
      throw new ContainerError('CreateContainerConfigError', source ? `couldn't find key ${ref.key} in ${what} ${namespace}/${ref.name}` : `${what} "${ref.name}" not found`);
    }
    return kind === 'secrets' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  }

  private fieldValue(pod: PodRuntime, obj: any, fieldPath: string): string {
    const labelMatch = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (labelMatch) return obj.metadata[labelMatch[1]]?.[labelMatch[2]] ?? '';
    switch (fieldPath) {
      case 'metadata.name': return obj.metadata.name;
      case 'metadata.namespace': return obj.metadata.namespace;
      case 'metadata.uid': return obj.metadata.uid;
      case 'spec.nodeName': return 'emulator-node';
      case 'spec.serviceAccountName': return obj.spec?.serviceAccountName ?? 'default';
      case 'status.podIP': return pod.ip;
      case 'status.podIPs': return pod.ip;
      case 'status.hostIP': return '127.0.0.1';
      case 'status.hostIPs': return '127.0.0.1';
      default: throw new ContainerError('CreateContainerConfigError', `unsupported fieldRef ${fieldPath}`);
    }
  }

  private resolveEnv(pod: PodRuntime, obj: any, spec: any): Record<string, string> {
    const env: Record<string, string> = {};
    for (const source of spec.envFrom ?? []) {
      const kind = source.secretRef ? 'secrets' : 'configmaps';
      const ref = source.secretRef ?? source.configMapRef;
      const t = this.store.findType('', 'v1', kind)!;
      const obj2 = this.store.getRaw(t, pod.namespace, ref.name);
      if (!obj2) {
        if (ref.optional === true) continue;
        throw new ContainerError('CreateContainerConfigError', `${kind === 'secrets' ? 'secret' : 'configmap'} "${ref.name}" not found`);
      }
      for (const [k, v] of Object.entries<string>(obj2.data ?? {})) {
        env[`${source.prefix ?? ''}${k}`] = kind === 'secrets' ? Buffer.from(v, 'base64').toString('utf8') : v;
      }
    }
    for (const e of spec.env ?? []) {
      if (e.valueFrom) {
        const vf = e.valueFrom;
        let value: string | undefined;
        if (vf.secretKeyRef) value = this.lookupKey(pod.namespace, 'secrets', vf.secretKeyRef);
        else if (vf.configMapKeyRef) value = this.lookupKey(pod.namespace, 'configmaps', vf.configMapKeyRef);
        else if (vf.fieldRef) value = this.fieldValue(pod, obj, vf.fieldRef.fieldPath);
        else if (vf.resourceFieldRef) value = '0';
        if (value !== undefined) env[e.name] = value;
      } else {
        env[e.name] = expandVars(String(e.value ?? ''), env);
      }
    }
    return env;
  }

  private startContainer(pod: PodRuntime, obj: any, c: ContainerRuntime, mounts: Map<string, string>): void {
    const env = this.resolveEnv(pod, obj, c.spec);
    const rewrite = (value: string): string => rewriteMountedPath(value, mounts);
    for (const k of Object.keys(env)) env[k] = rewrite(env[k]);
    const image = String(c.spec.image ?? '');
    const keys = Object.keys(this.opts.imageCommands).sort((a, b) => b.length - a.length);
    const key = keys.find((k) => image.startsWith(k)) ?? keys.find((k) => image.includes(k));
    if (!key) throw new ContainerError('ErrImagePull', `k8s-emulator: no local command mapped for image "${image}" (see EmulatorOptions.imageCommands)`);
    const container = structuredClone(c.spec);
    if (container.command) container.command = container.command.map((a: string) => rewrite(expandVars(String(a), env)));
    if (container.args) container.args = container.args.map((a: string) => rewrite(expandVars(String(a), env)));
    const command = this.opts.imageCommands[key](container);
    const logFile = this.logPath(pod.namespace, pod.name, c.spec.name);
    mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(command.command, command.args, {
        cwd: c.spec.workingDir && !String(c.spec.workingDir).startsWith('/') ? c.spec.workingDir : this.opts.repoRoot,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: this.podDir(pod.namespace, pod.name),
          HOSTNAME: pod.name,
          K8S_EMULATOR_DNS_FILE: this.opts.dnsFile,
          K8S_EMULATOR_NAMESPACE: pod.namespace,
          ...env,
        },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    c.proc = proc;
    const pid = proc.pid;
    if (pid) liveProcessGroups.add(pid);
    // As a kubelet reports it: started once the startup probe passed (at once without one).
    c.started = !c.spec.startupProbe;
    c.startedAtMs = Date.now();
    c.state = { running: { startedAt: nowIso() } };
    c.ready = false;
    c.readinessSuccesses = 0;
    c.readinessFailures = 0;
    c.livenessFailures = 0;
    c.startupDone = !c.spec.startupProbe;
    c.exited = new Promise<void>((resolve) => {
      let settled = false;
      const onExit = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
        if (settled) return;
        settled = true;
        if (pid) liveProcessGroups.delete(pid);
        if (pid) signalGroup(pid, 'SIGKILL');
        this.onContainerExit(pod, c, code, signal, spawnError);
        resolve();
      };
      proc.on('exit', (code, signal) => onExit(code, signal));
      proc.on('error', (err) => onExit(127, null, err));
    });
    if (c.kind !== 'init') this.startProbes(pod, c);
  }

  private onContainerExit(pod: PodRuntime, c: ContainerRuntime, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    for (const t of c.timers) clearTimeout(t);
    c.timers = [];
    c.proc = undefined;
    c.ready = false;
    c.started = false;
    const exitCode = code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1);
    const terminated = {
      terminated: {
        exitCode,
        ...(signal ? { signal: signal === 'SIGKILL' ? 9 : 15 } : {}),
        reason: spawnError ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
        ...(spawnError ? { message: spawnError.message } : {}),
        startedAt: new Date(c.startedAtMs).toISOString().replace(/\.\d+Z$/, 'Z'),
        finishedAt: nowIso(),
      },
    };
    c.lastState = terminated;
    c.state = terminated;
    if (pod.terminating || this.stopped || pod.gone) {
      this.scheduleStatus(pod);
      this.maybeFinishTermination(pod);
      return;
    }
    const obj = this.store.getRaw(this.podType, pod.namespace, pod.name);
    const podPolicy = obj?.spec?.restartPolicy ?? 'Always';
    if (c.kind === 'init' && exitCode === 0) {
      c.succeeded = true;
      setImmediate(() => this.tryStart(pod));
      this.scheduleStatus(pod);
      return;
    }
    // A failed init container is retried unless the pod's policy is Never; sidecars always restart.
    const policy = c.kind === 'sidecar' ? 'Always' : c.kind === 'init' && podPolicy !== 'Never' ? 'OnFailure' : podPolicy;
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart) {
      if (Date.now() - c.startedAtMs > backoffResetAfterMs) c.consecutiveFailures = 0;
      const delayMs = Math.min(this.opts.restartBackoffBaseMs * 2 ** c.consecutiveFailures, this.opts.restartBackoffMaxMs);
      c.consecutiveFailures += 1;
      c.restartCount += 1;
      c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${delayMs}ms restarting failed container=${c.spec.name} pod=${pod.name}` } };
      c.restartAtMs = Date.now() + delayMs;
      c.timers.push(setTimeout(() => this.tryStart(pod), delayMs));
    }
    this.scheduleStatus(pod);
  }

  // ---- probes ----

  private startProbes(pod: PodRuntime, c: ContainerRuntime): void {
    // Each probe loop belongs to one process (a restarted container starts fresh loops) and
    // reuses one timer slot, so c.timers does not grow while the container runs.
    const proc = c.proc;
    const schedule = (probe: any, onResult: (ok: boolean, startedMs: number) => void, active: () => boolean): void => {
      const { periodMs, initialMs } = this.probeTiming(probe);
      const slot = c.timers.length;
      const alive = (): boolean => c.proc === proc && proc !== undefined && !pod.terminating && !this.stopped;
      const run = (): void => {
        if (!alive()) return;
        if (!active()) {
          c.timers[slot] = setTimeout(run, periodMs);
          return;
        }
        const startedMs = Date.now();
        void this.probe(pod, c, probe).then((ok) => {
          if (!alive()) return;
          onResult(ok, startedMs);
          c.timers[slot] = setTimeout(run, periodMs);
        });
      };
      c.timers.push(setTimeout(run, initialMs));
    };
    const spec = c.spec;
    if (spec.startupProbe) {
      const failing = new FailureWindow(spec.startupProbe, this.probeTiming(spec.startupProbe).periodMs, true);
      schedule(spec.startupProbe, (ok, startedMs) => {
        if (c.startupDone) return;
        if (ok) {
          c.startupDone = true;
          c.started = true;
          if (!spec.readinessProbe) c.ready = true;
          this.scheduleStatus(pod);
        } else if (failing.fail(startedMs)) {
          this.restartUnhealthy(c);
        }
      }, () => !c.startupDone);
    }
    if (spec.readinessProbe) {
      const probe = spec.readinessProbe;
      const failing = new FailureWindow(probe, this.probeTiming(probe).periodMs, false);
      schedule(probe, (ok, startedMs) => {
        if (ok) {
          failing.reset();
          c.readinessFailures = 0;
          if (++c.readinessSuccesses >= (probe.successThreshold ?? 1) && !c.ready) {
            c.ready = true;
            this.scheduleStatus(pod);
          }
        } else {
          c.readinessSuccesses = 0;
          // Unready after the declared failure window (failureThreshold × periodSeconds), as the
          // period is capped: a briefly slow process under CPU contention stays Ready.
          c.readinessFailures += 1;
          if (failing.fail(startedMs) && c.ready) {
            c.ready = false;
            this.scheduleStatus(pod);
          }
        }
      }, () => c.startupDone);
    } else if (c.startupDone) {
      c.ready = true;
    }
    if (spec.livenessProbe) {
      const probe = spec.livenessProbe;
      const failing = new FailureWindow(probe, this.probeTiming(probe).periodMs, true);
      schedule(probe, (ok, startedMs) => {
        if (ok) {
          c.livenessFailures = 0;
          failing.reset();
        } else {
          c.livenessFailures += 1;
          if (failing.fail(startedMs)) this.restartUnhealthy(c);
        }
      }, () => c.startupDone);
    }
  }

  /** Probe timing with periods capped for fast tests. */
  private probeTiming(probe: any): { periodMs: number; initialMs: number } {
    return {
      periodMs: Math.min((probe.periodSeconds ?? 10) * 1000, this.opts.probePeriodCapMs),
      initialMs: Math.min((probe.initialDelaySeconds ?? 0) * 1000, this.opts.probePeriodCapMs),
    };
  }


  /** A failed liveness/startup probe: the container is killed and restarted by its exit handler. */
  private restartUnhealthy(c: ContainerRuntime): void {
    const pid = c.proc?.pid;
    if (!pid) return;
    signalGroup(pid, 'SIGTERM');
    c.timers.push(setTimeout(() => signalGroup(pid, 'SIGKILL'), this.opts.terminationGraceCapMs));
  }

  private resolvePort(c: ContainerRuntime, port: unknown): number {
    if (typeof port === 'number') return port;
    const named = (c.spec.ports ?? []).find((p: any) => p.name === port);
    return named ? Number(named.containerPort) : Number(port);
  }

  private probe(pod: PodRuntime, c: ContainerRuntime, probe: any): Promise<boolean> {
    const timeoutMs = Math.max(100, Math.min((probe.timeoutSeconds ?? 1) * 1000, 2000));
    if (probe.httpGet) {
      const g = probe.httpGet;
      return new Promise((resolve) => {
        const headers: Record<string, string> = {};
        for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
        const options = { host: g.host ?? pod.ip, port: this.resolvePort(c, g.port), path: g.path ?? '/', headers, timeout: timeoutMs, agent: false };
        const onResponse = (res: http.IncomingMessage) => {
          res.resume();
          resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
        };
        // scheme HTTPS: like the kubelet, the certificate is not verified.
        const req = g.scheme === 'HTTPS' ? https.get({ ...options, rejectUnauthorized: false }, onResponse) : http.get(options, onResponse);
        req.on('timeout', () => req.destroy(new Error('probe timeout')));
        req.on('error', () => resolve(false));
      });
    }
    if (probe.tcpSocket || probe.grpc) {
      const port = this.resolvePort(c, (probe.tcpSocket ?? probe.grpc).port);
      return new Promise((resolve) => {
        const socket = net.connect({ host: probe.tcpSocket?.host ?? pod.ip, port, timeout: timeoutMs });
        socket.on('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('timeout', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(false));
      });
    }
    // exec probes cannot run a container command here: they count as passing (see README).
    return Promise.resolve(true);
  }

  // ---- termination ----

  private terminate(pod: PodRuntime, graceSeconds: number): void {
    pod.terminating = true;
    if (pod.startTimer) clearTimeout(pod.startTimer);
    const graceMs = Math.min(graceSeconds * 1000, this.opts.terminationGraceCapMs);
    let running = false;
    for (const c of pod.containers.values()) {
      for (const t of c.timers) clearTimeout(t);
      c.timers = [];
      const pid = c.proc?.pid;
      if (!pid) continue;
      running = true;
      signalGroup(pid, graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
      if (graceMs > 0) c.timers.push(setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs));
      c.ready = false;
    }
    this.scheduleStatus(pod);
    if (!running) this.maybeFinishTermination(pod);
  }

  private maybeFinishTermination(pod: PodRuntime): void {
    if (!pod.terminating || pod.gone) return;
    for (const c of pod.containers.values()) if (c.proc) return;
    this.finishDeletion(pod.namespace, pod.name, pod.uid);
    this.forget(pod);
  }

  private finishDeletion(namespace: string, name: string, uid: string): void {
    const current = this.store.getRaw(this.podType, namespace, name);
    if (!current || current.metadata.uid !== uid) return;
    try {
      this.store.delete(this.podType, namespace, name, { gracePeriodSeconds: 0 });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }

  /** The pod object is gone (force deletion or finished termination): kill what is left and free the IP. */
  private forceStop(pod: PodRuntime): void {
    pod.terminating = true;
    if (pod.startTimer) clearTimeout(pod.startTimer);
    for (const c of pod.containers.values()) {
      for (const t of c.timers) clearTimeout(t);
      c.timers = [];
      if (c.proc?.pid) signalGroup(c.proc.pid, 'SIGKILL');
    }
    this.forget(pod);
  }

  private forget(pod: PodRuntime): void {
    if (pod.gone) return;
    pod.gone = true;
    this.releaseIp(pod);
    const release = (): void => {
      this.pods.delete(pod.uid);
      for (const dir of pod.pvcDirs) {
        if (this.pendingPvcRemovals.has(dir) && !this.pvcInUse(dir)) {
          this.pendingPvcRemovals.delete(dir);
          rmSync(dir, { recursive: true, force: true });
        }
      }
    };
    const exits = [...pod.containers.values()].filter((c) => c.proc && c.exited).map((c) => c.exited!);
    if (exits.length === 0) release();
    else void Promise.all(exits).then(release);
  }

  // ---- status ----

  private scheduleStatus(pod: PodRuntime): void {
    if (pod.statusScheduled) return;
    pod.statusScheduled = true;
    setImmediate(() => {
      pod.statusScheduled = false;
      if (!pod.gone && !this.stopped) this.writeStatus(pod);
    });
  }

  private condition(pod: PodRuntime, type: string, ok: boolean): any {
    const status = ok ? 'True' : 'False';
    const previous = pod.conditionTimes.get(type);
    const time = previous && previous.status === status ? previous.time : nowIso();
    pod.conditionTimes.set(type, { status, time });
    return { type, status, lastProbeTime: null, lastTransitionTime: time };
  }

  private writeStatus(pod: PodRuntime): void {
    const current = this.store.getRaw(this.podType, pod.namespace, pod.name);
    if (!current || current.metadata.uid !== pod.uid) return;
    const all = [...pod.containers.values()];
    const containers = all.filter((c) => c.kind === 'main');
    const inits = all.filter((c) => c.kind !== 'main');
    const initialized = this.isInitialized(pod);
    const sidecarsReady = inits.every((c) => c.kind === 'init' || (c.ready && c.proc));
    const allReady = initialized && containers.length > 0 && containers.every((c) => c.ready && c.proc) && sidecarsReady && !pod.terminating;
    const anyRunning = containers.some((c) => c.proc);
    const allTerminated = containers.length > 0 && containers.every((c) => !c.proc && c.state.terminated);
    const policy = current.spec?.restartPolicy ?? 'Always';
    let phase = 'Pending';
    if (anyRunning || containers.some((c) => c.restartCount > 0)) phase = 'Running';
    if (allTerminated && !pod.terminating) {
      const allSucceeded = containers.every((c) => c.state.terminated.exitCode === 0);
      if (policy === 'Never' || (policy === 'OnFailure' && allSucceeded)) phase = allSucceeded ? 'Succeeded' : 'Failed';
    }
    if (policy === 'Never' && inits.some((c) => c.kind === 'init' && !c.proc && c.state.terminated && c.state.terminated.exitCode !== 0)) phase = 'Failed';
    const containerStatus = (c: ContainerRuntime): any => ({
      name: c.spec.name,
      image: c.spec.image,
      imageID: `emulator://${c.spec.image}`,
      containerID: c.proc?.pid ? `emulator://${c.proc.pid}` : undefined,
      ready: c.kind === 'init' ? c.succeeded : c.ready && Boolean(c.proc),
      started: c.started,
      restartCount: c.restartCount,
      state: c.state,
      lastState: c.restartCount > 0 ? c.lastState : {},
    });
    const status = {
      phase,
      conditions: [
        this.condition(pod, 'PodReadyToStartContainers', true),
        this.condition(pod, 'Initialized', initialized),
        this.condition(pod, 'Ready', allReady),
        this.condition(pod, 'ContainersReady', allReady),
        this.condition(pod, 'PodScheduled', true),
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      startTime: pod.startTime,
      ...(inits.length > 0 ? { initContainerStatuses: inits.map(containerStatus) } : {}),
      containerStatuses: containers.map(containerStatus),
      qosClass: current.status?.qosClass ?? 'BestEffort',
    };
    const clean = JSON.parse(JSON.stringify(status));
    if (canonicalJson(clean) === canonicalJson(current.status)) return;
    const next = structuredClone(current);
    next.status = clean;
    try {
      this.store.update(this.podType, pod.namespace, pod.name, next, 'status');
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }
}

/**
 * Consecutive probe failures against the declared failure window, in time: failureThreshold × period
 * (plus initialDelay for the probes that kill), with at least failureThreshold failures. Counted in
 * time rather than in probes because the period is capped for speed and a hung process's probes each
 * take their timeout: a kubelet marks a hung pod NotReady after about the declared window, not after
 * failureThreshold × (window / capped period) timeouts.
 */
class FailureWindow {
  private failures = 0;
  private sinceMs: number | undefined;
  private readonly windowMs: number;

  constructor(private readonly probe: any, private readonly periodMs: number, withInitialDelay: boolean) {
    this.windowMs = ((withInitialDelay ? probe.initialDelaySeconds ?? 0 : 0) + (probe.failureThreshold ?? 3) * (probe.periodSeconds ?? 10)) * 1000;
  }

  /** One more failure of a probe started at startedMs; true once the window is full. */
  fail(startedMs: number): boolean {
    this.failures += 1;
    this.sinceMs ??= startedMs;
    // The last probe of the window starts one (capped) period before the window ends.
    return this.failures >= (this.probe.failureThreshold ?? 3) && startedMs - this.sinceMs + this.periodMs >= this.windowMs;
  }

  reset(): void {
    this.failures = 0;
    this.sinceMs = undefined;
  }
}

/** $(VAR) expansion of container env, command and args (unknown references stay as written). */
function expandVars(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name) => {
    if (match === '$$') return '$';
    return env[name] ?? match;
  });
}

/** A value (or the value part of --flag=value) starting with a mountPath is moved to the host directory. */
export function rewriteMountedPath(value: string, mounts: Map<string, string>): string {
  const ordered = [...mounts.entries()].sort((a, b) => b[0].length - a[0].length);
  const rewriteOne = (v: string): string => {
    for (const [mountPath, hostDir] of ordered) {
      if (v === mountPath || v.startsWith(`${mountPath}/`)) return hostDir + v.slice(mountPath.length);
    }
    return v;
  };
  const direct = rewriteOne(value);
  if (direct !== value) return direct;
  const m = /^(--?[\w.-]+=)(.*)$/s.exec(value);
  if (m) return m[1] + rewriteOne(m[2]);
  return value;
}
