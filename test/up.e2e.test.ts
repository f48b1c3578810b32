/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `up` and `destroy` end to end: the built CLI on a workspace that `init`
 * wrote, with stand-in terraform and ansible-playbook executables first on
 * PATH (they record argv, cwd and environment and play back terraform's and
 * ansible's output), the stand-in DigitalOcean API on 127.0.0.1, and an SSH
 * server on 127.0.0.1 (ssh2) for the wait phase. Real tools check what up
 * wrote: ansible-inventory and ansible-playbook --syntax-check.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TOKEN, defaultKeys, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { BIN, homeWithKey, ROOT, runCli, tempDir, type CliResult } from './support/cli.js';
import { readCalls, standinBin, type Call } from './support/standins.js';
import { startSilentPort, startSshServer, type FakeSshHost } from './support/ssh-server.js';
import { listenOnLoopback80 } from './support/site.js';
import { ansibleVaultDecrypt, budget, needs, runTool, tail } from './support/tools.js';
import { md5Fingerprint } from '../src/ssh/keys.js';
import { configFingerprint } from '../src/workspace/converged.js';
import { HELD_DATA_FILE } from '../src/commands/backup.js';
import { issue, newCa } from '../src/secrets/pki.js';

// A test or hook here runs the CLI up to three times; on a busy CI machine
// one run of up takes seconds to tens of seconds.
vi.setConfig({ testTimeout: budget({ cli: 3 }), hookTimeout: budget({ cli: 2 }) });

const VAULT_PASSWORD = 'a long vault password';
let api: FakeDoApi;
let root: string;
let home: string;
let pwFile: string;
let bin: string;
let ssh: FakeSshHost;
/**
 * The "load balancer" that up checks the site through: port 80 answers
 * plain HTTP, 443 terminates TLS with a certificate for shop.example.com from
 * a CA made for this run (the CLI trusts it through NODE_EXTRA_CA_CERTS, as
 * a user's Node would a corporate CA). Each records the names it was asked for.
 */
let site: http.Server;
let siteTls: https.Server;
let siteIp: string;
let caFile: string;
const siteHosts: string[] = [];
const siteTlsNames: string[] = [];

beforeAll(async () => {
  root = tempDir('hawp-up-');
  const made = await homeWithKey(root);
  home = made.home;
  pwFile = path.join(root, 'vault-pass.txt');
  writeFileSync(pwFile, VAULT_PASSWORD + '\n');
  const keys = [...defaultKeys(), { id: 4242, name: 'laptop', fingerprint: md5Fingerprint(made.publicKey), public_key: made.publicKey }];
  api = await startFakeDoApi({ keys, domains: ['example.com'] });
  bin = standinBin(root);
  ssh = await startSshServer({ user: 'deploy', publicKey: made.publicKey });
  site = http.createServer((req, res) => {
    siteHosts.push(req.headers.host ?? '');
    res.end('<html>WordPress</html>');
  });
  const ca = await newCa('up test CA', 2);
  const leaf = await issue(ca, { commonName: 'shop.example.com', dns: ['shop.example.com'], usage: ['serverAuth'] }, 2);
  caFile = path.join(root, 'test-ca.pem');
  writeFileSync(caFile, ca.cert);
  siteTls = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    siteTlsNames.push(`${(req.socket as import('node:tls').TLSSocket).servername} ${req.headers.host}`);
    res.end('<html>WordPress over TLS</html>');
  });
  siteIp = await listenOnLoopback80(site, siteTls);
});

afterAll(async () => {
  await api?.close();
  await ssh?.close();
  site?.close();
  siteTls?.close();
});

/** A fresh workspace from the real init (non-interactive, against the stand-in API). */
async function initWorkspace(name: string, extra: string[] = []): Promise<string> {
  const ws = path.join(root, name);
  const r = await runCli(
    ['init', '--non-interactive', '--project', name, '--region', 'fra1', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url, ...extra],
    { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } },
  );
  expect(r.stderr).toContain('Workspace ready');
  return ws;
}

/**
 * The environment of a user running up: stand-ins first on PATH, no token
 * in the environment (up must read it from the workspace's vault).
 */
