/// <reference path="./support/fake-do-api.d.ts" />
/**
 * The wizard as a person uses it: answers typed into a real pseudo-terminal
 * (test/support/pty.ts), against the stand-in DigitalOcean API on 127.0.0.1.
 * The workspace it writes must equal the one the equivalent flags write.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_TOKEN, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { BIN, homeWithKey, runCli, tempDir } from './support/cli.js';
import { spawnInPty, type PtySession } from './support/pty.js';
import { ansibleVaultDecrypt, budget, needs } from './support/tools.js';

/** Per prompt and per exit: the wizard waits on the stand-in API and writes vaults, on a CI machine busy with the lab's containers. */
const PTY = { timeoutMs: 60_000, lifetimeMs: 10 * 60_000 };

const VAULT_PASSWORD = 'typed vault password';
let api: FakeDoApi;
let root: string;
let home: string;

beforeAll(async () => {
  root = tempDir('hawp-pty-');
  ({ home } = await homeWithKey(root));
  api = await startFakeDoApi({ perPageCap: 3, domains: ['example.com'] });
});
afterAll(async () => api?.close());

/**
 * Answers prompts in order: wait for each prompt, then type the answer (a
 * string, followed by Enter), send raw keys ({ keys }), or nothing (a step
 * that only waits for text). Never types ahead.
 */
type Step = [prompt: string | RegExp, answer?: string | { keys: string }];
async function converse(s: PtySession, steps: Step[]): Promise<void> {
  for (const [prompt, answer] of steps) {
    await s.expect(prompt);
    if (typeof answer === 'string') s.type(answer);
    else if (answer) s.write(answer.keys);
  }
}

/** A user's environment with no token or vault password set: the wizard must ask. */
const wizardEnv = () => ({
  HOME: home,
  DIGITALOCEAN_TOKEN: undefined,
  DIGITALOCEAN_ACCESS_TOKEN: undefined,
  HA_WORDPRESS_VAULT_PASSWORD: undefined,
  NO_COLOR: '1',
});

const GROUPS = ['all', 'galera_cluster_node', 'galera_loadbalancer', 'wp_node'];
/** Vault entries that are generated (random) rather than derived from the answers. */
const GENERATED = new Set([
  'vault_wp_db_pass',
  'vault_galera_root_password',
  'vault_galera_clustercheck_password',
  'vault_galera_sst_password',
  'vault_haproxy_stats_pass',
  'vault_keepalived_auth_pass',
  'vault_wp_admin_password',
  'vault_wp_salt',
  'vault_backup_restic_password',
  'vault_db_tls_ca',
  'vault_db_tls_server',
  'vault_db_tls_client',
]);

function snapshot(ws: string, pwFile: string) {
  const plain = [
    'ha-wordpress.yml',
    '.gitignore',
    '.vault-pass',
    'terraform/terraform.tfvars',
    'terraform/variables.tf',
    ...GROUPS.map((g) => `ansible/group_vars/${g}/vars.yml`),
  ];
  // The buckets' names end in 6 random characters, made once per workspace.
  const files = Object.fromEntries(plain.map((f) => [f, readFileSync(path.join(ws, f), 'utf8').replace(/-(backups|media)-[a-z0-9]{6}\b/g, '-$1-<random>')]));
  const vaults: Record<string, Record<string, unknown>> = {};
  for (const rel of ['terraform/vault.yml', ...GROUPS.map((g) => `ansible/group_vars/${g}/vault.yml`)]) {
    const data = yaml.load(ansibleVaultDecrypt(path.join(ws, rel), pwFile)) as Record<string, unknown>;
    vaults[rel] = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, GENERATED.has(k) ? `<generated ${typeof v}>` : v]));
  }
  return { files, vaults };
}

