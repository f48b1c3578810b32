/**
 * The vault password: --vault-password-file, else HA_WORDPRESS_VAULT_PASSWORD,
 * else the workspace's .vault-pass, else asked on a terminal (twice for a new
 * workspace). One place for init and for every command that opens a vault.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { normaliseVaultPassword } from '../secrets/vault.js';
import { expandHome } from '../ssh/keys.js';
import { redact, type Logger } from '../ui/logger.js';
import type { Prompts } from '../ui/prompts.js';
import { SETTING } from '../settings/table.js';
import { pathLength } from '../validation/paths.js';
import { vaultPassword as check } from '../validation/rules.js';
import { readIfExists } from './files.js';
import { VAULT_PASS_FILE } from './workspace.js';

const ENV = 'HA_WORDPRESS_VAULT_PASSWORD';

/** A password file as ansible-vault reads it (surrounding whitespace stripped). */
export async function readPasswordFile(file: string, cwd: string, home: string): Promise<{ path: string; password: string }> {
  const tooLong = pathLength(file);
  if (tooLong) throw new UsageError(`--vault-password-file: ${tooLong}`);
  const p = path.resolve(cwd, expandHome(file, home));
  const text = await readIfExists(p).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--vault-password-file: cannot read ${p} (${err.code}); check the path and its permissions`);
  });
  if (text === undefined)
    throw new UsageError(`--vault-password-file: ${p} does not exist; write the password to it (one line) or leave the flag out to be asked`);
  return { path: p, password: normaliseVaultPassword(text) };
}

export interface PasswordSources {
  options: { vaultPasswordFile?: string };
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  interactive: boolean;
  prompts: Prompts;
  log: Logger;
}

/**
 * Where a vault password came from. One the user gave (a file, the
 * environment) is one they already keep; a typed one, or the workspace's
 * .vault-pass, is not kept anywhere else.
 */
export type PasswordFrom = { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'workspace' } | { kind: 'typed' };

export interface VaultPassword {
  password: string;
  from: PasswordFrom;
}

/** The password the user gave (flag or environment), checked like a typed one; undefined when neither was given. */
async function givenPassword(ctx: PasswordSources): Promise<VaultPassword | undefined> {
  const file = ctx.options.vaultPasswordFile;
  if (file !== undefined) {
    const read = await readPasswordFile(file, ctx.cwd, ctx.home);
    const problem = check(read.password);
    if (problem) throw new UsageError(`--vault-password-file: the password in ${read.path} ${problem.replace(/^use/, 'is too short: use')}`);
    return { password: read.password, from: { kind: 'file', path: read.path } };
  }
  const env = ctx.env[ENV];
  if (env) {
    const problem = check(env);
    if (problem) throw new UsageError(`${ENV}: ${problem}`);
    return { password: env, from: { kind: 'env', name: ENV } };
  }
  return undefined;
}

async function savedPassword(dir: string): Promise<VaultPassword | undefined> {
  const saved = await readIfExists(path.join(dir, VAULT_PASS_FILE));
  return saved === undefined ? undefined : { password: normaliseVaultPassword(saved), from: { kind: 'workspace' } };
}

async function opening(ctx: PasswordSources, dir: string): Promise<VaultPassword> {
  let pw = (await givenPassword(ctx)) ?? (await savedPassword(dir));
  if (pw === undefined) {
    if (!ctx.interactive) throw new UsageError(`missing --vault-password-file (or ${ENV}): the workspace keeps no ${VAULT_PASS_FILE}`);
    pw = { password: await ctx.prompts.password({ message: 'Vault password of this workspace' }), from: { kind: 'typed' } };
  }
  redact(pw.password);
  return pw;
}

/** The password that opens an existing workspace's vaults. */
export async function openingPassword(ctx: PasswordSources, dir: string): Promise<string> {
  return (await opening(ctx, dir)).password;
}

/**
 * init's password and where it came from: an existing workspace's (as
 * openingPassword finds it), or a new one, typed twice on a terminal.
 */
export async function initPassword(ctx: PasswordSources, dir: string, existingWorkspace: boolean): Promise<VaultPassword> {
  if (existingWorkspace) return opening(ctx, dir);
  let pw = await givenPassword(ctx);
  if (pw === undefined) {
    if (!ctx.interactive) throw new UsageError(`missing --vault-password-file (or ${ENV})`);
    const validate = (v: string) => check(v) ?? true;
    let typed: string;
    for (;;) {
      typed = await ctx.prompts.password({ message: SETTING.vaultPasswordFile.prompt.message, validate });
      const again = await ctx.prompts.password({ message: 'Repeat the vault password' });
      if (again === typed) break;
      ctx.log.error('the two passwords differ; type them again');
    }
    pw = { password: typed, from: { kind: 'typed' } };
  }
  redact(pw.password);
  return pw;
}

/**
 * Whether init keeps the password in the workspace when the user did not
 * say (--save-vault-password / --no-save-vault-password, or the question):
 * only when nothing else holds it. A password read from a file or the
 * environment is one the user already keeps, and a second copy in the
 * workspace is one more place it can leak from; a typed one, or one that is
 * in .vault-pass already, is kept there.
 */
export function saveByDefault(from: PasswordFrom): boolean {
  return from.kind === 'typed' || from.kind === 'workspace';
}
