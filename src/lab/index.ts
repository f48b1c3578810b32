/**
 * The local target's "terraform": a lab of Debian 12 system containers on
 * this machine, shaped like the DigitalOcean cluster (docs/lab.md), with the
 * DigitalOcean pieces the roles talk to standing in on the lab network.
 *
 * labUp converges: what exists and runs is kept, what a killed earlier run
 * left half-done is cleaned up and redone, so it is also the way to resume.
 * labDestroy removes everything the lab made on the machine except the
 * caches (/var/cache/ha-wordpress: base image, package pool), which the next
 * lab reuses, and the S3 stand-in's buckets (/var/lib/ha-wordpress/s3/<lab>:
 * the backups), which outlive the lab as a Spaces bucket outlives the
 * droplets; only a purge removes them.
 *
 * Loaded with `await import()` by `up`/`destroy` for the local target only;
 * importing it does nothing by itself.
 */
import { promises as fs, realpathSync } from 'node:fs';
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { UserError } from '../errors.js';
import { httpStatus } from '../net/http-probe.js';
import { ensureLabTls, type LabTls } from './tls.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Logger } from '../ui/logger.js';
import { sleep } from '../util/sleep.js';
import {
  cgroupDirs,
  consoleTail,
  containerArgv,
  containerPaths,
  ensureContainer,
  expireAptLists,
  inContainer,
  killCgroups,
  removeContainer,
  running,
  sshAnswers,
  stopContainer,
} from './containers.js';
import { ensureDaemon, ensureS3Daemon, daemonFiles, stopDaemon, stopS3Daemon, type S3Keys } from './daemon.js';
import { CGROUP_DIR, IMAGES, labDir, labLock, labUpdatesDir, REPOS, S3_ROOT, s3DataDir, STATE_ROOT } from './dirs.js';
import { cgroupLayout, ensureHostPackages, labCheck as check } from './host.js';
import { ensureImage, IMAGE_MARKER, sweepBuilds } from './image.js';
import { ensureBridges, ensureTable, pickOctet, removeNetwork } from './network.js';
import {
  checkShape,
  debianMirrors,
  deliveryAddress,
  droplets,
  haproxyConfig,
  lbServerState,
  LB_HEALTHCHECK_FILE,
  parseLbHealthcheck,
  LB_SITE_PEM,
  labHash,
  labNetNames,
  loadBalancer,
  makePlan,
  parseAptSources,
  type AptSource,
  type Group,
  type LabPlan,
  type LabSizes,
} from './plan.js';
import { recordedSize } from './limits.js';
import { ensureRepo, ensureUpdatesChannel, packageList, publishPointRelease } from './repo.js';
import { readHolder } from './services.js';
import { exists, hostEnv, removeTree, unmountUnder, withLock, type Ctx } from './sys.js';
import { writeAtomic } from '../workspace/files.js';

export interface LabOptions {
  /** Absolute workspace dir; with the project it identifies the lab on this machine. */
  workspace: string;
  project: string;
  webNodes: number;
  dbNodes: number;
  /** Made in every container by cloud-init from the droplets' cloud-config (cloud-init.ts): NOPASSWD sudo, bash, publicKey in authorized_keys. */
  adminUser: string;
  publicKey: string;
  /** The only Bearer token the stand-in API accepts. */
  apiToken: string;
  /**
   * The only key pair the S3 stand-in accepts: the workspace's Spaces keys from
   * the vault. Absent (a workspace made before backups), the lab runs no S3
   * stand-in and says so.
   */
  s3Keys?: S3Keys;
  /** Buckets the S3 stand-in makes at its start (the media bucket: on DigitalOcean terraform makes it). */
  s3Buckets?: string[];
  log: Logger;
  yes: boolean;
  interactive: boolean;
  /** Asked before installing host packages (unless yes). */
  confirm: (message: string) => Promise<boolean>;
  onStatus?: (text: string) => void;
  /** Before a container is made anew, by name: up expects its new SSH host key (the lab's replaced droplet). */
  onCreated?: (name: string) => Promise<void>;
  /** The site's domain: the stand-in load balancer then terminates HTTPS for it with the lab CA's certificate (lab/tls.ts). */
  domain?: string;
  /** The tiers' droplet sizes: each container's memory and CPU limits (limits.ts); absent, none. */
  sizes?: LabSizes;
}

