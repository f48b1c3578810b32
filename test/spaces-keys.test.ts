/// <reference path="./support/fake-do-api.d.ts" />
/**
 * Spaces access keys: the stand-in's /v2/spaces/keys (what DigitalOcean
 * documents: docs/spaces.md), the client's calls over it, and the real
 * Terraform provider driving the same stand-in, which shows the stand-in's
 * answers have the shapes godo reads.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, connect, spacesGrantProblem, type DoApi, type SpacesGrant } from '../src/digitalocean/client.js';
import { UserError } from '../src/errors.js';
import { scrub } from '../src/ui/logger.js';
import { spacesKey, spacesSecret } from '../src/validation/rules.js';
import { DEFAULT_TOKEN, startFakeDoApi, type DoSpacesKey, type FakeDoApi, type FakeDoApiOptions } from './support/fake-do-api.mjs';
import { budget, runTool } from './support/tools.js';
import { REQUIRE_ENV, REQUIRED, SKIP, terraformEnv, writeCliConfig } from './support/terraform-provider.js';

let api: FakeDoApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function fake(options: FakeDoApiOptions = {}): Promise<FakeDoApi> {
  api = await startFakeDoApi(options);
  return api;
}

/** One raw request to the stand-in, as any HTTP client would send it. */
async function call(method: string, url: string, body?: unknown, token = DEFAULT_TOKEN): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const key = (name: string, access_key: string, grants: DoSpacesKey['grants'], created_at: string): DoSpacesKey => ({ name, access_key, grants, created_at });

