/**
 * Whether init keeps a copy of the vault password in the workspace
 * (.vault-pass): not by default when the user gave it from a file or the
 * environment (they keep it already), yes when asked to, and always for the
 * lab workspace `up --target local` makes with a generated password. The
 * summary says which, and how to give the password next time.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Context } from '../src/commands/context.js';
import { ensureLabWorkspace } from '../src/init/lab-workspace.js';
import { decryptVault } from '../src/secrets/vault.js';
import type { Logger } from '../src/ui/logger.js';
import { homeWithKey, runCli, tempDir } from './support/cli.js';
import { budget } from './support/tools.js';

vi.setConfig({ testTimeout: budget({ cli: 3 }) });

const PASSWORD = 'vault pass test password';
let root: string;
let home: string;
let pwFile: string;

beforeAll(async () => {
  root = tempDir('hawp-vaultpass-');
  ({ home } = await homeWithKey(root));
  pwFile = path.join(root, 'pw.txt');
  writeFileSync(pwFile, `${PASSWORD}\n`);
});

const init = (ws: string, extra: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['init', '--target', 'local', '--non-interactive', '--yes', '--dir', ws, ...extra], { env: { HOME: home, ...env } });
const summaryLine = (stderr: string) =>
  stderr
    .split('\n')
    .find((l) => l.trimStart().startsWith('vault password'))
    ?.trim();

describe('init without a terminal', () => {
  it('does not copy a password from --vault-password-file into the workspace, and says how to give it next time', async () => {
    const ws = path.join(root, 'from-file');
    const r = await init(ws, ['--vault-password-file', pwFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(ws, '.vault-pass'))).toBe(false);
    expect(summaryLine(r.stderr)).toBe(
      `vault password  not saved in the workspace (it came from --vault-password-file ${pwFile}); ` +
        'give it to up, destroy and drill the same way (--vault-password-file <file> or HA_WORDPRESS_VAULT_PASSWORD), ' +
        'or --save-vault-password to keep it in the workspace',
    );
    // And so a command that needs it asks for it.
    const up = await runCli(['up', '--non-interactive', '--only', 'ansible', '--dir', ws], { env: { HOME: home } });
    expect(up.code).toBe(2);
    expect(up.stderr.trim()).toBe('error: missing --vault-password-file (or HA_WORDPRESS_VAULT_PASSWORD): the workspace keeps no .vault-pass');
  });

  it('does not copy a password from HA_WORDPRESS_VAULT_PASSWORD into the workspace', async () => {
    const ws = path.join(root, 'from-env');
    const r = await init(ws, [], { HA_WORDPRESS_VAULT_PASSWORD: PASSWORD });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(ws, '.vault-pass'))).toBe(false);
    expect(summaryLine(r.stderr)).toMatch(/^vault password {2}not saved in the workspace \(it came from HA_WORDPRESS_VAULT_PASSWORD\); give it to up/);
  });

  it('keeps it with --save-vault-password (0600), says where, and keeps it on the next run that gives no password', async () => {
    const ws = path.join(root, 'saved');
    const r = await init(ws, ['--vault-password-file', pwFile, '--save-vault-password']);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(ws, '.vault-pass');
    expect(readFileSync(file, 'utf8')).toBe(`${PASSWORD}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(summaryLine(r.stderr)).toBe(
      `vault password  saved in ${file} (mode 0600, git-ignored): up, destroy and drill read it from there; --no-save-vault-password to not keep it`,
    );
    const again = await runCli(['init', '--non-interactive', '--dir', ws], { env: { HOME: home } });
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(`${PASSWORD}\n`);
    expect(summaryLine(again.stderr)).toMatch(/^vault password {2}saved in /);
  });
});

describe('up --target local with no workspace', () => {
  it('keeps the generated vault password in lab/.vault-pass, and it opens the vaults', async () => {
    const cwd = path.join(root, 'here');
    const lines: string[] = [];
    const log: Logger = {
      info: (m) => lines.push(m),
      success: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      error: (m) => lines.push(m),
      out: (m) => lines.push(m),
    };
    const ctx = {
      flags: {},
      options: { target: 'local', yes: true, nonInteractive: true, verbose: false, json: false, waitTimeout: 600, purge: false },
      env: { HOME: home },
      cwd,
      home,
      interactive: false,
      yes: true,
      verbose: false,
      prompts: {},
      log,
    } as unknown as Context;
    const next = await ensureLabWorkspace(ctx);
    const ws = path.join(cwd, 'lab');
    expect(next.options.dir).toBe(ws);
    const file = path.join(ws, '.vault-pass');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(decryptVault(readFileSync(path.join(ws, 'ansible/group_vars/all/vault.yml'), 'utf8'), password)).toContain('vault_wp_db_pass');
    expect(lines.join('\n')).toContain(`The vault password was generated and is kept in ${file} (mode 0600, git-ignored).`);
    expect(lines.join('\n')).not.toContain(password);
  });
});
