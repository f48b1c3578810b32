/**
 * What this machine must offer before a lab can run: Linux, root, a usable
 * cgroup layout, overlayfs, and a few Debian packages (installed on consent).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { exists, hostEnv, run, type Ctx } from './sys.js';

/** Debian packages the host needs, with what each is for (named in the consent question). */
export const HOST_PACKAGES: Record<string, string> = {
  debootstrap: 'builds the Debian 12 image',
  'systemd-container': 'systemd-nspawn runs the containers',
  'dpkg-dev': "dpkg-scanpackages indexes the lab's package repository",
  nftables: 'the reserved IP and metadata address translation',
  iproute2: 'the lab bridge',
  conntrack: 'drops old connections when the reserved IP moves',
  'debian-archive-keyring': 'verifies the Debian packages the lab downloads',
};

export interface CgroupLayout {
  /** Directories (one per mounted hierarchy that container systemds use) under which each container gets its own cgroup. */
  roots: string[];
  /** The cgroup v2 root, whose `cgroup.kill` stops a whole container at once. */
  unified: string;
  /**
   * Where a container's memory and CPU limits (its droplet size, limits.ts) are written: `v2` in its unified cgroup;
   * `v1` in the memory and cpu hierarchies at these roots (a hybrid host binds those controllers to v1; the roots are
   * then among `roots`). Undefined: this machine offers neither, and the containers run without limits.
   */
  limits?: { kind: 'v2' } | { kind: 'v1'; memory: string; cpu: string };
}

/** The cgroup v1 hierarchies a hybrid host's containers join for their limits (the memory and the CPU bandwidth). */
const V1_LIMIT_ROOTS = { memory: '/sys/fs/cgroup/memory', cpu: '/sys/fs/cgroup/cpu' };

/** Hybrid (v1 name=systemd and controllers + v2 at unified/, as on these machines) or pure v2. */
export async function cgroupLayout(): Promise<CgroupLayout | undefined> {
  const controllers = async (dir: string) => (await fs.readFile(path.join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/);
  if (await exists('/sys/fs/cgroup/cgroup.controllers')) {
    const v2 = await controllers('/sys/fs/cgroup');
    const limits = v2.includes('memory') && v2.includes('cpu') ? { limits: { kind: 'v2' as const } } : {};
    return { roots: ['/sys/fs/cgroup'], unified: '/sys/fs/cgroup', ...limits };
  }
  if (await exists('/sys/fs/cgroup/unified/cgroup.procs')) {
    const roots = ['/sys/fs/cgroup/unified'];
    if (await exists('/sys/fs/cgroup/systemd/cgroup.procs')) roots.unshift('/sys/fs/cgroup/systemd');
    const v1 = (await exists(path.join(V1_LIMIT_ROOTS.memory, 'memory.limit_in_bytes'))) && (await exists(path.join(V1_LIMIT_ROOTS.cpu, 'cpu.cfs_quota_us')));
    return {
      roots: v1 ? [...roots, V1_LIMIT_ROOTS.memory, V1_LIMIT_ROOTS.cpu] : roots,
      unified: '/sys/fs/cgroup/unified',
      ...(v1 ? { limits: { kind: 'v1' as const, ...V1_LIMIT_ROOTS } } : {}),
    };
  }
  return undefined;
}

export async function labCheck(): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') return ['the local target needs Linux (it runs systemd-nspawn containers): use --target digitalocean on this machine'];
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    problems.push('the local target needs root (it creates a bridge, mounts and containers): run ha-wordpress with sudo');
  if (!(await cgroupLayout()))
    problems.push(
      'the local target needs cgroup v2 mounted (at /sys/fs/cgroup or /sys/fs/cgroup/unified): ' +
        'mount it (mount -t cgroup2 none /sys/fs/cgroup/unified) or boot with systemd.unified_cgroup_hierarchy',
    );
  const fsTypes = await fs.readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\boverlay\b/.test(fsTypes)) {
    // overlay may be a module not yet loaded; modprobe is the fix either way.
    if (!(await exists('/sys/module/overlay')) && !(await hasModule('overlay')))
      problems.push('the local target needs overlayfs: load it (modprobe overlay), then run the command again');
  }
  if (!(await exists('/usr/bin/apt-get')) && !(await exists('/usr/bin/dpkg-query'))) {
    const missing = await missingCommands();
    if (missing.length)
      problems.push(
        `the local target needs ${missing.join(', ')}, which this machine lacks and cannot install with apt-get: install them with your package manager`,
      );
  }
  return problems;
}

