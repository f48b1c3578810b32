/**
 * `ha-wordpress upgrade` rolls through the nodes one at a time
 * (src/commands/upgrade.ts): the order, the steps on each node, and where it
 * stops. The nodes and their SSH are a recorder here; the lab test upgrades
 * every node of a running cluster under traffic.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assess, table, type NodeStatus } from '../src/commands/status.js';
import { BRING_BACK, TAKE_OUT } from '../src/commands/tiers.js';
import { APPLY_UPDATES, parsePending, planLines, rollUpgrade, upgradeOrder, type NodePlan, type UpgradeRun } from '../src/commands/upgrade.js';
import type { Host } from '../src/workspace/inventory.js';
import { dbNode, lbNode, webNode } from './support/cluster.js';
import { needs } from './support/tools.js';

const ctx = { reservedIp: '203.0.113.50', url: 'http://shop.example.com/', siteAnswers: true, dbNodes: 3 };
const nodes = () => [webNode(1), webNode(2), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)];
const host = (n: NodeStatus) => ({ name: n.name, group: n.group, address: n.address, port: 22 }) as NodePlan['host'];
const plan = (n: NodeStatus, packages = ['libssl3'], reboot = false): NodePlan => ({ host: host(n), packages, security: [], reboot });

/** A cluster whose nodes answer as `state` says: a node in `out` is taken out (nginx, HAProxy or MariaDB stopped). */
function fakeCluster(o: { neverBack?: string; applyFails?: string } = {}) {
  const out = new Set<string>();
  const ran: string[] = [];
  const status = () =>
    assess(
      nodes().map((n) => {
        if (!out.has(n.name)) return n;
        if (n.group === 'wp_node') return { ...n, services: { ...n.services, nginx: 'inactive' }, healthz: 0 };
        if (n.group === 'galera_cluster_node') return { ...n, services: { mariadb: 'inactive' }, galera: undefined };
        return { ...n, services: { haproxy: 'inactive', keepalived: 'inactive' }, holds_reserved_ip: false };
      }),
      ctx,
    );
  const run: Omit<UpgradeRun, 'nodes'> = {
    probe: async () => status(),
    exec: async (h: Host, command: string) => {
      ran.push(`${h.name}: ${command}`);
      if (command === TAKE_OUT[h.group as keyof typeof TAKE_OUT]) out.add(h.name);
      if (command === BRING_BACK[h.group as keyof typeof BRING_BACK] && h.name !== o.neverBack) out.delete(h.name);
      if (command.includes(APPLY_UPDATES) && h.name === o.applyFails)
        return { code: 100, stdout: '', stderr: 'E: Sub-process /usr/bin/dpkg returned an error code (1)' };
      return { code: 0, stdout: '', stderr: '' };
    },
    reboot: async (h) => {
      ran.push(`${h.name}: reboot`);
      out.delete(h.name);
    },
    lbRiseMs: 0,
    resume: 'ha-wordpress upgrade',
    progress: () => {},
    backWithinMs: 50,
    everyMs: 1,
  };
  return { run, ran, out };
}

describe('upgradeOrder', () => {
  it('web nodes, the HAProxy node without the reserved IP, its holder, the Galera nodes with the writer last', () => {
    const all = nodes().map((n) => plan(n));
    const order = upgradeOrder(all, { writer: 's-db-01', holder: 's-dblb-01' }).map((p) => p.host.name);
    expect(order).toEqual(['s-wp-01', 's-wp-02', 's-dblb-02', 's-dblb-01', 's-db-02', 's-db-03', 's-db-01']);
  });
});

