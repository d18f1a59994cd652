// Backup metrics on the operator's /metrics, per VectorCluster (namespace, cluster labels).
import { Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export interface BackupLabels { namespace: string; cluster: string }

export interface BackupMetrics {
  /** A backup this operator saw finish (observed once, when it writes the final phase). */
  finished(labels: BackupLabels, outcome: 'succeeded' | 'failed', durationSeconds: number): void;
  /** A succeeded backup, seen finishing or already finished (after a restart): the gauges keep the newest. */
  succeeded(labels: BackupLabels, finishedAtSeconds: number, sizeBytes: number): void;
}

export function backupMetrics(registry: Registry): BackupMetrics {
  const lastSuccess = new Gauge({ name: 'jadevectordb_backup_last_success_timestamp_seconds', help: 'Completion time of the newest succeeded VectorBackup of a cluster (Unix seconds).', labelNames: ['namespace', 'cluster'], registers: [registry] });
  const size = new Gauge({ name: 'jadevectordb_backup_last_success_size_bytes', help: 'Size of the newest succeeded VectorBackup of a cluster.', labelNames: ['namespace', 'cluster'], registers: [registry] });
  const duration = new Histogram({
    name: 'jadevectordb_backup_duration_seconds', help: 'Time from the request to the node until the backup succeeded or failed.', labelNames: ['namespace', 'cluster', 'outcome'], registers: [registry],
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600],
  });
  const newest = new Map<string, number>();
  return {
    finished(labels, outcome, durationSeconds) {
      duration.observe({ ...labels, outcome }, Math.max(0, durationSeconds));
    },
    succeeded(labels, finishedAtSeconds, sizeBytes) {
      const key = `${labels.namespace}/${labels.cluster}`;
      if ((newest.get(key) ?? -Infinity) > finishedAtSeconds) return;
      newest.set(key, finishedAtSeconds);
      lastSuccess.set(labels, finishedAtSeconds);
      size.set(labels, sizeBytes);
    },
  };
}
