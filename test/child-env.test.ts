/**
 * What terraform and ansible-playbook see of the user's environment: the
 * allow-list of src/runners/env.ts plus exactly what each needs. The
 * children here are stand-ins started by the real drivers
 * (runners/terraform.ts, runners/ansible.ts, with commands/operate.ts
 * building the environments as up and destroy do); each writes the
 * environment it got to a file.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, terraformEnv, type OpContext, type Workspace } from '../src/commands/operate.js';
import { runPlaybook } from '../src/runners/ansible.js';
import { childEnv, PASS_ENV } from '../src/runners/env.js';
import { PhaseLog } from '../src/runners/process.js';
import * as tf from '../src/runners/terraform.js';
import { tempDir } from './support/cli.js';

const TOKEN = 'dop_v1_' + 'ab'.repeat(32);
const VAULT_PASSWORD = 'the workspace vault password';

/** What a user running up in CI may have in the environment: our secrets, theirs, and what the tools need. */
const SECRETS: Record<string, string> = {
  HA_WORDPRESS_WP_ADMIN_PASSWORD: 'Admin-Password-0123456789',
  HA_WORDPRESS_GALERA_ROOT_PASSWORD: 'Galera-Root-0123456789',
  HA_WORDPRESS_FAILOVER_TOKEN: 'dop_v1_' + 'cd'.repeat(32),
  HA_WORDPRESS_WP_DB_PASSWORD: 'Wp-Db-0123456789',
  HA_WORDPRESS_HAPROXY_STATS_PASSWORD: 'Stats-0123456789',
  HA_WORDPRESS_VAULT_PASSWORD: 'a vault password from the parent',
  DIGITALOCEAN_ACCESS_TOKEN: 'dop_v1_' + 'ef'.repeat(32),
  SPACES_SECRET_ACCESS_KEY: 'Spaces-Secret-0123456789abcdefghijklmnopq',
  AWS_SECRET_ACCESS_KEY: 'Aws-Secret-0123456789',
  TF_VAR_do_token: 'Tf-Var-Secret-0123456789',
  TF_TOKEN_app_terraform_io: 'Tf-Registry-Token-0123456789',
  TF_CLI_ARGS_plan: '-destroy',
  TF_LOG_PATH: '/tmp/provider-debug.log',
  ANSIBLE_HOST_KEY_CHECKING: 'False',
};
const NEEDED: Record<string, string> = {
  HOME: '/home/someone',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TERM: 'xterm-256color',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
  https_proxy: 'http://proxy.internal:3128',
  NO_PROXY: 'localhost',
  TF_LOG: 'WARN',
  TF_CLI_CONFIG_FILE: '/etc/terraform.rc',
  TF_PLUGIN_CACHE_DIR: '/var/cache/terraform',
};

let dir: string;
let dump: string;
let parent: NodeJS.ProcessEnv;

/** A stand-in that writes its environment, as JSON, to $ENV_DUMP (which reaches it through HA_WORDPRESS_CHILD_ENV). */
function standIn(name: string, body = ''): void {
  const file = path.join(dir, 'bin', name);
  writeFileSync(
    file,
    `#!${process.execPath}
const { appendFileSync } = require('node:fs');
appendFileSync(process.env.ENV_DUMP, JSON.stringify({ tool: ${JSON.stringify(name)}, argv: process.argv.slice(2), env: process.env }) + '\\n');
${body}`,
  );
  chmodSync(file, 0o755);
}

interface Seen {
  tool: string;
  argv: string[];
  env: Record<string, string>;
  password?: string;
}
const seen = (): Seen[] =>
  readFileSync(dump, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Seen);

