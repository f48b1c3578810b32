// @ts-check
/**
 * A realistic, in-process fake of the DigitalOcean API v2, for tests and
 * benchmarks. Plain JavaScript ESM (no build step) so that both vitest tests
 * and plain `node` scripts can import it.
 *
 * The server only ever listens on 127.0.0.1 (random port).
 *
 * Implemented endpoints:
 *   GET  /v2/account
 *   GET  /v2/regions         (paginated)
 *   GET  /v2/sizes           (paginated)
 *   GET  /v2/droplets        (paginated: `dropletCount` placeholder droplets,
 *                             then the droplets created through the API;
 *                             ?tag_name= lists only the created ones with that tag)
 *   GET  /v2/account/keys    (paginated)
 *   POST /v2/account/keys
 *   GET  /v2/domains         (paginated; the account's DNS domains)
 *   GET  /v2/spaces/keys     (paginated; name, bucket, permission filters; sort)
 *   POST /v2/spaces/keys     (the only answer that carries the secret)
 *   GET, PUT, PATCH, DELETE /v2/spaces/keys/{access_key}
 * and, through ./fake-do-cloud.mjs, a stateful account that the real
 * Terraform provider can drive: droplets and their actions, VPCs, tags, load
 * balancers, reserved IPs and their actions, firewalls, projects and their
 * resources, actions, certificates (GET ?name=, POST, GET and DELETE by id),
 * GET /v2/domains/{name} and its records (list with ?type= and ?name=, POST,
 * GET, PUT, PATCH, DELETE) (see that file for the DigitalOcean behaviours it
 * copies).
 * Anything else answers 404.
 *
 * Order of processing for every request:
 *   1. the request body is read and the request is recorded in `requests`;
 *   2. `delayMs` for the path is waited;
 *   3. `rateLimitOnce` / `failOnce` for the path fire (first request to that
 *      path, whatever its token or method); `loseAnswerOnce` marks the first
 *      matching request, which is then carried out in full but answered 502,
 *      as when a gateway gives up after the API acted;
 *   4. authentication (401) and authorisation (403);
 *   5. routing (404 when nothing matches).
 *
 * Types are declared in ./fake-do-api.d.ts.
 */

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createCloud } from './fake-do-cloud.mjs';

// JSDoc types. They mirror ./fake-do-api.d.ts (used when a tsconfig has
// "allowJs"; otherwise the .d.ts declarations apply). Keep both in sync.

/**
 * @typedef {object} DoSshKey
 * @property {number} id
 * @property {string} fingerprint MD5 of the decoded key blob, lowercase hex pairs joined by ':'.
 * @property {string} public_key The OpenSSH public key line.
 * @property {string} name
 */
/**
 * @typedef {object} DoRegion
 * @property {string} name
 * @property {string} slug
 * @property {string[]} features
 * @property {boolean} available
 * @property {string[]} sizes Slugs of the sizes that can be created in this region.
 */
/**
 * @typedef {object} DoDiskInfo
 * @property {string} type
 * @property {{ amount: number, unit: string }} size
 */
/**
 * @typedef {object} DoSize
 * @property {string} slug
 * @property {number} memory MiB
 * @property {number} vcpus
 * @property {number} disk GiB
 * @property {number} transfer TiB
 * @property {number} price_monthly
 * @property {number} price_hourly
 * @property {string[]} regions Slugs of the regions the size is available in.
 * @property {boolean} available
 * @property {string} description
 * @property {DoDiskInfo[]} disk_info
 */
/**
 * @typedef {{
 *   droplet_limit: number,
 *   floating_ip_limit: number,
 *   reserved_ip_limit: number,
 *   volume_limit: number,
 *   email: string,
 *   email_verified: boolean,
 *   uuid: string,
 *   status: string,
 *   status_message: string,
 *   team?: { uuid: string, name: string },
 *   [extra: string]: unknown,
 * }} DoAccount
 */
/**
 * @typedef {object} DoDroplet
 * @property {number} id
 * @property {string} name
 * @property {number} memory
 * @property {number} vcpus
 * @property {number} disk
 * @property {boolean} locked
 * @property {string} status
 * @property {string} created_at
 * @property {string[]} features
 * @property {string} size_slug
 * @property {{ slug: string, name: string }} region
 * @property {{ v4: unknown[], v6: unknown[] }} networks
 * @property {string[]} tags
 */
/**
 * @typedef {object} DoPageLinks
 * @property {string} [first]
 * @property {string} [prev]
 * @property {string} [next]
 * @property {string} [last]
 */
/**
 * @typedef {object} DoListResponseBase
 * @property {{ pages: DoPageLinks }} links
 * @property {{ total: number }} meta
 */
/**
 * @typedef {object} DoErrorBody
 * @property {string} id
 * @property {string} message
 */
/**
 * @typedef {object} DoSpacesGrant
 * @property {string} bucket '' for a full-access grant.
 * @property {string} permission 'read' | 'readwrite' | 'fullaccess' | ''
 */
