// `jade cluster local --nodes N`: N node processes on the loopback that form one Raft cluster
// (REST on basePort+i, Raft transport on grpcBasePort+i, data under <dataDir>/node-i). Runs until
// Ctrl-C, then stops them all (each checkpoints on SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './client.js';
import { withNodeProcessEnv, withNodeProcessFlags } from './node-env.js';

export const LOCAL_CLUSTER_NODES_MAX = 7;

export interface LocalClusterOptions {
  nodes: number;
  dataDir: string;
  host: string;
  basePort: number;
  grpcBasePort: number;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
}

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../main.ts');
// Resolved here, not by the child from its working directory, so `jade cluster local` works from anywhere.
const TSX_LOADER = import.meta.resolve('tsx');

export function localPeers(o: Pick<LocalClusterOptions, 'nodes' | 'host' | 'basePort' | 'grpcBasePort'>): string {
  return Array.from({ length: o.nodes }, (_, i) => `node-${i}=${o.host}:${o.grpcBasePort + i}/${o.host}:${o.basePort + i}`).join(',');
}

export async function runLocalCluster(o: LocalClusterOptions): Promise<void> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > LOCAL_CLUSTER_NODES_MAX) throw new CliError(`--nodes must be in 1..${LOCAL_CLUSTER_NODES_MAX}`);
  const peers = localPeers(o);
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    o.log('stopping the local cluster…');
    for (const c of children) c.kill('SIGTERM');
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  const exits = Array.from({ length: o.nodes }, (_, i) => {
    const child = spawn(process.execPath, withNodeProcessFlags(['--import', TSX_LOADER, MAIN, '--node-id', `node-${i}`, '--data-dir', path.join(o.dataDir, `node-${i}`), '--host', o.host, '--port', String(o.basePort + i), '--log-level', 'warn']), {
      env: withNodeProcessEnv({ ...o.env, JADE_PEERS: peers }),
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  });
  o.log(`started ${o.nodes} nodes:`);
  for (let i = 0; i < o.nodes; i++) o.log(`  node-${i}  REST http://${o.host}:${o.basePort + i}  raft ${o.host}:${o.grpcBasePort + i}  data ${path.join(o.dataDir, `node-${i}`)}`);
  o.log(`check it with: jade --url http://${o.host}:${o.basePort} status   (Ctrl-C stops the cluster)`);
  const codes = await Promise.all(exits);
  if (!stopping) throw new CliError(`a node exited unexpectedly (exit codes ${codes.join(', ')}); the others were left running: stop them with Ctrl-C`);
}
