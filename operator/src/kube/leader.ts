// Leader election on a coordination.k8s.io/v1 Lease, the client-go way: the holder renews every
// retryPeriodMs; a candidate takes over only when the record it last saw has not changed for
// leaseDurationMs by its own clock (no cross-machine clock comparison); writes use resourceVersion so two
// candidates racing for an expired lease cannot both win; a leader that cannot renew within renewDeadlineMs
// steps down.
import type { KubeClient, KubeObject } from './client.js';
import { isConflict, isNotFound } from './client.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log?: (message: string) => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

const RELEASE_ATTEMPTS_MAX = 3;

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private observedRecord = '';
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly log: (m: string) => void;

  constructor(private readonly client: KubeClient, private readonly opts: LeaderElectionOptions) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('assertion failed: leaseDuration > renewDeadline > retryPeriod');
    }
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      this.inflight = this.tryAcquireOrRenew();
      await this.inflight;
      if (!this.stopped) this.timer = setTimeout(tick, this.retryPeriodMs);
    };
    void tick();
  }

  /** Stops campaigning; with release the lease is handed back at once (a clean shutdown). */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal may be in flight; releasing before it lands would lose the race to our own write.
    await this.inflight;
    for (let attempt = 1; this.leading && release && attempt <= RELEASE_ATTEMPTS_MAX; attempt++) {
      try {
        const lease = await this.client.get<Lease>('Lease', this.opts.namespace, this.opts.name);
        if (lease.spec?.holderIdentity === this.opts.identity) {
          await this.client.replace({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) } });
        }
        break;
      } catch (e) {
        if (!isConflict(e) || attempt === RELEASE_ATTEMPTS_MAX) this.log(`releasing lease failed: ${String(e)}`);
      }
    }
    this.setLeading(false);
  }

  private setLeading(value: boolean): void {
    if (value === this.leading) return;
    this.leading = value;
    this.log(value ? `${this.opts.identity} became leader` : `${this.opts.identity} stopped leading`);
    if (value) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.now();
    const me = this.opts.identity;
    const leaseSeconds = Math.ceil(this.leaseDurationMs / 1000);
    try {
      const lease = await this.client.getOrUndefined<Lease>('Lease', this.opts.namespace, this.opts.name);
      if (!lease) {
        await this.client.create<Lease>({
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: me, leaseDurationSeconds: leaseSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
        this.renewed(now);
        return;
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime]);
      if (record !== this.observedRecord) { this.observedRecord = record; this.observedAtMs = now; }
      const holder = spec.holderIdentity ?? '';
      const heldByOther = holder !== '' && holder !== me;
      const expired = this.observedAtMs + (spec.leaseDurationSeconds ?? leaseSeconds) * 1000 <= now;
      if (heldByOther && !expired) { this.checkDeadline(now); return; }
      const takeover = holder !== me;
      await this.client.replace<Lease>({
        ...lease,
        spec: {
          ...spec, holderIdentity: me, leaseDurationSeconds: leaseSeconds, renewTime: microTime(now),
          ...(takeover ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      });
      this.renewed(now);
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) this.log(`lease ${this.opts.namespace}/${this.opts.name}: ${String((e as Error).message ?? e)}`);
      this.checkDeadline(now);
    }
  }

  private renewed(now: number): void {
    this.lastRenewMs = now;
    this.setLeading(true);
  }

  private checkDeadline(now: number): void {
    if (this.leading && now - this.lastRenewMs > this.renewDeadlineMs) this.setLeading(false);
    else if (this.leading && this.observedRecord && !this.observedRecord.includes(JSON.stringify(this.opts.identity))) this.setLeading(false);
  }
}
