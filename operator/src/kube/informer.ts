// A list+watch cache that covers client-node's known informer gaps: it restarts the watch after any error
// with exponential backoff, re-lists after 410 Gone, aborts a watch that went silent (watchdog; bookmarks
// keep a healthy one alive), and re-lists periodically so a missed event is healed within resyncMs.
import { Watch } from '@kubernetes/client-node';
import type { KubeClient, KubeObject } from './client.js';
import { resourcePath, statusCodeOf } from './client.js';

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED' | 'RESYNC';
export type InformerHandler<T> = (event: InformerEvent, object: T) => void;

export interface InformerOptions {
  kind: string;
  namespace?: string;
  labelSelector?: string;
  /** Re-list this often; every cached object is handed to the handlers again. */
  resyncMs?: number;
  /** A watch with no event and no bookmark for this long is presumed dead and restarted. */
  watchdogMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Asks the server to end each watch after this long (it is then resumed from the last resourceVersion). */
  watchTimeoutSeconds?: number;
  log?: (message: string) => void;
}

export interface InformerStats { lists: number; watches: number; errors: number; gone: number; watchdogFires: number; events: number }

/** A watch that ends faster than this without events counts as a failure (no hot reconnect loop). */
const MIN_HEALTHY_WATCH_MS = 1000;

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly stats: InformerStats = { lists: 0, watches: 0, errors: 0, gone: 0, watchdogFires: 0, events: 0 };
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly opts: Required<Omit<InformerOptions, 'namespace' | 'labelSelector'>> & Pick<InformerOptions, 'namespace' | 'labelSelector'>;
  private resourceVersion: string | undefined;
  private stopped = false;
  private abortWatch: (() => void) | undefined;
  private relistRequested = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private synced!: Promise<void>;
  private loop: Promise<void> | undefined;

  constructor(private readonly client: KubeClient, options: InformerOptions) {
    this.opts = {
      resyncMs: 30_000, watchdogMs: 90_000, backoffBaseMs: 200, backoffMaxMs: 30_000, watchTimeoutSeconds: 300,
      log: () => {}, ...options,
    };
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }
  list(): T[] {
    return [...this.cache.values()];
  }
  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  /** Starts listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    let markSynced!: () => void;
    this.synced = new Promise((resolve) => { markSynced = resolve; });
    this.loop = this.run(markSynced);
    this.resyncTimer = setInterval(() => this.requestRelist(), this.opts.resyncMs);
    this.resyncTimer.unref();
    return this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.abortWatch?.();
    this.wakeSleep?.();
    await this.loop;
  }

  /** Drops the current watch and re-lists (also used by the periodic resync). */
  requestRelist(): void {
    this.relistRequested = true;
    this.abortWatch?.();
  }

  private emit(event: InformerEvent, object: T): void {
    for (const h of this.handlers) {
      try { h(event, object); } catch (e) { this.opts.log(`${this.opts.kind} handler failed: ${String(e)}`); }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.client.list<T>(this.opts.kind, this.opts.namespace, this.opts.labelSelector);
    this.stats.lists += 1;
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (!old) this.emit('ADDED', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('MODIFIED', item);
      else this.emit('RESYNC', item);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) { this.cache.delete(key); this.emit('DELETED', old); }
    }
    this.resourceVersion = resourceVersion;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wakeSleep = undefined; resolve(); }, ms);
      this.wakeSleep = () => { clearTimeout(t); this.wakeSleep = undefined; resolve(); };
    });
  }

  private async run(markSynced: () => void): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined || this.relistRequested) {
          this.relistRequested = false;
          await this.relist();
          markSynced();
        }
        const healthy = await this.watchOnce();
        failures = healthy ? 0 : failures + 1;
        if (!healthy) await this.sleep(backoffMs(failures, this.opts.backoffBaseMs, this.opts.backoffMaxMs));
      } catch (e) {
        if (this.stopped) break;
        if (statusCodeOf(e) === 410) {
          // Our resourceVersion is too old: start over from a fresh list.
          this.stats.gone += 1;
          this.resourceVersion = undefined;
          this.opts.log(`${this.opts.kind} watch: 410 Gone, re-listing`);
          continue;
        }
        this.stats.errors += 1;
        failures += 1;
        const wait = backoffMs(failures, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
        this.opts.log(`${this.opts.kind} list/watch failed (${String((e as Error)?.message ?? e)}), retry in ${wait} ms`);
        await this.sleep(wait);
      }
    }
  }

  /** One watch from the current resourceVersion. Resolves true if it ended after working, false if it ended at once. */
  private watchOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const startedAt = Date.now();
      let sawEvent = false;
      let finished = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(watchdog);
        this.abortWatch = undefined;
        controller?.abort();
        if (err) reject(err);
        else resolve(sawEvent || Date.now() - startedAt >= MIN_HEALTHY_WATCH_MS);
      };
      const armWatchdog = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          this.stats.watchdogFires += 1;
          this.opts.log(`${this.opts.kind} watch silent for ${this.opts.watchdogMs} ms, restarting`);
          finish();
        }, this.opts.watchdogMs);
      };
      this.abortWatch = () => finish();
      if (this.stopped || this.relistRequested) { finish(); return; }
      armWatchdog();
      this.stats.watches += 1;
      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds,
        labelSelector: this.opts.labelSelector,
      };
      new Watch(this.client.config).watch(resourcePath(this.opts.kind, this.opts.namespace), query, (type, object: any) => {
        if (finished) return;
        armWatchdog();
        if (type === 'ERROR') {
          const code = Number(object?.code ?? 500);
          finish(Object.assign(new Error(`watch error ${code}: ${object?.message ?? ''}`), { statusCode: code }));
          return;
        }
        const rv = object?.metadata?.resourceVersion as string | undefined;
        if (type === 'BOOKMARK') { if (rv) this.resourceVersion = rv; return; }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        sawEvent = true;
        this.stats.events += 1;
        const item = { ...object, kind: object.kind ?? this.opts.kind } as T;
        if (rv) this.resourceVersion = rv;
        const key = keyOf(item);
        if (type === 'DELETED') this.cache.delete(key);
        else this.cache.set(key, item);
        this.emit(type, item);
      }, (err) => finish(err ?? undefined)).then((c) => {
        controller = c;
        if (finished) c.abort();
      }, (err) => finish(err));
    });
  }
}
