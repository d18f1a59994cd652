// Prometheus metrics of a node, in a registry of its own (not prom-client's global one), so
// several nodes or apps in one process (tests) never share counters.
import client from 'prom-client';

export interface CollectionGauges {
  name: string;
  points: number;
  indexMemoryBytes: number;
  walBytes: number;
}

export class NodeMetrics {
  readonly registry = new client.Registry();
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  readonly walFsyncSeconds: client.Histogram<'collection'>;
  readonly checkpointSeconds: client.Histogram<'collection'>;
  private collections: () => CollectionGauges[] = () => [];

  constructor() {
    this.httpDuration = new client.Histogram({
      name: 'jade_http_request_duration_seconds',
      help: 'REST request latency by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.walFsyncSeconds = new client.Histogram({
      name: 'jade_wal_fsync_seconds',
      help: 'Time from WAL append to durable (fsync), per collection',
      labelNames: ['collection'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.checkpointSeconds = new client.Histogram({
      name: 'jade_checkpoint_duration_seconds',
      help: 'Duration of collection checkpoints (snapshot + graph + WAL truncation)',
      labelNames: ['collection'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [this.registry],
    });
    // Per-collection gauges are read from the collections at scrape time, never kept in sync by hand.
    const perCollection = (name: string, help: string, value: (c: CollectionGauges) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['collection'],
        registers: [this.registry],
        collect: () => {
          const gauge = this.registry.getSingleMetric(name) as client.Gauge<'collection'>;
          gauge.reset();
          for (const c of this.collections()) gauge.set({ collection: c.name }, value(c));
        },
      });
    perCollection('jade_collection_points', 'Points stored per collection', (c) => c.points);
    perCollection('jade_index_memory_bytes', 'Estimated memory of vectors and HNSW graph per collection', (c) => c.indexMemoryBytes);
    perCollection('jade_wal_bytes', 'WAL bytes not yet folded into a checkpoint, per collection', (c) => c.walBytes);
    client.collectDefaultMetrics({ register: this.registry, prefix: 'jade_process_' });
  }

  setCollectionSource(source: () => CollectionGauges[]): void {
    this.collections = source;
  }
}