beforeAll(() => {
  dir = tempDir('hawp-childenv-');
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'ws', 'ansible'), { recursive: true });
  mkdirSync(path.join(dir, 'ws', 'terraform'), { recursive: true });
  dump = path.join(dir, 'env.jsonl');
  standIn('terraform', `if (process.argv[2] === 'version') console.log(JSON.stringify({ terraform_version: '1.11.0' }));`);
  // Runs its --vault-password-file as ansible does, and records what it printed.
  standIn(
    'ansible-playbook',
    `const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('ansible-playbook [core 2.14.3]'); process.exit(0); }
const script = argv[argv.indexOf('--vault-password-file') + 1];
const password = require('node:child_process').execFileSync(script, { encoding: 'utf8' }).trim();
appendFileSync(process.env.ENV_DUMP, JSON.stringify({ tool: 'vault-password', argv: [], env: {}, password }) + '\\n');
console.log('PLAY RECAP');`,
  );
  parent = { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, ...NEEDED, ...SECRETS, ENV_DUMP: dump, [PASS_ENV]: 'ENV_DUMP' };
});

const ctx = () => ({ env: parent }) as unknown as OpContext;
const TLS_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSiteKeyFromTheVault\n-----END PRIVATE KEY-----\n';
const ws = (): Workspace =>
  ({
    dir: path.join(dir, 'ws'),
    token: TOKEN,
    settings: { apiUrl: 'http://127.0.0.1:9999' },
    vaults: { wp_node: { vault_spaces_access_key: 'DO00SPACESKEY0123456', vault_spaces_secret_key: 'Vault-Spaces-Secret-0123456789abcdefghijk' } },
    tlsKey: TLS_KEY,
  }) as unknown as Workspace;

/** None of the parent's secrets, by name or by value; `own` names variables the child is given (with its own values). */
function expectNoSecret(env: Record<string, string>, own: string[] = []): void {
  for (const name of Object.keys(SECRETS)) if (!own.includes(name)) expect(env, name).not.toHaveProperty(name);
  const values = Object.entries(env)
    .filter(([k]) => !own.includes(k))
    .map(([, v]) => v)
    .join('\n');
  for (const [name, value] of Object.entries(SECRETS)) if (!own.includes(name)) expect(values, name).not.toContain(value);
}
function expectNeeded(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(NEEDED)) expect(env[k], k).toBe(v);
  expect(env.PATH).toBe(parent.PATH);
}

describe('terraform, as up and destroy start it', () => {
  it('sees the token and API URL up gives it, the allow-listed basics, and none of the secrets in the parent environment', async () => {
    rmSync(dump, { force: true });
    const log = new PhaseLog(path.join(dir, 'logs'), 'terraform', 'stamp');
    await tf.init({ dir: path.join(dir, 'ws', 'terraform'), env: terraformEnv(ctx(), ws()), log });
    await log.close();
    const [run] = seen();
    expect(run!.argv[0]).toBe('init');
    const env = run!.env;
    expect(env.DIGITALOCEAN_TOKEN).toBe(TOKEN);
    expect(env.DIGITALOCEAN_API_URL).toBe('http://127.0.0.1:9999');
    // No Spaces key: the cluster's root manages no bucket (the buckets' root gets terraform's own key).
    expect(env.SPACES_ACCESS_KEY_ID).toBeUndefined();
    expect(env.SPACES_SECRET_ACCESS_KEY).toBeUndefined();
    // The key of the site's own certificate, from terraform's vault: terraform reads it as var.tls_private_key.
    expect(env.TF_VAR_tls_private_key).toBe(TLS_KEY);
    expect(env.TF_IN_AUTOMATION).toBe('1');
    expectNeeded(env);
    expectNoSecret(env);
  });

  it('gets only the allow-list even from a caller that hands it the whole parent environment', async () => {
    rmSync(dump, { force: true });
    const log = new PhaseLog(path.join(dir, 'logs'), 'terraform', 'stamp');
    await tf.init({ dir: path.join(dir, 'ws', 'terraform'), env: parent, log });
    await log.close();
    const env = seen()[0]!.env;
    expectNeeded(env);
    // The provider's own variables are terraform's (runners/terraform.ts TERRAFORM_VARS); nothing else of ours or the user's.
    expectNoSecret(env, [...tf.TERRAFORM_VARS]);
    expect(env).not.toHaveProperty('HA_WORDPRESS_WP_ADMIN_PASSWORD');
  });

  it('the version probe sees the allow-list only', async () => {
    rmSync(dump, { force: true });
    expect(await tf.terraformVersion(parent)).toBe('1.11.0');
    const env = seen()[0]!.env;
    expectNeeded(env);
    expectNoSecret(env);
    expect(env).not.toHaveProperty('DIGITALOCEAN_TOKEN');
  });
});

