/**
 * The product's main job on the local target, as a user runs it: `init
 * --target local`, then `up`, builds the whole cluster as Debian 12 system
 * containers on this machine and configures it with the real site.yml through
 * real ansible-playbook. Then: WordPress's installed home page through the
 * lab's public entry, Galera Synced with 3 nodes, HAProxy with 3 healthy
 * backends on both nodes, a second up that leaves the playbook out and a
 * forced one with changed=0, `status` seeing a failure, `drill` (every failover scenario under load, and the recovery of
 * a fully stopped database tier through `up`), and a destroy that leaves
 * nothing behind.
 *
 * Needs Linux and root (the lab's requirements); .ci/run provides both and
 * the Debian packages. Minutes, not seconds: it runs the whole playbook.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, homeWithKey, runCli, tempDir, type CliResult } from './support/cli.js';
import { ansibleVaultDecrypt, needs, skipWhen } from './support/tools.js';
import { png } from './support/png.js';
import type { ScenarioResult } from '../src/commands/drill.js';
import yaml from 'js-yaml';

const CAN_LAB = process.platform === 'linux' && process.getuid?.() === 0;
const MIN = 60_000;

let root: string;
let home: string;
let ws: string;
let pwFile: string;
let first: CliResult;
let keyFile: string;

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Reads a response whole into an Answer. */
function answerTo(resolve: (a: Answer) => void): (res: http.IncomingMessage) => void {
  return (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
  };
}

/**
 * One GET of a URL of the site, as a browser on this machine would send it:
 * to the lab's load balancer (the domain resolves nowhere else), with the
 * domain as Host and TLS server name, the certificate checked against the
 * lab CA up wrote (or against `ca` when given: undefined = the system's).
 */
function get(url: string, o: { ca?: string | null } = {}): Promise<Answer> {
  const u = new URL(url);
  const lb = yaml.load(readFileSync(path.join(ws, 'ansible', 'inventory', 'hosts.yml'), 'utf8')) as { all: { vars: Record<string, string> } };
  const ca = o.ca === undefined ? readFileSync(path.join(ws, '.ha-wordpress', 'lab-ca.pem'), 'utf8') : (o.ca ?? undefined);
  const common = { host: lb.all.vars.load_balancer_ip, path: `${u.pathname}${u.search}`, headers: { host: u.host }, timeout: 10_000 };
  return new Promise((resolve, reject) => {
    const done = answerTo(resolve);
    const req =
      u.protocol === 'https:'
        ? https.get({ ...common, port: 443, servername: u.hostname, ...(ca ? { ca } : {}) }, done)
        : http.get({ ...common, port: 80 }, done);
    req.on('error', reject);
  });
}

