/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `ha-wordpress init` end to end: the built CLI, run without a terminal as CI
 * runs it, against a stand-in DigitalOcean API on 127.0.0.1 (paginating,
 * one 429 with Retry-After, 401 for unknown tokens), checked with the real
 * tools: ansible-vault, ansible-playbook (Jinja templating of every value)
 * and terraform (variables.tf validation).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TOKEN, defaultKeys, defaultRegions, startFakeDoApi, type FakeDoApi, type FakeDoApiOptions } from './support/fake-do-api.mjs';
import { homeWithKey, runCli, tempDir, type CliResult } from './support/cli.js';
import { ansibleVaultDecrypt, budget, needs, runTool, runToolSync, terraformEval, terraformPlan } from './support/tools.js';
import { decryptVault } from '../src/secrets/vault.js';
import { listFiles } from '../src/workspace/files.js';
import { issue, newCa } from '../src/secrets/pki.js';
import { md5Fingerprint } from '../src/ssh/keys.js';

// A test here runs the CLI once or twice and real ansible-vault up to 8
// times; on a busy CI machine each takes seconds to tens of seconds.
vi.setConfig({ testTimeout: budget({ cli: 2, 'ansible-vault': 8 }), hookTimeout: budget({ cli: 1 }) });

const GROUP_VARS: Record<string, string[]> = {
  all: [
    'vault_wp_db_name',
    'vault_wp_db_user',
    'vault_wp_db_pass',
    'vault_backup_restic_password',
    'vault_backup_s3_access_key_id',
    'vault_backup_s3_secret_access_key',
    'vault_db_tls_ca',
  ],
  galera_cluster_node: ['vault_galera_root_password', 'vault_galera_clustercheck_password', 'vault_galera_sst_password', 'vault_db_tls_server'],
  galera_loadbalancer: [
    'vault_galera_ha_do_token',
    'vault_haproxy_stats_user',
    'vault_haproxy_stats_pass',
    'vault_haproxy_stats_port',
    'vault_keepalived_auth_pass',
  ],
  wp_node: [
    'vault_wp_salt',
    'vault_wp_admin_password',
    'vault_spaces_access_key',
    'vault_spaces_secret_key',
    'vault_wordpress_smtp_password',
    'vault_db_tls_client',
  ],
};

let api: FakeDoApi;
let root: string;
let home: string;
let pwFile: string;
let myKeyFingerprint: string;

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

function vaultYaml(ws: string, rel: string): Record<string, unknown> {
  return yaml.load(ansibleVaultDecrypt(path.join(ws, rel), pwFile)) as Record<string, unknown>;
}

function doInit(ws: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(
    ['init', '--non-interactive', '--project', 'shop', '--region', 'syd1', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url, ...extra],
    { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN, ...env } },
  );
}

beforeAll(async () => {
  root = tempDir('hawp-e2e-');
  const made = await homeWithKey(root);
  home = made.home;
  myKeyFingerprint = md5Fingerprint(made.publicKey);
  pwFile = path.join(root, 'vault-pass.txt');
  writeFileSync(pwFile, 'a long vault password\n');
  // The user's key is already on the account, on the last page of keys.
  const keys = [...defaultKeys(), { id: 4242, name: 'laptop', fingerprint: myKeyFingerprint, public_key: made.publicKey }];
  // example.com is in the account's DigitalOcean DNS (on the second page of domains): its names get Let's Encrypt.
  api = await startFakeDoApi({
    perPageCap: 3,
    keys,
    rateLimitOnce: { path: '/v2/sizes', retryAfter: 1 },
    domains: ['one.test', 'two.test', 'three.test', 'example.com'],
  });
});

afterAll(async () => {
  await api?.close();
});

