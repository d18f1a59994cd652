// Real node processes forming a loopback Raft cluster, for fault tests and benchmarks: fixed ports
// picked from a free-port probe, formed either from a fixed peer list (JADE_PEERS) or the way any
// cluster forms (n0 --bootstrap, the rest --join), members added at runtime, kill -9 and restart
// on the same ports and data directory, wiping a data directory, status and fault-hook helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { freeLoopbackPorts } from '../helpers/ports.js';
import path from 'node:path';
import { withNodeProcessEnv, withNodeProcessFlags } from '../../node/src/cli/node-env.js';
import { REPO_ROOT } from '../helpers/node-process.js';

/** Bytes of a node's stdout+stderr kept for failure messages. */
const OUTPUT_TAIL_BYTES_MAX = 64 * 1024;
const START_TIMEOUT_MS_DEFAULT = 60_000;

/** Asks the kernel for `count` distinct free ports on 127.0.0.1 (all held open until every one is known). */
export { freeLoopbackPorts };

export interface GroupStatus {
  groupId: string;
  role: string;
  term: number;
  leader: string;
  commit: number;
  applied: number;
  lastIndex: number;
}

export interface ClusterMember {
  readonly id: string;
  readonly url: string;
  readonly grpcPort: number;
  readonly dataDir: string;
  running(): boolean;
  /** The OS process id while running (for CPU accounting in benchmarks). */
  pid(): number | null;
  /** SIGKILL: no shutdown code runs, unsynced writes may be lost. */
  kill9(): Promise<void>;
  /** Starts the process again on the same ports and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL, then removes the whole data directory (a lost volume); restart() starts it empty. */
  wipe(): Promise<void>;
  /** SIGSTOP / SIGCONT: the process freezes (timers, sockets) and later resumes believing nothing happened. */
  pause(): void;
  resume(): void;
  output(): string;
}

export interface ProcessCluster {
  members: ClusterMember[];
  /** Starts one more node that joins the cluster (join mode); resolves when it answers /healthz. */
  addMember(id?: string): Promise<ClusterMember>;
  /**
   * Resolves once every running node reports itself joined and `count` members, of which as many
   * meta voters as the node promotes to (1, 3 or 5), or throws at the timeout.
   */
  waitForMembers(count: number, timeoutMs?: number): Promise<void>;
  /** The JADE_CLUSTER_SECRET every member has (null: none, Raft traffic unauthenticated). */
  clusterSecret: string | null;
  member(id: string): ClusterMember;
  /** This member's view of every group (null when it does not answer). */
  groups(id: string, timeoutMs?: number): Promise<GroupStatus[] | null>;
  /** The leader of `groupId` as reported by a running member that sees one in the highest term. */
  leaderOf(groupId: string): Promise<string | null>;
  /** Sets a member's transport faults; `{}` heals. Returns false when the member did not answer. */
  setFaults(id: string, spec: Record<string, unknown>): Promise<boolean>;
  stopAll(): Promise<void>;
}

export interface StartClusterOptions {
  nodeCount: number;
  baseDir: string;
  env?: Record<string, string>;
  logLevel?: string;
  startTimeoutMs?: number;
  /** Extra node flags before the script, e.g. ['--cpu-prof'] for profiling. */
  nodeArgs?: string[];
  /** 'peers' (default): JADE_PEERS names every node; 'join': n0 bootstraps, the others join. */
  formation?: 'peers' | 'join';
  /** The members' JADE_CLUSTER_SECRET; default a random one per cluster (null: none). */
  clusterSecret?: string | null;
  /** Bytes of each member's output kept (default OUTPUT_TAIL_BYTES_MAX); more when debugging at info level. */
  outputTailBytesMax?: number;
}

async function fetchJson(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 2_000) });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return null;
  }
}

class Member implements ClusterMember {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';

  constructor(
    readonly id: string,
    readonly restPort: number,
    readonly grpcPort: number,
    readonly dataDir: string,
    /** How this node finds the cluster: env (JADE_PEERS) and flags (--bootstrap / --join). */
    private formation: { env: Record<string, string>; args: string[] },
    private readonly opts: StartClusterOptions,
    private readonly clusterSecret: string | null,
    /**
     * How it comes back after its disk was wiped: the bootstrapping node of a join formation must
     * rejoin (--join), as an operator would restart it; --bootstrap on an empty directory would
     * found a second, separate cluster.
     */
    private readonly afterWipe: { env: Record<string, string>; args: string[] } | null = null,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.restPort}`;
  }

  running(): boolean {
    return this.child !== null;
  }

  pid(): number | null {
    return this.child?.pid ?? null;
  }

  output(): string {
    return this.tail;
  }

  private append(d: Buffer): void {
    this.tail += d.toString();
    const max = this.opts.outputTailBytesMax ?? OUTPUT_TAIL_BYTES_MAX;
    if (this.tail.length > max) this.tail = this.tail.slice(-max);
  }

  async restart(): Promise<void> {
    if (this.child) throw new Error(`${this.id} is already running`);
    const child = spawn(
      process.execPath,
      withNodeProcessFlags([...(this.opts.nodeArgs ?? []), '--import', 'tsx', path.join(REPO_ROOT, 'node/src/main.ts'), '--node-id', this.id, '--data-dir', this.dataDir, '--host', '127.0.0.1', '--port', String(this.restPort), '--grpc-port', String(this.grpcPort), '--api-grpc-port', '0', ...this.formation.args, '--log-level', this.opts.logLevel ?? 'warn']),
      {
        cwd: REPO_ROOT,
        env: withNodeProcessEnv({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.formation.env, JADE_TEST_HOOKS: '1', JADE_GRPC_HOST: '127.0.0.1', ...(this.clusterSecret ? { JADE_CLUSTER_SECRET: this.clusterSecret } : {}), ...this.opts.env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => this.append(d));
    child.stderr!.on('data', (d: Buffer) => this.append(d));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.append(Buffer.from(`\n[${this.id} exited: code ${code} signal ${signal}]\n`));
        if (this.child === child) this.child = null;
        resolve();
      }),
    );
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? START_TIMEOUT_MS_DEFAULT);
    for (;;) {
      if (this.child !== child) throw new Error(`${this.id} exited before it answered /healthz:\n${this.tail}`);
      const r = await fetchJson(`${this.url}/healthz`, { timeoutMs: 1_000 });
      if (r?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`${this.id} did not answer /healthz in time:\n${this.tail}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async kill9(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    child.kill('SIGCONT'); // a paused process dies only once it runs again
    await this.exited;
  }