// A type alias, not an interface: it must fit inventory.ts's Record<string, unknown> host vars.
export type LabHostVars = {
  ansible_host: string;
  private_ip: string;
};

export interface LabCluster {
  /** Shaped like terraform's `inventory` output: group → droplet name → addresses. */
  inventory: Record<Group, Record<string, LabHostVars>>;
  /** The stand-in load balancer's address. */
  loadBalancerIp: string;
  /** https://<domain>/ with a domain, else http://<loadBalancerIp>/. */
  siteUrl: string;
  /** With a domain: the lab CA's certificate (PEM), which verifies the site's. */
  caCert?: string;
  dbReservedIp: string;
  /** Base URL of the stand-in DigitalOcean API. */
  apiUrl: string;
  /** Inventory vars the lab needs (`all` group). */
  extraVars: Record<string, unknown>;
  /** Where the time went (ms), for diagnostics and the project's notes; 0 = reused. */
  timings: Record<string, number>;
}

interface LabState {
  version: 1;
  labId: string;
  project: string;
  workspace: string;
  octet: number;
  image: string;
  imageDir: string;
  repoKey: string;
  nodes: string[];
  created: string;
  /** 2: each node has a public and a VPC interface. Absent: a lab made before that, with one. */
  networks?: 2;
}

export async function labCheck(): Promise<string[]> {
  return check();
}

function identity(workspace: string, project: string): { workspace: string; hash: string; labId: string } {
  // The same lab whichever way the workspace path is spelled (symlinks, ./, trailing slash).
  let ws = path.resolve(workspace);
  try {
    ws = realpathSync(ws);
  } catch {
    // a workspace deleted before destroy: its resolved path is all we have
  }
  const hash = labHash(ws, project);
  return { workspace: ws, hash, labId: `${project}-${hash}` };
}

async function readState(labId: string): Promise<LabState | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(path.join(labDir(labId), 'state.json'), 'utf8')) as LabState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

async function hostMirrors() {
  const sources: AptSource[] = [];
  const read = async (file: string, deb822: boolean) => sources.push(...parseAptSources(await fs.readFile(file, 'utf8').catch(() => ''), deb822));
  await read('/etc/apt/sources.list', false);
  for (const f of (await fs.readdir('/etc/apt/sources.list.d').catch(() => [] as string[])).sort()) {
    if (f.endsWith('.list')) await read(path.join('/etc/apt/sources.list.d', f), false);
    else if (f.endsWith('.sources')) await read(path.join('/etc/apt/sources.list.d', f), true);
  }
  return debianMirrors(sources);
}

function newCtx(o: { log: Logger; onStatus?: (t: string) => void }, labId: string): Ctx {
  return { log: o.log, status: o.onStatus ?? (() => undefined), logFile: path.join(labDir(labId), 'lab.log') };
}

/** The layout of this workspace's lab if it exists on this machine (names, addresses, droplet ids), for status/ssh and tests. */
export async function labPlan(o: Pick<LabOptions, 'workspace' | 'project' | 'webNodes' | 'dbNodes' | 'sizes'>): Promise<LabPlan | undefined> {
  const id = identity(o.workspace, o.project);
  const state = await readState(id.labId);
  return state
    ? makePlan({ workspace: id.workspace, project: o.project, webNodes: o.webNodes, dbNodes: o.dbNodes, octet: state.octet, sizes: o.sizes })
    : undefined;
}

/** A running container whose size is not the workspace's any more: up resizes it (stop, new limits, start), gated. */
export interface LabResize {
  name: string;
  /** The size it runs with; 'no limits' for one started before the lab had sizes. */
  from: string;
  to: string;
  tier: Group;
}

