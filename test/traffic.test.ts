/**
 * The load generator (src/drill/traffic.ts) against a server on 127.0.0.1
 * that is made to fail for a while: the outage it measures must be the one
 * the server gave it. The server runs in this process, so its arrival times
 * and the generator's send times are on the same clock.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Traffic } from '../src/drill/traffic.js';

type Mode = 'ok' | 'down' | 'hang';
let mode: Mode = 'ok';
let server: http.Server;
let port: number;
/** Every request the server got: when it arrived, and whether it was answered 200. */
let arrivals: { at: number; ok: boolean }[] = [];
/** The URL of every request, in arrival order. */
let urls: string[] = [];
const hanging: http.ServerResponse[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    arrivals.push({ at: performance.now(), ok: mode === 'ok' });
    if (mode === 'ok') return res.end('<html>home</html>');
    if (mode === 'down') {
      res.statusCode = 503;
      return res.end('no server is available');
    }
    hanging.push(res); // a backend that took the connection and never answers
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  mode = 'ok';
  arrivals = [];
  urls = [];
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EVERY = 50;

/** What the server's own log says the outage was: from the first request it failed to the first it answered after that. */
function outageSeenByServer(): number {
  const firstFail = arrivals.findIndex((a) => !a.ok);
  const nextOk = arrivals.findIndex((a, i) => i > firstFail && a.ok);
  return arrivals[nextOk]!.at - arrivals[firstFail]!.at;
}

describe('Traffic', () => {
  it('asks a URL of its own each time (past any page cache, so the page is rendered from the database)', async () => {
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 400 });
    t.start();
    await wait(300);
    await t.stop();
    expect(urls.length).toBeGreaterThanOrEqual(3);
    expect(new Set(urls).size).toBe(urls.length);
    for (const u of urls) expect(u).toMatch(/^\/\?hawp-visit=\d+$/);
    const q = new Traffic({ host: '127.0.0.1', port, path: '/?p=1', everyMs: EVERY, limitMs: 400 });
    urls = [];
    q.start();
    await wait(120);
    await q.stop();
    expect(urls[0]).toMatch(/^\/\?p=1&hawp-visit=\d+$/);
  });

  it('measures a 503 outage as long as the server gave it (to one request interval), and nothing before or after', async () => {
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 400 });
    const from = performance.now();
    t.start();
    await wait(500);
    mode = 'down';
    const downAt = performance.now();
    await wait(1000);
    mode = 'ok';
    const upAt = performance.now();
    await wait(500);
    await t.stop();
    const to = performance.now();

    const m = t.measure(from, to);
    expect(Math.abs(m.longestOutageMs - outageSeenByServer())).toBeLessThanOrEqual(25);
    expect(Math.abs(m.longestOutageMs - (upAt - downAt))).toBeLessThanOrEqual(EVERY + 40);
    expect(m.failed).toBe(arrivals.filter((a) => !a.ok).length);
    expect(m.requests).toBe(arrivals.length);
    // The calm windows on either side measure no outage at all.
    expect(t.measure(from, downAt - 10).longestOutageMs).toBe(0);
    expect(t.measure(upAt + EVERY + 40, to).failed).toBe(0);
  });

  it('counts requests that get no answer within the limit as failed, and keeps its schedule while they hang (open loop)', async () => {
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 300 });
    const from = performance.now();
    t.start();
    await wait(300);
    mode = 'hang';
    const downAt = performance.now();
    await wait(1000);
    mode = 'ok';
    const upAt = performance.now();
    await wait(400);
    await t.stop();
    const to = performance.now();

    const m = t.measure(from, to);
    expect(Math.abs(m.longestOutageMs - (upAt - downAt))).toBeLessThanOrEqual(EVERY + 40);
    expect(Math.abs(m.longestOutageMs - outageSeenByServer())).toBeLessThanOrEqual(25);
    // One request every 50 ms went out while none came back: about 20 in the second, not 1000/300.
    const sentWhileHanging = arrivals.filter((a) => a.at >= downAt && a.at < upAt).length;
    expect(sentWhileHanging).toBeGreaterThanOrEqual(14);
    expect(m.failed).toBe(sentWhileHanging);
  });

  it('counts an outage still going on at the end of the window up to its end', async () => {
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 300 });
    const from = performance.now();
    t.start();
    await wait(300);
    mode = 'down';
    const downAt = performance.now();
    await wait(600);
    await t.stop();
    const to = performance.now();
    expect(Math.abs(t.measure(from, to).longestOutageMs - (to - downAt))).toBeLessThanOrEqual(EVERY + 40);
  });

  it('stop() waits for the requests in flight, so every request sent is in the log; none is sent after it', async () => {
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 300 });
    t.start();
    await wait(200);
    mode = 'hang';
    await wait(200);
    const stopping = performance.now();
    await t.stop();
    expect(performance.now() - stopping).toBeGreaterThan(100); // it did wait for the hanging ones
    const sent = arrivals.length;
    expect(t.measure(0, Infinity).requests).toBe(sent);
    await wait(200);
    expect(arrivals.length).toBe(sent);
  });

  it('sends nothing more once its signal is aborted', async () => {
    const c = new AbortController();
    const t = new Traffic({ host: '127.0.0.1', port, everyMs: EVERY, limitMs: 300, signal: c.signal });
    t.start();
    await wait(300);
    c.abort();
    await wait(EVERY + 20);
    const sent = arrivals.length;
    expect(sent).toBeGreaterThan(0);
    await wait(300);
    expect(arrivals.length).toBe(sent);
    await t.stop();
  });
});
