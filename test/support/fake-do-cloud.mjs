// @ts-check
/**
 * The stateful half of the stand-in DigitalOcean API: droplets, VPCs, tags,
 * load balancers, reserved IPs and their actions, firewalls, projects and
 * their resources, certificates, the records of the account's DNS domains,
 * and the actions that change them. fake-do-api.mjs
 * composes it: requests it does not answer itself (account, regions, sizes,
 * keys) come here after authentication, and what this module does not know
 * answers 404 there.
 *
 * It is written so that the real Terraform provider can drive it (create,
 * refresh, re-plan, destroy), and it bites where DigitalOcean is known to:
 * - actions are asynchronous: every action answers `in-progress` and is
 *   `completed` `actionMs` later (a droplet is `new` until its create action
 *   completes, a load balancer `new` until it is `active`);
 * - a second action on a droplet that has one pending answers 422
 *   "Droplet already has a pending event." (a reserved IP assign is an event
 *   on the droplets it moves between);
 * - the first VPC of a region becomes its default VPC, and DELETE of a
 *   region's default VPC, or of a VPC that still has members, answers 403
 *   (the status the API reference documents for both);
 * - a project lists a reserved IP as do:floatingip:<ip> whichever URN it was
 *   assigned by, and refuses (412) to move a reserved IP that is assigned to
 *   a droplet unless the droplet moves with it;
 * - a project that still holds resources cannot be deleted (412);
 * - a droplet created without vpc_uuid lands in its region's default VPC,
 *   which is created for it when the region has none;
 * - deleting a droplet unassigns its reserved IP (the IP stays reserved);
 * - with `createEventTailMs`, a new droplet reports `active` while its create
 *   event is still pending for that long, so an action on it right away gets
 *   the 422 above (provider issue #1034: a reserved IP assigned to a droplet
 *   created in the same apply);
 * - a Let's Encrypt certificate is `pending` until its (hidden) issue action
 *   completes, then `verified`, and only a name in one of the account's DNS
 *   domains gets one (422 otherwise); a custom certificate must be PEM with
 *   the certificate's own key (422 otherwise); names are unique (422);
 * - an HTTPS forwarding rule needs a certificate of the account (422); a
 *   certificate a load balancer uses cannot be deleted (403), and with
 *   `certificateReleaseMs` it stays in use that long after the load balancer
 *   let go of it (provider PR #951);
 * - a load balancer that presents a Let's Encrypt certificate makes an A
 *   record at the apex of the certificate's DNS domain, pointing at itself,
 *   unless `disable_lets_encrypt_dns_records` is set (see ERR_CERT_IN_USE and
 *   letsEncryptRecords for where these facts come from);
 * - records live in the account's DNS domains only (404 for any other).
 *
 * Transitions are computed lazily: every request first settles the actions
 * whose time has come, so there are no timers to clean up.
 */

import { X509Certificate, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Error bodies. DigitalOcean's own words where they are known (not found, the
 * pending event, both project 412s, the invalid image); the API reference
 * gives only the status for a VPC it will not delete (403), so those two
 * messages, like the other 422s' wording, are this stand-in's. Nothing that
 * uses the stand-in may depend on their wording.
 */
const ERR_NOT_FOUND = { id: 'not_found', message: 'The resource you were accessing could not be found.' };
const ERR_PENDING = { id: 'unprocessable_entity', message: 'Droplet already has a pending event.' };
const ERR_PROJECT_NOT_EMPTY = { id: 'precondition_failed', message: 'cannot delete a project with resources. move or remove the resources first' };
const ERR_IP_WITH_DROPLET = { id: 'precondition_failed', message: 'Cannot move a Reserved IP with an associated Droplet. Move the Droplet instead' };
const ERR_VPC_DEFAULT = { id: 'forbidden', message: 'Cannot delete the default VPC of a region. Make another VPC the default first.' };
const ERR_VPC_MEMBERS = { id: 'forbidden', message: 'Cannot delete a VPC that still has members.' };
/**
 * A certificate that a load balancer uses. DigitalOcean's docs: "You cannot
 * delete certificates that are still in use" (Load Balancers, SSL
 * termination); the status and words are what provider 2.68 retries on
 * (digitalocean/certificate/resource_certificate.go: a 403 whose message
 * contains "Make sure the certificate is not in use before deleting it",
 * added by PR #951 because the API takes a moment to see that a deleted load
 * balancer no longer uses it). The rest of the sentence is this stand-in's.
 */
const ERR_CERT_IN_USE = { id: 'forbidden', message: 'Certificate is in use by a load balancer. Make sure the certificate is not in use before deleting it.' };

/** Purposes the projects API knows; anything else is stored as "Other: <purpose>". */
const PROJECT_PURPOSES = [
  'Just trying out DigitalOcean',
  'Class project / Educational purposes',
  'Website or blog',
  'Web Application',
  'Service or API',
  'Mobile Application',
  'Machine learning / AI / Data processing',
  'IoT',
  'Operational / Developer tooling',
];

/** Base images a droplet can be created from (slug → id, distribution, name). */
const IMAGES = /** @type {Record<string, { id: number, distribution: string, name: string }>} */ ({
  'debian-12-x64': { id: 135449689, distribution: 'Debian', name: '12 x64' },
  'debian-11-x64': { id: 131157582, distribution: 'Debian', name: '11 x64' },
  'ubuntu-24-04-x64': { id: 160232537, distribution: 'Ubuntu', name: '24.04 (LTS) x64' },
  'ubuntu-22-04-x64': { id: 129211873, distribution: 'Ubuntu', name: '22.04 (LTS) x64' },
});

/**
 * @typedef {object} CloudAction
 * @property {number} id
 * @property {string} status 'in-progress' | 'completed' | 'errored'
 * @property {string} type e.g. 'create', 'shutdown', 'assign_ip'
 * @property {string} started_at
 * @property {string | null} completed_at
 * @property {number} resource_id
 * @property {string} resource_type 'droplet' | 'reserved_ip'
 * @property {string} region_slug
 * @property {number} completeAt epoch ms at which it completes
 * @property {number[]} droplets ids of the droplets this action is a pending event on
 * @property {() => void} effect applied when it completes
 * @property {boolean} [hidden] a transition of the stand-in's own, not an action the API lists
 */

/**
 * @typedef {object} CloudOptions
 * @property {number} [actionMs] How long every action stays in progress. Default 1500.
 * @property {number} [createEventTailMs] How much longer a droplet's create event stays pending after the droplet is active. Default 0.
 * @property {{ region: string, name?: string, ip_range?: string }[]} [vpcs] VPCs the account already has; the first in a region is its default.
 * @property {number} [certificateReleaseMs] How long a certificate stays in use after the load balancer that used it was deleted or moved off it. Default 0.
 */

/**
 * @param {object} deps
 * @param {import('./fake-do-api.mjs').DoRegion[]} deps.regions
 * @param {import('./fake-do-api.mjs').DoSize[]} deps.sizes
 * @param {import('./fake-do-api.mjs').DoSshKey[]} deps.keys the live key list (keys added through the API count)
 * @param {import('./fake-do-api.mjs').DoAccount} deps.account
 * @param {string[]} deps.domains the account's DNS domains (GET /v2/domains lists them)
 * @param {() => string} deps.baseUrl
 * @param {CloudOptions} [options]
 */
