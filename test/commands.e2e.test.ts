/**
 * Every command reads the workspace through the one settings model and takes
 * its flags from the one set of definitions: run as a user would, on a local
 * workspace (no cloud account, no lab started).
 */
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { decryptVault, encryptVault } from '../src/secrets/vault.js';
import { homeWithKey, ROOT as ROOT_DIR, runCli, tempDir } from './support/cli.js';
import { budget } from './support/tools.js';

// Each test runs the CLI two or three times.
vi.setConfig({ testTimeout: budget({ cli: 3 }) });

let root: string;
let home: string;
let pwFile: string;
const PASSWORD = 'commands test vault password';

async function localWorkspace(name: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const ws = path.join(root, name);
  const r = await runCli(['init', '--target', 'local', '--non-interactive', '--yes', '--dir', ws, '--vault-password-file', pwFile, ...extra], {
    env: { HOME: home, ...env },
  });
  expect(r.code, r.stderr).toBe(0);
  return ws;
}

function editSettings(ws: string, change: Record<string, unknown>): void {
  const file = path.join(ws, 'ha-wordpress.yml');
  const data = yaml.load(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, yaml.dump({ ...data, ...change }));
}

beforeAll(async () => {
  root = tempDir('hawp-commands-');
  ({ home } = await homeWithKey(root));
  pwFile = path.join(root, 'pw');
  writeFileSync(pwFile, `${PASSWORD}\n`);
});

