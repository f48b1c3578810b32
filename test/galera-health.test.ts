/**
 * The Galera health check (ansible/roles/galera/files/galera-health), run for
 * real with the system's python3 and PyMySQL against a real MariaDB server
 * started here (no Galera: such a server has no wsrep status, so it is "not
 * synced"; the 200 answer of a Synced node is proven in the lab end to end,
 * where HAProxy marks all three nodes up). Skipped, saying why, where
 * MariaDB or python3-pymysql is missing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MARIADB_TOOLS, startMariadb, type PrivateMariadb } from './support/mariadb.js';
import { freePort } from './support/ports.js';
import { budget, missing, skipWhen } from './support/tools.js';

const DAEMON = path.resolve(__dirname, '..', 'ansible', 'roles', 'galera', 'files', 'galera-health');
// The node's python, as on a droplet: the role installs python3-pymysql for it.
const PYTHON = '/usr/bin/python3';
const PASSWORD = 'He"al\'th#\\ $x;`y` {{z}}%';

const pymysql = spawnSync(PYTHON, ['-c', 'import pymysql'], { stdio: 'ignore' }).status === 0;
const why = missing(...MARIADB_TOOLS) ?? (pymysql ? undefined : `${PYTHON} cannot import pymysql (apt-get install python3-pymysql)`);

/** One raw HTTP exchange, as HAProxy's `option httpchk GET /` makes it; status, body, and how long it took. */
async function check(port: number): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const raw = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    let data = '';
    sock.on('data', (d: Buffer) => (data += d.toString('utf8')));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
    sock.setTimeout(10_000, () => reject(new Error('no answer in 10 s')));
  });
  const [head, body] = raw.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head!)?.[1]), body: body ?? '', ms: Date.now() - started };
}

skipWhen(why).describe('the Galera health check against a real MariaDB server', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-health-'));
  let db: PrivateMariadb | undefined;
  const daemons: ChildProcess[] = [];
  const logs: string[] = [];

  /** Starts the daemon on a config with this password; resolves once it listens. */
  async function daemon(password: string): Promise<number> {
    const port = await freePort();
    const config = path.join(dir, `health-${port}.json`);
    writeFileSync(config, JSON.stringify({ bind: '127.0.0.1', port, socket: db!.socket, user: 'clustercheck', password }), { mode: 0o600 });
    const child = spawn(PYTHON, [DAEMON, config], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.push(child);
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.on('exit', () => logs.push(log));
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((r) =>
        net
          .connect(port, '127.0.0.1')
          .on('connect', function (this: net.Socket) {
            this.destroy();
            r(true);
          })
          .on('error', () => r(false)),
      );
      if (up) return port;
      if (i > 100 || child.exitCode !== null) throw new Error(`galera-health did not listen:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(
    async () => {
      db = await startMariadb(dir);
      const quoted = PASSWORD.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
      db.sql(`CREATE USER 'clustercheck'@'localhost' IDENTIFIED BY '${quoted}';`);
    },
    budget({ other: 3 }),
  );

  afterAll(async () => {
    for (const d of daemons) d.kill('SIGTERM');
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'logs in with the password from its JSON config (quotes, backslash, # and $ in it) and reads the wsrep state: without Galera, not synced (503)',
    async () => {
      const port = await daemon(PASSWORD);
      const r = await check(port);
      expect(r.status).toBe(503);
      // Connected and asked: the state is named, not a login failure.
      expect(r.body.trim()).toBe('Galera node is not synced (wsrep_local_state=unknown, wsrep_cluster_status=Disconnected).');
      // A second check reuses the connection and says the same.
      expect((await check(port)).body).toBe(r.body);
    },
    budget({ other: 2 }),
  );

  it(
    'a wrong password is "not available" (503), and the password is in no answer or log line',
    async () => {
      const port = await daemon(`${PASSWORD}-wrong`);
      const r = await check(port);
      expect(r.status).toBe(503);
      expect(r.body).toMatch(/^Galera node is not available \(OperationalError\)\./);
      expect(r.body).not.toContain(PASSWORD);
    },
    budget({ other: 2 }),
  );

  it(
    '200 only for Synced (4) in the Primary component: a donor, a joiner, a node cut off from the quorum or an unknown state is 503',
    () => {
      const cases: [Record<string, string> | null, number][] = [
        [{ wsrep_local_state: '4', wsrep_cluster_status: 'Primary' }, 200],
        [{ wsrep_local_state: '4', wsrep_cluster_status: 'non-Primary' }, 503],
        [{ wsrep_local_state: '2', wsrep_cluster_status: 'Primary' }, 503],
        [{ wsrep_local_state: '1', wsrep_cluster_status: 'Primary' }, 503],
        [{ wsrep_cluster_status: 'Primary' }, 503],
        [null, 503],
      ];
      const code = [
        'import importlib.machinery, json, sys',
        `m = importlib.machinery.SourceFileLoader('galera_health', ${JSON.stringify(DAEMON)}).load_module()`,
        'print(json.dumps([m.verdict(v, "why")[0] for v in json.load(sys.stdin)]))',
      ].join('\n');
      const r = spawnSync(PYTHON, ['-c', code], { input: JSON.stringify(cases.map(([v]) => v)), encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual(cases.map(([, c]) => c));
    },
    budget({ other: 1 }),
  );

  it(
    'MariaDB stopped: 503 at once; started again: the check reconnects by itself',
    async () => {
      const port = await daemon(PASSWORD);
      expect((await check(port)).body).toMatch(/not synced/);
      await db!.stop();
      const down = await check(port);
      expect(down.status).toBe(503);
      expect(down.body).toMatch(/not available/);
      expect(down.ms).toBeLessThan(2500);
      await db!.start();
      expect((await check(port)).body).toMatch(/not synced \(wsrep_local_state=unknown/);
    },
    budget({ other: 3 }),
  );

  it(
    'a client that connects and sends nothing does not hold up the next check',
    async () => {
      const port = await daemon(PASSWORD);
      const idle = net.connect(port, '127.0.0.1');
      await new Promise((r) => idle.on('connect', r));
      try {
        const r = await check(port);
        expect(r.status).toBe(503);
        expect(r.ms).toBeLessThan(1500);
      } finally {
        idle.destroy();
      }
    },
    budget({ other: 2 }),
  );
});
