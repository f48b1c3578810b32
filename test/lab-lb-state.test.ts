/**
 * The stand-in load balancer across a new backend set (src/lab/plan.ts:
 * haproxyConfig and lbServerState), run by a real HAProxy on loopback in
 * front of web nodes that are node HTTP servers. HAProxy alone would count
 * a server new to the set UP until its first check fails, and a reload
 * would forget that a node is DOWN; DigitalOcean's load balancer sends a
 * new droplet nothing until its health check passes. A reload must not reset
 * a visitor's idle kept-alive connection either. Only the addresses,
 * ports and file paths of the lab's configuration are changed here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { haproxyConfig, LB_HEALTHCHECK_FILE, LB_SERVER_STATE, lbServerState, makePlan, parseLbHealthcheck } from '../src/lab/plan.js';
import { sleep } from '../src/util/sleep.js';
import { ROOT } from './support/cli.js';
import { freePort } from './support/ports.js';
import { needs } from './support/tools.js';

needs('haproxy', 'python3').describe("the stand-in load balancer's check states across a reload (real HAProxy on loopback)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-lbstate-'));
  const check = parseLbHealthcheck(readFileSync(path.join(ROOT, LB_HEALTHCHECK_FILE), 'utf8'));
  const sock = path.join(dir, 'admin.sock');
  const state = path.join(dir, 'server-state');
  const servers: http.Server[] = [];
  const procs: ChildProcess[] = [];
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const web = (name: string, port: number) =>
    new Promise<void>((resolve) => {
      const s = http.createServer((_req, res) => res.end(name));
      servers.push(s);
      s.listen(port, '127.0.0.1', resolve);
    });

  /** The lab's files for `count` web nodes, each node's address and ports moved to loopback. */
  const files = (count: number, ports: number[], front: number) => {
    const plan = makePlan({ workspace: dir, project: 'shop', webNodes: count, dbNodes: 3, octet: 9 });
    let cfg = haproxyConfig(plan, check)
      .replace('/run/haproxy/admin.sock', sock)
      .replace(LB_SERVER_STATE, state)
      .replace('bind :80', `bind 127.0.0.1:${front}`);
    plan.nodes
      .filter((n) => n.role === 'web')
      .forEach((n, i) => (cfg = cfg.replace(`${n.vpcIp}:80 check port ${check.port}`, `127.0.0.1:${ports[i]} check port ${ports[i]}`)));
    const { argv } = lbServerState(plan, check);
    const script = argv[2]!.replaceAll('/run/haproxy/admin.sock', sock).replaceAll(LB_SERVER_STATE, state);
    const args = argv.slice(3).map((a, i) => a.replace(/^([^,]+),[^,]+,80,\d+$/, `$1,127.0.0.1,${ports[i]},${ports[i]}`));
    return { cfg, state: () => spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' }) };
  };

  const start = (cfgFile: string, replacing?: ChildProcess) => {
    const p = spawn('haproxy', ['-db', '-f', cfgFile, ...(replacing ? ['-sf', String(replacing.pid)] : [])], { stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  const ask = (front: number) =>
    new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port: front, path: '/' }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(res.statusCode === 200 ? body : String(res.statusCode)));
        })
        .on('error', (e) => resolve(e.message));
    });
  const until = async (front: number, want: string, ms: number) => {
    const end = Date.now() + ms;
    for (;;) {
      if ((await ask(front)) === want) return;
      if (Date.now() > end) throw new Error(`the load balancer never served ${want} within ${ms} ms`);
      await sleep(200);
    }
  };

  it('a node new to the set gets nothing until its check passes twice, and a DOWN node stays DOWN across the reload', async () => {
    const [front, p1, p2, p3] = [await freePort(), await freePort(), await freePort(), await freePort()];
    await web('wp-01', p1);
    // wp-02's port stays closed: a node that is down.
    const cfgFile = path.join(dir, 'haproxy.cfg');

    // A fresh stand-in: every node new, so every node DOWN until checked.
    const first = files(2, [p1, p2], front);
    writeFileSync(cfgFile, first.cfg);
    expect(first.state().status).toBe(0);
    const a = start(cfgFile);
    await sleep(300);
    expect(await ask(front), 'served before any check passed').toBe('503');
    await until(front, 'wp-01', 15_000);
    await sleep(2 * check.check_interval_seconds * 1000); // wp-02's checks have failed by now

    // A third node joins the set; it answers, but has not been checked yet.
    await web('wp-03', p3);
    const second = files(3, [p1, p2, p3], front);
    writeFileSync(cfgFile, second.cfg);
    const written = second.state();
    expect(written.status, written.stderr).toBe(0);
    const lines = readFileSync(state, 'utf8').trim().split('\n').slice(2);
    const op = (name: string) => lines.find((l) => l.split(' ')[3] === name)?.split(' ')[5];
    expect({ 'shop-wp-01': op('shop-wp-01'), 'shop-wp-02': op('shop-wp-02'), 'shop-wp-03': op('shop-wp-03') }).toEqual({
      'shop-wp-01': '2', // running, from the live HAProxy
      'shop-wp-02': '0', // down, from the live HAProxy
      'shop-wp-03': '0', // new: stopped until checked
    });
    start(cfgFile, a);
    const seen: string[] = [];
    for (let i = 0; i < 15; i++) {
      seen.push(await ask(front));
      await sleep(100);
    }
    // Right after the reload: only the node that was UP serves; no 503 from the down one, nothing from the new one.
    expect(new Set(seen)).toEqual(new Set(['wp-01']));
    await until(front, 'wp-03', 15_000);
  }, 60_000);

  it("a visitor's kept-alive connection survives a reload: its next request is answered by the old worker, which then closes it", async () => {
    const [front, p1] = [await freePort(), await freePort()];
    await web('wp-01', p1);
    const cfgFile = path.join(dir, 'keepalive.cfg');
    const lab = files(1, [p1], front);
    writeFileSync(cfgFile, lab.cfg);
    expect(lab.state().status).toBe(0);
    const old = start(cfgFile);
    await until(front, 'wp-01', 15_000);

    // One connection, kept alive between requests, as a browser keeps it.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const visit = () =>
      new Promise<{ status: number; reused: boolean; connection?: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: front, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, connection: res.headers.connection }));
        });
        req.on('error', reject);
      });
    try {
      expect(await visit()).toMatchObject({ status: 200, reused: false });
      expect(await visit()).toMatchObject({ status: 200, reused: true });
      // A reload (a web node added or gone): a new process takes the port, the old one is told to finish.
      start(cfgFile, old);
      await sleep(1000);
      // Without idle-close-on-response the old worker has closed the idle connection by now, and the request would go
      // on a new one (or, sent at the wrong moment, be reset); with it the old worker answers it and says it closes.
      expect(await visit()).toEqual({ status: 200, reused: true, connection: 'close' });
      expect(await visit()).toMatchObject({ status: 200, reused: false });
    } finally {
      agent.destroy();
    }
  }, 60_000);
});
