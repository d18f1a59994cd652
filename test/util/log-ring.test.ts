import { describe, expect, it } from 'vitest';
import { LOG_LINE_CHARS_MAX, LogRing } from '../../node/src/util/log-ring.js';

describe('LogRing', () => {
  it('keeps the newest lines within its line bound, oldest first, counting what it dropped', () => {
    const ring = new LogRing(3, 1_000);
    for (let i = 0; i < 10; i++) ring.push(`{"n":${i}}\n`);
    expect(ring.snapshot()).toEqual(['{"n":7}', '{"n":8}', '{"n":9}']);
    expect(ring.dropped).toBe(7);
  });

  it('keeps within its character bound, splits chunks into lines, and cuts an over-long line', () => {
    const ring = new LogRing(100, 25);
    ring.push('aaaaaaaaaa\nbbbbbbbbbb\n');
    ring.push('cccccccccc\n');
    expect(ring.snapshot()).toEqual(['bbbbbbbbbb', 'cccccccccc']);
    const big = new LogRing();
    big.push('x'.repeat(LOG_LINE_CHARS_MAX + 10));
    expect(big.snapshot()[0].length).toBeLessThan(LOG_LINE_CHARS_MAX + 10);
    expect(big.snapshot()[0].endsWith('(cut)')).toBe(true);
  });

  it('stays correct across many compactions', () => {
    const ring = new LogRing(5, 1 << 20);
    for (let i = 0; i < 1_000; i++) ring.push(`l${i}`);
    expect(ring.snapshot()).toEqual(['l995', 'l996', 'l997', 'l998', 'l999']);
  });
});
