/**
 * init's checks against the live DigitalOcean account: the token (asked
 * again on a terminal when the API refuses it), the account's state, and the
 * region and size choices with their prices.
 */
import { UserError } from '../errors.js';
import type { Account, DoApi, Region, Size, SshKey } from '../digitalocean/client.js';
import { dropletCount, monthlyCost, sizesIn } from '../digitalocean/cost.js';
import type { ExtraCheck, Resolver } from '../settings/resolve.js';
import { confirmApiUrl, type ConfirmContext } from '../settings/api-url.js';
import { SETTINGS_FILE } from '../settings/stored.js';
import { SETTING, type Values } from '../settings/table.js';
import { redact, type Logger } from '../ui/logger.js';
import type { Choice } from '../ui/prompts.js';
import { withSpinner } from '../ui/spinner.js';

/** What the account said, fetched once and used by every check. */
export interface Live {
  api: DoApi;
  account: Account;
  regions: Region[];
  sizes: Size[];
  keys: SshKey[];
  droplets: number;
}

const TRIES_AT_PROMPT = 3;

export async function connectAccount(ctx: ConfirmContext, r: Resolver, storedToken: string | undefined): Promise<{ live: Live; token: string }> {
  const { ApiError, connect } = await import('../digitalocean/client.js');
  await r.settle(SETTING.apiUrl);
  const apiUrl = r.values.apiUrl!;
  const source = r.sources.apiUrl === 'workspace' ? SETTINGS_FILE : (r.sources.apiUrl ?? '--api-url');
  await confirmApiUrl(ctx, apiUrl, source, 'init');
  if (storedToken && !r.given(SETTING.token)) r.existing.token = storedToken;
  for (let attempt = 1; ; attempt++) {
    const token = (await r.settle(SETTING.token))!;
    redact(token);
    try {
      const api = await connect({ token, apiUrl, log: ctx.log });
      const [account, regions, sizes, keys, droplets] = await withSpinner('Checking the DigitalOcean account, regions, sizes and SSH keys…', () =>
        Promise.all([api.account(), api.regions(), api.sizes(), api.sshKeys(), api.dropletCount()]),
      );
      if (account.status !== 'active')
        throw new UserError(
          `the DigitalOcean account is ${account.status}${account.statusMessage ? ` (${account.statusMessage})` : ''}: ` +
            'resolve it in the control panel, then run init again',
        );
      checkListed(apiUrl, regions, sizes);
      ctx.log.success(`DigitalOcean account ${account.email || ''} is active (droplet limit ${account.dropletLimit})`);
      return { live: { api, account, regions, sizes, keys, droplets }, token };
    } catch (err) {
      const refused = err instanceof ApiError && err.status === 401;
      // A rejected token typed at the prompt is asked again; one from a flag, env or the workspace is reported.
      if (refused && ctx.interactive && r.sources.token === 'prompt' && attempt < TRIES_AT_PROMPT) {
        ctx.log.error(err.message);
        delete r.values.token;
        continue;
      }
      if (refused && r.sources.token === 'workspace')
        throw new UserError(
          'DigitalOcean refused the API token (401): the token stored in the workspace is no longer valid: give a new one with --token or DIGITALOCEAN_TOKEN',
        );
      throw err;
    }
  }
}

/**
 * Every account has regions and sizes: an empty list is the API's answer
 * (a token scoped without read access to them, a wrong --api-url, an outage),
 * and must not come out as "--region: no region fra1; available: (nothing)".
 */
function checkListed(apiUrl: string, regions: Region[], sizes: Size[]): void {
  const fix = "check the token's scope (it needs read access) and --api-url / DIGITALOCEAN_API_URL";
  const none = (what: string, extra = '') => new UserError(`DigitalOcean's API at ${apiUrl} returned no ${what}: ${extra}${fix}`);
  if (regions.length === 0) throw none('regions');
  if (!regions.some((x) => x.available)) throw none('regions that take new droplets', 'try again later (https://status.digitalocean.com), or ');
  if (sizes.length === 0) throw none('droplet sizes');
}

/** The cluster's droplets per month in `region`, at the sizes chosen so far (defaults for the rest). */
export function monthly(live: Live, region: string, v: Values): number | undefined {
  return monthlyCost(live.sizes, region, {
    webSize: v.webSize ?? SETTING.webSize.default!({})!,
    dbSize: v.dbSize ?? SETTING.dbSize.default!({})!,
    lbSize: v.lbSize ?? SETTING.lbSize.default!({})!,
    webNodes: Number(v.webNodes ?? SETTING.webNodes.default!({})),
    dbNodes: Number(v.dbNodes ?? SETTING.dbNodes.default!({})),
  });
}

/** The region prompt's choices (each with the cluster's monthly price there), and the check of a given region. */
export function regionChoices(live: Live, r: Resolver): ExtraCheck {
  const available = live.regions.filter((x) => x.available);
  const values = { ...r.existing, ...r.values };
  for (const k of ['webSize', 'dbSize', 'lbSize', 'webNodes', 'dbNodes'] as const) {
    const g = r.given(SETTING[k]);
    if (g) values[k] = g.value;
  }
  const nodes = dropletCount({
    webNodes: Number(values.webNodes ?? SETTING.webNodes.default!({})),
    dbNodes: Number(values.dbNodes ?? SETTING.dbNodes.default!({})),
  });
  const choices: Choice[] = available.map((x) => {
    const cost = monthly(live, x.slug, values);
    return {
      value: x.slug,
      name:
        `${x.slug.padEnd(6)} ${x.name.padEnd(16)} ` +
        (cost === undefined ? 'the chosen droplet sizes are not all offered here' : `${nodes} droplets ≈ $${cost}/month + load balancer`),
    };
  });
  return {
    choices,
    check: (v: string) => {
      const reg = live.regions.find((x) => x.slug === v);
      if (!reg) return `no region "${v}" on this account; available: ${available.map((x) => x.slug).join(', ')}`;
      if (!reg.available) return `region ${v} does not take new droplets now; available: ${available.map((x) => x.slug).join(', ')}`;
      return undefined;
    },
  };
}

/** A size prompt's choices in `region`, and the check of a given size. */
export function sizeChoices(live: Live, region: string): ExtraCheck {
  const offered = sizesIn(live.sizes, region);
  return {
    choices: offered.map((z) => ({
      value: z.slug,
      name:
        `${z.slug.padEnd(20)} ${z.vcpus} vCPU, ${z.memory >= 1024 ? `${z.memory / 1024} GB` : `${z.memory} MB`} RAM, ` +
        `${z.disk} GB disk, $${z.priceMonthly}/month`,
    })),
    check: (v: string) => {
      if (offered.some((z) => z.slug === v)) return undefined;
      const cheapest = offered.slice(0, 6).map((z) => z.slug);
      return `size ${v} is not offered in ${region}; for example: ${cheapest.join(', ')}`;
    },
  };
}

export function checkDropletLimit(live: Live, v: Values, log: Logger): void {
  const needed = dropletCount({ webNodes: Number(v.webNodes), dbNodes: Number(v.dbNodes) });
  const limit = live.account.dropletLimit;
  if (limit > 0 && limit < needed)
    throw new UserError(
      `the account may have ${limit} droplets and the cluster needs ${needed}: ` +
        'ask DigitalOcean support to raise the droplet limit, or lower --web-nodes / --db-nodes',
    );
  if (limit > 0 && live.droplets + needed > limit)
    log.warn(
      `the account has ${live.droplets} droplets and a limit of ${limit}; ` +
        `the cluster's ${needed} more may not fit (droplets of this cluster that already exist count once)`,
    );
}