/** The running containers a changed web-size, db-size or lb-size resizes; none without a lab. */
export async function labResizes(o: Pick<LabOptions, 'workspace' | 'project' | 'webNodes' | 'dbNodes' | 'sizes'>): Promise<LabResize[]> {
  const plan = await labPlan(o);
  if (!plan) return [];
  const out: LabResize[] = [];
  for (const node of droplets(plan)) {
    if (!node.limits || !node.group || !(await running(plan.labId, node))) continue;
    const was = await recordedSize(plan.labId, node.name);
    if (was !== node.limits.slug) out.push({ name: node.name, from: was || 'no limits', to: node.limits.slug, tier: node.group });
  }
  return out;
}

/**
 * Resizes one running container as DigitalOcean resizes a droplet: a clean shutdown, its new limits, a start; done
 * once it answers SSH again (its services start at its boot; whether its tier has it back is the caller's gate).
 */
export async function labResizeNode(o: LabOptions, name: string): Promise<void> {
  const id = identity(o.workspace, o.project);
  const ctx = newCtx(o, id.labId);
  await withLock(ctx, labLock(id.labId), `the lab ${id.labId}`, async () => {
    const state = await readState(id.labId);
    const plan = state && makePlan({ ...o, workspace: id.workspace, octet: state.octet });
    const node = plan?.nodes.find((n) => n.name === name);
    if (!state || !plan || !node) throw new UserError(`the lab has no ${name} to resize; run \`ha-wordpress up\``);
    const layout = (await cgroupLayout())!;
    await stopContainer(ctx, plan.labId, name, layout);
    await ensureContainer(ctx, { plan, node, imageDir: state.imageDir, layout, adminUser: o.adminUser, publicKey: o.publicKey });
    await waitForSsh(ctx, plan, 1, [node]);
  });
}

/** The containers a lab has now, by name (none when it has no lab). */
const containerNames = (labId: string): Promise<string[]> => fs.readdir(path.join(labDir(labId), 'containers')).catch(() => []);

/** The containers this workspace's lab has now, by name (none when it has no lab). */
export async function labContainers(o: Pick<LabOptions, 'workspace' | 'project'>): Promise<string[]> {
  return containerNames(identity(o.workspace, o.project).labId);
}

export async function labUp(o: LabOptions): Promise<LabCluster> {
  const problems = await check();
  if (problems.length) throw new UserError(problems.join('; '));
  const bad = checkShape(o);
  if (bad) throw new UserError(`${bad}; fix it, then run up again`);
  // makePlan reads the sizes: one the lab cannot turn into limits is refused before anything is made.
  makePlan({ ...o, octet: 1 });
  if (!/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(o.publicKey.trim()))
    throw new UserError("the project's public key is not an OpenSSH public key line: check ssh-key in ha-wordpress.yml");
  const id = identity(o.workspace, o.project);
  const ctx = newCtx(o, id.labId);
  return withLock(ctx, labLock(id.labId), `the lab ${id.labId}`, () => up(ctx, o, id));
}

