/**
 * The lab's services daemon: the DigitalOcean pieces a droplet talks to,
 * standing in on the lab bridge so the roles run their production code
 * paths. Started detached by labUp (`node dist/lab/services.js <config>`),
 * one per lab; dependency-free (node:http) so it starts in milliseconds.
 *
 * - metadata (reached as http://169.254.169.254/metadata/v1/…, DNATed to our
 *   metadata port): answers for the droplet whose address the request comes
 *   from, in plain text like DigitalOcean;
 * - the API's reserved-IP endpoints, on http://<bridge>:<apiPort>/v2/…, with
 *   DigitalOcean's JSON shapes and errors; "assign" answers with an action
 *   `in-progress`, refuses another while one is pending ("pending event"),
 *   and completes it a few seconds later by swapping the one element of the
 *   lab's nftables map; only then does the metadata service name the new
 *   holder (docs/lab.md#the-reserved-ip);
 * - the lab's apt repository, on http://<bridge>:<apiPort>/repo/, and its
 *   updates channel on /updates/.
 *
 * Who holds the reserved IP is kept in holder.json beside the config, so a
 * restarted daemon (or a later labUp) agrees with the DNAT it left behind.
 */
import { execFile } from 'node:child_process';
import { createReadStream, promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { deliveryAddress, firstHolder, ipToInt, nftAssign, type LabNode, type LabPlan } from './plan.js';

export interface ServicesConfig {
  plan: LabPlan;
  /** Hash of everything below and the plan: labUp restarts a daemon that answers with another one. */
  configHash: string;
  apiToken: string;
  publicKey: string;
  repoDir: string;
  /** The updates channel (dirs.ts labUpdatesDir), served on /updates/. */
  updatesDir: string;
  holderFile: string;
  /** How long an assign or unassign stays `in-progress` (DigitalOcean: a few seconds). Default ASSIGN_DELAY_MS. */
  assignDelayMs?: number;
}

/** An assign's time in progress when the config gives none: DigitalOcean's take a few seconds. */
export const ASSIGN_DELAY_MS = 3000;
/** DigitalOcean's answer to an action on a droplet (or reserved IP) that has one in progress. */
export const PENDING_EVENT = 'Droplet already has a pending event.';

export interface Action {
  id: number;
  status: 'in-progress' | 'completed' | 'errored';
  type: 'assign_ip' | 'unassign_ip';
  started_at: string;
  completed_at: string | null;
  resource_id: number;
  resource_type: 'reserved_ip';
  region: Record<string, unknown>;
  region_slug: string;
}

export interface HolderState {
  dropletId: number | null;
  nextActionId: number;
  actions: Action[];
}

const REGION = { name: 'Local lab', slug: 'lab1', features: ['private_networking', 'metadata'], available: true, sizes: [] as string[] };

export function readHolder(file: string, plan: LabPlan): HolderState {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as HolderState;
    if (typeof s.nextActionId === 'number' && Array.isArray(s.actions)) return s;
  } catch {
    // first start: terraform assigns the reserved IP to dblb-01
  }
  return { dropletId: firstHolder(plan).dropletId ?? null, nextActionId: 1_900_000_000 + (parseInt(plan.hash.slice(0, 5), 16) % 90_000_000), actions: [] };
}

async function writeHolder(file: string, s: HolderState): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}

