/// <reference path="./support/fake-do-api.d.ts" />
/**
 * The real DigitalOcean client (@digitalocean/dots over Kiota, with our
 * retrying fetch) against a stand-in DigitalOcean API on 127.0.0.1.
 * Listing regions and sizes here also guards the Kiota pin: with Kiota
 * 1.0.0-preview.109 every array-of-strings field fails to deserialize.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type DoApi } from '../src/digitalocean/client.js';
import { retryAfterMs } from '../src/digitalocean/http.js';
import { UserError } from '../src/errors.js';
import { md5Fingerprint, newKeyPair } from '../src/ssh/keys.js';
import { DEFAULT_TOKEN, defaultKeys, defaultRegions, defaultSizes, startFakeDoApi, type FakeDoApi, type FakeDoApiOptions } from './support/fake-do-api.mjs';

let api: FakeDoApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const sleeps: number[] = [];
async function client(options: FakeDoApiOptions = {}, token = DEFAULT_TOKEN, policy = {}): Promise<DoApi> {
  api = await startFakeDoApi(options);
  sleeps.length = 0;
  return connect({
    token,
    apiUrl: api.url,
    policy: { sleep: async (ms: number) => void sleeps.push(ms), timeoutMs: 2000, ...policy },
  });
}

describe('DigitalOcean client against a loopback stand-in API', () => {
  it('walks every page of regions, sizes and keys (array-of-string fields included)', async () => {
    const c = await client({ perPageCap: 3 });
    const [regions, sizes, keys] = await Promise.all([c.regions(), c.sizes(), c.sshKeys()]);
    expect(regions.map((r) => r.slug)).toEqual(defaultRegions().map((r) => r.slug));
    expect(regions.find((r) => r.slug === 'syd1')?.sizes.length).toBeGreaterThan(0);
    expect(sizes.map((s) => s.slug)).toEqual(defaultSizes().map((s) => s.slug));
    expect(sizes.find((s) => s.slug === 's-2vcpu-4gb')).toMatchObject({ priceMonthly: 24, available: true });
    expect(sizes.find((s) => s.slug === 's-2vcpu-4gb')?.regions).toContain('fra1');
    expect(keys.map((k) => k.fingerprint)).toEqual(defaultKeys().map((k) => k.fingerprint));
    const regionPages = api!.requests.filter((r) => r.path === '/v2/regions').map((r) => r.query.page);
    expect(regionPages).toEqual(['1', '2', '3', '4', '5']);
    expect(api!.requests.every((r) => r.authorization === `Bearer ${DEFAULT_TOKEN}`)).toBe(true);
  });

  it("lists the account's DNS domains across pages, lower case", async () => {
    const c = await client({ perPageCap: 2, domains: ['example.com', 'Shop.Example.org', 'blog.example.net'] });
    expect(await c.domains()).toEqual(['example.com', 'shop.example.org', 'blog.example.net']);
    expect(api!.requests.filter((r) => r.path === '/v2/domains').map((r) => r.query.page)).toEqual(['1', '2']);
  });

  it('reads the account and counts droplets', async () => {
    const c = await client({ account: { droplet_limit: 10 }, dropletCount: 7 });
    expect(await c.account()).toMatchObject({ dropletLimit: 10, status: 'active', email: 'sammy@example.com' });
    expect(await c.dropletCount()).toBe(7);
  });

  it('a 401 becomes one line naming the token flag', async () => {
    const c = await client({}, 'dop_v1_' + 'b'.repeat(64));
    const err = await c.account().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/refused the API token \(401\).*--token \/ DIGITALOCEAN_TOKEN/);
    expect((err as Error).message).not.toContain('b'.repeat(64));
    expect((err as Error).message.split('\n')).toHaveLength(1);
  });

  it('a 403 says which scope is missing', async () => {
    const token = 'dop_v1_' + 'c'.repeat(64);
    const c = await client({ tokens: [token], forbiddenTokens: [token] }, token);
    await expect(c.regions()).rejects.toThrow(/\(403\).*read and write scope/);
  });

  it('a 429 is retried after the Retry-After the server gave', async () => {
    const c = await client({ rateLimitOnce: { path: '/v2/sizes', retryAfter: 3 } });
    expect((await c.sizes()).length).toBeGreaterThan(0);
    expect(sleeps).toEqual([3000]);
    expect(
      api!.requests
        .filter((r) => r.path === '/v2/sizes')
        .map((r) => r.status)
        .slice(0, 2),
    ).toEqual([429, 200]);
  });

  it('a 5xx on a read is retried with backoff', async () => {
    const c = await client({ failOnce: { path: '/v2/account', status: 503 } });
    expect((await c.account()).status).toBe('active');
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(500);
  });

  it('gives up after the attempts with one clear line', async () => {
    const c = await client(
      {
        failOnce: [
          { path: '/v2/account', status: 500 },
          { path: '/v2/account', status: 502 },
        ],
      },
      DEFAULT_TOKEN,
      { attempts: 2 },
    );
    await expect(c.account()).rejects.toThrow(/answered 502 while checking the token/);
  });

  it('a call that never answers times out, naming the API URL', async () => {
    const c = await client({ delayMs: { '/v2/account': 5000 } }, DEFAULT_TOKEN, { timeoutMs: 300, attempts: 2 });
    const t0 = Date.now();
    await expect(c.account()).rejects.toThrow(/did not answer within 0.3 s.*--api-url/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a hung API: the wait and each retry are reported as they happen, and the request gives up within its budget, naming the API URL', async () => {
    const lines: { at: number; line: string }[] = [];
    let t0 = Date.now();
    api = await startFakeDoApi({ delayMs: { '/v2/account': 10_000 } });
    const c = await connect({
      token: DEFAULT_TOKEN,
      apiUrl: api.url,
      log: { info: (line) => lines.push({ at: Date.now() - t0, line }) },
      // Tries of 0.4 s and pauses of 0.1 s, 0.2 s, 0.4 s… (not slept): the third try ends at 1.2 s, and the third pause would pass 1.4 s.
      policy: { sleep: async () => undefined, timeoutMs: 400, totalMs: 1400, baseDelayMs: 100, slowAfterMs: 200, attempts: 5 },
    });
    t0 = Date.now();
    const err = (await c.account().catch((e: unknown) => e)) as Error;
    const took = Date.now() - t0;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.message).toMatch(/did not answer within 0.4 s \(3 tries, 1\.\d s in all\) while checking the token.*: .*--api-url/);
    expect(err.message).toContain(api.url);
    expect(took).toBeLessThan(1800);
    const slow = `DigitalOcean API (${api.url}): no answer yet after 0.2 s; waiting up to 0.4 s…`;
    expect(lines.map((l) => l.line)).toEqual([
      slow,
      'DigitalOcean API: no answer within 0.4 s; try 2 of 5 in 0.1 s (giving up after 1.4 s in all)',
      slow,
      'DigitalOcean API: no answer within 0.4 s; try 3 of 5 in 0.2 s (giving up after 1.4 s in all)',
      slow,
    ]);
    // As they happen: the first retry is announced when the first try ends, long before the error.
    expect(lines[1]!.at).toBeLessThan(took - 400);
  });

  it('parallel calls to a hung API share one line per wait and retry', async () => {
    const lines: string[] = [];
    api = await startFakeDoApi({ delayMs: { '/v2/account': 10_000, '/v2/regions': 10_000, '/v2/sizes': 10_000 } });
    const c = await connect({
      token: DEFAULT_TOKEN,
      apiUrl: api.url,
      log: { info: (line) => lines.push(line) },
      policy: { sleep: async () => undefined, timeoutMs: 300, totalMs: 1000, slowAfterMs: 100, attempts: 2 },
    });
    const results = await Promise.allSettled([c.account(), c.regions(), c.sizes()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(lines.filter((l) => l.includes('try 2 of 2'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('no answer yet'))).toHaveLength(2);
  });

  it.each([
    ['negative', '-5', 1000, 1000],
    ['zero', '0', 1000, 1000],
    ['a fraction', '1.5', 1500, 1500],
    ['not a number', 'soon', 1000, 1250],
    ['a date in the past', 'Wed, 21 Oct 2015 07:28:00 GMT', 1000, 1000],
    ['a day', '86400', 30_000, 30_000],
    ['absurd', '99999999999999999999', 30_000, 30_000],
  ])('a Retry-After that is %s (%s) is clamped to 1..30 s, and the call still succeeds', async (_what, header, min, max) => {
    const lines: string[] = [];
    api = await startFakeDoApi({ rateLimitOnce: { path: '/v2/sizes', retryAfter: header } });
    const waits: number[] = [];
    const c = await connect({
      token: DEFAULT_TOKEN,
      apiUrl: api.url,
      log: { info: (l) => lines.push(l) },
      policy: { sleep: async (ms) => void waits.push(ms) },
    });
    expect((await c.sizes()).length).toBeGreaterThan(0);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(min);
    expect(waits[0]).toBeLessThanOrEqual(max);
    expect(lines).toEqual([expect.stringMatching(/^DigitalOcean API: rate limited \(HTTP 429\); try 2 of 5 in \d/)]);
  });

  it('a Retry-After date 10 s ahead is waited for', async () => {
    api = await startFakeDoApi({ rateLimitOnce: { path: '/v2/sizes', retryAfter: new Date(Date.now() + 10_000).toUTCString() } });
    const waits: number[] = [];
    const c = await connect({ token: DEFAULT_TOKEN, apiUrl: api.url, policy: { sleep: async (ms) => void waits.push(ms) } });
    expect((await c.sizes()).length).toBeGreaterThan(0);
    expect(waits[0]).toBeGreaterThan(7000);
    expect(waits[0]).toBeLessThanOrEqual(10_000);
  });

  it('a pause that would run past the budget is not taken: the answer is reported at once', async () => {
    api = await startFakeDoApi({ rateLimitOnce: { path: '/v2/sizes', retryAfter: 20 } });
    const waits: number[] = [];
    const c = await connect({ token: DEFAULT_TOKEN, apiUrl: api.url, policy: { sleep: async (ms) => void waits.push(ms), totalMs: 10_000 } });
    await expect(c.sizes()).rejects.toThrow(/rate limit was hit \(429\)/);
    expect(waits).toEqual([]);
  });

  it('a refused connection is a network error naming --api-url', async () => {
    const c = await client();
    const url = api!.url;
    await api!.close();
    api = undefined;
    const c2 = await connect({ token: DEFAULT_TOKEN, apiUrl: url, policy: { sleep: async () => undefined, attempts: 2 } });
    void c;
    await expect(c2.account()).rejects.toThrow(/cannot reach the DigitalOcean API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*--api-url/);
  });

  it('uploads a new key once, and finds a key already on the last page without uploading', async () => {
    const c = await client({ perPageCap: 3 });
    const mine = defaultKeys()[3]!; // on page 2 with a cap of 3
    const found = await c.ensureSshKey('x', mine.public_key, mine.fingerprint);
    expect(found).toMatchObject({ uploaded: false, key: { fingerprint: mine.fingerprint } });
    expect(api!.requests.filter((r) => r.method === 'POST')).toHaveLength(0);

    const pub = (await newKeyPair('new@test')).public;
    const up = await c.ensureSshKey('new key', pub, md5Fingerprint(pub));
    expect(up.uploaded).toBe(true);
    expect(api!.keys.filter((k) => k.fingerprint === md5Fingerprint(pub))).toHaveLength(1);
  });

  it('never POSTs twice: when the upload answer is lost but the key landed, it is found by fingerprint', async () => {
    const c = await client();
    const pub = (await newKeyPair('race@test')).public;
    const fp = md5Fingerprint(pub);
    // Another run uploaded it after our listing: our POST gets 422 "already in use".
    api!.keys.push({ id: 999, name: 'other run', fingerprint: fp, public_key: pub });
    const r = await c.ensureSshKey('mine', pub, fp, []);
    expect(r.key.id).toBe(999);
    expect(api!.requests.filter((q) => q.method === 'POST')).toHaveLength(1);
  });
});

describe('Retry-After parsing', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfterMs('garbage')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });

  it('reads what V8 would take for a date as what it says: "-5" is -5 s, "1.5" is 1.5 s', () => {
    expect(retryAfterMs('-5')).toBe(-5000);
    expect(retryAfterMs('1.5')).toBe(1500);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT')).toBeLessThan(0);
    expect(retryAfterMs('2015')).toBe(2_015_000);
    expect(retryAfterMs('next tuesday')).toBeUndefined();
  });
});
