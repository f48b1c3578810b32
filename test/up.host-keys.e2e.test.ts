/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `up` and SSH host keys that change, end to end: the built CLI on a
 * workspace from the real init, the stand-in terraform and ansible-playbook
 * (test/support/standins/), and SSH servers on 127.0.0.1 (ssh2) whose host
 * key a test swaps on the same port, as a rebuilt droplet or an impostor
 * would present. Ansible sends every secret to whatever answers, so a changed
 * key must stop up unless up replaced that droplet itself.
 *
 * One workspace, `keys`: keys-wp-01 has an SSH server of its own, the other
 * seven hosts share one. The tests run in order and each starts from the key
 * the one before left recorded.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TOKEN, defaultKeys, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { homeWithKey, runCli, tempDir, ROOT, type CliResult } from './support/cli.js';
import { readCalls, standinBin } from './support/standins.js';
import { startSilentPort, startSshServer, type FakeSshHost } from './support/ssh-server.js';
import { listenOnLoopback80 } from './support/site.js';
import { budget } from './support/tools.js';
import { md5Fingerprint } from '../src/ssh/keys.js';

// A test here runs the CLI up to three times.
vi.setConfig({ testTimeout: budget({ cli: 3 }), hookTimeout: budget({ cli: 2 }) });

const VAULT_PASSWORD = 'a long vault password';
const OWN = 'keys-wp-01';
let api: FakeDoApi;
let root: string;
let home: string;
let pwFile: string;
let bin: string;
/** The seven other hosts. */
let shared: FakeSshHost;
/** keys-wp-01's own server: its key is the one the tests swap. */
let own: FakeSshHost;
let site: http.Server;
let siteIp: string;
let ws: string;
let first: CliResult;

const knownHostsFile = () => path.join(ws, '.ha-wordpress', 'known_hosts');
const recreatedFile = () => path.join(ws, '.ha-wordpress', 'recreated-hosts.json');
const known = () => readFileSync(knownHostsFile(), 'utf8');
/** OpenSSH's SHA256 fingerprint of a "type base64" key line, computed here independently of up. */
const fp = (keyLine: string) =>
  `SHA256:${createHash('sha256')
    .update(Buffer.from(keyLine.split(' ')[1]!, 'base64'))
    .digest('base64')
    .replace(/=+$/, '')}`;
const errorLines = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('error:'));
const playbookRan = (record: string) => readCalls(record).some((c) => c.tool === 'ansible-playbook' && c.argv[0] !== '--version');