async function hasModule(name: string): Promise<boolean> {
  const release = (await fs.readFile('/proc/sys/kernel/osrelease', 'utf8').catch(() => '')).trim();
  const dep = await fs.readFile(`/lib/modules/${release}/modules.dep`, 'utf8').catch(() => '');
  return new RegExp(`/${name}\\.ko`).test(dep);
}

async function missingCommands(): Promise<string[]> {
  const cmds = {
    debootstrap: 'debootstrap',
    'systemd-nspawn': 'systemd-nspawn',
    'dpkg-scanpackages': 'dpkg-scanpackages',
    nft: 'nft',
    ip: 'ip',
    conntrack: 'conntrack',
  };
  const out: string[] = [];
  for (const c of Object.keys(cmds)) {
    const found = await Promise.all(['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'].map((d) => exists(`${d}/${c}`)));
    if (!found.some(Boolean)) out.push(c);
  }
  return out;
}

/** Packages from HOST_PACKAGES that dpkg does not report as fully installed. */
export async function missingPackages(ctx: Ctx): Promise<string[]> {
  const names = Object.keys(HOST_PACKAGES);
  const r = await run(ctx, 'dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { okCodes: [1] });
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter((f) => f[1] === 'installed')
      .map((f) => f[0]),
  );
  return names.filter((n) => !installed.has(n));
}

export interface Consent {
  yes: boolean;
  interactive: boolean;
  confirm: (message: string) => Promise<boolean>;
}

export async function ensureHostPackages(ctx: Ctx, consent: Consent): Promise<void> {
  if (!(await exists('/usr/bin/dpkg-query')) || !(await exists('/usr/bin/apt-get'))) {
    // Not a Debian-family host: the tools must come from its own package manager.
    const missing = await missingCommands();
    if (missing.length)
      throw new UserError(`the local lab needs ${missing.join(', ')} on this machine: install them with your package manager, then run the command again`);
    return;
  }
  const missing = await missingPackages(ctx);
  if (missing.length === 0) return;
  const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!consent.yes) {
    if (!consent.interactive)
      throw new UserError(
        `the local lab needs Debian packages on this machine: ${missing.join(', ')}; ` +
          `install them (${cmd}) or run again with --yes to let ha-wordpress install them`,
      );
    const why = missing.map((m) => `${m} (${HOST_PACKAGES[m]})`).join(', ');
    if (!(await consent.confirm(`The local lab needs these packages on this machine: ${why}. Install them now with apt-get?`)))
      throw new UserError(`the local lab needs ${missing.join(', ')}: install them (${cmd}), then run the command again`);
  }
  ctx.status(`installing ${missing.join(', ')} on this machine…`);
  ctx.log.info(`Installing host packages for the lab: ${missing.join(', ')}`);
  // Wait for another apt (unattended-upgrades, a colleague) rather than fail on its lock.
  const apt = (args: string[]) => run(ctx, 'apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { timeoutMs: 20 * 60_000, env: hostEnv() });
  try {
    await apt(['install', '-y', '--no-install-recommends', ...missing]);
  } catch {
    // Most often the package lists are missing or stale on a fresh machine.
    await apt(['update']);
    await apt(['install', '-y', '--no-install-recommends', ...missing]).catch((err: Error) => {
      throw new UserError(`could not install ${missing.join(', ')} (${err.message.slice(0, 300)}); install them by hand (${cmd}), then run the command again`);
    });
  }
  const still = await missingPackages(ctx);
  if (still.length)
    throw new UserError(`${still.join(', ')} did not install; install by hand (apt-get install ${still.join(' ')}), then run the command again`);
}
