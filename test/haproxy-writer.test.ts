/**
 * The single writer that stays: the haproxy role's haproxy.cfg, rendered by
 * real Ansible for both HAProxy nodes and run by two real HAProxy processes
 * on loopback addresses, in front of three stand-in "Galera nodes" (a TCP
 * server that answers its name) whose health endpoints the test turns on
 * and off.
 *
 * Only the process-level lines of the global section (chroot, user, daemon,
 * syslog, the admin socket's path) are changed, so that two HAProxy run
 * side by side as the test's user; the peers section, the frontend and the
 * backend are what the role wrote.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep } from '../src/util/sleep.js';
import { freePort } from './support/ports.js';
import { budget, needs, runTool } from './support/tools.js';

const ROLE = path.resolve(__dirname, '..', 'ansible', 'roles', 'haproxy');
const DB = ['db1', 'db2', 'db3'] as const;
type Db = (typeof DB)[number];
const LB = ['lb1', 'lb2'] as const;
type Lb = (typeof LB)[number];
const privateIp = (h: Db | Lb) => `127.0.0.${h.startsWith('db') ? 10 + Number(h[2]) : 20 + Number(h[2])}`;
const anchorIp = (lb: Lb) => `127.0.0.${120 + Number(lb[2])}`;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(200);
  }
}

needs('ansible-playbook', 'haproxy').describe('HAProxy single writer (real haproxy.cfg from the role, two real HAProxy on loopback)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-writer-'));
  const healthy: Record<Db, boolean> = { db1: true, db2: true, db3: true };
  const servers: (net.Server | http.Server)[] = [];
  const procs: Partial<Record<Lb, ChildProcess>> = {};
  const output: Record<Lb, string> = { lb1: '', lb2: '' };
  let ports: { mysql: number; galera: number; check: number; peers: number; stats: number };

  /** Which Galera node a new connection through this HAProxy node reaches. */
  const writer = (lb: Lb) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: anchorIp(lb), port: ports.mysql });
      let got = '';
      c.setEncoding('utf8');
      c.setTimeout(3000, () => c.destroy(new Error(`no answer through ${lb}`)));
      c.on('data', (d: string) => (got += d));
      c.on('end', () => resolve(got.trim()));
      c.on('error', reject);
    });

  /** One command on this node's admin socket. */
  const admin = (lb: Lb, cmd: string) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect(path.join(dir, `${lb}.sock`));
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (got += d));
      c.on('end', () => resolve(got));
      c.on('error', reject);
      c.end(`${cmd}\n`);
    });

  /** Each server's state on this node, from `show stat` ("UP", "DOWN", or on the way: "UP 1/2"). */
  const states = async (lb: Lb) =>
    (await admin(lb, 'show stat'))
      .split('\n')
      .map((l) => l.split(','))
      .filter((f) => f[0] === 'galera' && DB.includes(f[1] as Db))
      .map((f) => `${f[1]} ${f[17]}`)
      .join(', ');

  /** The writer this node's table holds (server_key: the server's name), or undefined when it holds none. */
  const held = async (lb: Lb) => /server_key=(\S+)/.exec(await admin(lb, 'show table galera'))?.[1];

  const start = (lb: Lb) => {
    const p = spawn('haproxy', ['-db', '-f', path.join(dir, `${lb}.cfg`)], { stdio: ['ignore', 'pipe', 'pipe'] });
    output[lb] = '';
    p.stdout!.on('data', (d: Buffer) => (output[lb] += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (output[lb] += d.toString()));
    procs[lb] = p;
    // Up once its admin socket answers: asking through the frontend would store a writer in the table.
    return until(`${lb} started (${output[lb]})`, async () => ((await admin(lb, 'show info')).includes('Pid:') ? true : undefined));
  };

  /** This node's peers link to the other: how many connections it has made, and whether the current one is established. */
  const link = async (lb: Lb) => {
    const other = LB.find((l) => l !== lb)!;
    const out = await admin(lb, 'show peers');
    const block = out.slice(out.indexOf(`id=${other}(remote`));
    return `${/last_status=(\w+)/.exec(block)?.[1]} ${/new_conn=(\d+)/.exec(block)?.[1]}`;
  };

  /**
   * The peers link between the two nodes is established and stays so. Until then
   * each node keeps its own table, and whenever the link is established again each
   * teaches the other its whole table: a write stored meanwhile can be taught back
   * over by the older entry. Two nodes that connect to each other at the same moment
   * (both just started) drop one of the two connections and connect again, so the
   * first ESTA seen is not yet the link that stays.
   */
  const linked = () =>
    until(
      'the peers link established and steady',
      async () => {
        const before = await Promise.all(LB.map(link));
        if (!before.every((l) => l.startsWith('ESTA '))) return undefined;
        await sleep(3000);
        const after = await Promise.all(LB.map(link));
        return after.join() === before.join() ? true : undefined;
      },
      30_000,
    );

  const stop = async (lb: Lb) => {
    const p = procs[lb];
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };

  /** This node has settled on the health the test set: each server UP or DOWN, not on its way. */
  const seen = (lb: Lb) =>
    until(`${lb} sees ${DB.map((d) => `${d} ${healthy[d] ? 'UP' : 'DOWN'}`).join(', ')}`, async () => {
      const want = DB.map((d) => `${d} ${healthy[d] ? 'UP' : 'DOWN'}`).join(', ');
      return (await states(lb)) === want ? true : undefined;
    });

  beforeAll(
    async () => {
      ports = { mysql: await freePort(), galera: await freePort(), check: await freePort(), peers: await freePort(), stats: await freePort() };
      for (const db of DB) {
        const s = net.createServer((c) => c.end(`${db}\n`));
        await new Promise<void>((r) => s.listen(ports.galera, privateIp(db), r));
        const h = http.createServer((_q, res) => res.writeHead(healthy[db] ? 200 : 503).end(healthy[db] ? 'Synced\n' : 'not Synced\n'));
        await new Promise<void>((r) => h.listen(ports.check, privateIp(db), r));
        servers.push(s, h);
      }
      const host = (h: Db | Lb) => ({ ansible_connection: 'local', private_ip: privateIp(h) });
      writeFileSync(
        path.join(dir, 'hosts.yml'),
        yaml.dump({
          all: {
            vars: { ansible_python_interpreter: '{{ ansible_playbook_python }}' },
            children: {
              galera_cluster_node: { hosts: Object.fromEntries(DB.map((d) => [d, host(d)])) },
              galera_loadbalancer: { hosts: Object.fromEntries(LB.map((l) => [l, host(l)])) },
            },
          },
        }),
      );
      writeFileSync(
        path.join(dir, 'vars.yml'),
        yaml.dump({
          haproxy_nodes: "{{ groups['galera_loadbalancer'] }}",
          haproxy_galera_nodes: "{{ groups['galera_cluster_node'] }}",
          haproxy_stats_user: 'stats',
          haproxy_stats_pass: 'a-password',
          haproxy_stats_port: ports.stats,
          haproxy_mysql_port: ports.mysql,
          haproxy_galera_port: ports.galera,
          haproxy_galera_check_port: ports.check,
          haproxy_peers_port: ports.peers,
          __haproxy_anchor_ip: '127.0.0.{{ 120 + (inventory_hostname[2] | int) }}',
        }),
      );
      writeFileSync(
        path.join(dir, 'render.yml'),
        yaml.dump([
          {
            name: 'render haproxy.cfg',
            hosts: 'galera_loadbalancer',
            gather_facts: false,
            vars_files: [path.join(ROLE, 'defaults', 'main.yml'), path.join(dir, 'vars.yml')],
            tasks: [
              {
                name: 'haproxy.cfg',
                'ansible.builtin.template': {
                  src: path.join(ROLE, 'templates', 'haproxy.cfg.j2'),
                  dest: `${dir}/{{ inventory_hostname }}.role.cfg`,
                  mode: '0600',
                },
              },
            ],
          },
        ]),
      );
      await runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, 'render.yml')], {
        env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0' },
      });
      for (const lb of LB) {
        const role = readFileSync(path.join(dir, `${lb}.role.cfg`), 'utf8');
        const cfg = role
          .split('\n')
          .filter((l) => !/^\s*(chroot|user|group|daemon|log \/dev\/log)\b/.test(l))
          .map((l) => l.replace(/^(\s*stats socket )\S+/, `$1${path.join(dir, `${lb}.sock`)}`))
          .join('\n');
        expect(cfg, 'the admin socket moved into the test directory').toContain(`${lb}.sock`);
        writeFileSync(path.join(dir, `${lb}.cfg`), cfg);
      }
      for (const lb of LB) await start(lb);
      await linked();
    },
    budget({ 'ansible-playbook': 1 }),
  );

  afterAll(async () => {
    for (const lb of LB) await stop(lb);
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // As in the cluster, connections arrive at one HAProxy at a time: the one holding the reserved IP
  // (lb1 first, lb2 after the "failover" below). The other only learns the table over the peers link:
  // were both to store at once, each would teach the other its own writer when the link is re-established.
  it('writes go to the first healthy node, move when it fails, stay when it is back; the other (also restarted) HAProxy sends them there too', async () => {
    for (const lb of LB) await seen(lb);
    expect(await writer('lb1')).toBe('db1');
    expect(await until('lb2 learns the writer', () => held('lb2'))).toBe('db1');

    // The writer fails its health check: new connections go to the next node in order.
    healthy.db1 = false;
    for (const lb of LB) await seen(lb);
    expect(await writer('lb1')).toBe('db2');
    expect(await until('lb2 learns the new writer', async () => ((await held('lb2')) === 'db2' ? 'db2' : undefined))).toBe('db2');

    // It is back (both HAProxy see it UP again): the writes stay on db2, also through lb2
    // once it has taken the reserved IP over.
    healthy.db1 = true;
    for (const lb of LB) await seen(lb);
    for (let i = 0; i < 5; i++) expect(await writer('lb1')).toBe('db2');
    for (let i = 0; i < 5; i++) expect(await writer('lb2')).toBe('db2');

    // A restarted HAProxy node learns the writer back from its peer.
    await stop('lb1');
    const restarted = Date.now();
    await start('lb1');
    expect(await until('lb1 relearns the writer', () => held('lb1'), 5000)).toBe('db2');
    const relearnMs = Date.now() - restarted;
    await seen('lb1');
    await linked();
    console.info(`a restarted HAProxy held the writer again ${relearnMs} ms after it was started`);

    // The kept writer fails: the first healthy node in order takes over, and the restarted node knows it too
    // (and would send writes there, were the reserved IP to move back to it).
    healthy.db2 = false;
    for (const lb of LB) await seen(lb);
    expect(await writer('lb2')).toBe('db1');
    expect(await until('lb1 follows', async () => ((await held('lb1')) === 'db1' ? 'db1' : undefined))).toBe('db1');
    expect(await writer('lb1')).toBe('db1');
  }, 120_000);
});