describe('init --non-interactive against the stand-in API', () => {
  let ws: string;
  let first: CliResult;

  beforeAll(async () => {
    ws = path.join(root, 'shop');
    // Kept in the workspace on request (a password from a file is not, by default): the re-runs below give none.
    first = await doInit(ws, ['--domain', 'shop.example.com', '--save-vault-password']);
  });

  it('succeeds, after the one 429, with a region from a later page', () => {
    expect(first.stderr).toContain('Workspace ready');
    expect(first.stderr).toMatch(/warning: SSH to the droplets is open to the whole internet; restrict it with `init --ssh-allow/);
    expect(first.code).toBe(0);
    const sizes = api.requests.filter((r) => r.path === '/v2/sizes').map((r) => r.status);
    expect(sizes.slice(0, 2)).toEqual([429, 200]);
    expect(readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8')).toContain('region      = "syd1"');
  });

  it('says that the failover uses the full API token on the HAProxy nodes, and which custom scopes would do', () => {
    expect(first.stderr).toMatch(
      /^warning: the reserved-IP failover uses your full API token, so the two HAProxy nodes hold it .*custom scopes \(reserved_ip:update, /m,
    );
  });

  it("picks Let's Encrypt for a domain whose zone is in the account's DigitalOcean DNS, and says so", () => {
    expect(first.stderr).toMatch(/HTTPS\s+a Let's Encrypt certificate for shop\.example\.com, made and renewed by DigitalOcean \(example\.com is in your/);
    const tfvars = readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8');
    expect(tfvars).toMatch(/^tls\s+= "lets_encrypt"$/m);
    expect(tfvars).toMatch(/^dns_zone\s+= "example\.com"$/m);
    const all = readFileSync(path.join(ws, 'ansible/group_vars/all/vars.yml'), 'utf8');
    expect(all).toMatch(/^site_tls: !unsafe "lets_encrypt"$/m);
    expect(all).toMatch(/^site_hsts: true$/m);
    expect(yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8'))).toMatchObject({ tls: 'auto', hsts: true });
  });

  it('says so when the API rate-limits it, as it happens: the retry and its pause', () => {
    expect(first.stderr).toMatch(/^DigitalOcean API: rate limited \(HTTP 429\); try 2 of 5 in 1 s \(giving up after 60 s in all\)$/m);
    expect(first.stderr.indexOf('rate limited')).toBeLessThan(first.stderr.indexOf('Workspace ready'));
  });

  it('does not upload a key that is already on the account’s last page', () => {
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
    expect(first.stderr).toContain('already on the DigitalOcean account as "laptop"');
    expect(readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8')).toContain(myKeyFingerprint);
  });

  needs('ansible-vault').it('writes vault files that real ansible-vault decrypts, with every variable the roles read', () => {
    for (const [group, names] of Object.entries(GROUP_VARS)) {
      const data = vaultYaml(ws, `ansible/group_vars/${group}/vault.yml`);
      expect(Object.keys(data).sort()).toEqual([...names].sort());
      for (const n of names) expect(data[n], `${group}.${n}`).not.toBeUndefined();
    }
    const salts = vaultYaml(ws, 'ansible/group_vars/wp_node/vault.yml').vault_wp_salt as Record<string, string>;
    expect(Object.keys(salts)).toHaveLength(8);
    expect(vaultYaml(ws, 'terraform/vault.yml')).toEqual({ do_token: DEFAULT_TOKEN });
  });

  it('lays out the workspace with private secret files', () => {
    for (const rel of ['ha-wordpress.yml', '.gitignore', 'terraform/variables.tf', 'terraform/terraform.tfvars', 'ansible/group_vars/all/vars.yml'])
      expect(existsSync(path.join(ws, rel)), rel).toBe(true);
    for (const rel of ['.vault-pass', 'terraform/vault.yml', ...Object.keys(GROUP_VARS).map((g) => `ansible/group_vars/${g}/vault.yml`)])
      expect(statSync(path.join(ws, rel)).mode & 0o777, rel).toBe(0o600);
    expect(readFileSync(path.join(ws, '.gitignore'), 'utf8')).toMatch(/^\.vault-pass$/m);
    const settings = yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, unknown>;
    expect(settings).toMatchObject({ target: 'digitalocean', project: 'shop', region: 'syd1', domain: 'shop.example.com', 'web-nodes': 3, 'db-nodes': 3 });
    // No leftovers of the atomic writes.
    expect(allFiles(ws).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the token out of every workspace file, the output and child argv', () => {
    for (const f of allFiles(ws)) expect(readFileSync(f, 'utf8'), f).not.toContain(DEFAULT_TOKEN);
    expect(first.stdout + first.stderr).not.toContain(DEFAULT_TOKEN);
    for (const argv of first.children) expect(argv.join(' ')).not.toContain(DEFAULT_TOKEN);
  });

  needs('ansible-vault').it('prints no generated secret', async () => {
    const secrets = [
      ...Object.values(vaultYaml(ws, 'ansible/group_vars/galera_cluster_node/vault.yml')),
      vaultYaml(ws, 'ansible/group_vars/all/vault.yml').vault_wp_db_pass,
      vaultYaml(ws, 'ansible/group_vars/wp_node/vault.yml').vault_wp_admin_password,
    ] as string[];
    for (const s of secrets) expect(first.stdout + first.stderr).not.toContain(s);
  });

  needs('terraform').it('real terraform accepts the rendered tfvars against variables.tf and rejects a bad hand edit', () => {
    const dir = tempDir('hawp-tf-');
    writeFileSync(path.join(dir, 'variables.tf'), readFileSync(path.join(ws, 'terraform', 'variables.tf')));
    const tfvars = readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8');
    writeFileSync(path.join(dir, 'terraform.tfvars'), tfvars);
    const plan = terraformPlan(dir);
    expect(plan.code, plan.report).toBe(0);
    expect(plan.output).toMatch(/No changes/);
    const ok = terraformEval(
      dir,
      '[var.project, var.region, var.web_count, var.db_count, var.domain, var.ssh_allow, var.ssh_key_fingerprints, var.admin_user]',
    );
    expect(ok.ok ? '' : ok.report).toBe('');
    expect(ok.ok && ok.value).toEqual(['shop', 'syd1', 3, 3, 'shop.example.com', ['0.0.0.0/0', '::/0'], [myKeyFingerprint], 'deploy']);
    writeFileSync(path.join(dir, 'terraform.tfvars'), tfvars.replace('db_count  = 3', 'db_count  = 4'));
    const bad = terraformPlan(dir);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/db_count: use an odd number from 3 to 9/);
  });

  needs('ansible-vault').it('running init again keeps every secret and rewrites nothing', async () => {
    const before = Object.fromEntries(Object.keys(GROUP_VARS).map((g) => [g, vaultYaml(ws, `ansible/group_vars/${g}/vault.yml`)]));
    const bytes = readFileSync(path.join(ws, 'ansible/group_vars/all/vault.yml'), 'utf8');
    const again = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url], { env: { HOME: home } });
    expect(again.stderr).toContain('existing secrets are kept');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 written/);
    for (const g of Object.keys(GROUP_VARS)) expect(vaultYaml(ws, `ansible/group_vars/${g}/vault.yml`)).toEqual(before[g]);
    expect(readFileSync(path.join(ws, 'ansible/group_vars/all/vault.yml'), 'utf8')).toBe(bytes);
  });

  needs('ansible-vault').it(
    "makes the database path's CA and certificates: the server's names db.shop.internal, the client's has the account's subject; " +
      '--rotate tls replaces them and trusts the old CA beside the new',
    async () => {
      const tls = () => ({
        ca: vaultYaml(ws, 'ansible/group_vars/all/vault.yml').vault_db_tls_ca as string,
        server: vaultYaml(ws, 'ansible/group_vars/galera_cluster_node/vault.yml').vault_db_tls_server as { cert: string; key: string },
        client: vaultYaml(ws, 'ansible/group_vars/wp_node/vault.yml').vault_db_tls_client as { cert: string; key: string },
      });
      const before = tls();
      const ca = new X509Certificate(before.ca);
      expect(ca.ca).toBe(true);
      const server = new X509Certificate(before.server.cert);
      const client = new X509Certificate(before.client.cert);
      expect(server.verify(ca.publicKey) && client.verify(ca.publicKey)).toBe(true);
      expect(server.checkHost('db.shop.internal')).toBe('db.shop.internal');
      expect(server.subjectAltName).toBe('DNS:db.shop.internal');
      expect(server.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
      expect(client.subject).toBe('CN=shop-wordpress');
      expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(server.checkPrivateKey(createPrivateKey(before.server.key))).toBe(true);
      expect(client.checkPrivateKey(createPrivateKey(before.client.key))).toBe(true);
      // The plain vars name the host and the subject; no key outside a vault.
      const all = readFileSync(path.join(ws, 'ansible/group_vars/all/vars.yml'), 'utf8');
      expect(all).toMatch(/^db_tls_host_name: !unsafe "db\.shop\.internal"$/m);
      expect(all).toMatch(/^db_tls_client_subject: !unsafe "\/CN=shop-wordpress"$/m);
      const keyLines = [before.server.key, before.client.key].map((k) => k.split('\n')[1]!);
      for (const rel of await listFiles(ws, new Set(['.terraform'])))
        if (!/vault\.yml$/.test(rel)) for (const line of keyLines) expect(readFileSync(path.join(ws, rel), 'utf8'), rel).not.toContain(line);

      const r = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url, '--rotate', 'tls'], { env: { HOME: home } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/database CA/);
      const after = tls();
      const cas = after.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
      expect(cas).toHaveLength(2);
      expect(new X509Certificate(cas[1]!).fingerprint256).toBe(ca.fingerprint256);
      const newCa = new X509Certificate(cas[0]!);
      expect(newCa.fingerprint256).not.toBe(ca.fingerprint256);
      expect(new X509Certificate(after.server.cert).verify(newCa.publicKey)).toBe(true);
      expect(new X509Certificate(after.client.cert).verify(newCa.publicKey)).toBe(true);
      expect(after.server.key).not.toBe(before.server.key);
      // A second rotation drops the oldest CA: two at most.
      expect((await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url, '--rotate', 'tls'], { env: { HOME: home } })).code).toBe(0);
      const third = tls().ca.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
      expect(third).toHaveLength(2);
      expect(new X509Certificate(third[1]!).fingerprint256).toBe(newCa.fingerprint256);
    },
    budget({ other: 10 }),
  );

  needs('ansible-vault').it('keeps a hand-edited file (new version beside it), changes only what the user changed, rotates only when asked', async () => {
    const tfvars = path.join(ws, 'terraform', 'terraform.tfvars');
    appendFileSync(tfvars, '# my note\n');
    const edited = readFileSync(tfvars, 'utf8');
    const lbBefore = vaultYaml(ws, 'ansible/group_vars/galera_loadbalancer/vault.yml');
    const galeraBefore = vaultYaml(ws, 'ansible/group_vars/galera_cluster_node/vault.yml');
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url, '--web-nodes', '5', '--rotate', 'haproxy-stats-password'], {
      env: { HOME: home },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(tfvars, 'utf8')).toBe(edited);
    expect(readFileSync(`${tfvars}.new`, 'utf8')).toContain('web_count = 5');
    expect(r.stderr).toMatch(/terraform\/terraform.tfvars was edited by hand and is kept/);
    expect(yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8'))).toMatchObject({ 'web-nodes': 5 });
    const lbAfter = vaultYaml(ws, 'ansible/group_vars/galera_loadbalancer/vault.yml');
    expect(lbAfter.vault_haproxy_stats_pass).not.toBe(lbBefore.vault_haproxy_stats_pass);
    expect({ ...lbAfter, vault_haproxy_stats_pass: 0 }).toEqual({ ...lbBefore, vault_haproxy_stats_pass: 0 });
    expect(vaultYaml(ws, 'ansible/group_vars/galera_cluster_node/vault.yml')).toEqual(galeraBefore);
  });

  needs('ansible-vault').it('refuses to rotate a secret whose vault was edited by hand (the new value would only reach .new) and changes nothing', async () => {
    const rel = 'ansible/group_vars/galera_loadbalancer/vault.yml';
    const file = path.join(ws, rel);
    // What `ansible-vault edit` leaves behind: the same values with the user's note, encrypted again.
    const plain = path.join(root, 'lb-vault-plain.yml');
    writeFileSync(plain, ansibleVaultDecrypt(file, pwFile) + '# checked by hand\n');
    runToolSync('ansible-vault', ['encrypt', '--vault-password-file', pwFile, '--output', file, plain]);
    const before = vaultYaml(ws, rel);
    const snapshot = Object.fromEntries(allFiles(ws).map((f) => [f, readFileSync(f, 'utf8')]));
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url, '--rotate', 'haproxy-stats-password'], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => /--rotate/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--rotate: ansible\/group_vars\/galera_loadbalancer\/vault.yml was edited by hand, /);
    expect(lines[0]).toMatch(/HAProxy stats password would only reach its .new file, not the cluster; nothing was changed\./);
    expect(lines[0]).toMatch(/Set it yourself with `ansible-vault edit /);
    expect(r.stderr).not.toMatch(/Workspace ready|changed\s+HAProxy/);
    expect(Object.fromEntries(allFiles(ws).map((f) => [f, readFileSync(f, 'utf8')]))).toEqual(snapshot);
    expect(vaultYaml(ws, rel)).toEqual(before);

    // The way out the error gives works: init's version of the file over the edited one, then the rotation.
    const plainRun = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url], { env: { HOME: home } });
    expect(plainRun.code, plainRun.stderr).toBe(0);
    renameSync(`${file}.new`, file);
    const rotated = await runCli(['init', '--non-interactive', '--dir', ws, '--api-url', api.url, '--rotate', 'haproxy-stats-password'], {
      env: { HOME: home },
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stderr).toMatch(/changed\s+HAProxy stats password/);
    expect(existsSync(`${file}.new`)).toBe(false);
    expect(vaultYaml(ws, rel).vault_haproxy_stats_pass).not.toBe(before.vault_haproxy_stats_pass);
  });

  it('refuses a wrong vault password on an existing workspace and changes nothing', async () => {
    const wrong = path.join(root, 'wrong-pass');
    writeFileSync(wrong, 'not the password\n');
    const snapshot = Object.fromEntries(allFiles(ws).map((f) => [f, readFileSync(f, 'utf8')]));
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', wrong, '--api-url', api.url], { env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--vault-password-file: the vault password does not open/);
    expect(Object.fromEntries(allFiles(ws).map((f) => [f, readFileSync(f, 'utf8')]))).toEqual(snapshot);
  });
});

