/**
 * Nodes leaving the cluster (a lower --web-nodes or --db-nodes) are taken
 * out cleanly, one at a time, before their droplets or containers go
 * (src/commands/retire.ts). The nodes and their SSH are replaced by a
 * recorder here; the lab test removes a web node under traffic.
 */
import { describe, expect, it } from 'vitest';
import { finishOnInterrupt } from '../src/runners/process.js';
import { retireNodes, without } from '../src/commands/retire.js';
import { assess, type NodeStatus } from '../src/commands/status.js';
import { TAKE_OUT } from '../src/commands/tiers.js';
import type { Host } from '../src/workspace/inventory.js';
import { dbNode, lbNode, webNode } from './support/cluster.js';

const ctx = { reservedIp: '203.0.113.50', url: 'http://shop.example.com/', siteAnswers: true };
const cluster = (nodes: NodeStatus[]) => assess(nodes, { ...ctx, dbNodes: nodes.filter((n) => n.group === 'galera_cluster_node').length });
/** Three nodes of each tier and two HAProxy, as the status after `up` shows them; web nodes 2 and 3 as given. */
const usual = (wp2: Partial<NodeStatus> = {}, wp3: Partial<NodeStatus> = {}) =>
  cluster([webNode(1), webNode(2, wp2), webNode(3, wp3), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)]);
const host = (n: NodeStatus): Host => ({ name: n.name, group: n.group as Host['group'], address: n.address, port: 22 });

describe('without: the cluster as it will be once nodes are gone', () => {
  it('leaves out the nodes, their HAProxy backends and their share of the cluster size', () => {
    // s-db-05 has left (stopped): the other four form a cluster of 4; HAProxy sees it DOWN.
    const nodes = [webNode(1), dbNode(1, 4), dbNode(2, 4), dbNode(3, 4), dbNode(4, 4), dbNode(5, 0, { services: { mariadb: 'inactive' }, galera: undefined })];
    const lbs = [1, 2].map((i) => lbNode(i, [1, 2, 3, 4, 5], 's-db-01'));
    for (const l of lbs) l.backends![4]!.status = 'DOWN';
    const s = cluster([...nodes, ...lbs]);
    expect(s.healthy).toBe(false);
    expect(without(s, new Set(['s-db-05'])).problems).toEqual([]);
    // Leaving out what has not left yet shows what is still wrong.
    expect(without(s, new Set(['s-db-04'])).healthy).toBe(false);
  });
});

