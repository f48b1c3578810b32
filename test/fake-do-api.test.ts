/// <reference path="./support/fake-do-api.d.ts" />
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TOKEN,
  defaultKeys,
  startFakeDoApi,
  type DoPageLinks,
  type DoRegion,
  type DoSize,
  type DoSshKey,
  type FakeDoApi,
  type FakeDoApiOptions,
} from './support/fake-do-api.mjs';
import { needs } from './support/tools.js';
import { issue, newCa, type KeyPair } from '../src/secrets/pki.js';

const AUTH = { authorization: `Bearer ${DEFAULT_TOKEN}` };

let api: FakeDoApi | undefined;
async function start(options?: FakeDoApiOptions): Promise<FakeDoApi> {
  api = await startFakeDoApi(options);
  return api;
}
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function getJson(url: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(url, { headers });
  return { res, body: (await res.json()) as any };
}

/** Follows `links.pages.next` from `firstUrl`; returns every page body. */
async function walk(firstUrl: string): Promise<any[]> {
  const pages: any[] = [];
  let next: string | undefined = firstUrl;
  while (next) {
    const { res, body } = await getJson(next);
    expect(res.status).toBe(200);
    pages.push(body);
    next = (body.links.pages as DoPageLinks).next;
    expect(pages.length).toBeLessThan(50);
  }
  return pages;
}

function pageParams(link: string | undefined, base: string): { page: number; perPage: number } {
  expect(link).toBeDefined();
  const u = new URL(link!);
  expect(`${u.protocol}//${u.host}`).toBe(base);
  return { page: Number(u.searchParams.get('page')), perPage: Number(u.searchParams.get('per_page')) };
}

// --- OpenSSH public key helpers (independent of the module under test) ------

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}
function sshMpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return sshString((trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}
function openSshLine(publicKey: KeyObject, comment: string): string {
  const jwk = publicKey.export({ format: 'jwk' });
  let blob: Buffer;
  let type: string;
  if (jwk.kty === 'OKP') {
    type = 'ssh-ed25519';
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(jwk.x!, 'base64url'))]);
  } else {
    type = 'ssh-rsa';
    blob = Buffer.concat([sshString(Buffer.from(type)), sshMpint(Buffer.from(jwk.e!, 'base64url')), sshMpint(Buffer.from(jwk.n!, 'base64url'))]);
  }
  return `${type} ${blob.toString('base64')} ${comment}`;
}