describe('media bucket and mail settings', () => {
  const KEY = 'DO00MEDIAKEY1234ABCD';
  const SECRET = 'mEdIaSeCrEt/0123456789+abcdefghijklmnopqrstu';
  const SMTP = 'smtp-password_0123456789';

  needs('ansible-vault').it(
    "a Spaces key and an SMTP password given reach the wp_node vault, never ha-wordpress.yml, another file or the output; the bucket's name is made once",
    async () => {
      const ws = path.join(root, 'media-own-key');
      const r = await doInit(ws, ['--smtp-host', 'smtp.example.com', '--smtp-user', 'apikey'], {
        SPACES_ACCESS_KEY_ID: KEY,
        SPACES_SECRET_ACCESS_KEY: SECRET,
        HA_WORDPRESS_SMTP_PASSWORD: SMTP,
      });
      expect(r.code, r.stderr).toBe(0);
      const vault = vaultYaml(ws, 'ansible/group_vars/wp_node/vault.yml');
      expect(vault).toMatchObject({ vault_spaces_access_key: KEY, vault_spaces_secret_key: SECRET, vault_wordpress_smtp_password: SMTP });
      for (const f of allFiles(ws)) for (const secret of [KEY, SECRET, SMTP]) expect(readFileSync(f, 'utf8'), f).not.toContain(secret);
      for (const secret of [KEY, SECRET, SMTP]) expect(r.stdout + r.stderr).not.toContain(secret);
      const settings = yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, unknown>;
      expect(settings['spaces-bucket']).toMatch(/^shop-media-[a-z0-9]{6}$/);
      // syd1 has Spaces: the bucket is in the cluster's region.
      expect(settings['spaces-region']).toBe('syd1');
      expect(readFileSync(path.join(ws, 'terraform/backup/terraform.tfvars'), 'utf8')).toContain(`media_bucket = "${String(settings['spaces-bucket'])}"`);
      const vars = readFileSync(path.join(ws, 'ansible/group_vars/wp_node/vars.yml'), 'utf8');
      expect(vars).toMatch(new RegExp(`^wordpress_media_url: .*"https://${String(settings['spaces-bucket'])}\\.syd1\\.digitaloceanspaces\\.com"$`, 'm'));
      expect(vars).toMatch(/^wordpress_smtp_host: .*"smtp\.example\.com"$/m);
      expect(r.stderr).not.toMatch(/mail .*will not be delivered/);
      // Again, with nothing given: the bucket and every secret are kept.
      const again = await doInit(ws);
      expect(again.code, again.stderr).toBe(0);
      expect((yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, unknown>)['spaces-bucket']).toBe(settings['spaces-bucket']);
      expect(vaultYaml(ws, 'ansible/group_vars/wp_node/vault.yml')).toMatchObject({ vault_spaces_access_key: KEY, vault_wordpress_smtp_password: SMTP });
    },
  );

  it.each([
    [['--spaces-key', KEY], /^error: --spaces-key needs --spaces-secret: /m],
    [['--spaces-region', 'nyc1'], /^error: --spaces-region: nyc1 has no Spaces; use nyc3, the nearest region that has$/m],
    [['--spaces-bucket', 'Shop_Media'], /^error: --spaces-bucket: use lowercase letters/m],
    [['--smtp-host', 'smtp.example.com', '--smtp-port', '25'], /^error: --smtp-port 25: DigitalOcean blocks outbound port 25; use 587/m],
    [['--smtp-host', 'smtp.example.com', '--smtp-user', 'me'], /^error: --smtp-user needs its password: set HA_WORDPRESS_SMTP_PASSWORD/m],
    [['--smtp-user', 'me'], /^error: --smtp-user needs --smtp-host/m],
  ])('%j is refused in one line naming the flag, writing nothing', async (flags, why) => {
    const ws = path.join(root, `media-refused-${flags.join('-').replace(/[^a-z0-9]+/gi, '-')}`);
    const r = await doInit(ws, flags);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(existsSync(ws)).toBe(false);
  });

  it('without --smtp-host, init says that WordPress mail will not be delivered, and why', async () => {
    const ws = path.join(root, 'media-no-mail');
    const r = await doInit(ws);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('WordPress mail (password resets, notifications) will not be delivered: DigitalOcean blocks outbound port 25.');
    expect(r.stderr).toMatch(/media\s+uploads in the Spaces bucket shop-media-[a-z0-9]{6} \(syd1\), made by `up`/);
  });
});

