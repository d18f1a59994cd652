// kubectl-jade: `kubectl jade <command>` runs a `jade` CLI command against one pod of a VectorCluster,
// through the API server's pod proxy with the user's kubeconfig (no port-forward, no pod IP
// reachability needed). `status` first prints what the operator reports (phase, conditions,
// members, rollout), then the node's own view. The API key comes from the cluster's Secret and is
// handed to `jade` in its environment, never on a command line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { KubeClient } from '../kube/client.js';
import { forwardToPod } from '../kube/pod-forward.js';
import type { VectorCluster } from '../api/types.js';
import { apiKeyOf, findCluster, pickPod, PluginError, restPortOf, restSchemeOf } from './cluster-target.js';

const JADE_ENTRY = fileURLToPath(new URL('../../../node/bin/jade.js', import.meta.url));

const program = new Command('kubectl-jade')
  .description('Run JadeVectorDB admin commands (the `jade` CLI) against a VectorCluster on Kubernetes, through the API server\'s pod proxy')
  .usage('[options] <command> [args...]')
  .option('-n, --namespace <ns>', 'namespace of the VectorCluster (default: the kubeconfig context\'s, else "default")')
  .option('--cluster <name>', 'the VectorCluster (default: the only one in the namespace)')
  .option('--pod <name>', 'the member pod to send the command to (default: the first Ready one); a drain or move still acts cluster-wide')
  .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
  .argument('<command...>', 'status, or any `jade` command: nodes, shards COLLECTION, drain POD, move COLLECTION SHARD --from POD --to POD, rebalance, backup create|list|show|verify, collections list, ...')
  .passThroughOptions()
  .allowUnknownOption()
  .addHelpText('after', `
Pods are named after their node ids, so "drain alpha-2" drains the member in pod alpha-2.
Needs RBAC to get VectorClusters and the API key Secret, list pods, and create pods/proxy.
Examples:
  kubectl jade status
  kubectl jade -n prod --cluster vectors drain vectors-4
  kubectl jade move docs 0 --from vectors-0 --to vectors-3
  kubectl jade backup create
  kubectl jade -- collections list --output json`);

program.parse();
const opts = program.opts<{ namespace?: string; cluster?: string; pod?: string; kubeconfig?: string }>();
const args = program.args;

function printClusterStatus(c: VectorCluster): void {
  const s = c.status ?? {};
  const out: string[] = [];
  out.push(`VECTORCLUSTER ${c.metadata.namespace}/${c.metadata.name}: phase ${s.phase ?? 'unknown'}${s.reason ? ` (${s.reason})` : ''}, ${s.readyReplicas ?? 0}/${c.spec.replicas ?? '?'} ready, cluster id ${s.clusterId ?? 'none yet'}`);
  for (const cond of s.conditions ?? []) out.push(`  ${cond.type}=${cond.status} ${cond.reason}: ${cond.message}`);
  if (s.rollout && (s.rollout.waiting || s.rollout.done < s.rollout.total)) {
    out.push(`  rollout ${s.rollout.done}/${s.rollout.total}${s.rollout.paused ? ' (paused)' : ''}${s.rollout.waiting ? `: ${s.rollout.waiting}` : ''}`);
  }
  const rows = (s.members ?? []).map((m) => [m.pod, m.nodeId ?? '', m.ready ? 'yes' : 'no', m.joined === undefined ? '' : m.joined ? 'yes' : 'no', m.role ?? '', m.version ?? '', String(m.points ?? ''), m.message ?? '']);
  if (rows.length) {
    const head = ['POD', 'NODE', 'READY', 'JOINED', 'ROLE', 'VERSION', 'POINTS', 'MESSAGE'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    out.push('', ...[head, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd()));
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  const client = opts.kubeconfig ? KubeClient.fromFile(opts.kubeconfig) : KubeClient.fromDefault();
  const namespace = opts.namespace ?? client.config.getContextObject(client.config.getCurrentContext())?.namespace ?? 'default';
  const cluster = await findCluster(client, namespace, opts.cluster);
  const jadeArgs = args[0] === 'status' ? ['status', ...args.slice(1)] : args;
  if (args[0] === 'status') printClusterStatus(cluster);
  const pod = await pickPod(client, cluster, opts.pod);
  if (args[0] === 'status') process.stdout.write(`\nNODE (as pod ${pod} reports it)\n`);
  const apiKey = await apiKeyOf(client, cluster);
  // The local listener is plain HTTP on loopback; the API server's leg to a TLS pod is https.
  const forward = await forwardToPod(client, namespace, pod, restPortOf(cluster), restSchemeOf(cluster));
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [JADE_ENTRY, ...jadeArgs], {
        stdio: 'inherit',
        env: { ...process.env, JADE_URL: forward.url, JADE_API_KEY: apiKey },
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await forward.close();
  }
}

try {
  process.exitCode = await main();
} catch (e) {
  const message = e instanceof PluginError ? e.message : `${(e as Error).message}`;
  process.stderr.write(`kubectl-jade: ${message}\n`);
  process.exitCode = 1;
}
