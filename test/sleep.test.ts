/** The one wait (src/util/sleep.ts): it waits, and an abort ends it at once with a typed error. */
import { describe, expect, it, vi } from 'vitest';
import { CancelledError } from '../src/errors.js';
import { sleep } from '../src/util/sleep.js';

describe('sleep', () => {
  it('resolves after the time given, not before', async () => {
    const t = performance.now();
    await sleep(120);
    expect(performance.now() - t).toBeGreaterThanOrEqual(115);
  });

  it('ends at once when its signal is aborted, with the reason given to abort()', async () => {
    const c = new AbortController();
    const t = performance.now();
    const waiting = sleep(10_000, c.signal);
    setTimeout(() => c.abort(new CancelledError('drill interrupted')), 50);
    await expect(waiting).rejects.toThrow('drill interrupted');
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('rejects before waiting at all when the signal is already aborted', async () => {
    const c = new AbortController();
    c.abort('not an Error');
    const t = performance.now();
    await expect(sleep(10_000, c.signal)).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - t).toBeLessThan(100);
  });

  it('clears its timer when aborted, so a Ctrl-C does not leave the process waiting it out', async () => {
    vi.useFakeTimers();
    try {
      const c = new AbortController();
      const p = sleep(60_000, c.signal).catch((e: unknown) => e);
      expect(vi.getTimerCount()).toBe(1);
      c.abort();
      expect(vi.getTimerCount()).toBe(0);
      expect(await p).toBeInstanceOf(Error);
    } finally {
      vi.useRealTimers();
    }
  });
});