needs('ansible-vault').describe('the interactive wizard in a pseudo-terminal', () => {
  it(
    'asks, re-asks a bad answer, hides secrets, and writes the same workspace as the equivalent flags',
    async () => {
      const wsTyped = path.join(root, 'typed');
      mkdirSync(wsTyped);
      const s = spawnInPty(process.execPath, [BIN, 'init', '--api-url', api.url], {
        cwd: wsTyped,
        env: wizardEnv(),
        ...PTY,
      });
      await converse(s, [
        ['Where should the cluster run?', { keys: s.keys.enter }], // digitalocean, the default
        ['Project name', 'Bad_Name'],
        // The rejected text stays in the line: clear it, then the right answer.
        ['lowercase letters, digits and hyphens', { keys: `${s.keys.clearLine}shop\r` }],
        ['Vault password', VAULT_PASSWORD],
        ['Repeat the vault password', VAULT_PASSWORD],
        ['DigitalOcean API token', DEFAULT_TOKEN],
        // syd1 is the 11th available region (and on the fake API's 4th page).
        [/Region[\s\S]*nyc1/, { keys: s.keys.down.repeat(10) }],
        ['❯ syd1', { keys: s.keys.enter }],
        ['Domain name for the site', 'shop.example.com'],
        ['Keep the vault password in the workspace', { keys: s.keys.enter }],
        ['Customise node counts', 'n'],
      ]);
      await s.expect('Next: cd shop && ha-wordpress up');
      expect(await s.wait()).toEqual({ code: 0, signal: null });

      const transcript = s.transcript();
      expect(transcript).not.toContain(DEFAULT_TOKEN);
      expect(transcript).not.toContain(VAULT_PASSWORD);
      expect(transcript).toMatch(/syd1\s+Sydney 1\s+8 droplets ≈ \$\d+\/month/);

      const wsFlags = path.join(root, 'flags', 'shop');
      const pwFile = path.join(root, 'pw.txt');
      writeFileSync(pwFile, VAULT_PASSWORD + '\n');
      const r = await runCli(
        [
          'init',
          '--non-interactive',
          '--project',
          'shop',
          '--region',
          'syd1',
          '--domain',
          'shop.example.com',
          '--vault-password-file',
          pwFile,
          '--dir',
          wsFlags,
          '--api-url',
          api.url,
          // The wizard keeps a typed password by default; one from a file is kept only on request.
          '--save-vault-password',
        ],
        { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(path.join(wsTyped, 'shop', 'ha-wordpress.yml'))).toBe(true);
      expect(snapshot(path.join(wsTyped, 'shop'), pwFile)).toEqual(snapshot(wsFlags, pwFile));

      // Again, from inside the workspace: Enter everywhere keeps everything,
      // the stored token included (its prompt offers to keep it).
      const ws = path.join(wsTyped, 'shop');
      const before = ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars/galera_cluster_node/vault.yml'), pwFile);
      const again = spawnInPty(process.execPath, [BIN, 'init', '--api-url', api.url], {
        cwd: ws,
        env: wizardEnv(),
        ...PTY,
      });
      const enter = { keys: again.keys.enter };
      await converse(again, [
        ['Where should the cluster run?', enter],
        ['Project name', enter],
        ['DigitalOcean API token (empty: keep the current one)', enter],
        ['Region', enter],
        ['Domain name', enter],
        ['Keep the vault password', enter],
        ['Customise node counts', 'n'],
      ]);
      await again.expect('0 written');
      expect(await again.wait()).toEqual({ code: 0, signal: null });
      expect(again.transcript()).toContain('Updating the workspace');
      expect(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars/galera_cluster_node/vault.yml'), pwFile)).toBe(before);
      expect(yaml.load(ansibleVaultDecrypt(path.join(ws, 'terraform/vault.yml'), pwFile))).toEqual({ do_token: DEFAULT_TOKEN });
    },
    budget({ cli: 3, 'ansible-vault': 13 }),
  );

  it('on a terminal, a bad flag value is reported naming the flag, then asked for', async () => {
    const cwd = path.join(root, 'badflag');
    mkdirSync(cwd);
    const s = spawnInPty(process.execPath, [BIN, 'init', '--target', 'local', '--domain', 'not a domain'], {
      cwd,
      env: { HOME: home, HA_WORDPRESS_VAULT_PASSWORD: undefined, NO_COLOR: '1' },
      ...PTY,
    });
    await converse(s, [
      ['Project name', 'lab'],
      ['Vault password', VAULT_PASSWORD],
      ['Repeat the vault password', VAULT_PASSWORD],
      ['error: --domain: give a full domain name such as www.example.com'],
      ['Domain name for the site', 'lab.example.com'],
      ['Keep the vault password', { keys: s.keys.enter }],
      ['Customise node counts', 'n'],
    ]);
    expect(await s.wait()).toEqual({ code: 0, signal: null });
    expect(readFileSync(path.join(cwd, 'lab', 'ha-wordpress.yml'), 'utf8')).toMatch(/^domain: lab\.example\.com$/m);
  });

  it('Ctrl-C at a prompt exits 130 and writes nothing', async () => {
    const cwd = path.join(root, 'cancel');
    mkdirSync(cwd);
    const s = spawnInPty(process.execPath, [BIN, 'init'], { cwd, env: { HOME: home, NO_COLOR: '1' }, ...PTY });
    await s.expect('Where should the cluster run?');
    s.write(s.keys.ctrlC);
    expect((await s.wait()).code).toBe(130);
    expect(existsSync(path.join(cwd, 'hawp'))).toBe(false);
  });
});
