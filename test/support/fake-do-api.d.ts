// Type declarations for ./fake-do-api.mjs (a fake of the DigitalOcean API v2).
//
// Why an ambient wildcard module: with "moduleResolution": "NodeNext" an import
// of "./support/fake-do-api.mjs" only looks for a sibling ".d.mts", never a
// ".d.ts". This file is therefore a global script declaring the module for any
// specifier ending in "/fake-do-api.mjs". It must be part of the program: it is
// when a tsconfig includes "test/**/*.ts"; otherwise add
//   /// <reference path="<relative path>/support/fake-do-api.d.ts" />
// to the importing file. When a tsconfig sets "allowJs", TypeScript reads the
// JSDoc types in fake-do-api.mjs instead; they mirror these declarations.

declare module '*/fake-do-api.mjs' {
  /** An SSH key as the API returns it. */
  export interface DoSshKey {
    id: number;
    /** MD5 of the decoded key blob, lowercase hex pairs joined by ':'. */
    fingerprint: string;
    /** The OpenSSH public key line. */
    public_key: string;
    name: string;
  }

  export interface DoRegion {
    name: string;
    slug: string;
    features: string[];
    available: boolean;
    /** Slugs of the sizes that can be created in this region. */
    sizes: string[];
  }

  export interface DoDiskInfo {
    type: string;
    size: { amount: number; unit: string };
  }

  export interface DoSize {
    slug: string;
    /** MiB */
    memory: number;
    vcpus: number;
    /** GiB */
    disk: number;
    /** TiB */
    transfer: number;
    price_monthly: number;
    price_hourly: number;
    /** Slugs of the regions the size is available in. */
    regions: string[];
    available: boolean;
    description: string;
    disk_info: DoDiskInfo[];
  }

  export interface DoAccount {
    droplet_limit: number;
    floating_ip_limit: number;
    reserved_ip_limit: number;
    volume_limit: number;
    email: string;
    email_verified: boolean;
    uuid: string;
    status: string;
    status_message: string;
    team?: { uuid: string; name: string };
    [extra: string]: unknown;
  }

  /** A (minimal) droplet object as listed by GET /v2/droplets. */
  export interface DoDroplet {
    id: number;
    name: string;
    memory: number;
    vcpus: number;
    disk: number;
    locked: boolean;
    status: string;
    created_at: string;
    features: string[];
    size_slug: string;
    region: { slug: string; name: string };
    networks: { v4: unknown[]; v6: unknown[] };
    tags: string[];
  }

  /** The pagination links of a list response; absolute URLs on the fake's base URL. */
  export interface DoPageLinks {
    first?: string;
    prev?: string;
    next?: string;
    last?: string;
  }

  /** `{ "<collection>": T[], links: { pages }, meta: { total } }` */
  export interface DoListResponseBase {
    links: { pages: DoPageLinks };
    meta: { total: number };
  }

  export interface DoErrorBody {
    id: string;
    message: string;
  }

  /** A grant of a Spaces key: `{ bucket: '', permission: 'fullaccess' }` for full access. */
  export interface DoSpacesGrant {
    bucket: string;
    /** 'read' | 'readwrite' | 'fullaccess' | '' (a key with no power). */
    permission: string;
  }

  /** A Spaces access key as list and get show it: never its secret. */
  export interface DoSpacesKey {
    name: string;
    access_key: string;
    grants: DoSpacesGrant[];
    created_at: string;
  }

  export interface InjectedLostAnswer {
    /** Request path, e.g. '/v2/spaces/keys'. */
    path: string;
    /** Only requests with this method; any when absent. */
    method?: string;
  }

  export interface InjectedRateLimit {
    /** Request path, e.g. '/v2/sizes' (query string not included). */
    path: string;
    /** Value of the Retry-After header, in seconds; a string is sent as it is ("-5", "soon", an HTTP date). Default 1. */
    retryAfter?: number | string;
  }

  export interface InjectedFailure {
    /** Request path, e.g. '/v2/regions' (query string not included). */
    path: string;
    /** HTTP status to answer, e.g. 500 or 503. */
    status: number;
    /** Only requests with this method; any when absent. */
    method?: string;
    /** Let this many matching requests through first. Default 0. */
    skip?: number;
  }

