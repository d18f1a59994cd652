// Entry point: `npm run operator -- --kubeconfig FILE` runs the operator against any API server (outside a
// cluster, like kubebuilder's `make run`); in a pod it uses the in-cluster service account.
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { startOperator } from './operator.js';
import { ROLLOUT_SETTLE_MS } from './reconcile/rollout.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 3_600_000) throw new InvalidArgumentError('must be a number of milliseconds (0-3600000)');
  return n;
}

const program = new Command()
  .name('jadevectordb-operator')
  .description('Kubernetes operator for JadeVectorDB: reconciles VectorCluster resources')
  .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
  .option('--namespace <ns>', 'watch only this namespace (default: all namespaces)')
  .option('--metrics-port <port>', 'port for /metrics and /healthz', port, 8081)
  .option('--metrics-host <host>', 'address for /metrics and /healthz', '0.0.0.0')
  .option('--leader-election-namespace <ns>', 'namespace of the leader election Lease')
  .option('--lease-name <name>', 'name of the leader election Lease', 'jadevectordb-operator')
  .option('--identity <id>', 'this replica\'s name in the Lease (default: $POD_NAME or hostname-pid)')
  .option('--rollout-settle-ms <ms>', 'rolling restart: how long every member must have rejoined before the next pod restarts', milliseconds, ROLLOUT_SETTLE_MS)
  .parse();

const opts = program.opts<{
  kubeconfig?: string; namespace?: string; metricsPort: number; metricsHost: string; leaderElectionNamespace?: string; leaseName: string; identity?: string; rolloutSettleMs: number;
}>();
const identity = opts.identity ?? process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
const leaseNamespace = opts.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? opts.namespace ?? 'default';

const operator = await startOperator({
  kubeconfigPath: opts.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0],
  namespace: opts.namespace,
  identity,
  leaseNamespace,
  leaseName: opts.leaseName,
  metricsPort: opts.metricsPort,
  metricsHost: opts.metricsHost,
  controller: { rolloutSettleMs: opts.rolloutSettleMs },
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void operator.stop().then(() => process.exit(0));
  });
}
