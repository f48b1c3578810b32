/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `up` and `destroy` on a terminal (a real pseudo-terminal, test/support/
 * pty.ts), with the stand-in terraform first on PATH and the stand-in
 * DigitalOcean API on 127.0.0.1: the plan is confirmed by a question, and
 * destroy happens only when the project name is typed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TOKEN, defaultKeys, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { BIN, homeWithKey, ROOT, runCli, tempDir } from './support/cli.js';
import { spawnInPty } from './support/pty.js';
import { readCalls, standinBin } from './support/standins.js';
import { budget } from './support/tools.js';
import { md5Fingerprint } from '../src/ssh/keys.js';

let api: FakeDoApi;
let root: string;
let home: string;
let pwFile: string;
let bin: string;

beforeAll(async () => {
  root = tempDir('hawp-uppty-');
  const made = await homeWithKey(root);
  home = made.home;
  pwFile = path.join(root, 'pw.txt');
  writeFileSync(pwFile, 'terminal vault password\n');
  api = await startFakeDoApi({ keys: [...defaultKeys(), { id: 7, name: 'me', fingerprint: md5Fingerprint(made.publicKey), public_key: made.publicKey }] });
  bin = standinBin(root, ['terraform']);
});
afterAll(async () => api?.close());

async function workspace(name: string): Promise<string> {
  const ws = path.join(root, name);
  const r = await runCli(
    ['init', '--non-interactive', '--project', name, '--region', 'fra1', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url],
    {
      env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
    },
  );
  expect(r.code, r.stderr).toBe(0);
  return ws;
}

const env = (record: string) => ({
  HOME: home,
  PATH: `${bin}:${process.env.PATH}`,
  STANDIN_RECORD: record,
  STANDIN_REPO: ROOT,
  HA_WORDPRESS_CHILD_ENV: 'STANDIN_*',
  NO_COLOR: '1',
  DIGITALOCEAN_TOKEN: undefined,
  HA_WORDPRESS_VAULT_PASSWORD: undefined,
});
/** Generous timeouts: in CI these run beside the lab tests on 2 busy cores. */
const PTY = { timeoutMs: 60_000, lifetimeMs: 5 * 60_000 };
// Each test and hook runs the CLI twice (init, then up or destroy).
vi.setConfig({ testTimeout: budget({ cli: 2 }), hookTimeout: budget({ cli: 2 }) });
const state = (ws: string) => (JSON.parse(readFileSync(path.join(ws, 'terraform', 'terraform.tfstate'), 'utf8')) as { resources: string[] }).resources;

describe('on a terminal', () => {
  it('up shows the plan and its cost, and applies nothing when the answer is no', async () => {
    const ws = await workspace('asked');
    const record = path.join(root, 'asked.jsonl');
    const s = spawnInPty(process.execPath, [BIN, 'up', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], { env: env(record), ...PTY });
    // The backup bucket comes first, with its own question and price.
    // (The terminal wraps the question after its price's first words.)
    await s.expect(/Create the buckets asked-backups-[a-z0-9]{6} \(backups, ams3\) and asked-media-[a-z0-9]{6} \(uploads, fra1\) \(Spaces: \$5\/month for/);
    s.type('y');
    await s.expect('8 droplets in fra1 ≈ $120/month');
    await s.expect('Apply this plan (18 to add, 0 to change, 0 to destroy)?');
    s.type('n');
    await s.expect('Nothing was changed.');
    expect(await s.wait()).toEqual({ code: 0, signal: null });
    const applied = readCalls(record).filter((c) => c.argv[0] === 'apply');
    expect(applied.map((c) => c.cwd)).toEqual([path.join(ws, 'terraform', 'backup')]);
  });

  it('up stops before the cluster when the buckets are declined, and says so', async () => {
    const ws = await workspace('nobucket');
    const record = path.join(root, 'nobucket.jsonl');
    const s = spawnInPty(process.execPath, [BIN, 'up', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], { env: env(record), ...PTY });
    await s.expect('Create the buckets');
    s.type('n');
    await s.expect('up stopped: the cluster is not set up without its backup and media buckets; nothing else was changed');
    expect((await s.wait()).code).toBe(1);
    expect(readCalls(record).some((c) => c.argv[0] === 'apply')).toBe(false);
  });

  it('up applies the plan when the answer is yes', async () => {
    const ws = await workspace('yes');
    const s = spawnInPty(process.execPath, [BIN, 'up', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], {
      env: env(path.join(root, 'yes.jsonl')),
      ...PTY,
    });
    await s.expect('Create the buckets');
    s.type('y');
    await s.expect('Apply this plan');
    s.type('y');
    await s.expect('The infrastructure is up.');
    expect(await s.wait()).toEqual({ code: 0, signal: null });
    expect(state(ws)).toHaveLength(18);
  });

  describe('destroy', () => {
    let ws: string;
    beforeAll(async () => {
      ws = await workspace('typed');
      const r = await runCli(['up', '--yes', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], {
        env: env(path.join(root, 'typed-up.jsonl')),
      });
      expect(r.code, r.stderr).toBe(0);
    });

    it('aborts when the typed name is not the project name, and destroys nothing', async () => {
      const record = path.join(root, 'typed-wrong.jsonl');
      const s = spawnInPty(process.execPath, [BIN, 'destroy', '--dir', ws, '--vault-password-file', pwFile], { env: env(record), ...PTY });
      await s.expect('8 × digitalocean_droplet');
      await s.expect('Type the project name (typed) to destroy it:');
      s.type('type');
      await s.expect('"type" is not the project name typed; nothing was destroyed');
      expect(await s.wait()).toEqual({ code: 1, signal: null });
      expect(readCalls(record).some((c) => c.argv[0] === 'apply')).toBe(false);
      expect(state(ws)).toHaveLength(18);
    });

    it('destroys when the project name is typed, and keeps the workspace', async () => {
      const s = spawnInPty(process.execPath, [BIN, 'destroy', '--dir', ws, '--vault-password-file', pwFile], {
        env: env(path.join(root, 'typed-right.jsonl')),
        ...PTY,
      });
      await s.expect('Type the project name (typed) to destroy it:');
      s.type('typed');
      await s.expect('destroyed 18 resources of typed');
      expect(await s.wait()).toEqual({ code: 0, signal: null });
      expect(state(ws)).toEqual([]);
      expect(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')).toContain('project: typed');
    });
  });
});
