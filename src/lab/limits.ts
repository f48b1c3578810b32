/**
 * A droplet size in the lab: the container's memory and CPU limits
 * (docs/lab.md#sizes). A droplet of `s-1vcpu-2gb` has one vCPU and 2 GiB; its
 * container may use one core's time and 2 GiB. Changing a size is a resize as
 * on DigitalOcean: the container is stopped, its limits changed, and started
 * again, one node at a time (commands/resize.ts rollResizes).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { writeAtomic } from '../workspace/files.js';
import { CGROUP_DIR, labDir } from './dirs.js';
import type { CgroupLayout } from './host.js';

export interface Limits {
  /** The droplet size slug the limits stand for. */
  slug: string;
  memoryMiB: number;
  cpus: number;
}

/**
 * The vCPUs and memory a size slug names (`s-1vcpu-2gb`, `s-1vcpu-512mb-10gb`, `g-2vcpu-8gb`…), or undefined for a
 * slug that does not say them (`c-2`).
 */
export function sizeLimits(slug: string): Limits | undefined {
  const m = /(?:^|-)(\d+)vcpu-(\d+)(gb|mb)(?:-|$)/.exec(slug);
  if (!m) return undefined;
  const cpus = Number(m[1]);
  const memoryMiB = Number(m[2]) * (m[3] === 'gb' ? 1024 : 1);
  return cpus > 0 && memoryMiB > 0 ? { slug, cpus, memoryMiB } : undefined;
}

/** sizeLimits, or the one-line error naming the flag that set the size. */
export function limitsOf(slug: string, flag: string): Limits {
  const l = sizeLimits(slug);
  if (!l)
    throw new UserError(
      `--${flag} ${slug}: the lab cannot tell this size's vCPUs and memory from its name; ` +
        `choose a size that says them (s-1vcpu-2gb), then run \`ha-wordpress init --${flag} <slug>\``,
    );
  return l;
}

/** A size of the same vCPUs and half the memory (twice it, below 2 GiB): what a resize there and back goes through. */
export function otherSize(slug: string): string {
  const l = limitsOf(slug, 'db-size');
  const mib = l.memoryMiB >= 2048 ? l.memoryMiB / 2 : l.memoryMiB * 2;
  return `s-${l.cpus}vcpu-${mib % 1024 === 0 ? `${mib / 1024}gb` : `${mib}mb`}`;
}

/** CFS period: the quota is this many µs of CPU time per period for each vCPU. */
const CPU_PERIOD_US = 100_000;

/**
 * Writes a container's limits into its cgroups, which must exist and not yet hold it (its launcher joins them
 * next). v2: memory.max and cpu.max, with the two controllers enabled down to the lab's directory; v1: the memory
 * and cpu hierarchies' own files.
 */
export async function writeLimits(layout: CgroupLayout, labId: string, name: string, limits: Limits): Promise<void> {
  const bytes = String(limits.memoryMiB * 1024 * 1024);
  const quota = String(limits.cpus * CPU_PERIOD_US);
  if (layout.limits?.kind === 'v2') {
    const chain = [layout.unified, path.join(layout.unified, CGROUP_DIR), path.join(layout.unified, CGROUP_DIR, labId)];
    for (const dir of chain) await fs.writeFile(path.join(dir, 'cgroup.subtree_control'), '+memory +cpu');
    const own = path.join(layout.unified, CGROUP_DIR, labId, name);
    await fs.writeFile(path.join(own, 'memory.max'), bytes);
    await fs.writeFile(path.join(own, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
  } else if (layout.limits?.kind === 'v1') {
    const memory = path.join(layout.limits.memory, CGROUP_DIR, labId, name);
    const cpu = path.join(layout.limits.cpu, CGROUP_DIR, labId, name);
    await fs.writeFile(path.join(memory, 'memory.limit_in_bytes'), bytes);
    await fs.writeFile(path.join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    await fs.writeFile(path.join(cpu, 'cpu.cfs_quota_us'), quota);
  }
}

/** Where a container records the size it was last started with. */
const sizeFile = (labId: string, name: string) => path.join(labDir(labId), 'containers', name, 'size');

/** The size a container was last started with: '' for one started before the lab had sizes (no limits). */
export async function recordedSize(labId: string, name: string): Promise<string> {
  return (await fs.readFile(sizeFile(labId, name), 'utf8').catch(() => '')).trim();
}

export async function recordSize(labId: string, name: string, slug: string): Promise<void> {
  await writeAtomic(sizeFile(labId, name), `${slug}\n`, 0o644);
}