describe('HTTPS: which certificate init picks, and what it refuses', () => {
  let certDir: string;
  beforeAll(async () => {
    certDir = tempDir('hawp-certs-');
    const ca = await newCa('Test Issuing CA', 30);
    const leaf = await issue(ca, { commonName: 'blog.example.net', dns: ['blog.example.net'], usage: ['serverAuth'] }, 90);
    const other = await issue(ca, { commonName: 'other.example.net', dns: ['other.example.net'], usage: ['serverAuth'] }, 90);
    writeFileSync(path.join(certDir, 'fullchain.pem'), leaf.cert + ca.cert);
    writeFileSync(path.join(certDir, 'site.key'), leaf.key, { mode: 0o600 });
    writeFileSync(path.join(certDir, 'other.pem'), other.cert);
  });

  it('refuses a domain that is neither in DigitalOcean DNS nor given a certificate, with both ways forward, writing nothing', async () => {
    const ws = path.join(root, 'not-in-dns');
    const r = await doInit(ws, ['--domain', 'shop.elsewhere.org']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: --domain: shop\.elsewhere\.org is not in this account's DigitalOcean DNS, .*--tls-key; --tls none keeps the site on plain HTTP$/m,
    );
    expect(existsSync(ws)).toBe(false);
  });

  it('--tls none with a domain: plain HTTP, with a warning saying what HTTPS needs', async () => {
    const ws = path.join(root, 'plain-http');
    const r = await doInit(ws, ['--domain', 'shop.elsewhere.org', '--tls', 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: HTTP only \(--tls none\): logins and cookies cross the internet in clear; HTTPS needs shop\.elsewhere\.org in DigitalOcean DNS/m,
    );
    expect(readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8')).toMatch(/^tls\s+= "none"$/m);
    expect(readFileSync(path.join(ws, 'ansible/group_vars/all/vars.yml'), 'utf8')).toMatch(/^site_tls: !unsafe "none"$/m);
  });

  it('no domain: HTTP only, with the warning; a separate failover token: no warning about the full token on the HAProxy nodes', async () => {
    const ws = path.join(root, 'no-domain');
    const r = await doInit(ws, [], { HA_WORDPRESS_FAILOVER_TOKEN: `dop_v1_${'b'.repeat(64)}` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: HTTP only: no --domain, so the site answers on the load balancer's IP/m);
    expect(r.stderr).not.toMatch(/full API token/);
  });

  needs('ansible-vault').it(
    "the user's own certificate: checked, the certificate and chain in terraform.tfvars, the key only in terraform's vault",
    async () => {
      const ws = path.join(root, 'own-cert');
      const rel = path.relative(root, certDir);
      // Relative file names, from the directory init runs in; stored as absolute ones.
      const r = await runCli(
        [
          'init',
          '--non-interactive',
          '--project',
          'blog',
          '--region',
          'syd1',
          '--dir',
          ws,
          '--vault-password-file',
          pwFile,
          '--api-url',
          api.url,
          '--domain',
          'blog.example.net',
          '--tls-certificate',
          path.join(rel, 'fullchain.pem'),
          '--tls-key',
          path.join(rel, 'site.key'),
        ],
        { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN }, cwd: root },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /HTTPS\s+your certificate for blog\.example\.net \(valid until \d{4}-\d\d-\d\d\); point blog\.example\.net \(an A record\) at the load balancer's IP/,
      );
      const key = readFileSync(path.join(certDir, 'site.key'), 'utf8');
      const [leafPem, caPem] = readFileSync(path.join(certDir, 'fullchain.pem'), 'utf8').match(
        /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g,
      )!;
      const tfvars = readFileSync(path.join(ws, 'terraform', 'terraform.tfvars'), 'utf8');
      expect(tfvars).toMatch(/^tls\s+= "custom"$/m);
      expect(tfvars).toMatch(/^dns_zone\s+= ""$/m);
      expect(tfvars).toContain(JSON.stringify(leafPem!.trim() + '\n'));
      expect(tfvars).toContain(JSON.stringify(caPem!.trim() + '\n'));
      expect(vaultYaml(ws, 'terraform/vault.yml')).toEqual({ do_token: DEFAULT_TOKEN, tls_private_key: key });
      const keyBody = key.split('\n')[1]!;
      for (const f of allFiles(ws).filter((x) => !x.endsWith('vault.yml'))) expect(readFileSync(f, 'utf8'), f).not.toContain(keyBody);
      expect(r.stdout + r.stderr).not.toContain(keyBody);
      expect(yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8'))).toMatchObject({
        tls: 'auto',
        'tls-certificate': path.join(certDir, 'fullchain.pem'),
        'tls-key': path.join(certDir, 'site.key'),
      });
      // Run again from anywhere: the stored files are read again, nothing changes.
      const again = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url], { env: { HOME: home } });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/0 written/);
    },
  );

  it('refuses a certificate that does not cover the domain, or a key that is not its own, naming the flag, writing nothing', async () => {
    const ws = path.join(root, 'wrong-cert');
    const base = ['--domain', 'blog.example.net', '--tls-key', path.join(certDir, 'site.key')];
    const wrongName = await doInit(ws, [...base, '--tls-certificate', path.join(certDir, 'other.pem')]);
    expect(wrongName.code).toBe(2);
    expect(wrongName.stderr).toMatch(/^error: --tls-(certificate|key): .*$/m);
    expect(wrongName.stderr).not.toMatch(/Workspace ready/);
    const missingKey = await doInit(ws, ['--domain', 'blog.example.net', '--tls-certificate', path.join(certDir, 'fullchain.pem')]);
    expect(missingKey.code).toBe(2);
    expect(missingKey.stderr).toMatch(/^error: --tls-key: your own certificate needs both --tls-certificate and --tls-key$/m);
    const unreadable = await doInit(ws, [
      '--domain',
      'blog.example.net',
      '--tls-certificate',
      path.join(certDir, 'nope.pem'),
      '--tls-key',
      path.join(certDir, 'site.key'),
    ]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/^error: --tls-certificate: cannot read .*nope\.pem \(ENOENT\)$/m);
    expect(existsSync(ws)).toBe(false);
  });
});