function log(text: string): void {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`);
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as unknown as { code: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 127) : 0;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
    // A child that exits (or is killed by the timeout) before reading its input would
    // make this write fail with EPIPE; its exit status already says what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

export function startServices(cfg: ServicesConfig): Promise<{ api: http.Server; metadata: http.Server }> {
  const plan = cfg.plan;
  const droplets = plan.nodes.filter((n) => n.dropletId !== undefined);
  let holder = readHolder(cfg.holderFile, plan);
  // Assignments one at a time: both keepalived nodes may call at once during a failover.
  let queue: Promise<unknown> = Promise.resolve();
  // The action in progress, if any: in memory only (a restarted daemon forgets it, and its caller asks again).
  let pending: Action | undefined;
  // The lab's own knobs (POST /lab/reserved-ip): the drill makes assigns slow, or refuses the next one as DigitalOcean does when busy.
  const defaults = () => ({ delayMs: cfg.assignDelayMs ?? ASSIGN_DELAY_MS, refuseNext: 0 });
  let knobs = defaults();

  const byId = (id: number) => droplets.find((d) => d.dropletId === id);
  const bySource = (addr: string | undefined) => {
    const a = (addr ?? '').replace(/^::ffff:/, '');
    return droplets.find((d) => d.ip === a || d.vpcIp === a || d.anchorIp === a);
  };

  const dropletJson = (d: LabNode) => ({
    id: d.dropletId,
    name: d.name,
    memory: 1024,
    vcpus: 1,
    disk: 25,
    locked: false,
    status: 'active',
    created_at: '2024-01-01T00:00:00Z',
    features: ['private_networking', 'metadata'],
    image: { distribution: 'Debian', name: '12 x64', slug: 'debian-12-x64' },
    networks: {
      v4: [
        { ip_address: d.ip, netmask: '255.255.255.0', gateway: plan.bridgeIp, type: 'public' },
        { ip_address: d.vpcIp, netmask: '255.255.255.0', gateway: '', type: 'private' },
      ],
      v6: [],
    },
    region: REGION,
    tags: [`${plan.project}-${d.role === 'web' ? 'wp' : d.role}`],
  });
  const reservedJson = () => {
    const d = holder.dropletId === null ? undefined : byId(holder.dropletId);
    return { ip: plan.reservedIp, droplet: d ? dropletJson(d) : null, region: REGION, locked: false, project_id: `lab-${plan.hash}` };
  };

  const send = (res: http.ServerResponse, code: number, body: unknown, type = 'application/json; charset=utf-8') => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const apiError = (res: http.ServerResponse, code: number, id: string, message: string) => send(res, code, { id, message });
  const authorized = (req: http.IncomingMessage) => req.headers.authorization === `Bearer ${cfg.apiToken}`;

  /** Moves the address (the DNAT), then records the action completed and the new holder: the metadata service follows. */
  async function complete(action: Action, dropletId: number | null): Promise<void> {
    const target = dropletId === null ? undefined : byId(dropletId);
    const address = target ? deliveryAddress(target) : undefined;
    const nft = await run('nft', ['-f', '-'], nftAssign(plan, address));
    if (nft.code !== 0) throw new Error(`nft: ${nft.out}`);
    // Established flows keep their old translation until their conntrack entry goes; DigitalOcean moves them at once.
    await run('conntrack', ['-D', '--orig-dst', plan.reservedIp]);
    const done: Action = { ...action, status: 'completed', completed_at: new Date().toISOString() };
    holder = { dropletId, nextActionId: holder.nextActionId, actions: [...holder.actions, done].slice(-200) };
    await writeHolder(cfg.holderFile, holder);
    log(`reserved IP ${plan.reservedIp} → ${target ? `${target.name} (${address})` : 'nobody'} (action ${action.id} completed)`);
  }

  /**
   * Starts an action as DigitalOcean does: `in-progress` now, completed
   * `knobs.delayMs` later. A second one meanwhile is refused (undefined).
   */
  async function begin(dropletId: number | null, type: Action['type']): Promise<Action | undefined> {
    if (pending) return undefined;
    const action: Action = {
      id: holder.nextActionId,
      status: 'in-progress',
      type,
      started_at: new Date().toISOString(),
      completed_at: null,
      resource_id: ipToInt(plan.reservedIp),
      resource_type: 'reserved_ip',
      region: REGION,
      region_slug: REGION.slug,
    };
    // Pending before the first await: two requests at once must not both start one.
    pending = action;
    holder = { ...holder, nextActionId: holder.nextActionId + 1 };
    await writeHolder(cfg.holderFile, holder);
    setTimeout(() => {
      queue = queue
        .catch(() => undefined)
        .then(() => complete(action, dropletId))
        .catch((err: Error) => {
          // As DigitalOcean reports a failed action: `errored`, and the address where it was.
          log(`action ${action.id} failed: ${err.message}`);
          const errored: Action = { ...action, status: 'errored', completed_at: new Date().toISOString() };
          holder = { ...holder, actions: [...holder.actions, errored].slice(-200) };
        })
        .finally(() => {
          if (pending?.id === action.id) pending = undefined;
        });
    }, knobs.delayMs);
    return action;
  }

  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
        if (body.length > 65536) reject(new Error('body too large'));
      });
      req.on('end', () => resolve(body));
      req.on('error', reject);
    });

  const api = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://lab');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    void (async () => {
      if (p === '/lab/health') return send(res, 200, { lab: plan.labId, config: cfg.configHash, pid: process.pid });
      if (p === '/lab/reserved-ip') {
        // The lab's knobs, for the drill: {"delay_ms": N} makes every assign take N ms; {"refuse_next": N}
        // answers the next N assigns with DigitalOcean's pending-event 422; {"reset": true} first puts both
        // back as the config has them. The API token, as for the API.
        if (!authorized(req)) return apiError(res, 401, 'unauthorized', 'Unable to authenticate you');
        if (method === 'POST') {
          let body: { delay_ms?: unknown; refuse_next?: unknown; reset?: unknown };
          try {
            body = JSON.parse((await readBody(req)) || '{}') as typeof body;
          } catch {
            return apiError(res, 400, 'bad_request', 'The request body is not valid JSON.');
          }
          const n = (v: unknown, max: number) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max ? (v as number) : undefined);
          if (body.delay_ms !== undefined && n(body.delay_ms, 120_000) === undefined)
            return apiError(res, 422, 'unprocessable_entity', 'delay_ms: 0 to 120000');
          if (body.refuse_next !== undefined && n(body.refuse_next, 100) === undefined)
            return apiError(res, 422, 'unprocessable_entity', 'refuse_next: 0 to 100');
          if (body.reset === true) knobs = defaults();
          if (body.delay_ms !== undefined) knobs.delayMs = body.delay_ms as number;
          if (body.refuse_next !== undefined) knobs.refuseNext = body.refuse_next as number;
          log(`lab knobs: assigns take ${knobs.delayMs} ms; the next ${knobs.refuseNext} refused`);
        }
        return send(res, 200, { delay_ms: knobs.delayMs, refuse_next: knobs.refuseNext, pending: pending?.id ?? null });
      }
      const repo = p.startsWith('/repo/') ? cfg.repoDir : p.startsWith('/updates/') ? cfg.updatesDir : undefined;
      if (repo) {
        // apt escapes '+' and '%' (epochs are stored as %3a) in file names.
        let name: string;
        try {
          name = decodeURIComponent(p.slice(p.indexOf('/', 1) + 1));
        } catch {
          return send(res, 404, 'not found\n', 'text/plain');
        }
        return serveRepo(repo, name, method, res);
      }
      if (!p.startsWith('/v2/')) return apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
      if (!authorized(req)) {
        log(`${method} ${p} → 401`);
        return apiError(res, 401, 'unauthorized', 'Unable to authenticate you');
      }
      let m: RegExpMatchArray | null;
      if (method === 'GET' && p === '/v2/reserved_ips') return send(res, 200, { reserved_ips: [reservedJson()], links: {}, meta: { total: 1 } });
      if (method === 'GET' && (m = p.match(/^\/v2\/reserved_ips\/([0-9.]+)$/))) {
        if (m[1] !== plan.reservedIp) return apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
        return send(res, 200, { reserved_ip: reservedJson() });
      }
      if (method === 'POST' && (m = p.match(/^\/v2\/reserved_ips\/([0-9.]+)\/actions$/))) {
        if (m[1] !== plan.reservedIp) return apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
        let body: { type?: unknown; droplet_id?: unknown };
        try {
          body = JSON.parse((await readBody(req)) || '{}') as typeof body;
        } catch {
          return apiError(res, 400, 'bad_request', 'The request body is not valid JSON.');
        }
        if (body.type === 'assign') {
          const id = Number(body.droplet_id);
          if (!Number.isInteger(id) || !byId(id)) {
            log(`POST ${p} assign ${String(body.droplet_id)} → 422`);
            return apiError(res, 422, 'unprocessable_entity', `Droplet ${String(body.droplet_id)} was not found in region ${REGION.slug}.`);
          }
          const action = knobs.refuseNext > 0 ? (knobs.refuseNext--, undefined) : await begin(id, 'assign_ip');
          log(`POST ${p} assign ${id} → ${action ? `201 (action ${action.id} in progress)` : '422 pending event'}`);
          return action ? send(res, 201, { action }) : apiError(res, 422, 'unprocessable_entity', PENDING_EVENT);
        }
        if (body.type === 'unassign') {
          const action = await begin(null, 'unassign_ip');
          return action ? send(res, 201, { action }) : apiError(res, 422, 'unprocessable_entity', PENDING_EVENT);
        }
        return apiError(res, 422, 'unprocessable_entity', `Action type "${String(body.type)}" is not supported; use "assign" or "unassign".`);
      }
      if (method === 'GET' && ((m = p.match(/^\/v2\/actions\/(\d+)$/)) || (m = p.match(/^\/v2\/reserved_ips\/[0-9.]+\/actions\/(\d+)$/)))) {
        const a = pending?.id === Number(m[1]) ? pending : holder.actions.find((x) => x.id === Number(m![1]));
        return a ? send(res, 200, { action: a }) : apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
      }
      if (method === 'GET' && p === '/v2/droplets') return send(res, 200, { droplets: droplets.map(dropletJson), links: {}, meta: { total: droplets.length } });
      if (method === 'GET' && (m = p.match(/^\/v2\/droplets\/(\d+)$/))) {
        const d = byId(Number(m[1]));
        return d ? send(res, 200, { droplet: dropletJson(d) }) : apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
      }
      return apiError(res, 404, 'not_found', 'The resource you were accessing could not be found.');
    })().catch((err: Error) => {
      log(`${method} ${p} → 500 ${err.message}`);
      if (!res.headersSent) apiError(res, 500, 'server_error', err.message);
      else res.destroy();
    });
  });

  async function serveRepo(dir: string, name: string, method: string, res: http.ServerResponse): Promise<void> {
    // A flat repository: file names only, never a path.
    if (!/^[A-Za-z0-9][A-Za-z0-9._+%~-]*$/.test(name)) return send(res, 404, 'not found\n', 'text/plain');
    const file = path.join(dir, name);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st?.isFile()) return send(res, 404, 'not found\n', 'text/plain');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size, 'last-modified': st.mtime.toUTCString() });
    if (method === 'HEAD') return void res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  /** A stable made-up MAC per address (the metadata service names one per interface; nothing in the lab reads it). */
  const mac = (ip: string) =>
    `02:00:${ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join(':')}`;

  /** The metadata tree of one droplet; leaves are plain text, like DigitalOcean's. */
  function metadataFor(d: LabNode): Record<string, unknown> {
    const holds = holder.dropletId === d.dropletId;
    const reserved = { ipv4: { active: holds ? 'true' : 'false', ...(holds ? { ip_address: plan.reservedIp } : {}) } };
    const iface = (type: 'public' | 'private') => ({
      '0': {
        mac: mac(type === 'public' ? d.ip : d.vpcIp),
        type,
        ipv4: type === 'public' ? { address: d.ip, netmask: '255.255.255.0', gateway: plan.bridgeIp } : { address: d.vpcIp, netmask: '255.255.255.0' },
        ...(type === 'public' && d.anchorIp ? { anchor_ipv4: { address: d.anchorIp, netmask: '255.255.255.255', gateway: plan.bridgeIp } } : {}),
      },
    });
    return {
      id: String(d.dropletId),
      hostname: d.name,
      'user-data': '',
      'vendor-data': '',
      'public-keys': cfg.publicKey,
      region: REGION.slug,
      interfaces: { public: iface('public'), private: iface('private') },
      dns: { nameservers: '' },
      reserved_ip: reserved,
      floating_ip: reserved,
      tags: `${plan.project}-${d.role === 'web' ? 'wp' : d.role}`,
      features: { dhcp_enabled: 'false' },
    };
  }

  function metadataJson(d: LabNode): unknown {
    const holds = holder.dropletId === d.dropletId;
    const iface = (type: 'public' | 'private') => [
      {
        mac: mac(type === 'public' ? d.ip : d.vpcIp),
        ipv4: type === 'public' ? { ip_address: d.ip, netmask: '255.255.255.0', gateway: plan.bridgeIp } : { ip_address: d.vpcIp, netmask: '255.255.255.0' },
        ...(type === 'public' && d.anchorIp ? { anchor_ipv4: { ip_address: d.anchorIp, netmask: '255.255.255.255', gateway: plan.bridgeIp } } : {}),
        type,
      },
    ];
    return {
      droplet_id: d.dropletId,
      hostname: d.name,
      user_data: '',
      vendor_data: '',
      public_keys: [cfg.publicKey],
      region: REGION.slug,
      interfaces: { public: iface('public'), private: iface('private') },
      reserved_ip: { ipv4: holds ? { active: true, ip_address: plan.reservedIp } : { active: false } },
      floating_ip: { ipv4: holds ? { active: true, ip_address: plan.reservedIp } : { active: false } },
      tags: [`${plan.project}-${d.role === 'web' ? 'wp' : d.role}`],
      features: { dhcp_enabled: false },
    };
  }

  const metadata = http.createServer((req, res) => {
    const d = bySource(req.socket.remoteAddress);
    const url = new URL(req.url ?? '/', 'http://169.254.169.254');
    if (!d) return send(res, 404, 'not found\n', 'text/plain');
    if (url.pathname === '/metadata/v1.json') return send(res, 200, metadataJson(d));
    const m = url.pathname.match(/^\/metadata\/v1(\/.*)?$/);
    if (!m) return send(res, 404, 'not found\n', 'text/plain');
    let node: unknown = metadataFor(d);
    for (const part of (m[1] ?? '/').split('/').filter(Boolean)) {
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
      if (node === undefined) return send(res, 404, 'not found\n', 'text/plain');
    }
    if (typeof node === 'string') return send(res, 200, node, 'text/plain; charset=utf-8');
    // An index: one entry per line, sub-indexes with a trailing slash.
    const lines = Object.entries(node as Record<string, unknown>).map(([k, v]) => (typeof v === 'string' ? k : `${k}/`));
    return send(res, 200, lines.join('\n'), 'text/plain; charset=utf-8');
  });

  const listen = (server: http.Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, plan.bridgeIp, () => resolve());
    });
  return Promise.all([listen(api, plan.apiPort), listen(metadata, plan.metadataPort)]).then(() => ({ api, metadata }));
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: services.js <config.json>');
  const cfg = JSON.parse(await fs.readFile(file, 'utf8')) as ServicesConfig;
  await startServices(cfg);
  log(
    `lab ${cfg.plan.labId}: API and repo on http://${cfg.plan.bridgeIp}:${cfg.plan.apiPort}, metadata on ${cfg.plan.bridgeIp}:${cfg.plan.metadataPort} (pid ${process.pid})`,
  );
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      log(`stopping (${sig})`);
      process.exit(0);
    });
}

if (require.main === module) {
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err.message}`));
  main().catch((err: Error) => {
    log(`cannot start: ${err.message}`);
    process.exit(1);
  });
}