  export interface FakeDoApiOptions {
    /** Valid bearer tokens. Default: [DEFAULT_TOKEN]. Missing/unknown → 401. */
    tokens?: string[];
    /** Tokens that authenticate but get 403 on every endpoint. */
    forbiddenTokens?: string[];
    /** Most items one page returns, whatever per_page asks. Default 3. */
    perPageCap?: number;
    /** The first request to that path answers 429 with Retry-After. */
    rateLimitOnce?: InjectedRateLimit | InjectedRateLimit[];
    /** The first (matching) request to that path answers `status` with a server_error body. */
    failOnce?: InjectedFailure | InjectedFailure[];
    /** The first matching request is carried out in full, then answered 502 (the answer of a request that acted is lost). */
    loseAnswerOnce?: InjectedLostAnswer | InjectedLostAnswer[];
    /** Milliseconds to wait before answering requests to a path: { '/v2/account': 2000 }. */
    delayMs?: Record<string, number>;
    /** Shallow-merged into the default account object. */
    account?: Partial<DoAccount>;
    /** Replaces the default region list. */
    regions?: DoRegion[];
    /** Replaces the default size list. */
    sizes?: DoSize[];
    /** Initial SSH keys (copied). Default: 4 realistic keys. */
    keys?: DoSshKey[];
    /** Names of the account's DigitalOcean DNS domains (GET /v2/domains), each with its SOA and three NS records. Default none. */
    domains?: string[];
    /** Number of placeholder droplets GET /v2/droplets lists before the ones created through the API. Default 0. */
    dropletCount?: number;
    /** Spaces keys the account already has (copied); a secret is made up when not given. Default none. */
    spacesKeys?: (DoSpacesKey & { secret_key?: string })[];
    /** Every Spaces key is made full access whatever its grants (what DigitalOcean does to a request that mixes full access with bucket grants). */
    widenSpacesKeys?: boolean;
    /** The stateful account (./fake-do-cloud.mjs) that the real Terraform provider drives. */
    cloud?: CloudOptions;
  }

  export interface CloudOptions {
    /** How long every action (droplet create, shutdown, reserved IP assign…) stays in progress, in ms. Default 1500. */
    actionMs?: number;
    /**
     * How much longer a new droplet's create event stays pending after the droplet reports `active`
     * (so an action on it right away gets "Droplet already has a pending event."). Default 0.
     */
    createEventTailMs?: number;
    /** VPCs the account already has; the first in a region is that region's default VPC. */
    vpcs?: { region: string; name?: string; ip_range?: string }[];
    /**
     * How long a certificate stays in use (DELETE answers 403) after the load balancer that presented it was deleted
     * or moved to another one, in ms (provider PR #951: the certificates API takes a moment to notice). Default 0.
     */
    certificateReleaseMs?: number;
  }

  /** A certificate as the API shows it (never its key). */
  export interface DoCertificate {
    id: string;
    name: string;
    /** '' while a Let's Encrypt certificate is pending. */
    not_after: string;
    /** Lowercase hex, no colons; '' while a Let's Encrypt certificate is pending. */
    sha1_fingerprint: string;
    created_at: string;
    dns_names: string[];
    state: 'pending' | 'verified' | 'error';
    type: 'custom' | 'lets_encrypt';
  }

  /** A record of one of the account's DNS domains as the API shows it (no fqdn: the provider makes it). */
  export interface DoDomainRecord {
    id: number;
    type: string;
    /** Relative to its domain; '@' at the apex. */
    name: string;
    data: string;
    priority: number | null;
    port: number | null;
    ttl: number;
    weight: number | null;
    flags: number | null;
    tag: string | null;
  }

  /** A forwarding rule of a load balancer as the API shows it. */
  export interface DoForwardingRule {
    entry_protocol: string;
    entry_port: number;
    target_protocol: string;
    target_port: number;
    /** '' when the rule presents no certificate. */
    certificate_id: string;
    tls_passthrough: boolean;
  }

  /** A VPC as the API shows it. */
  export interface DoVpc {
    id: string;
    urn: string;
    name: string;
    description: string;
    region: string;
    ip_range: string;
    /** The region's default VPC: DigitalOcean refuses to delete it (403). */
    default: boolean;
    created_at: string;
  }