/**
 * @typedef {object} DoSpacesKey A Spaces access key as list and get show it (never its secret).
 * @property {string} name
 * @property {string} access_key
 * @property {DoSpacesGrant[]} grants
 * @property {string} created_at
 */
/**
 * @typedef {object} InjectedLostAnswer
 * @property {string} path Request path, e.g. '/v2/spaces/keys'.
 * @property {string} [method] Only requests with this method; any when absent.
 */
/**
 * @typedef {object} InjectedRateLimit
 * @property {string} path Request path, e.g. '/v2/sizes' (query string not included).
 * @property {number | string} [retryAfter] Value of the Retry-After header, in seconds; a string is sent as it is. Default 1.
 */
/**
 * @typedef {object} InjectedFailure
 * @property {string} path Request path, e.g. '/v2/regions' (query string not included).
 * @property {number} status HTTP status to answer, e.g. 500 or 503.
 * @property {string} [method] Only requests with this method; any when absent.
 * @property {number} [skip] Let this many matching requests through first. Default 0.
 */
/**
 * @typedef {object} FakeDoApiOptions
 * @property {string[]} [tokens] Valid bearer tokens. Default: [DEFAULT_TOKEN]. Missing/unknown → 401.
 * @property {string[]} [forbiddenTokens] Tokens that authenticate but get 403 on every endpoint.
 * @property {number} [perPageCap] Most items one page returns, whatever per_page asks. Default 3.
 * @property {InjectedRateLimit | InjectedRateLimit[]} [rateLimitOnce] The first request to that path answers 429 with Retry-After.
 * @property {InjectedFailure | InjectedFailure[]} [failOnce] The first (matching) request to that path answers `status` with a server_error body.
 * @property {InjectedLostAnswer | InjectedLostAnswer[]} [loseAnswerOnce] The first matching request is carried out, then answered 502.
 * @property {Record<string, number>} [delayMs] Milliseconds to wait before answering requests to a path.
 * @property {Partial<DoAccount>} [account] Shallow-merged into the default account object.
 * @property {DoRegion[]} [regions] Replaces the default region list.
 * @property {DoSize[]} [sizes] Replaces the default size list.
 * @property {DoSshKey[]} [keys] Initial SSH keys (copied). Default: 4 realistic keys.
 * @property {string[]} [domains] Names of the account's DigitalOcean DNS domains (each with its SOA and NS records). Default none.
 * @property {number} [dropletCount] Number of droplets GET /v2/droplets reports (meta.total). Default 0.
 * @property {(DoSpacesKey & { secret_key?: string })[]} [spacesKeys] Spaces keys the account already has (copied). Default none.
 * @property {boolean} [widenSpacesKeys] Every Spaces key is made full access whatever its grants (what DigitalOcean does to a request that mixes full access with bucket grants).
 * @property {import('./fake-do-cloud.mjs').CloudOptions} [cloud] The stateful account: how long actions take, the VPCs it already has.
 */
/**
 * @typedef {object} RecordedRequest
 * @property {string} method
 * @property {string} path URL path without the query string (trailing slash removed).
 * @property {Record<string, string>} query
 * @property {string | undefined} authorization The Authorization header value, if any.
 * @property {unknown} body The parsed JSON body, or undefined when empty / not JSON.
 * @property {number} status The status answered; 0 while not answered yet.
 * @property {boolean} [lostAnswer] Carried out, but answered 502 (`loseAnswerOnce`).
 */
/**
 * @typedef {object} FakeDoApi
 * @property {string} url e.g. 'http://127.0.0.1:41234' — no trailing slash.
 * @property {RecordedRequest[]} requests One entry per request, appended in arrival order.
 * @property {DoSshKey[]} keys The live SSH key list the server serves and appends to (mutable).
 * @property {DoSpacesKey[]} spacesKeys The live Spaces key list, oldest first (mutable).
 * @property {(accessKey: string) => string | undefined} spacesSecret The secret of a Spaces key, as only its create answer showed it.
 * @property {{ snapshot: () => any }} cloud What the account holds (droplets, VPCs, tags, load balancers, reserved IPs, firewalls, projects, actions, certificates, DNS records).
 * @property {() => Promise<void>} close Stops the server, abandoning delayed requests and destroying open sockets. Idempotent.
 */

/** The token accepted when `options.tokens` is not given. */
export const DEFAULT_TOKEN = 'dop_v1_' + 'a'.repeat(64);

/** DigitalOcean's default `per_page`. */
const DO_DEFAULT_PER_PAGE = 20;
/** DigitalOcean's maximum `per_page`. */
const DO_MAX_PER_PAGE = 200;
const RATE_LIMIT = 5000;
const MAX_BODY_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------
// Error bodies (exactly what DigitalOcean answers)
// ---------------------------------------------------------------------------

