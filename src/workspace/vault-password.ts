/**
 * The vault password of an existing workspace, for `up` and `destroy`:
 * --vault-password-file, else HA_WORDPRESS_VAULT_PASSWORD, else the
 * workspace's .vault-pass, else asked once on a terminal.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { normaliseVaultPassword } from '../secrets/vault.js';
import { expandHome } from '../ssh/keys.js';
import { redact } from '../ui/logger.js';
import type { Prompts } from '../ui/prompts.js';
import { readIfExists } from './files.js';
import { VAULT_PASS_FILE } from './workspace.js';

/** A password file as ansible-vault reads it (surrounding whitespace stripped). */
export async function readPasswordFile(file: string, cwd: string, home: string): Promise<{ path: string; password: string }> {
  const p = path.resolve(cwd, expandHome(file, home));
  const text = await readIfExists(p).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--vault-password-file: cannot read ${p} (${err.code}); check the path and its permissions`);
  });
  if (text === undefined) throw new UsageError(`--vault-password-file: ${p} does not exist; write the password to it (one line) or leave the flag out to be asked`);
  return { path: p, password: normaliseVaultPassword(text) };
}

export interface PasswordSources {
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  interactive: boolean;
  prompts: Prompts;
}

export async function openingPassword(ctx: PasswordSources, dir: string): Promise<string> {
  let pw: string | undefined;
  if (typeof ctx.flags.vaultPasswordFile === 'string') pw = (await readPasswordFile(ctx.flags.vaultPasswordFile, ctx.cwd, ctx.home)).password;
  else if (ctx.env.HA_WORDPRESS_VAULT_PASSWORD) pw = ctx.env.HA_WORDPRESS_VAULT_PASSWORD;
  else {
    const saved = await readIfExists(path.join(dir, VAULT_PASS_FILE));
    if (saved !== undefined) pw = normaliseVaultPassword(saved);
    else if (ctx.interactive) pw = await ctx.prompts.password({ message: 'Vault password of this workspace' });
    else throw new UsageError(`missing --vault-password-file (or HA_WORDPRESS_VAULT_PASSWORD): the workspace keeps no ${VAULT_PASS_FILE}`);
  }
  redact(pw);
  return pw;
}