function upEnv(record: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
    STANDIN_RECORD: record,
    STANDIN_SSH_PORT: String(ssh.port),
    STANDIN_LB_IP: siteIp,
    STANDIN_REPO: ROOT,
    NODE_EXTRA_CA_CERTS: caFile,
    // The stand-ins' settings reach them as a user's own variables would: named in HA_WORDPRESS_CHILD_ENV.
    HA_WORDPRESS_CHILD_ENV: 'STANDIN_*',
    ...extra,
  };
}

const tfArgs = (calls: Call[]) => calls.filter((c) => c.tool === 'terraform').map((c) => c.argv.join(' '));

/** Every secret the workspace holds, as real ansible-vault decrypts them. */
function workspaceSecrets(ws: string): string[] {
  const out: string[] = [VAULT_PASSWORD, DEFAULT_TOKEN];
  for (const g of ['all', 'galera_cluster_node', 'galera_loadbalancer', 'wp_node']) {
    const data = yaml.load(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars', g, 'vault.yml'), pwFile)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(data)) {
      if (/user|name|port/.test(k)) continue; // not secrets: login names, the database name, a port number
      if (typeof v === 'string' && v.length >= 8) out.push(v);
      if (v && typeof v === 'object') out.push(...Object.values(v as Record<string, string>));
    }
  }
  return out;
}

