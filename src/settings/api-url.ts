/**
 * Where the API token may be sent. `api-url` is a plain setting: a line of
 * ha-wordpress.yml in a shared repository, or DIGITALOCEAN_API_URL in a CI
 * job. The validator (validation/rules.ts apiUrl) keeps it to https (http on
 * loopback only) and one plain shape; this decides whether sending the token
 * there needs the user's say-so first. Every command that sends the token
 * (init's account check, up's account check and terraform, destroy's
 * terraform) calls it before its first request.
 *
 * DigitalOcean's own URL needs no question. Neither does a loopback address:
 * the token then stays on this machine, where whoever listens on that port
 * could already read the user's environment, and the tests' and the lab's
 * stand-in APIs live there. Anything else is asked on a terminal, showing
 * the URL, and refused without one unless --yes was given.
 */
import { UsageError, UserError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import type { Prompts } from '../ui/prompts.js';
import { isLoopbackUrl } from '../validation/rules.js';
import { SETTINGS_FILE } from './stored.js';
import { DEFAULTS, SETTING } from './table.js';

export type ApiUrlVerdict = 'default' | 'loopback' | 'other';

/** What kind of place `url` (already validated) is. */
export function apiUrlKind(url: string): ApiUrlVerdict {
  const u = new URL(url);
  if (u.origin === new URL(DEFAULTS.apiUrl).origin && u.pathname === '/') return 'default';
  return isLoopbackUrl(url) ? 'loopback' : 'other';
}

export interface ConfirmContext {
  interactive: boolean;
  yes: boolean;
  prompts: Pick<Prompts, 'confirm'>;
  log: Logger;
}

/**
 * Returns when the token may go to `url`; throws a UsageError (no terminal,
 * no --yes) or a UserError (the user said no) otherwise. `source` says where
 * the URL came from (--api-url, DIGITALOCEAN_API_URL, ha-wordpress.yml);
 * `command` is what would send the token.
 */
export async function confirmApiUrl(ctx: ConfirmContext, url: string, source: string, command: string): Promise<void> {
  if (apiUrlKind(url) !== 'other') return;
  const from = source === '--api-url' ? '--api-url' : `--api-url (from ${source})`;
  const what = `${url} is not DigitalOcean's API (${DEFAULTS.apiUrl})`;
  if (ctx.yes) {
    ctx.log.warn(`${from}: ${what}; ${command} sends your API token there (--yes)`);
    return;
  }
  if (!ctx.interactive)
    throw new UsageError(
      `${from}: ${what} and ${command} would send your API token there; nothing was sent: ` +
        `if you trust it, run again with --yes, else ${source === '--api-url' ? 'leave --api-url out' : `correct ${source}`}`,
    );
  const ok = await ctx.prompts.confirm({
    message: `Send your DigitalOcean API token to ${url} (${from})? It is not DigitalOcean's API (${DEFAULTS.apiUrl})`,
    default: false,
  });
  if (!ok) throw new UserError(`${from}: not confirmed; the API token was not sent to ${url} and nothing was changed`);
}

/**
 * For the workspace commands: the workspace's api-url, named by where it
 * came from (the environment variable that overrides it, else the file, as
 * readSettings() decides).
 */
export function confirmWorkspaceApiUrl(ctx: ConfirmContext & { env: NodeJS.ProcessEnv }, url: string, command: string): Promise<void> {
  const source = SETTING.apiUrl.env?.find((n) => ctx.env[n]) ?? SETTINGS_FILE;
  return confirmApiUrl(ctx, url, source, command);
}