export function createCloud(deps, options = {}) {
  const actionMs = Math.max(0, options.actionMs ?? 1500);
  const createEventTailMs = Math.max(0, options.createEventTailMs ?? 0);
  const certificateReleaseMs = Math.max(0, options.certificateReleaseMs ?? 0);
  const now = () => Date.now();
  const iso = (t = now()) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

  /** @type {Map<number, any>} */ const droplets = new Map();
  /** @type {Map<string, any>} */ const vpcs = new Map();
  /** @type {Map<string, any>} */ const tags = new Map();
  /** @type {Map<string, any>} */ const loadBalancers = new Map();
  /** @type {Map<string, any>} */ const reservedIps = new Map();
  /** @type {Map<string, any>} */ const firewalls = new Map();
  /** @type {Map<string, any>} */ const projects = new Map();
  /** Canonical URN → { project, assigned_at }: each resource is in exactly one project. */
  /** @type {Map<string, { project: string, assigned_at: string }>} */ const membership = new Map();
  /** @type {Map<number, CloudAction>} */ const actions = new Map();
  /** Every change of a droplet's power, in order: how many were off at once. @type {{ at: number, droplet: string, status: string }[]} */
  const power_log = [];
  /** @type {Map<string, any>} */ const certificates = new Map();
  /** Records of the account's DNS domains, by id; each knows its zone. */
  /** @type {Map<number, any>} */ const records = new Map();
  /** Certificate id → epoch ms until which a load balancer that let go of it still holds it. */
  /** @type {Map<string, number>} */ const releasing = new Map();

  let nextDropletId = 402000000;
  let nextActionId = 2300000000;
  let nextPublic = 10;
  let nextLbIp = 10;
  let nextReservedIp = 10;
  let nextVpcOctet = 110;
  let nextRecordId = 3352896;

  const defaultProject = {
    id: randomUUID(),
    owner_uuid: deps.account.uuid,
    owner_id: 258992,
    name: 'first-project',
    description: 'Update your project information under Settings',
    purpose: 'Just trying out DigitalOcean',
    environment: 'Development',
    is_default: true,
    created_at: iso(),
    updated_at: iso(),
  };
  projects.set(defaultProject.id, defaultProject);

  // -------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------

  /** @param {string} slug */
  const regionObject = (slug) => {
    const r = deps.regions.find((x) => x.slug === slug);
    return r ? structuredClone(r) : { slug, name: slug, features: [], available: false, sizes: [] };
  };

  /** @param {number} status @param {unknown} body */
  const reply = (status, body) => ({ status, body });
  /** @param {string} message */
  const unprocessable = (message) => reply(422, { id: 'unprocessable_entity', message });

  /** Applies every action whose time has come, in the order they complete. */
  function settle() {
    const due = [...actions.values()]
      .filter((a) => a.status === 'in-progress' && a.completeAt <= now())
      .sort((a, b) => a.completeAt - b.completeAt || a.id - b.id);
    for (const a of due) {
      a.status = 'completed';
      a.completed_at = iso(a.completeAt);
      a.effect();
    }
  }

  /**
   * @param {Omit<CloudAction, 'id' | 'status' | 'started_at' | 'completed_at' | 'completeAt'>} spec
   * @param {number} [durationMs]
   * @returns {CloudAction}
   */
  function startAction(spec, durationMs = actionMs) {
    /** @type {CloudAction} */
    const a = { id: nextActionId++, status: 'in-progress', started_at: iso(), completed_at: null, completeAt: now() + durationMs, ...spec };
    actions.set(a.id, a);
    if (actionMs === 0) settle();
    return a;
  }

  /** The actions the API shows. */
  const listed = () => [...actions.values()].filter((a) => !a.hidden);

  /** @param {CloudAction} a */
  const actionJson = (a) => ({
    id: a.id,
    status: a.status,
    type: a.type,
    started_at: a.started_at,
    completed_at: a.completed_at,
    resource_id: a.resource_id,
    resource_type: a.resource_type,
    region: regionObject(a.region_slug),
    region_slug: a.region_slug,
  });

  /** @param {number} dropletId */
  const hasPendingEvent = (dropletId) => [...actions.values()].some((a) => a.status === 'in-progress' && a.droplets.includes(dropletId));

  /** @param {string} urn */
  function canonicalUrn(urn) {
    return urn.replace(/^do:reservedip:/, 'do:floatingip:');
  }

  /** @param {string} urn @param {string} [projectId] */
  function joinProject(urn, projectId) {
    membership.set(canonicalUrn(urn), { project: projectId && projects.has(projectId) ? projectId : defaultProject.id, assigned_at: iso() });
  }

  /** @param {string} urn */
  const projectOf = (urn) => membership.get(canonicalUrn(urn))?.project;

  /** @param {string} urn */
  function resourceExists(urn) {
    const m = /^do:([a-z]+):(.+)$/.exec(canonicalUrn(urn));
    if (!m) return false;
    const [, kind, id] = /** @type {[string, string, string]} */ (m);
    if (kind === 'droplet') return droplets.has(Number(id));
    if (kind === 'loadbalancer') return loadBalancers.has(id);
    if (kind === 'floatingip') return reservedIps.has(id);
    return false;
  }

  /** @param {string} name */
  const tagKey = (name) => name.toLowerCase();

  /** @param {string} name */
  function ensureTag(name) {
    if (!tags.has(tagKey(name))) tags.set(tagKey(name), { name, created_at: iso() });
    return tags.get(tagKey(name));
  }

  /** Droplets carrying a tag (tag names compare case-insensitively, as on DigitalOcean). */
  /** @param {string} name */
  const dropletsTagged = (name) => [...droplets.values()].filter((d) => d.tags.some((/** @type {string} */ t) => tagKey(t) === tagKey(name)));

  /** @param {string} cidr */
  function parseCidr(cidr) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    if (!m) return null;
    const octets = m.slice(1, 5).map(Number);
    const bits = Number(m[5]);
    if (octets.some((o) => o > 255) || bits > 32) return null;
    const base = octets.reduce((acc, o) => acc * 256 + o, 0);
    const size = 2 ** (32 - bits);
    return { start: base - (base % size), size };
  }
  /** @param {number} n */
  const ipString = (n) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

  /** Next free /20 in 10.0.0.0/8 that overlaps no VPC of the account. */
  function allocateRange() {
    for (;;) {
      const candidate = `10.${nextVpcOctet++ % 256}.0.0/20`;
      const c = parseCidr(candidate);
      if (!c) continue;
      const overlaps = [...vpcs.values()].some((v) => {
        const o = parseCidr(v.ip_range);
        return o && c.start < o.start + o.size && o.start < c.start + c.size;
      });
      if (!overlaps) return candidate;
    }
  }

  /** @param {any} vpc */
  function nextPrivateIp(vpc) {
    const r = parseCidr(vpc.ip_range);
    if (!r) return '';
    const used = new Set([...droplets.values()].filter((d) => d.vpc_uuid === vpc.id).map((d) => d.private_ip));
    for (let i = 2; i < r.size - 1; i++) {
      const ip = ipString(r.start + i);
      if (!used.has(ip)) return ip;
    }
    return '';
  }

  /** @param {string} region */
  const defaultVpcOf = (region) => [...vpcs.values()].find((v) => v.region === region && v.default);

  /** @param {{ name: string, region: string, description?: string, ip_range?: string }} spec */
  function createVpc(spec) {
    const id = randomUUID();
    const vpc = {
      id,
      urn: `do:vpc:${id}`,
      name: spec.name,
      description: spec.description ?? '',
      region: spec.region,
      ip_range: spec.ip_range ?? allocateRange(),
      // DigitalOcean makes a region's first VPC its default, and keeps it.
      default: !defaultVpcOf(spec.region),
      created_at: iso(),
    };
    vpcs.set(id, vpc);
    return vpc;
  }

  /**
   * The account's DNS domain that holds `name` (the longest that is the name
   * or a parent of it), as the account spells it; undefined when none does.
   * @param {string} name
   */
  function zoneOf(name) {
    const n = name.toLowerCase().replace(/\.$/, '').replace(/^\*\./, '');
    return deps.domains.filter((z) => n === z.toLowerCase() || n.endsWith(`.${z.toLowerCase()}`)).sort((a, b) => b.length - a.length)[0];
  }

  /** @param {string} zone a domain of the account, in any case @returns {string | undefined} its name as the account spells it */
  const accountZone = (zone) => deps.domains.find((z) => z.toLowerCase() === zone.toLowerCase().replace(/\.$/, ''));

  /** Whether a load balancer presents the certificate now, or let go of it too recently for the API to have noticed. @param {string} id */
  const certificateInUse = (id) =>
    [...loadBalancers.values()].some((lb) => lb.spec.forwarding_rules.some((/** @type {any} */ r) => r.certificate_id === id)) ||
    (releasing.get(id) ?? 0) > now();

  /** The certificates a load balancer's rules present. @param {any} lb @returns {string[]} */
  const certificatesOf = (lb) => (lb?.spec.forwarding_rules ?? []).map((/** @type {any} */ r) => r.certificate_id).filter(Boolean);

  /** A load balancer let go of these certificates (deleted, or its rules changed). @param {string[]} ids */
  function release(ids) {
    for (const id of ids) releasing.set(id, now() + certificateReleaseMs);
  }

  /**
   * @param {string} zone the account's spelling
   * @param {{ type: string, name: string, data: string, ttl?: number, priority?: number | null, port?: number | null, weight?: number | null, flags?: number | null, tag?: string | null }} spec
   */
  function addRecord(zone, spec) {
    const r = { priority: null, port: null, weight: null, flags: null, tag: null, ttl: 1800, ...spec, id: nextRecordId++, zone };
    records.set(r.id, r);
    return r;
  }

  // -------------------------------------------------------------------------
  // JSON views
  // -------------------------------------------------------------------------

  /** @param {any} d */
  function dropletJson(d) {
    const size = deps.sizes.find((s) => s.slug === d.size_slug);
    const image = IMAGES[d.image] ?? { id: 0, distribution: 'Unknown', name: d.image };
    const active = d.status !== 'new';
    return {
      id: d.id,
      name: d.name,
      memory: size?.memory ?? 0,
      vcpus: size?.vcpus ?? 0,
      disk: size?.disk ?? 0,
      locked: false,
      status: d.status,
      kernel: null,
      created_at: d.created_at,
      features: d.features,
      backup_ids: [],
      next_backup_window: null,
      snapshot_ids: [],
      image: {
        id: image.id,
        name: image.name,
        distribution: image.distribution,
        slug: d.image,
        public: true,
        regions: deps.regions.filter((r) => r.available).map((r) => r.slug),
        created_at: '2024-06-10T17:25:21Z',
        type: 'base',
        min_disk_size: 7,
        size_gigabytes: 0.9,
        description: `${image.distribution} ${image.name}`,
        tags: [],
        status: 'available',
      },
      volume_ids: [],
      size: size ? structuredClone(size) : { slug: d.size_slug },
      size_slug: d.size_slug,
      networks: {
        v4: active
          ? [
              { ip_address: d.private_ip, netmask: '255.255.240.0', gateway: '', type: 'private' },
              { ip_address: d.public_ip, netmask: '255.255.255.0', gateway: d.public_ip.replace(/\.\d+$/, '.1'), type: 'public' },
            ]
          : [],
        v6: [],
      },
      region: regionObject(d.region),
      tags: [...d.tags],
      vpc_uuid: d.vpc_uuid,
    };
  }

  /** @param {any} lb */
  function loadBalancerJson(lb) {
    return {
      ...structuredClone(lb.spec),
      id: lb.id,
      name: lb.name,
      ip: lb.status === 'active' ? lb.ip : '',
      ipv6: '',
      status: lb.status,
      created_at: lb.created_at,
      region: regionObject(lb.region),
      droplet_ids: lb.tag ? dropletsTagged(lb.tag).map((d) => d.id) : [...lb.droplet_ids],
      tag: lb.tag,
      vpc_uuid: lb.vpc_uuid,
      project_id: projectOf(`do:loadbalancer:${lb.id}`) ?? '',
    };
  }

  /** @param {any} ip */
  function reservedIpJson(ip) {
    const d = ip.droplet_id ? droplets.get(ip.droplet_id) : undefined;
    return {
      ip: ip.ip,
      region: regionObject(ip.region),
      droplet: d ? dropletJson(d) : null,
      locked: [...actions.values()].some((a) => a.status === 'in-progress' && a.resource_type === 'reserved_ip' && a.ip === ip.ip),
      project_id: projectOf(`do:floatingip:${ip.ip}`) ?? '',
    };
  }

  /** @param {any} t */
  function tagJson(t) {
    const tagged = dropletsTagged(t.name);
    const last = tagged.at(-1);
    const lastUri = last ? `${deps.baseUrl()}/v2/droplets/${last.id}` : '';
    return {
      name: t.name,
      resources: {
        count: tagged.length,
        last_tagged_uri: lastUri,
        droplets: { count: tagged.length, last_tagged_uri: lastUri },
        images: { count: 0 },
        volumes: { count: 0 },
        volume_snapshots: { count: 0 },
        databases: { count: 0 },
      },
    };
  }

  /** @param {any} c */
  const certificateJson = (c) => ({
    id: c.id,
    name: c.name,
    not_after: c.not_after,
    sha1_fingerprint: c.sha1_fingerprint,
    created_at: c.created_at,
    dns_names: [...c.dns_names],
    state: c.state,
    type: c.type,
  });

  /** A record as the API shows it: no fqdn (the provider makes it from name and domain). @param {any} r */
  const recordJson = (r) => ({
    id: r.id,
    type: r.type,
    name: r.name,
    data: r.data,
    priority: r.priority,
    port: r.port,
    ttl: r.ttl,
    weight: r.weight,
    flags: r.flags,
    tag: r.tag,
  });

  // -------------------------------------------------------------------------
  // Validation of request bodies
  // -------------------------------------------------------------------------

  /** @param {unknown} body @returns {Record<string, any>} */
  const obj = (body) => (body !== null && typeof body === 'object' && !Array.isArray(body) ? /** @type {Record<string, any>} */ (body) : {});

  /** @param {unknown} cidr */
  function validAddress(cidr) {
    if (typeof cidr !== 'string') return false;
    if (cidr.includes(':')) return /^[0-9a-fA-F:]+(\/\d{1,3})?$/.test(cidr);
    const withBits = cidr.includes('/') ? cidr : `${cidr}/32`;
    return parseCidr(withBits) !== null;
  }

  /**
   * Firewall rules as DigitalOcean stores them: "all" (and, for ICMP, no
   * ports at all) becomes "0"; the provider reads "0" back as "all".
   * @param {unknown} rules @param {'sources' | 'destinations'} side
   * @returns {{ rules: any[] } | { error: string }}
   */
  function normaliseRules(rules, side) {
    if (rules === undefined || rules === null) return { rules: [] };
    if (!Array.isArray(rules)) return { error: `${side === 'sources' ? 'inbound' : 'outbound'}_rules must be an array` };
    const out = [];
    for (const raw of rules) {
      const r = obj(raw);
      const protocol = r.protocol;
      if (!['tcp', 'udp', 'icmp'].includes(protocol)) return { error: `invalid protocol ${JSON.stringify(protocol)}` };
      let ports = typeof r.ports === 'string' ? r.ports : '';
      if (protocol === 'icmp') ports = '0';
      else if (ports === 'all') ports = '0';
      else if (!/^\d{1,5}(-\d{1,5})?$/.test(ports) || ports.split('-').some((p) => Number(p) < 1 || Number(p) > 65535))
        return { error: 'You must specify a valid range for ports.' };
      const target = obj(r[side]);
      /** @type {Record<string, unknown>} */
      const kept = {};
      for (const k of ['addresses', 'tags', 'droplet_ids', 'load_balancer_uids', 'kubernetes_ids']) {
        const v = target[k];
        if (v === undefined || v === null) continue;
        if (!Array.isArray(v)) return { error: `${side}.${k} must be an array` };
        if (v.length) kept[k] = [...v];
      }
      for (const a of /** @type {unknown[]} */ (kept.addresses ?? []))
        if (!validAddress(a)) return { error: `${JSON.stringify(a)} is not a valid IP address or CIDR block` };
      for (const uid of /** @type {unknown[]} */ (kept.load_balancer_uids ?? []))
        if (!loadBalancers.has(String(uid))) return { error: `load balancer ${uid} does not exist` };
      for (const id of /** @type {unknown[]} */ (kept.droplet_ids ?? [])) if (!droplets.has(Number(id))) return { error: `droplet ${id} does not exist` };
      if (Object.keys(kept).length === 0) return { error: `a rule needs at least one of ${side}` };
      out.push({ protocol, ports, [side]: kept });
    }
    return { rules: out };
  }

  // -------------------------------------------------------------------------
  // Handlers
  // -------------------------------------------------------------------------

  /** @param {unknown} body */
  function postDroplet(body) {
    const b = obj(body);
    if (Array.isArray(b.names)) return unprocessable('this stand-in creates one droplet per request');
    if (typeof b.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,252}$/.test(b.name))
      return unprocessable('Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)');
    const region = deps.regions.find((r) => r.slug === b.region);
    if (!region || !region.available) return unprocessable('Region is not available');
    const size = deps.sizes.find((s) => s.slug === b.size);
    if (!size || !size.available || !size.regions.includes(region.slug)) return unprocessable('Size is not available in this region.');
    const image = typeof b.image === 'string' ? b.image : typeof b.image === 'number' ? Object.keys(IMAGES).find((k) => IMAGES[k]?.id === b.image) : undefined;
    if (!image || !IMAGES[image]) return unprocessable('You specified an invalid image for Droplet creation.');
    for (const k of b.ssh_keys ?? []) {
      if (!deps.keys.some((key) => String(key.id) === String(k) || key.fingerprint === k)) return unprocessable(`ssh_keys: ${k} is not a key on this account`);
    }
    let vpc;
    if (b.vpc_uuid) {
      vpc = vpcs.get(b.vpc_uuid);
      if (!vpc) return unprocessable('vpc_uuid: VPC not found');
      if (vpc.region !== region.slug) return unprocessable('vpc_uuid: the VPC is in another region');
    } else {
      vpc = defaultVpcOf(region.slug) ?? createVpc({ name: `default-${region.slug}`, region: region.slug });
    }
    const tagNames = Array.isArray(b.tags) ? b.tags.filter((/** @type {unknown} */ t) => typeof t === 'string' && t !== '') : [];
    for (const t of tagNames) {
      if (!/^[a-zA-Z0-9:\-_]{1,255}$/.test(t)) return unprocessable(`tags: ${t} is not a valid tag name`);
      ensureTag(t);
    }
    const d = {
      id: nextDropletId++,
      name: b.name,
      region: region.slug,
      size_slug: size.slug,
      image,
      vpc_uuid: vpc.id,
      private_ip: '',
      public_ip: `203.0.113.${(nextPublic++ % 250) + 2}`,
      status: 'new',
      created_at: iso(),
      features: [...(b.monitoring ? ['monitoring'] : []), ...(b.ipv6 ? ['ipv6'] : []), ...(b.backups ? ['backups'] : []), 'private_networking'],
      tags: tagNames,
      user_data: typeof b.user_data === 'string' ? b.user_data : '',
      ssh_keys: b.ssh_keys ?? [],
    };
    d.private_ip = nextPrivateIp(vpc);
    droplets.set(d.id, d);
    joinProject(`do:droplet:${d.id}`);
    const activate = () => {
      if (droplets.get(d.id) === d && d.status === 'new') d.status = 'active';
    };
    if (createEventTailMs > 0)
      startAction({ type: 'activate', resource_id: d.id, resource_type: 'droplet', region_slug: d.region, droplets: [], effect: activate, hidden: true });
    const action = startAction(
      { type: 'create', resource_id: d.id, resource_type: 'droplet', region_slug: d.region, droplets: [d.id], effect: activate },
      actionMs + createEventTailMs,
    );
    return reply(202, { droplet: dropletJson(d), links: { actions: [{ id: action.id, rel: 'create', href: `${deps.baseUrl()}/v2/actions/${action.id}` }] } });
  }

  /** @param {number} id */
  function deleteDroplet(id) {
    const d = droplets.get(id);
    if (!d) return reply(404, ERR_NOT_FOUND);
    droplets.delete(id);
    membership.delete(`do:droplet:${id}`);
    // The reserved IP stays on the account, unassigned.
    for (const ip of reservedIps.values()) if (ip.droplet_id === id) ip.droplet_id = null;
    for (const fw of firewalls.values()) fw.droplet_ids = fw.droplet_ids.filter((/** @type {number} */ x) => x !== id);
    for (const lb of loadBalancers.values()) lb.droplet_ids = lb.droplet_ids.filter((/** @type {number} */ x) => x !== id);
    return reply(204, undefined);
  }

  /** @param {number} id @param {unknown} body */
  function postDropletAction(id, body) {
    const d = droplets.get(id);
    if (!d) return reply(404, ERR_NOT_FOUND);
    const b = obj(body);
    /** @type {Record<string, () => void>} */
    /** @param {string} status */
    const power = (status) => () => {
      if (d.status !== status) power_log.push({ at: now(), droplet: d.name, status });
      d.status = status;
    };
    const effects = {
      shutdown: power('off'),
      power_off: power('off'),
      power_on: power('active'),
      reboot: power('active'),
      power_cycle: power('active'),
      rename: () => (d.name = String(b.name)),
      // DigitalOcean resizes only a droplet that is off; the disk grows too unless `disk` is false (permanent either way here).
      resize: () => (d.size_slug = String(b.size)),
    };
    const effect = effects[b.type];
    if (!effect) return unprocessable(`${JSON.stringify(b.type)} is not a droplet action this stand-in knows`);
    if (hasPendingEvent(id)) return reply(422, ERR_PENDING);
    if (b.type === 'rename' && (typeof b.name !== 'string' || b.name === '')) return unprocessable('Name is invalid');
    if (b.type === 'resize') {
      if (d.status !== 'off') return unprocessable('Droplet is currently on. Please power it off to run this event.');
      const size = deps.sizes.find((x) => x.slug === b.size);
      if (!size || !size.available || !size.regions.includes(d.region)) return unprocessable('Size is not available in this region.');
    }
    const action = startAction({ type: b.type, resource_id: id, resource_type: 'droplet', region_slug: d.region, droplets: [id], effect });
    return reply(201, { action: actionJson(action) });
  }

  /** @param {unknown} body */
  function postVpc(body) {
    const b = obj(body);
    if (typeof b.name !== 'string' || !/^[a-zA-Z0-9-.]{1,255}$/.test(b.name)) return unprocessable('name: only letters, numbers, dashes and periods');
    if (!deps.regions.some((r) => r.slug === b.region && r.available)) return unprocessable('Region is not available');
    if ([...vpcs.values()].some((v) => v.name === b.name)) return unprocessable('A VPC with this name already exists');
    if (b.ip_range !== undefined && !parseCidr(String(b.ip_range))) return unprocessable('ip_range: not a valid CIDR block');
    const vpc = createVpc({ name: b.name, region: b.region, description: typeof b.description === 'string' ? b.description : '', ip_range: b.ip_range });
    return reply(201, { vpc: structuredClone(vpc) });
  }

  /** @param {string} id @param {unknown} body */
  function updateVpc(id, body) {
    const vpc = vpcs.get(id);
    if (!vpc) return reply(404, ERR_NOT_FOUND);
    const b = obj(body);
    if (typeof b.name === 'string' && b.name !== '') vpc.name = b.name;
    if (typeof b.description === 'string') vpc.description = b.description;
    if (b.default === true && !vpc.default) {
      for (const other of vpcs.values()) if (other.region === vpc.region) other.default = false;
      vpc.default = true;
    }
    return reply(200, { vpc: structuredClone(vpc) });
  }

  /** @param {string} id */
  function deleteVpc(id) {
    const vpc = vpcs.get(id);
    if (!vpc) return reply(404, ERR_NOT_FOUND);
    if (vpc.default) return reply(403, ERR_VPC_DEFAULT);
    const members = [...droplets.values()].some((d) => d.vpc_uuid === id) || [...loadBalancers.values()].some((lb) => lb.vpc_uuid === id);
    if (members) return reply(403, ERR_VPC_MEMBERS);
    vpcs.delete(id);
    return reply(204, undefined);
  }

  /**
   * A load balancer from a create or update body, validated; nothing is stored.
   * @param {unknown} body @param {any} [existing]
   * @returns {{ error: string } | { lb: any }}
   */
  function loadBalancerFrom(body, existing) {
    const b = obj(body);
    if (typeof b.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}$/.test(b.name)) return { error: 'name: only letters, numbers, dashes and periods' };
    const region = deps.regions.find((r) => r.slug === (existing?.region ?? b.region));
    if (!region || !region.available) return { error: 'Region is not available' };
    if (!Array.isArray(b.forwarding_rules) || b.forwarding_rules.length === 0) return { error: 'forwarding_rules: at least one is required' };
    let vpc = existing ? vpcs.get(existing.vpc_uuid) : undefined;
    if (!existing && b.vpc_uuid) {
      vpc = vpcs.get(b.vpc_uuid);
      if (!vpc) return { error: 'vpc_uuid: VPC not found' };
      if (vpc.region !== region.slug) return { error: 'vpc_uuid: the VPC is in another region' };
    }
    if (b.tag && Array.isArray(b.droplet_ids) && b.droplet_ids.length) return { error: 'droplet_ids and tag are mutually exclusive' };
    const hc = obj(b.health_check);
    const healthCheck = {
      protocol: hc.protocol ?? 'http',
      port: hc.port ?? 80,
      path: hc.protocol === 'tcp' ? '' : (hc.path ?? '/'),
      check_interval_seconds: hc.check_interval_seconds ?? 10,
      response_timeout_seconds: hc.response_timeout_seconds ?? 5,
      healthy_threshold: hc.healthy_threshold ?? 5,
      unhealthy_threshold: hc.unhealthy_threshold ?? 3,
      proxy_protocol: false,
    };
    if (healthCheck.check_interval_seconds < 3 || healthCheck.response_timeout_seconds < 3)
      return { error: 'health_check: intervals and timeouts are at least 3 seconds' };
    // TLS terminated here needs one of the account's certificates, by id: the
    // API's forwarding rule has certificate_id only (provider 2.68 looks a
    // certificate_name up itself and sends its id).
    for (const r of b.forwarding_rules.map(obj)) {
      const tls = ['https', 'http2', 'http3'].includes(r.entry_protocol) && !r.tls_passthrough;
      if (tls && !certificates.has(r.certificate_id))
        return { error: `forwarding_rules: an ${r.entry_protocol} rule on port ${r.entry_port} needs certificate_id, the id of a certificate of this account` };
    }
    return {
      lb: {
        id: existing?.id ?? randomUUID(),
        name: b.name,
        region: region.slug,
        vpc_uuid: vpc?.id,
        tag: typeof b.tag === 'string' ? b.tag : '',
        droplet_ids: Array.isArray(b.droplet_ids) ? b.droplet_ids.map(Number) : [],
        ip: existing?.ip ?? '',
        status: existing?.status ?? 'new',
        created_at: existing?.created_at ?? iso(),
        spec: {
          size_unit: b.size_unit ?? 1,
          size: b.size ?? 'lb-small',
          type: b.type ?? 'REGIONAL',
          network: b.network ?? 'EXTERNAL',
          network_stack: b.network_stack ?? 'IPV4',
          algorithm: b.algorithm ?? 'round_robin',
          forwarding_rules: b.forwarding_rules.map((/** @type {any} */ r) => ({
            entry_protocol: r.entry_protocol,
            entry_port: r.entry_port,
            target_protocol: r.target_protocol,
            target_port: r.target_port,
            certificate_id: r.certificate_id ?? '',
            tls_passthrough: Boolean(r.tls_passthrough),
          })),
          health_check: healthCheck,
          sticky_sessions: b.sticky_sessions && obj(b.sticky_sessions).type === 'cookies' ? structuredClone(b.sticky_sessions) : { type: 'none' },
          redirect_http_to_https: Boolean(b.redirect_http_to_https),
          enable_proxy_protocol: Boolean(b.enable_proxy_protocol),
          enable_backend_keepalive: Boolean(b.enable_backend_keepalive),
          http_idle_timeout_seconds: b.http_idle_timeout_seconds ?? 60,
          disable_lets_encrypt_dns_records: Boolean(b.disable_lets_encrypt_dns_records),
          firewall: { deny: obj(b.firewall).deny ?? [], allow: obj(b.firewall).allow ?? [] },
        },
      },
    };
  }

  /** @param {unknown} body */
  function postLoadBalancer(body) {
    const made = loadBalancerFrom(body);
    if ('error' in made) return unprocessable(made.error);
    const lb = made.lb;
    // Without vpc_uuid it lands in the region's default VPC, made for it when the region has none.
    if (!lb.vpc_uuid) lb.vpc_uuid = (defaultVpcOf(lb.region) ?? createVpc({ name: `default-${lb.region}`, region: lb.region })).id;
    lb.ip = `198.51.100.${(nextLbIp++ % 250) + 2}`;
    loadBalancers.set(lb.id, lb);
    const projectId = obj(body).project_id;
    joinProject(`do:loadbalancer:${lb.id}`, typeof projectId === 'string' ? projectId : undefined);
    startAction({
      type: 'create',
      resource_id: 0,
      resource_type: 'load_balancer',
      region_slug: lb.region,
      droplets: [],
      effect: () => {
        const current = loadBalancers.get(lb.id);
        if (!current) return;
        current.status = 'active';
        letsEncryptRecords(current);
      },
    });
    return reply(202, { load_balancer: loadBalancerJson(lb) });
  }

  /** @param {string} id @param {unknown} body */
  function putLoadBalancer(id, body) {
    const existing = loadBalancers.get(id);
    if (!existing) return reply(404, ERR_NOT_FOUND);
    const made = loadBalancerFrom(body, existing);
    if ('error' in made) return unprocessable(made.error);
    release(certificatesOf(existing).filter((c) => !certificatesOf(made.lb).includes(c)));
    loadBalancers.set(id, made.lb);
    letsEncryptRecords(made.lb);
    return reply(200, { load_balancer: loadBalancerJson(made.lb) });
  }

  /** @param {unknown} body */
  function postReservedIp(body) {
    const b = obj(body);
    let region = typeof b.region === 'string' ? b.region : undefined;
    const dropletId = b.droplet_id === undefined || b.droplet_id === null ? undefined : Number(b.droplet_id);
    if (dropletId !== undefined) {
      const d = droplets.get(dropletId);
      if (!d) return unprocessable('droplet_id: Droplet not found');
      if (hasPendingEvent(dropletId)) return reply(422, ERR_PENDING);
      region = d.region;
    }
    if (!region || !deps.regions.some((r) => r.slug === region && r.available)) return unprocessable('Region is not available');
    const ip = { ip: `192.0.2.${(nextReservedIp++ % 250) + 2}`, region, droplet_id: /** @type {number | null} */ (null) };
    reservedIps.set(ip.ip, ip);
    joinProject(`do:floatingip:${ip.ip}`, typeof b.project_id === 'string' ? b.project_id : undefined);
    /** @type {any[]} */
    const links = [];
    if (dropletId !== undefined) {
      const a = assignAction(ip, dropletId);
      links.push({ id: a.id, rel: 'assign_ip', href: `${deps.baseUrl()}/v2/actions/${a.id}` });
    }
    return reply(202, { reserved_ip: reservedIpJson(ip), links: { droplets: [], actions: links } });
  }

  /** @param {any} ip @param {number} dropletId */
  function assignAction(ip, dropletId) {
    const from = ip.droplet_id;
    const a = startAction({
      type: 'assign_ip',
      resource_id: ipNumber(ip.ip),
      resource_type: 'reserved_ip',
      region_slug: ip.region,
      droplets: [dropletId, ...(from ? [from] : [])],
      effect: () => {
        if (reservedIps.get(ip.ip) === ip && droplets.has(dropletId)) ip.droplet_id = dropletId;
      },
    });
    /** @type {any} */ (a).ip = ip.ip;
    return a;
  }

  /** @param {string} ip */
  const ipNumber = (ip) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);

  /** @param {string} address @param {unknown} body */
  function postReservedIpAction(address, body) {
    const ip = reservedIps.get(address);
    if (!ip) return reply(404, ERR_NOT_FOUND);
    const b = obj(body);
    if (b.type === 'assign') {
      const dropletId = Number(b.droplet_id);
      const d = droplets.get(dropletId);
      if (!d) return unprocessable('droplet_id: Droplet not found');
      if (d.region !== ip.region) return unprocessable('The Droplet is in another region than the reserved IP');
      if (hasPendingEvent(dropletId) || (ip.droplet_id && hasPendingEvent(ip.droplet_id)) || ipPending(address)) return reply(422, ERR_PENDING);
      return reply(201, { action: actionJson(assignAction(ip, dropletId)) });
    }
    if (b.type === 'unassign') {
      if (!ip.droplet_id) return unprocessable('The reserved IP is not assigned to a Droplet');
      const from = ip.droplet_id;
      if (hasPendingEvent(from) || ipPending(address)) return reply(422, ERR_PENDING);
      const a = startAction({
        type: 'unassign_ip',
        resource_id: ipNumber(ip.ip),
        resource_type: 'reserved_ip',
        region_slug: ip.region,
        droplets: [from],
        effect: () => {
          ip.droplet_id = null;
        },
      });
      /** @type {any} */ (a).ip = ip.ip;
      return reply(201, { action: actionJson(a) });
    }
    return unprocessable(`${JSON.stringify(b.type)} is not a reserved IP action (assign, unassign)`);
  }

  /** @param {string} address */
  const ipPending = (address) => [...actions.values()].some((a) => a.status === 'in-progress' && /** @type {any} */ (a).ip === address);

  /** @param {unknown} body @param {any} [existing] */
  function firewallFrom(body, existing) {
    const b = obj(body);
    if (typeof b.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$/.test(b.name)) return { error: 'name: only letters, numbers, ".", "-" and "_"' };
    const inbound = normaliseRules(b.inbound_rules, 'sources');
    if ('error' in inbound) return { error: inbound.error };
    const outbound = normaliseRules(b.outbound_rules, 'destinations');
    if ('error' in outbound) return { error: outbound.error };
    const dropletIds = Array.isArray(b.droplet_ids) ? b.droplet_ids.map(Number) : [];
    for (const id of dropletIds) if (!droplets.has(id)) return { error: `droplet ${id} does not exist` };
    const tagNames = Array.isArray(b.tags) ? b.tags.map(String) : [];
    for (const t of tagNames) if (!tags.has(tagKey(t))) return { error: `tag ${t} does not exist` };
    return {
      firewall: {
        id: existing?.id ?? randomUUID(),
        name: b.name,
        status: 'waiting',
        created_at: existing?.created_at ?? iso(),
        inbound_rules: inbound.rules,
        outbound_rules: outbound.rules,
        droplet_ids: dropletIds,
        tags: tagNames,
      },
    };
  }

  /** @param {any} fw */
  function firewallJson(fw) {
    return {
      ...structuredClone(fw),
      pending_changes:
        fw.status === 'waiting'
          ? [...droplets.values()]
              .filter((d) => fw.droplet_ids.includes(d.id) || fw.tags.some((/** @type {string} */ t) => d.tags.includes(t)))
              .map((d) => ({ droplet_id: d.id, removing: false, status: 'waiting' }))
          : [],
    };
  }

  /** @param {any} fw */
  function scheduleFirewall(fw) {
    startAction({
      type: 'firewall_apply',
      resource_id: 0,
      resource_type: 'firewall',
      region_slug: '',
      droplets: [],
      effect: () => {
        if (firewalls.get(fw.id) === fw) fw.status = 'succeeded';
      },
    });
  }

  /** @param {unknown} body */
  function postProject(body) {
    const b = obj(body);
    if (typeof b.name !== 'string' || b.name === '' || b.name.length > 175) return unprocessable('name: give 1 to 175 characters');
    if (typeof b.purpose !== 'string' || b.purpose === '') return unprocessable('purpose: is required');
    const p = {
      id: randomUUID(),
      owner_uuid: deps.account.uuid,
      owner_id: defaultProject.owner_id,
      name: b.name,
      description: typeof b.description === 'string' ? b.description : '',
      purpose: PROJECT_PURPOSES.includes(b.purpose) ? b.purpose : `Other: ${b.purpose}`,
      environment: typeof b.environment === 'string' ? b.environment : '',
      is_default: false,
      created_at: iso(),
      updated_at: iso(),
    };
    projects.set(p.id, p);
    return reply(201, { project: structuredClone(p) });
  }

  /** @param {string} id @param {unknown} body @param {boolean} partial */
  function updateProject(id, body, partial) {
    const p = projects.get(id === 'default' ? defaultProject.id : id);
    if (!p) return reply(404, ERR_NOT_FOUND);
    const b = obj(body);
    for (const k of ['name', 'description', 'environment']) if (typeof b[k] === 'string' || !partial) p[k] = typeof b[k] === 'string' ? b[k] : p[k];
    if (typeof b.purpose === 'string' && b.purpose !== '') p.purpose = PROJECT_PURPOSES.includes(b.purpose) ? b.purpose : `Other: ${b.purpose}`;
    if (b.is_default === true && !p.is_default) {
      for (const other of projects.values()) other.is_default = false;
      p.is_default = true;
    }
    p.updated_at = iso();
    return reply(200, { project: structuredClone(p) });
  }

  /** @param {string} id */
  function deleteProject(id) {
    const p = projects.get(id);
    if (!p) return reply(404, ERR_NOT_FOUND);
    if (p.is_default) return reply(412, { id: 'precondition_failed', message: 'cannot delete the default project' });
    if ([...membership.values()].some((m) => m.project === id)) return reply(412, ERR_PROJECT_NOT_EMPTY);
    projects.delete(id);
    return reply(204, undefined);
  }

  /** @param {string} id */
  function projectResources(id) {
    const p = projects.get(id === 'default' ? defaultProject.id : id);
    if (!p) return undefined;
    return [...membership.entries()]
      .filter(([, m]) => m.project === p.id)
      .map(([urn, m]) => ({ urn, assigned_at: m.assigned_at, links: { self: selfLink(urn) }, status: 'ok' }));
  }

  /** @param {string} urn */
  function selfLink(urn) {
    const [, kind, id] = urn.split(':');
    const path = { droplet: 'droplets', loadbalancer: 'load_balancers', floatingip: 'floating_ips' }[kind ?? ''] ?? kind;
    return `${deps.baseUrl()}/v2/${path}/${id}`;
  }

  /** @param {string} id @param {unknown} body */
  function assignResources(id, body) {
    const p = projects.get(id === 'default' ? defaultProject.id : id);
    if (!p) return reply(404, ERR_NOT_FOUND);
    const urns = obj(body).resources;
    if (!Array.isArray(urns) || urns.some((u) => typeof u !== 'string')) return reply(400, { id: 'bad_request', message: 'resources: give an array of URNs' });
    const canonical = urns.map(canonicalUrn);
    for (const urn of canonical) {
      if (!/^do:(droplet|loadbalancer|floatingip):/.test(urn))
        return reply(400, { id: 'bad_request', message: `${urn} is not a resource that can be assigned to a project` });
      if (!resourceExists(urn)) return reply(404, { id: 'not_found', message: `${urn} was not found` });
    }
    for (const urn of canonical.filter((u) => u.startsWith('do:floatingip:'))) {
      const ip = reservedIps.get(urn.slice('do:floatingip:'.length));
      const holder = ip?.droplet_id;
      if (holder && projectOf(`do:droplet:${holder}`) !== p.id && !canonical.includes(`do:droplet:${holder}`)) return reply(412, ERR_IP_WITH_DROPLET);
    }
    const assigned_at = iso();
    for (const urn of canonical) {
      membership.set(urn, { project: p.id, assigned_at });
      // A droplet's reserved IP goes where the droplet goes.
      const m = /^do:droplet:(\d+)$/.exec(urn);
      if (m)
        for (const ip of reservedIps.values()) if (ip.droplet_id === Number(m[1])) membership.set(`do:floatingip:${ip.ip}`, { project: p.id, assigned_at });
    }
    return reply(200, { resources: canonical.map((urn) => ({ urn, assigned_at, links: { self: selfLink(urn) }, status: 'assigned' })) });
  }

  // -------------------------------------------------------------------------
  // Certificates
  // -------------------------------------------------------------------------

  const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/i;
  const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

  /**
   * What a custom certificate's PEM says (its names, expiry, SHA-1
   * fingerprint), or why DigitalOcean would refuse it: not PEM, a key that is
   * not the certificate's, a chain that does not parse.
   * @param {Record<string, any>} b
   * @returns {{ error: string } | { dns_names: string[], not_after: string, sha1_fingerprint: string }}
   */
  function customCertificate(b) {
    const leafPem = typeof b.leaf_certificate === 'string' ? (b.leaf_certificate.match(PEM_CERTIFICATE) ?? []) : [];
    if (leafPem.length !== 1) return { error: 'leaf_certificate: give one PEM certificate (-----BEGIN CERTIFICATE-----)' };
    /** @type {X509Certificate} */
    let leaf;
    try {
      leaf = new X509Certificate(/** @type {string} */ (leafPem[0]));
    } catch {
      return { error: 'leaf_certificate: the PEM is not a certificate' };
    }
    if (typeof b.private_key !== 'string' || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(b.private_key))
      return { error: 'private_key: give the PEM private key of the certificate' };
    let key;
    try {
      key = createPrivateKey(b.private_key);
    } catch {
      return { error: 'private_key: the PEM is not a private key without a passphrase' };
    }
    if (!leaf.checkPrivateKey(key)) return { error: 'private_key: it is not the key of leaf_certificate' };
    if (b.certificate_chain !== undefined && b.certificate_chain !== '') {
      const chain = typeof b.certificate_chain === 'string' ? (b.certificate_chain.match(PEM_CERTIFICATE) ?? []) : [];
      if (chain.length === 0) return { error: 'certificate_chain: give PEM certificates' };
      try {
        for (const c of chain) new X509Certificate(c);
      } catch {
        return { error: 'certificate_chain: a PEM block is not a certificate' };
      }
    }
    const alt = (leaf.subjectAltName ?? '')
      .split(/,\s*/)
      .filter((x) => x.startsWith('DNS:'))
      .map((x) => x.slice(4));
    const cn = /^CN=(.*)$/m.exec(leaf.subject)?.[1];
    return {
      dns_names: alt.length ? alt : cn ? [cn] : [],
      not_after: iso(Date.parse(leaf.validTo)),
      sha1_fingerprint: leaf.fingerprint.replace(/:/g, '').toLowerCase(),
    };
  }

  /** @param {unknown} body */
  function postCertificate(body) {
    const b = obj(body);
    if (typeof b.name !== 'string' || b.name.trim() === '') return unprocessable('name: is required');
    if ([...certificates.values()].some((c) => c.name === b.name)) return unprocessable(`a certificate named ${b.name} already exists`);
    const type = b.type ?? 'custom';
    const id = randomUUID();
    if (type === 'lets_encrypt') {
      const names = b.dns_names;
      if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || !HOSTNAME.test(n)))
        return unprocessable("dns_names: give the domain names a Let's Encrypt certificate is for");
      // DigitalOcean proves the names through its own DNS: each must be in one of the account's domains.
      const outside = names.find((n) => !zoneOf(n));
      if (outside) return unprocessable(`dns_names: ${outside} is not in a domain managed by DigitalOcean DNS on this account`);
      const c = { id, name: b.name, type, dns_names: [...names], state: 'pending', not_after: '', sha1_fingerprint: '', created_at: iso() };
      certificates.set(id, c);
      startAction({
        type: 'certificate_issue',
        resource_id: 0,
        resource_type: 'certificate',
        region_slug: '',
        droplets: [],
        hidden: true,
        effect: () => {
          if (certificates.get(id) !== c) return;
          c.state = 'verified';
          c.not_after = iso(now() + 90 * 24 * 3600_000);
          c.sha1_fingerprint = randomBytes(20).toString('hex');
        },
      });
      return reply(201, { certificate: certificateJson(c) });
    }
    if (type !== 'custom') return unprocessable('type: use custom or lets_encrypt');
    const made = customCertificate(b);
    if ('error' in made) return unprocessable(made.error);
    const c = { id, name: b.name, type, state: 'verified', created_at: iso(), ...made };
    certificates.set(id, c);
    return reply(201, { certificate: certificateJson(c) });
  }

  /** @param {string} id */
  function deleteCertificate(id) {
    const c = certificates.get(id);
    if (!c) return reply(404, ERR_NOT_FOUND);
    if (certificateInUse(id)) return reply(403, ERR_CERT_IN_USE);
    certificates.delete(id);
    releasing.delete(id);
    return reply(204, undefined);
  }

  /**
   * A load balancer presenting a Let's Encrypt certificate gets DigitalOcean to
   * make an A record at the apex of the certificate's DNS domain, pointing at
   * it, unless `disable_lets_encrypt_dns_records` is set: godo PR #482 ("the
   * current behavior where an A record is created from the apex domain in the
   * cert pointing to the LB IP when added to the Load Balancer"), the
   * cloud-controller-manager's PR #390 and provider issue #456 (an apex
   * record nobody asked for beside the subdomain's). Whether DigitalOcean
   * removes it with the load balancer is not documented: it stays here, the
   * worse case.
   * @param {any} lb
   */
  function letsEncryptRecords(lb) {
    if (lb.spec.disable_lets_encrypt_dns_records || lb.status !== 'active') return;
    for (const id of certificatesOf(lb)) {
      const c = certificates.get(id);
      if (c?.type !== 'lets_encrypt') continue;
      for (const zone of new Set(c.dns_names.map(zoneOf).filter(Boolean))) {
        const there = [...records.values()].some((r) => r.zone === zone && r.type === 'A' && r.name === '@' && r.data === lb.ip);
        if (!there) addRecord(/** @type {string} */ (zone), { type: 'A', name: '@', data: lb.ip, ttl: 1800 });
      }
    }
  }

  // -------------------------------------------------------------------------
  // Records of the account's DNS domains
  // -------------------------------------------------------------------------

  const RECORD_TYPES = ['A', 'AAAA', 'CAA', 'CNAME', 'MX', 'NS', 'TXT', 'SRV'];
  const RECORD_NAME = /^(\*|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/i;
  /** @param {unknown} v */
  const intOrNull = (v) => (typeof v === 'number' && Number.isInteger(v) ? v : null);

  /**
   * A record from a create or update body, validated; nothing is stored.
   * A name given fully qualified with the trailing dot (shop.example.com.)
   * is stored relative to its domain, the apex as "@".
   * @param {string} zone @param {unknown} body @param {any} [existing]
   * @returns {{ error: string } | { record: any }}
   */
  function recordFrom(zone, body, existing) {
    const b = obj(body);
    const type = b.type ?? existing?.type;
    if (!RECORD_TYPES.includes(type)) return { error: `type: use one of ${RECORD_TYPES.join(', ')}` };
    let name = b.name ?? existing?.name;
    if (typeof name !== 'string' || name === '') return { error: 'name: is required' };
    const z = zone.toLowerCase();
    if (name.toLowerCase() === `${z}.`) name = '@';
    else if (name.toLowerCase().endsWith(`.${z}.`)) name = name.slice(0, -(z.length + 2));
    if (name !== '@' && !RECORD_NAME.test(name)) return { error: `name: ${name} is not a valid record name` };
    const data = b.data ?? existing?.data;
    if (typeof data !== 'string' || data === '') return { error: 'data: is required' };
    if (type === 'A' && !isIPv4(data)) return { error: `data: ${data} is not an IPv4 address` };
    if (type === 'AAAA' && !isIPv6(data)) return { error: `data: ${data} is not an IPv6 address` };
    // 1800 when not given, as the domain's own records; the 30-second floor is this stand-in's (the API reference gives none).
    const ttl = b.ttl ?? existing?.ttl ?? 1800;
    if (!Number.isInteger(ttl) || ttl < 30) return { error: 'ttl: give at least 30 seconds' };
    /** @param {string} k */
    const field = (k) => (k in b ? intOrNull(b[k]) : (existing?.[k] ?? null));
    const record = {
      id: existing?.id,
      zone,
      type,
      name,
      data,
      ttl,
      priority: field('priority'),
      port: field('port'),
      weight: field('weight'),
      flags: field('flags'),
      tag: typeof b.tag === 'string' ? b.tag : (existing?.tag ?? null),
    };
    if ((type === 'MX' || type === 'SRV') && record.priority === null) return { error: 'priority: is required for MX and SRV records' };
    if (type === 'SRV' && (record.port === null || record.weight === null)) return { error: 'port and weight: are required for SRV records' };
    if (type === 'CAA' && (record.flags === null || record.tag === null)) return { error: 'flags and tag: are required for CAA records' };
    return { record };
  }

  /** @param {string} zone the account's spelling @param {URLSearchParams} params @param {(collection: string, items: unknown[]) => unknown} paginate */
  function listRecords(zone, params, paginate) {
    const type = params.get('type');
    const name = params.get('name')?.toLowerCase().replace(/\.$/, '');
    const fqdn = (/** @type {any} */ r) => (r.name === '@' ? zone : `${r.name}.${zone}`).toLowerCase();
    const listed = [...records.values()].filter((r) => r.zone === zone && (!type || r.type === type) && (!name || fqdn(r) === name));
    return reply(200, paginate('domain_records', listed.map(recordJson)));
  }

  // -------------------------------------------------------------------------
  // Routing
  // -------------------------------------------------------------------------

  /**
   * @param {string} method
   * @param {string} path normalised path (no trailing slash, no query)
   * @param {URLSearchParams} params
   * @param {unknown} body
   * @param {(collection: string, items: unknown[]) => unknown} paginate
   * @returns {{ status: number, body: unknown } | undefined} undefined when the path is not one of the cloud's
   */
  function handle(method, path, params, body, paginate) {
    settle();
    /** @type {RegExpExecArray | null} */
    let m;
    const is = (/** @type {RegExp} */ re) => (m = re.exec(path)) !== null;
    const p = (/** @type {number} */ i) => decodeURIComponent(/** @type {RegExpExecArray} */ (m)[i] ?? '');

    // Droplets (GET /v2/droplets itself is the composing server's: it adds its placeholder droplets)
    if (path === '/v2/droplets' && method === 'POST') return postDroplet(body);
    if (is(/^\/v2\/droplets\/(\d+)$/)) {
      const d = droplets.get(Number(p(1)));
      if (method === 'GET') return d ? reply(200, { droplet: dropletJson(d) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'DELETE') return deleteDroplet(Number(p(1)));
      return undefined;
    }
    if (is(/^\/v2\/droplets\/(\d+)\/actions$/)) {
      const id = Number(p(1));
      if (!droplets.has(id)) return reply(404, ERR_NOT_FOUND);
      if (method === 'GET')
        return reply(
          200,
          paginate(
            'actions',
            listed()
              .filter((a) => a.droplets.includes(id) && a.resource_type === 'droplet')
              .map(actionJson),
          ),
        );
      if (method === 'POST') return postDropletAction(id, body);
      return undefined;
    }
    if (is(/^\/v2\/droplets\/(\d+)\/actions\/(\d+)$/) && method === 'GET') {
      const a = actions.get(Number(p(2)));
      return a && !a.hidden && a.resource_type === 'droplet' && a.resource_id === Number(p(1))
        ? reply(200, { action: actionJson(a) })
        : reply(404, ERR_NOT_FOUND);
    }

    // Actions
    if (path === '/v2/actions' && method === 'GET') return reply(200, paginate('actions', listed().map(actionJson)));
    if (is(/^\/v2\/actions\/(\d+)$/) && method === 'GET') {
      const a = actions.get(Number(p(1)));
      return a && !a.hidden ? reply(200, { action: actionJson(a) }) : reply(404, ERR_NOT_FOUND);
    }

    // VPCs
    if (path === '/v2/vpcs') {
      if (method === 'GET')
        return reply(
          200,
          paginate(
            'vpcs',
            [...vpcs.values()].map((v) => structuredClone(v)),
          ),
        );
      if (method === 'POST') return postVpc(body);
      return undefined;
    }
    if (is(/^\/v2\/vpcs\/([^/]+)$/)) {
      const vpc = vpcs.get(p(1));
      if (method === 'GET') return vpc ? reply(200, { vpc: structuredClone(vpc) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'PUT' || method === 'PATCH') return updateVpc(p(1), body);
      if (method === 'DELETE') return deleteVpc(p(1));
      return undefined;
    }
    if (is(/^\/v2\/vpcs\/([^/]+)\/members$/) && method === 'GET') {
      const vpc = vpcs.get(p(1));
      if (!vpc) return reply(404, ERR_NOT_FOUND);
      const members = [
        ...[...droplets.values()].filter((d) => d.vpc_uuid === vpc.id).map((d) => ({ urn: `do:droplet:${d.id}`, name: d.name, created_at: d.created_at })),
        ...[...loadBalancers.values()]
          .filter((lb) => lb.vpc_uuid === vpc.id)
          .map((lb) => ({ urn: `do:loadbalancer:${lb.id}`, name: lb.name, created_at: lb.created_at })),
      ];
      return reply(200, paginate('members', members));
    }

    // Tags
    if (path === '/v2/tags') {
      if (method === 'GET') return reply(200, paginate('tags', [...tags.values()].map(tagJson)));
      if (method === 'POST') {
        const name = obj(body).name;
        if (typeof name !== 'string' || !/^[a-zA-Z0-9:\-_]{1,255}$/.test(name))
          return unprocessable('name: tags may contain letters, numbers, colons, dashes, and underscores');
        return reply(201, { tag: tagJson(ensureTag(name)) });
      }
      return undefined;
    }
    if (is(/^\/v2\/tags\/([^/]+)$/)) {
      const t = tags.get(tagKey(p(1)));
      if (method === 'GET') return t ? reply(200, { tag: tagJson(t) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'DELETE') {
        if (!t) return reply(404, ERR_NOT_FOUND);
        tags.delete(tagKey(p(1)));
        for (const d of droplets.values()) d.tags = d.tags.filter((/** @type {string} */ x) => tagKey(x) !== tagKey(p(1)));
        return reply(204, undefined);
      }
      return undefined;
    }
    if (is(/^\/v2\/tags\/([^/]+)\/resources$/) && (method === 'POST' || method === 'DELETE')) {
      const t = tags.get(tagKey(p(1)));
      if (!t) return reply(404, ERR_NOT_FOUND);
      for (const r of obj(body).resources ?? []) {
        const d = r?.resource_type === 'droplet' ? droplets.get(Number(r.resource_id)) : undefined;
        if (!d) return unprocessable(`resource ${JSON.stringify(r)} was not found`);
        d.tags = d.tags.filter((/** @type {string} */ x) => tagKey(x) !== tagKey(t.name));
        if (method === 'POST') d.tags.push(t.name);
      }
      return reply(204, undefined);
    }

    // Load balancers
    if (path === '/v2/load_balancers') {
      if (method === 'GET') return reply(200, paginate('load_balancers', [...loadBalancers.values()].map(loadBalancerJson)));
      if (method === 'POST') return postLoadBalancer(body);
      return undefined;
    }
    if (is(/^\/v2\/load_balancers\/([^/]+)$/)) {
      const lb = loadBalancers.get(p(1));
      if (method === 'GET') return lb ? reply(200, { load_balancer: loadBalancerJson(lb) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'PUT') return putLoadBalancer(p(1), body);
      if (method === 'DELETE') {
        if (!lb) return reply(404, ERR_NOT_FOUND);
        loadBalancers.delete(lb.id);
        membership.delete(`do:loadbalancer:${lb.id}`);
        release(certificatesOf(lb));
        return reply(204, undefined);
      }
      return undefined;
    }

    // Reserved IPs
    if (path === '/v2/reserved_ips') {
      if (method === 'GET') return reply(200, paginate('reserved_ips', [...reservedIps.values()].map(reservedIpJson)));
      if (method === 'POST') return postReservedIp(body);
      return undefined;
    }
    if (is(/^\/v2\/reserved_ips\/([^/]+)$/)) {
      const ip = reservedIps.get(p(1));
      if (method === 'GET') return ip ? reply(200, { reserved_ip: reservedIpJson(ip) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'DELETE') {
        if (!ip) return reply(404, ERR_NOT_FOUND);
        if (ipPending(ip.ip)) return reply(422, ERR_PENDING);
        reservedIps.delete(ip.ip);
        membership.delete(`do:floatingip:${ip.ip}`);
        return reply(204, undefined);
      }
      return undefined;
    }
    if (is(/^\/v2\/reserved_ips\/([^/]+)\/actions$/)) {
      if (!reservedIps.has(p(1))) return reply(404, ERR_NOT_FOUND);
      if (method === 'POST') return postReservedIpAction(p(1), body);
      if (method === 'GET') return reply(200, paginate('actions', [...actions.values()].filter((a) => /** @type {any} */ (a).ip === p(1)).map(actionJson)));
      return undefined;
    }
    if (is(/^\/v2\/reserved_ips\/([^/]+)\/actions\/(\d+)$/) && method === 'GET') {
      const a = actions.get(Number(p(2)));
      return a && /** @type {any} */ (a).ip === p(1) ? reply(200, { action: actionJson(a) }) : reply(404, ERR_NOT_FOUND);
    }

    // Firewalls
    if (path === '/v2/firewalls') {
      if (method === 'GET') return reply(200, paginate('firewalls', [...firewalls.values()].map(firewallJson)));
      if (method === 'POST') {
        const made = firewallFrom(body);
        if ('error' in made) return unprocessable(/** @type {string} */ (made.error));
        firewalls.set(made.firewall.id, made.firewall);
        scheduleFirewall(made.firewall);
        return reply(202, { firewall: firewallJson(made.firewall) });
      }
      return undefined;
    }
    if (is(/^\/v2\/firewalls\/([^/]+)$/)) {
      const fw = firewalls.get(p(1));
      if (method === 'GET') return fw ? reply(200, { firewall: firewallJson(fw) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'PUT') {
        if (!fw) return reply(404, ERR_NOT_FOUND);
        const made = firewallFrom(body, fw);
        if ('error' in made) return unprocessable(/** @type {string} */ (made.error));
        firewalls.set(fw.id, made.firewall);
        scheduleFirewall(made.firewall);
        return reply(200, { firewall: firewallJson(made.firewall) });
      }
      if (method === 'DELETE') {
        if (!fw) return reply(404, ERR_NOT_FOUND);
        firewalls.delete(fw.id);
        return reply(204, undefined);
      }
      return undefined;
    }

    // Certificates
    if (path === '/v2/certificates') {
      if (method === 'GET') {
        // ?name= lists the one of that name: provider 2.68 finds every certificate that way (godo ListByName).
        const name = params.get('name');
        return reply(200, paginate('certificates', [...certificates.values()].filter((c) => name === null || c.name === name).map(certificateJson)));
      }
      if (method === 'POST') return postCertificate(body);
      return undefined;
    }
    if (is(/^\/v2\/certificates\/([^/]+)$/)) {
      const c = certificates.get(p(1));
      if (method === 'GET') return c ? reply(200, { certificate: certificateJson(c) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'DELETE') return deleteCertificate(p(1));
      return undefined;
    }

    // The account's DNS domains (GET /v2/domains is the composing server's) and their records
    if (is(/^\/v2\/domains\/([^/]+)$/) && method === 'GET') {
      const zone = accountZone(p(1));
      return zone ? reply(200, { domain: { name: zone, ttl: 1800, zone_file: `$ORIGIN ${zone}.\n` } }) : reply(404, ERR_NOT_FOUND);
    }
    if (is(/^\/v2\/domains\/([^/]+)\/records$/)) {
      const zone = accountZone(p(1));
      if (!zone) return reply(404, ERR_NOT_FOUND);
      if (method === 'GET') return listRecords(zone, params, paginate);
      if (method === 'POST') {
        const made = recordFrom(zone, body);
        if ('error' in made) return unprocessable(made.error);
        return reply(201, { domain_record: recordJson(addRecord(zone, made.record)) });
      }
      return undefined;
    }
    if (is(/^\/v2\/domains\/([^/]+)\/records\/(\d+)$/)) {
      const zone = accountZone(p(1));
      const r = records.get(Number(p(2)));
      if (!zone || !r || r.zone !== zone) return ['GET', 'PUT', 'PATCH', 'DELETE'].includes(method) ? reply(404, ERR_NOT_FOUND) : undefined;
      if (method === 'GET') return reply(200, { domain_record: recordJson(r) });
      if (method === 'PUT' || method === 'PATCH') {
        const made = recordFrom(zone, body, r);
        if ('error' in made) return unprocessable(made.error);
        records.set(r.id, made.record);
        return reply(200, { domain_record: recordJson(made.record) });
      }
      if (method === 'DELETE') {
        records.delete(r.id);
        return reply(204, undefined);
      }
      return undefined;
    }

    // Projects
    if (path === '/v2/projects') {
      if (method === 'GET')
        return reply(
          200,
          paginate(
            'projects',
            [...projects.values()].map((x) => structuredClone(x)),
          ),
        );
      if (method === 'POST') return postProject(body);
      return undefined;
    }
    if (is(/^\/v2\/projects\/([^/]+)$/)) {
      const id = p(1);
      const project = projects.get(id === 'default' ? defaultProject.id : id);
      if (method === 'GET') return project ? reply(200, { project: structuredClone(project) }) : reply(404, ERR_NOT_FOUND);
      if (method === 'PUT' || method === 'PATCH') return updateProject(id, body, method === 'PATCH');
      if (method === 'DELETE') return deleteProject(id);
      return undefined;
    }
    if (is(/^\/v2\/projects\/([^/]+)\/resources$/)) {
      if (method === 'GET') {
        const list = projectResources(p(1));
        return list ? reply(200, paginate('resources', list)) : reply(404, ERR_NOT_FOUND);
      }
      if (method === 'POST') return assignResources(p(1), body);
      return undefined;
    }
    return undefined;
  }

  // The account's existing VPCs, once every helper is defined.
  for (const v of options.vpcs ?? []) createVpc({ name: v.name ?? `default-${v.region}`, region: v.region, ip_range: v.ip_range });
  // Each DNS domain of the account has the records DigitalOcean makes with it: its SOA and three NS records, TTL 1800
  // (digitalocean/api-v2 issue #177: "the API automatically creates NS records for ns1.digitalocean.com, ns2… and ns3…").
  for (const zone of deps.domains) {
    addRecord(zone, { type: 'SOA', name: '@', data: '1800', ttl: 1800 });
    for (const ns of ['ns1', 'ns2', 'ns3']) addRecord(zone, { type: 'NS', name: '@', data: `${ns}.digitalocean.com`, ttl: 1800 });
  }

  /** Everything the account holds, as the API shows it (settled first). */
  function snapshot() {
    settle();
    return {
      droplets: [...droplets.values()].map(dropletJson),
      vpcs: [...vpcs.values()].map((v) => structuredClone(v)),
      tags: [...tags.values()].map(tagJson),
      loadBalancers: [...loadBalancers.values()].map(loadBalancerJson),
      reservedIps: [...reservedIps.values()].map(reservedIpJson),
      firewalls: [...firewalls.values()].map(firewallJson),
      projects: [...projects.values()].map((x) => ({ ...structuredClone(x), resources: (projectResources(x.id) ?? []).map((r) => r.urn) })),
      actions: listed().map(actionJson),
      certificates: [...certificates.values()].map(certificateJson),
      /** Every record of the account's DNS domains, with its domain. */
      records: [...records.values()].map((r) => ({ domain: r.zone, ...recordJson(r) })),
      power: structuredClone(power_log),
    };
  }

  return {
    handle,
    snapshot,
    /** The droplets GET /v2/droplets lists (with ?tag_name= filtering), as the API shows them. */
    listDroplets(/** @type {string | null} */ tagName) {
      settle();
      return [...droplets.values()].filter((d) => !tagName || d.tags.some((/** @type {string} */ t) => tagKey(t) === tagKey(tagName))).map(dropletJson);
    },
  };
}