  async wipe(): Promise<void> {
    await this.kill9();
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.afterWipe) this.formation = this.afterWipe;
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Starts `nodeCount` processes n0..n{k-1}, with JADE_PEERS naming all of them or (join) n0
 * bootstrapping and the rest joining through every other member; resolves when all answer /healthz.
 */
export async function startProcessCluster(opts: StartClusterOptions): Promise<ProcessCluster> {
  const ports = await freeLoopbackPorts(opts.nodeCount * 2);
  const ids = Array.from({ length: opts.nodeCount }, (_, i) => `n${i}`);
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[2 * i]}/127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const grpcOf = (i: number) => `127.0.0.1:${ports[2 * i]}`;
  const formationOf = (i: number): { env: Record<string, string>; args: string[] } => {
    if (opts.formation !== 'join') return { env: { JADE_PEERS: peers }, args: [] };
    if (i === 0) return { env: {}, args: ['--bootstrap'] };
    return { env: {}, args: ['--join', ids.map((_, j) => grpcOf(j)).filter((_, j) => j !== i).join(',')] };
  };
  // The nodes authenticate each other as in production, though on loopback.
  const clusterSecret = opts.clusterSecret === undefined ? randomBytes(24).toString('base64url') : opts.clusterSecret;
  const rejoinOf = (i: number) => (opts.formation === 'join' && i === 0 ? { env: {}, args: ['--join', ids.map((_, j) => grpcOf(j)).filter((_, j) => j !== i).join(',')] } : null);
  const members: Member[] = ids.map((id, i) => new Member(id, ports[2 * i + 1], ports[2 * i], path.join(opts.baseDir, id), formationOf(i), opts, clusterSecret, rejoinOf(i)));
  const cluster: ProcessCluster = {
    members,
    clusterSecret,
    async addMember(id) {
      if (opts.formation !== 'join') throw new Error('addMember needs formation: join');
      const [grpcPort, restPort] = await freeLoopbackPorts(2);
      const nodeId = id ?? `n${members.length}`;
      const seeds = members.map((m) => `127.0.0.1:${m.grpcPort}`).join(',');
      const m = new Member(nodeId, restPort, grpcPort, path.join(opts.baseDir, nodeId), { env: {}, args: ['--join', seeds] }, opts, clusterSecret);
      members.push(m);
      await m.restart();
      return m;
    },
    async waitForMembers(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const views = await Promise.all(members.filter((m) => m.running()).map((m) => fetchJson(`${m.url}/v1/status`)));
        const voters = count >= 5 ? 5 : count >= 3 ? 3 : 1;
        const settled = (v: { body: any } | null) => v?.body?.joined === true && Array.isArray(v.body.members) && v.body.members.length === count && v.body.members.filter((m: { metaRole: string }) => m.metaRole === 'voter').length === voters;
        if (views.length > 0 && views.every(settled)) return;
        if (Date.now() > deadline) throw new Error(`not every running node reports ${count} members: ${JSON.stringify(views.map((v) => v?.body?.members?.map((m: { id: string; metaRole: string }) => `${m.id}:${m.metaRole}`)))}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    member(id) {
      const m = members.find((x) => x.id === id);
      if (!m) throw new Error(`no member ${id}`);
      return m;
    },
    async groups(id, timeoutMs = 2_000) {
      const m = cluster.member(id);
      if (!m.running()) return null;
      const r = await fetchJson(`${m.url}/v1/status`, { timeoutMs });
      return r?.status === 200 && Array.isArray(r.body?.groups) ? (r.body.groups as GroupStatus[]) : null;
    },
    async leaderOf(groupId) {
      let best: { term: number; leader: string } | null = null;
      for (const m of members) {
        const g = (await cluster.groups(m.id))?.find((x) => x.groupId === groupId);
        if (g && g.leader && (!best || g.term > best.term)) best = { term: g.term, leader: g.leader };
      }
      return best?.leader ?? null;
    },
    async setFaults(id, spec) {
      const m = cluster.member(id);
      if (!m.running()) return false;
      const r = await fetchJson(`${m.url}/internal/v1/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
      return r?.status === 200;
    },
    async stopAll() {
      await Promise.all(members.map((m) => m.kill9()));
    },
  };
  try {
    await Promise.all(members.map((m) => m.restart()));
  } catch (e) {
    await cluster.stopAll();
    throw e;
  }
  return cluster;
}
