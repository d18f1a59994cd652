// `jade cluster local --nodes N`: N node processes on the loopback that form one Raft cluster
// the way any cluster forms: node-0 --bootstrap, the others --join it (REST on basePort+i, Raft gRPC on
// grpcBasePort+i, the client gRPC API on apiGrpcBasePort+i, data under <dataDir>/node-i). Runs until Ctrl-C, then stops them all (each
// checkpoints on SIGTERM). A restart on the same data directory resumes the same cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
  /** Client gRPC API (Qdrant's gRPC services) of node-0; node-i gets +i. */
  apiGrpcBasePort: number;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
}

// From the compiled build (dist/, this file is .js) the children run dist/node/src/main.js as is;
// from the sources they run main.ts under tsx.
const COMPILED = import.meta.url.endsWith('.js');
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), COMPILED ? '../main.js' : '../main.ts');
// Resolved here, not by the child from its working directory, so `jade cluster local` works from anywhere.
const LOADER_FLAGS = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];

/** The flags of node i: node-0 bootstraps, every other node joins node-0's gRPC port. */
export function localNodeArgs(o: Pick<LocalClusterOptions, 'host' | 'basePort' | 'grpcBasePort' | 'apiGrpcBasePort' | 'dataDir'>, i: number): string[] {
  const role = i === 0 ? ['--bootstrap'] : ['--join', `${o.host}:${o.grpcBasePort}`];
  return ['--node-id', `node-${i}`, '--data-dir', path.join(o.dataDir, `node-${i}`), '--host', o.host, '--port', String(o.basePort + i), '--grpc-port', String(o.grpcBasePort + i), '--api-grpc-port', String(o.apiGrpcBasePort + i), ...role, '--log-level', 'warn'];
}

export async function runLocalCluster(o: LocalClusterOptions): Promise<void> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > LOCAL_CLUSTER_NODES_MAX) throw new CliError(`--nodes must be in 1..${LOCAL_CLUSTER_NODES_MAX}`);
  // The nodes authenticate each other with JADE_CLUSTER_SECRET when it is set, else with a secret
  // made for this run (never printed; every node gets it, also on a restart): a local cluster
  // behaves as a deployed one.
  const clusterSecret = o.env.JADE_CLUSTER_SECRET || randomBytes(24).toString('base64url');
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
    const child = spawn(process.execPath, withNodeProcessFlags([...LOADER_FLAGS, MAIN, ...localNodeArgs(o, i)]), {
      env: withNodeProcessEnv({ ...o.env, JADE_CLUSTER_SECRET: clusterSecret }),
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  });
  o.log(`started ${o.nodes} nodes:`);
  for (let i = 0; i < o.nodes; i++) o.log(`  node-${i}  REST http://${o.host}:${o.basePort + i}  raft ${o.host}:${o.grpcBasePort + i}  gRPC API ${o.host}:${o.apiGrpcBasePort + i}  data ${path.join(o.dataDir, `node-${i}`)}`);
  o.log(`check it with: jade --url http://${o.host}:${o.basePort} status   (Ctrl-C stops the cluster)`);
  const codes = await Promise.all(exits);
  if (!stopping) throw new CliError(`a node exited unexpectedly (exit codes ${codes.join(', ')}); the others were left running: stop them with Ctrl-C`);
}