async function up(ctx: Ctx, o: LabOptions, id: ReturnType<typeof identity>): Promise<LabCluster> {
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - t;
    }
  };
  const started = Date.now();
  await fs.mkdir(labDir(id.labId), { recursive: true, mode: 0o700 });
  ctx.status('lab: checking this machine…');
  await time('hostPackages', () => ensureHostPackages(ctx, o));
  const layout = (await cgroupLayout())!;

  const prev = await readState(id.labId);
  // A lab made before the nodes had two interfaces cannot take them running: every node's private address
  // (Galera's, HAProxy's backends) would change at once. Its data survives a destroy in the backups.
  if (prev && prev.networks !== 2 && (await containerNames(id.labId)).length)
    throw new UserError(
      'this lab was made by an earlier ha-wordpress, with one network interface per node; the nodes now have a public ' +
        'and a VPC interface, as droplets do, and a running lab cannot be moved: run `ha-wordpress destroy --yes` ' +
        '(it takes a final backup), then `ha-wordpress up --restore latest`',
    );
  // Node names do not depend on the subnet.
  const nodeNames = makePlan({ workspace: id.workspace, project: o.project, webNodes: o.webNodes, dbNodes: o.dbNodes, octet: 1 }).nodes.map((n) => n.name);
  const saveState = (octet: number, image: { name: string; dir: string } | undefined, repoKey: string) =>
    writeAtomic(
      path.join(labDir(id.labId), 'state.json'),
      JSON.stringify(
        {
          version: 1,
          labId: id.labId,
          project: o.project,
          workspace: id.workspace,
          octet,
          image: image?.name ?? '',
          imageDir: image?.dir ?? '',
          repoKey,
          nodes: nodeNames,
          created: prev?.created ?? new Date().toISOString(),
          networks: 2,
        } satisfies LabState,
        null,
        2,
      ) + '\n',
      0o600,
    );
  // A new lab claims its subnet at once, under a machine-wide lock, so two labs created at the same time never pick the same one.
  const octet =
    prev?.octet ??
    (await withLock(ctx, path.join(path.dirname(labLock(id.labId)), 'subnets.lock'), 'choosing a lab subnet', async () => {
      const picked = await pickOctet(ctx, id.hash, id.labId);
      await saveState(picked, undefined, '');
      return picked;
    }));
  const plan = makePlan({ workspace: id.workspace, project: o.project, webNodes: o.webNodes, dbNodes: o.dbNodes, octet, sizes: o.sizes });
  const mirrors = await hostMirrors();

  await sweepBuilds(ctx, IMAGES);
  await sweepBuilds(ctx, REPOS);
  // A lab keeps the image its containers were created on (it is their lower layer).
  let image = prev && (await exists(path.join(prev.imageDir, IMAGE_MARKER))) ? { name: prev.image, dir: prev.imageDir } : undefined;
  if (!image) {
    const built = await ensureImage(ctx, mirrors);
    timings.image = built.ms;
    image = built;
  } else timings.image = 0;
  const list = await packageList(id.workspace, PACKAGE_ROOT);
  // The repo is resolved against the image's installed packages: a rebuilt image gets a new repo.
  const imageId = (await fs.readFile(path.join(image.dir, IMAGE_MARKER), 'utf8').catch(() => image!.name)).trim();
  const repo = await ensureRepo(ctx, { image: imageId, imageDir: image.dir, names: list.names, mirrors, keepKeys: prev ? [prev.repoKey] : [] });
  timings.repo = repo.ms;

  // Recorded before anything is created, so destroy (or the next up) finds whatever follows.
  await saveState(octet, image, repo.key);

  ctx.status('lab: network…');
  const files = daemonFiles(id.labId);
  const holder = readHolder(files.holder, plan);
  const holderNode = plan.nodes.find((n) => n.dropletId !== undefined && n.dropletId === holder.dropletId);
  await time('network', async () => {
    await ensureBridges(ctx, plan);
    await ensureTable(ctx, plan, holderNode ? deliveryAddress(holderNode) : undefined);
  });
  const updatesDir = labUpdatesDir(id.labId);
  await ensureUpdatesChannel(ctx, updatesDir);
  await time('services', () =>
    ensureDaemon(ctx, { plan, apiToken: o.apiToken, publicKey: o.publicKey.trim(), repoDir: repo.dir, updatesDir, holderFile: files.holder }),
  );
  await time('s3', async () => {
    if (o.s3Keys) return ensureS3Daemon(ctx, plan, o.s3Keys, o.s3Buckets);
    // Its keys are gone from the vault: a stand-in still running would take keys nobody has any more.
    await stopS3Daemon(id.labId);
    ctx.log.warn(S3_KEYS_MISSING);
  });

  // Nodes the lab no longer has (web-nodes or db-nodes lowered): gone, like terraform would destroy their droplets.
  const wanted = new Set(plan.nodes.map((n) => n.name));
  for (const name of await containerNames(id.labId)) {
    if (wanted.has(name)) continue;
    ctx.log.warn(`lab: removing ${name} (no longer in the cluster's shape)`);
    await removeContainer(ctx, id.labId, name, layout);
  }

  // cgroups of containers that no longer exist (a run killed while removing one).
  for (const root of layout.roots) {
    const base = path.join(root, CGROUP_DIR, id.labId);
    for (const name of await fs.readdir(base).catch(() => [] as string[])) {
      if (!wanted.has(name) && (await fs.stat(path.join(base, name)).catch(() => undefined))?.isDirectory())
        await killCgroups(
          ctx,
          layout,
          layout.roots.map((r) => path.join(r, CGROUP_DIR, id.labId, name)),
        );
    }
  }

  ctx.status('lab: starting containers…');
  const results = await time('containers', () =>
    Promise.all(
      plan.nodes.map((node) =>
        ensureContainer(ctx, {
          plan,
          node,
          imageDir: image!.dir,
          layout,
          adminUser: o.adminUser,
          publicKey: o.publicKey,
          // The stand-in load balancer is not a host of the inventory: nobody checks its key.
          onCreate: o.onCreated && node.dropletId !== undefined ? () => o.onCreated!(node.name) : undefined,
        }),
      ),
    ),
  );
  const startedCount = results.filter((r) => r !== 'running').length;
  // A new package list made a new repository: containers that read the old one would trust their apt
  // lists for another hour (the roles' cache_valid_time) and miss the new packages. A droplet's lists
  // come from Debian's full mirror, so only the lab needs this.
  if (prev && prev.repoKey !== repo.key)
    await Promise.all(plan.nodes.filter((_, i) => results[i] !== 'created').map((node) => expireAptLists(id.labId, node.name)));

  const tls = o.domain ? { domain: o.domain, ...(await ensureLabTls(plan.labId, o.domain)) } : undefined;
  await time('ready', () => Promise.all([waitForSsh(ctx, plan, startedCount), ensureLoadBalancer(ctx, plan, tls)]));
  timings.total = Date.now() - started;
  await fs.appendFile(ctx.logFile!, `labUp timings (ms): ${JSON.stringify(timings)}\n`).catch(() => undefined);
  return { ...cluster(plan, timings, o.domain), ...(tls ? { caCert: tls.caCert } : {}) };
}