function hasSshKeygen(): boolean {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // `ssh-keygen -?` exits non-zero but exists; ENOENT means it is not on PATH.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
const SSH_KEYGEN = hasSshKeygen();

/** Reference MD5 fingerprint: ssh-keygen when available, node:crypto otherwise. */
function referenceMd5(line: string): string {
  if (SSH_KEYGEN) {
    const dir = mkdtempSync(join(tmpdir(), 'fake-do-api-'));
    try {
      const file = join(dir, 'key.pub');
      writeFileSync(file, line + '\n');
      const out = execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', file], { encoding: 'utf8' });
      const m = /MD5:((?:[0-9a-f]{2}:){15}[0-9a-f]{2})/.exec(out);
      expect(m, out).not.toBeNull();
      return m![1]!;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const blob = Buffer.from(line.split(/\s+/)[1]!, 'base64');
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

// ---------------------------------------------------------------------------

describe('fake DigitalOcean API: server basics', () => {
  it('listens on 127.0.0.1 with a random port and no trailing slash', async () => {
    const a = await start();
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${a.url}/v2/account`, { headers: AUTH })).status).toBe(200);
    // Not reachable through any other (non-loopback) address of this machine.
    const port = new URL(a.url).port;
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      await expect(fetch(`http://${external.address}:${port}/v2/account`, { headers: AUTH, signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    }
    const b = await startFakeDoApi();
    try {
      expect(b.url).not.toBe(a.url);
    } finally {
      await b.close();
    }
  });

  it('GET /v2/account answers the real account shape with DO headers', async () => {
    const a = await start();
    const { res, body } = await getJson(`${a.url}/v2/account`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('ratelimit-limit')).toBe('5000');
    expect(Number(res.headers.get('ratelimit-remaining'))).toBeLessThan(5000);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(body).toEqual({
      account: {
        droplet_limit: 25,
        floating_ip_limit: 3,
        reserved_ip_limit: 3,
        volume_limit: 100,
        email: 'sammy@example.com',
        email_verified: true,
        uuid: 'b6fr89dbf6d9156cace5f3c78dc9851d957381ef',
        status: 'active',
        status_message: '',
        team: { uuid: expect.any(String), name: 'My Team' },
      },
    });
  });

  it('merges account overrides', async () => {
    const a = await start({ account: { droplet_limit: 3, email_verified: false, status: 'locked' } });
    const { body } = await getJson(`${a.url}/v2/account`);
    expect(body.account).toMatchObject({
      droplet_limit: 3,
      email_verified: false,
      status: 'locked',
      email: 'sammy@example.com',
      volume_limit: 100,
    });
  });

  it('records every request with method, path, query, authorization, body and status', async () => {
    const a = await start();
    await getJson(`${a.url}/v2/sizes?page=2&per_page=2`);
    await fetch(`${a.url}/v2/account/keys`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', public_key: 'not a key' }),
    });
    await fetch(`${a.url}/v2/account`);
    expect(a.requests).toEqual([
      {
        method: 'GET',
        path: '/v2/sizes',
        query: { page: '2', per_page: '2' },
        authorization: AUTH.authorization,
        body: undefined,
        status: 200,
      },
      {
        method: 'POST',
        path: '/v2/account/keys',
        query: {},
        authorization: AUTH.authorization,
        body: { name: 'x', public_key: 'not a key' },
        status: 422,
      },
      { method: 'GET', path: '/v2/account', query: {}, authorization: undefined, body: undefined, status: 401 },
    ]);
  });

  it('answers 404 for unknown paths and unsupported methods', async () => {
    const a = await start();
    const notFound = { id: 'not_found', message: 'The resource you were accessing could not be found.' };
    for (const [method, path] of [
      ['GET', '/v2/volumes'],
      ['GET', '/'],
      ['DELETE', '/v2/account'],
      ['POST', '/v2/regions'],
    ] as const) {
      const res = await fetch(`${a.url}${path}`, { method, headers: AUTH });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual(notFound);
    }
  });
});

describe('fake DigitalOcean API: default data', () => {
  it('regions and sizes look like DigitalOcean and agree with each other', async () => {
    const a = await start({ perPageCap: 200 });
    const regions: DoRegion[] = (await getJson(`${a.url}/v2/regions?per_page=200`)).body.regions;
    const sizes: DoSize[] = (await getJson(`${a.url}/v2/sizes?per_page=200`)).body.sizes;

    expect(regions.map((r) => r.slug)).toEqual(['nyc1', 'nyc3', 'ams3', 'sfo2', 'sfo3', 'sgp1', 'lon1', 'fra1', 'tor1', 'blr1', 'syd1', 'atl1', 'nyc2']);
    const bySlug = new Map(regions.map((r) => [r.slug, r]));
    expect(bySlug.get('nyc1')?.name).toBe('New York 1');
    expect(bySlug.get('sfo3')?.name).toBe('San Francisco 3');
    expect(bySlug.get('syd1')?.name).toBe('Sydney 1');
    expect(bySlug.get('nyc2')).toMatchObject({ available: false, sizes: [] });
    expect(regions.filter((r) => !r.available).map((r) => r.slug)).toEqual(['nyc2']);
    expect(bySlug.get('fra1')?.features).toEqual(expect.arrayContaining(['backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer']));

    const prices = Object.fromEntries(sizes.map((s) => [s.slug, s.price_monthly]));
    expect(prices).toMatchObject({
      's-1vcpu-512mb-10gb': 4,
      's-1vcpu-1gb': 6,
      's-1vcpu-2gb': 12,
      's-2vcpu-2gb': 18,
      's-2vcpu-4gb': 24,
      's-4vcpu-8gb': 48,
      'c-2': 42,
      'g-2vcpu-8gb': 63,
      'm-2vcpu-16gb': 84,
    });
    const size = (slug: string) => sizes.find((s) => s.slug === slug)!;
    expect(size('s-1vcpu-512mb-10gb').memory).toBe(512);
    expect(size('c-2').memory).toBe(4096);
    expect(size('s-1vcpu-1gb').price_hourly).toBe(0.00893);
    expect(sizes.filter((s) => !s.available).length).toBeGreaterThanOrEqual(1);
    for (const s of sizes) {
      expect(Object.keys(s).sort()).toEqual(
        ['available', 'description', 'disk', 'disk_info', 'memory', 'price_hourly', 'price_monthly', 'regions', 'slug', 'transfer', 'vcpus'].sort(),
      );
      expect(s.price_hourly).toBe(Math.round((s.price_monthly / 672) * 1e5) / 1e5);
    }
    for (const slug of ['c-2', 'g-2vcpu-8gb', 'm-2vcpu-16gb']) {
      expect(size(slug).regions).not.toContain('atl1');
      expect(size(slug).regions).not.toContain('sfo2');
      expect(size(slug).regions).toContain('nyc3');
    }
    expect(size('s-1vcpu-512mb-10gb').regions).not.toContain('lon1');

    // Each region's sizes list is consistent with each size's regions list.
    for (const r of regions) {
      const expected = sizes.filter((s) => s.available && s.regions.includes(r.slug)).map((s) => s.slug);
      expect(r.sizes, r.slug).toEqual(expected);
    }
    for (const s of sizes) {
      for (const slug of s.regions) expect(bySlug.get(slug)?.sizes, `${s.slug} in ${slug}`).toContain(s.slug);
    }
  });

  it('default SSH keys are valid OpenSSH lines with their real MD5 fingerprints', async () => {
    const a = await start();
    expect(a.keys).toHaveLength(4);
    expect(new Set(a.keys.map((k) => k.id)).size).toBe(4);
    for (const k of a.keys) {
      expect(Object.keys(k).sort()).toEqual(['fingerprint', 'id', 'name', 'public_key']);
      expect(k.fingerprint).toBe(referenceMd5(k.public_key));
    }
  });
});

describe('fake DigitalOcean API: pagination', () => {
  it('walks every page of /v2/regions with correct links (cap 3 by default)', async () => {
    const a = await start();
    const pages = await walk(`${a.url}/v2/regions`);
    expect(pages).toHaveLength(5); // 13 regions, 3 per page
    const slugs = pages.flatMap((p) => p.regions.map((r: DoRegion) => r.slug));
    expect(slugs).toHaveLength(13);
    expect(new Set(slugs).size).toBe(13);
    expect(pages[0].regions.map((r: DoRegion) => r.slug)).not.toContain('syd1');
    expect(pages[0].regions.map((r: DoRegion) => r.slug)).not.toContain('atl1');
    expect(slugs).toContain('syd1');
    expect(slugs).toContain('atl1');

    pages.forEach((p, i) => {
      const page = i + 1;
      expect(p.meta).toEqual({ total: 13 });
      expect(p.regions.length).toBe(page < 5 ? 3 : 1);
      const links: DoPageLinks = p.links.pages;
      if (page === 1) {
        expect(links.first).toBeUndefined();
        expect(links.prev).toBeUndefined();
      } else {
        expect(pageParams(links.first, a.url)).toEqual({ page: 1, perPage: 3 });
        expect(pageParams(links.prev, a.url)).toEqual({ page: page - 1, perPage: 3 });
      }
      if (page === 5) {
        expect(links.next).toBeUndefined();
        expect(links.last).toBeUndefined();
      } else {
        expect(pageParams(links.next, a.url)).toEqual({ page: page + 1, perPage: 3 });
        expect(pageParams(links.last, a.url)).toEqual({ page: 5, perPage: 3 });
      }
      if (links.next) expect(new URL(links.next).pathname).toBe('/v2/regions');
    });
  });

  it('caps per_page at perPageCap but honours smaller per_page values', async () => {
    const a = await start();
    const big = await getJson(`${a.url}/v2/sizes?per_page=200`);
    expect(big.body.sizes).toHaveLength(3);
    expect(big.body.meta.total).toBe(10);
    expect(pageParams(big.body.links.pages.last, a.url)).toEqual({ page: 4, perPage: 3 });

    const small = await walk(`${a.url}/v2/sizes?per_page=2`);
    expect(small).toHaveLength(5);
    expect(small.every((p) => p.sizes.length === 2)).toBe(true);
    expect(small.flatMap((p) => p.sizes.map((s: DoSize) => s.slug))).toHaveLength(10);

    // A bigger cap falls back to DigitalOcean's default per_page of 20.
    const b = await startFakeDoApi({ perPageCap: 1000 });
    try {
      const all = await getJson(`${b.url}/v2/regions`);
      expect(all.body.regions).toHaveLength(13);
      expect(all.body.links).toEqual({ pages: {} });
    } finally {
      await b.close();
    }
  });

  it('puts the last default key on page 2 and answers links.pages {} for one page', async () => {
    const a = await start();
    const pages = await walk(`${a.url}/v2/account/keys`);
    expect(pages.map((p) => p.ssh_keys.length)).toEqual([3, 1]);
    expect(pages[1].ssh_keys[0].fingerprint).toBe(defaultKeys()[3]!.fingerprint);
    expect(pages.every((p) => p.meta.total === 4)).toBe(true);

    const one = await getJson(`${a.url}/v2/account/keys?per_page=3`);
    expect(one.body.links.pages.next).toBeDefined();
    const b = await startFakeDoApi({ keys: defaultKeys().slice(0, 2) });
    try {
      const single = await getJson(`${b.url}/v2/account/keys`);
      expect(single.body).toEqual({ ssh_keys: defaultKeys().slice(0, 2), links: { pages: {} }, meta: { total: 2 } });
    } finally {
      await b.close();
    }
  });

  it('GET /v2/droplets reports dropletCount as meta.total and honours per_page=1', async () => {
    const a = await start({ dropletCount: 7 });
    const { body } = await getJson(`${a.url}/v2/droplets?per_page=1`);
    expect(body.droplets).toHaveLength(1);
    expect(body.meta).toEqual({ total: 7 });
    expect(pageParams(body.links.pages.next, a.url)).toEqual({ page: 2, perPage: 1 });
    expect(pageParams(body.links.pages.last, a.url)).toEqual({ page: 7, perPage: 1 });

    const b = await startFakeDoApi();
    try {
      const empty = await getJson(`${b.url}/v2/droplets`);
      expect(empty.body).toEqual({ droplets: [], links: { pages: {} }, meta: { total: 0 } });
    } finally {
      await b.close();
    }
  });
});

describe('fake DigitalOcean API: auth', () => {
  it('answers 401 for a missing or unknown token', async () => {
    const a = await start({ tokens: ['dop_v1_' + 'b'.repeat(64)] });
    const unauthorized = { id: 'Unauthorized', message: 'Unable to authenticate you' };
    for (const headers of [{}, AUTH, { authorization: 'Bearer nope' }, { authorization: 'dop_v1_' + 'b'.repeat(64) }]) {
      const { res, body } = await getJson(`${a.url}/v2/account`, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(body).toEqual(unauthorized);
    }
    const ok = await getJson(`${a.url}/v2/account`, { authorization: `Bearer ${'dop_v1_' + 'b'.repeat(64)}` });
    expect(ok.res.status).toBe(200);
    expect(a.requests.map((r) => r.status)).toEqual([401, 401, 401, 401, 200]);
  });

  it('answers 403 on every endpoint for forbidden tokens, and does not add keys', async () => {
    const a = await start({ forbiddenTokens: ['dop_v1_readonly'] });
    const headers = { authorization: 'Bearer dop_v1_readonly' };
    const forbidden = { id: 'Forbidden', message: 'You are not authorized to perform this operation' };
    for (const path of ['/v2/account', '/v2/regions', '/v2/sizes', '/v2/account/keys', '/v2/droplets']) {
      const { res, body } = await getJson(`${a.url}${path}`, headers);
      expect(res.status, path).toBe(403);
      expect(body).toEqual(forbidden);
    }
    const { publicKey } = generateKeyPairSync('ed25519');
    const res = await fetch(`${a.url}/v2/account/keys`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'nope', public_key: openSshLine(publicKey, 'x') }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(forbidden);
    expect(a.keys).toHaveLength(4);
  });
});

describe('fake DigitalOcean API: injected failures', () => {
  it('rateLimitOnce answers 429 with Retry-After once, then 200', async () => {
    const a = await start({ rateLimitOnce: { path: '/v2/sizes', retryAfter: 1 } });
    // Other paths are unaffected.
    expect((await getJson(`${a.url}/v2/regions`)).res.status).toBe(200);

    const first = await getJson(`${a.url}/v2/sizes?per_page=3`);
    expect(first.res.status).toBe(429);
    expect(first.res.headers.get('retry-after')).toBe('1');
    expect(first.res.headers.get('ratelimit-limit')).toBe('5000');
    expect(first.res.headers.get('ratelimit-remaining')).toBe('0');
    expect(first.body).toEqual({ id: 'too_many_requests', message: 'API Rate limit exceeded.' });

    const second = await getJson(`${a.url}/v2/sizes?per_page=3`);
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('retry-after')).toBeNull();
    expect(second.body.sizes).toHaveLength(3);
    expect(a.requests.map((r) => `${r.path} ${r.status}`)).toEqual(['/v2/regions 200', '/v2/sizes 429', '/v2/sizes 200']);
  });

  it('failOnce answers the given status once, then normally', async () => {
    const a = await start({ failOnce: { path: '/v2/account/keys', status: 503 } });
    const first = await getJson(`${a.url}/v2/account/keys`);
    expect(first.res.status).toBe(503);
    expect(first.body).toEqual({ id: 'server_error', message: 'Unexpected server-side error' });
    const second = await getJson(`${a.url}/v2/account/keys`);
    expect(second.res.status).toBe(200);
    expect(second.body.ssh_keys).toHaveLength(3);

    const b = await startFakeDoApi({ failOnce: { path: '/v2/account', status: 500 } });
    try {
      expect((await getJson(`${b.url}/v2/account`)).res.status).toBe(500);
      expect((await getJson(`${b.url}/v2/account`)).res.status).toBe(200);
    } finally {
      await b.close();
    }

    // Both on one path: each fires once, the rate limit first.
    const c = await startFakeDoApi({
      rateLimitOnce: { path: '/v2/regions', retryAfter: 2 },
      failOnce: { path: '/v2/regions', status: 502 },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await getJson(`${c.url}/v2/regions`)).res.status);
      expect(statuses).toEqual([429, 502, 200]);
    } finally {
      await c.close();
    }
  });

  it('delayMs delays answers to that path only', async () => {
    const a = await start({ delayMs: { '/v2/account': 300 } });
    let t = performance.now();
    expect((await getJson(`${a.url}/v2/regions`)).res.status).toBe(200);
    expect(performance.now() - t).toBeLessThan(200);
    t = performance.now();
    expect((await getJson(`${a.url}/v2/account`)).res.status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
  });

  it('a client timeout fires on a delayed path, and close() does not hang on pending requests', async () => {
    const a = await start({ delayMs: { '/v2/account': 30_000 } });
    await expect(fetch(`${a.url}/v2/account`, { headers: AUTH, signal: AbortSignal.timeout(100) })).rejects.toThrow(/timeout|abort/i);

    const pending = fetch(`${a.url}/v2/account`, { headers: AUTH }).then(
      (res) => `answered ${res.status}`,
      () => 'rejected',
    );
    const deadline = Date.now() + 2000;
    while (a.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(a.requests).toHaveLength(2);
    expect(a.requests[1]!.status).toBe(0); // not answered yet

    const t = performance.now();
    await a.close();
    expect(performance.now() - t).toBeLessThan(1000);
    expect(await pending).toBe('rejected');
    await a.close(); // idempotent
  });
});

describe('fake DigitalOcean API: POST /v2/account/keys', () => {
  async function postKey(a: FakeDoApi, body: unknown, raw?: string) {
    const res = await fetch(`${a.url}/v2/account/keys`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
    });
    return { res, body: (await res.json()) as any };
  }

  it('adds a new key with its real MD5 fingerprint (ed25519 and rsa), then lists it', async () => {
    const a = await start();
    const ed = openSshLine(generateKeyPairSync('ed25519').publicKey, 'tester@example');
    const rsa = openSshLine(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, 'rsa@example');

    const created: DoSshKey[] = [];
    for (const [name, line] of [
      ['ed-key', ed],
      ['rsa-key', rsa],
    ] as const) {
      const { res, body } = await postKey(a, { name, public_key: line });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(body).toEqual({
        ssh_key: { id: expect.any(Number), fingerprint: referenceMd5(line), public_key: line, name },
      });
      expect(body.ssh_key.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
      created.push(body.ssh_key);
    }
    const ids = [...defaultKeys().map((k) => k.id), ...created.map((k) => k.id)];
    expect(new Set(ids).size).toBe(6);

    expect(a.keys).toHaveLength(6);
    expect(a.keys.slice(4)).toEqual(created);
    const listed = (await walk(`${a.url}/v2/account/keys`)).flatMap((p) => p.ssh_keys);
    expect(listed).toEqual([...defaultKeys(), ...created]);
  });

  it('rejects a key already on the account with 422, whatever its comment or name', async () => {
    const a = await start();
    const line = openSshLine(generateKeyPairSync('ed25519').publicKey, 'first');
    expect((await postKey(a, { name: 'one', public_key: line })).res.status).toBe(201);

    const inUse = { id: 'unprocessable_entity', message: 'SSH Key is already in use on your account' };
    const sameKeyOtherComment = line.replace(/ first$/, ' second');
    for (const public_key of [line, sameKeyOtherComment, defaultKeys()[1]!.public_key]) {
      const { res, body } = await postKey(a, { name: 'dup', public_key });
      expect(res.status).toBe(422);
      expect(body).toEqual(inUse);
    }
    expect(a.keys).toHaveLength(5);
  });

  it('sees keys pushed onto the live `keys` array', async () => {
    const a = await start({ keys: [] });
    const line = openSshLine(generateKeyPairSync('ed25519').publicKey, 'pushed');
    a.keys.push({ id: 42, fingerprint: referenceMd5(line), public_key: line, name: 'pushed' });
    const { body } = await getJson(`${a.url}/v2/account/keys`);
    expect(body.ssh_keys.map((k: DoSshKey) => k.id)).toEqual([42]);
    expect((await postKey(a, { name: 'again', public_key: line })).res.status).toBe(422);
  });

  it('rejects invalid public keys with 422 "Key invalid, type not supported"', async () => {
    const a = await start();
    const good = openSshLine(generateKeyPairSync('ed25519').publicKey, 'c');
    const [, b64] = good.split(' ');
    const invalid = { id: 'unprocessable_entity', message: 'Key invalid, type not supported' };
    for (const public_key of [
      'not a key',
      '',
      'ssh-ed25519',
      `ssh-foo ${b64}`,
      `ssh-rsa ${b64}`, // blob says ssh-ed25519
      `ssh-ed25519 ${b64!.slice(0, 20)}`, // truncated
      `ssh-ed25519 ${b64}!!`,
      `ssh-rsa ${Buffer.concat([sshString(Buffer.from('ssh-rsa')), sshMpint(Buffer.from([1, 0, 1]))]).toString('base64')}`, // no modulus
      `ssh-ed25519 ${Buffer.concat([Buffer.from(b64!, 'base64'), sshString(Buffer.from('extra'))]).toString('base64')}`,
      12345,
      undefined,
    ]) {
      const { res, body } = await postKey(a, { name: 'bad', public_key });
      expect(res.status, String(public_key)).toBe(422);
      expect(body).toEqual(invalid);
    }
    expect(a.keys).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------
// The stateful account the real Terraform provider drives (fake-do-cloud.mjs)
// ---------------------------------------------------------------------------

describe('fake DigitalOcean API: the stateful account', () => {
  const ACTION_MS = 300;
  const KEY = defaultKeys()[0]!;

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${api!.url}${path}`, {
      method,
      headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any };
  }
  const settle = () => new Promise((r) => setTimeout(r, ACTION_MS + 50));
  const droplet = (name: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/v2/droplets', {
      name,
      region: 'fra1',
      size: 's-1vcpu-1gb',
      image: 'debian-12-x64',
      ssh_keys: [KEY.fingerprint],
      monitoring: true,
      ...extra,
    });

  it('creates a droplet that is "new" without addresses, then active with a public and a VPC address; its create action completes later', async () => {
    await start({ cloud: { actionMs: ACTION_MS, vpcs: [{ region: 'fra1', ip_range: '10.110.0.0/20' }] } });
    const made = await droplet('shop-wp-01', { tags: ['shop', 'shop-wp'] });
    expect(made.status).toBe(202);
    expect(made.body.droplet).toMatchObject({ name: 'shop-wp-01', status: 'new', networks: { v4: [], v6: [] }, tags: ['shop', 'shop-wp'] });
    const actionId = made.body.links.actions[0].id;
    expect((await call('GET', `/v2/actions/${actionId}`)).body.action).toMatchObject({ status: 'in-progress', type: 'create', completed_at: null });

    await settle();
    const { body } = await call('GET', `/v2/droplets/${made.body.droplet.id}`);
    expect(body.droplet.status).toBe('active');
    const v4 = body.droplet.networks.v4 as { ip_address: string; type: string }[];
    expect(v4.map((n) => n.type).sort()).toEqual(['private', 'public']);
    expect(v4.find((n) => n.type === 'private')!.ip_address).toMatch(/^10\.110\.(0|1[0-5]?|[2-9])\.\d+$/);
    expect(body.droplet.features).toContain('monitoring');
    expect((await call('GET', `/v2/actions/${actionId}`)).body.action).toMatchObject({ status: 'completed', type: 'create' });
    // Tags named at creation exist, and the droplet is in the default project.
    expect((await call('GET', '/v2/tags/shop-wp')).body.tag.resources.droplets.count).toBe(1);
    expect((await call('GET', '/v2/projects/default/resources')).body.resources.map((r: { urn: string }) => r.urn)).toEqual([
      `do:droplet:${made.body.droplet.id}`,
    ]);
    // GET /v2/droplets lists it, and filters by tag.
    expect((await call('GET', '/v2/droplets?tag_name=shop-wp')).body.droplets.map((d: { name: string }) => d.name)).toEqual(['shop-wp-01']);
    expect((await call('GET', '/v2/droplets?tag_name=other')).body.droplets).toEqual([]);
  });

  it("refuses a second action on a droplet while one is pending, with DigitalOcean's 422", async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    const id = (await droplet('web-1')).body.droplet.id;
    const early = await call('POST', `/v2/droplets/${id}/actions`, { type: 'shutdown' });
    expect(early).toEqual({ status: 422, body: { id: 'unprocessable_entity', message: 'Droplet already has a pending event.' } });
    await settle();
    const shutdown = await call('POST', `/v2/droplets/${id}/actions`, { type: 'shutdown' });
    expect(shutdown.status).toBe(201);
    expect(shutdown.body.action.status).toBe('in-progress');
    expect((await call('POST', `/v2/droplets/${id}/actions`, { type: 'power_on' })).status).toBe(422);
    await settle();
    expect((await call('GET', `/v2/droplets/${id}`)).body.droplet.status).toBe('off');
    expect((await call('GET', `/v2/droplets/${id}/actions`)).body.actions.map((a: { type: string; status: string }) => `${a.type}:${a.status}`)).toEqual([
      'create:completed',
      'shutdown:completed',
    ]);
  });

  it('with createEventTailMs, a droplet is active while its create event is still pending, and refuses actions until it completes', async () => {
    await start({ cloud: { actionMs: ACTION_MS, createEventTailMs: ACTION_MS * 2 } });
    const made = (await droplet('dblb-01')).body;
    await settle();
    expect((await call('GET', `/v2/droplets/${made.droplet.id}`)).body.droplet.status).toBe('active');
    expect((await call('GET', `/v2/actions/${made.links.actions[0].id}`)).body.action.status).toBe('in-progress');
    const ip = (await call('POST', '/v2/reserved_ips', { region: 'fra1' })).body.reserved_ip.ip;
    expect((await call('POST', `/v2/reserved_ips/${ip}/actions`, { type: 'assign', droplet_id: made.droplet.id })).body.message).toBe(
      'Droplet already has a pending event.',
    );
    await settle();
    await settle();
    expect((await call('POST', `/v2/reserved_ips/${ip}/actions`, { type: 'assign', droplet_id: made.droplet.id })).status).toBe(201);
    // Only the real create action is listed; the stand-in's own transition is not.
    expect((await call('GET', `/v2/droplets/${made.droplet.id}/actions`)).body.actions.map((a: { type: string }) => a.type)).toEqual(['create']);
  });

  it('rejects droplets the API would reject: unknown image, size not in the region, unknown SSH key, VPC of another region', async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    expect((await droplet('a', { image: 'windows-2022' })).body.message).toBe('You specified an invalid image for Droplet creation.');
    expect((await droplet('a', { region: 'atl1', size: 'c-2' })).status).toBe(422);
    expect((await droplet('a', { ssh_keys: ['00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff'] })).status).toBe(422);
    const vpc = (await call('POST', '/v2/vpcs', { name: 'elsewhere', region: 'ams3' })).body.vpc;
    expect((await droplet('a', { vpc_uuid: vpc.id })).status).toBe(422);
    expect((await call('GET', '/v2/droplets')).body.droplets).toEqual([]);
  });

  it('moves a reserved IP asynchronously, refuses a second move while one is pending, and serves the action on both paths', async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    const a = (await droplet('dblb-01')).body.droplet.id;
    const b = (await droplet('dblb-02')).body.droplet.id;
    const ip = (await call('POST', '/v2/reserved_ips', { region: 'fra1' })).body.reserved_ip.ip;
    await settle();
    const first = await call('POST', `/v2/reserved_ips/${ip}/actions`, { type: 'assign', droplet_id: a });
    expect(first.status).toBe(201);
    expect(first.body.action).toMatchObject({ type: 'assign_ip', status: 'in-progress', resource_type: 'reserved_ip' });
    expect((await call('GET', `/v2/reserved_ips/${ip}`)).body.reserved_ip).toMatchObject({ droplet: null, locked: true });
    expect(await call('POST', `/v2/reserved_ips/${ip}/actions`, { type: 'assign', droplet_id: b })).toEqual({
      status: 422,
      body: { id: 'unprocessable_entity', message: 'Droplet already has a pending event.' },
    });
    await settle();
    expect((await call('GET', `/v2/reserved_ips/${ip}/actions/${first.body.action.id}`)).body.action.status).toBe('completed');
    expect((await call('GET', `/v2/actions/${first.body.action.id}`)).body.action.status).toBe('completed');
    expect((await call('GET', `/v2/reserved_ips/${ip}`)).body.reserved_ip).toMatchObject({ droplet: { id: a }, locked: false });
    // Failover: keepalived on the peer moves it.
    expect((await call('POST', `/v2/reserved_ips/${ip}/actions`, { type: 'assign', droplet_id: b })).status).toBe(201);
    await settle();
    expect((await call('GET', `/v2/reserved_ips/${ip}`)).body.reserved_ip.droplet.id).toBe(b);
    // Deleting the droplet that holds it leaves the IP reserved and unassigned.
    expect((await call('DELETE', `/v2/droplets/${b}`)).status).toBe(204);
    expect((await call('GET', `/v2/droplets/${b}`)).status).toBe(404);
    expect((await call('GET', `/v2/reserved_ips/${ip}`)).body.reserved_ip.droplet).toBeNull();
  });

  it("makes a region's first VPC its default and refuses (403) to delete it, or any VPC that still has members", async () => {
    await start({ cloud: { actionMs: ACTION_MS, vpcs: [{ region: 'fra1' }] } });
    const seeded = (await call('GET', '/v2/vpcs')).body.vpcs;
    expect(seeded).toMatchObject([{ name: 'default-fra1', region: 'fra1', default: true }]);
    const second = (await call('POST', '/v2/vpcs', { name: 'shop-vpc', region: 'fra1' })).body.vpc;
    expect(second).toMatchObject({ default: false, urn: `do:vpc:${second.id}` });
    const first = (await call('POST', '/v2/vpcs', { name: 'lab-vpc', region: 'ams3' })).body.vpc;
    expect(first.default).toBe(true);
    // Ranges never overlap.
    expect(new Set([seeded[0].ip_range, second.ip_range, first.ip_range]).size).toBe(3);

    expect((await call('DELETE', `/v2/vpcs/${first.id}`)).status).toBe(403);
    const id = (await droplet('in-vpc', { vpc_uuid: second.id })).body.droplet.id;
    const busy = await call('DELETE', `/v2/vpcs/${second.id}`);
    expect(busy.status).toBe(403);
    expect(busy.body.id).toBe('forbidden');
    await settle();
    await call('DELETE', `/v2/droplets/${id}`);
    expect((await call('DELETE', `/v2/vpcs/${second.id}`)).status).toBe(204);
    // Another VPC made the default releases the old one.
    const third = (await call('POST', '/v2/vpcs', { name: 'lab-vpc-2', region: 'ams3' })).body.vpc;
    expect((await call('PATCH', `/v2/vpcs/${third.id}`, { default: true })).body.vpc.default).toBe(true);
    expect((await call('DELETE', `/v2/vpcs/${first.id}`)).status).toBe(204);
  });

  it("puts a droplet created without a VPC into its region's default VPC, made for it when the region has none", async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    const d = (await droplet('loose')).body.droplet;
    const vpcs = (await call('GET', '/v2/vpcs')).body.vpcs;
    expect(vpcs).toMatchObject([{ name: 'default-fra1', default: true, id: d.vpc_uuid }]);
  });

  it('lists a reserved IP in a project as do:floatingip, refuses to move it off its droplet (412), and keeps a project with resources (412)', async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    const d = (await droplet('dblb-01')).body.droplet.id;
    await settle();
    const ip = (await call('POST', '/v2/reserved_ips', { droplet_id: d })).body.reserved_ip.ip;
    await settle();
    const project = (await call('POST', '/v2/projects', { name: 'shop', purpose: 'Web Application' })).body.project;
    expect(project).toMatchObject({ name: 'shop', purpose: 'Web Application', is_default: false });
    expect((await call('POST', '/v2/projects', { name: 'other', purpose: 'a hobby' })).body.project.purpose).toBe('Other: a hobby');

    const alone = await call('POST', `/v2/projects/${project.id}/resources`, { resources: [`do:reservedip:${ip}`] });
    expect(alone).toEqual({
      status: 412,
      body: { id: 'precondition_failed', message: 'Cannot move a Reserved IP with an associated Droplet. Move the Droplet instead' },
    });
    const together = await call('POST', `/v2/projects/${project.id}/resources`, { resources: [`do:droplet:${d}`, `do:reservedip:${ip}`] });
    expect(together.status).toBe(200);
    const listed = (await call('GET', `/v2/projects/${project.id}/resources`)).body.resources.map((r: { urn: string }) => r.urn);
    expect(listed.sort()).toEqual([`do:droplet:${d}`, `do:floatingip:${ip}`].sort());
    expect((await call('POST', `/v2/projects/${project.id}/resources`, { resources: ['do:droplet:1'] })).status).toBe(404);

    const refused = await call('DELETE', `/v2/projects/${project.id}`);
    expect(refused.status).toBe(412);
    expect(refused.body.message).toMatch(/^cannot delete a project with resources/);
    expect((await call('POST', '/v2/projects/default/resources', { resources: [`do:droplet:${d}`, `do:floatingip:${ip}`] })).status).toBe(200);
    expect((await call('DELETE', `/v2/projects/${project.id}`)).status).toBe(204);
    expect((await call('GET', `/v2/projects/${project.id}`)).status).toBe(404);
  });

  it('stores firewall rules as DigitalOcean does ("all" and ICMP as "0") and rejects sources that do not exist', async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    await call('POST', '/v2/tags', { name: 'shop-wp' });
    const made = await call('POST', '/v2/firewalls', {
      name: 'shop-wp-fw',
      tags: ['shop-wp'],
      inbound_rules: [{ protocol: 'tcp', ports: '22', sources: { addresses: ['203.0.113.7/32'] } }],
      outbound_rules: [
        { protocol: 'tcp', ports: 'all', destinations: { addresses: ['0.0.0.0/0', '::/0'] } },
        { protocol: 'icmp', destinations: { addresses: ['0.0.0.0/0'] } },
      ],
    });
    expect(made.status).toBe(202);
    expect(made.body.firewall.outbound_rules.map((r: { ports: string }) => r.ports)).toEqual(['0', '0']);
    expect(made.body.firewall).toMatchObject({ status: 'waiting', tags: ['shop-wp'], droplet_ids: [] });
    await settle();
    expect((await call('GET', `/v2/firewalls/${made.body.firewall.id}`)).body.firewall.status).toBe('succeeded');
    const badLb = await call('POST', '/v2/firewalls', {
      name: 'x',
      inbound_rules: [{ protocol: 'tcp', ports: '80', sources: { load_balancer_uids: ['4de7ac8b-495b-4884-9a69-1050c6793cd6'] } }],
    });
    expect(badLb.status).toBe(422);
    const badTag = await call('POST', '/v2/firewalls', {
      name: 'x',
      tags: ['nope'],
      inbound_rules: [{ protocol: 'tcp', ports: '80', sources: { addresses: ['0.0.0.0/0'] } }],
    });
    expect(badTag.status).toBe(422);
  });

  it('brings a load balancer up asynchronously and lists the droplets of its tag as backends', async () => {
    await start({ cloud: { actionMs: ACTION_MS } });
    const w = (await droplet('web-1', { tags: ['shop-wp'] })).body.droplet.id;
    await droplet('db-1', { tags: ['shop-db'] });
    const lb = await call('POST', '/v2/load_balancers', {
      name: 'shop-lb',
      region: 'fra1',
      size_unit: 1,
      tag: 'shop-wp',
      forwarding_rules: [{ entry_protocol: 'http', entry_port: 80, target_protocol: 'http', target_port: 80 }],
      health_check: {
        protocol: 'http',
        port: 80,
        path: '/healthz',
        check_interval_seconds: 3,
        response_timeout_seconds: 3,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
      },
    });
    expect(lb.status).toBe(202);
    expect(lb.body.load_balancer).toMatchObject({ status: 'new', ip: '', droplet_ids: [w], sticky_sessions: { type: 'none' } });
    await settle();
    expect((await call('GET', `/v2/load_balancers/${lb.body.load_balancer.id}`)).body.load_balancer).toMatchObject({
      status: 'active',
      ip: expect.stringMatching(/^198\.51\.100\.\d+$/),
    });
    expect(api!.cloud.snapshot().loadBalancers).toHaveLength(1);
    expect((await call('DELETE', `/v2/load_balancers/${lb.body.load_balancer.id}`)).status).toBe(204);
    expect(api!.cloud.snapshot().loadBalancers).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Certificates, load balancers that terminate TLS, DNS records (fake-do-cloud.mjs)
// ---------------------------------------------------------------------------

describe('fake DigitalOcean API: certificates and DNS records', () => {
  const ACTION_MS = 300;

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${api!.url}${path}`, {
      method,
      headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any };
  }
  const settle = () => new Promise((r) => setTimeout(r, ACTION_MS + 50));
  const letsEncrypt = (name: string, dns_names: string[]) => call('POST', '/v2/certificates', { name, type: 'lets_encrypt', dns_names });
  const lb = (rules: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    call('POST', '/v2/load_balancers', {
      name: 'shop-lb',
      region: 'fra1',
      forwarding_rules: [{ entry_protocol: 'http', entry_port: 80, target_protocol: 'http', target_port: 80 }, ...rules],
      ...extra,
    });
  const https = (certificate_id?: string) => ({ entry_protocol: 'https', entry_port: 443, target_protocol: 'http', target_port: 80, certificate_id });

  it("Let's Encrypt: pending, then verified; only for names in the account's DNS domains (422); one name per certificate in the account", async () => {
    await start({ domains: ['example.com'], cloud: { actionMs: ACTION_MS } });
    const made = await letsEncrypt('shop-1a2b3c4d', ['shop.example.com']);
    expect(made.status).toBe(201);
    expect(made.body.certificate).toMatchObject({ name: 'shop-1a2b3c4d', type: 'lets_encrypt', state: 'pending', dns_names: ['shop.example.com'] });
    await settle();
    const got = (await call('GET', `/v2/certificates/${made.body.certificate.id}`)).body.certificate;
    expect(got.state).toBe('verified');
    expect(got.sha1_fingerprint).toMatch(/^[0-9a-f]{40}$/);
    expect(Date.parse(got.not_after) - Date.now()).toBeGreaterThan(80 * 24 * 3600_000);

    const outside = await letsEncrypt('other', ['shop.example.org']);
    expect(outside.status).toBe(422);
    expect(outside.body.message).toContain('shop.example.org');
    expect((await letsEncrypt('shop-1a2b3c4d', ['www.example.com'])).status).toBe(422);
    expect((await letsEncrypt('empty', [])).status).toBe(422);
    expect((await call('POST', '/v2/certificates', { name: 'x', type: 'self_signed' })).status).toBe(422);

    // Listed page by page, and by name (how the provider finds one).
    for (const n of ['a', 'b', 'c']) expect((await letsEncrypt(`more-${n}`, [`${n}.example.com`])).status).toBe(201);
    const page = (await call('GET', '/v2/certificates')).body;
    expect(page.meta.total).toBe(4);
    expect(page.certificates).toHaveLength(3);
    expect(page.links.pages.next).toContain('page=2');
    expect((await call('GET', '/v2/certificates?name=more-b')).body.certificates.map((c: { dns_names: string[] }) => c.dns_names)).toEqual([['b.example.com']]);
    expect((await call('GET', '/v2/certificates?name=nope')).body).toMatchObject({ certificates: [], meta: { total: 0 } });
    expect(api!.cloud.snapshot().certificates.map((c) => c.name)).toEqual(['shop-1a2b3c4d', 'more-a', 'more-b', 'more-c']);
  });

  needs('openssl').describe('custom certificates', () => {
    let ca: KeyPair;
    let site: KeyPair;
    let other: KeyPair;
    beforeAll(async () => {
      ca = await newCa('Stand-in Test CA', 30);
      [site, other] = await Promise.all([
        issue(ca, { commonName: 'blog.example.net', dns: ['blog.example.net', 'www.blog.example.net'], usage: ['serverAuth'] }, 20),
        issue(ca, { commonName: 'other.example.net', usage: ['serverAuth'] }, 20),
      ]);
    });
    const custom = (extra: Record<string, unknown>) =>
      call('POST', '/v2/certificates', { name: 'blog-cert', type: 'custom', private_key: site.key, leaf_certificate: site.cert, ...extra });

    it('takes the PEM certificate with its own key: names, expiry and SHA-1 fingerprint come from the certificate, and the key is never shown', async () => {
      await start({ cloud: { actionMs: ACTION_MS } });
      const made = await custom({ certificate_chain: ca.cert });
      expect(made.status).toBe(201);
      const x = new X509Certificate(site.cert);
      expect(made.body.certificate).toMatchObject({
        type: 'custom',
        state: 'verified',
        dns_names: ['blog.example.net', 'www.blog.example.net'],
        sha1_fingerprint: x.fingerprint.replace(/:/g, '').toLowerCase(),
        not_after: new Date(x.validTo).toISOString().replace(/\.\d+Z$/, 'Z'),
      });
      expect(JSON.stringify((await call('GET', '/v2/certificates')).body)).not.toContain('PRIVATE KEY');
    });

    it('refuses (422) a key that is not the certificate’s, anything that is not PEM, a chain that does not parse', async () => {
      await start({ cloud: { actionMs: ACTION_MS } });
      const refused = {
        'another certificate’s key': await custom({ private_key: other.key }),
        'no key': await custom({ private_key: undefined }),
        'a key that is not PEM': await custom({ private_key: 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEH' }),
        'a certificate that is not PEM': await custom({ leaf_certificate: 'junk' }),
        'a broken certificate': await custom({ leaf_certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }),
        'a chain that is not PEM': await custom({ certificate_chain: 'junk' }),
      };
      for (const [what, r] of Object.entries(refused)) expect(r.status, what).toBe(422);
      expect(refused['another certificate’s key'].body.message).toMatch(/not the key of leaf_certificate/);
      expect(api!.cloud.snapshot().certificates).toEqual([]);
    });
  });

  it('an HTTPS rule needs a certificate of the account (422); a certificate in use cannot be deleted (403, the words the provider retries on)', async () => {
    await start({ domains: ['example.com'], cloud: { actionMs: ACTION_MS, certificateReleaseMs: ACTION_MS } });
    expect((await lb([https()])).status).toBe(422);
    expect((await lb([https('0e4c3ac5-6a59-4b0f-a9f3-29e2c1b1d4aa')])).body.message).toMatch(/needs certificate_id/);
    // A certificate_name in a rule is not the API's: it does not stand for the id.
    expect((await lb([{ ...https(), certificate_name: 'shop-cert' }])).status).toBe(422);

    const cert = (await letsEncrypt('shop-cert', ['shop.example.com'])).body.certificate;
    await settle();
    const made = await lb([https(cert.id)], { redirect_http_to_https: true });
    expect(made.status).toBe(202);
    expect(made.body.load_balancer).toMatchObject({ redirect_http_to_https: true });
    expect(made.body.load_balancer.forwarding_rules[1]).toEqual({ ...https(cert.id), tls_passthrough: false });

    const inUse = await call('DELETE', `/v2/certificates/${cert.id}`);
    expect(inUse.status).toBe(403);
    expect(inUse.body.message).toContain('Make sure the certificate is not in use before deleting it');
    expect((await call('DELETE', `/v2/load_balancers/${made.body.load_balancer.id}`)).status).toBe(204);
    // The certificates API takes a moment to see that the load balancer is gone.
    expect((await call('DELETE', `/v2/certificates/${cert.id}`)).status).toBe(403);
    await settle();
    expect((await call('DELETE', `/v2/certificates/${cert.id}`)).status).toBe(204);
    expect((await call('GET', `/v2/certificates/${cert.id}`)).status).toBe(404);
    expect((await call('DELETE', `/v2/certificates/${cert.id}`)).status).toBe(404);
  });

  it("a load balancer presenting a Let's Encrypt certificate makes an A record at its domain's apex, unless disable_lets_encrypt_dns_records", async () => {
    await start({ domains: ['example.com'], cloud: { actionMs: ACTION_MS } });
    const cert = (await letsEncrypt('shop-cert', ['shop.example.com'])).body.certificate;
    await settle();
    const quiet = (await lb([https(cert.id)], { disable_lets_encrypt_dns_records: true })).body.load_balancer;
    await settle();
    expect(api!.cloud.snapshot().records.filter((r) => r.type === 'A')).toEqual([]);
    expect((await call('DELETE', `/v2/load_balancers/${quiet.id}`)).status).toBe(204);

    const loud = (await lb([https(cert.id)])).body.load_balancer;
    await settle();
    const ip = api!.cloud.snapshot().loadBalancers[0]!.ip;
    expect(api!.cloud.snapshot().records.filter((r) => r.type === 'A')).toMatchObject([{ domain: 'example.com', name: '@', data: ip }]);
    expect((await call('DELETE', `/v2/load_balancers/${loud.id}`)).status).toBe(204);
    expect(api!.cloud.snapshot().records.filter((r) => r.type === 'A')).toHaveLength(1);
  });

  it("records: only in the account's domains (404); the domain's SOA and NS come with it; create, list by type and full name, update, delete", async () => {
    await start({ domains: ['example.com', 'example.org'], cloud: { actionMs: ACTION_MS } });
    expect((await call('GET', '/v2/domains/example.net/records')).status).toBe(404);
    expect((await call('POST', '/v2/domains/example.net/records', { type: 'A', name: 'shop', data: '192.0.2.1' })).status).toBe(404);
    expect((await call('GET', '/v2/domains/example.com')).body.domain.name).toBe('example.com');
    expect((await call('GET', '/v2/domains/example.com/records')).body.domain_records.map((r: { type: string }) => r.type)).toEqual(['SOA', 'NS', 'NS']);

    const made = await call('POST', '/v2/domains/example.com/records', { type: 'A', name: 'shop', data: '198.51.100.7', ttl: 300 });
    expect(made.status).toBe(201);
    expect(made.body.domain_record).toMatchObject({ type: 'A', name: 'shop', data: '198.51.100.7', ttl: 300 });
    expect(made.body.domain_record).not.toHaveProperty('fqdn');
    const id = made.body.domain_record.id as number;
    // A fully qualified name (trailing dot) is kept relative to its domain; the apex is "@".
    const apex = await call('POST', '/v2/domains/example.com/records', { type: 'TXT', name: 'example.com.', data: 'v=spf1 -all' });
    expect(apex.body.domain_record).toMatchObject({ name: '@', ttl: 1800 });

    const onlyA = (await call('GET', '/v2/domains/example.com/records?type=A&per_page=20')).body.domain_records;
    expect(onlyA.map((r: { id: number }) => r.id)).toEqual([id]);
    expect((await call('GET', '/v2/domains/example.com/records?name=shop.example.com')).body.domain_records.map((r: { id: number }) => r.id)).toEqual([id]);
    expect((await call('GET', `/v2/domains/example.org/records/${id}`)).status).toBe(404);

    const refused = [
      await call('POST', '/v2/domains/example.com/records', { type: 'A', name: 'shop', data: 'shop.example.com' }),
      await call('POST', '/v2/domains/example.com/records', { type: 'AAAA', name: 'shop', data: '198.51.100.7' }),
      await call('POST', '/v2/domains/example.com/records', { type: 'A', name: 'shop', data: '198.51.100.7', ttl: 10 }),
      await call('POST', '/v2/domains/example.com/records', { type: 'A', name: 'bad name!', data: '198.51.100.7' }),
      await call('POST', '/v2/domains/example.com/records', { type: 'SPF', name: 'shop', data: 'x' }),
      await call('POST', '/v2/domains/example.com/records', { type: 'MX', name: '@', data: 'mail.example.com.' }),
    ];
    expect(refused.map((r) => r.status)).toEqual([422, 422, 422, 422, 422, 422]);

    expect((await call('PUT', `/v2/domains/example.com/records/${id}`, { data: '198.51.100.8' })).body.domain_record).toMatchObject({
      name: 'shop',
      data: '198.51.100.8',
      ttl: 300,
    });
    expect((await call('GET', `/v2/domains/example.com/records/${id}`)).body.domain_record.data).toBe('198.51.100.8');
    expect((await call('DELETE', `/v2/domains/example.com/records/${id}`)).status).toBe(204);
    expect((await call('GET', `/v2/domains/example.com/records/${id}`)).status).toBe(404);
    expect(
      api!.cloud
        .snapshot()
        .records.filter((r) => r.domain === 'example.com')
        .map((r) => `${r.type} ${r.name}`),
    ).toEqual(['SOA @', 'NS @', 'NS @', 'NS @', 'TXT @']);
  });
});