describe('rollUpgrade', () => {
  it('each node: taken out, upgraded, its services back, the cluster healthy again before the next; nodes with nothing to do are not in the plan', async () => {
    const { run, ran } = fakeCluster();
    const todo = [plan(webNode(2)), plan(dbNode(1)), plan(lbNode(1)), plan(dbNode(3), ['mariadb-server', 'galera-4'])];
    const done = await rollUpgrade({ ...run, nodes: todo });
    expect(done.map((d) => [d.name, d.packages, d.action])).toEqual([
      ['s-wp-02', 1, 'restarted'],
      ['s-dblb-01', 1, 'restarted'],
      ['s-db-03', 2, 'restarted'],
      ['s-db-01', 1, 'restarted'],
    ]);
    expect(ran).toEqual(
      ['s-wp-02', 's-dblb-01', 's-db-03', 's-db-01'].flatMap((name) => {
        const group = todo.find((t) => t.host.name === name)!.host.group;
        return [`${name}: ${TAKE_OUT[group]}`, `${name}: sudo -n ${APPLY_UPDATES}`, `${name}: ${BRING_BACK[group]}`];
      }),
    );
  });

  it('a node whose update asks for a reboot (or that waited for one) is rebooted instead of having its services restarted', async () => {
    const { run, ran } = fakeCluster();
    const reboots = {
      ...run,
      exec: async (h: Host, c: string, t: number) =>
        c.includes(APPLY_UPDATES) ? (await run.exec(h, c, t), { code: 0, stdout: 'reboot\n', stderr: '' }) : run.exec(h, c, t),
    };
    const done = await rollUpgrade({ ...reboots, nodes: [plan(webNode(1)), plan(dbNode(2), [], true)] });
    expect(done.map((d) => d.action)).toEqual(['rebooted', 'rebooted']);
    // No package: nothing to apply, straight to the reboot.
    expect(ran.filter((l) => l.startsWith('s-db-02'))).toEqual([`s-db-02: ${TAKE_OUT.galera_cluster_node}`, 's-db-02: reboot']);
    expect(ran.some((l) => l.includes(BRING_BACK.wp_node))).toBe(false);
  });

  it('refuses before touching anything when the cluster is not healthy', async () => {
    const { run, ran } = fakeCluster();
    const sick = { ...run, probe: async () => assess([webNode(1, { healthz: 502 }), webNode(2), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)], ctx) };
    await expect(rollUpgrade({ ...sick, nodes: [plan(webNode(2))] })).rejects.toThrow(
      /^nothing was upgraded: the cluster is not healthy \(s-wp-01.*run `ha-wordpress upgrade`$/,
    );
    expect(ran).toEqual([]);
  });

  it('stops at the first node that does not come back, naming it and the untouched rest; nothing after it is touched', async () => {
    const { run, ran } = fakeCluster({ neverBack: 's-db-02' });
    const todo = [plan(webNode(1)), plan(dbNode(2)), plan(dbNode(3))];
    await expect(rollUpgrade({ ...run, nodes: todo })).rejects.toThrow(
      /^s-db-02 was upgraded but the cluster is not healthy .* later \(.*\); s-db-03 untouched: once `ha-wordpress status` says healthy, run `ha-wordpress/,
    );
    expect(ran.some((l) => l.startsWith('s-db-03'))).toBe(false);
  });

  it('a failed apt brings the node back as it was and stops there', async () => {
    const { run, ran, out } = fakeCluster({ applyFails: 's-wp-01' });
    await expect(rollUpgrade({ ...run, nodes: [plan(webNode(1)), plan(webNode(2))] })).rejects.toThrow(
      /^the upgrade failed on s-wp-01 \(E: Sub-process \/usr\/bin\/dpkg returned an error code \(1\)\); its services were started again; s-wp-02 untouched/,
    );
    expect(out.size).toBe(0);
    expect(ran.at(-1)).toBe(`s-wp-01: ${BRING_BACK.wp_node}`);
  });

  it('Ctrl-C stops after the node in progress is back and healthy, saying how to go on', async () => {
    const { run, ran } = fakeCluster();
    let asked = false;
    const exec: UpgradeRun['exec'] = async (h, c, t) => {
      if (c.includes(APPLY_UPDATES)) asked = true; // Ctrl-C while the first node upgrades
      return run.exec(h, c, t);
    };
    await expect(rollUpgrade({ ...run, exec, stopRequested: () => asked, nodes: [plan(webNode(1)), plan(webNode(2))] })).rejects.toThrow(
      'upgrade stopped at Ctrl-C after s-wp-01, which is back and healthy; s-wp-02 untouched: run `ha-wordpress upgrade` to go on',
    );
    expect(ran.filter((l) => l.startsWith('s-wp-01'))).toHaveLength(3);
    expect(ran.some((l) => l.startsWith('s-wp-02'))).toBe(false);
  });
});

describe("a node's pending updates", () => {
  it('reads the report pending-updates prints; a node without the program is told to run up first', () => {
    const report = { checked: '2026-12-02T10:00:00+00:00', packages: [{ name: 'nginx', security: true }, { name: 'tzdata' }] };
    expect(parsePending('s-wp-01', { code: 0, stdout: `${JSON.stringify(report)}\n`, stderr: '' })).toEqual({
      packages: ['nginx', 'tzdata'],
      security: ['nginx'],
    });
    expect(() => parsePending('s-wp-01', { code: 1, stdout: '', stderr: 'sudo: /usr/local/lib/ha-wordpress/pending-updates: command not found' })).toThrow(
      /^s-wp-01 has no .*pending-updates: run `ha-wordpress up` first/,
    );
    expect(() => parsePending('s-wp-01', { code: 1, stdout: '', stderr: 'apt-get update failed: E: Could not get lock' })).toThrow(
      's-wp-01: reading its package lists failed (apt-get update failed: E: Could not get lock); nothing was changed',
    );
  });

  it('the plan names each node, its packages and what follows, and status shows them without calling the cluster degraded', () => {
    const lines = planLines([plan(webNode(1), ['nginx', 'nginx-common', 'libssl3', 'openssl', 'tzdata']), plan(dbNode(1), [], true)]);
    expect(lines[0]).toBe('  s-wp-01  web      5 packages: nginx, nginx-common, libssl3, openssl, …; then its services restarted (~45 s)');
    expect(lines[1]).toBe('  s-db-01  galera   no package; then a reboot (~135 s)');
    const s = assess(
      [webNode(1, { pending_updates: { packages: ['nginx'], security: ['nginx'] } }), webNode(2), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)],
      ctx,
    );
    expect(s.healthy).toBe(true);
    const t = table(s).join('\n');
    expect(t).toContain('1 update pending (1 security)');
    expect(t).toContain('updates pending  s-wp-01 (1), security updates among them: `ha-wordpress upgrade` applies them one node at a time');
  });
});

// The common role's hold list, read by apt's own parser from the file the role writes, matched as unattended-upgrades
// matches it (Python's re.match on the package name): every package whose scripts restart a cluster service is held,
// nothing else is.
needs('apt-config', 'python3').it("unattended-upgrades leaves the cluster's services to upgrade and nothing else", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-uu-'));
  const render = spawnSync(
    'python3',
    [
      '-c',
      [
        'import sys, yaml, jinja2',
        "d = yaml.safe_load(open('ansible/roles/common/defaults/main.yml'))",
        'e = jinja2.Environment(trim_blocks=True)',
        // Ansible's own filters that the template uses.
        "e.filters['comment'] = lambda s, style: '// ' + s",
        "e.filters['bool'] = lambda v: str(v).lower() in ('1', 'true', 'yes', 'on')",
        "t = e.from_string(open('ansible/roles/common/templates/52ha-wordpress-unattended-upgrades.j2').read())",
        "sys.stdout.write(t.render(ansible_managed='managed', common_unattended_upgrades=True, common_unattended_reboot=False, " +
          "common_unattended_hold=d['common_unattended_hold']))",
      ].join('\n'),
    ],
    { encoding: 'utf8' },
  );
  expect(render.stderr).toBe('');
  const file = path.join(dir, 'uu.conf');
  writeFileSync(file, render.stdout);
  const dump = spawnSync('apt-config', ['-c', file, 'dump', 'Unattended-Upgrade::Package-Blacklist'], { encoding: 'utf8' });
  expect(dump.status, dump.stderr).toBe(0);
  const patterns = [...dump.stdout.matchAll(/^Unattended-Upgrade::Package-Blacklist:: "(.*)";$/gm)].map((m) => m[1]!);
  expect(patterns.length).toBeGreaterThan(5);
  const held = (name: string) =>
    spawnSync(
      'python3',
      ['-c', 'import re, sys, json; print(any(re.match(p, sys.argv[2]) for p in json.loads(sys.argv[1])))', JSON.stringify(patterns), name],
      {
        encoding: 'utf8',
      },
    ).stdout.trim() === 'True';
  for (const p of [
    'mariadb-server',
    'mariadb-client',
    'mariadb-backup',
    'mariadb-common',
    'galera-4',
    'haproxy',
    'keepalived',
    'nginx',
    'nginx-common',
    'php8.2-fpm',
    'php8.2-mysql',
    'libmariadb3',
  ])
    expect(held(p), p).toBe(true);
  for (const p of [
    'openssl',
    'libssl3',
    'openssh-server',
    'sudo',
    'curl',
    'tzdata',
    'libc6',
    'haproxy-doc',
    'keepalived-extra',
    'restic',
    'rclone',
    'python3-pymysql',
  ])
    expect(held(p), p).toBe(false);
});
