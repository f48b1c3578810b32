/**
 * The DigitalOcean API through the official client (@digitalocean/dots).
 * Imported lazily: dots costs ~400 ms to load, and --help must stay fast.
 *
 * Only what the commands need lives here; every call maps HTTP and network
 * failures to one line that says what to do (see describeFailure).
 */
import { UserError } from '../errors.js';
import { redact, type Logger } from '../ui/logger.js';
import { aside } from '../ui/spinner.js';
import { DEFAULT_POLICY, NetworkError, retryingFetch, seconds, TimeoutError, type RetryInfo, type RetryPolicy } from './http.js';

export interface Account {
  dropletLimit: number;
  status: string;
  statusMessage: string;
  email: string;
}
export interface Region {
  slug: string;
  name: string;
  available: boolean;
  sizes: string[];
}
export interface Size {
  slug: string;
  memory: number;
  vcpus: number;
  disk: number;
  priceMonthly: number;
  available: boolean;
  regions: string[];
  description: string;
}
export interface SshKey {
  id: number;
  name: string;
  fingerprint: string;
  publicKey: string;
}

/** 'read', 'readwrite' (the panel's "Read/Write/Delete") or 'fullaccess' (every bucket, and creating buckets). */
export type SpacesPermission = 'read' | 'readwrite' | 'fullaccess';
/** One grant of a Spaces key; a full-access grant has bucket ''. '' as permission is a key with no power. */
export interface SpacesGrant {
  bucket: string;
  permission: SpacesPermission | '';
}
/** A Spaces key as DigitalOcean lists it: never its secret. */
export interface SpacesKey {
  name: string;
  accessKey: string;
  grants: SpacesGrant[];
  /** ISO 8601. */
  createdAt: string;
}
/** A key as create returns it: the only time DigitalOcean ever shows its secret. */
export interface NewSpacesKey extends SpacesKey {
  secretKey: string;
}

export interface DoApi {
  account(): Promise<Account>;
  regions(): Promise<Region[]>;
  sizes(): Promise<Size[]>;
  sshKeys(): Promise<SshKey[]>;
  /** The names of the account's DigitalOcean DNS domains (zones), lower case. */
  domains(): Promise<string[]>;
  dropletCount(): Promise<number>;
  /**
   * Uploads the key unless one with its fingerprint is already there; never
   * uploads twice. `known` is a key list the caller fetched moments ago.
   */
  ensureSshKey(name: string, publicKey: string, fingerprint: string, known?: SshKey[]): Promise<{ key: SshKey; uploaded: boolean }>;
  /** The account's Spaces keys; with `name`, only those with exactly that name. */
  spacesKeys(filter?: { name?: string }): Promise<SpacesKey[]>;
  /**
   * Makes a Spaces key with exactly `grants` (see spacesGrantProblem) and
   * returns it with its secret, which is registered for redaction before
   * anything else sees it. A key that comes back wider or narrower than
   * asked is deleted and the call fails. When the answer is lost after
   * DigitalOcean may have acted (a timeout, a 5xx), a key that appeared
   * under `name` during the call is deleted: nobody can learn its secret.
   * The request is never repeated.
   */
  createSpacesKey(name: string, grants: SpacesGrant[]): Promise<NewSpacesKey>;
  /** Deletes a Spaces key; false when it was already gone. */
  deleteSpacesKey(accessKey: string): Promise<boolean>;
}

export interface ConnectOptions {
  token: string;
  apiUrl: string;
  policy?: Partial<RetryPolicy>;
  /** Where a slow answer and each retry are reported as they happen (a spinner steps aside for them). */
  log?: Pick<Logger, 'info'>;
}

/*
 * dots publishes its TypeScript sources (60k lines of generated models);
 * letting tsc resolve the package would type-check all of them under our
 * strict settings on every build. A non-literal specifier keeps tsc out, and
 * DotsModule below types the small surface we call. test/do-client.test.ts
 * exercises every one of these calls against the fake API.
 */
