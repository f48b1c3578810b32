/**
 * The status watcher (src/drill/watch.ts) with a probe whose answers the test
 * decides: when a failure is first reported, probes that overlap, and the
 * wait for health.
 */
import { describe, expect, it } from 'vitest';
import { FailureWatch, untilHealthy, type Health } from '../src/drill/watch.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const healthy: Health = { healthy: true, problems: [] };
const broken: Health = { healthy: false, problems: ['s-db-01: mariadb is down', 'galera: 2 of 3 nodes'] };

describe('FailureWatch', () => {
  it('reports the time from its start to the first probe that sees the failure, once, and then stops probing', async () => {
    const brokenAt = performance.now() + 250;
    let calls = 0;
    const seen: [number, Health][] = [];
    const since = performance.now();
    const w = new FailureWatch(
      async () => {
        calls++;
        return performance.now() >= brokenAt ? broken : healthy;
      },
      { since, everyMs: 40, onDetected: (s, h) => seen.push([s, h]) },
    );
    expect(w.detectedS).toBeNull();
    await wait(500);
    expect(w.detectedS).not.toBeNull();
    expect(w.detectedS!).toBeGreaterThanOrEqual(0.25);
    expect(w.detectedS!).toBeLessThan(0.25 + 0.04 + 0.15); // one interval, and room for a busy machine
    expect(seen).toEqual([[w.detectedS, broken]]);
    const after = calls;
    await wait(150);
    expect(calls).toBe(after);
    await w.stop();
  });

  it('starts a new probe every interval while earlier ones still run (up to its limit), so one slow run does not hide what the next one sees', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const since = performance.now();
    const w = new FailureWatch(
      async () => {
        const n = ++calls;
        running++;
        most = Math.max(most, running);
        // The first run hangs for 600 ms (a node caught mid-shutdown); the second, started 50 ms later, sees the failure.
        await wait(n === 1 ? 600 : 10);
        running--;
        return n === 1 ? healthy : broken;
      },
      { since, everyMs: 50, maxInFlight: 3 },
    );
    await wait(200);
    expect(w.detectedS).not.toBeNull();
    expect(w.detectedS!).toBeLessThan(0.2);
    expect(most).toBe(2);
    await w.stop();
    expect(running).toBe(0); // stop() waited for the slow one
  });

  it('never has more probes running than its limit', async () => {
    let running = 0;
    let most = 0;
    const w = new FailureWatch(
      async () => {
        running++;
        most = Math.max(most, running);
        await wait(300);
        running--;
        return healthy;
      },
      { since: performance.now(), everyMs: 20, maxInFlight: 3 },
    );
    await wait(250);
    await w.stop();
    expect(most).toBe(3);
    expect(w.detectedS).toBeNull();
  });

  it('takes a probe that throws as no report', async () => {
    let calls = 0;
    const w = new FailureWatch(
      async () => {
        if (++calls < 3) throw new Error('ssh: timed out');
        return broken;
      },
      { since: performance.now(), everyMs: 20 },
    );
    await wait(200);
    expect(calls).toBe(3);
    expect(w.detectedS).not.toBeNull();
    await w.stop();
  });

  it('ends at once on abort, without waiting for the probes still running', async () => {
    const c = new AbortController();
    const w = new FailureWatch(
      async () => {
        await wait(2000);
        return healthy;
      },
      { since: performance.now(), everyMs: 20, signal: c.signal },
    );
    await wait(50);
    c.abort();
    const t = performance.now();
    await w.stop();
    expect(performance.now() - t).toBeLessThan(500);
  });
});

describe('untilHealthy', () => {
  it('returns the seconds since the given moment at the first healthy report', async () => {
    let calls = 0;
    const since = performance.now();
    const s = await untilHealthy(async () => (++calls >= 3 ? healthy : broken), { since, limitMs: 5000, everyMs: 50 });
    expect(calls).toBe(3);
    expect(s).not.toBeNull();
    // Two waits of 50 ms between three probes. Node's timers count whole
    // milliseconds and can fire up to 1 ms early by performance.now(), so the
    // floor allows 1 ms per wait (a CI run measured 0.0998 s).
    expect(s!).toBeGreaterThanOrEqual(0.098);
    expect(s!).toBeLessThan(1);
  });

  it('gives up with null once the limit has passed', async () => {
    const t = performance.now();
    expect(await untilHealthy(async () => broken, { since: t, limitMs: 200, everyMs: 30 })).toBeNull();
    expect(performance.now() - t).toBeGreaterThanOrEqual(200);
    expect(performance.now() - t).toBeLessThan(600);
  });

  it('gives up with null at once when aborted', async () => {
    const c = new AbortController();
    const t = performance.now();
    setTimeout(() => c.abort(), 60);
    expect(await untilHealthy(async () => broken, { since: t, limitMs: 10_000, everyMs: 1000, signal: c.signal })).toBeNull();
    expect(performance.now() - t).toBeLessThan(500);
  });
});