const ERR_UNAUTHORIZED = { id: 'Unauthorized', message: 'Unable to authenticate you' };
const ERR_FORBIDDEN = { id: 'Forbidden', message: 'You are not authorized to perform this operation' };
const ERR_NOT_FOUND = { id: 'not_found', message: 'The resource you were accessing could not be found.' };
const ERR_RATE_LIMITED = { id: 'too_many_requests', message: 'API Rate limit exceeded.' };
const ERR_SERVER = { id: 'server_error', message: 'Unexpected server-side error' };
const ERR_KEY_INVALID = { id: 'unprocessable_entity', message: 'Key invalid, type not supported' };
const ERR_KEY_IN_USE = { id: 'unprocessable_entity', message: 'SSH Key is already in use on your account' };
const ERR_NAME_BLANK = { id: 'unprocessable_entity', message: "Name can't be blank" };
const ERR_BAD_JSON = { id: 'bad_request', message: 'unexpected end of JSON input' };
const ERR_TOO_LARGE = { id: 'bad_request', message: 'Request body too large' };
/**
 * The Spaces keys API documents 400 for a request it refuses, but not its
 * words: these messages are this stand-in's, and nothing may depend on them.
 * @param {string} message
 */
const badRequest = (message) => ({ id: 'bad_request', message });

const SPACES_PERMISSIONS = ['read', 'readwrite', 'fullaccess', ''];
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A Spaces access key: 20 upper-case letters and digits, starting DO00 like DigitalOcean's. */
function newSpacesAccessKey() {
  return 'DO00' + [...randomBytes(16)].map((b) => UPPER_ALNUM[b % UPPER_ALNUM.length]).join('');
}

/** A Spaces secret: 43 base64 characters, like DigitalOcean's. */
function newSpacesSecret() {
  return randomBytes(32).toString('base64').slice(0, 43);
}

/** The collections fake-do-cloud.mjs serves (a body that is not JSON is a 400 there, as on DigitalOcean). */
const CLOUD_PATHS = /^\/v2\/(droplets|actions|vpcs|tags|load_balancers|reserved_ips|firewalls|projects|certificates|domains)(\/|$)/;

// ---------------------------------------------------------------------------
// Default data
// ---------------------------------------------------------------------------

/** @type {DoAccount} */
const DEFAULT_ACCOUNT = {
  droplet_limit: 25,
  floating_ip_limit: 3,
  reserved_ip_limit: 3,
  volume_limit: 100,
  email: 'sammy@example.com',
  email_verified: true,
  uuid: 'b6fr89dbf6d9156cace5f3c78dc9851d957381ef',
  status: 'active',
  status_message: '',
  team: {
    uuid: '5df3e3004a17e242b7c2ca0b9a6f5fd4e3f1a5c4',
    name: 'My Team',
  },
};

const FULL_FEATURES = ['backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer'];

/** Region slug, name, available, features — in the order the API lists them. */
const REGION_SPECS = /** @type {const} */ ([
  ['nyc1', 'New York 1', true],
  ['nyc3', 'New York 3', true],
  ['ams3', 'Amsterdam 3', true],
  ['sfo2', 'San Francisco 2', true],
  ['sfo3', 'San Francisco 3', true],
  ['sgp1', 'Singapore 1', true],
  ['lon1', 'London 1', true],
  ['fra1', 'Frankfurt 1', true],
  ['tor1', 'Toronto 1', true],
  ['blr1', 'Bangalore 1', true],
  ['syd1', 'Sydney 1', true],
  ['atl1', 'Atlanta 1', true],
  ['nyc2', 'New York 2', false],
]);

const AVAILABLE_REGION_SLUGS = REGION_SPECS.filter((r) => r[2]).map((r) => r[0]);

/**
 * @param {number} monthly
 * @returns {number} monthly / 672 rounded to 5 decimals, as DigitalOcean does.
 */
function hourly(monthly) {
  return Math.round((monthly / 672) * 1e5) / 1e5;
}

/**
 * @param {string} slug @param {number} memory @param {number} vcpus @param {number} disk
 * @param {number} transfer @param {number} priceMonthly @param {string} description
 * @param {{ available?: boolean, exclude?: string[] }} [opts]
 * @returns {DoSize}
 */
function size(slug, memory, vcpus, disk, transfer, priceMonthly, description, opts = {}) {
  const available = opts.available ?? true;
  const exclude = opts.exclude ?? [];
  return {
    slug,
    memory,
    vcpus,
    disk,
    transfer,
    price_monthly: priceMonthly,
    price_hourly: hourly(priceMonthly),
    regions: available ? AVAILABLE_REGION_SLUGS.filter((r) => !exclude.includes(r)) : [],
    available,
    description,
    disk_info: [{ type: 'local', size: { amount: disk, unit: 'gib' } }],
  };
}

const NOT_IN_SMALL_DCS = ['atl1', 'sfo2'];