describe('ansible-playbook, as up starts it', () => {
  it('sees its configuration and the vault password for its password script, the allow-listed basics, and none of the parent’s secrets', async () => {
    rmSync(dump, { force: true });
    const log = new PhaseLog(path.join(dir, 'logs'), 'ansible', 'stamp');
    await runPlaybook({ workspace: path.join(dir, 'ws'), env: baseEnv(parent), vaultPassword: VAULT_PASSWORD, log });
    await log.close();
    const [play, script] = seen();
    const env = play!.env;
    expect(env.ANSIBLE_CONFIG).toBe('ansible.cfg');
    // The workspace's password, not the one in the parent's environment.
    expect(env.HA_WORDPRESS_VAULT_PASSWORD).toBe(VAULT_PASSWORD);
    expect(script!.password).toBe(VAULT_PASSWORD);
    expectNeeded(env);
    expectNoSecret(env, ['HA_WORDPRESS_VAULT_PASSWORD']);
    expect(env).not.toHaveProperty('DIGITALOCEAN_TOKEN');
    expect(env).not.toHaveProperty('ANSIBLE_HOST_KEY_CHECKING');
  });

  it('gets only the allow-list even from a caller that hands it the whole parent environment', async () => {
    rmSync(dump, { force: true });
    const log = new PhaseLog(path.join(dir, 'logs'), 'ansible', 'stamp');
    await runPlaybook({ workspace: path.join(dir, 'ws'), env: parent, vaultPassword: VAULT_PASSWORD, log });
    await log.close();
    const env = seen()[0]!.env;
    expectNeeded(env);
    expect(env.HA_WORDPRESS_VAULT_PASSWORD).toBe(VAULT_PASSWORD);
    expectNoSecret(env, ['HA_WORDPRESS_VAULT_PASSWORD']);
  });
});

describe('childEnv()', () => {
  it('passes LC_* and the allow-list, drops everything else', () => {
    const env = childEnv({ PATH: '/bin', LC_TIME: 'C', LC_MESSAGES: 'C', FOO: 'bar', KUBECONFIG: '/k', GITHUB_TOKEN: 'ghp_x' });
    expect(env).toEqual({ PATH: '/bin', LC_TIME: 'C', LC_MESSAGES: 'C' });
  });

  it(`${PASS_ENV} passes more by name or prefix, but never our own namespaces`, () => {
    const env = childEnv({
      [PASS_ENV]: 'MIRROR_USER, CORP_*, HA_WORDPRESS_WP_ADMIN_PASSWORD, DIGITALOCEAN_*, SPACES_SECRET_ACCESS_KEY, HA_*, *',
      MIRROR_USER: 'me',
      CORP_CA: '/ca.pem',
      CORP_PROXY: 'http://p',
      OTHER: 'no',
      HA_WORDPRESS_WP_ADMIN_PASSWORD: 'secret-1',
      DIGITALOCEAN_TOKEN: 'secret-2',
      SPACES_SECRET_ACCESS_KEY: 'secret-3',
    });
    expect(env).toEqual({ MIRROR_USER: 'me', CORP_CA: '/ca.pem', CORP_PROXY: 'http://p', [PASS_ENV]: expect.any(String) });
  });

  it('adds what the child needs, over the user’s value, and leaves out what is unset', () => {
    expect(childEnv({ PATH: '/bin', HOME: '/h' }, { HOME: '/other', TOKEN: 't', NONE: undefined })).toEqual({ PATH: '/bin', HOME: '/other', TOKEN: 't' });
  });
});
