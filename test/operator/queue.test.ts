// Checks the controller work queue: de-duplication of waiting keys, no concurrent processing of one key,
// exponential per-key retry delays with a cap and reset, the bound on distinct keys, and shutdown.
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../operator/src/reconcile/queue.js';
import { backoffMs } from '../../operator/src/kube/informer.js';
import { JadeError } from '../../node/src/util/errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('stores a waiting key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('ns/a'); q.add('ns/a'); q.add('ns/b'); q.add('ns/a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.depth).toBe(0);
  });

  it('never hands out a key that is being processed; an add during processing re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('k');
    const first = await q.get();
    q.add('k');
    expect(q.depth).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => { second = k; });
    await sleep(5);
    expect(second).toBeUndefined();
    q.done(first!);
    await sleep(0);
    expect(second).toBe('k');
  });

  it('retries with exponential per-key delays, capped, and forget() resets them', () => {
    const q = new WorkQueue({ retryBaseMs: 100, retryMaxMs: 1000 });
    expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('x'))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.addRateLimited('y')).toBe(100);
    q.forget('x');
    expect(q.addRateLimited('x')).toBe(100);
    q.shutDown();
  });

  it('delivers a delayed key after its delay, and an explicit add cancels the delay', async () => {
    const q = new WorkQueue({ retryBaseMs: 30 });
    q.addRateLimited('late');
    expect(q.depth).toBe(0);
    expect(q.delayedCount).toBe(1);
    await sleep(80);
    expect(q.depth).toBe(1);
    q.addAfter('other', 10_000);
    q.add('other');
    expect(q.delayedCount).toBe(0);
    expect(q.depth).toBe(2);
  });

  it('bounds the number of distinct keys', () => {
    const q = new WorkQueue({ keysMax: 2 });
    q.add('a'); q.add('b');
    q.add('a');
    expect(() => q.add('c')).toThrow(JadeError);
    try { q.add('c'); } catch (e) { expect((e as JadeError).code).toBe('JADE_ERR_QUEUE_FULL'); }
  });

  it('shutDown releases waiting workers with undefined', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('ignored');
    expect(q.depth).toBe(0);
  });
});

describe('informer backoff', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffMs(n, 200, 1500))).toEqual([200, 400, 800, 1500, 1500]);
  });
});