/** Sizes sorted by price, like the real API. */
const DEFAULT_SIZES = [
  size('s-1vcpu-512mb-10gb', 512, 1, 10, 0.5, 4, 'Basic', { exclude: ['lon1'] }),
  size('s-1vcpu-1gb', 1024, 1, 25, 1.0, 6, 'Basic'),
  size('s-1vcpu-2gb', 2048, 1, 50, 2.0, 12, 'Basic'),
  size('s-2vcpu-2gb', 2048, 2, 60, 3.0, 18, 'Basic'),
  size('s-2vcpu-4gb', 4096, 2, 80, 4.0, 24, 'Basic'),
  size('c-2', 4096, 2, 25, 4.0, 42, 'CPU-Optimized', { exclude: NOT_IN_SMALL_DCS }),
  size('s-4vcpu-8gb', 8192, 4, 160, 5.0, 48, 'Basic'),
  size('g-2vcpu-8gb', 8192, 2, 25, 4.0, 63, 'General Purpose', { exclude: NOT_IN_SMALL_DCS }),
  size('m-2vcpu-16gb', 16384, 2, 50, 4.0, 84, 'Memory-Optimized', { exclude: NOT_IN_SMALL_DCS }),
  size('s-8vcpu-16gb-amd', 16384, 8, 320, 6.0, 112, 'Premium AMD', { available: false }),
];

/** Each region's `sizes` is derived from the sizes' `regions`, so both agree. */
const DEFAULT_REGIONS = REGION_SPECS.map(([slug, name, available]) => ({
  name,
  slug,
  features: available ? [...FULL_FEATURES] : FULL_FEATURES.filter((f) => f !== 'storage'),
  available,
  sizes: available ? DEFAULT_SIZES.filter((s) => s.available && s.regions.includes(slug)).map((s) => s.slug) : [],
}));

/**
 * Four unrelated, valid OpenSSH public keys (private halves were discarded).
 * Fingerprints are the MD5 fingerprints `ssh-keygen -l -E md5` reports.
 * @type {DoSshKey[]}
 */
const DEFAULT_KEYS = [
  {
    id: 289794,
    fingerprint: 'b6:68:ed:70:a0:d9:da:be:55:c9:69:8c:94:78:42:45',
    public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWv8pgsI/r58MP90m7n3pHvQDJGYECmd5FiS56MmC7m sammy@workstation',
    name: 'sammy-workstation',
  },
  {
    id: 3164444,
    fingerprint: '36:25:81:0e:58:9b:61:fd:cd:db:50:82:95:57:62:36',
    public_key:
      'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDBb09c0+VJIv5bzd+nDt5SjMdfxEkNcb3bBbdW7WmPr/yfZChI+g3PnoPMGncWy1iDOne13VyaRHjuVIF12c26GQ6Z2iBjysaNYaRcwJM2OLTiyaokIbmkwnjiigaTKcAcbsu/Vv7Lbq1S0XEXLQrDLvqv/VkfbK5rrG5mWfSz28WoP9OzPG45lZsx07oOVPpUbyGFRplweGGwqatofnHqVAUypONtSSj7Qi38UjjcfogJwOu2kwVEBjJl6jRoLeU454JoMd1Hh4XsTIF3KxAtdOFuFdhiy1A1CngKBcXJGrTtS/f2XU7moJfVO8q2fX/R4YVPcX1oWtiCQN+I5g/kthT3qvcKMAyT1ygmpe+9n+Qtp4iAHE7qtwyzUne/qPwKomRaP4M2ttd0iea7/RVtrgXhCtVI/3ehvbdn426ZfAVpNr25RooFTsmudpgaUmNs3WRKolVXSaPEEyaMk2UmMohHB92VrpgemTkGlx1+QzJtWjrf4sH4dZC97dEo71M= deploy@ci-runner-07',
    name: 'ci-deploy',
  },
  {
    id: 3164494,
    fingerprint: '62:7f:6e:dc:8b:0a:80:29:fe:59:62:a0:da:ed:81:38',
    public_key:
      'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHk3I9S2BkTt3p23iZuteCDXcYoPCsJQsOVqHd5PDri4c8zlZVUVI9rPW6ZlyggUvP5hcpefK0JTnspV7jnP3f4= ops@bastion',
    name: 'ops-bastion',
  },
  {
    id: 41029771,
    fingerprint: '6b:1b:4a:50:bd:b0:b6:f9:02:53:97:1f:33:ce:1e:e7',
    public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICzGkIWK+Gsvy2NRomMIbLri3reJ0VuQ3oBZHp5o1/G8 alex@macbook-pro.local',
    name: 'alex-macbook',
  },
];

/**
 * @template T
 * @param {T} value
 * @returns {T}
 */
function clone(value) {
  return structuredClone(value);
}

/** @returns {DoAccount} a fresh copy of the default account object. */
export function defaultAccount() {
  return clone(DEFAULT_ACCOUNT);
}
/** @returns {DoRegion[]} a fresh copy of the default region list. */
export function defaultRegions() {
  return clone(DEFAULT_REGIONS);
}
/** @returns {DoSize[]} a fresh copy of the default size list. */
export function defaultSizes() {
  return clone(DEFAULT_SIZES);
}
/** @returns {DoSshKey[]} a fresh copy of the default SSH key list. */
export function defaultKeys() {
  return clone(DEFAULT_KEYS);
}

// ---------------------------------------------------------------------------
// OpenSSH public keys
// ---------------------------------------------------------------------------