  /** An action as the API shows it. */
  export interface DoAction {
    id: number;
    status: 'in-progress' | 'completed' | 'errored';
    type: string;
    started_at: string;
    completed_at: string | null;
    resource_id: number;
    resource_type: string;
    region_slug: string;
  }

  /** Everything the stateful account holds, each item as the API shows it. */
  export interface CloudSnapshot {
    droplets: (Omit<DoDroplet, 'networks'> & { vpc_uuid: string; networks: { v4: { ip_address: string; type: 'public' | 'private' }[]; v6: unknown[] } })[];
    vpcs: DoVpc[];
    tags: { name: string; resources: { count: number } }[];
    loadBalancers: {
      id: string;
      name: string;
      ip: string;
      status: string;
      tag: string;
      droplet_ids: number[];
      vpc_uuid: string;
      project_id: string;
      forwarding_rules: DoForwardingRule[];
      redirect_http_to_https: boolean;
      disable_lets_encrypt_dns_records: boolean;
    }[];
    reservedIps: { ip: string; region: DoRegion; droplet: DoDroplet | null; locked: boolean; project_id: string }[];
    firewalls: { id: string; name: string; status: string; tags: string[]; droplet_ids: number[]; inbound_rules: unknown[]; outbound_rules: unknown[] }[];
    /** Each project with the URNs of its resources (a reserved IP as do:floatingip:<ip>). */
    projects: { id: string; name: string; description: string; purpose: string; is_default: boolean; resources: string[] }[];
    /** Each droplet's power changes (shut down, powered off or on), in the order the actions completed. */
    power: { at: number; droplet: string; status: 'off' | 'active' }[];
    actions: DoAction[];
    certificates: DoCertificate[];
    /** Every record of the account's DNS domains, each with its domain (the SOA and NS records DigitalOcean makes too). */
    records: (DoDomainRecord & { domain: string })[];
  }

  export interface RecordedRequest {
    method: string;
    /** URL path without the query string (trailing slash removed). */
    path: string;
    query: Record<string, string>;
    /** The Authorization header value, if any. */
    authorization: string | undefined;
    /** The parsed JSON body, or undefined when empty / not JSON. */
    body: unknown;
    /** The status answered; 0 while not answered yet (e.g. still delayed, or abandoned at close()). */
    status: number;
    /** Carried out, but answered 502 (`loseAnswerOnce`). */
    lostAnswer?: boolean;
  }

  export interface FakeDoApi {
    /** e.g. 'http://127.0.0.1:41234' — no trailing slash. */
    url: string;
    /** One entry per request, appended in arrival order. */
    requests: RecordedRequest[];
    /** The live SSH key list the server serves and appends to (mutable). */
    keys: DoSshKey[];
    /** The live Spaces key list, oldest first (mutable). */
    spacesKeys: DoSpacesKey[];
    /** The secret of a Spaces key, which only its create answer showed. */
    spacesSecret(accessKey: string): string | undefined;
    /** The stateful account: `snapshot()` settles the actions whose time has come and returns what it holds. */
    cloud: { snapshot(): CloudSnapshot };
    /** Stops the server, abandoning delayed requests and destroying open sockets. Idempotent. */
    close(): Promise<void>;
  }

  /** 'dop_v1_' + 64 × 'a': the token accepted when `tokens` is not given. */
  export const DEFAULT_TOKEN: string;

  /** Starts the fake on 127.0.0.1 with a random port; resolves once listening. */
  export function startFakeDoApi(options?: FakeDoApiOptions): Promise<FakeDoApi>;

  /** Fresh copies of the default data. */
  export function defaultAccount(): DoAccount;
  export function defaultRegions(): DoRegion[];
  export function defaultSizes(): DoSize[];
  export function defaultKeys(): DoSshKey[];

  /** Parses and validates an OpenSSH public key line; null when invalid. */
  export function parseOpenSshPublicKey(line: unknown): { type: string; blob: Buffer; comment: string } | null;

  /** MD5 fingerprint (aa:bb:…) of an OpenSSH public key line; null when invalid. */
  export function md5Fingerprint(publicKeyLine: string): string | null;
}