const DOTS: string = '@digitalocean/dots';
type Page = { page: number; perPage: number };
type Meta = { meta?: { total?: number | null } | null };
interface DotsClient {
  v2: {
    account: {
      get(): Promise<
        { account?: { dropletLimit?: number | null; status?: string | null; statusMessage?: string | null; email?: string | null } | null } | undefined
      >;
      keys: {
        get(o: { queryParameters: Page }): Promise<({ sshKeys?: DotsKey[] | null } & Meta) | undefined>;
        post(body: { name: string; publicKey: string }): Promise<{ sshKey?: DotsKey | null } | undefined>;
      };
    };
    regions: {
      get(o: {
        queryParameters: Page;
      }): Promise<
        ({ regions?: { slug?: string | null; name?: string | null; available?: boolean | null; sizes?: string[] | null }[] | null } & Meta) | undefined
      >;
    };
    sizes: {
      get(o: { queryParameters: Page }): Promise<
        | ({
            sizes?:
              | {
                  slug?: string | null;
                  memory?: number | null;
                  vcpus?: number | null;
                  disk?: number | null;
                  priceMonthly?: number | null;
                  available?: boolean | null;
                  regions?: string[] | null;
                  description?: string | null;
                }[]
              | null;
          } & Meta)
        | undefined
      >;
    };
    droplets: { get(o: { queryParameters: Page }): Promise<Meta | undefined> };
    domains: { get(o: { queryParameters: Page }): Promise<({ domains?: { name?: string | null }[] | null } & Meta) | undefined> };
    spaces: {
      keys: {
        get(o: { queryParameters: Page & { name?: string } }): Promise<({ keys?: DotsSpacesKey[] | null } & Meta) | undefined>;
        post(body: {
          name: string;
          grants: { bucket: string; permission: string }[];
        }): Promise<{ key?: (DotsSpacesKey & { secretKey?: string | null }) | null } | undefined>;
        // DoTs 1.19 reads this item's GET as { keys: [...] } where the API
        // answers { key: {...} }, so one key is found by listing instead.
        byAccess_key(accessKey: string): { delete(): Promise<void> };
      };
    };
  };
}
type DotsKey = { id?: number | null; name?: string | null; fingerprint?: string | null; publicKey?: string | null };
type DotsGrant = { bucket?: string | null; permission?: string | null };
type DotsSpacesKey = { name?: string | null; accessKey?: string | null; grants?: DotsGrant[] | null; createdAt?: Date | null };
interface DotsModule {
  createDigitalOceanClient(adapter: unknown): DotsClient;
  DigitalOceanApiKeyAuthenticationProvider: new (token: string) => never;
}

const PER_PAGE = 200; // the API's maximum: fewest round trips

