// Fencing: an operator stops one member without deleting it (CloudNativePG's fencing). A fenced
// node hands off its leaderships, closes its collections and Raft groups, and keeps only its REST
// port: /healthz answers, /readyz and every data route answer 503 JADE_ERR_FENCED, so Services and
// clients move on. Its data directory stays locked and untouched, for inspection or repair. The
// fence is a file in the data directory, so it survives restarts (a fenced pod restarted by the
// kubelet comes back fenced); unfencing removes it and starts the node again in the same process.
// In a cluster a fenced member counts as down: its groups run on their other replicas, and if it
// stays fenced past the node's dead-after time its replicas are rebuilt elsewhere, as for any
// silent member.
import type { FenceControl } from './api/rest/context.js';
import type { NodeConfig } from './config.js';
import { startNode, type RunningNode, type StartOptions } from './node.js';
import type { FenceRecord } from './query/fenced-database.js';
import { FENCE_REASON_LENGTH_MAX, readFence, removeFence, writeFence } from './fence-file.js';
import { JadeError } from './util/errors.js';

export interface SupervisorOptions extends Omit<StartOptions, 'fencing'> {
  /** A restart after fencing or unfencing failed: the process should exit so it is restarted. */
  onFatal?: (e: unknown) => void;
  /** Told each switch, for the log. */
  onSwitch?: (fenced: boolean, node: RunningNode) => void;
}

/**
 * Runs one node and switches it between serving and fenced in the same process. `current` is the
 * node now listening; during a switch the port is closed for as long as the close and start take.
 */
export class NodeSupervisor implements FenceControl {
  private node!: RunningNode;
  private fence: FenceRecord | null = null;
  private switching: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly config: NodeConfig,
    private readonly options: SupervisorOptions,
  ) {}

  static async start(config: NodeConfig, options: SupervisorOptions = {}): Promise<NodeSupervisor> {
    const s = new NodeSupervisor(config, options);
    s.fence = await readFence(config.dataDir).catch(() => null);
    s.node = await startNode(config, { ...options, fencing: s });
    return s;
  }

  get current(): RunningNode {
    return this.node;
  }

  state(): FenceRecord | null {
    return this.fence;
  }

  async fenceNode(reason: string): Promise<FenceRecord> {
    if (this.closed) throw new JadeError('JADE_ERR_NOT_READY', 'node is shutting down');
    if (this.fence) return this.fence;
    const record = { fencedAtMs: Date.now(), reason: reason.slice(0, FENCE_REASON_LENGTH_MAX) || 'fenced by an operator' };
    await writeFence(this.config.dataDir, record);
    this.fence = record;
    this.restartSoon();
    return record;
  }

  async unfenceNode(): Promise<void> {
    if (this.closed) throw new JadeError('JADE_ERR_NOT_READY', 'node is shutting down');
    if (!this.fence) return;
    await removeFence(this.config.dataDir);
    this.fence = null;
    this.restartSoon();
  }

  /** After the answer has gone: close the node as it is and start it again in its new state. */
  private restartSoon(): void {
    this.switching = this.switching.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(async () => {
            try {
              if (this.closed) return;
              await this.node.close();
              if (this.closed) return;
              this.node = await startNode(this.config, { ...this.options, fencing: this });
              this.options.onSwitch?.(this.fence !== null, this.node);
            } catch (e) {
              this.options.onFatal?.(e);
            } finally {
              resolve();
            }
          }),
        ),
    );
  }

  /** Resolves once a switch in progress is over (tests). */
  settled(): Promise<void> {
    return this.switching;
  }

  async close(): Promise<void> {
    await this.switching;
    this.closed = true;
    await this.node.close();
  }
}