describe('bad input without a terminal', () => {
  it('lists every missing flag at once, exit 2, writes nothing, asks nothing, calls no API', async () => {
    const ws = path.join(root, 'missing');
    const before = api.requests.length;
    const r = await runCli(['init', '--dir', ws], { env: { HOME: home } });
    expect(r.code).toBe(2);
    const line = r.stderr.split('\n').find((l) => l.includes('missing'))!;
    expect(line).toContain('--token (or DIGITALOCEAN_TOKEN / DIGITALOCEAN_ACCESS_TOKEN)');
    expect(line).toContain('--region');
    expect(line).toContain('--vault-password-file (or HA_WORDPRESS_VAULT_PASSWORD)');
    expect(existsSync(ws)).toBe(false);
    expect(api.requests.length).toBe(before);
  });

  it('reports each invalid flag on its own line naming the flag, exit 2, nothing written', async () => {
    const ws = path.join(root, 'invalid');
    const r = await runCli(
      ['init', '--dir', ws, '--project', 'Bad_Name', '--db-nodes', '4', '--region', 'syd1', '--vault-password-file', pwFile, '--ssh-allow', '10.0.0.0/99'],
      {
        env: { HOME: home, DIGITALOCEAN_TOKEN: 'not-a-token' },
      },
    );
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors.some((l) => l.startsWith('error: --project: '))).toBe(true);
    expect(errors.some((l) => l.startsWith('error: --db-nodes: ') && l.includes('odd'))).toBe(true);
    expect(errors.some((l) => l.startsWith('error: --ssh-allow: '))).toBe(true);
    expect(errors.some((l) => l.startsWith('error: --token (from DIGITALOCEAN_TOKEN): '))).toBe(true);
    expect(r.stderr).not.toContain('not-a-token');
    expect(existsSync(ws)).toBe(false);
  });

  it('a region the account does not offer is refused with the choices', async () => {
    const ws = path.join(root, 'badregion');
    const r = await runCli(['init', '--dir', ws, '--project', 'shop', '--region', 'mars1', '--vault-password-file', pwFile, '--api-url', api.url], {
      env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --region: no region "mars1".*syd1/);
    expect(existsSync(ws)).toBe(false);
  });

  it('an API that lists no regions (or no sizes) is blamed, not --region: one line naming the API URL and the token scope', async () => {
    const cases: [FakeDoApiOptions, string][] = [
      [{ regions: [] }, 'regions'],
      [{ regions: defaultRegions().map((x) => ({ ...x, available: false })) }, 'regions that take new droplets'],
      [{ sizes: [] }, 'droplet sizes'],
    ];
    for (const [options, what] of cases) {
      const other = await startFakeDoApi(options);
      try {
        const ws = path.join(root, 'noregions');
        const r = await runCli(['init', '--dir', ws, '--project', 'shop', '--region', 'fra1', '--vault-password-file', pwFile, '--api-url', other.url], {
          env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
        });
        expect(r.code, r.stderr).toBe(1);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
        expect(errors).toHaveLength(1);
        expect(errors[0]!.startsWith(`error: DigitalOcean's API at ${other.url} returned no ${what}: `), errors[0]).toBe(true);
        expect(errors[0]).toMatch(/check the token's scope .* and --api-url \/ DIGITALOCEAN_API_URL$/);
        expect(r.stderr).not.toContain('--region:');
        expect(existsSync(ws)).toBe(false);
      } finally {
        await other.close();
      }
    }
  });

  it('a size not offered in the region is refused, naming the flag', async () => {
    const ws = path.join(root, 'badsize');
    const r = await runCli(
      ['init', '--dir', ws, '--project', 'shop', '--region', 'atl1', '--db-size', 'c-2', '--vault-password-file', pwFile, '--api-url', api.url],
      { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --db-size: size c-2 is not offered in atl1/);
    expect(existsSync(ws)).toBe(false);
  });

  it('an unknown token gets one line about the token, exit 1, nothing written', async () => {
    const ws = path.join(root, 'unauth');
    const token = 'dop_v1_' + '0'.repeat(64);
    const r = await runCli(['init', '--dir', ws, '--project', 'shop', '--region', 'syd1', '--vault-password-file', pwFile, '--api-url', api.url], {
      env: { HOME: home, DIGITALOCEAN_TOKEN: token },
    });
    expect(r.code).toBe(1);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toEqual([expect.stringMatching(/refused the API token \(401\).*--token/)]);
    expect(r.stderr).not.toContain(token);
    expect(existsSync(ws)).toBe(false);
  });

  it('an unknown --rotate name is refused with the names it takes', async () => {
    const r = await doInit(path.join(root, 'rotate'), ['--rotate', 'everything']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--rotate: unknown secret "everything"; use one or more of all, wp-db-password/);
  });

  it('a locked account and a too-small droplet limit stop init before anything is written', async () => {
    for (const [account, why] of [
      [{ status: 'locked', status_message: 'billing' }, /account is locked \(billing\): resolve it in the control panel/],
      [{ droplet_limit: 5 }, /may have 5 droplets and the cluster needs 8: ask DigitalOcean support to raise the droplet limit, or lower --web-nodes/],
    ] as const) {
      const other = await startFakeDoApi({ account });
      try {
        const ws = path.join(root, `account-${String(account.status ?? account.droplet_limit)}`);
        const r = await runCli(['init', '--dir', ws, '--project', 'shop', '--region', 'fra1', '--vault-password-file', pwFile, '--api-url', other.url], {
          env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
        });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(why);
        expect(existsSync(ws)).toBe(false);
        expect(other.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
      } finally {
        await other.close();
      }
    }
  });

  it('a non-empty directory that is not a workspace is refused', async () => {
    const ws = path.join(root, 'occupied');
    mkdirSync(ws);
    writeFileSync(path.join(ws, 'notes.txt'), 'mine');
    const r = await doInit(ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dir: .* is not empty and is not an ha-wordpress workspace/);
    expect(readdirSync(ws)).toEqual(['notes.txt']);
  });
});

/** Accepted adversarial values per secret flag (each passes that flag's rules). */
const ACCEPTED: Record<string, string> = {
  'wp-db-password': `it's"a\\pass\${x}%{y}}}`,
  'galera-root-password': `#hash:colon'quote"x\\`,
  'galera-clustercheck-password': '-dash*alias&anchor!tag:0x1F',
  'haproxy-stats-password': 'percent%{y}$dollar',
  'wp-admin-password': `%}#}}}'"\`back\\tick;|&`,
};
/** Refused values, with what the error must mention. */
const REFUSED: [string, string, RegExp][] = [
  ['wp-db-password', 'has{{jinja}}inside', /template syntax/],
  ['wp-admin-password', 'has{%jinja%}inside', /template syntax/],
  ['haproxy-stats-password', 'has{#comment#}x', /template syntax/],
  ['wp-db-password', "{'looks':'like-a-dict'}", /dictionary/],
  ['wp-admin-password', '[looks,like,a,list]', /list/],
  ['galera-root-password', 'pa$$word-long-1', /"\$"/],
  ['galera-clustercheck-password', 'pa$$word-long-1', /"\$"/],
  ['haproxy-stats-password', 'hash#inside-xyz', /haproxy/],
  ['haproxy-stats-password', 'has"quote"inside', /haproxy/],
  ['galera-root-password', 'has a space in it', /spaces/],
  ['wp-db-password', 'nön-ascii-välue', /ASCII/],
  ['wp-db-password', 'short', /12/],
  ['failover-token', 'dop_v1_{{ lookup("env","HOME") }}', /does not look like a DigitalOcean API token/],
  ['spaces-secret', 'has spaces and {{ braces }} inside it 0123456789', /Spaces secret key/],
  ['spaces-key', "DO00'; DROP TABLE x", /Spaces access key/],
];

describe('adversarial secrets', () => {
  it.each(REFUSED)('--%s %j is refused, naming the flag', async (flag, value, why) => {
    const ws = path.join(root, `refused-${flag}`);
    const r = await doInit(ws, [`--${flag}`, value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`error: --${flag}: `));
    expect(r.stderr).toMatch(why);
    expect(r.stderr).not.toContain(value);
    expect(existsSync(ws)).toBe(false);
  });

  needs('ansible-playbook').it('accepted values read back unchanged through Ansible’s own templating of vars.yml → vault.yml', async () => {
    const ws = path.join(root, 'adversarial');
    const flags = Object.entries(ACCEPTED).flatMap(([f, v]) => [`--${f}`, v]);
    // The site title is free text that lands in vars.yml; pass one secret through its env variable too.
    const r = await doInit(ws, [...flags.slice(2), '--allow-xmlrpc', '--site-title', `Joe's "Café" & Bar: #1 \\o/ %{x} \${y}`], {
      HA_WORDPRESS_WP_DB_PASSWORD: ACCEPTED['wp-db-password'],
    });
    expect(r.code, r.stderr).toBe(0);
    for (const v of Object.values(ACCEPTED)) expect(r.stdout + r.stderr).not.toContain(v);

    const out = path.join(root, 'readback.json');
    const gv = (g: string, f: string) => path.join(ws, 'ansible', 'group_vars', g, f);
    const playbook = path.join(root, 'readback.yml');
    const vars = [
      'wp_db_pass',
      'galera_root_password',
      'galera_clustercheck_password',
      'haproxy_stats_pass',
      'wp_admin_password',
      'wordpress_site_title',
      'wordpress_allow_xmlrpc',
    ];
    writeFileSync(
      playbook,
      yaml.dump([
        {
          hosts: 'localhost',
          gather_facts: false,
          vars_files: Object.keys(GROUP_VARS).flatMap((g) => [gv(g, 'vars.yml'), gv(g, 'vault.yml')]),
          tasks: [{ 'ansible.builtin.copy': { dest: out, content: `{{ {${vars.map((v) => `'${v}': ${v}`).join(', ')}} | to_json }}` } }],
        },
      ]),
    );
    const p = await runTool('ansible-playbook', ['-i', 'localhost,', '-c', 'local', '--vault-password-file', pwFile, playbook], {
      env: { ...process.env, ANSIBLE_NOCOLOR: '1' },
      allowFailure: true,
    });
    expect(p.code, p.report).toBe(0);
    const got = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(got).toEqual({
      wp_db_pass: ACCEPTED['wp-db-password'],
      galera_root_password: ACCEPTED['galera-root-password'],
      galera_clustercheck_password: ACCEPTED['galera-clustercheck-password'],
      haproxy_stats_pass: ACCEPTED['haproxy-stats-password'],
      wp_admin_password: ACCEPTED['wp-admin-password'],
      wordpress_site_title: `Joe's "Café" & Bar: #1 \\o/ %{x} \${y}`,
      // --allow-xmlrpc: a YAML boolean, not the string "true".
      wordpress_allow_xmlrpc: true,
    });
  });
});

describe('--target local', () => {
  it('needs no token, region or API, and generates the SSH key with --yes', async () => {
    const ws = path.join(root, 'lab');
    const bareHome = path.join(root, 'bare-home');
    mkdirSync(bareHome);
    const before = api.requests.length;
    const refused = await runCli(['init', '--target', 'local', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: bareHome } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--ssh-key: no ~\/\.ssh\/id_ed25519 or ~\/\.ssh\/id_rsa found; give --ssh-key PATH, or --yes/);
    expect(existsSync(ws)).toBe(false);

    const r = await runCli(['init', '--target', 'local', '--non-interactive', '--yes', '--dir', ws, '--vault-password-file', pwFile], {
      env: { HOME: bareHome },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests.length).toBe(before);
    expect(existsSync(path.join(bareHome, '.ssh', 'id_ed25519'))).toBe(true);
    expect(statSync(path.join(bareHome, '.ssh', 'id_ed25519')).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(ws, 'terraform'))).toBe(false);
    const settings = yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, unknown>;
    expect(settings).toMatchObject({ target: 'local', project: 'hawp' });
    expect(settings).not.toHaveProperty('region');
    // Read in process: real ansible-vault reads these files in the tests above.
    const password = readFileSync(pwFile, 'utf8').replace(/\n$/, '');
    const lb = yaml.load(decryptVault(readFileSync(path.join(ws, 'ansible/group_vars/galera_loadbalancer/vault.yml'), 'utf8'), password)) as Record<
      string,
      unknown
    >;
    expect(lb.vault_galera_ha_do_token).toMatch(/^dop_v1_[0-9a-f]{64}$/);
  });
});