/** A call the API answered with an error status: callers branch on `status`. */
export class ApiError extends UserError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One line for a failed call: what failed, and what the user can do about it. */
export function describeFailure(err: unknown, what: string, apiUrl: string): UserError {
  const status = (err as { responseStatusCode?: number })?.responseStatusCode;
  const message = (err as { messageEscaped?: string })?.messageEscaped;
  const detail = message ? `: ${message}` : '';
  if (status === 401)
    return new ApiError(
      `DigitalOcean refused the API token (401) while ${what}: check --token / DIGITALOCEAN_TOKEN, or create a new token under API → Tokens`,
      status,
    );
  if (status === 403) return new ApiError(`the API token may not do this (403) while ${what}${detail}: use a token with read and write scope`, status);
  if (status === 429) return new ApiError(`DigitalOcean's rate limit was hit (429) while ${what}: wait a minute and run the command again`, status);
  if (status !== undefined && status >= 500)
    return new ApiError(`DigitalOcean answered ${status} while ${what}${detail}: the API may be having trouble; try again shortly`, status);
  if (status !== undefined) return new ApiError(`DigitalOcean answered ${status} while ${what}${detail}`, status);
  if (err instanceof TimeoutError) {
    const tries = err.tries > 1 ? ` (${err.tries} tries, ${seconds(err.elapsedMs)} in all)` : '';
    return new UserError(
      `DigitalOcean did not answer within ${seconds(err.timeoutMs)}${tries} while ${what}: ` +
        `check your network and https://status.digitalocean.com, or --api-url / DIGITALOCEAN_API_URL (${apiUrl})`,
    );
  }
  if (err instanceof NetworkError)
    return new UserError(`cannot reach the DigitalOcean API at ${apiUrl} (${err.code}) while ${what}: check your network, or --api-url / DIGITALOCEAN_API_URL`);
  if (err instanceof UserError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new UserError(`unexpected failure while ${what}: ${text}`);
}

/**
 * Progress lines for slow answers and retries. init asks for five things at
 * once: a hung API makes each of them wait and retry at the same moment, so
 * a line already shown for this attempt in the last seconds is not repeated.
 */
function progress(log: Pick<Logger, 'info'>, apiUrl: string): Pick<RetryPolicy, 'onRetry' | 'onSlow'> {
  const shown = new Map<string, number>();
  const say = (key: string, line: string) => {
    const now = Date.now();
    if (now - (shown.get(key) ?? -Infinity) < 3000) return;
    shown.set(key, now);
    aside(() => log.info(line));
  };
  return {
    onSlow: ({ waitedMs, attempt, timeoutMs }) =>
      say(`slow ${attempt}`, `DigitalOcean API (${apiUrl}): no answer yet after ${seconds(waitedMs)}; waiting up to ${seconds(timeoutMs)}…`),
    onRetry: (r: RetryInfo) =>
      say(
        `retry ${r.attempt} ${r.status ?? r.reason}`,
        `DigitalOcean API: ${r.status === 429 ? 'rate limited (HTTP 429)' : r.reason}; ` +
          `try ${r.attempt + 1} of ${r.attempts} in ${seconds(r.delayMs)} (giving up after ${seconds(r.totalMs)} in all)`,
      ),
  };
}

/**
 * Why these grants cannot make a key that is exactly what was asked, or
 * undefined. DigitalOcean widens a request that mixes full access with
 * scoped grants to full access without a word, so that is refused here.
 */
export function spacesGrantProblem(grants: SpacesGrant[]): string | undefined {
  if (grants.length === 0) return 'a Spaces key needs at least one grant';
  const full = grants.filter((g) => g.permission === 'fullaccess');
  if (full.length > 0) {
    if (grants.length > 1) return 'a full-access Spaces key cannot also have bucket grants (DigitalOcean would make it full access)';
    if (full[0]!.bucket !== '') return 'a full-access grant covers every bucket: give it bucket ""';
    return undefined;
  }
  const buckets = new Set<string>();
  for (const g of grants) {
    if (g.bucket === '') return `a ${g.permission || 'no-permission'} grant needs a bucket`;
    if (buckets.has(g.bucket)) return `bucket ${g.bucket} has more than one grant`;
    buckets.add(g.bucket);
  }
  return undefined;
}

/** Where the control panel keeps Spaces keys, for messages that send the user there. */
const PANEL_KEYS = 'Spaces Object Storage → Access Keys';

const grantKey = (g: SpacesGrant) => `${g.permission}\u0000${g.bucket}`;
const sameGrants = (a: SpacesGrant[], b: SpacesGrant[]) => a.map(grantKey).sort().join('\n') === b.map(grantKey).sort().join('\n');
const showGrants = (grants: SpacesGrant[]) =>
  grants.map((g) => (g.permission === 'fullaccess' ? 'fullaccess' : `${g.permission || '(none)'} on ${g.bucket}`)).join(', ') || 'none';

function toSpacesKey(k: DotsSpacesKey): SpacesKey {
  return {
    name: k.name ?? '',
    accessKey: k.accessKey ?? '',
    grants: (k.grants ?? []).map((g) => ({ bucket: g.bucket ?? '', permission: (g.permission ?? '') as SpacesGrant['permission'] })),
    createdAt: k.createdAt instanceof Date && !Number.isNaN(k.createdAt.getTime()) ? k.createdAt.toISOString() : '',
  };
}

export async function connect(options: ConnectOptions): Promise<DoApi> {
  const [{ createDigitalOceanClient, DigitalOceanApiKeyAuthenticationProvider }, http] = await Promise.all([
    import(DOTS) as Promise<DotsModule>,
    import('@microsoft/kiota-http-fetchlibrary'),
  ]);
  const policy: RetryPolicy = { ...DEFAULT_POLICY, ...(options.log ? progress(options.log, options.apiUrl) : {}), ...options.policy };
  // Kiota's default chain minus RetryHandler: retries and timeouts are ours (http.ts).
  const httpClient = new http.HttpClient(
    undefined,
    new http.RedirectHandler(),
    new http.ParametersNameDecodingHandler(),
    new http.UserAgentHandler(),
    new http.HeadersInspectionHandler(),
    new http.UrlReplaceHandler(),
    new http.CustomFetchHandler(retryingFetch(policy) as never),
  );
  const adapter = new http.FetchRequestAdapter(new DigitalOceanApiKeyAuthenticationProvider(options.token), undefined, undefined, httpClient);
  adapter.baseUrl = options.apiUrl.replace(/\/+$/, '');
  const client = createDigitalOceanClient(adapter);
  const apiUrl = options.apiUrl;

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describeFailure(err, what, apiUrl);
    }
  }

  /** Walks every page of a collection (meta.total says when to stop). */
  async function allPages<T>(
    what: string,
    get: (page: number) => Promise<{ items: T[] | null | undefined; total: number | null | undefined } | undefined>,
  ): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; page <= 1000; page++) {
      const res = await call(what, () => get(page));
      const items = res?.items ?? [];
      out.push(...items);
      const total = res?.total ?? out.length;
      if (items.length === 0 || out.length >= total) break;
    }
    return out;
  }

  /**
   * describeFailure, with what a refusal means for Spaces keys: a token
   * without the spaces_key scopes (403), or an account without the API,
   * which DigitalOcean still marks beta (404 on the collection).
   */
  function spacesFailure(err: unknown, what: string, collection: boolean): UserError {
    const status = (err as { responseStatusCode?: number })?.responseStatusCode;
    if (status === 403)
      return new ApiError(
        `the API token may not manage Spaces keys (403) while ${what}: ` +
          'use a full-access token, or give it the spaces_key scopes (create_credentials, read, delete)',
        status,
      );
    if (status === 404 && collection)
      return new ApiError(
        `DigitalOcean offers no Spaces keys API to this account (404) while ${what}: ` +
          `create a key in the control panel (${PANEL_KEYS}) and give it with --spaces-key and --spaces-secret`,
        status,
      );
    return describeFailure(err, what, apiUrl);
  }

  async function spacesKeys(filter: { name?: string } = {}): Promise<SpacesKey[]> {
    const name = filter.name;
    const all = await allPages('listing Spaces keys', async (page) => {
      const r = await client.v2.spaces.keys
        .get({ queryParameters: { page, perPage: PER_PAGE, ...(name === undefined ? {} : { name }) } })
        .catch((err: unknown) => {
          throw spacesFailure(err, 'listing Spaces keys', true);
        });
      return { items: r?.keys, total: r?.meta?.total };
    });
    // The name filter's matching (exact, prefix, substring) is not documented.
    return all.map(toSpacesKey).filter((k) => name === undefined || k.name === name);
  }

  async function deleteSpacesKey(accessKey: string): Promise<boolean> {
    try {
      await client.v2.spaces.keys.byAccess_key(accessKey).delete();
      return true;
    } catch (err) {
      if ((err as { responseStatusCode?: number })?.responseStatusCode === 404) return false;
      throw spacesFailure(err, `deleting Spaces key ${accessKey}`, false);
    }
  }

  async function createSpacesKey(name: string, grants: SpacesGrant[]): Promise<NewSpacesKey> {
    const problem = spacesGrantProblem(grants);
    if (problem) throw new UserError(`cannot create Spaces key "${name}": ${problem}`);
    const what = `creating Spaces key "${name}"`;
    const before = new Set((await spacesKeys({ name })).map((k) => k.accessKey));
    let answer: { key?: (DotsSpacesKey & { secretKey?: string | null }) | null } | undefined;
    try {
      answer = await client.v2.spaces.keys.post({ name, grants: grants.map((g) => ({ bucket: g.bucket, permission: g.permission })) });
    } catch (err) {
      const failure = spacesFailure(err, what, true);
      const status = (err as { responseStatusCode?: number })?.responseStatusCode;
      if (status !== undefined && status < 500) throw failure;
      if (err instanceof NetworkError && err.code === 'ECONNREFUSED') throw failure;
      // DigitalOcean may have made the key: its secret is gone with the answer.
      const appeared = await spacesKeys({ name }).then(
        (ks) => ks.filter((k) => !before.has(k.accessKey)),
        () => undefined,
      );
      const left: string[] = [];
      // false is a key already gone; only a failed delete leaves one behind.
      for (const k of appeared ?? []) if ((await deleteSpacesKey(k.accessKey).catch(() => null)) === null) left.push(k.accessKey);
      if (appeared === undefined || left.length > 0)
        throw new UserError(
          `${failure.message}; a Spaces key named "${name}" may have been made and could not be removed: delete it in the control panel (${PANEL_KEYS})`,
        );
      throw failure;
    }
    const k = answer?.key;
    const secretKey = k?.secretKey ?? '';
    redact(secretKey);
    const made = k ? toSpacesKey(k) : undefined;
    if (!made?.accessKey || !secretKey) {
      if (made?.accessKey) await deleteSpacesKey(made.accessKey).catch(() => false);
      throw new UserError(`DigitalOcean answered ${what} without the key's access key and secret`);
    }
    if (!sameGrants(made.grants, grants)) {
      const removed = await deleteSpacesKey(made.accessKey).catch(() => false);
      throw new UserError(
        `DigitalOcean made Spaces key "${name}" with other grants than asked (${showGrants(made.grants)} for ${showGrants(grants)}); ${
          removed ? 'it was deleted' : `delete ${made.accessKey} in the control panel`
        }`,
      );
    }
    return { ...made, secretKey };
  }

  const sshKeys = () =>
    allPages('listing SSH keys', async (page) => {
      const r = await client.v2.account.keys.get({ queryParameters: { page, perPage: PER_PAGE } });
      return { items: r?.sshKeys, total: r?.meta?.total };
    }).then((keys) => keys.map((k) => ({ id: k.id ?? 0, name: k.name ?? '', fingerprint: k.fingerprint ?? '', publicKey: k.publicKey ?? '' })));

  return {
    account: () =>
      call('checking the token (GET /v2/account)', async () => {
        const r = await client.v2.account.get();
        const a = r?.account;
        if (!a) throw new UserError('DigitalOcean answered /v2/account without an account');
        return { dropletLimit: a.dropletLimit ?? 0, status: a.status ?? 'unknown', statusMessage: a.statusMessage ?? '', email: a.email ?? '' };
      }),
    regions: () =>
      allPages('listing regions', async (page) => {
        const r = await client.v2.regions.get({ queryParameters: { page, perPage: PER_PAGE } });
        return { items: r?.regions, total: r?.meta?.total };
      }).then((rs) => rs.map((r) => ({ slug: r.slug ?? '', name: r.name ?? '', available: r.available ?? false, sizes: r.sizes ?? [] }))),
    sizes: () =>
      allPages('listing droplet sizes', async (page) => {
        const r = await client.v2.sizes.get({ queryParameters: { page, perPage: PER_PAGE } });
        return { items: r?.sizes, total: r?.meta?.total };
      }).then((ss) =>
        ss.map((s) => ({
          slug: s.slug ?? '',
          memory: s.memory ?? 0,
          vcpus: s.vcpus ?? 0,
          disk: s.disk ?? 0,
          priceMonthly: s.priceMonthly ?? 0,
          available: s.available ?? false,
          regions: s.regions ?? [],
          description: s.description ?? '',
        })),
      ),
    sshKeys,
    domains: () =>
      allPages('listing DNS domains', async (page) => {
        const r = await client.v2.domains.get({ queryParameters: { page, perPage: PER_PAGE } });
        return { items: r?.domains, total: r?.meta?.total };
      }).then((ds) => ds.map((d) => (d.name ?? '').toLowerCase()).filter(Boolean)),
    dropletCount: () =>
      call('counting droplets', async () => {
        const r = await client.v2.droplets.get({ queryParameters: { page: 1, perPage: 1 } });
        return r?.meta?.total ?? 0;
      }),
    async ensureSshKey(name, publicKey, fingerprint, known) {
      const find = async () => (await sshKeys()).find((k) => k.fingerprint === fingerprint);
      const existing = known ? known.find((k) => k.fingerprint === fingerprint) : await find();
      if (existing) return { key: existing, uploaded: false };
      try {
        const r = await client.v2.account.keys.post({ name, publicKey });
        const k = r?.sshKey;
        if (!k?.id) throw new UserError('DigitalOcean accepted the SSH key but returned no key');
        return { key: { id: k.id, name: k.name ?? name, fingerprint: k.fingerprint ?? fingerprint, publicKey: k.publicKey ?? publicKey }, uploaded: true };
      } catch (err) {
        // The upload may have landed although we saw a failure (a timeout, a
        // 5xx, or 422 "already in use" from a concurrent run). Look before
        // reporting, and never POST again: a second upload would duplicate.
        const landed = await find().catch(() => undefined);
        if (landed) return { key: landed, uploaded: true };
        throw describeFailure(err, 'uploading the SSH key', apiUrl);
      }
    },
    spacesKeys,
    createSpacesKey,
    deleteSpacesKey,
  };
}