/** Number of SSH wire-format fields after the type string, per key type. */
const KEY_FIELD_COUNTS = /** @type {Record<string, number>} */ ({
  'ssh-ed25519': 1, // 32-byte public key
  'ssh-rsa': 2, // e, n
  'ssh-dss': 4, // p, q, g, y
  'ecdsa-sha2-nistp256': 2, // curve name, Q
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
});

/**
 * Parse an OpenSSH public key line (`<type> <base64> [comment]`).
 * Validates that the base64 is canonical and that the decoded blob is a
 * well-formed SSH wire-format key of the announced type.
 * @param {unknown} line
 * @returns {{ type: string, blob: Buffer, comment: string } | null}
 */
export function parseOpenSshPublicKey(line) {
  if (typeof line !== 'string') return null;
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) return null;
  const [type, b64] = /** @type {[string, string]} */ (parts);
  const fieldCount = KEY_FIELD_COUNTS[type];
  if (fieldCount === undefined) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const blob = Buffer.from(b64, 'base64');
  if (blob.toString('base64') !== b64) return null;

  /** @type {Buffer[]} */
  const fields = [];
  let off = 0;
  while (off < blob.length) {
    if (off + 4 > blob.length) return null;
    const len = blob.readUInt32BE(off);
    off += 4;
    if (off + len > blob.length) return null;
    fields.push(blob.subarray(off, off + len));
    off += len;
  }
  if (fields.length !== fieldCount + 1) return null;
  if (fields[0]?.toString('latin1') !== type) return null;
  if (type === 'ssh-ed25519' && fields[1]?.length !== 32) return null;
  if (type.startsWith('ecdsa-sha2-') && fields[1]?.toString('latin1') !== type.slice('ecdsa-sha2-'.length)) {
    return null;
  }
  return { type, blob, comment: parts.slice(2).join(' ') };
}

/**
 * MD5 fingerprint of an OpenSSH public key line, as DigitalOcean reports it
 * (lowercase hex pairs joined by ':'), or null when the line is not a valid key.
 * @param {string} publicKeyLine
 * @returns {string | null}
 */