export const S3_KEYS_MISSING =
  'lab: the vault has no backup keys (vault_backup_s3_access_key_id, vault_backup_s3_secret_access_key), ' +
  "so the lab's S3 stand-in for Spaces is not started; re-run `ha-wordpress init` to add the backup keys";

/** What labUp returns for a plan; exported for the unit tests. */
export function cluster(plan: LabPlan, timings: Record<string, number>, domain?: string): LabCluster {
  const inventory: LabCluster['inventory'] = { wp_node: {}, galera_cluster_node: {}, galera_loadbalancer: {} };
  for (const n of droplets(plan)) inventory[n.group!][n.name] = { ansible_host: n.ip, private_ip: n.vpcIp };
  const apiUrl = `http://${plan.bridgeIp}:${plan.apiPort}`;
  return {
    inventory,
    loadBalancerIp: loadBalancer(plan).ip,
    siteUrl: domain ? `https://${domain}/` : `http://${loadBalancer(plan).ip}/`,
    dbReservedIp: plan.reservedIp,
    apiUrl,
    extraVars: {
      lab_api_url: apiUrl,
      // The S3 stand-in for Spaces: the backup role's endpoint in the lab (backup_s3_endpoint).
      lab_s3_endpoint: `http://${plan.bridgeIp}:${plan.s3Port}`,
      // Every container sees all of this machine's cores (its CPU limit does not show in /proc/cpuinfo): PHP-FPM is
      // sized for the web droplet size's vCPUs, not for the whole machine (docs/lab.md#sizes).
      wordpress_fpm_cpus: plan.nodes.find((n) => n.role === 'web')?.limits?.cpus ?? 1,
    },
    timings,
  };
}