describe('a hand-edited ha-wordpress.yml', () => {
  it.each([
    ['up', ['--only', 'ansible']],
    ['destroy', ['--yes']],
    ['status', []],
    ['drill', []],
  ])('with a bad value stops %s with the flag’s one-line error, exit 2, before anything runs', async (command, args) => {
    const ws = await localWorkspace(`bad-${command}`);
    editSettings(ws, { 'db-nodes': 4 });
    const r = await runCli([command, '--non-interactive', '--vault-password-file', pwFile, ...args], { cwd: ws, env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'error: --db-nodes (from ha-wordpress.yml): use an odd number (3, 5, 7 or 9) so the cluster keeps a majority after a node failure; ' +
        'fix ha-wordpress.yml or run `ha-wordpress init` again with --db-nodes',
    );
    expect(r.children).toEqual([]);
  });

  it('gets the same problem text from init as from --db-nodes', async () => {
    const r = await runCli(
      ['init', '--target', 'local', '--non-interactive', '--yes', '--dir', path.join(root, 'flag'), '--vault-password-file', pwFile, '--db-nodes', '4'],
      {
        env: { HOME: home },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: --db-nodes: use an odd number (3, 5, 7 or 9) so the cluster keeps a majority after a node failure');
  });
});

describe('flags defined once', () => {
  it('status takes --vault-password-file like every workspace command (it was an unknown option)', async () => {
    const ws = await localWorkspace('status-flags');
    const r = await runCli(['status', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
    expect(r.stderr).not.toMatch(/unknown option/);
    // No lab is running: status gets as far as the inventory.
    expect(r.stderr).toMatch(/inventory/);
  });

  it('a bad --wait-timeout is one line naming the flag, exit 2', async () => {
    const ws = await localWorkspace('wait-timeout');
    const r = await runCli(['up', '--wait-timeout', '0'], { cwd: ws, env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: --wait-timeout: give whole seconds from 1 to 7200, e.g. --wait-timeout 900');
  });

  it('--target on up must match the workspace', async () => {
    const ws = await localWorkspace('target');
    const r = await runCli(['up', '--target', 'digitalocean', '--only', 'ansible', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --target: the workspace in ${ws} is for local; leave --target out, or give another --dir`);
  });
});

describe('retired settings', () => {
  it('--galera-sys-maint-password (and its env variable) are accepted with a warning that they are ignored', async () => {
    const ws = path.join(root, 'retired-flag');
    const r = await runCli(
      [
        'init',
        '--target',
        'local',
        '--non-interactive',
        '--yes',
        '--dir',
        ws,
        '--vault-password-file',
        pwFile,
        '--galera-sys-maint-password',
        'Whatever-123456',
      ],
      { env: { HOME: home, HA_WORDPRESS_GALERA_SYS_MAINT_PASSWORD: 'Other-1234567' } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warn.*--galera-sys-maint-password is no longer used \(no role used it/);
    expect(r.stderr + r.stdout).not.toContain('Whatever-123456');
    const vault = decryptVault(readFileSync(path.join(ws, 'ansible/group_vars/galera_cluster_node/vault.yml'), 'utf8'), PASSWORD);
    expect(vault).not.toContain('sys_maint');
  });

  it('an older workspace’s vault_galera_sys_maint_password and vault_sys_user open fine and are left out by the next init, which says so', async () => {
    const ws = await localWorkspace('retired-vault');
    for (const [group, entry] of [
      ['galera_cluster_node', 'vault_galera_sys_maint_password: OldMaint-0123456789\n'],
      ['wp_node', 'vault_sys_user: deploy\n'],
    ] as const) {
      // As an older init wrote it: the vault with the entry, and the manifest's record of it (so it is not a hand edit).
      const rel = `ansible/group_vars/${group}/vault.yml`;
      const file = path.join(ws, rel);
      const text = encryptVault(decryptVault(readFileSync(file, 'utf8'), PASSWORD) + entry, PASSWORD);
      writeFileSync(file, text, { mode: 0o600 });
      const manifestFile = path.join(ws, '.ha-wordpress/manifest.json');
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { files: Record<string, string> };
      manifest.files[rel] = createHash('sha256').update(text, 'utf8').digest('hex');
      writeFileSync(manifestFile, JSON.stringify(manifest));
    }
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('left out        vault_galera_sys_maint_password (no role used it');
    expect(r.stderr).toContain('left out        vault_sys_user (no role used it');
    expect(r.stderr).not.toContain('OldMaint-0123456789');
    const vault = decryptVault(readFileSync(path.join(ws, 'ansible/group_vars/galera_cluster_node/vault.yml'), 'utf8'), PASSWORD);
    expect(vault).not.toContain('sys_maint');
  });
});

describe('one command at a time on a workspace', () => {
  it.each([
    ['init', ['init', '--non-interactive']],
    ['up', ['up', '--only', 'ansible', '--non-interactive']],
    ['destroy', ['destroy', '--yes']],
    ['drill', ['drill']],
  ])('%s refuses while another command holds the lock, naming its pid, command and start', async (name, args) => {
    const ws = await localWorkspace(`locked-${name}`);
    const holder = spawn('sleep', ['60']);
    try {
      const lock = { pid: holder.pid, command: 'up', started: '2026-11-30T12:00:00.000Z' };
      writeFileSync(path.join(ws, '.ha-wordpress/lock'), JSON.stringify(lock));
      const r = await runCli([...args, '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `error: the workspace ${ws} is busy: \`ha-wordpress up\` (pid ${holder.pid}) has held it since 2026-11-30T12:00:00.000Z; ` +
          'wait for it to end, or stop it, then try again',
      );
      expect(r.children).toEqual([]);
    } finally {
      holder.kill();
    }
  });

  it('takes over a lock whose process is gone, and releases it when done', async () => {
    const ws = await localWorkspace('stale-lock');
    const gone = spawnSync('true').pid;
    writeFileSync(path.join(ws, '.ha-wordpress/lock'), JSON.stringify({ pid: gone, command: 'up', started: '2026-11-30T12:00:00.000Z' }));
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(ws, '.ha-wordpress/lock'))).toBe(false);
  });
});

describe("a workspace whose playbook is another version's", () => {
  const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const manifestFile = (ws: string) => path.join(ws, '.ha-wordpress/manifest.json');
  /** What an earlier ha-wordpress's init left: its own site.yml, recorded as written. */
  function olderSiteYml(ws: string): string {
    const file = path.join(ws, 'ansible/site.yml');
    const older = readFileSync(file, 'utf8').replace('- name: Record the configuration this run applied', '- name: Record what this run applied');
    writeFileSync(file, older);
    const manifest = JSON.parse(readFileSync(manifestFile(ws), 'utf8')) as { files: Record<string, string> };
    manifest.files['ansible/site.yml'] = sha(older);
    writeFileSync(manifestFile(ws), JSON.stringify(manifest));
    return older;
  }

  it.each([
    ['up', ['up', '--only', 'ansible', '--non-interactive']],
    ['drill', ['drill']],
  ])('stops %s in one line naming init and the file, before anything runs or changes', async (name, args) => {
    const ws = await localWorkspace(`older-${name}`);
    const older = olderSiteYml(ws);
    const manifest = readFileSync(manifestFile(ws), 'utf8');
    const r = await runCli([...args, '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "error: the workspace's ansible/ is from another version of ha-wordpress (1 file differs from this one's, such as ansible/site.yml): " +
        `run \`ha-wordpress init\` in ${ws} to update it (files you edited are kept, the new version beside each as .new), ` +
        `then \`ha-wordpress ${name}\`; nothing was changed`,
    );
    expect(r.children).toEqual([]);
    expect(readFileSync(path.join(ws, 'ansible/site.yml'), 'utf8')).toBe(older);
    expect(readFileSync(manifestFile(ws), 'utf8')).toBe(manifest);
    expect(existsSync(path.join(ws, '.ha-wordpress/lock'))).toBe(false);
  });

  it('init brings it up to date, after which it is current; a hand edit alone is not another version', async () => {
    const { shippedDrift } = await import('../src/workspace/shipped.js');
    const ws = await localWorkspace('older-init');
    expect(await shippedDrift(ws, 'local')).toEqual([]);
    olderSiteYml(ws);
    expect(await shippedDrift(ws, 'local')).toEqual(['ansible/site.yml']);
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(ws, 'ansible/site.yml'), 'utf8')).toBe(readFileSync(path.join(ROOT_DIR, 'ansible/site.yml'), 'utf8'));
    expect(await shippedDrift(ws, 'local')).toEqual([]);
    // Edited by hand: kept, and still this version's as far as init knows.
    writeFileSync(path.join(ws, 'ansible/site.yml'), '# mine\n');
    expect(await shippedDrift(ws, 'local')).toEqual([]);
  });

  it('a hand-edited file that init offered the new version of (.new) is current', async () => {
    const { shippedDrift } = await import('../src/workspace/shipped.js');
    const ws = await localWorkspace('older-edited');
    olderSiteYml(ws);
    writeFileSync(path.join(ws, 'ansible/site.yml'), '# mine\n');
    expect(await shippedDrift(ws, 'local')).toEqual(['ansible/site.yml']);
    const r = await runCli(['init', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(ws, 'ansible/site.yml'), 'utf8')).toBe('# mine\n');
    expect(readFileSync(path.join(ws, 'ansible/site.yml.new'), 'utf8')).toBe(readFileSync(path.join(ROOT_DIR, 'ansible/site.yml'), 'utf8'));
    expect(await shippedDrift(ws, 'local')).toEqual([]);
  });
});
