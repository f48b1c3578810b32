/**
 * One systemd-nspawn container per node: an overlay of the base image with a
 * per-container upper dir (state survives container restarts, which Galera
 * needs), its own cgroup, and a detached nspawn (docs/lab.md#containers).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { UserError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import { CGROUP_DIR, labDir } from './dirs.js';
import type { CgroupLayout } from './host.js';
import { recordSize, writeLimits } from './limits.js';
import { aptSources, hostsFile, networkdUnits, type LabNode, type LabPlan } from './plan.js';
import { writeSeed } from './cloud-init.js';
import { linkExists } from './network.js';
import {
  alive,
  exists,
  findInit,
  findProcesses,
  hostEnv,
  isOurs,
  killProcesses,
  mountsUnder,
  readPid,
  removeTree,
  run,
  unmountUnder,
  type Ctx,
} from './sys.js';
import { writeAtomic } from '../workspace/files.js';

export interface ContainerPaths {
  dir: string;
  upper: string;
  work: string;
  root: string;
  pidFile: string;
  console: string;
}

export function containerPaths(labId: string, name: string): ContainerPaths {
  const dir = path.join(labDir(labId), 'containers', name);
  return {
    dir,
    upper: path.join(dir, 'upper'),
    work: path.join(dir, 'work'),
    root: path.join(dir, 'root'),
    pidFile: path.join(dir, 'nspawn.pid'),
    console: path.join(dir, 'console.log'),
  };
}

export const cgroupDirs = (layout: CgroupLayout, labId: string, name?: string) =>
  layout.roots.map((r) => path.join(r, CGROUP_DIR, labId, ...(name ? [name] : [])));

/** What identifies this container's nspawn in /proc/<pid>/cmdline. */
const marks = (p: ContainerPaths) => ['systemd-nspawn', `--directory=${p.root}`];

/** The running container's nspawn pid and init pid, or undefined when it is not (fully) running. */
export async function running(labId: string, node: LabNode): Promise<{ nspawn: number; init: number } | undefined> {
  const p = containerPaths(labId, node.name);
  const pid = await readPid(p.pidFile);
  if (!pid || !(await isOurs(pid, marks(p)))) return undefined;
  const init = await findInit(pid);
  return init ? { nspawn: pid, init } : undefined;
}

async function mounted(root: string): Promise<boolean> {
  return (await mountsUnder(root)).includes(root);
}

/**
 * A container before its first boot: what DigitalOcean gives a droplet
 * (identity, network, the apt mirror: here the lab repo) and the user data
 * it boots with. cloud-init in the container then makes the admin user from
 * the droplets' own cloud-config (terraform/cloud-init.yaml.tftpl: NOPASSWD
 * sudo, bash, the key; root refused), and its host keys, as on a droplet
 * (cloud-init.ts).
 */
async function provision(plan: LabPlan, node: LabNode, root: string, user: string, publicKey: string): Promise<void> {
  const at = (p: string) => path.join(root, p);
  await fs.writeFile(at('etc/hostname'), `${node.name}\n`);
  await fs.writeFile(at('etc/hosts'), hostsFile(node));
  await fs.writeFile(at('etc/machine-id'), `${randomBytes(16).toString('hex')}\n`, { mode: 0o444 });
  await fs.mkdir(at('etc/systemd/network'), { recursive: true });
  for (const [name, text] of Object.entries(networkdUnits(plan, node))) await fs.writeFile(at(`etc/systemd/network/${name}`), text);
  await fs.writeFile(at('etc/apt/sources.list'), aptSources(plan));
  for (const f of await fs.readdir(at('etc/apt/sources.list.d')).catch(() => [] as string[])) await fs.rm(at(`etc/apt/sources.list.d/${f}`), { force: true });
  // A new instance id for every container made anew: cloud-init's once-per-instance modules run again.
  await writeSeed(root, { instanceId: `${plan.labId}-${node.name}-${randomBytes(4).toString('hex')}`, hostname: node.name, adminUser: user, publicKey });
}

const PROVISIONED = 'etc/ha-wordpress-lab';

/**
 * A container's later boots skip cloud-init once it finished the first
 * (its boot-finished file): on a droplet they run its stages again on the
 * droplet's own CPU and change nothing, but in the lab every boot shares
 * this machine's cores with the running cluster, and those stages' Python
 * would slow the other nodes during a drill (docs/lab.md#cloud-init).
 */
async function skipCloudInitOnceDone(root: string): Promise<void> {
  if (await exists(path.join(root, 'var/lib/cloud/instance/boot-finished')))
    await fs.writeFile(path.join(root, 'etc/cloud/cloud-init.disabled'), "# ha-wordpress lab: cloud-init ran at this container's first boot.\n");
}

/**
 * Makes a container's apt lists look old, so the roles' next `apt` task (update_cache with
 * cache_valid_time) reads the lab's repository again: Ansible's apt module dates the lists by
 * apt's update-success stamp, else by the lists directory.
 */
