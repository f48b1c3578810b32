/**
 * `ha-wordpress scale` and `replace` (src/commands/scale.ts, replace.ts):
 * which nodes come and go, what the question says, when a replacement may
 * start, the guard on terraform's plan, and the CLI's answers before
 * anything changes (bad counts or names, nothing to do, no cluster yet).
 * The lab tests scale and replace nodes of a running cluster under traffic.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { dropletAddress, replaceRefusal } from '../src/commands/replace.js';
import { expectedSeconds, planLines, scaleSteps } from '../src/commands/scale.js';
import { assess } from '../src/commands/status.js';
import { beyondChange } from '../src/commands/up.js';
import { homeWithKey, runCli, tempDir } from './support/cli.js';
import { dbNode, lbNode, webNode } from './support/cluster.js';
import { planSummary } from './support/plan.js';
import { budget } from './support/tools.js';

describe('scale: the nodes that come and go', () => {
  it('numbers new nodes on from the last, and takes the highest-numbered away (as a lower count deletes them), in the order they leave', () => {
    expect(scaleSteps('shop', { web: 3, db: 3 }, { web: 4, db: 5 })).toEqual([
      { name: 'shop-wp-04', group: 'wp_node', change: 'add' },
      { name: 'shop-db-04', group: 'galera_cluster_node', change: 'add' },
      { name: 'shop-db-05', group: 'galera_cluster_node', change: 'add' },
    ]);
    expect(scaleSteps('shop', { web: 4, db: 5 }, { web: 2, db: 3 }).map((s) => `${s.change} ${s.name}`)).toEqual([
      'remove shop-wp-03',
      'remove shop-wp-04',
      'remove shop-db-04',
      'remove shop-db-05',
    ]);
    expect(scaleSteps('shop', { web: 3, db: 3 }, { web: 3, db: 3 })).toEqual([]);
  });

  it('says what happens to each node, and roughly how long: new nodes share one playbook run, leaving ones go one at a time', () => {
    const steps = scaleSteps('shop', { web: 3, db: 5 }, { web: 4, db: 3 });
    const lines = planLines(steps);
    expect(lines[0]).toMatch(/^ {2}\+ shop-wp-04 {2}a new web node, .*the load balancer serves it once its health check passes$/);
    expect(lines[1]).toMatch(/^ {2}- shop-db-04 {2}desynced, leaves the cluster as MariaDB stops, then deleted$/);
    expect(lines).toHaveLength(3);
    expect(expectedSeconds(steps)).toBe(expectedSeconds(steps.slice(0, 1)) + 60);
    expect(expectedSeconds(scaleSteps('shop', { web: 3, db: 3 }, { web: 5, db: 3 }))).toBe(expectedSeconds(steps.slice(0, 1)));
  });
});

describe('scale on DigitalOcean: the plan may hold only the confirmed droplets', () => {
  const plan = planSummary;
  const change = { add: ['shop-wp-04'], remove: ['shop-db-05'] };

  it('accepts exactly those droplets, with the in-place changes that follow (load balancer, firewalls, project)', () => {
    const ok = plan({ add: 1, change: 3, destroy: 1, newDroplets: ['shop-wp-04'], deleted: ['digitalocean_droplet.db[4]'], deletedDroplets: ['shop-db-05'] });
    expect(beyondChange(ok, change)).toBeUndefined();
  });

  it('names whatever else it would do, and what it would not', () => {
    const more = plan({
      newDroplets: ['shop-wp-04', 'shop-db-01'],
      replaced: ['digitalocean_droplet.db[0]'],
      resized: [{ address: 'digitalocean_droplet.dblb[0]', name: 'shop-dblb-01', from: 's-1vcpu-1gb', to: 's-1vcpu-2gb' }],
      deleted: ['digitalocean_loadbalancer.public'],
    });
    expect(beyondChange(more, change)).toBe(
      'digitalocean_droplet.db[0] replaced, shop-dblb-01 resized, shop-db-01 created, shop-db-05 not deleted, 1 other resources deleted',
    );
  });
});

describe('replace: which droplet, and when it may start', () => {
  it("names the droplet's terraform address from the node's name", () => {
    expect(dropletAddress('shop', { name: 'shop-wp-03', group: 'wp_node' })).toBe('digitalocean_droplet.web[2]');
    expect(dropletAddress('shop', { name: 'shop-db-01', group: 'galera_cluster_node' })).toBe('digitalocean_droplet.db[0]');
    expect(dropletAddress('shop', { name: 'shop-dblb-02', group: 'galera_loadbalancer' })).toBe('digitalocean_droplet.dblb[1]');
    expect(() => dropletAddress('shop', { name: 'blog-db-01', group: 'galera_cluster_node' })).toThrow(/is not named as terraform names/);
  });

  const ctx = { reservedIp: '203.0.113.50', url: 'http://shop.example.com/', siteAnswers: true, dbNodes: 3 };
  const nodes = () => [webNode(1), webNode(2), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)];
  const resume = 'ha-wordpress replace s-db-02';

  it('starts on a healthy cluster; a degraded one only with --force, and only when the node named is what is wrong', () => {
    expect(replaceRefusal(assess(nodes(), ctx), 's-db-02', false, resume)).toBeUndefined();

    // s-db-02 dead: the others see a cluster of 2 and HAProxy has it DOWN.
    const dead = nodes();
    dead[3] = { ...dead[3]!, reachable: false, services: {}, galera: undefined, error: 'timed out' };
    for (const i of [2, 4]) dead[i]!.galera!.cluster_size = 2;
    for (const i of [5, 6]) dead[i]!.backends![1]!.status = 'DOWN';
    const status = assess(dead, ctx);
    expect(status.healthy).toBe(false);
    const refused = replaceRefusal(status, 's-db-02', false, resume);
    expect(refused).toMatch(/^replace: the cluster is not healthy \(.*s-db-02: unreachable.*\); nothing was changed: /);
    expect(refused).toMatch(/: if s-db-02 is what is wrong, `ha-wordpress replace s-db-02 --force` replaces it; otherwise fix that first$/);
    expect(replaceRefusal(status, 's-db-02', true, resume)).toBeUndefined();
    // Another node is what is wrong: replacing this one would not mend it, force or not.
    expect(replaceRefusal(status, 's-db-03', true, 'ha-wordpress replace s-db-03')).toMatch(/^replace: even without s-db-03 the cluster is not healthy \(/);
  });
});

describe('scale from the command line, before anything changes', () => {
  vi.setConfig({ testTimeout: budget({ cli: 3 }) });
  let root: string;
  let home: string;
  let ws: string;
  const pw = () => path.join(root, 'pw');

  beforeAll(
    async () => {
      root = tempDir('hawp-scale-');
      ({ home } = await homeWithKey(root));
      writeFileSync(pw(), 'scale test vault password\n', { mode: 0o600 });
      ws = path.join(root, 'shop');
      const r = await runCli(['init', '--target', 'local', '--project', 'shop', '--non-interactive', '--yes', '--dir', ws, '--vault-password-file', pw()], {
        env: { HOME: home },
      });
      expect(r.code, r.stderr).toBe(0);
    },
    budget({ cli: 1 }),
  );

  const scale = (...args: string[]) => runCli(['scale', '--dir', ws, '--vault-password-file', pw(), ...args], { env: { HOME: home } });

  it('refuses an even or too small --db-nodes and a --web-nodes out of range with one line naming the flag, exit 2', async () => {
    const even = await scale('--db-nodes', '4');
    expect(even.code).toBe(2);
    expect(even.stderr.trim()).toBe('error: --db-nodes: use an odd number (3, 5, 7 or 9) so the cluster keeps a majority after a node failure');
    const one = await scale('--db-nodes', '1');
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/^error: --db-nodes: .*3.*9/m);
    const web = await scale('--web-nodes', '11');
    expect(web.code).toBe(2);
    expect(web.stderr).toMatch(/^error: --web-nodes: .*2.*10/m);
  });

  it('asks for a count when given none', async () => {
    const r = await scale();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('scale: give --web-nodes N (2-10), --db-nodes N (odd, 3-9) or both');
  });

  it('has nothing to do at the counts the cluster has, and says so (JSON too)', async () => {
    const r = await scale('--web-nodes', '3', '--db-nodes', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ web_nodes: { from: 3, to: 3 }, db_nodes: { from: 3, to: 3 }, added: [], removed: [], duration_s: 0 });
  });

  it('replace: a name that is not a node of the cluster, or no cluster yet, is one line naming <node>, exit 2', async () => {
    const none = await runCli(['replace', 'shop-db-02', '--dir', ws, '--vault-password-file', pw(), '--yes'], { env: { HOME: home } });
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe('error: <node>: this workspace has no cluster yet (no inventory); `ha-wordpress up` makes it');
    const missing = await runCli(['replace'], { env: { HOME: home } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'node'");
  });

  it('refuses a workspace with no cluster yet, changing nothing', async () => {
    const before = readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8');
    const r = await scale('--web-nodes', '4', '--yes');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('scale: this workspace has no cluster yet');
    expect(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')).toBe(before);
  });
});