async function waitForSsh(ctx: Ctx, plan: LabPlan, started: number, nodes = droplets(plan)): Promise<void> {
  const deadline = Date.now() + 180_000;
  const pending = new Set(nodes);
  while (pending.size) {
    ctx.status(`lab: ${nodes.length - pending.size}/${nodes.length} containers answer SSH${started ? '' : ' (already running)'}…`);
    await Promise.all(
      [...pending].map(async (n) => {
        if (await sshAnswers(n.ip, 1500)) pending.delete(n);
      }),
    );
    if (!pending.size) break;
    if (Date.now() > deadline) {
      const n = [...pending][0]!;
      const alive = await running(plan.labId, n);
      throw new UserError(
        `${[...pending].map((x) => x.name).join(', ')} did not answer SSH within 3 minutes ` +
          `(${alive ? 'container running' : 'container not running'}; console: ${await consoleTail(plan.labId, n.name, 3)}); ` +
          `see ${containerPaths(plan.labId, n.name).console}, then run up again`,
      );
    }
    await sleep(300);
  }
}

/** The stand-in for DigitalOcean's load balancer: HAProxy in the `<project>-lb` container, installed from the lab repo. */
async function ensureLoadBalancer(ctx: Ctx, plan: LabPlan, tls?: LabTls & { domain: string }): Promise<void> {
  const lb = loadBalancer(plan);
  const root = containerPaths(plan.labId, lb.name).root;
  const deadline = Date.now() + 180_000;
  let lastErr = '';
  while (!(await exists(path.join(root, 'usr/sbin/haproxy')))) {
    if (Date.now() > deadline) throw new UserError(`HAProxy did not install in ${lb.name} (${lastErr.slice(0, 200)}); see ${ctx.logFile}, then run up again`);
    try {
      // Fails until the container has booted far enough to have its address; retried.
      await inContainer(ctx, plan.labId, lb, ['apt-get', '-q', '-o', 'Acquire::Retries=2', 'update'], { timeoutMs: 60_000 });
      await inContainer(ctx, plan.labId, lb, ['apt-get', '-q', '-y', 'install', 'haproxy'], { timeoutMs: 180_000 });
    } catch (err) {
      lastErr = (err as Error).message;
      await sleep(1000);
    }
  }
  const cfgFile = path.join(root, 'etc/haproxy/haproxy.cfg');
  const pemFile = path.join(root, LB_SITE_PEM.slice(1));
  const check = parseLbHealthcheck(await fs.readFile(path.join(PACKAGE_ROOT, LB_HEALTHCHECK_FILE), 'utf8'));
  const want = haproxyConfig(plan, check, tls);
  let changed = (await fs.readFile(cfgFile, 'utf8').catch(() => '')) !== want;
  if (tls && (await fs.readFile(pemFile, 'utf8').catch(() => '')) !== tls.haproxyPem) {
    await fs.writeFile(pemFile, tls.haproxyPem, { mode: 0o600 });
    changed = true;
  }
  if (changed) await fs.writeFile(cfgFile, want);
  const active = await inContainer(ctx, plan.labId, lb, ['systemctl', 'is-active', '--quiet', 'haproxy'], { okCodes: [1, 3, 4] });
  // A new backend set (a web node added or gone) as DigitalOcean's load balancer takes it: without dropping a
  // connection. Debian's unit runs HAProxy as master and worker; a reload starts a new worker and the old one
  // finishes what it serves. The nodes' check states carry over, and a new node starts DOWN (lbServerState).
  if (active.code !== 0 || changed) await inContainer(ctx, plan.labId, lb, lbServerState(plan, check).argv, { timeoutMs: 30_000 });
  if (active.code !== 0) await inContainer(ctx, plan.labId, lb, ['systemctl', 'restart', 'haproxy'], { timeoutMs: 60_000 });
  else if (changed) await inContainer(ctx, plan.labId, lb, ['systemctl', 'reload', 'haproxy'], { timeoutMs: 60_000 });
  while (!(await httpAnswers(lb.ip, 80))) {
    if (Date.now() > deadline)
      throw new UserError(`the stand-in load balancer (${lb.name}) does not answer on http://${lb.ip}/; see ${ctx.logFile}, then run up again`);
    await sleep(300);
  }
}