export async function expireAptLists(labId: string, name: string): Promise<void> {
  const root = containerPaths(labId, name).root;
  await fs.rm(path.join(root, 'var/lib/apt/periodic/update-success-stamp'), { force: true });
  await fs.utimes(path.join(root, 'var/lib/apt/lists'), 0, 0).catch(() => undefined);
}

export interface StartOptions {
  plan: LabPlan;
  node: LabNode;
  imageDir: string;
  layout: CgroupLayout;
  adminUser: string;
  publicKey: string;
  /** Before a container is made anew (it gets new SSH host keys): awaited, so whoever must know is told before the keys exist. */
  onCreate?: () => Promise<void>;
}

/** Starts the container unless it runs; cleans up what a dead earlier one left (processes, cgroups, mount) first. */
export async function ensureContainer(ctx: Ctx, o: StartOptions): Promise<'running' | 'started' | 'created'> {
  const { plan, node } = o;
  const p = containerPaths(plan.labId, node.name);
  const runs = await running(plan.labId, node);
  if (runs) {
    // Its interfaces on their bridges again, in case an earlier run stopped between the start and the attach.
    await attachVeths(ctx, plan, node, runs.nspawn, p.console);
    return 'running';
  }
  const fresh = !(await exists(path.join(p.upper, PROVISIONED)));
  await stopContainer(ctx, plan.labId, node.name, o.layout);

  // No marker means this container never booted (the marker is written before the first boot), so
  // whatever is in its upper dir is a provisioning a killed run left half done (a user in passwd but
  // not in shadow…): start it over from the image.
  if (fresh) await o.onCreate?.();
  if (fresh) for (const d of [p.upper, p.work]) await removeTree(ctx, d);
  for (const d of [p.upper, p.work, p.root]) await fs.mkdir(d, { recursive: true });
  await run(ctx, 'mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${o.imageDir},upperdir=${p.upper},workdir=${p.work}`, p.root]);
  if (fresh) {
    await provision(plan, node, p.root, o.adminUser, o.publicKey);
    await fs.writeFile(path.join(p.root, PROVISIONED), `${node.name} ${new Date().toISOString()}\n`);
  } else await skipCloudInitOnceDone(p.root);

  // Without a systemd on the host every container would share our cgroup and
  // their systemds would fight over it (status=219/CGROUP): each gets its own,
  // joined by the launcher before it execs nspawn.
  const cgs = cgroupDirs(o.layout, plan.labId, node.name);
  for (const cg of cgs) await fs.mkdir(cg, { recursive: true });
  // Its droplet size, as limits the container starts under (a resize is a stop and a start with new ones).
  if (node.limits) {
    await writeLimits(o.layout, plan.labId, node.name, node.limits);
    await recordSize(plan.labId, node.name, node.limits.slug);
  }
  const args = [
    '--boot',
    `--directory=${p.root}`,
    `--machine=${node.machine}`,
    // Host PID 1 is not systemd here: no machined to register with, no unit to create.
    '--register=no',
    '--keep-unit',
    // A droplet's two interfaces (eth0 public, eth1 VPC); attachVeths puts their host ends on the lab's bridges.
    ...veths(plan, node).map((v) => `--network-veth-extra=${v.host}:${v.inside}`),
    '--console=passive',
    '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
  ];
  // A container killed with its nspawn (cgroup.kill) leaves the host end of
  // its veth until the kernel tears its network namespace down, which can
  // take longer than a quick restart: nspawn then fails with "Failed to add
  // new veth interfaces: File exists". Nothing else owns those names.
  for (const v of veths(plan, node)) await run(ctx, 'ip', ['link', 'delete', v.host]).catch(() => undefined);
  const out = openSync(p.console, 'a');
  try {
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        'for cg; do [ "$cg" = -- ] && break; echo $$ > "$cg/cgroup.procs" || exit 97; shift; done; shift; exec "$@"',
        'launch',
        ...cgs,
        '--',
        'systemd-nspawn',
        ...args,
      ],
      {
        detached: true,
        stdio: ['ignore', out, out],
        env: hostEnv({ SYSTEMD_LOG_LEVEL: 'info' }),
      },
    );
    if (!child.pid) throw new UserError(`could not start systemd-nspawn for ${node.name}; see ${p.console}`);
    child.unref();
    await writeAtomic(p.pidFile, `${child.pid}\n`);
    await attachVeths(ctx, plan, node, child.pid, p.console);
  } finally {
    closeSync(out);
  }
  return fresh ? 'created' : 'started';
}

/** A node's interfaces: the host end's name (≤ 15 characters: the machine name is ≤ 12), its name inside, and its bridge. */
function veths(plan: Pick<LabPlan, 'bridge' | 'vpcBridge'>, node: LabNode) {
  return [
    { host: `vb-${node.machine}`, inside: 'eth0', bridge: plan.bridge },
    { host: `vp-${node.machine}`, inside: 'eth1', bridge: plan.vpcBridge },
  ];
}