function logsOf(ws: string): string {
  const dir = path.join(ws, '.ha-wordpress', 'logs');
  return readdirSync(dir)
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

describe('up --yes --non-interactive with stand-in terraform and ansible-playbook', () => {
  let ws: string;
  let record: string;
  let first: CliResult;
  let calls: Call[];

  beforeAll(async () => {
    ws = await initWorkspace('shop', ['--domain', 'shop.example.com']);
    record = path.join(root, 'shop-calls.jsonl');
    first = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    calls = readCalls(record);
  });

  it("runs init, plan -out, show, apply of that plan file and output, in the workspace's terraform/", () => {
    expect(first.stderr).toContain('The cluster is up');
    expect(first.code).toBe(0);
    const all = calls.filter((c) => c.tool === 'terraform' && c.argv[0] !== 'version');
    // The backup bucket's own root runs first (test: "applies the backup bucket's root first").
    const tf = all.filter((c) => c.cwd !== path.join(ws, 'terraform', 'backup'));
    expect(tf.map((c) => c.argv[0])).toEqual(['init', 'plan', 'show', 'apply', 'output']);
    expect(tf[0]!.argv).toContain('-input=false');
    expect(tf[1]!.argv).toContain('-out=tfplan');
    expect(tf[2]!.argv.slice(-1)).toEqual(['tfplan']);
    expect(tf[3]!.argv.slice(-1)).toEqual(['tfplan']);
    for (const c of tf) expect(c.cwd).toBe(path.join(ws, 'terraform'));
    expect(first.stderr).toMatch(/terraform plan: 20 to add, 0 to change, 0 to destroy/);
    // The cost from the live size prices: 3 × s-1vcpu-2gb ($12) + 3 × s-2vcpu-4gb ($24) + 2 × s-1vcpu-1gb ($6).
    expect(first.stderr).toContain('8 droplets in fra1 ≈ $120/month');
  });

  it("applies the backup bucket's root first, with a full-access Spaces key up made, by environment only", () => {
    const tf = calls.filter((c) => c.tool === 'terraform' && c.argv[0] !== 'version');
    const backup = tf.filter((c) => c.cwd === path.join(ws, 'terraform', 'backup'));
    expect(backup.map((c) => c.argv[0])).toEqual(['init', 'plan', 'show', 'apply']);
    expect(tf.slice(0, 4)).toEqual(backup);
    const made = api.spacesKeys.find((k) => k.name === 'shop-terraform')!;
    expect(made.grants).toEqual([{ bucket: '', permission: 'fullaccess' }]);
    for (const c of backup) {
      expect(c.env.SPACES_ACCESS_KEY_ID).toBe(made.access_key);
      expect(c.env.SPACES_SECRET_ACCESS_KEY).toBe(api.spacesSecret(made.access_key));
      expect(c.argv.join(' ')).not.toContain(api.spacesSecret(made.access_key));
    }
    const settings = yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, string>;
    const node = api.spacesKeys.find((k) => k.name === 'shop-backup')!;
    // The database nodes back the uploads up and restore them: the media bucket too.
    expect(node.grants).toEqual([
      { bucket: settings['backup-bucket'], permission: 'readwrite' },
      { bucket: settings['spaces-bucket'], permission: 'readwrite' },
    ]);
    const all = yaml.load(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars/all/vault.yml'), pwFile)) as Record<string, string>;
    expect(all.vault_backup_s3_access_key_id).toBe(node.access_key);
    expect(all.vault_backup_s3_secret_access_key).toBe(api.spacesSecret(node.access_key));
  });

  it('gives terraform the token from the vault by environment only, never in argv', () => {
    for (const c of calls.filter((x) => x.tool === 'terraform' && x.argv[0] !== 'version')) {
      expect(c.env.DIGITALOCEAN_TOKEN).toBe(DEFAULT_TOKEN);
      expect(c.env.DIGITALOCEAN_API_URL).toBe(api.url);
    }
    const everyArgv = [...first.children.flat(), ...calls.flatMap((c) => c.argv)].join('\n');
    expect(everyArgv).not.toContain(DEFAULT_TOKEN);
  });

  needs('ansible-inventory').it(
    'writes an inventory that real ansible-inventory reads as 3 wp_node, 3 galera_cluster_node and 2 galera_loadbalancer hosts',
    async () => {
      const r = await runTool('ansible-inventory', ['-i', 'ansible/inventory/hosts.yml', '--list'], {
        cwd: ws,
        env: { ...process.env, ANSIBLE_CONFIG: path.join(ws, 'ansible/ansible.cfg') },
      });
      expect(r.stderr, r.report).not.toMatch(/ERROR|WARNING.*Unable to parse/);
      const inv = JSON.parse(r.stdout) as Record<string, { hosts?: string[] }> & { _meta: { hostvars: Record<string, Record<string, unknown>> } };
      expect(inv.wp_node!.hosts).toEqual(['shop-wp-01', 'shop-wp-02', 'shop-wp-03']);
      expect(inv.galera_cluster_node!.hosts).toEqual(['shop-db-01', 'shop-db-02', 'shop-db-03']);
      expect(inv.galera_loadbalancer!.hosts).toEqual(['shop-dblb-01', 'shop-dblb-02']);
      const hv = inv._meta.hostvars['shop-db-02']!;
      expect(hv.private_ip).toBe('10.110.0.21');
      expect(hv.ansible_user).toBe('deploy');
      expect(hv.db_reserved_ip).toBe('127.0.0.50');
      // Named from ansible/, where ansible-playbook (and so ssh) runs; the key through a symlink to where it lives.
      expect(hv.ansible_ssh_private_key_file).toBe('../.ha-wordpress/ssh-key');
      expect(readlinkSync(path.join(ws, '.ha-wordpress', 'ssh-key'))).toBe(path.join(home, '.ssh', 'id_ed25519'));
      expect(hv.ansible_ssh_common_args).toBe('-o UserKnownHostsFile=../.ha-wordpress/known_hosts -o StrictHostKeyChecking=yes');
    },
  );

  it('waits for SSH with the project key and for cloud-init on every host, and records the host keys ansible may accept', () => {
    expect(ssh.logins.length).toBeGreaterThanOrEqual(8);
    expect(ssh.commands.filter((c) => c === 'cloud-init status --wait').length).toBeGreaterThanOrEqual(8);
    const known = readFileSync(path.join(ws, '.ha-wordpress', 'known_hosts'), 'utf8');
    expect(known.trim()).toBe(`[127.0.0.1]:${ssh.port} ${ssh.hostKey}`);
  });

  it('runs ansible-playbook from ansible/ with the inventory, site.yml and a vault password file that yields the password', () => {
    const ap = calls.filter((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version');
    expect(ap).toHaveLength(1);
    const { argv, cwd, env, passwordSha } = ap[0]!;
    expect(cwd).toBe(path.join(ws, 'ansible'));
    expect(argv.slice(0, 3)).toEqual(['-i', 'inventory/hosts.yml', 'site.yml']);
    expect(argv[3]).toBe('--vault-password-file');
    expect(passwordSha).toBe(createHash('sha256').update(VAULT_PASSWORD).digest('hex'));
    expect(env.DIGITALOCEAN_TOKEN).toBeUndefined();
    expect(env.ANSIBLE_CONFIG).toBe('ansible.cfg');
    expect(first.stderr).toContain('ansible: 8 hosts configured, 8 changed');
  });

  it("passes the configuration's fingerprint for site.yml's last play to record; new nodes are not asked whether they have it", async () => {
    const ap = calls.filter((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version');
    const extra = JSON.parse(ap[0]!.argv[ap[0]!.argv.indexOf('-e') + 1]!) as Record<string, unknown>;
    expect(extra.ha_wordpress_converged).toBe(await configFingerprint(ws));
    // A first up: no host key was recorded before, so every node is new and the check phase is not run.
    expect(first.stderr).toContain('check: every node is new: the playbook runs');
    expect(first.stderr).not.toContain('check: whether every node has this configuration');
  });

  needs('ansible-playbook').it('site.yml passes real ansible-playbook --syntax-check against that inventory', async () => {
    const r = await runTool('ansible-playbook', ['-i', 'inventory/hosts.yml', 'site.yml', '--syntax-check'], {
      cwd: path.join(ws, 'ansible'),
      env: { ...process.env, ANSIBLE_CONFIG: path.join(ws, 'ansible/ansible.cfg') },
      allowFailure: true,
    });
    expect(r.stdout + r.stderr, r.report).toContain('playbook: site.yml');
    expect(r.code, r.report).toBe(0);
  });

  it("checks that the site answers through the load balancer over HTTPS, the certificate verified for the domain (Let's Encrypt: the zone is in DNS)", () => {
    expect(siteTlsNames).toContain('shop.example.com shop.example.com');
    expect(first.stderr).toContain('The cluster is up: the site answers through the load balancer.');
  });

  it('ends with the site URL, the load balancer IP, the DNS record up made and where the credentials are', () => {
    expect(first.stderr).toMatch(/site\s+https:\/\/shop\.example\.com\/$/m);
    expect(first.stderr).toContain(`shop.example.com → ${siteIp} (an A record up keeps in your DigitalOcean DNS)`);
    expect(first.stderr).toMatch(/WordPress admin\s+https:\/\/shop\.example\.com\/wp-admin\//);
    expect(first.stderr).not.toMatch(/HTTP only/);
    expect(first.stderr).toContain('ansible-vault view ansible/group_vars/wp_node/vault.yml');
    // init's default lets SSH in from anywhere: every up says so, not only init.
    expect(first.stderr).toContain('SSH to the droplets is open to the whole internet; restrict it with `init --ssh-allow <your address>/32`, then `up`');
  });

  it('keeps the full terraform and ansible output in .ha-wordpress/logs/, and no secret anywhere', () => {
    const logs = logsOf(ws);
    expect(logs).toContain('Apply complete! Resources: 20 added');
    expect(logs).toContain('PLAY RECAP');
    const everything = [first.stdout, first.stderr, logs, ...first.children.flat(), ...calls.flatMap((c) => c.argv)].join('\n');
    const secrets = workspaceSecrets(ws);
    expect(secrets.length).toBeGreaterThan(15);
    for (const s of secrets) expect(everything).not.toContain(s);
  });

  it("init run again after up treats the lock file as terraform's (terraform init adds hashes to it): no .new, no warning", async () => {
    const lock = path.join(ws, 'terraform', '.terraform.lock.hcl');
    writeFileSync(lock, readFileSync(lock, 'utf8') + '\n# hashes terraform init added for this platform\n');
    const again = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url], { env: { HOME: home } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('edited by hand');
    expect(existsSync(`${lock}.new`)).toBe(false);
    expect(readFileSync(lock, 'utf8')).toContain('# hashes terraform init added');
  });

  it('a second up finds nothing to change, applies nothing and runs the playbook again', async () => {
    const record2 = path.join(root, 'shop-calls-2.jsonl');
    const again = await runCli(['up', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record2) });
    expect(again.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
    expect(again.code).toBe(0);
    const calls2 = readCalls(record2);
    expect(tfArgs(calls2).some((a) => a.startsWith('apply'))).toBe(false);
    expect(calls2.filter((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version')).toHaveLength(1);
  });
});

describe('a failing phase', () => {
  it("a failing apply exits non-zero naming the phase, shows terraform's error and how to resume; the next up succeeds", async () => {
    const ws = await initWorkspace('failing');
    const record = path.join(root, 'failing-calls.jsonl');
    const failed = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(record, { STANDIN_TF_FAIL_APPLY: '1' }),
    });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('error: the terraform phase failed: terraform apply exited with code 1');
    expect(failed.stderr).toContain('│ Error: Error creating droplet: POST https://api.digitalocean.com/v2/droplets: 422');
    expect(failed.stderr).toContain(`run \`ha-wordpress up --dir ${ws}\``);
    expect(readCalls(record).some((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version')).toBe(false);

    const record2 = path.join(root, 'failing-calls-2.jsonl');
    const resumed = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record2) });
    expect(resumed.stderr).toContain('The cluster is up');
    expect(resumed.code).toBe(0);
    // The VPC made by the failed run is kept; the plan adds the rest.
    expect(resumed.stderr).toContain('terraform plan: 17 to add');
  });

  it('a failing playbook names the ansible phase and resumes with --only ansible', async () => {
    const ws = await initWorkspace('badplay');
    const r = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(path.join(root, 'badplay.jsonl'), { STANDIN_ANSIBLE_FAIL: '1' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: the ansible phase failed: ansible-playbook exited with code 2');
    expect(r.stderr).toContain('fatal: [badplay-dblb-02]: FAILED!');
    expect(r.stderr).toContain(`run \`ha-wordpress up --only ansible --dir ${ws}\``);
  });

  it("the galera role's refusal to start an empty site ends with the two choices, not with resuming the same up", async () => {
    const ws = await initWorkspace('emptyplay');
    const r = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(path.join(root, 'emptyplay.jsonl'), { STANDIN_ANSIBLE_FAIL: 'empty' }),
    });
    expect(r.code).toBe(1);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^error: up stopped before starting an empty site: /);
    expect(last).toContain(`run \`ha-wordpress up --restore latest --dir ${ws}\` to bring it back, or \`ha-wordpress up --allow-empty-database --dir ${ws}\``);
    expect(r.stderr).not.toContain('--only ansible');
    // The refusal itself, with the backup it names, is in the lines shown above.
    expect(r.stderr).toContain('The latest backup is 4f3a2b1c');
  });

  it('a workspace whose cluster held data, every database droplet to be created (after a destroy): refused before the apply, naming the backup', async () => {
    const ws = await initWorkspace('heldplan');
    const held = path.join(ws, HELD_DATA_FILE);
    writeFileSync(held, JSON.stringify({ since: '2026-11-01T00:00:00.000Z', snapshot: '9a8b7c6d5e4f', time: '2026-11-30T03:00:00Z' }), { mode: 0o600 });
    const record = path.join(root, 'heldplan.jsonl');
    const r = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    expect(r.code).toBe(1);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^error: up stopped before starting an empty site: every database node would be new, /);
    expect(last).toContain('(latest backup 9a8b7c6d of 2026-11-30T03:00:00Z); no droplet was created');
    expect(last).toContain(`run \`ha-wordpress up --restore latest --dir ${ws}\` to bring it back, or \`ha-wordpress up --allow-empty-database --dir ${ws}\``);
    const calls = readCalls(record);
    const cluster = (cs: Call[]) => cs.filter((c) => c.cwd === path.join(ws, 'terraform'));
    expect(tfArgs(cluster(calls)).some((a) => a.startsWith('plan'))).toBe(true);
    expect(tfArgs(cluster(calls)).some((a) => a.startsWith('apply'))).toBe(false);
    expect(calls.some((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version')).toBe(false);
    expect(existsSync(path.join(ws, 'terraform', 'tfplan'))).toBe(false);

    // The user's choice to start over is taken: the whole plan is applied and the playbook runs.
    const record2 = path.join(root, 'heldplan-2.jsonl');
    const over = await runCli(['up', '--yes', '--non-interactive', '--allow-empty-database', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(record2),
    });
    expect(over.code, over.stderr).toBe(0);
    expect(tfArgs(cluster(readCalls(record2))).some((a) => a.startsWith('apply'))).toBe(true);
  });

  it('a plan with changes is not applied without --yes when nothing can ask', async () => {
    const ws = await initWorkspace('noyes');
    const record = path.join(root, 'noyes.jsonl');
    const r = await runCli(['up', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: terraform: the plan has changes and up is not interactive; .*ha-wordpress up --yes/);
    expect(tfArgs(readCalls(record)).some((a) => a.startsWith('apply'))).toBe(false);
  });

  it('names every missing tool with how to install it, before doing anything', async () => {
    const onlyNode = standinBin(root, []);
    const record = path.join(root, 'notools.jsonl');
    const ws = await initWorkspace('notools');
    const r = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { ...upEnv(record), PATH: onlyNode } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: terraform was not found on PATH: install Terraform 1\.5 or newer/);
    expect(r.stderr).toMatch(/error: ansible-playbook was not found on PATH: install ansible-core/);
    expect(existsSync(path.join(ws, '.ha-wordpress', 'logs'))).toBe(false);
  });

  it('a wrong vault password is a usage error and nothing runs', async () => {
    const ws = await initWorkspace('wrongpw');
    const bad = path.join(root, 'wrong-pass.txt');
    writeFileSync(bad, 'not the password\n');
    const record = path.join(root, 'wrongpw.jsonl');
    const r = await runCli(['up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', bad], { env: upEnv(record) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --vault-password-file: the vault password does not open/);
    expect(readCalls(record)).toEqual([]);
  });
});

describe('drill outside the local target', () => {
  it('refuses a DigitalOcean workspace in one line (it breaks nodes on purpose), exit 2, and touches nothing', async () => {
    const ws = await initWorkspace('drilldo');
    const record = path.join(root, 'drilldo.jsonl');
    const r = await runCli(['drill', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: drill runs on the local target only: it stops and kills nodes on purpose\. On DigitalOcean, watch `ha-wordpress status`/),
    ]);
    expect(readCalls(record)).toEqual([]);
    expect(r.children).toEqual([]);
  });

  it('an unknown --scenario is named with the choices before the vault is opened', async () => {
    const r = await runCli(['drill', '--scenario', 'haproxy-holder-stop,unplug-everything', '--dir', path.join(root, 'nowhere')], { env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --scenario: no scenario "unplug-everything"; choose from haproxy-holder-stop, /m);
  });
});

describe('the wait phase, against SSH servers on 127.0.0.1', () => {
  let ws: string;
  beforeAll(async () => {
    ws = await initWorkspace('waiting');
    const r = await runCli(['up', '--yes', '--non-interactive', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(path.join(root, 'waiting.jsonl')),
    });
    expect(r.stderr).toContain('The infrastructure is up');
  });

  /** Points one host of the inventory at another port. */
  function repoint(host: string, port: number): void {
    const file = path.join(ws, 'ansible/inventory/hosts.yml');
    const inv = yaml.load(readFileSync(file, 'utf8')) as { all: { children: Record<string, { hosts: Record<string, Record<string, unknown>> }> } };
    for (const g of Object.values(inv.all.children)) if (g.hosts[host]) g.hosts[host]!.ansible_port = port;
    writeFileSync(file, yaml.dump(inv));
  }

  it('a host that never answers fails the wait with a timeout naming it, and ansible does not run', async () => {
    const silent = await startSilentPort();
    try {
      repoint('waiting-db-02', silent.port);
      const record = path.join(root, 'waiting-silent.jsonl');
      // 5 s: time enough for the 7 other hosts' handshakes on a busy machine, well under SSH's 20 s.
      const r = await runCli(['up', '--only', 'ansible', '--wait-timeout', '5', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
        env: upEnv(record),
      });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error: waiting-db-02 (127.0.0.1:${silent.port}) was not ready within 5 s: SSH did not answer`);
      expect(r.stderr).not.toContain('waiting-db-01 (');
      // Timed at the silent host, from up's first connection to its giving
      // up: the CLI's start-up is no part of it (seconds on a busy machine),
      // and a wait that ignored --wait-timeout would hold on for SSH's own
      // 20 s handshake timeout.
      expect(silent.connections.length).toBeGreaterThan(0);
      // The CLI has exited; its sockets' ends reach the server on a later turn of the event loop.
      await vi.waitFor(() => expect(silent.connections.every((c) => c.closedAt !== undefined)).toBe(true), { timeout: 10_000 });
      const opened = Math.min(...silent.connections.map((c) => c.openedAt));
      const gaveUp = Math.max(...silent.connections.map((c) => c.closedAt ?? Infinity));
      expect(gaveUp - opened).toBeLessThan(15_000);
      expect(readCalls(record).some((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version')).toBe(false);
    } finally {
      await silent.close();
    }
  });

  it('a host whose cloud-init failed is named with where to look', async () => {
    const { publicKey } = { publicKey: readFileSync(path.join(home, '.ssh', 'id_ed25519.pub'), 'utf8') };
    const broken = await startSshServer({ user: 'deploy', publicKey, cloudInit: { code: 1, output: '\nstatus: error\n' } });
    try {
      repoint('waiting-db-02', ssh.port);
      repoint('waiting-wp-03', broken.port);
      // A failed cloud-init ends the wait at once: the long timeout only spares the other hosts a race on a busy machine.
      const r = await runCli(['up', '--only', 'ansible', '--wait-timeout', '120', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
        env: upEnv(path.join(root, 'waiting-ci.jsonl')),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error: waiting-wp-03 (127.0.0.1): cloud-init failed (status: error); see /var/log/cloud-init-output.log on the host');
    } finally {
      await broken.close();
    }
  });

  it('a host that refuses the key at first (cloud-init has not made the user yet) is retried until it accepts', async () => {
    const publicKey = readFileSync(path.join(home, '.ssh', 'id_ed25519.pub'), 'utf8');
    const late = await startSshServer({ user: 'deploy', publicKey, refuseLoginsForMs: 2500 });
    try {
      repoint('waiting-wp-03', late.port);
      const r = await runCli(['up', '--only', 'ansible', '--wait-timeout', '120', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
        env: upEnv(path.join(root, 'waiting-late.jsonl')),
      });
      expect(r.stderr).toContain('wait: all 8 hosts accept SSH and cloud-init has finished');
      expect(r.code).toBe(0);
      expect(late.logins).toEqual(['deploy']);
    } finally {
      await late.close();
    }
  });

  it('a host configured before that no longer answers is left out after --wait-timeout: ansible runs without it, its key is kept, and up says so', async () => {
    const silent = await startSilentPort();
    try {
      repoint('waiting-wp-03', ssh.port);
      repoint('waiting-db-02', silent.port);
      // Its key recorded, as up records every host it reached: it was configured before, and is down now.
      const file = path.join(ws, '.ha-wordpress', 'known_hosts');
      const key = readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`[127.0.0.1]:${ssh.port} `))!
        .split(' ')
        .slice(1)
        .join(' ');
      const recorded = `[127.0.0.1]:${silent.port} ${key}`;
      writeFileSync(file, `${readFileSync(file, 'utf8')}${recorded}\n`, { mode: 0o600 });
      const record = path.join(root, 'waiting-missing.jsonl');
      const r = await runCli(['up', '--only', 'ansible', '--wait-timeout', '5', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
        env: upEnv(record),
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`waiting-db-02 (127.0.0.1) does not answer (SSH did not answer within 5 s): up goes on without it`);
      expect(r.stderr).toContain('wait: 7 of 8 hosts ready; waiting-db-02 left out (not answering)');
      const playbook = readCalls(record).find((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version');
      expect(playbook?.argv.slice(playbook.argv.indexOf('--limit'), playbook.argv.indexOf('--limit') + 2)).toEqual(['--limit', 'all:!waiting-db-02']);
      expect(r.stderr).toMatch(/up configured every node but waiting-db-02, which did not answer; `ha-wordpress status` says DEGRADED until it is back/);
      expect(readFileSync(file, 'utf8')).toContain(recorded);
      // A restore rebuilds every node: refused while one is missing, before anything runs.
      const restore = await runCli(
        ['up', '--only', 'ansible', '--restore', 'latest', '--wait-timeout', '5', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile],
        { env: upEnv(path.join(root, 'waiting-missing-restore.jsonl')) },
      );
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain('error: waiting-db-02 does not answer, and --restore rebuilds the whole cluster: bring every node back');
    } finally {
      await silent.close();
      repoint('waiting-db-02', ssh.port);
    }
  });
});

describe('destroy', () => {
  let ws: string;
  beforeAll(async () => {
    ws = await initWorkspace('gone');
    const r = await runCli(['up', '--yes', '--non-interactive', '--only', 'terraform', '--dir', ws, '--vault-password-file', pwFile], {
      env: upEnv(path.join(root, 'gone-up.jsonl')),
    });
    expect(r.code).toBe(0);
  });
  const state = () => JSON.parse(readFileSync(path.join(ws, 'terraform', 'terraform.tfstate'), 'utf8')).resources as string[];

  it('refuses without --yes when it cannot ask, and runs nothing', async () => {
    const record = path.join(root, 'gone-refuse.jsonl');
    const r = await runCli(['destroy', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: destroy: not confirmed; run it on a terminal to type the project name, or add --yes (nothing was changed)');
    expect(readCalls(record)).toEqual([]);
    expect(state()).toHaveLength(18);
  });

  it('with --yes applies the destroy plan it showed, with the token by environment, and keeps the workspace', async () => {
    const record = path.join(root, 'gone-yes.jsonl');
    const r = await runCli(['destroy', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: upEnv(record) });
    expect(r.stderr).toContain('destroyed 18 resources of gone');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\s+8 × digitalocean_droplet/);
    const tf = readCalls(record).filter((c) => c.tool === 'terraform' && c.argv[0] !== 'version');
    expect(tf.map((c) => c.argv[0])).toEqual(['init', 'plan', 'show', 'apply']);
    expect(tf[1]!.argv).toEqual(expect.arrayContaining(['-destroy', '-out=destroy.tfplan']));
    expect(tf[3]!.argv.slice(-1)).toEqual(['destroy.tfplan']);
    for (const c of tf) expect(c.env.DIGITALOCEAN_TOKEN).toBe(DEFAULT_TOKEN);
    expect(state()).toEqual([]);
    expect(existsSync(path.join(ws, 'ha-wordpress.yml'))).toBe(true);
    expect(existsSync(path.join(ws, 'ansible/inventory/hosts.yml'))).toBe(false);
    expect(r.stderr).toContain('is kept');
  });

  it('--purge removes the workspace after a successful destroy', async () => {
    const ws2 = await initWorkspace('purged');
    const r = await runCli(['destroy', '--yes', '--purge', '--non-interactive', '--dir', ws2, '--vault-password-file', pwFile], {
      env: upEnv(path.join(root, 'purged.jsonl')),
    });
    expect(r.stderr).toContain('Nothing to destroy');
    expect(r.code).toBe(0);
    expect(existsSync(ws2)).toBe(false);
  });
});

describe('Ctrl-C during terraform apply', () => {
  it('forwards one SIGINT to terraform, waits for it to release its lock, then exits 130', async () => {
    const ws = await initWorkspace('interrupted');
    const record = path.join(root, 'interrupted.jsonl');
    const child = spawn(process.execPath, [BIN, 'up', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], {
      env: { LANG: 'C.UTF-8', ...upEnv(record, { STANDIN_TF_SLOW_APPLY: '1' }) },
      // Its own process group, like a shell job: the signal goes to the whole group, as a terminal's Ctrl-C does.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const running = () => child.exitCode === null && child.signalCode === null;
    try {
      // The lock appears once up has decrypted the vault, run init, plan and show: seconds on a busy machine.
      const lock = path.join(ws, 'terraform', '.terraform.tfstate.lock.info');
      const deadline = Date.now() + 2 * 60_000;
      while (!existsSync(lock) && running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(lock), `no terraform lock; up's output:\n${tail(stderr)}`).toBe(true);
      process.kill(-child.pid!, 'SIGINT');
      // The stand-in apply releases its lock within a second of the interrupt.
      const code = await Promise.race([closed, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000).unref())]);
      expect(code, `up after one SIGINT; its output:\n${tail(stderr)}`).toBe(130);
    } finally {
      if (running()) process.kill(-child.pid!, 'SIGKILL');
    }
    // The stand-in saw exactly one interrupt (two make terraform quit without unlocking) and finished cleanly.
    expect(readFileSync(path.join(ws, 'terraform', '.standin-lock-released'), 'utf8')).toBe('interrupts=1');
    expect(stderr).toContain('stopping terraform gracefully');
    expect(stderr).toContain('Interrupted: terraform stopped cleanly.');
  });
});