async function httpAnswers(host: string, port: number): Promise<boolean> {
  return (await httpStatus({ host, port, timeoutMs: 1500 })) !== 0;
}

/**
 * `purge` (destroy --purge) also removes the S3 stand-in's buckets, the
 * lab's backups; without it they stay for the next lab of this workspace.
 */
export async function labDestroy(o: Pick<LabOptions, 'workspace' | 'project' | 'log' | 'onStatus'> & { purge?: boolean }): Promise<void> {
  if (process.platform !== 'linux') return;
  const id = identity(o.workspace, o.project);
  const ctx = newCtx(o, id.labId);
  const dir = labDir(id.labId);
  const layout = await cgroupLayout();
  const plan = labNetNames(id.hash);
  // Without a state dir there is no log to append to (and writing one would recreate the dir).
  if (!(await exists(dir))) ctx.logFile = undefined;
  await withLock(ctx, labLock(id.labId), `the lab ${id.labId}`, async () => {
    ctx.status('lab: stopping the services daemon and the S3 stand-in…');
    await Promise.all([stopDaemon(id.labId), stopS3Daemon(id.labId)]);
    const state = await readState(id.labId);
    const names = new Set([...(state?.nodes ?? []), ...(await containerNames(id.labId))]);
    ctx.status(`lab: stopping ${names.size} containers…`);
    if (layout) {
      await Promise.all([...names].map((n) => stopContainer(ctx, id.labId, n, layout)));
      // Anything left in the lab's cgroups (a container whose dir was removed by hand).
      await killCgroups(ctx, layout, cgroupDirs(layout, id.labId));
      for (const root of layout.roots) await fs.rmdir(path.join(root, CGROUP_DIR)).catch(() => undefined);
    }
    ctx.status('lab: removing the network…');
    await removeNetwork(ctx, plan);
    ctx.status("lab: removing the containers' files…");
    ctx.logFile = undefined; // the log lives in the dir being removed
    await unmountUnder(ctx, dir);
    await removeTree(ctx, dir);
    await fs.rmdir(STATE_ROOT).catch(() => undefined);
    const data = s3DataDir(id.labId);
    if (!(await exists(data))) return;
    if (o.purge) {
      ctx.status("lab: removing the S3 stand-in's buckets (the backups)…");
      await removeTree(ctx, data);
      await fs.rmdir(S3_ROOT).catch(() => undefined);
      o.log.info(`Removed the lab's backups (${data}).`);
    } else o.log.info(`The lab's backups are kept in ${data} for the next lab of this workspace (destroy --purge removes them).`);
  });
  // Tidy the empty parents too (the lock file went with withLock); other labs' files keep them.
  await fs.rmdir(path.dirname(labLock(id.labId))).catch(() => undefined);
  await fs.rmdir(path.dirname(STATE_ROOT)).catch(() => undefined);
}

/**
 * What `drill` does to a running lab: breaks nodes the way real ones break
 * and runs commands in them. `labUp` is the way back (it starts whatever is
 * stopped), exactly as `up` is after a real outage.
 */
