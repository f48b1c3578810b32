/**
 * Droplet sizes in the lab (src/lab/limits.ts): a slug's vCPUs and memory, and
 * the cgroup files a container's limits go to on a cgroup v2 host and on a
 * hybrid one (v1 memory and cpu), written into directory trees that stand for
 * the hierarchies. The lab test resizes real containers and reads the limit
 * from inside them.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CGROUP_DIR } from '../src/lab/dirs.js';
import { limitsOf, otherSize, sizeLimits, writeLimits } from '../src/lab/limits.js';

describe('sizeLimits', () => {
  it("reads a slug's vCPUs and memory", () => {
    expect(sizeLimits('s-1vcpu-2gb')).toEqual({ slug: 's-1vcpu-2gb', cpus: 1, memoryMiB: 2048 });
    expect(sizeLimits('s-2vcpu-4gb')).toEqual({ slug: 's-2vcpu-4gb', cpus: 2, memoryMiB: 4096 });
    expect(sizeLimits('s-1vcpu-512mb-10gb')).toEqual({ slug: 's-1vcpu-512mb-10gb', cpus: 1, memoryMiB: 512 });
    expect(sizeLimits('g-2vcpu-8gb')).toEqual({ slug: 'g-2vcpu-8gb', cpus: 2, memoryMiB: 8192 });
    expect(sizeLimits('s-4vcpu-8gb-amd')).toEqual({ slug: 's-4vcpu-8gb-amd', cpus: 4, memoryMiB: 8192 });
  });

  it("drill's resize-db goes to the same vCPUs with half the memory (twice it below 2 GiB), and back", () => {
    expect(otherSize('s-2vcpu-4gb')).toBe('s-2vcpu-2gb');
    expect(otherSize('s-1vcpu-2gb')).toBe('s-1vcpu-1gb');
    expect(otherSize('s-1vcpu-1gb')).toBe('s-1vcpu-2gb');
    expect(otherSize('s-1vcpu-512mb-10gb')).toBe('s-1vcpu-1gb');
    expect(otherSize('g-4vcpu-16gb')).toBe('s-4vcpu-8gb');
  });

  it('has nothing for a slug that does not say them; limitsOf names the flag', () => {
    expect(sizeLimits('c-2')).toBeUndefined();
    expect(sizeLimits('s-0vcpu-1gb')).toBeUndefined();
    expect(() => limitsOf('c-2', 'db-size')).toThrow(/^--db-size c-2: the lab cannot tell this size's vCPUs and memory from its name; .*init --db-size <slug>/);
  });
});

describe('writeLimits', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-limits-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const limits = { slug: 's-1vcpu-2gb', cpus: 1, memoryMiB: 2048 };
  /** A cgroup directory with the files writeLimits writes (a real hierarchy has them; a plain one needs them made). */
  const cgroup = (at: string, files: string[]) => {
    mkdirSync(at, { recursive: true });
    for (const f of files) writeFileSync(path.join(at, f), '');
  };

  it('v2: memory.max and cpu.max in the container cgroup, both controllers enabled on the way down to it', async () => {
    const unified = path.join(dir, 'v2');
    const chain = [unified, path.join(unified, CGROUP_DIR), path.join(unified, CGROUP_DIR, 'shop-abc')];
    for (const c of chain) cgroup(c, ['cgroup.subtree_control']);
    const own = path.join(unified, CGROUP_DIR, 'shop-abc', 'shop-db-01');
    cgroup(own, ['memory.max', 'cpu.max']);
    await writeLimits({ roots: [unified], unified, limits: { kind: 'v2' } }, 'shop-abc', 'shop-db-01', limits);
    for (const c of chain) expect(readFileSync(path.join(c, 'cgroup.subtree_control'), 'utf8'), c).toBe('+memory +cpu');
    expect(readFileSync(path.join(own, 'memory.max'), 'utf8')).toBe(String(2 * 1024 ** 3));
    expect(readFileSync(path.join(own, 'cpu.max'), 'utf8')).toBe('100000 100000');
  });

  it('v1 (a hybrid host): memory.limit_in_bytes, and a CFS quota of one period per vCPU', async () => {
    const memory = path.join(dir, 'memory');
    const cpu = path.join(dir, 'cpu');
    cgroup(path.join(memory, CGROUP_DIR, 'shop-abc', 'shop-wp-01'), ['memory.limit_in_bytes']);
    cgroup(path.join(cpu, CGROUP_DIR, 'shop-abc', 'shop-wp-01'), ['cpu.cfs_period_us', 'cpu.cfs_quota_us']);
    const layout = { roots: [memory, cpu], unified: path.join(dir, 'unified'), limits: { kind: 'v1' as const, memory, cpu } };
    await writeLimits(layout, 'shop-abc', 'shop-wp-01', { ...limits, cpus: 2 });
    const read = (root: string, f: string) => readFileSync(path.join(root, CGROUP_DIR, 'shop-abc', 'shop-wp-01', f), 'utf8');
    expect(read(memory, 'memory.limit_in_bytes')).toBe(String(2 * 1024 ** 3));
    expect(read(cpu, 'cpu.cfs_period_us')).toBe('100000');
    expect(read(cpu, 'cpu.cfs_quota_us')).toBe('200000');
  });

  it('no limits where the machine offers none', async () => {
    const unified = path.join(dir, 'none');
    cgroup(path.join(unified, CGROUP_DIR, 'shop-abc', 'shop-db-01'), []);
    await writeLimits({ roots: [unified], unified }, 'shop-abc', 'shop-db-01', limits);
    expect(() => readFileSync(path.join(unified, CGROUP_DIR, 'shop-abc', 'shop-db-01', 'memory.max'))).toThrow(/ENOENT/);
  });
});