export function md5Fingerprint(publicKeyLine) {
  const parsed = parseOpenSshPublicKey(publicKeyLine);
  if (!parsed) return null;
  return createHash('md5').update(parsed.blob).digest('hex').match(/../g)?.join(':') ?? null;
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/**
 * @param {string} p
 * @returns {string}
 */
function normalizePath(p) {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') || '/' : p;
}

/**
 * @template T
 * @param {T | T[] | undefined} v
 * @returns {T[]}
 */
function asArray(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * @param {number} count
 * @returns {DoDroplet[]}
 */
function makeDroplets(count) {
  /** @type {DoDroplet[]} */
  const droplets = [];
  for (let i = 0; i < count; i++) {
    droplets.push({
      id: 3164450 + i,
      name: `droplet-${i + 1}`,
      memory: 1024,
      vcpus: 1,
      disk: 25,
      locked: false,
      status: 'active',
      created_at: '2024-01-15T10:00:00Z',
      features: ['monitoring'],
      size_slug: 's-1vcpu-1gb',
      region: { slug: 'nyc3', name: 'New York 3' },
      networks: { v4: [], v6: [] },
      tags: [],
    });
  }
  return droplets;
}

/**
 * Start the fake DigitalOcean API on 127.0.0.1 (random port).
 * @param {FakeDoApiOptions} [options]
 * @returns {Promise<FakeDoApi>}
 */
export async function startFakeDoApi(options = {}) {
  const tokens = new Set(options.tokens ?? [DEFAULT_TOKEN]);
  const forbiddenTokens = new Set(options.forbiddenTokens ?? []);
  const perPageCap = Math.max(1, Math.floor(options.perPageCap ?? 3));
  /** @type {DoAccount} */
  const account = { ...defaultAccount(), ...(options.account ?? {}) };
  const regions = options.regions ? clone(options.regions) : defaultRegions();
  const sizes = options.sizes ? clone(options.sizes) : defaultSizes();
  /** @type {DoSshKey[]} */
  const keys = options.keys ? options.keys.map((k) => ({ ...k })) : defaultKeys();
  // What GET /v2/domains lists: name, TTL and zone file, as DigitalOcean answers.
  const domains = (options.domains ?? []).map((name) => ({ name, ttl: 1800, zone_file: `$ORIGIN ${name}.\n` }));
  const droplets = makeDroplets(Math.max(0, Math.floor(options.dropletCount ?? 0)));
  /** @type {DoSpacesKey[]} */
  const spacesKeys = [];
  /** @type {Map<string, string>} access key → secret */
  const spacesSecrets = new Map();
  for (const k of options.spacesKeys ?? []) {
    spacesKeys.push({ name: k.name, access_key: k.access_key, grants: clone(k.grants), created_at: k.created_at });
    spacesSecrets.set(k.access_key, k.secret_key ?? newSpacesSecret());
  }
  const cloud = createCloud({ regions, sizes, keys, account, domains: domains.map((d) => d.name), baseUrl: () => baseUrl }, options.cloud);

  /**
   * Injected one-shot answers, queued per normalised path: each fires once, on
   * the next request to its path that it matches (rateLimitOnce entries before
   * failOnce ones); a shot with `skip` lets that many matching requests by first.
   * @typedef {{ status: number, retryAfter?: number | string, method?: string, skip: number }} Shot
   * @type {Map<string, Shot[]>}
   */
  const oneShots = new Map();
  /** @param {string} path @param {Shot} shot */
  const queueShot = (path, shot) => {
    const key = normalizePath(path);
    oneShots.set(key, [...(oneShots.get(key) ?? []), shot]);
  };
  for (const r of asArray(options.rateLimitOnce)) queueShot(r.path, { status: 429, retryAfter: r.retryAfter ?? 1, skip: 0 });
  for (const f of asArray(options.failOnce)) queueShot(f.path, { status: f.status, method: f.method?.toUpperCase(), skip: f.skip ?? 0 });
  const lostAnswers = asArray(options.loseAnswerOnce).map((l) => ({ path: normalizePath(l.path), method: l.method?.toUpperCase() }));
  /** @type {Map<string, number>} */
  const delays = new Map();
  for (const [p, ms] of Object.entries(options.delayMs ?? {})) {
    delays.set(normalizePath(p), ms);
  }

  /** @type {RecordedRequest[]} */
  const requests = [];
  let remaining = RATE_LIMIT;
  let closed = false;
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  let baseUrl = '';

  /**
   * @param {import('node:http').ServerResponse} res
   * @param {RecordedRequest | null} record
   * @param {number} status
   * @param {unknown} body
   * @param {Record<string, string>} [extraHeaders]
   */
  function send(res, record, status, body, extraHeaders = {}) {
    if (record?.lostAnswer) [status, body, extraHeaders] = [502, ERR_SERVER, {}];
    if (record) record.status = status;
    if (res.writableEnded || res.destroyed) return;
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      'ratelimit-limit': String(RATE_LIMIT),
      'ratelimit-remaining': String(status === 429 ? 0 : remaining),
      'ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60),
      ...extraHeaders,
    });
    res.end(payload);
  }

  /**
   * 204 No Content, with the same rate-limit headers.
   * @param {import('node:http').ServerResponse} res
   * @param {RecordedRequest} record
   */
  function sendEmpty(res, record) {
    if (record.lostAnswer) return send(res, record, 502, ERR_SERVER);
    record.status = 204;
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(204, {
      'ratelimit-limit': String(RATE_LIMIT),
      'ratelimit-remaining': String(remaining),
      'ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60),
    });
    res.end();
  }

  /**
   * DigitalOcean-style pagination.
   * @param {string} path
   * @param {URLSearchParams} params
   * @param {string} collection
   * @param {unknown[]} items
   */
  function paginate(path, params, collection, items) {
    const requestedPerPage = Number.parseInt(params.get('per_page') ?? '', 10);
    let perPage = Number.isFinite(requestedPerPage) && requestedPerPage > 0 ? requestedPerPage : DO_DEFAULT_PER_PAGE;
    perPage = Math.min(perPage, DO_MAX_PER_PAGE, perPageCap);
    const requestedPage = Number.parseInt(params.get('page') ?? '', 10);
    const page = Number.isFinite(requestedPage) && requestedPage > 0 ? requestedPage : 1;
    const total = items.length;
    const lastPage = Math.max(1, Math.ceil(total / perPage));

    /** @param {number} n */
    const link = (n) => {
      const q = new URLSearchParams();
      q.set('page', String(n));
      q.set('per_page', String(perPage));
      for (const [k, v] of params) if (k !== 'page' && k !== 'per_page') q.append(k, v);
      return `${baseUrl}${path}?${q.toString()}`;
    };
    /** @type {{ first?: string, prev?: string, next?: string, last?: string }} */
    const pages = {};
    if (page > 1) {
      pages.first = link(1);
      pages.prev = link(Math.min(page - 1, lastPage));
    }
    if (page < lastPage) {
      pages.next = link(page + 1);
      pages.last = link(lastPage);
    }
    return {
      [collection]: items.slice((page - 1) * perPage, page * perPage),
      links: { pages },
      meta: { total },
    };
  }

  /**
   * @param {import('node:http').ServerResponse} res
   * @param {RecordedRequest} record
   * @param {unknown} body
   */
  function createKey(res, record, body) {
    const input = /** @type {{ name?: unknown, public_key?: unknown }} */ (body !== null && typeof body === 'object' ? body : {});
    const parsed = parseOpenSshPublicKey(input.public_key);
    if (!parsed) return send(res, record, 422, ERR_KEY_INVALID);
    if (typeof input.name !== 'string' || input.name.trim() === '') {
      return send(res, record, 422, ERR_NAME_BLANK);
    }
    const fingerprint = createHash('md5').update(parsed.blob).digest('hex').match(/../g)?.join(':') ?? '';
    if (keys.some((k) => k.fingerprint === fingerprint)) return send(res, record, 422, ERR_KEY_IN_USE);
    const id = keys.reduce((max, k) => Math.max(max, Number(k.id) || 0), 512188) + 1;
    /** @type {DoSshKey} */
    const key = { id, fingerprint, public_key: String(input.public_key).trim(), name: input.name };
    keys.push(key);
    return send(res, record, 201, { ssh_key: key });
  }

  /** @param {DoSpacesKey} k a copy as the API shows it: never the secret */
  const spacesKeyJson = (k) => ({ name: k.name, access_key: k.access_key, grants: clone(k.grants), created_at: k.created_at });

  /**
   * Grants as DigitalOcean stores them, or the reason it refuses them: a full-access
   * grant wins over scoped ones ("A fullaccess permission will be prioritized if
   * fullaccess and scoped permissions are both added").
   * @param {unknown} raw
   * @returns {DoSpacesGrant[] | string}
   */
  function spacesGrants(raw) {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) return 'grants must be a list';
    /** @type {DoSpacesGrant[]} */
    const grants = [];
    for (const g of raw) {
      const grant = /** @type {{ bucket?: unknown, permission?: unknown }} */ (g !== null && typeof g === 'object' ? g : {});
      if (typeof grant.bucket !== 'string' || typeof grant.permission !== 'string') return 'every grant needs a bucket and a permission';
      if (!SPACES_PERMISSIONS.includes(grant.permission)) return `invalid permission "${grant.permission}": use read, readwrite or fullaccess`;
      if ((grant.permission === 'read' || grant.permission === 'readwrite') && grant.bucket === '') return `a ${grant.permission} grant needs a bucket`;
      grants.push({ bucket: grant.bucket, permission: grant.permission });
    }
    return grants.some((g) => g.permission === 'fullaccess') ? [{ bucket: '', permission: 'fullaccess' }] : grants;
  }

  /** @param {DoSpacesGrant[]} grants */
  const isFullAccess = (grants) => grants.some((g) => g.permission === 'fullaccess');

  /**
   * /v2/spaces/keys and /v2/spaces/keys/{access_key}.
   * @param {import('node:http').ServerResponse} res
   * @param {RecordedRequest} record
   * @param {string} method
   * @param {URLSearchParams} params
   * @param {boolean} bodyInvalid
   */
  function spacesKeysRoute(res, record, method, params, bodyInvalid) {
    const m = /^\/v2\/spaces\/keys(?:\/([^/]+))?$/.exec(record.path);
    if (!m) return send(res, record, 404, ERR_NOT_FOUND);
    if (bodyInvalid) return send(res, record, 400, ERR_BAD_JSON);
    const body = /** @type {{ name?: unknown, grants?: unknown }} */ (record.body !== null && typeof record.body === 'object' ? record.body : {});
    const accessKey = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    if (accessKey === undefined) {
      if (method === 'GET') {
        const name = params.get('name');
        const bucket = params.get('bucket');
        const permission = params.get('permission');
        const field = params.get('sort') === 'name' ? 'name' : 'created_at';
        const direction = params.get('sort_direction') === 'asc' ? 1 : -1;
        const listed = spacesKeys
          .map((k, i) => ({ k, i }))
          .filter(({ k }) => (name === null || k.name === name) && (bucket === null || k.grants.some((g) => g.bucket === bucket)))
          .filter(({ k }) => permission === null || k.grants.some((g) => g.permission === permission))
          .sort((a, b) => direction * (a.k[field] < b.k[field] ? -1 : a.k[field] > b.k[field] ? 1 : a.i - b.i))
          .map(({ k }) => spacesKeyJson(k));
        return send(res, record, 200, paginate(record.path, params, 'keys', listed));
      }
      if (method !== 'POST') return send(res, record, 404, ERR_NOT_FOUND);
      if (body.name !== undefined && typeof body.name !== 'string') return send(res, record, 400, badRequest('name must be a string'));
      const grants = spacesGrants(body.grants);
      if (typeof grants === 'string') return send(res, record, 400, badRequest(grants));
      /** @type {DoSpacesKey} */
      const key = {
        name: body.name ?? '',
        access_key: newSpacesAccessKey(),
        grants: options.widenSpacesKeys ? [{ bucket: '', permission: 'fullaccess' }] : grants,
        created_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      const secret = newSpacesSecret();
      spacesKeys.push(key);
      spacesSecrets.set(key.access_key, secret);
      return send(res, record, 201, { key: { ...spacesKeyJson(key), secret_key: secret } });
    }
    const key = spacesKeys.find((k) => k.access_key === accessKey);
    if (!key) return send(res, record, 404, ERR_NOT_FOUND);
    if (method === 'GET') return send(res, record, 200, { key: spacesKeyJson(key) });
    if (method === 'DELETE') {
      spacesKeys.splice(spacesKeys.indexOf(key), 1);
      spacesSecrets.delete(accessKey);
      return sendEmpty(res, record);
    }
    if (method !== 'PUT' && method !== 'PATCH') return send(res, record, 404, ERR_NOT_FOUND);
    if (body.name !== undefined && typeof body.name !== 'string') return send(res, record, 400, badRequest('name must be a string'));
    const grants = body.grants === undefined ? key.grants : spacesGrants(body.grants);
    if (typeof grants === 'string') return send(res, record, 400, badRequest(grants));
    // "you cannot convert a fullaccess key to a scoped key or vice versa"
    if (isFullAccess(grants) !== isFullAccess(key.grants))
      return send(res, record, 400, badRequest('cannot convert a fullaccess key to a scoped key or vice versa'));
    if (body.name !== undefined) key.name = body.name;
    key.grants = grants;
    return send(res, record, 200, { key: spacesKeyJson(key) });
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {RecordedRequest} record
   * @param {URL} url
   * @param {boolean} bodyInvalid
   */
  function handle(req, res, record, url, bodyInvalid) {
    const path = record.path;

    const shots = oneShots.get(path) ?? [];
    const next = shots.findIndex((shot) => shot.method === undefined || shot.method === record.method);
    const due = next >= 0 ? shots[next] : undefined;
    const oneShot = due?.skip === 0 ? shots.splice(next, 1)[0] : undefined;
    if (due && !oneShot) due.skip -= 1;
    if (oneShot) {
      if (oneShot.status === 429) {
        return send(res, record, 429, ERR_RATE_LIMITED, { 'retry-after': String(oneShot.retryAfter) });
      }
      return send(res, record, oneShot.status, ERR_SERVER);
    }
    const lost = lostAnswers.findIndex((l) => l.path === path && (l.method === undefined || l.method === record.method));
    if (lost >= 0) {
      lostAnswers.splice(lost, 1);
      record.lostAnswer = true;
    }

    const auth = record.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const token = m ? (m[1] ?? '') : '';
    const isForbidden = forbiddenTokens.has(token);
    if (!isForbidden && !tokens.has(token)) return send(res, record, 401, ERR_UNAUTHORIZED);
    remaining = Math.max(0, remaining - 1);
    if (isForbidden) return send(res, record, 403, ERR_FORBIDDEN);

    const method = req.method ?? 'GET';
    const params = url.searchParams;
    if (method === 'GET') {
      switch (path) {
        case '/v2/account':
          return send(res, record, 200, { account });
        case '/v2/regions':
          return send(res, record, 200, paginate(path, params, 'regions', regions));
        case '/v2/sizes':
          return send(res, record, 200, paginate(path, params, 'sizes', sizes));
        case '/v2/account/keys':
          return send(res, record, 200, paginate(path, params, 'ssh_keys', keys));
        case '/v2/domains':
          return send(res, record, 200, paginate(path, params, 'domains', domains));
        case '/v2/droplets': {
          const tagName = params.get('tag_name');
          const listed = [...(tagName ? [] : droplets), ...cloud.listDroplets(tagName)];
          return send(res, record, 200, paginate(path, params, 'droplets', listed));
        }
      }
    } else if (method === 'POST' && path === '/v2/account/keys') {
      if (bodyInvalid) return send(res, record, 400, ERR_BAD_JSON);
      return createKey(res, record, record.body);
    }
    if (/^\/v2\/spaces\/keys(\/|$)/.test(path)) return spacesKeysRoute(res, record, method, params, bodyInvalid);
    if (bodyInvalid && method !== 'GET' && CLOUD_PATHS.test(path)) return send(res, record, 400, ERR_BAD_JSON);
    const answer = cloud.handle(method, path, params, record.body, (collection, items) => paginate(path, params, collection, items));
    if (answer) {
      if (answer.status === 204) return sendEmpty(res, record);
      return send(res, record, answer.status, answer.body);
    }
    return send(res, record, 404, ERR_NOT_FOUND);
  }

  const server = createServer((req, res) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (/** @type {Buffer} */ chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const raw = Buffer.concat(chunks).toString('utf8');
      /** @type {unknown} */
      let body;
      let bodyInvalid = false;
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw);
        } catch {
          bodyInvalid = true;
        }
      }
      /** @type {RecordedRequest} */
      const record = {
        method: req.method ?? 'GET',
        path: normalizePath(url.pathname),
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        body,
        status: 0,
      };
      requests.push(record);
      if (tooLarge) return send(res, record, 413, ERR_TOO_LARGE);

      const delay = delays.get(record.path) ?? 0;
      if (delay > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!closed) handle(req, res, record, url, bodyInvalid);
        }, delay);
        timers.add(timer);
        // Client gave up (e.g. its timeout fired): drop the pending timer.
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
      } else {
        handle(req, res, record, url, bodyInvalid);
      }
    });
  });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  baseUrl = `http://127.0.0.1:${address.port}`;

  /** @type {Promise<void> | undefined} */
  let closing;
  function close() {
    if (closing) return closing;
    closed = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    closing = new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
    });
    return closing;
  }

  return { url: baseUrl, requests, keys, spacesKeys, spacesSecret: (accessKey) => spacesSecrets.get(accessKey), cloud: { snapshot: cloud.snapshot }, close };
}