export interface LabControl {
  plan: LabPlan;
  /**
   * Each at once. 'stop': a clean poweroff (the container's systemd stops its services in
   * order, as `shutdown` on a droplet does). 'kill': SIGKILL to every process
   * of the container at once, like pulling the plug: nothing is flushed,
   * nothing says goodbye (no VRRP priority 0, no Galera leave message).
   */
  breakNodes(nodes: { name: string; how: 'stop' | 'kill' }[]): Promise<void>;
  /** Removes these containers with everything on them, as deleting a droplet would; `up` makes them anew. */
  removeNodes(names: string[]): Promise<void>;
  /** Runs argv in a running container as root, to completion. */
  exec(name: string, argv: string[], o?: { input?: string; timeoutMs?: number; okCodes?: number[] }): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Starts argv in a running container as root with piped stdin/stdout, for long-running conversations. */
  spawn(name: string, argv: string[]): Promise<ChildProcess>;
  /**
   * The stand-in reserved-IP API's knobs (docs/lab.md#the-reserved-ip): how long an assign stays in progress,
   * and how many of the next assigns are refused as DigitalOcean refuses one while another is pending.
   */
  reservedIpApi(knobs: ReservedIpKnobs): Promise<ReservedIpKnobs>;
  /** A point release of `pkg` (the version the first node has, rebuilt higher) in the lab's updates channel; its version. */
  publishUpdate(pkg: string): Promise<string>;
}

export interface ReservedIpKnobs {
  delay_ms?: number;
  refuse_next?: number;
  /** First back to the daemon's own settings (an assign in progress for 3 s, nothing refused). */
  reset?: boolean;
}

export async function labControl(
  o: Pick<LabOptions, 'workspace' | 'project' | 'webNodes' | 'dbNodes' | 'log'> & { apiToken?: string },
): Promise<LabControl | undefined> {
  const plan = await labPlan(o);
  const layout = await cgroupLayout();
  if (!plan || !layout) return undefined;
  const ctx = newCtx(o, plan.labId);
  const node = (name: string) => {
    const n = plan.nodes.find((x) => x.name === name);
    if (!n) throw new UserError(`the lab has no node ${name}`);
    return n;
  };
  return {
    plan,
    async breakNodes(nodes) {
      await Promise.all(
        nodes.map(async ({ name, how }) => {
          if (how === 'kill') {
            // The nspawn and the container's init are in the node's cgroups: one write kills them all.
            await killCgroups(ctx, layout, cgroupDirs(layout, plan.labId, node(name).name));
            await stopContainer(ctx, plan.labId, name, layout, 0); // the overlay mount and pid file
          } else await stopContainer(ctx, plan.labId, name, layout);
        }),
      );
    },
    async removeNodes(names) {
      for (const name of names) await removeContainer(ctx, plan.labId, node(name).name, layout);
    },
    exec: (name, argv, opts = {}) => inContainer(ctx, plan.labId, node(name), argv, opts),
    async spawn(name, argv) {
      const r = await running(plan.labId, node(name));
      if (!r) throw new UserError(`${name} is not running; run \`ha-wordpress up\` again`);
      return spawnChild('nsenter', containerArgv(r.init, argv), { stdio: ['pipe', 'pipe', 'pipe'], env: hostEnv() });
    },
    async reservedIpApi(knobs) {
      if (!o.apiToken) throw new UserError("the lab's reserved-IP API needs the workspace's API token");
      const body = JSON.stringify(knobs);
      const r = await fetch(`http://${plan.bridgeIp}:${plan.apiPort}/lab/reserved-ip`, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.apiToken}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5000),
      });
      const text = await r.text();
      if (r.status !== 200) throw new UserError(`the lab's reserved-IP API refused ${body}: ${r.status} ${text.slice(0, 200)}`);
      return JSON.parse(text) as ReservedIpKnobs;
    },
    async publishUpdate(pkg) {
      const first = plan.nodes.find((n) => n.dropletId !== undefined)!;
      const have = await inContainer(ctx, plan.labId, first, ['dpkg-query', '-W', '-f=${Version}', pkg], {});
      return publishPointRelease(ctx, plan.labId, pkg, have.stdout.trim());
    },
  };
}
