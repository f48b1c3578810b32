/**
 * The project's SSH key: --ssh-key, else the one the workspace names, else
 * ~/.ssh/id_ed25519 or id_rsa, else a new ed25519 key (after asking, or with
 * --yes). On DigitalOcean its public half is registered with the account
 * unless the account already has it.
 */
import path from 'node:path';
import { CancelledError, UsageError } from '../errors.js';
import { SETTINGS_FILE } from '../settings/stored.js';
import { expandHome, findDefaultKey, generateKey, permissionProblem, readKey, type KeyInfo } from '../ssh/keys.js';
import type { Context } from '../commands/context.js';
import { withSpinner } from '../ui/spinner.js';
import { pathLength } from '../validation/paths.js';
import type { Live } from './account.js';

export async function resolveSshKey(
  ctx: Pick<Context, 'flags' | 'cwd' | 'home' | 'yes' | 'interactive' | 'prompts' | 'log'>,
  storedPath: string | undefined,
  project: string,
): Promise<KeyInfo> {
  const flag = ctx.flags.sshKey;
  let keyPath: string | undefined;
  if (typeof flag === 'string') {
    // Checked here too: a prompt-time init does not settle --ssh-key through the resolver.
    const tooLong = pathLength(flag);
    if (tooLong) throw new UsageError(`--ssh-key: ${tooLong}`);
    keyPath = path.resolve(ctx.cwd, expandHome(flag, ctx.home));
  } else if (storedPath) keyPath = storedPath;
  else keyPath = await findDefaultKey(ctx.home);

  let key: KeyInfo;
  if (keyPath) {
    key = await readKey(keyPath, typeof flag === 'string' ? '--ssh-key' : storedPath ? `--ssh-key (from ${SETTINGS_FILE})` : '--ssh-key');
  } else {
    const newPath = path.join(ctx.home, '.ssh', 'id_ed25519');
    if (!ctx.yes) {
      if (!ctx.interactive)
        throw new UsageError(`--ssh-key: no ~/.ssh/id_ed25519 or ~/.ssh/id_rsa found; give --ssh-key PATH, or --yes to create a new key at ${newPath}`);
      const ok = await ctx.prompts.confirm({ message: `No SSH key in ~/.ssh. Create a new ed25519 key at ${newPath}?`, default: true });
      if (!ok) throw new CancelledError('No SSH key: run init again with --ssh-key PATH.');
    }
    key = await generateKey(newPath, `${project}@ha-wordpress`);
    ctx.log.success(`Created the SSH key ${newPath} (and ${newPath}.pub)`);
  }
  const perm = await permissionProblem(key.path);
  if (perm) ctx.log.warn(perm);
  return key;
}

/** Uploads the key's public half unless the account has it (matched by fingerprint); says which. */
export async function registerKey(live: Live, key: KeyInfo, project: string): Promise<string> {
  const { key: doKey, uploaded } = await withSpinner('Registering the SSH key with DigitalOcean…', () =>
    live.api.ensureSshKey(`${project} (ha-wordpress)`, key.publicKey, key.fingerprint, live.keys),
  );
  return uploaded ? `uploaded to DigitalOcean as "${doKey.name}"` : `already on the DigitalOcean account as "${doKey.name}"`;
}
