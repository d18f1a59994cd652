// Wires the operator: Lease leader election; while leading, the VectorCluster controller and the backup
// controllers (VectorBackup, VectorBackupSchedule) run; Prometheus metrics and /healthz on their own port. main.ts only parses flags and calls startOperator().
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KubeClient } from './kube/client.js';
import { EventRecorder } from './kube/events.js';
import { LeaderElector } from './kube/leader.js';
import type { InformerOptions } from './kube/informer.js';
import { PHASES } from './api/types.js';
import { ClusterController } from './reconcile/controller.js';
import type { ControllerMetrics, ControllerOptions } from './reconcile/controller.js';
import { BackupController } from './backup/controller.js';
import type { BackupControllerOptions } from './backup/controller.js';

export interface OperatorOptions {
  kubeconfigPath?: string;
  client?: KubeClient;
  namespace?: string;
  identity: string;
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Port for /metrics and /healthz; 0 picks a free one; undefined serves nothing. */
  metricsPort?: number;
  metricsHost?: string;
  informer?: Partial<Omit<InformerOptions, 'kind' | 'namespace' | 'labelSelector'>>;
  controller?: Partial<Pick<ControllerOptions, 'requeueSettlingMs' | 'requeueRunningMs' | 'workers' | 'nodeStatus' | 'rolloutSettleMs' | 'debug'>>;
  backup?: Partial<Pick<BackupControllerOptions, 'scheduleNowMs' | 'pollMs' | 'pendingRetryMs' | 'scheduleRequeueMaxMs' | 'nodeApi'>>;
  log?: (m: string) => void;
}

export interface RunningOperator {
  readonly identity: string;
  isLeader(): boolean;
  controller(): ClusterController | undefined;
  backups(): BackupController | undefined;
  metricsUrl?: string;
  registry: Registry;
  /** Clean stop: releases the lease so another replica takes over at once. */
  stop(): Promise<void>;
  /** Crash-like stop: stops renewing without releasing the lease (for failover tests). */
  halt(): Promise<void>;
}

function makeMetrics(registry: Registry): ControllerMetrics & { leader: Gauge } {
  const duration = new Histogram({ name: 'jadevectordb_operator_reconcile_duration_seconds', help: 'Time per VectorCluster reconcile.', labelNames: ['outcome'], registers: [registry], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
  const errors = new Counter({ name: 'jadevectordb_operator_reconcile_errors_total', help: 'Reconciles that failed and were retried.', registers: [registry] });
  const depth = new Gauge({ name: 'jadevectordb_operator_queue_depth', help: 'Keys waiting in the work queue.', registers: [registry] });
  const phases = new Gauge({ name: 'jadevectordb_operator_clusters', help: 'VectorClusters by phase.', labelNames: ['phase'], registers: [registry] });
  const leader = new Gauge({ name: 'jadevectordb_operator_leader', help: '1 while this replica holds the leader Lease.', registers: [registry] });
  return {
    leader,
    reconciled(seconds, outcome) { duration.observe({ outcome }, seconds); if (outcome === 'error') errors.inc(); },
    queueDepth(n) { depth.set(n); },
    phases(counts) { for (const p of PHASES) phases.set({ phase: p }, counts[p] ?? 0); },
  };
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const log = opts.log ?? ((m: string) => console.log(`${new Date().toISOString()} ${opts.identity} ${m}`));
  const client = opts.client ?? (opts.kubeconfigPath ? KubeClient.fromFile(opts.kubeconfigPath) : KubeClient.fromDefault());
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'jadevectordb_operator_' });
  const metrics = makeMetrics(registry);
  const backupMetrics = BackupController.metrics(registry);
  const events = new EventRecorder(client, opts.identity, log);
  let controller: ClusterController | undefined;
  let backups: BackupController | undefined;
  let transition = Promise.resolve();

  const elector = new LeaderElector(client, {
    namespace: opts.leaseNamespace, name: opts.leaseName ?? 'jadevectordb-operator', identity: opts.identity,
    leaseDurationMs: opts.leaseDurationMs, renewDeadlineMs: opts.renewDeadlineMs, retryPeriodMs: opts.retryPeriodMs, log,
    onStartedLeading: () => {
      metrics.leader.set(1);
      transition = transition.then(async () => {
        const b = new BackupController({
          client, events, namespace: opts.namespace, informer: opts.informer, metrics: backupMetrics, log, ...opts.backup,
          onClusterBackupChanged: (ns, name) => { try { c.queue.add(`${ns}/${name}`); } catch { /* queue full: the periodic requeue catches up */ } },
        });
        const c = new ClusterController({ client, events, namespace: opts.namespace, informer: opts.informer, metrics, log, ...opts.controller, lastBackup: (ns, name) => b.lastBackupCondition(ns, name) });
        controller = c;
        backups = b;
        try { await c.start(); } catch (e) { log(`controller start failed: ${String(e)}`); }
        try { await b.start(); } catch (e) { log(`backup controller start failed: ${String(e)}`); }
      });
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      transition = transition.then(async () => {
        const c = controller;
        const b = backups;
        controller = undefined;
        backups = undefined;
        await Promise.all([c?.stop(), b?.stop()]);
      });
    },
  });
  elector.start();

  let server: http.Server | undefined;
  let metricsUrl: string | undefined;
  if (opts.metricsPort !== undefined) {
    server = http.createServer((req, res) => {
      if (req.url === '/healthz' || req.url === '/readyz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (req.url === '/metrics') {
        registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text), () => res.writeHead(500).end());
        return;
      }
      res.writeHead(404).end();
    });
    const host = opts.metricsHost ?? '0.0.0.0';
    await new Promise<void>((resolve) => server!.listen(opts.metricsPort, host, resolve));
    const port = (server.address() as AddressInfo).port;
    metricsUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    log(`metrics and /healthz on ${metricsUrl}`);
  }

  const shutdown = async (release: boolean) => {
    await elector.stop(release);
    await transition;
    await Promise.all([controller?.stop(), backups?.stop()]);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  };
  return {
    identity: opts.identity,
    isLeader: () => elector.isLeader,
    controller: () => controller,
    backups: () => backups,
    metricsUrl,
    registry,
    stop: () => shutdown(true),
    halt: () => shutdown(false),
  };
}