/**
 * nspawn makes the veth pairs as it starts the container; their host ends go on the bridges here.
 * Until then the container's networkd sees no carrier and waits, as a droplet does for its link.
 */
async function attachVeths(ctx: Ctx, plan: LabPlan, node: LabNode, pid: number, consoleFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const v of veths(plan, node)) {
    while (!(await linkExists(ctx, v.host))) {
      const up = alive(pid);
      if (!up || Date.now() > deadline) {
        const what = up ? 'made no' : 'exited before making its';
        throw new UserError(`${node.name}: systemd-nspawn ${what} interface ${v.host}; see ${consoleFile}, then run up again`);
      }
      await sleep(50);
    }
    await run(ctx, 'ip', ['link', 'set', v.host, 'master', v.bridge, 'up']);
  }
}

/** Stops a container (clean poweroff, then kill), and removes its cgroups and overlay mount. Idempotent. */
export async function stopContainer(ctx: Ctx, labId: string, name: string, layout: CgroupLayout, graceMs = 20_000): Promise<void> {
  const p = containerPaths(labId, name);
  // By pid file, and by command line for an nspawn whose pid file a killed run never wrote.
  const pid = await readPid(p.pidFile);
  const pids = new Set(await findProcesses(marks(p)));
  if (pid && (await isOurs(pid, marks(p)))) pids.add(pid);
  // SIGTERM makes nspawn ask the container's systemd for a clean poweroff.
  await killProcesses([...pids], graceMs);
  await killCgroups(ctx, layout, cgroupDirs(layout, labId, name));
  await fs.rm(p.pidFile, { force: true });
  if (await mounted(p.root)) await unmountUnder(ctx, p.root);
}

/** Kills everything left in a container's cgroups (an nspawn killed with -9 may leave its payload) and removes the dirs. */
export async function killCgroups(ctx: Ctx, layout: CgroupLayout, dirs: string[]): Promise<void> {
  const unified = dirs.find((d) => d.startsWith(layout.unified + '/'));
  if (unified && (await exists(path.join(unified, 'cgroup.kill')))) {
    const populated = async () => /populated 1/.test(await fs.readFile(path.join(unified, 'cgroup.events'), 'utf8').catch(() => ''));
    if (await populated()) {
      await fs.writeFile(path.join(unified, 'cgroup.kill'), '1').catch(() => undefined);
      for (let i = 0; i < 100 && (await populated()); i++) await sleep(100);
    }
  } else {
    // No cgroup.kill (kernel < 5.14): SIGKILL what the cgroups list, a few rounds.
    for (let round = 0; round < 10; round++) {
      const pids = (await Promise.all(dirs.map((d) => procsUnder(d)))).flat();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(200);
    }
  }
  for (const d of dirs) await rmdirTree(d);
}

async function procsUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  const txt = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  out.push(...txt.split('\n').filter(Boolean).map(Number));
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) out.push(...(await procsUnder(path.join(dir, e.name))));
  return out;
}

/** cgroup dirs go with rmdir, deepest first (their files cannot be unlinked). */
export async function rmdirTree(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await rmdirTree(path.join(dir, e.name));
  for (let i = 0; i < 20; i++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
      await sleep(100);
    }
  }
}

/** Removes a container entirely (a node the lab no longer has). */
export async function removeContainer(ctx: Ctx, labId: string, name: string, layout: CgroupLayout): Promise<void> {
  await stopContainer(ctx, labId, name, layout);
  await removeTree(ctx, containerPaths(labId, name).dir);
}

/** Runs a command inside a running container (machinectl does not work without a host systemd). */
export async function inContainer(ctx: Ctx, labId: string, node: LabNode, argv: string[], o: { timeoutMs?: number; okCodes?: number[]; input?: string } = {}) {
  const r = await running(labId, node);
  if (!r) throw new UserError(`${node.name} is not running; run \`ha-wordpress up\` again`);
  return run(ctx, 'nsenter', containerArgv(r.init, argv), o);
}

/** nsenter's arguments for argv inside the container whose init is `init`: its namespaces, a clean environment. */
export function containerArgv(init: number, argv: string[]): string[] {
  return [
    '-t',
    String(init),
    '-m',
    '-u',
    '-i',
    '-n',
    '-p',
    '--',
    '/usr/bin/env',
    '-i',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LANG=C.UTF-8',
    'DEBIAN_FRONTEND=noninteractive',
    ...argv,
  ];
}

/** Resolves once `ip:port` answers with an SSH banner. */
export async function sshAnswers(ip: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port: 22 });
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      clearTimeout(t);
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('SSH-')) done(true);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(buf.includes('SSH-')));
  });
}

export async function consoleTail(labId: string, name: string, lines = 5): Promise<string> {
  const text = await fs.readFile(containerPaths(labId, name).console, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join(' | ');
}
