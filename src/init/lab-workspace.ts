/**
 * `up --target local` with no workspace: the two-command start (npm ci, then
 * this) makes a lab workspace the way `init --target local --non-interactive`
 * would, with every secret generated and the vault password generated too
 * and kept in the workspace (.vault-pass, 0600, git-ignored), then `up`
 * carries on in it. An existing workspace is used as it is.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Context } from '../commands/context.js';
import { password } from '../secrets/generate.js';
import { LAB_DIR } from '../settings/commands.js';
import { expandHome } from '../ssh/keys.js';
import { redact } from '../ui/logger.js';
import { isWorkspace, VAULT_PASS_FILE } from '../workspace/workspace.js';

const PASSWORD_ENV = 'HA_WORDPRESS_VAULT_PASSWORD';

/** The context `up` continues with: --dir set to the (perhaps new) lab workspace. */
export async function ensureLabWorkspace(ctx: Context): Promise<Context> {
  const given = ctx.options.dir !== undefined;
  const dir = given ? path.resolve(ctx.cwd, expandHome(ctx.options.dir!, ctx.home)) : (await isWorkspace(ctx.cwd)) ? ctx.cwd : path.resolve(ctx.cwd, LAB_DIR);
  const next = { ...ctx, options: { ...ctx.options, dir } };
  if (await isWorkspace(dir)) return next;
  if (ctx.options.vaultPasswordFile !== undefined || ctx.env[PASSWORD_ENV])
    throw new UsageError(
      `--vault-password-file: ${dir} holds no workspace yet; ` +
        'leave the vault password out to have one generated, or run `ha-wordpress init --target local` first',
    );

  ctx.log.info(`No workspace in ${dir}: making a local lab workspace there (every secret generated).`);
  const vaultPassword = password();
  redact(vaultPassword);
  const { runInit } = await import('../commands/init.js');
  await runInit(
    {
      ...ctx,
      flags: { target: 'local', saveVaultPassword: true },
      options: { ...next.options, nonInteractive: true },
      // In-process only: init reads the password from here, no child sees it.
      env: { ...ctx.env, [PASSWORD_ENV]: vaultPassword },
      interactive: false,
    },
    { next: false },
  );
  ctx.log.info(`The vault password was generated and is kept in ${path.join(dir, VAULT_PASS_FILE)} (mode 0600, git-ignored).`);
  return next;
}