describe('the stand-in /v2/spaces/keys', () => {
  it('shows a secret only in the create answer; list and get never carry it', async () => {
    const a = await fake();
    const made = await call('POST', `${a.url}/v2/spaces/keys`, { name: 'shop-backup', grants: [{ bucket: 'shop-backups', permission: 'readwrite' }] });
    expect(made.status).toBe(201);
    expect(made.json.key).toMatchObject({ name: 'shop-backup', grants: [{ bucket: 'shop-backups', permission: 'readwrite' }] });
    const { access_key, secret_key, created_at } = made.json.key;
    // The formats the settings' own checks expect of a real key.
    expect(spacesKey(access_key)).toBeUndefined();
    expect(spacesSecret(secret_key)).toBeUndefined();
    expect(created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(a.spacesSecret(access_key)).toBe(secret_key);

    const listed = await call('GET', `${a.url}/v2/spaces/keys`);
    expect(listed.status).toBe(200);
    expect(listed.json.keys).toEqual([{ name: 'shop-backup', access_key, grants: [{ bucket: 'shop-backups', permission: 'readwrite' }], created_at }]);
    expect(listed.json.meta).toEqual({ total: 1 });
    const got = await call('GET', `${a.url}/v2/spaces/keys/${access_key}`);
    expect(got.json).toEqual({ key: listed.json.keys[0] });
    expect(JSON.stringify([listed.json, got.json])).not.toContain(secret_key);
  });

  it('refuses a malformed grant with 400 and DigitalOcean’s error shape, and makes nothing', async () => {
    const a = await fake();
    const bad = [
      { name: 'x', grants: [{ bucket: 'b', permission: 'write' }] },
      { name: 'x', grants: [{ bucket: 'b' }] },
      { name: 'x', grants: [{ permission: 'read' }] },
      { name: 'x', grants: { bucket: 'b', permission: 'read' } },
      { name: 'x', grants: [{ bucket: '', permission: 'readwrite' }] },
      { name: 7, grants: [{ bucket: 'b', permission: 'read' }] },
    ];
    for (const body of bad) {
      const r = await call('POST', `${a.url}/v2/spaces/keys`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(Object.keys(r.json).sort()).toEqual(['id', 'message']);
      expect(r.json.id).toBe('bad_request');
    }
    expect((await call('POST', `${a.url}/v2/spaces/keys`, '{"name": "x", ')).status).toBe(400);
    expect(a.spacesKeys).toEqual([]);
  });

  it('lets full access win over bucket grants, as DigitalOcean documents', async () => {
    const a = await fake();
    const r = await call('POST', `${a.url}/v2/spaces/keys`, {
      name: 'mixed',
      grants: [
        { bucket: 'b', permission: 'read' },
        { bucket: '', permission: 'fullaccess' },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.json.key.grants).toEqual([{ bucket: '', permission: 'fullaccess' }]);
  });

  it('lists page by page, filters by name, bucket and permission, sorts newest first unless asked', async () => {
    const a = await fake({
      perPageCap: 2,
      spacesKeys: [
        key('a', 'DO00AAAAAAAAAAAAAAAA', [{ bucket: 'b1', permission: 'read' }], '2025-01-01T00:00:00Z'),
        key('ab', 'DO00BBBBBBBBBBBBBBBB', [{ bucket: 'b2', permission: 'readwrite' }], '2025-01-03T00:00:00Z'),
        key('c', 'DO00CCCCCCCCCCCCCCCC', [{ bucket: '', permission: 'fullaccess' }], '2025-01-02T00:00:00Z'),
      ],
    });
    const page1 = await call('GET', `${a.url}/v2/spaces/keys`);
    expect(page1.json.keys.map((k: DoSpacesKey) => k.name)).toEqual(['ab', 'c']);
    expect(page1.json.meta.total).toBe(3);
    const page2 = await call('GET', page1.json.links.pages.next);
    expect(page2.json.keys.map((k: DoSpacesKey) => k.name)).toEqual(['a']);
    const names = async (q: string) => (await call('GET', `${a.url}/v2/spaces/keys?${q}`)).json.keys.map((k: DoSpacesKey) => k.name);
    expect(await names('name=a')).toEqual(['a']);
    expect(await names('bucket=b2')).toEqual(['ab']);
    expect(await names('permission=fullaccess')).toEqual(['c']);
    expect(await names('sort=name&sort_direction=asc')).toEqual(['a', 'ab']);
  });

  it('renames a key, keeps a full-access key full access, and deletes once', async () => {
    const a = await fake();
    const made = await call('POST', `${a.url}/v2/spaces/keys`, { name: 'old', grants: [{ bucket: '', permission: 'fullaccess' }] });
    const ak = made.json.key.access_key;
    const renamed = await call('PATCH', `${a.url}/v2/spaces/keys/${ak}`, { name: 'new' });
    expect(renamed.json.key).toMatchObject({ name: 'new', grants: [{ bucket: '', permission: 'fullaccess' }] });
    expect(renamed.json.key.secret_key).toBeUndefined();
    const narrowed = await call('PUT', `${a.url}/v2/spaces/keys/${ak}`, { name: 'new', grants: [{ bucket: 'b', permission: 'read' }] });
    expect(narrowed.status).toBe(400);
    expect(a.spacesKeys[0]!.grants).toEqual([{ bucket: '', permission: 'fullaccess' }]);
    expect((await call('DELETE', `${a.url}/v2/spaces/keys/${ak}`)).status).toBe(204);
    expect((await call('DELETE', `${a.url}/v2/spaces/keys/${ak}`)).status).toBe(404);
    expect((await call('GET', `${a.url}/v2/spaces/keys/${ak}`)).json).toEqual({
      id: 'not_found',
      message: 'The resource you were accessing could not be found.',
    });
    expect(a.spacesSecret(ak)).toBeUndefined();
  });

  it('answers 401 without a valid token, and loseAnswerOnce carries the request out but answers 502', async () => {
    const a = await fake({ loseAnswerOnce: { path: '/v2/spaces/keys', method: 'POST' } });
    expect((await call('GET', `${a.url}/v2/spaces/keys`, undefined, 'dop_v1_wrong')).status).toBe(401);
    expect((await call('GET', `${a.url}/v2/spaces/keys`)).status).toBe(200); // a GET is not the one lost
    const lost = await call('POST', `${a.url}/v2/spaces/keys`, { name: 'k', grants: [{ bucket: 'b', permission: 'read' }] });
    expect(lost.status).toBe(502);
    expect(a.spacesKeys.map((k) => k.name)).toEqual(['k']);
    expect((await call('POST', `${a.url}/v2/spaces/keys`, { name: 'k2', grants: [{ bucket: 'b', permission: 'read' }] })).status).toBe(201);
  });
});

describe('spacesGrantProblem', () => {
  it('accepts one full-access grant, or bucket grants with one grant per bucket', () => {
    expect(spacesGrantProblem([{ bucket: '', permission: 'fullaccess' }])).toBeUndefined();
    expect(
      spacesGrantProblem([
        { bucket: 'a', permission: 'read' },
        { bucket: 'b', permission: 'readwrite' },
      ]),
    ).toBeUndefined();
  });
  it.each<[string, SpacesGrant[], RegExp]>([
    ['no grant', [], /at least one grant/],
    [
      'full access beside a bucket grant',
      [
        { bucket: 'a', permission: 'read' },
        { bucket: '', permission: 'fullaccess' },
      ],
      /cannot also have bucket grants/,
    ],
    ['full access naming a bucket', [{ bucket: 'a', permission: 'fullaccess' }], /bucket ""/],
    ['a bucket grant without a bucket', [{ bucket: '', permission: 'readwrite' }], /readwrite grant needs a bucket/],
    [
      'two grants on one bucket',
      [
        { bucket: 'a', permission: 'read' },
        { bucket: 'a', permission: 'readwrite' },
      ],
      /more than one grant/,
    ],
  ])('refuses %s', (_, grants, why) => {
    expect(spacesGrantProblem(grants)).toMatch(why);
  });
});

describe('the client’s Spaces key calls against the stand-in', () => {
  async function client(options: FakeDoApiOptions = {}, token = DEFAULT_TOKEN): Promise<DoApi> {
    const a = await fake(options);
    // One attempt: a failure injected once is not hidden by a retry.
    return connect({ token, apiUrl: a.url, policy: { sleep: async () => undefined, timeoutMs: 2000, attempts: 1 } });
  }
  const posts = () => api!.requests.filter((r) => r.method === 'POST' && r.path === '/v2/spaces/keys');

  it('creates a bucket-scoped key: the grants sent are exactly those asked, the secret is redacted from then on', async () => {
    const c = await client();
    const made = await c.createSpacesKey('shop-backup', [{ bucket: 'shop-backups', permission: 'readwrite' }]);
    expect(made).toMatchObject({ name: 'shop-backup', grants: [{ bucket: 'shop-backups', permission: 'readwrite' }] });
    expect(made.secretKey).toBe(api!.spacesSecret(made.accessKey));
    expect(made.createdAt).toBe(new Date(api!.spacesKeys[0]!.created_at).toISOString());
    expect(posts().map((r) => r.body)).toEqual([{ name: 'shop-backup', grants: [{ bucket: 'shop-backups', permission: 'readwrite' }] }]);
    expect(scrub(`the secret is ${made.secretKey}`)).toBe('the secret is [redacted]');
    expect(scrub(made.accessKey)).toBe(made.accessKey); // an access key is not a secret
  });

  it('sends a full-access grant with its empty bucket', async () => {
    const c = await client();
    const made = await c.createSpacesKey('shop-terraform', [{ bucket: '', permission: 'fullaccess' }]);
    expect(made.grants).toEqual([{ bucket: '', permission: 'fullaccess' }]);
    expect(posts()[0]!.body).toEqual({ name: 'shop-terraform', grants: [{ bucket: '', permission: 'fullaccess' }] });
  });

  it('refuses grants DigitalOcean would widen, before sending anything', async () => {
    const c = await client();
    const err = await c
      .createSpacesKey('mixed', [
        { bucket: 'b', permission: 'read' },
        { bucket: '', permission: 'fullaccess' },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^cannot create Spaces key "mixed": a full-access Spaces key cannot also have bucket grants/);
    expect(api!.requests).toEqual([]);
  });

  it('deletes a key that comes back wider than asked, and fails', async () => {
    const c = await client({ widenSpacesKeys: true });
    const err = await c.createSpacesKey('narrow', [{ bucket: 'b', permission: 'read' }]).catch((e: unknown) => e);
    expect((err as Error).message).toBe('DigitalOcean made Spaces key "narrow" with other grants than asked (fullaccess for read on b); it was deleted');
    expect(api!.spacesKeys).toEqual([]);
    expect(api!.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
  });

  it('when the create answer is lost, deletes the key that appeared and leaves an older one of the same name', async () => {
    const older = key('shop-backup', 'DO00OLDOLDOLDOLDOLDO', [{ bucket: 'shop-backups', permission: 'readwrite' }], '2025-01-01T00:00:00Z');
    const c = await client({ spacesKeys: [older], loseAnswerOnce: { path: '/v2/spaces/keys', method: 'POST' } });
    const err = await c.createSpacesKey('shop-backup', [{ bucket: 'shop-backups', permission: 'readwrite' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(502);
    expect((err as Error).message).toMatch(/^DigitalOcean answered 502 while creating Spaces key "shop-backup"/);
    expect(api!.spacesKeys).toEqual([older]);
    expect(posts()).toHaveLength(1); // never sent twice
    const deleted = api!.requests.filter((r) => r.method === 'DELETE').map((r) => r.path);
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).not.toContain(older.access_key);
  });

  it('says so when it cannot tell whether a key was made', async () => {
    // The create answer is lost, then the listing that would find the key fails.
    const c = await client({
      loseAnswerOnce: { path: '/v2/spaces/keys', method: 'POST' },
      failOnce: { path: '/v2/spaces/keys', method: 'GET', skip: 1, status: 500 },
    });
    const err = await c.createSpacesKey('k', [{ bucket: 'b', permission: 'read' }]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      new RegExp(
        '^DigitalOcean answered 502 while creating Spaces key "k".*; ' +
          'a Spaces key named "k" may have been made and could not be removed: delete it in the control panel \\(Spaces Object Storage → Access Keys\\)$',
      ),
    );
    expect(api!.spacesKeys.map((k) => k.name)).toEqual(['k']); // it was made, and is still there
    expect(posts()).toHaveLength(1);
  });

  it('lists every page and keeps only the exact name', async () => {
    const keys = Array.from({ length: 7 }, (_, i) =>
      key(i % 2 ? 'shop-media' : 'shop-media-old', `DO00${String(i).repeat(16)}`, [{ bucket: 'm', permission: 'readwrite' }], `2025-01-0${i + 1}T00:00:00Z`),
    );
    const c = await client({ perPageCap: 3, spacesKeys: keys });
    expect((await c.spacesKeys()).map((k) => k.accessKey).sort()).toEqual(keys.map((k) => k.access_key).sort());
    expect(api!.requests.filter((r) => r.path === '/v2/spaces/keys').map((r) => r.query.page)).toEqual(['1', '2', '3']);
    const media = await c.spacesKeys({ name: 'shop-media' });
    expect(media.map((k) => k.name)).toEqual(['shop-media', 'shop-media', 'shop-media']);
  });

  it('deletes a key once; a second delete reports it was already gone', async () => {
    const c = await client({ spacesKeys: [key('k', 'DO00KKKKKKKKKKKKKKKK', [{ bucket: 'b', permission: 'read' }], '2025-01-01T00:00:00Z')] });
    expect(await c.deleteSpacesKey('DO00KKKKKKKKKKKKKKKK')).toBe(true);
    expect(await c.deleteSpacesKey('DO00KKKKKKKKKKKKKKKK')).toBe(false);
    expect(api!.spacesKeys).toEqual([]);
  });

  it('a 403 names the spaces_key scopes and never the token', async () => {
    const token = 'dop_v1_' + 'd'.repeat(64);
    const c = await client({ tokens: [token], forbiddenTokens: [token] }, token);
    const err = await c.createSpacesKey('k', [{ bucket: 'b', permission: 'read' }]).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'the API token may not manage Spaces keys (403) while listing Spaces keys: ' +
        'use a full-access token, or give it the spaces_key scopes (create_credentials, read, delete)',
    );
    expect(api!.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });
});

// One line either way: what ran, or why it could not.
if (SKIP) console.log(`real provider against the stand-in's Spaces keys ${SKIP}`);
if (SKIP && REQUIRED) it(`${REQUIRE_ENV}=1: the real provider must be usable here`, () => expect.fail(SKIP));

describe.skipIf(SKIP)(SKIP ? `real provider against the stand-in's Spaces keys ${SKIP}` : 'the real provider drives the stand-in’s Spaces keys', () => {
  it(
    'applies a bucket-scoped digitalocean_spaces_key, re-plans nothing, and destroys it',
    async () => {
      const a = await fake({
        perPageCap: 2,
        spacesKeys: [key('other', 'DO00OTHEROTHEROTHER0', [{ bucket: 'x', permission: 'read' }], '2025-01-01T00:00:00Z')],
      });
      const root = mkdtempSync(path.join(os.tmpdir(), 'hawp-spaces-keys-'));
      try {
        const dir = path.join(root, 'tf');
        mkdirSync(dir);
        writeFileSync(
          path.join(dir, 'main.tf'),
          [
            'terraform {',
            '  required_providers {',
            '    digitalocean = { source = "digitalocean/digitalocean" }',
            '  }',
            '}',
            'provider "digitalocean" {}',
            'resource "digitalocean_spaces_key" "backup" {',
            '  name = "shop-backup"',
            '  grant {',
            '    bucket     = "shop-backups"',
            '    permission = "readwrite"',
            '  }',
            '}',
            '',
          ].join('\n'),
        );
        const env = terraformEnv(writeCliConfig(root), { DIGITALOCEAN_TOKEN: DEFAULT_TOKEN, DIGITALOCEAN_API_URL: a.url });
        const tf = (...args: string[]) => runTool('terraform', [...args, '-no-color'], { cwd: dir, env });
        await tf('init', '-input=false');
        await tf('apply', '-auto-approve', '-input=false');
        const made = a.spacesKeys.find((k) => k.name === 'shop-backup');
        expect(made?.grants).toEqual([{ bucket: 'shop-backups', permission: 'readwrite' }]);
        const state = JSON.parse(readFileSync(path.join(dir, 'terraform.tfstate'), 'utf8'));
        const attrs = state.resources[0].instances[0].attributes;
        expect(attrs.access_key).toBe(made!.access_key);
        // The secret from the create answer reached the state (in plain text:
        // why docs/spaces.md keeps key secrets out of terraform).
        expect(attrs.secret_key).toBe(a.spacesSecret(made!.access_key));
        const plan = await runTool('terraform', ['plan', '-detailed-exitcode', '-input=false', '-no-color'], { cwd: dir, env, allowFailure: true });
        expect(plan.code, plan.report).toBe(0);
        await tf('destroy', '-auto-approve', '-input=false');
        expect(a.spacesKeys.map((k) => k.name)).toEqual(['other']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
    budget({ terraform: 4 }),
  );
});