describe('retireNodes', () => {
  it('web nodes first, then the Galera nodes with the writer last, each settled before the next', async () => {
    const state = { out: new Set<string>() };
    const all = () => {
      const dbs = [1, 2, 3, 4, 5].filter((i) => !state.out.has(`s-db-0${i}`));
      return cluster([
        webNode(1),
        webNode(2),
        ...(state.out.has('s-wp-03') ? [webNode(3, { services: { nginx: 'inactive', 'php8.2-fpm': 'active' }, healthz: 0 })] : [webNode(3)]),
        ...dbs.map((i) => dbNode(i, dbs.length)),
        ...[5, 4].filter((i) => state.out.has(`s-db-0${i}`)).map((i) => dbNode(i, 0, { services: { mariadb: 'inactive' }, galera: undefined })),
        lbNode(1, [1, 2, 3, 4, 5], 's-db-05'),
        lbNode(2, [1, 2, 3, 4, 5], 's-db-05'),
      ]);
    };
    const ran: string[] = [];
    const leaving = all().nodes.filter((n) => ['s-db-05', 's-wp-03', 's-db-04'].includes(n.name));
    const order = await retireNodes({
      leaving: leaving.map(host),
      probe: async () => {
        ran.push('probe');
        return all();
      },
      exec: async (h, command) => {
        ran.push(`${h.name}: ${command}`);
        state.out.add(h.name);
        return { code: 0, stderr: '' };
      },
      resume: 'ha-wordpress up',
      progress: () => {},
      everyMs: 1,
    });
    expect(order).toEqual(['s-wp-03', 's-db-04', 's-db-05']);
    expect(ran).toEqual([
      'probe',
      `s-wp-03: sudo -n /usr/local/lib/ha-wordpress/drain && ${TAKE_OUT.wp_node}`,
      'probe',
      `s-db-04: ${TAKE_OUT.galera_cluster_node}`,
      'probe',
      `s-db-05: ${TAKE_OUT.galera_cluster_node}`,
      'probe',
    ]);
  });

  it('a Ctrl-C while a node leaves: that node finishes leaving and the rest settles, then it stops before the next, saying how to go on', async () => {
    const state = { out: new Set<string>() };
    const all = () =>
      cluster([
        webNode(1),
        ...[2, 3].map((i) => (state.out.has(`s-wp-0${i}`) ? webNode(i, { services: { nginx: 'inactive', 'php8.2-fpm': 'active' }, healthz: 0 }) : webNode(i))),
        dbNode(1),
        dbNode(2),
        dbNode(3),
        lbNode(1),
        lbNode(2),
      ]);
    const notes: string[] = [];
    const guard = finishOnInterrupt(
      () => notes.push('first'),
      () => notes.push('second'),
    );
    const ran: string[] = [];
    try {
      const stopped = retireNodes({
        leaving: all()
          .nodes.filter((n) => ['s-wp-02', 's-wp-03'].includes(n.name))
          .map(host),
        probe: async () => all(),
        exec: async (h) => {
          ran.push(h.name);
          // The user presses Ctrl-C while the first node drains (no child process runs: the handler's own path).
          process.emit('SIGINT');
          state.out.add(h.name);
          return { code: 0, stderr: '' };
        },
        resume: 'ha-wordpress up',
        progress: () => {},
        everyMs: 1,
      });
      await expect(stopped).rejects.toMatchObject({
        name: 'CancelledError',
        exitCode: 130,
        message:
          'stopped at Ctrl-C after s-wp-02 left (the rest is healthy without it); s-wp-03 still serves, ' +
          'and nothing was deleted: run `ha-wordpress up` to go on',
      });
    } finally {
      guard.release();
    }
    expect(ran).toEqual(['s-wp-02']);
    expect(notes).toEqual(['first']);
  });

  it('takes nothing out when the rest of the cluster is not healthy; skips a leaving node that is already unreachable', async () => {
    const sick = usual({ healthz: 502 });
    const ran: string[] = [];
    const exec = async (h: Host) => {
      ran.push(h.name);
      return { code: 0, stderr: '' };
    };
    await expect(retireNodes({ leaving: [host(webNode(3))], probe: async () => sick, exec, resume: 'ha-wordpress up', progress: () => {} })).rejects.toThrow(
      'no node was removed: the cluster is not healthy (s-wp-02: /healthz answers 502); fix that first, then run `ha-wordpress up`',
    );
    expect(ran).toEqual([]);

    const dead = usual({}, { reachable: false, services: {}, healthz: undefined, error: 'timed out' });
    const lines: string[] = [];
    expect(
      await retireNodes({ leaving: [host(webNode(3))], probe: async () => dead, exec, resume: 'ha-wordpress up', progress: (l) => lines.push(l) }),
    ).toEqual(['s-wp-03']);
    expect(ran).toEqual([]);
    expect(lines).toEqual(['s-wp-03: already out (unreachable)']);

    // An up that stopped after taking a node out: the next one finds it out already and goes on.
    const stopped = cluster([
      webNode(1),
      webNode(2),
      webNode(3, { services: { nginx: 'inactive', 'php8.2-fpm': 'active' }, healthz: 0 }),
      dbNode(1, 3),
      dbNode(2, 3),
      dbNode(3, 0, { services: { mariadb: 'inactive' }, galera: undefined }),
      dbNode(4, 3),
      lbNode(1, [1, 2, 4], 's-db-01'),
      lbNode(2, [1, 2, 4], 's-db-01'),
    ]);
    const again: string[] = [];
    expect(
      await retireNodes({
        leaving: [host(webNode(3)), host(dbNode(3, 0)), host(dbNode(4, 3))],
        probe: async () => stopped,
        exec,
        resume: 'ha-wordpress up',
        progress: (l) => again.push(l),
        everyMs: 1,
        settleWithinMs: 1,
      }).catch((e: Error) => e.message),
    ).toContain('s-db-04 is out, but the rest');
    expect(again.slice(0, 2)).toEqual(['s-wp-03: already out (nginx is inactive)', 's-db-03: already out (mariadb is inactive)']);
    expect(ran).toEqual(['s-db-04']);
  });

  it('stops at a node that cannot be taken out cleanly, and at one after which the rest does not settle', async () => {
    const healthy = cluster([
      webNode(1),
      webNode(2),
      webNode(3),
      dbNode(1, 3),
      dbNode(2, 3),
      dbNode(3, 3),
      lbNode(1, [1, 2, 3], 's-db-01'),
      lbNode(2, [1, 2, 3], 's-db-01'),
    ]);
    await expect(
      retireNodes({
        leaving: [host(webNode(3))],
        probe: async () => healthy,
        exec: async () => ({ code: 1, stderr: 'sudo: a password is required\n' }),
        resume: 'ha-wordpress up',
        progress: () => {},
      }),
    ).rejects.toThrow('s-wp-03 could not be taken out cleanly (sudo: a password is required); nothing was deleted: fix it, then run `ha-wordpress up`');

    let n = 0;
    const noSite = { ...healthy, site: { ...healthy.site, answers: false } };
    await expect(
      retireNodes({
        leaving: [host(webNode(3)), host(webNode(2))],
        probe: async () => (n++ === 0 ? healthy : noSite),
        exec: async () => ({ code: 0, stderr: '' }),
        resume: 'ha-wordpress up',
        progress: () => {},
        settleWithinMs: 20,
        everyMs: 5,
      }),
    ).rejects.toThrow(
      's-wp-02 is out, but the rest of the cluster is not healthy (the site does not answer at http://shop.example.com/); nothing was deleted: ' +
        'once `ha-wordpress status` shows the rest healthy, run `ha-wordpress up`',
    );
  });
});