/** One HTTP request straight to a web node's nginx on port 80 (from this machine, on the lab's bridge), as the load balancer sends it. */
function toNode(ip: string, pathAndQuery: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: ip, port: 80, path: pathAndQuery, method: o.method ?? 'GET', headers: o.headers, timeout: 10_000 }, answerTo(resolve));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A command on a lab node over SSH, as the admin user, with the host keys up recorded. */
function onNode(host: string, command: string, input?: string): string {
  return execFileSync(
    'ssh',
    [
      '-i',
      keyFile,
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${path.join(ws, '.ha-wordpress', 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=yes',
      `deploy@${host}`,
      command,
    ],
    { encoding: 'utf8', input, timeout: 60_000 },
  );
}

/** A request to the site every 200 ms until stopped: how many were sent, and when each failed one was sent and what it got. */
function siteTraffic(): { stop: () => Promise<{ requests: number; failed: Failure[] }> } {
  let polling = true;
  const failed: Failure[] = [];
  let requests = 0;
  const poll = (async () => {
    while (polling) {
      const at = Date.now();
      // A request on a kept-alive connection, as a browser sends them: a connection the load balancer drops under
      // one is a failure too.
      const why = await get(siteUrl()!).then(
        (a) => (a.status === 200 ? undefined : `HTTP ${a.status}`),
        (err: NodeJS.ErrnoException) => `${err.code ?? 'error'}: ${err.message}`,
      );
      requests++;
      if (why) failed.push({ at, why });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    stop: async () => {
      polling = false;
      await poll;
      return { requests, failed };
    },
  };
}

/** A request of siteTraffic's that did not get its page: when it was sent (ms since the epoch), and what it got. */
interface Failure {
  at: number;
  why: string;
}

/** The failures, each as its time from `started` and what it got: for the log line a test prints. */
function failuresSince(started: number, failed: Failure[]): string {
  return failed.length ? ` (${failed.map((f) => `at ${((f.at - started) / 1000).toFixed(1)} s: ${f.why}`).join('; ')})` : '';
}

/**
 * How the stand-in load balancer's HAProxy sees a web node, from its stats socket: its state ("UP", "DOWN", "UP 1/2"…)
 * and how many requests it has sent it.
 */
async function lbStat(control: Awaited<ReturnType<typeof labCtl>>, node: string): Promise<{ status: string; served: number }> {
  const ask =
    "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); s.sendall(b'show stat\\n'); " +
    "d = b''.join(iter(lambda: s.recv(65536), b'')); print(d.decode())";
  const row = (await control.exec('hawp-lb', ['python3', '-c', ask])).stdout.split('\n').find((l) => l.startsWith(`web,${node},`));
  return { status: row?.split(',')[17] ?? 'unknown', served: Number(row?.split(',')[7] ?? -1) };
}

/**
 * A live operation under the drill's writer (a write every 100 ms through hawp-wp-01) and a site request every
 * 200 ms: prints what it cost, after `what` says what it was, and asserts what no planned change may cost: a failed
 * request, or an acknowledged write lost. `op` checks its own outcome (its failure still stops the load).
 */
async function underLoad<T>(control: Awaited<ReturnType<typeof labCtl>>, op: () => Promise<T>, what: (result: T) => string): Promise<T> {
  const { Writer } = await import('../src/drill/writer.js');
  const db = inventory().filter((h) => h.group === 'galera_cluster_node');
  const writer = await Writer.start(control, 'hawp-wp-01', { everyMs: 100 });
  writer.run();
  const traffic = siteTraffic();
  const t0 = performance.now();
  const started = Date.now();
  try {
    const result = await op();
    const t1 = performance.now();
    const { requests, failed } = await traffic.stop();
    await new Promise((r) => setTimeout(r, 2000));
    await writer.stop();
    const writes = await writer.check(
      t0,
      t1,
      db.map((n) => n.name),
    );
    console.log(
      `${what(result)}; ${failed.length} of ${requests} requests failed` +
        failuresSince(started, failed) +
        `; writes ${JSON.stringify({ ...writes, lost: writes.lost.length })}, longest write ${writer.latency(t0, t1).max} ms`,
    );
    expect(requests).toBeGreaterThan(50);
    expect(failed, `${failed.length} of ${requests} requests failed`).toEqual([]);
    expect(writer.error, writer.error?.message).toBeUndefined();
    expect(writes.acknowledged).toBeGreaterThan(50);
    expect(writes.lost).toEqual([]);
    return result;
  } finally {
    await traffic.stop();
    await writer.stop();
    await writer.dropTable(db[0]!.name);
  }
}

/** The lab's control (what drill uses: exec in a container, break nodes), for the workspace of this file's lab. */
async function labCtl(webNodes = 3) {
  const { labControl } = await import('../src/lab/index.js');
  const quiet = { info() {}, warn() {}, error() {}, success() {}, out() {} };
  const control = await labControl({ workspace: ws, project: 'hawp', webNodes, dbNodes: 3, log: quiet });
  expect(control, 'the lab is there').toBeDefined();
  return control!;
}

function inventory(): { group: string; name: string; ip: string; privateIp: string }[] {
  const inv = yaml.load(readFileSync(path.join(ws, 'ansible', 'inventory', 'hosts.yml'), 'utf8')) as {
    all: { children: Record<string, { hosts: Record<string, { ansible_host: string; private_ip: string }> }> };
  };
  return Object.entries(inv.all.children).flatMap(([group, g]) =>
    Object.entries(g.hosts).map(([name, h]) => ({ group, name, ip: h.ansible_host, privateIp: h.private_ip })),
  );
}

/** The inventory's variables (the lab's addresses and endpoints). */
function labVars(): Record<string, string> {
  return (yaml.load(readFileSync(path.join(ws, 'ansible', 'inventory', 'hosts.yml'), 'utf8')) as { all: { vars: Record<string, string> } }).all.vars;
}

/** The site's URL as the first up printed it. */
const siteUrl = () => first.stderr.match(/site\s+(https?:\/\/\S+)/)?.[1];

describe.skipIf(!CAN_LAB)('the local target, end to end (real containers, real site.yml)', () => {
  beforeAll(async () => {
    root = tempDir('hawp-lab-');
    ({ home } = await homeWithKey(root));
    keyFile = path.join(home, '.ssh', 'id_ed25519');
    // The README's start: no init, just `up --target local`, which makes ./lab with a generated vault password kept in it.
    ws = path.join(root, 'lab');
    pwFile = path.join(ws, '.vault-pass');
    first = await runCli(['up', '--target', 'local', '--non-interactive', '--yes'], { cwd: root, env: { HOME: home }, timeoutMs: 30 * MIN });
  }, 35 * MIN);

  afterAll(async () => {
    // Never leave a lab running, whatever failed above; --purge: nor its backups in /var/lib/ha-wordpress/s3.
    if (ws)
      await runCli(['destroy', '--non-interactive', '--yes', '--no-final-backup', '--purge', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 5 * MIN,
      });
  }, 6 * MIN);

  it('up --target local with no workspace makes ./lab with a generated vault password kept 0600 in it, and says so', () => {
    expect(first.stderr).toContain(`No workspace in ${ws}: making a local lab workspace there`);
    expect(first.stderr).toContain(`The vault password was generated and is kept in ${pwFile} (mode 0600, git-ignored).`);
    expect(statSync(pwFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(pwFile, 'utf8').trim()).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(readFileSync(path.join(ws, '.gitignore'), 'utf8')).toMatch(/^\.vault-pass$/m);
  });

  it("up ends with the installed WordPress home page at the URL it prints, through the lab's public entry", async () => {
    expect(first.stderr).toContain('The cluster is up: the site answers through the load balancer.');
    expect(first.code, first.stderr).toBe(0);
    const url = siteUrl();
    expect(url).toBeDefined();
    const page = await get(url!);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
    expect(page.body).not.toMatch(/wp-admin\/install\.php/);
    const title = (yaml.load(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')) as Record<string, string>)['site-title'];
    expect(page.body).toContain(title!);
  });

  it('the site is HTTPS with the lab CA (the domain init made up), HTTP redirects there, and WordPress knows it is HTTPS', async () => {
    const url = siteUrl()!;
    expect(url).toBe('https://hawp.test/');
    expect(first.stderr).toMatch(/lab CA\s+\.ha-wordpress\/lab-ca\.pem/);
    expect(first.stderr).toMatch(/curl --cacert \.ha-wordpress\/lab-ca\.pem --resolve hawp\.test:443:[0-9.]+ https:\/\/hawp\.test\//);
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000');
    // WordPress's links are https from the first install, and its login cookie is Secure.
    expect(page.body).toMatch(/href="https:\/\/hawp\.test\//);
    expect(page.body).not.toMatch(/(href|src)="http:\/\/hawp\.test/);
    const login = await get(`${url}wp-login.php`);
    expect(login.status).toBe(200);
    expect(login.headers['set-cookie']?.find((c) => c.startsWith('wordpress_test_cookie='))).toMatch(/;\s*secure/i);
    // Plain HTTP is answered by the load balancer with a redirect to the same path over HTTPS.
    const plain = await get('http://hawp.test/wp-login.php?x=1');
    expect(plain.status).toBe(301);
    expect(plain.headers.location).toBe('https://hawp.test/wp-login.php?x=1');
    // The certificate is the lab CA's: a client that trusts only the system's authorities refuses it.
    await expect(get(url, { ca: null })).rejects.toThrow(/self[- ]signed|unable to (get|verify)|certificate/i);
  });

  it('the site is hardened by default: xmlrpc.php answers 403, security headers on the page, no nginx or PHP version', async () => {
    const url = siteUrl()!;
    const page = await get(url);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(page.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    expect(page.headers['x-powered-by']).toBeUndefined();
    expect(String(page.headers.server ?? '')).not.toMatch(/\d/);
    expect((await get(`${url}xmlrpc.php`)).status).toBe(403);
    // PHP (www-data) may write uploads and nothing that runs: not WordPress, wp-content, plugins or themes.
    const web = inventory().find((h) => h.group === 'wp_node')!;
    const tries = ['/usr/share/wordpress', '/var/lib/wordpress/wp-content', '/var/lib/wordpress/wp-content/plugins', '/var/lib/wordpress/wp-content/themes'];
    const probe = [...tries, '/var/lib/wordpress/wp-content/uploads']
      .map((d) => `if touch ${d}/.hawp-probe 2>/dev/null; then rm -f ${d}/.hawp-probe; echo "writable ${d}"; else echo "refused ${d}"; fi`)
      .join('; ');
    const lines = onNode(web.ip, `sudo -u www-data sh -c '${probe}'`).trim().split('\n');
    expect(lines).toEqual([...tries.map((d) => `refused ${d}`), 'writable /var/lib/wordpress/wp-content/uploads']);
  });

  needs('tcpdump').it(
    "the database path is TLS: WordPress's own connection has a cipher; no SQL in the clear on 3306 or Galera's ports while the writer runs; " +
      'no TLS, no certificate, a certificate from another CA, or a server the CA did not sign: refused',
    async () => {
      const web = inventory().find((h) => h.group === 'wp_node')!;
      // WordPress's connection, made by its db.php drop-in.
      const wp = onNode(
        web.ip,
        'sudo -u www-data php',
        `<?php $_SERVER['HTTP_HOST'] = 'localhost'; define('WP_USE_THEMES', false); require '/usr/share/wordpress/wp-load.php';
         $status = function ($name) use ($wpdb) { return $wpdb->get_var("SHOW SESSION STATUS LIKE '$name'", 1); };
         echo get_class($wpdb), ' ', $status('Ssl_version'), ' ', $status('Ssl_cipher');`,
      );
      expect(wp).toMatch(/^HA_WordPress_TLS_DB TLSv1\.[23] [A-Z0-9_-]+$/);

      // The same account, every other way in. The stranger's certificate has the right subject, from another CA.
      const { newCa, issue } = await import('../src/secrets/pki.js');
      const other = await newCa('stranger', 30);
      const stranger = await issue(other, { commonName: 'hawp-wordpress', usage: ['clientAuth'] }, 30);
      const attempts = onNode(
        web.ip,
        'sudo php',
        `<?php
        require '/etc/wordpress/config-default.php';
        mysqli_report(MYSQLI_REPORT_OFF);
        $host = explode(':', DB_HOST)[0];
        $file = function ($pem) { $f = tempnam('/tmp', 'hawp'); file_put_contents($f, $pem); register_shutdown_function('unlink', $f); return $f; };
        $key = $file(${JSON.stringify(stranger.key)}); $cert = $file(${JSON.stringify(stranger.cert)}); $ca = $file(${JSON.stringify(other.cert)});
        $verify = MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT;
        $try = function ($name, $k, $c, $a, $flags) use ($host) {
          $db = mysqli_init();
          $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 5);
          if ($a !== null) $db->ssl_set($k, $c, $a, null, null);
          $ok = @$db->real_connect($host, DB_USER, DB_PASSWORD, DB_NAME, 3306, null, $flags);
          echo $name, ' ', $ok ? 'connected ' . $db->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch_row()[1] : 'refused', "\\n";
        };
        $try('web-node-certificate', HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, HAWP_DB_TLS_CA, $verify);
        $try('plaintext', null, null, null, 0);
        $try('tls-without-certificate', null, null, HAWP_DB_TLS_CA, $verify);
        $try('certificate-from-another-ca', $key, $cert, HAWP_DB_TLS_CA, $verify);
        $try('server-not-signed-by-the-trusted-ca', HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, $ca, $verify);`,
      );
      expect(attempts.trim().split('\n')).toEqual([
        expect.stringMatching(/^web-node-certificate connected [A-Z0-9_-]+$/),
        'plaintext refused',
        'tls-without-certificate refused',
        'certificate-from-another-ca refused',
        'server-not-signed-by-the-trusted-ca refused',
      ]);

      // A capture on the lab's bridges (this host) while the drill's writer inserts through the reserved IP and
      // WordPress serves pages: the server greeting (plaintext before TLS starts) proves 3306 was captured.
      const { Writer } = await import('../src/drill/writer.js');
      const control = await labCtl();
      const pcap = path.join(root, 'db-path.pcap');
      const capture = spawn('tcpdump', ['-i', 'any', '-U', '-s', '0', '-w', pcap, 'tcp port 3306 or tcp port 4567 or tcp port 4568 or tcp port 4444'], {
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 2000));
      const writer = await Writer.start(control, web.name, { everyMs: 100 });
      writer.run();
      try {
        for (let i = 0; i < 5; i++) expect((await get(`${siteUrl()!}?p=1&capture=${i}`)).status).toBeLessThan(500);
        await new Promise((r) => setTimeout(r, 5000));
      } finally {
        await writer.stop();
        await writer.dropTable(inventory().find((h) => h.group === 'galera_cluster_node')!.name);
        const ended = new Promise((r) => capture.once('exit', r));
        capture.kill('SIGINT');
        await ended;
      }
      expect(writer.error, writer.error?.message).toBeUndefined();
      const bytes = readFileSync(pcap);
      expect(bytes.length, 'the capture holds the traffic').toBeGreaterThan(50_000);
      expect(bytes.includes('-MariaDB'), 'the capture holds port 3306 (the server greeting)').toBe(true);
      for (const sql of ['INSERT INTO', 'ha_wordpress_drill', 'SELECT ', 'wp_options', 'SHOW SESSION']) expect(bytes.includes(sql), sql).toBe(false);
    },
    5 * MIN,
  );

  it('no node has a world-readable file holding any value of the vaults', () => {
    // Every vault value long enough to be a secret (names, user names and the port are not).
    const values = new Set<string>();
    for (const g of ['all', 'galera_cluster_node', 'galera_loadbalancer', 'wp_node']) {
      const data = yaml.load(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars', g, 'vault.yml'), pwFile)) as Record<string, unknown>;
      for (const [k, v] of Object.entries(data)) {
        // Names, user names and the port are not secrets; nor are certificates (the CA's is on every node by design).
        if (/user|name|port|tls_ca/.test(k)) continue;
        const parts =
          typeof v === 'object' && v
            ? Object.entries(v)
                .filter(([part]) => part !== 'cert')
                .map(([, x]) => x as unknown)
            : [v];
        for (const x of parts) if (typeof x === 'string' && x.length >= 12) values.add(x);
      }
    }
    expect(values.size).toBeGreaterThan(15);
    // Walks the file system but /proc, /sys, /dev and Debian's own /usr (the roles write only /usr/local there),
    // reading every world-readable file up to 1 MiB; the values arrive on stdin, never in argv.
    const scan = [
      'import json, os, stat, sys',
      'values = [v.encode() for v in json.load(sys.stdin)]',
      'hits, seen = [], 0',
      "for d, subdirs, files in os.walk('/'):",
      "    if d == '/': subdirs[:] = [x for x in subdirs if x not in ('proc', 'sys', 'dev')]",
      "    if d == '/usr': subdirs[:] = [x for x in subdirs if x == 'local']",
      '    for f in files:',
      '        p = os.path.join(d, f)',
      '        try:',
      '            st = os.lstat(p)',
      '            if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o004 or st.st_size > 1 << 20: continue',
      '            seen += 1',
      "            data = open(p, 'rb').read()",
      '        except OSError: continue',
      '        if any(v in data for v in values): hits.append(p)',
      'print(json.dumps({"hits": hits, "seen": seen}))',
    ].join('\n');
    const program = Buffer.from(scan).toString('base64');
    for (const n of inventory()) {
      const out = JSON.parse(onNode(n.ip, `sudo python3 -c "import base64; exec(base64.b64decode('${program}'))"`, JSON.stringify([...values]))) as {
        hits: string[];
        seen: number;
      };
      expect(out.seen, n.name).toBeGreaterThan(300);
      expect(out.hits, n.name).toEqual([]);
    }
  });

  it('all 3 Galera nodes are Synced in one primary component of size 3', () => {
    for (const n of inventory().filter((h) => h.group === 'galera_cluster_node')) {
      const out = onNode(
        n.ip,
        "sudo mariadb -N -B -e \"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status')\"",
      );
      const status = Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => l.split('\t') as [string, string]),
      );
      expect(status, n.name).toEqual({ wsrep_cluster_size: '3', wsrep_local_state_comment: 'Synced', wsrep_cluster_status: 'Primary' });
    }
  });

  it('HAProxy reports 3 healthy Galera backends on both HAProxy nodes', () => {
    const vault = yaml.load(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars/galera_loadbalancer/vault.yml'), pwFile)) as Record<string, string | number>;
    for (const n of inventory().filter((h) => h.group === 'galera_loadbalancer')) {
      // The stats credentials go to curl on stdin (-K -), not on a command line.
      const config = `user = "${vault.vault_haproxy_stats_user}:${vault.vault_haproxy_stats_pass}"\nurl = "http://${n.privateIp}:${vault.vault_haproxy_stats_port}/;csv"\n`;
      const csv = onNode(n.ip, 'curl -sf -K -', config);
      const rows = csv
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(','));
      const servers = rows.filter((r) => r[1] !== 'FRONTEND' && r[1] !== 'BACKEND' && r[17] !== undefined && !/stats/.test(r[0]!));
      expect(
        servers.filter((r) => r[17] === 'UP'),
        `${n.name}: ${csv}`,
      ).toHaveLength(3);
    }
  });

  it("the network is a droplet's: Galera's ports only on the VPC, and HAProxy sees a web node's public address through the reserved IP", () => {
    const [db] = inventory().filter((h) => h.group === 'galera_cluster_node');
    const lbs = inventory().filter((h) => h.group === 'galera_loadbalancer');
    const web = inventory().find((h) => h.group === 'wp_node')!;
    // From a HAProxy node: the database node's VPC address answers on every Galera port; its public address is
    // dropped by the host firewall (a timeout, not a refusal: nothing answers at all).
    const probe = (to: string, port: number) =>
      onNode(
        lbs[0]!.ip,
        `python3 -c "import socket\ntry:\n socket.create_connection(('${to}', ${port}), timeout=3); print('open')\n` +
          `except socket.timeout: print('timeout')\nexcept OSError as e: print('refused' if e.errno == 111 else e)"`,
      ).trim();
    for (const port of [3306, 4567, 9200]) {
      expect(probe(db!.privateIp, port), `VPC :${port}`).toBe('open');
      expect(probe(db!.ip, port), `public :${port}`).toBe('timeout');
    }
    // A connection from the web node to the reserved IP, held open while the holder is asked who is connected.
    const reserved = labVars().db_reserved_ip!;
    onNode(web.ip, `setsid python3 -c "import socket, time; s = socket.create_connection(('${reserved}', 3306)); time.sleep(8)" </dev/null >/dev/null 2>&1 &`);
    const peers = () =>
      lbs.flatMap((n) =>
        onNode(n.ip, "sudo ss -Htn state established '( sport = :3306 )'")
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => l.trim().split(/\s+/).pop()!.replace(/:\d+$/, '')),
      );
    let seen: string[] = [];
    for (let i = 0; i < 20 && !seen.includes(web.ip); i++) {
      seen = peers();
      if (!seen.includes(web.ip)) execFileSync('sleep', ['0.3']);
    }
    expect(seen).toContain(web.ip);
    expect(seen).not.toContain(web.privateIp);
  });

  it('status --json reports the cluster healthy (exit 0): 8 nodes reachable, Galera 3 Synced, one reserved-IP holder, the site answering', async () => {
    const r = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const s = JSON.parse(r.stdout) as {
      healthy: boolean;
      problems: string[];
      nodes: { reachable: boolean }[];
      galera: { cluster_size: number; synced: string[] };
      reserved_ip: { holder: string | null };
      site: { answers: boolean };
    };
    expect(s.problems).toEqual([]);
    expect(s.healthy).toBe(true);
    expect(s.nodes.filter((n) => n.reachable)).toHaveLength(8);
    expect(s.galera.cluster_size).toBe(3);
    expect(s.galera.synced).toHaveLength(3);
    expect(s.reserved_ip.holder).toMatch(/^hawp-dblb-0[12]$/);
    expect(s.site.answers).toBe(true);
  });

  // A one-time move, for clusters made by 0.1: a whole `up` (~7 min on CI's 2 cores) that CI's 90 minutes no
  // longer have room for while a fresh `up` takes ~19 min there. It passed in CI's recent runs; run it with
  // HA_WORDPRESS_LAB_MIGRATION=1 (docs/testing.md).
  skipWhen(
    process.env.HA_WORDPRESS_LAB_MIGRATION === '1'
      ? undefined
      : 'a one-time move of 0.1 clusters, left out of CI for time; HA_WORDPRESS_LAB_MIGRATION=1 runs it',
  ).it(
    'a cluster made before the database path was TLS moves to it in one up, the site answering throughout: ' +
      'Galera through socket.dynamic and back to TLS only, WordPress over TLS, then the account requiring its certificate',
    async () => {
      const dbs = inventory().filter((h) => h.group === 'galera_cluster_node');
      const webs = inventory().filter((h) => h.group === 'wp_node');
      const invVars = (yaml.load(readFileSync(path.join(ws, 'ansible', 'inventory', 'hosts.yml'), 'utf8')) as { all: { vars: Record<string, string> } }).all
        .vars;
      const sql = (ip: string, text: string) => onNode(ip, 'sudo mariadb -N -B', text).trim();
      const cipher = (ip: string) =>
        onNode(
          ip,
          'sudo -u www-data php',
          `<?php $_SERVER['HTTP_HOST'] = 'localhost'; define('WP_USE_THEMES', false); require '/usr/share/wordpress/wp-load.php';
           echo 'cipher=', $wpdb->get_var("SHOW SESSION STATUS LIKE 'Ssl_cipher'", 1);`,
        ).trim();
      const accounts = () => sql(dbs[0]!.ip, "SELECT Host, IFNULL(JSON_VALUE(Priv, '$.x509_subject'), '') FROM mysql.global_priv WHERE User = 'wordpress'");

      // Back to what the version before this one built. Galera without TLS: going back needs a full stop and a bootstrap.
      for (const h of accounts().split('\n')) sql(dbs[0]!.ip, `ALTER USER 'wordpress'@'${h.split('\t')[0]!}' REQUIRE NONE`);
      const galera = '/etc/mysql/mariadb.conf.d/60-galera.cnf';
      for (const n of [...dbs].reverse()) onNode(n.ip, 'sudo systemctl stop mariadb');
      for (const n of dbs)
        onNode(
          n.ip,
          `sudo sed -i -e '/^ssl_\\(ca\\|cert\\|key\\) = /d' -e '/^tls_version = /d' -e 's/; socket\\.ssl=yes[^"]*"/"/' -e '/^\\[sst\\]$/,$d' ${galera}`,
        );
      onNode(dbs[0]!.ip, 'sudo galera_new_cluster');
      for (const n of dbs.slice(1)) onNode(n.ip, 'sudo systemctl start mariadb');
      for (const n of webs)
        onNode(
          n.ip,
          "sudo sh -c \"sed -i -e \\\"s/^define('DB_HOST', .*/define('DB_HOST', '" +
            invVars.db_reserved_ip +
            ':3306\');/\\" -e \\"/^define(\'HAWP_DB_TLS_/d\\" /etc/wordpress/config-default.php && ' +
            'rm -rf /var/lib/wordpress/wp-content/db.php /etc/wordpress/tls && ' +
            "sed -i '/ha-wordpress: the database/,/ha-wordpress: the database/d' /etc/hosts\"",
        );
      expect(onNode(dbs[0]!.ip, `sudo grep -c 'socket.ssl\\|ssl_ca' ${galera} || true`).trim()).toBe('0');
      expect(sql(dbs[2]!.ip, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t3');
      expect((await get(siteUrl()!)).status).toBe(200);
      expect(cipher(webs[0]!.ip)).toBe('cipher=');

      // up, with a visitor asking for the home page every 200 ms.
      let polling = true;
      const outages: number[] = [];
      let downSince: number | undefined;
      let requests = 0;
      const poll = (async () => {
        while (polling) {
          const t = Date.now();
          const ok = await get(siteUrl()!).then(
            (a) => a.status === 200,
            () => false,
          );
          requests++;
          if (!ok) downSince ??= t;
          else if (downSince !== undefined) {
            outages.push(t - downSince);
            downSince = undefined;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const up = await runCli(['up', '--non-interactive', '--yes', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 20 * MIN });
      polling = false;
      await poll;
      expect(up.code, up.stderr.slice(-3000)).toBe(0);
      console.log(`move to TLS: ${requests} requests during up, outages ${JSON.stringify(outages)} ms`);
      expect(downSince, 'the site answers at the end').toBeUndefined();
      // A writer's restart is a failover, as in a drill: within its single-node budget.
      expect(Math.max(0, ...outages)).toBeLessThan(5000);

      for (const n of dbs) {
        const options = onNode(n.ip, `sudo grep '^wsrep_provider_options' ${galera}`);
        expect(options, n.name).toContain('socket.ssl=yes');
        expect(options, n.name).not.toContain('socket.dynamic');
        // Running with that file: MariaDB (re)started after it was last written (Galera does not show socket.dynamic in its options).
        const started = `$(date -d "$(systemctl show mariadb -p ExecMainStartTimestamp --value)" +%s)`;
        expect(onNode(n.ip, `test ${started} -ge $(sudo stat -c %Y ${galera}) && echo after`).trim(), n.name).toBe('after');
        expect(sql(n.ip, "SELECT @@wsrep_provider_options LIKE '%socket.ssl = YES%'"), n.name).toBe('1');
      }
      expect(sql(dbs[0]!.ip, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t3');
      for (const n of webs) expect(cipher(n.ip), n.name).toMatch(/^cipher=[A-Z0-9_-]+$/);
      for (const line of accounts().split('\n')) expect(line.split('\t')[1]).toBe('/CN=hawp-wordpress');
    },
    25 * MIN,
  );

  it(
    'init --rotate tls then up: new CA and certificates everywhere with not one request failed, ' +
      'the servers presenting a certificate of the new CA and WordPress its new client certificate',
    async () => {
      const webs = inventory().filter((h) => h.group === 'wp_node');
      const vault = (g: string) => yaml.load(ansibleVaultDecrypt(path.join(ws, 'ansible/group_vars', g, 'vault.yml'), pwFile)) as Record<string, unknown>;
      const rotated = await runCli(['init', '--non-interactive', '--rotate', 'tls', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
      expect(rotated.code, rotated.stderr).toBe(0);
      const newCa = (vault('all').vault_db_tls_ca as string).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0];
      const client = (vault('wp_node').vault_db_tls_client as { cert: string }).cert;

      const traffic = siteTraffic();
      const up = await runCli(['up', '--non-interactive', '--yes', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 20 * MIN });
      const { requests, failed } = await traffic.stop();
      expect(up.code, up.stderr.slice(-3000)).toBe(0);
      expect(requests).toBeGreaterThan(100);
      expect(failed, `${failed.length} of ${requests} requests failed`).toEqual([]);

      for (const n of webs) {
        // Only the new CA trusted, and the web node's own (new) client certificate: the server's certificate is the new one.
        const r = onNode(
          n.ip,
          'sudo php',
          `<?php require '/etc/wordpress/config-default.php';
           mysqli_report(MYSQLI_REPORT_OFF);
           $ca = tempnam('/tmp', 'hawp'); file_put_contents($ca, ${JSON.stringify(newCa)});
           $db = mysqli_init(); $db->ssl_set(HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, $ca, null, null);
           $verify = MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT;
           $ok = @$db->real_connect(explode(':', DB_HOST)[0], DB_USER, DB_PASSWORD, DB_NAME, 3306, null, $verify);
           unlink($ca);
           echo $ok ? 'connected' : 'refused';`,
        ).trim();
        expect(r, n.name).toBe('connected');
        expect(onNode(n.ip, 'sudo cat /etc/wordpress/tls/client.pem'), n.name).toContain(client.trim());
      }
    },
    25 * MIN,
  );

  it(
    'a second up leaves the playbook out (every node has the configuration, the cluster is healthy); run anyway with a database node down, ' +
      'it goes on without that node and changes nothing (changed=0); status says DEGRADED until the node is back',
    async () => {
      // The claim is about a healthy cluster: the test before restarted every service.
      await expect.poll(async () => (await runCli(['status'], { cwd: ws, env: { HOME: home } })).code, { timeout: 3 * MIN, interval: 5000 }).toBe(0);
      const started = Date.now();
      const again = await runCli(['up', '--non-interactive', '--yes', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 15 * MIN });
      expect(again.code, again.stderr).toBe(0);
      // On failure, the check's own line says why it ran the playbook.
      const check = again.stderr.split('\n').find((l) => /nothing to change|check: .*playbook runs/.test(l));
      expect(check).toContain('nothing to change: every node has this configuration and the cluster is healthy');
      expect(again.stderr).not.toContain('ansible: configuring');
      console.log(`up with nothing to change: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      // A database node down, as a droplet powered off: up must still configure the rest (Galera keeps its quorum).
      // One run proves both, as CI has no minutes for two forced playbooks.
      const control = await labCtl();
      await control.breakNodes([{ name: 'hawp-db-03', how: 'stop' }]);
      try {
        const degraded = await runCli(['status'], { cwd: ws, env: { HOME: home } });
        expect(degraded.code, degraded.stdout).toBe(3);
        expect(degraded.stdout).toMatch(/hawp-db-03 .*NO/);
        // --wait-timeout: how long a node configured before may stay silent before up goes on without it.
        const forced = await runCli(['up', '--only', 'ansible', '--wait-timeout', '15', '--non-interactive', '--yes', '--vault-password-file', pwFile], {
          cwd: ws,
          env: { HOME: home },
          timeoutMs: 15 * MIN,
        });
        expect(forced.code, forced.stderr.slice(-3000)).toBe(0);
        expect(forced.stderr).toMatch(/hawp-db-03 \([0-9.]+\) does not answer \(.*\): up goes on without it/);
        expect(forced.stderr).toMatch(/ansible: 7 hosts configured, 0 changed/);
        expect(forced.stderr).toMatch(/up configured every node but hawp-db-03, which did not answer/);
        expect((await runCli(['status'], { cwd: ws, env: { HOME: home } })).code).toBe(3);
      } finally {
        // The lab side of up starts every container it has; the node rejoins by itself (IST).
        const back = await runCli(['up', '--only', 'terraform', '--non-interactive', '--yes', '--vault-password-file', pwFile], {
          cwd: ws,
          env: { HOME: home },
          timeoutMs: 10 * MIN,
        });
        expect(back.code, back.stderr.slice(-2000)).toBe(0);
      }
      await expect.poll(async () => (await runCli(['status'], { cwd: ws, env: { HOME: home } })).code, { timeout: 3 * MIN, interval: 5000 }).toBe(0);
    },
    31 * MIN,
  );

  it('status shows a stopped web server within 10 s, exits 3, and is healthy again once it runs', async () => {
    const web = inventory().find((h) => h.name === 'hawp-wp-02')!;
    onNode(web.ip, 'sudo systemctl stop nginx');
    try {
      const started = Date.now();
      const r = await runCli(['status'], { cwd: ws, env: { HOME: home } });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.code).toBe(3);
      expect(r.stdout).toContain('hawp-wp-02: nginx is inactive');
    } finally {
      onNode(web.ip, 'sudo systemctl start nginx');
    }
    const again = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
    expect(again.code, again.stdout).toBe(0);

    // An update that waits for a reboot (what a kernel package leaves behind) is shown, and is not a problem.
    onNode(web.ip, "printf 'linux-image-6.1.0-99-amd64\\n' | sudo tee /run/reboot-required.pkgs >/dev/null && sudo touch /run/reboot-required");
    try {
      const pending = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(pending.code, pending.stdout).toBe(0);
      const node = (JSON.parse(pending.stdout) as { nodes: { name: string; reboot_required?: string[] }[] }).nodes.find((n) => n.name === 'hawp-wp-02');
      expect(node?.reboot_required).toEqual(['linux-image-6.1.0-99-amd64']);
    } finally {
      onNode(web.ip, 'sudo rm -f /run/reboot-required /run/reboot-required.pkgs');
    }
  });

  it(
    'PHP-FPM down on a web node: /healthz (through PHP-FPM) fails and the load balancer takes the node out until it is back; ' +
      'killed, systemd starts it again by itself',
    async () => {
      const web = inventory().find((h) => h.name === 'hawp-wp-02')!;
      const control = await labCtl();
      const lbSees = async () => (await lbStat(control, 'hawp-wp-02')).status;
      const healthz = async () =>
        (
          await toNode(web.ip, '/healthz').then(
            (a) => a.status,
            () => 0,
          )
        ).toString();
      expect(await healthz()).toBe('200');
      // A test before may have had this node out: the load balancer takes it back after its passing checks, 3 s apart.
      await expect.poll(lbSees, { timeout: 20_000, interval: 500 }).toBe('UP');
      // Stopped (no restart): with DigitalOcean's check (every 3 s, out after 2 failures) the node leaves within about 6 s.
      onNode(web.ip, 'sudo systemctl stop php8.2-fpm.service');
      const stopped = Date.now();
      try {
        // nginx still runs and answers 502 for the check: the node is not down, its PHP is.
        expect(await healthz()).toBe('502');
        await expect.poll(lbSees, { timeout: 15_000, interval: 250 }).toBe('DOWN');
        console.log(`PHP-FPM stopped: the load balancer took the node out after ${((Date.now() - stopped) / 1000).toFixed(1)} s`);
      } finally {
        onNode(web.ip, 'sudo systemctl start php8.2-fpm.service');
      }
      expect(await healthz()).toBe('200');
      await expect.poll(lbSees, { timeout: 15_000, interval: 250 }).toBe('UP');
      for (let i = 0; i < 9; i++) expect((await get(siteUrl()!)).status).toBe(200);

      // Killed: the role's Restart=on-failure starts it again, whether or not the load balancer noticed meanwhile.
      onNode(web.ip, 'sudo systemctl kill --signal=SIGKILL php8.2-fpm.service');
      const killed = Date.now();
      expect(await healthz()).toBe('502');
      await expect.poll(healthz, { timeout: 30_000, interval: 250 }).toBe('200');
      console.log(`PHP-FPM killed: systemd had it answering again after ${((Date.now() - killed) / 1000).toFixed(1)} s`);
      await new Promise((r) => setTimeout(r, 8000)); // the load balancer's 2 passing checks, 3 s apart, if it took the node out
      for (let i = 0; i < 9; i++) expect((await get(siteUrl()!)).status).toBe(200);
    },
    3 * MIN,
  );

  it(
    "cron runs from the web nodes' timers, one node at a time: events scheduled once run exactly once, also with the last runner's timer stopped",
    async () => {
      const webs = inventory().filter((h) => h.group === 'wp_node');
      // PHP with WordPress loaded, as www-data on a web node (its configuration and database account).
      const wp = (ip: string, code: string) =>
        onNode(ip, 'sudo -u www-data php', `<?php $_SERVER['HTTP_HOST'] = 'localhost'; require '/usr/share/wordpress/wp-load.php'; ${code}`).trim();
      const lease = () =>
        wp(webs[0]!.ip, 'global $wpdb; echo $wpdb->get_var("SELECT holder FROM {$wpdb->base_prefix}hawp_cron_lease WHERE name = \'wp-cron\'");');
      // The timers have run since up: one node holds (or last held) the lease.
      await expect.poll(lease, { timeout: 90_000, interval: 2000 }).toMatch(/^hawp-wp-0[123]$/);
      const last = webs.find((h) => h.name === lease())!;
      const others = webs.filter((h) => h !== last);
      // The test's hook, on every node: each run of an event adds 1 to an option named after its tag.
      const mu = '/var/lib/wordpress/wp-content/mu-plugins/hawp-test-cron.php';
      const hook = `<?php add_action('hawp_test_cron', function ($tag) { global $wpdb; $wpdb->query($wpdb->prepare(
        "INSERT INTO {$wpdb->options} (option_name, option_value, autoload) VALUES (%s, '1', 'no') ON DUPLICATE KEY UPDATE option_value = option_value + 1",
        'hawp_test_cron_' . $tag)); });`;
      for (const n of webs) onNode(n.ip, `sudo mkdir -p ${path.dirname(mu)} && sudo tee ${mu} >/dev/null`, hook);
      onNode(last.ip, 'sudo systemctl stop ha-wordpress-wp-cron.timer');
      const tags = ['a', 'b', 'c', 'd', 'e'].map((t) => `${t}${Date.now()}`);
      try {
        wp(others[0]!.ip, `foreach (${JSON.stringify(tags)} as $t) wp_schedule_single_event(time() - 1, 'hawp_test_cron', [$t]);`);
        const counts = () =>
          wp(
            others[1]!.ip,
            `wp_cache_flush(); $o = []; foreach (${JSON.stringify(tags)} as $t) $o[] = (int) get_option('hawp_test_cron_' . $t, 0); echo json_encode($o);`,
          );
        // The next minute's run: within about 60 s (the timer), by a node whose timer runs.
        await expect.poll(counts, { timeout: 150_000, interval: 2000 }).not.toBe('[0,0,0,0,0]');
        // Runs that started in the same second as that one would have ended by now.
        await new Promise((r) => setTimeout(r, 10_000));
        expect(counts()).toBe('[1,1,1,1,1]');
        expect(others.map((h) => h.name)).toContain(lease());
      } finally {
        onNode(last.ip, 'sudo systemctl start ha-wordpress-wp-cron.timer');
        for (const n of webs) onNode(n.ip, `sudo rm -f ${mu}`);
        wp(
          others[0]!.ip,
          `foreach (${JSON.stringify(tags)} as $t) { delete_option('hawp_test_cron_' . $t); wp_clear_scheduled_hook('hawp_test_cron', [$t]); }`,
        );
      }
    },
    5 * MIN,
  );

  it('the page cache: an anonymous page is kept a few seconds (the second request is a HIT), never for a logged-in cookie or a POST', async () => {
    const web = inventory().find((h) => h.name === 'hawp-wp-03')!;
    const page = `/?cache-test=${Date.now()}`;
    // Straight to one node, as the load balancer asks it (Host, X-Forwarded-Proto): what its X-Cache header says.
    const xCache = async (o: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
      (await toNode(web.ip, page, { ...o, headers: { host: new URL(siteUrl()!).hostname, 'x-forwarded-proto': 'https', ...o.headers } })).headers['x-cache'];
    expect(await xCache()).toBe('MISS');
    expect(await xCache()).toBe('HIT');
    expect(await xCache({ headers: { cookie: 'wordpress_logged_in_0123=someone' } })).toBe('BYPASS');
    // A POST never consults the cache (no X-Cache at all), and its answer is not kept for the GETs after it.
    const posted = `/?cache-post=${Date.now()}`;
    const post = {
      method: 'POST',
      headers: { host: new URL(siteUrl()!).hostname, 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' },
    };
    expect((await toNode(web.ip, posted, { ...post, body: 'x=1' })).headers['x-cache']).toBeUndefined();
    expect((await toNode(web.ip, posted, { headers: { host: post.headers.host, 'x-forwarded-proto': 'https' } })).headers['x-cache']).toBe('MISS');
    // Another scheme is another page: never the HTTPS visitor's copy.
    expect(await xCache({ headers: { 'x-forwarded-proto': 'http' } })).toBe('MISS');
  });

  /** A plain GET of a URL, as a visitor's browser makes it. */
  const fetchBytes = (url: string) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      http
        .get(url, { timeout: 10_000 }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        })
        .on('error', reject);
    });

  /**
   * WordPress's media library through the REST API of one web node, as the
   * load balancer asks it (the site's Host, HTTPS said by X-Forwarded-Proto),
   * logged in with an application password made for the admin.
   */
  function mediaLibrary() {
    const webs = inventory().filter((h) => h.group === 'wp_node');
    const host = new URL(siteUrl()!).hostname;
    // An application password for the admin, made on a node with WordPress loaded: the REST API's login for scripts.
    const made = onNode(
      webs[0]!.ip,
      'sudo -u www-data php',
      "<?php $_SERVER['HTTP_HOST'] = 'localhost'; require '/usr/share/wordpress/wp-load.php'; " +
        "$u = get_user_by('login', 'hawp-admin'); [$pw] = WP_Application_Passwords::create_new_application_password($u->ID, ['name' => 'lab test " +
        "' . uniqid()]); echo $pw;",
    ).trim();
    const auth = `Basic ${Buffer.from(`hawp-admin:${made}`).toString('base64')}`;
    const asLb = { host, 'x-forwarded-proto': 'https', authorization: auth };
    const upload = (ip: string, image: Buffer, filename = 'hawp-lab-upload.png') =>
      new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
        const req = http.request(
          {
            host: ip,
            port: 80,
            // ?rest_route=: the REST API without pretty permalinks (the site keeps WordPress's default links).
            path: '/?rest_route=/wp/v2/media',
            method: 'POST',
            headers: { ...asLb, 'content-type': 'image/png', 'content-disposition': `attachment; filename="${filename}"` },
            timeout: 60_000,
          },
          answerTo((a) => resolve({ status: a.status, json: JSON.parse(a.body) as Record<string, unknown> })),
        );
        req.on('error', reject);
        req.end(image);
      });
    /** Deleted for good (not to the trash): WordPress deletes its objects from the bucket. */
    const remove = (ip: string, id: unknown) => toNode(ip, `/?rest_route=/wp/v2/media/${String(id)}&force=true`, { method: 'DELETE', headers: asLb });
    /** The URLs of an upload: the original and every size WordPress made. */
    const urls = (json: Record<string, unknown>) => [
      String(json.source_url),
      ...Object.values((json.media_details as { sizes: Record<string, { source_url: string }> }).sizes).map((x) => x.source_url),
    ];
    return { webs, asLb, upload, fetchBytes, remove, urls };
  }

  it(
    'an upload through one web node is in the media bucket: its URL and sizes answer with the same bytes every time; ' +
      'the same name through another node is not overwritten; delete removes it',
    async () => {
      const { webs, asLb, upload, fetchBytes, remove } = mediaLibrary();
      const image = png(640, 480, 1);
      const one = await upload(webs[0]!.ip, image);
      expect(one.status, JSON.stringify(one.json)).toBe(201);
      const url = String(one.json.source_url);
      // In the media bucket (init named it hawp-media-<6 random>), at WordPress's own path.
      expect(url, 'the bucket URL').toMatch(
        new RegExp(`^${labVars().lab_s3_endpoint!.replace(/[.]/g, '\\.')}/hawp-media-[a-z0-9]{6}/wp-content/uploads/[0-9]{4}/[0-9]{2}/hawp-lab-upload\\.png$`),
      );
      // Every fetch, as visitors sent to any node would make it: 200 and the bytes uploaded.
      for (let i = 0; i < 12; i++) {
        const r = await fetchBytes(url);
        expect(r.status).toBe(200);
        expect(r.body.equals(image)).toBe(true);
      }
      // The sizes WordPress made from it on that node are there too, and every node's page names the bucket's URL.
      const sizes = Object.values((one.json.media_details as { sizes: Record<string, { source_url: string }> }).sizes).map((x) => x.source_url);
      expect(sizes.length).toBeGreaterThanOrEqual(2);
      for (const u of sizes) expect((await fetchBytes(u)).status, u).toBe(200);
      for (const n of webs) {
        const seen = await toNode(n.ip, `/?rest_route=/wp/v2/media/${String(one.json.id)}`, { headers: asLb });
        expect((JSON.parse(seen.body) as { source_url: string }).source_url, n.name).toBe(url);
      }

      // The same file name through another node, which has no such file on its disk: a new name, the first upload untouched.
      const other = png(320, 240, 2);
      const two = await upload(webs[1]!.ip, other);
      expect(two.status, JSON.stringify(two.json)).toBe(201);
      expect(String(two.json.source_url)).not.toBe(url);
      expect((await fetchBytes(String(two.json.source_url))).body.equals(other)).toBe(true);
      expect((await fetchBytes(url)).body.equals(image)).toBe(true);

      // Deleted in WordPress (through a third node): gone from the bucket, the sizes with it.
      for (const [n, u] of [
        [webs[2]!, one],
        [webs[2]!, two],
      ] as const) {
        const del = await remove(n.ip, u.json.id);
        expect(del.status, del.body).toBe(200);
      }
      for (const u of [url, ...sizes]) expect((await fetchBytes(u)).status, u).toBe(403);
    },
    5 * MIN,
  );

  const drill = async (args: string[], timeoutMs = 45 * MIN) => {
    const r = await runCli(['drill', '--json', '--vault-password-file', pwFile, ...args], { cwd: ws, env: { HOME: home }, timeoutMs });
    let report: { scenarios: ScenarioResult[]; passed: boolean } | undefined;
    try {
      report = JSON.parse(r.stdout) as { scenarios: ScenarioResult[]; passed: boolean };
    } catch {
      throw new Error(`drill printed no JSON (exit ${r.code}): ${r.stderr.slice(-2000)}`);
    }
    // The figures, in CI's output: they are the ones the project quotes.
    for (const sc of report.scenarios) console.log(`drill ${sc.name}: ${JSON.stringify(sc)}`);
    return { ...r, report };
  };

  /**
   * What every drill scenario must show: traffic and writes throughout, no acknowledged write lost, healed. The outage
   * and detection times are figures, printed above and measured against their budgets by `npm run bench`, not
   * asserted: they depend on the machine's speed.
   */
  const expectSound = (sc: ScenarioResult) => {
    expect(sc.requests, sc.name).toBeGreaterThan(50);
    expect(sc.writes_acknowledged, sc.name).toBeGreaterThan(50);
    expect(sc.writes_lost, sc.name).toBe(0);
    expect(sc.healed_s, sc.name).not.toBeNull();
  };

  it(
    'drill: losing the reserved-IP holder, Galera writer, a web node or one of each: no acknowledged write lost, self-heals, status sees it',
    async () => {
      const r = await drill([]);
      expect(r.report.scenarios.map((s) => s.name)).toEqual(['haproxy-holder-stop', 'galera-node-kill', 'web-node-stop', 'one-of-each']);
      for (const sc of r.report.scenarios) {
        expectSound(sc);
        expect(sc.detected_s, sc.name).not.toBeNull();
      }
      // 0: every budget met; 3: a budget missed (the report says which); nothing else.
      expect([0, 3], r.stderr).toContain(r.code);
      expect(r.code === 0, r.stderr).toBe(r.report.passed);
      const after = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(after.code, after.stdout).toBe(0);
    },
    50 * MIN,
  );

  it(
    'drill, crash variants: the reserved-IP holder killed (also with a slow or a busy API) and a web node killed rather than shut down, ' +
      "and a web node's PHP-FPM killed, lose no write and heal",
    async () => {
      const names = ['haproxy-holder-kill', 'haproxy-holder-kill-slow-assign', 'haproxy-holder-kill-busy-api', 'web-node-kill', 'web-php-kill'];
      const r = await drill(['--scenario', names.join(',')]);
      expect(r.report.scenarios.map((s) => s.name)).toEqual(names);
      for (const sc of r.report.scenarios) expectSound(sc);
      expect([0, 3], r.stderr).toContain(r.code);
    },
    50 * MIN,
  );

  it(
    'drill, Ctrl-C in the middle of a scenario: it starts the node it broke again, exits 130, and the cluster is healthy again',
    async () => {
      const child = spawn(process.execPath, [BIN, 'drill', '--vault-password-file', pwFile, '--scenario', 'web-node-stop'], {
        cwd: ws,
        env: { PATH: process.env.PATH, HOME: home },
      });
      let stderr = '';
      child.stdout.resume();
      const broken = new Promise<void>((resolve) =>
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString('utf8');
          if (stderr.includes('status reports it')) resolve();
        }),
      );
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await Promise.race([broken, exited]);
      child.kill('SIGINT');
      expect(await exited, stderr).toBe(130);
      expect(stderr).toContain('drill interrupted; the nodes it broke were started again');
      let healthy = false;
      for (let i = 0; i < 60 && !healthy; i++) {
        healthy = (await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } })).code === 0;
        if (!healthy) await new Promise((r) => setTimeout(r, 1000));
      }
      expect(healthy).toBe(true);
    },
    20 * MIN,
  );

  it(
    'recovery: each DB node shut down in turn, up bootstraps from the last (safe_to_bootstrap), no acknowledged write lost; ' +
      'all three crashed at once re-form the cluster by themselves once started (no up)',
    async () => {
      const logs = path.join(ws, '.ha-wordpress', 'logs');
      const before = new Set(readdirSync(logs));
      const r = await drill(['--scenario', 'full-stop,full-crash']);
      const [stop, crash] = r.report.scenarios;
      expect(stop!.name).toBe('full-stop');
      // Writes went on between the shutdowns, so the last node alone had some of them: the wrong seed would lose them.
      expect(stop!.writes_acknowledged).toBeGreaterThan(20);
      expect(stop!.writes_lost).toBe(0);
      expect(stop!.healed_s).not.toBeNull();
      const ansibleLogs = readdirSync(logs).filter((f) => !before.has(f) && f.endsWith('-ansible.log'));
      // One up: full-stop's. full-crash only started the containers again.
      expect(ansibleLogs).toHaveLength(1);
      expect(readFileSync(path.join(logs, ansibleLogs[0]!), 'utf8')).toContain('No node runs the cluster: bootstrapping it on hawp-db-03');
      expect(crash!.name).toBe('full-crash');
      expect(crash!.writes_lost).toBe(0);
      expect(crash!.healed_s).not.toBeNull();
      expect([0, 3], r.stderr).toContain(r.code);
    },
    50 * MIN,
  );

  /** The WordPress database on a Galera node: its name, and a fingerprint of its content (row counts and CHECKSUM TABLE of every table). */
  function wpDatabase(ip: string): { name: string; tables: number; fingerprint: Record<string, string> } {
    const name = onNode(
      ip,
      'sudo mariadb -N -B -e "SELECT schema_name FROM information_schema.schemata ' +
        `WHERE schema_name NOT IN ('mysql','information_schema','performance_schema','sys')"`,
    ).trim();
    expect(name.split('\n'), 'one application database').toHaveLength(1);
    const tables = onNode(ip, `sudo mariadb -N -B -e "SHOW TABLES" ${name}`).trim().split('\n');
    expect(tables).toContain('wp_posts');
    const fingerprint: Record<string, string> = {};
    for (const t of tables) {
      // The web nodes' cron lease (who ran WordPress's cron last, and when): rewritten every minute by the timers.
      if (t === 'wp_hawp_cron_lease') continue;
      if (t === 'wp_options') {
        // WordPress keeps its own scheduler state and caches here and rewrites them on any page load
        // (the cron option, transients): they are not content, and the site's traffic changes them
        // between any two readings.
        const [count, sum] = onNode(
          ip,
          'sudo mariadb -N -B -e "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS(0x1f, option_id, option_name, option_value, autoload))), 0) ' +
            "FROM wp_options WHERE option_name <> 'cron' AND option_name NOT LIKE '\\\\_transient\\\\_%' " +
            `AND option_name NOT LIKE '\\\\_site\\\\_transient\\\\_%'" ${name}`,
        )
          .trim()
          .split('\t');
        fingerprint[t] = `${count} rows (cron and transients left out), ${sum}`;
        continue;
      }
      const [count, sum] = onNode(ip, `sudo mariadb -N -B -e "SELECT COUNT(*) FROM \\\`${t}\\\`; CHECKSUM TABLE \\\`${t}\\\`" ${name}`).trim().split('\n');
      fingerprint[t] = `${count} rows, ${sum!.split('\t')[1]}`;
    }
    return { name, tables: tables.length, fingerprint };
  }

  /** Content a business would miss: a post, a user, an option. */
  function writeContent(ip: string, db: string, tag: string): void {
    onNode(
      ip,
      `sudo mariadb ${db}`,
      [
        'INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status, post_name,',
        '  to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, post_type)',
        `  VALUES (1, NOW(), UTC_TIMESTAMP(), 'Kept by the backup ${tag}', 'Backup test ${tag}', '', 'publish', 'backup-test-${tag}',`,
        "  '', '', NOW(), UTC_TIMESTAMP(), '', 'post');",
        'INSERT INTO wp_users (user_login, user_pass, user_nicename, user_email, user_url, user_registered, user_activation_key,',
        '  user_status, display_name)',
        `  VALUES ('backup-${tag}', '-', 'backup-${tag}', 'backup-${tag}@example.com', '', NOW(), '', 0, 'Backup ${tag}');`,
        `INSERT INTO wp_options (option_name, option_value, autoload) VALUES ('hawp_backup_test_${tag}', 'value ${tag}', 'no');`,
      ].join('\n'),
    );
  }

  let backedUp: { fingerprint: Record<string, string>; snapshot: string; uploads: Record<string, string> } | undefined;
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it(
    'backup, then content changed and deleted, then restore: every WordPress table is exactly as it was at the snapshot, and the site serves it',
    async () => {
      const db = inventory().filter((h) => h.group === 'galera_cluster_node');
      const { name } = wpDatabase(db[0]!.ip);
      writeContent(db[0]!.ip, name, 'one');
      // An uploaded file too: its original and sizes, as visitors fetch them from the media bucket.
      const media = mediaLibrary();
      const kept = await media.upload(media.webs[0]!.ip, png(400, 300, 7), 'hawp-backup-kept.png');
      expect(kept.status, JSON.stringify(kept.json)).toBe(201);
      const uploads: Record<string, string> = {};
      for (const u of media.urls(kept.json)) {
        const r = await media.fetchBytes(u);
        expect(r.status, u).toBe(200);
        uploads[u] = sha256(r.body);
      }
      const { tables, fingerprint: before } = wpDatabase(db[1]!.ip);
      const taken = await runCli(['backup', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 10 * MIN });
      expect(taken.code, taken.stderr).toBe(0);
      const b = JSON.parse(taken.stdout) as { snapshot: string; short_id: string; node: string; duration_s: number; bytes: number; contents: string[] };
      console.log(`backup: ${JSON.stringify(b)}`);
      expect(b.contents).toEqual(['database', 'media', 'settings']);
      expect(b.bytes).toBeGreaterThan(10_000);
      // The backup read a node that was not taking the writes, and left it Synced.
      expect(b.node).not.toBe(db[0]!.name);
      expect(onNode(db.find((h) => h.name === b.node)!.ip, `sudo mariadb -N -B -e "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'"`)).toMatch(/Synced/);

      const listed = await runCli(['backups', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
      expect(listed.code, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { id: string }[]).map((x) => x.id)).toContain(b.snapshot);

      const verified = await runCli(['backup', '--verify', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 10 * MIN });
      expect(verified.code, verified.stderr).toBe(0);
      const v = JSON.parse(verified.stdout) as {
        snapshot: string;
        check: string;
        rows: Record<string, number>;
        tables: number;
        media: { attachments: number; missing: number } | null;
      };
      expect(v.snapshot).toBe(b.snapshot);
      expect(v.check).toBe('ok');
      // Every table, the cron lease among them (the fingerprint leaves that one out).
      expect(v.tables).toBe(tables);
      expect(`${v.rows.wp_posts} rows`).toBe(before.wp_posts!.split(',')[0]);
      // The upload's original is in the backup's uploads.
      expect(v.media?.attachments).toBeGreaterThanOrEqual(1);
      expect(v.media?.missing).toBe(0);

      // What a bad day does: a post deleted, an option changed, a stranger added.
      onNode(
        db[2]!.ip,
        `sudo mariadb ${name}`,
        "DELETE FROM wp_posts WHERE post_name = 'backup-test-one'; UPDATE wp_options SET option_value = 'changed' WHERE option_name = 'hawp_backup_test_one';",
      );
      writeContent(db[0]!.ip, name, 'two');
      expect(wpDatabase(db[1]!.ip).fingerprint).not.toEqual(before);
      // The upload deleted (WordPress deletes its objects), and another made after the backup.
      expect((await media.remove(media.webs[1]!.ip, kept.json.id)).status).toBe(200);
      for (const u of Object.keys(uploads)) expect((await media.fetchBytes(u)).status, u).toBe(403);
      const later = await media.upload(media.webs[2]!.ip, png(200, 100, 8), 'hawp-backup-later.png');
      expect(later.status, JSON.stringify(later.json)).toBe(201);

      const unknown = await runCli(['restore', '--yes', '--snapshot', 'abcdef12', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(`--snapshot: no snapshot abcdef12; the repository has ${b.short_id}`);

      const restored = await runCli(['restore', '--yes', '--json', '--snapshot', b.short_id, '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 20 * MIN,
      });
      expect(restored.code, restored.stderr).toBe(0);
      console.log(`restore: ${restored.stdout.trim().replace(/\s+/g, ' ')}`);
      for (const n of db) expect(wpDatabase(n.ip).fingerprint, n.name).toEqual(before);
      // The media bucket as it was: the deleted upload's files back byte for byte, the later one gone.
      for (const [u, h] of Object.entries(uploads)) {
        const r = await media.fetchBytes(u);
        expect([r.status, sha256(r.body)], u).toEqual([200, h]);
      }
      for (const u of media.urls(later.json)) expect((await media.fetchBytes(u)).status, u).toBe(403);
      // The first pages after the maintenance page can be slow (PHP and MariaDB caches are cold): healthy within a minute.
      let status = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      for (let i = 0; i < 12 && status.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 5000));
        status = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      }
      expect(status.code, status.stdout).toBe(0);
      const url = siteUrl()!;
      expect((await get(`${url}?name=backup-test-one`)).body).toContain('Backup test one');
      backedUp = { fingerprint: before, snapshot: b.snapshot, uploads };
    },
    40 * MIN,
  );

  it(
    "writes keep being acknowledged while a backup runs (the drill's writer, every 100 ms): none lost, and what the backup adds to a write's time",
    async () => {
      const { Writer } = await import('../src/drill/writer.js');
      const control = await labCtl();
      const db = inventory().filter((h) => h.group === 'galera_cluster_node');
      const writer = await Writer.start(control, 'hawp-wp-01', { everyMs: 100 });
      writer.run();
      try {
        await new Promise((r) => setTimeout(r, 10_000));
        const t0 = performance.now();
        let running = true;
        const taking = runCli(['backup', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 10 * MIN }).finally(
          () => (running = false),
        );
        // status meanwhile: the node the backup desyncs is out on purpose, so the cluster stays healthy.
        const views: { code: number | null; problems: string[]; node?: { name: string; galera?: { state: string } } }[] = [];
        while (running) {
          const st = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
          const j = JSON.parse(st.stdout) as { problems: string[]; nodes: { name: string; galera?: { state: string; backup_running?: boolean } }[] };
          if (running) views.push({ code: st.code, problems: j.problems, node: j.nodes.find((n) => n.galera?.backup_running) });
        }
        const taken = await taking;
        const t1 = performance.now();
        expect(taken.code, taken.stderr).toBe(0);
        console.log(`status while the backup ran: ${JSON.stringify(views.map((v) => [v.code, v.node?.name, v.node?.galera?.state]))}`);
        expect(
          views.some((v) => v.node),
          'status saw the backup running',
        ).toBe(true);
        for (const v of views) expect(v.code, v.problems.join('; ')).toBe(0);
        await new Promise((r) => setTimeout(r, 2000));
        await writer.stop();
        expect(writer.error, writer.error?.message).toBeUndefined();
        const figures = await writer.check(
          t0 - 10_000,
          t1,
          db.map((n) => n.name),
        );
        const before = writer.latency(t0 - 10_000, t0);
        const during = writer.latency(t0, t1);
        console.log(`writes during a backup: ${JSON.stringify({ figures: { ...figures, lost: figures.lost.length }, before, during })}`);
        expect(during.writes, 'the writer wrote while the backup ran').toBeGreaterThan(5);
        expect(figures.acknowledged).toBeGreaterThan(50);
        expect(figures.lost).toEqual([]);
      } finally {
        await writer.stop();
        await writer.dropTable(db[0]!.name);
      }
    },
    15 * MIN,
  );

  it(
    'scale --web-nodes 4, then 2: the new node is served only once its check passes, the two leaving ones drain first, one at a time; ' +
      'not one request failing; the rest is healthy',
    async () => {
      const scale = (n: number) =>
        runCli(['scale', '--web-nodes', String(n), '--yes', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 25 * MIN });
      const webNames = () =>
        inventory()
          .filter((h) => h.group === 'wp_node')
          .map((h) => h.name);
      const control = await labCtl(4);
      const traffic = siteTraffic();
      const started = Date.now();
      const up = await scale(4);
      const upS = (Date.now() - started) / 1000;
      expect(up.code, up.stderr.slice(-3000)).toBe(0);
      expect(JSON.parse(up.stdout)).toMatchObject({ web_nodes: { from: 3, to: 4 }, added: ['hawp-wp-04'], removed: [] });
      expect(up.stderr).toMatch(/\+ hawp-wp-04 +a new web node/);
      expect(webNames()).toEqual(['hawp-wp-01', 'hawp-wp-02', 'hawp-wp-03', 'hawp-wp-04']);
      await new Promise((r) => setTimeout(r, 3000));
      const newcomer = await lbStat(control, 'hawp-wp-04');
      expect(newcomer.status, 'the new node is in the load balancer').toBe('UP');
      expect(newcomer.served, 'the new node serves').toBeGreaterThan(0);

      const down0 = Date.now();
      const down = await scale(2);
      const downS = (Date.now() - down0) / 1000;
      const { requests, failed } = await traffic.stop();
      expect(down.code, down.stderr.slice(-3000)).toBe(0);
      console.log(
        `scale web 3 → 4: ${upS.toFixed(0)} s; 4 → 2: ${downS.toFixed(0)} s; ${failed.length} of ${requests} requests failed` + failuresSince(started, failed),
      );
      expect(JSON.parse(down.stdout)).toMatchObject({ web_nodes: { from: 4, to: 2 }, added: [], removed: ['hawp-wp-03', 'hawp-wp-04'] });
      // The highest-numbered go, one at a time in the order the plan said, each drained before its container goes.
      const order = [...down.stderr.matchAll(/taking out (hawp-wp-0\d): draining from the load balancer/g)].map((m) => m[1]);
      expect(order).toEqual(['hawp-wp-03', 'hawp-wp-04']);
      expect(requests).toBeGreaterThan(100);
      expect(failed, `${failed.length} of ${requests} requests failed`).toEqual([]);
      expect(webNames()).toEqual(['hawp-wp-01', 'hawp-wp-02']);
      const st = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(st.code, st.stdout).toBe(0);
    },
    50 * MIN,
  );

  it(
    "upgrade: a newer package in the lab's updates channel reaches every node one node at a time under traffic and writes, " +
      'not one request failing and no acknowledged write lost; status shows it pending before, and not after',
    async () => {
      const nodes = inventory();
      const webNodes = nodes.filter((h) => h.group === 'wp_node').map((h) => h.name);
      const control = await labCtl(webNodes.length);
      // A point release, as Debian would publish one: nftables (on every node, from the lab's repository) again, with a
      // higher version. Nothing depends on its exact version, and it restarts no service of the cluster.
      const was = (await control.exec('hawp-wp-01', ['dpkg-query', '-W', '-f=${Version}', 'nftables'])).stdout.trim();
      const next = await control.publishUpdate('nftables');
      expect(next).toBe(`${was}+hawp1`);

      // Without --yes and a terminal: the lists are read anew and the plan printed, then nothing changes.
      const asked = await runCli(['upgrade', '--non-interactive', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 10 * MIN });
      expect(asked.code, asked.stderr.slice(-2000)).toBe(2);
      expect(asked.stderr).toContain(`upgrade: ${nodes.length} of ${nodes.length} nodes, one at a time`);
      expect(asked.stderr).toMatch(/upgrade: not confirmed; .* \(nothing was changed\)/);
      const pending = JSON.parse((await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } })).stdout) as {
        nodes: { name: string; pending_updates?: { packages: string[] } }[];
      };
      for (const n of pending.nodes) expect(n.pending_updates?.packages, n.name).toContain('nftables');

      const db = inventory().filter((h) => h.group === 'galera_cluster_node');
      const result = await underLoad(
        control,
        async () => {
          const up = await runCli(['upgrade', '--yes', '--json', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 30 * MIN });
          expect(up.code, up.stderr.slice(-3000)).toBe(0);
          return JSON.parse(up.stdout) as {
            nodes: { name: string; action: string; duration_s: number; steps: Record<string, number> }[];
            duration_s: number;
          };
        },
        (r) =>
          `upgrade of ${nodes.length} nodes: ${r.duration_s} s (${r.nodes.map((n) => `${n.name} ${n.duration_s} s ${JSON.stringify(n.steps)}`).join(', ')})`,
      );
      const names = result.nodes.map((n) => n.name);
      const w = webNodes.length;
      expect(names.slice(0, w)).toEqual(webNodes);
      expect(names.slice(w, w + 2).sort()).toEqual(['hawp-dblb-01', 'hawp-dblb-02']);
      expect(names.slice(w + 2).sort()).toEqual(db.map((n) => n.name).sort());
      expect(result.nodes.every((n) => n.action === 'restarted')).toBe(true);
      for (const h of nodes) {
        const version = (await control.exec(h.name, ['dpkg-query', '-W', '-f=${Version}', 'nftables'])).stdout.trim();
        expect(version, h.name).toBe(next);
      }
      const after = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(after.code, after.stdout.slice(-2000)).toBe(0);
      expect((JSON.parse(after.stdout) as { nodes: { pending_updates?: unknown }[] }).nodes.filter((n) => n.pending_updates)).toEqual([]);
    },
    40 * MIN,
  );

  it(
    'a resize: init --db-size s-1vcpu-2gb, then up under traffic and writes: each database container stopped, given its new memory and CPU ' +
      'limits and started, one at a time with the writer last; not one request failing and no acknowledged write lost',
    async () => {
      const control = await labCtl(inventory().filter((h) => h.group === 'wp_node').length);
      const db = inventory()
        .filter((h) => h.group === 'galera_cluster_node')
        .map((h) => h.name);
      // What a node sees as its memory: its cgroup's limit, as the wordpress role measures it (v2, else v1).
      const limit = async (name: string) =>
        (await control.exec(name, ['sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'])).stdout.trim();
      for (const n of db) expect(await limit(n), n).toBe(String(4 * 1024 ** 3));
      const before = JSON.parse((await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } })).stdout) as { galera: { writer: string } };
      const resized = await runCli(['init', '--non-interactive', '--db-size', 's-1vcpu-2gb', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
      });
      expect(resized.code, resized.stderr).toBe(0);
      // Not without a yes, as a droplet's resize is in the plan up asks about.
      const unasked = await runCli(['up', '--non-interactive', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home } });
      expect(unasked.code, unasked.stderr).toBe(2);
      expect(unasked.stderr).toContain(
        `error: resize: ${db.length} containers would be resized and up is not interactive; run \`ha-wordpress up --yes\` to resize them one at a time`,
      );
      for (const n of db) expect(await limit(n), `${n} untouched`).toBe(String(4 * 1024 ** 3));
      const started = Date.now();
      const up = await underLoad(
        control,
        async () => {
          const r = await runCli(['up', '--non-interactive', '--yes', '--vault-password-file', pwFile], { cwd: ws, env: { HOME: home }, timeoutMs: 30 * MIN });
          expect(r.code, r.stderr.slice(-3000)).toBe(0);
          return r;
        },
        () => `resize of ${db.length} database containers (s-2vcpu-4gb → s-1vcpu-2gb): ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      for (const n of db) expect(up.stderr).toContain(`${n} will be RESIZED (s-2vcpu-4gb → s-1vcpu-2gb)`);
      const order = [...up.stderr.matchAll(/resizing (hawp-db-0\d): s-2vcpu-4gb → s-1vcpu-2gb/g)].map((m) => m[1]);
      expect([...order].sort()).toEqual(db);
      expect(order.at(-1), 'the writer is resized last').toBe(before.galera.writer);
      for (const n of db) expect(await limit(n), n).toBe(String(2 * 1024 ** 3));
      const st = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(st.code, st.stdout.slice(-2000)).toBe(0);
    },
    35 * MIN,
  );

  // A whole `up` with a new Galera node (~6 min on CI's 2 cores) that CI's 90 minutes have no room for beside the
  // scale test; HA_WORDPRESS_LAB_REPLACE=1 runs it (docs/testing.md).
  skipWhen(
    process.env.HA_WORDPRESS_LAB_REPLACE === '1' ? undefined : 'replace of a database node, left out of CI for time; HA_WORDPRESS_LAB_REPLACE=1 runs it',
  ).it(
    'replace hawp-db-02 under traffic and writes: taken out, made anew, rejoined by a state transfer from a member other than the writer, ' +
      'no other node restarted; not one request failing and no acknowledged write lost',
    async () => {
      const control = await labCtl(inventory().filter((h) => h.group === 'wp_node').length);
      const uptime = async (name: string) =>
        Number((await control.exec(name, ['mariadb', '-N', '-B', '-e', "SHOW GLOBAL STATUS LIKE 'Uptime'"])).stdout.trim().split(/\s+/)[1]);
      const others = ['hawp-db-01', 'hawp-db-03'];
      const before = await Promise.all(others.map(uptime));
      const started = Date.now();
      await underLoad(
        control,
        async () => {
          const r = await runCli(['replace', 'hawp-db-02', '--yes', '--json', '--vault-password-file', pwFile], {
            cwd: ws,
            env: { HOME: home },
            timeoutMs: 30 * MIN,
          });
          expect(r.code, r.stderr.slice(-3000)).toBe(0);
          expect(JSON.parse(r.stdout)).toMatchObject({ node: 'hawp-db-02', group: 'galera_cluster_node', taken_out: true });
          expect(r.stderr).toContain('hawp-db-02: taking it out of the galera tier');
          expect(r.stderr).toContain('hawp-db-02: removing its container');
        },
        () => `replace hawp-db-02: ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      // A new node: it asked for a full state transfer, and Galera chose the member that is not the writer.
      const log = (await control.exec('hawp-db-02', ['journalctl', '-u', 'mariadb', '--no-pager', '-o', 'cat'])).stdout;
      expect(log).toMatch(/requested state transfer from 'hawp-db-03,'/);
      expect(log).toMatch(/Selected [\d.]+ \(hawp-db-03\)\(SYNCED\) as donor/);
      // The others kept running throughout: their new member list restarted nothing.
      const after = await Promise.all(others.map(uptime));
      others.forEach((name, i) => expect(after[i], `${name} was restarted`).toBeGreaterThan(before[i]!));
      const st = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(st.code, st.stdout.slice(-2000)).toBe(0);
    },
    35 * MIN,
  );

  // Every planned change through the drill's own machinery, for the table the README quotes (about 35 min on 2 cores:
  // each scale runs up twice); HA_WORDPRESS_LAB_CHANGES=1 runs it (docs/testing.md).
  skipWhen(
    process.env.HA_WORDPRESS_LAB_CHANGES === '1' ? undefined : 'the drill of every planned change, left out of CI for time; HA_WORDPRESS_LAB_CHANGES=1 runs it',
  ).it(
    'drill --scenario rolling-upgrade,scale-web,scale-db,replace-db,resize-db: each change under traffic and writes heals, loses no acknowledged write, ' +
      'and the cluster has its shape back',
    async () => {
      const shape = () => inventory().map((h) => h.name);
      const before = shape();
      const r = await drill(['--scenario', 'rolling-upgrade,scale-web,scale-db,replace-db,resize-db'], 90 * MIN);
      expect(r.report.scenarios.map((s) => s.name)).toEqual(['rolling-upgrade', 'scale-web', 'scale-db', 'replace-db', 'resize-db']);
      for (const sc of r.report.scenarios) {
        expectSound(sc);
        expect(sc.change?.duration_s, sc.name).toBeGreaterThan(0);
      }
      const [, web, db, , resized] = r.report.scenarios;
      expect(web!.broken).toHaveLength(1);
      expect(db!.broken).toHaveLength(2);
      expect(resized!.broken).toHaveLength(3);
      // Figures against budgets (0: every one met), not asserted beyond the verdict's own consistency.
      expect([0, 3], r.stderr).toContain(r.code);
      expect(r.code === 0, r.stderr).toBe(r.report.passed);
      expect(shape()).toEqual(before);
      const after = await runCli(['status', '--json'], { cwd: ws, env: { HOME: home } });
      expect(after.code, after.stdout.slice(-2000)).toBe(0);
    },
    95 * MIN,
  );

  it(
    'destroy takes a final backup; up on the empty lab refuses to bootstrap an empty database and names it; up --restore latest brings the content back',
    async () => {
      expect(backedUp, 'the backup test ran first').toBeDefined();
      // What the final backup must hold: the database as it is now (WordPress's own cron may have
      // written to wp_options since the restore, on a page load).
      const { name: dbName, fingerprint: atDestroy } = wpDatabase(inventory().find((h) => h.group === 'galera_cluster_node')!.ip);
      const gone = await runCli(['destroy', '--non-interactive', '--yes', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 10 * MIN,
      });
      expect(gone.code, gone.stderr).toBe(0);
      const final = gone.stderr.match(/final backup ([0-9a-f]{8}) taken on/)?.[1];
      expect(final, gone.stderr).toBeDefined();

      const refused = await runCli(['up', '--non-interactive', '--yes', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 30 * MIN,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(final!);
      expect(refused.stderr).toMatch(/ha-wordpress restore|--restore latest/);
      expect(refused.stderr).toContain('--allow-empty-database');
      expect(refused.stderr).toContain('up stopped before starting an empty site: every database node would be new');
      expect(refused.stderr).toContain('no container was created');
      expect(refused.stderr).not.toContain('--only ansible');
      const { labContainers } = await import('../src/lab/index.js');
      expect(await labContainers({ workspace: ws, project: 'hawp' })).toEqual([]);

      const back = await runCli(['up', '--non-interactive', '--yes', '--restore', 'latest', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 30 * MIN,
      });
      expect(back.code, back.stderr).toBe(0);
      const db = inventory().filter((h) => h.group === 'galera_cluster_node');
      for (const n of db) expect(wpDatabase(n.ip).fingerprint, n.name).toEqual(atDestroy);
      // The post the restore test brought back is there too, and the upload's files.
      expect(onNode(db[0]!.ip, `sudo mariadb -N -B -e "SELECT COUNT(*) FROM wp_posts WHERE post_name = 'backup-test-one'" ${dbName}`).trim()).toBe('1');
      for (const [u, h] of Object.entries(backedUp!.uploads)) {
        const r = await fetchBytes(u);
        expect([r.status, sha256(r.body)], u).toEqual([200, h]);
      }
    },
    70 * MIN,
  );

  it(
    'destroy leaves no process, mount, link, cgroup or nft table of the lab behind',
    async () => {
      const { labHash } = await import('../src/lab/plan.js');
      const hash = labHash(ws, 'hawp');
      const gone = await runCli(['destroy', '--non-interactive', '--yes', '--vault-password-file', pwFile], {
        cwd: ws,
        env: { HOME: home },
        timeoutMs: 5 * MIN,
      });
      expect(gone.code, gone.stderr).toBe(0);
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps.split('\n').filter((l) => l.includes(hash))).toEqual([]);
      expect(
        readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .filter((l) => l.includes(`hawp-${hash}`)),
      ).toEqual([]);
      const links = JSON.parse(execFileSync('ip', ['-j', 'link'], { encoding: 'utf8' })) as { ifname: string }[];
      expect(links.map((l) => l.ifname).filter((n) => n.includes(hash))).toEqual([]);
      expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(hash);
      expect(execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-name', `*${hash}*`], { encoding: 'utf8' }).trim()).toBe('');
    },
    6 * MIN,
  );
});