let runs = 0;
/** up in the workspace with these extra arguments; `ports` points hosts at other servers (default: keys-wp-01 at its own). */
async function up(args: string[], o: { ports?: Record<string, number>; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult & { record: string }> {
  const record = path.join(root, `run-${++runs}.jsonl`);
  const r = await runCli(['up', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile, ...args], {
    env: {
      HOME: home,
      PATH: `${bin}:${process.env.PATH}`,
      STANDIN_RECORD: record,
      STANDIN_SSH_PORT: String(shared.port),
      STANDIN_SSH_PORTS: JSON.stringify(o.ports ?? { [OWN]: own.port }),
      STANDIN_LB_IP: siteIp,
      STANDIN_REPO: ROOT,
      // The stand-ins' settings reach them as a user's own variables would: named in HA_WORDPRESS_CHILD_ENV.
      HA_WORDPRESS_CHILD_ENV: 'STANDIN_*',
      ...o.env,
    },
  });
  return { ...r, record };
}

beforeAll(async () => {
  root = tempDir('hawp-keys-');
  const made = await homeWithKey(root);
  home = made.home;
  pwFile = path.join(root, 'vault-pass.txt');
  writeFileSync(pwFile, VAULT_PASSWORD + '\n');
  const laptop = { id: 4242, name: 'laptop', fingerprint: md5Fingerprint(made.publicKey), public_key: made.publicKey };
  api = await startFakeDoApi({ keys: [...defaultKeys(), laptop] });
  bin = standinBin(root);
  shared = await startSshServer({ user: 'deploy', publicKey: made.publicKey });
  own = await startSshServer({ user: 'deploy', publicKey: made.publicKey });
  site = http.createServer((_req, res) => res.end('<html>WordPress</html>'));
  siteIp = await listenOnLoopback80(site);

  ws = path.join(root, 'keys');
  const init = await runCli(
    ['init', '--non-interactive', '--project', 'keys', '--region', 'fra1', '--dir', ws, '--vault-password-file', pwFile, '--api-url', api.url],
    { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } },
  );
  expect(init.stderr).toContain('Workspace ready');
  first = await up(['--yes']);
});

afterAll(async () => {
  await api?.close();
  await shared?.close();
  await own?.close();
  site?.close();
});

describe('up and SSH host keys that change', () => {
  it('up --help offers --accept-new-host-keys', async () => {
    const r = await runCli(['up', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--accept-new-host-keys\s+trust hosts whose SSH host key changed/);
  });

  it('the first up trusts every host on first use and records its key; nothing is left expected', () => {
    expect(first.stderr).toContain('The cluster is up');
    expect(first.code).toBe(0);
    expect(known().trim().split('\n').sort()).toEqual([`[127.0.0.1]:${shared.port} ${shared.hostKey}`, `[127.0.0.1]:${own.port} ${own.hostKey}`].sort());
    expect(existsSync(recreatedFile())).toBe(false);
  });

  it('a host presenting another key stops up in one line before ansible runs: the host, both fingerprints, how to go on; known_hosts unchanged', async () => {
    const before = known();
    const old = own.hostKey;
    const now = own.rotateHostKey();
    const r = await up(['--yes']);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r)).toEqual([
      `error: the SSH host key of ${OWN} (127.0.0.1:${own.port}: ${fp(old)} → ${fp(now)}) changed, and up did not replace its droplet: ` +
        "stopped before any secret was sent, known_hosts unchanged; check the new fingerprint on the droplet's console " +
        `(\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\`), then run \`ha-wordpress up --only ansible --accept-new-host-keys --dir ${ws}\``,
    ]);
    expect(playbookRan(r.record)).toBe(false);
    expect(known()).toBe(before);
    expect(existsSync(recreatedFile())).toBe(false);
  });

  it('a host that now offers only an ECDSA key where an ed25519 key is recorded has changed too', async () => {
    const before = known();
    const now = own.rotateHostKey('ecdsa');
    expect(now).toMatch(/^ecdsa-sha2-nistp256 /);
    const r = await up(['--only', 'ansible']);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r)).toHaveLength(1);
    expect(errorLines(r)[0]).toContain(`${OWN} (127.0.0.1:${own.port}: `);
    expect(errorLines(r)[0]).toContain(`→ ${fp(now)}) changed`);
    expect(errorLines(r)[0]).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub');
    expect(playbookRan(r.record)).toBe(false);
    expect(known()).toBe(before);
  });

  it('--accept-new-host-keys: the new key is accepted with a warning naming it, recorded, and the playbook runs', async () => {
    const old = known()
      .split('\n')
      .find((l) => l.startsWith(`[127.0.0.1]:${own.port} `))!
      .split(' ')
      .slice(1)
      .join(' ');
    const now = own.rotateHostKey();
    const r = await up(['--only', 'ansible', '--accept-new-host-keys']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `warning: the SSH host key of ${OWN} (127.0.0.1:${own.port}: ${fp(old)} → ${fp(now)}) changed; accepted (--accept-new-host-keys)`,
    );
    expect(known()).toContain(`[127.0.0.1]:${own.port} ${now}\n`);
    expect(known()).not.toContain(old);
    expect(known()).toContain(`[127.0.0.1]:${shared.port} ${shared.hostKey}\n`);
    expect(playbookRan(r.record)).toBe(true);
  });

  it('a droplet the plan replaces comes with a new key: up accepts it without the flag and says so', async () => {
    const now = own.rotateHostKey();
    const r = await up(['--yes'], { env: { STANDIN_TF_REPLACE: 'digitalocean_droplet.web[0]' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('digitalocean_droplet.web[0] will be REPLACED');
    expect(r.stderr).toContain(`${OWN}: new SSH host key ${fp(now)} recorded (up replaced its droplet)`);
    expect(errorLines(r)).toEqual([]);
    expect(r.stderr).not.toContain('accepted (--accept-new-host-keys)');
    expect(known()).toContain(`[127.0.0.1]:${own.port} ${now}\n`);
    expect(playbookRan(r.record)).toBe(true);
    expect(existsSync(recreatedFile())).toBe(false);
  });

  it('a droplet replaced by an up that failed in the wait phase is still expected by the next up, once', async () => {
    const before = known();
    const now = own.rotateHostKey();
    const silent = await startSilentPort();
    try {
      // keys-db-02 never answers: the wait fails after terraform replaced keys-wp-01.
      const failed = await up(['--yes', '--wait-timeout', '5'], {
        ports: { [OWN]: own.port, 'keys-db-02': silent.port },
        env: { STANDIN_TF_REPLACE: 'digitalocean_droplet.web[0]' },
      });
      expect(failed.code, failed.stderr).toBe(1);
      expect(errorLines(failed)).toEqual([expect.stringMatching(/^error: keys-db-02 \(127\.0\.0\.1:\d+\) was not ready within 5 s/)]);
      expect(known()).toBe(before);
      expect(Object.keys((JSON.parse(readFileSync(recreatedFile(), 'utf8')) as { hosts: object }).hosts)).toEqual([OWN]);
    } finally {
      await silent.close();
    }
    // The next up's plan replaces nothing (terraform already did): the record says the new key is expected.
    const next = await up(['--yes']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
    expect(next.stderr).toContain(`${OWN}: new SSH host key ${fp(now)} recorded (up replaced its droplet)`);
    expect(known()).toContain(`[127.0.0.1]:${own.port} ${now}\n`);
    expect(existsSync(recreatedFile())).toBe(false);

    // Once recorded, that expectation is spent: another key stops up again.
    own.rotateHostKey();
    const again = await up(['--only', 'ansible']);
    expect(again.code, again.stderr).toBe(1);
    expect(errorLines(again)[0]).toMatch(/^error: the SSH host key of keys-wp-01 \(.*\) changed, and up did not replace its droplet/);
  });

  it('a host at an address never seen before is trusted on first use, without the flag', async () => {
    const fresh = await startSshServer({ user: 'deploy', publicKey: readFileSync(path.join(home, '.ssh', 'id_ed25519.pub'), 'utf8') });
    try {
      // The inventory, rewritten from terraform's outputs, now has keys-wp-01 at an address known_hosts has never seen.
      const moved = await up(['--yes'], { ports: { [OWN]: fresh.port } });
      expect(moved.code, moved.stderr).toBe(0);
      expect(errorLines(moved)).toEqual([]);
      expect(moved.stderr).not.toContain('SSH host key');
      expect(known()).toContain(`[127.0.0.1]:${fresh.port} ${fresh.hostKey}\n`);
      expect(playbookRan(moved.record)).toBe(true);
    } finally {
      await fresh.close();
    }
  });
});
