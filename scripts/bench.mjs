#!/usr/bin/env node
// Benchmarks for the budgets in docs/cluster.md#budgets (figures to report, not pass/fail tests):
//   1. `ha-wordpress --help` / `--version` start-up vs bare `node` (budget 1.5×)
//   2. `init --non-interactive` against a stand-in DigitalOcean API on
//      127.0.0.1 (budget 1 s wall), and the same for `--target local`.
//   3. The local target (Linux + root only): `up` from fresh containers to
//      WordPress serving (budget 180 s, goal 150 s on 2 cores; the base image and package
//      cache are warmed first and reported separately), a second `up`
//      with nothing to change (budget 30 s, goal 20 s) and the whole playbook forced
//      on the unchanged cluster (`up --only ansible`), then `drill --json`: the
//      failover budgets (< 5 s outage per lost node, < 10 s for one of each
//      tier, no acknowledged write lost); then backups: a 100+ MB database
//      backed up under the drill's writer, restored (the site's downtime),
//      and the repository's size after 10 backups; last, what TLS costs: the
//      writer's insert time over TLS and in plaintext, and requests/s over
//      HTTPS and (after making the lab HTTP-only) over HTTP; and the page cache:
//      requests/s for the home page cached and uncached. Skip it all with --no-lab.
// Usage: npm run bench [-- --runs N] [-- --no-lab | --only-backups | --only-tls | --only-cache (the lab's up and those figures, no drill)
//        | --only-up (the up figures alone: warm-up, fresh, again, forced; no drill)]
//        [-- --lab DIR]: the --only-cache figures from the lab of the workspace DIR, already up (left as it is)
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeDoApi, DEFAULT_TOKEN } from '../test/support/fake-do-api.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'ha-wordpress.js');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

function time(args, env = {}, opts = {}) {
  return timeAndOutput(args, env, opts).then((r) => r.ms);
}

function timeAndOutput(args, env = {}, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      if (err && !opts.anyExit) reject(new Error(`${args.join(' ')} failed: ${stderr}`));
      else resolve({ ms: performance.now() - t0, stdout });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function series(label, fn) {
  await fn(); // warm the file cache
  const xs = [];
  for (let i = 0; i < RUNS; i++) xs.push(await fn(i));
  return { label, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

const rows = [];
const node = await series('node -e 0', () => time(['-e', '0']));
const help = await series('ha-wordpress --help', () => time([bin, '--help']));
const version = await series('ha-wordpress --version', () => time([bin, '--version']));
rows.push(node, help, version);

const api = await startFakeDoApi({ perPageCap: 200 });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hawp-bench-'));
const home = path.join(tmp, 'home');
mkdirSync(home);
const pw = path.join(tmp, 'pw');
writeFileSync(pw, 'bench vault password\n');
// Generate the key once so every run measures init, not key generation.
await time([bin, 'init', '--target', 'local', '--non-interactive', '--yes', '--dir', path.join(tmp, 'warm'), '--vault-password-file', pw], { HOME: home });
const initDo = await series('init --non-interactive (digitalocean, loopback API)', (i = 'w') =>
  time(
    [
      bin,
      'init',
      '--non-interactive',
      '--project',
      'bench',
      '--region',
      'fra1',
      '--dir',
      path.join(tmp, `do-${i}`),
      '--vault-password-file',
      pw,
      '--api-url',
      api.url,
    ],
    {
      HOME: home,
      DIGITALOCEAN_TOKEN: DEFAULT_TOKEN,
    },
  ),
);
const initLocal = await series('init --non-interactive --target local', (i = 'w') =>
  time([bin, 'init', '--target', 'local', '--non-interactive', '--dir', path.join(tmp, `local-${i}`), '--vault-password-file', pw], { HOME: home }),
);
const rerun = await series('init again on an existing workspace (digitalocean)', () =>
  // The password comes from a file each time: init keeps no .vault-pass then, so the re-run needs it too.
  time([bin, 'init', '--non-interactive', '--dir', path.join(tmp, 'do-0'), '--vault-password-file', pw, '--api-url', api.url], { HOME: home }),
);
rows.push(initDo, initLocal, rerun);
await api.close();

let labS3Dir;

/** The bench lab's control (dist/lab) and its node names by group, or undefined when there is no lab. */
async function benchLab(ws) {
  const { labControl } = await import('../dist/lab/index.js');
  const quiet = { info() {}, warn() {}, error() {}, success() {}, out() {} };
  const control = await labControl({ workspace: ws, project: 'bench', webNodes: 3, dbNodes: 3, log: quiet });
  if (!control) return undefined;
  return { control, names: (g) => control.plan.nodes.filter((n) => n.group === g).map((n) => n.name) };
}

/** The site as up wrote it into the inventory: the load balancer's address, the URL, the lab CA. */
async function siteOf(ws) {
  const { readInventoryVars, LAB_CA_FILE } = await import('../dist/workspace/inventory.js');
  const vars = await readInventoryVars(ws);
  const ca = await (await import('node:fs/promises')).readFile(path.join(ws, LAB_CA_FILE), 'utf8').catch(() => undefined);
  return { ip: vars.load_balancer_ip, url: vars.site_url || `http://${vars.load_balancer_ip}/`, ...(ca ? { ca } : {}) };
}

/**
 * Backups on the lab (issue: data you cannot lose): a WordPress database
 * grown past 100 MB, one backup timed while the drill's writer writes
 * (what it adds to a write, and whether any write is lost), the site's
 * downtime during a restore (first failed to first good request, polled
 * every 100 ms), and the repository's size after 10 backups.
 */
async function benchBackups(ws, env) {
  const out = [];
  const { Writer } = await import('../dist/drill/writer.js');
  const { s3DataDir } = await import('../dist/lab/dirs.js');
  const lab = await benchLab(ws);
  if (!lab) return ['no lab to measure'];
  const { control, names } = lab;
  labS3Dir = s3DataDir(control.plan.labId);
  const [db1, ...dbRest] = names('galera_cluster_node');
  const web1 = names('wp_node')[0];
  const sql = async (node, text, timeoutMs = 10 * 60_000) => (await control.exec(node, ['mariadb', '-N', '-B'], { input: text, timeoutMs })).stdout.trim();
  const schema = await sql(
    db1,
    "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ('mysql','information_schema','performance_schema','sys')",
  );
  // Random bytes (restic 0.14 does not compress; nothing dedups inside them), in batches Galera certifies comfortably.
  await sql(db1, `CREATE TABLE IF NOT EXISTS \`${schema}\`.wp_hawp_bench (id INT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL)`);
  for (let i = 0; i < 11; i++)
    await sql(
      db1,
      // MariaDB's sequence engine (seq_1_to_N), not MySQL's cte_max_recursion_depth, which MariaDB does not have.
      `INSERT INTO \`${schema}\`.wp_hawp_bench (payload) SELECT TO_BASE64(RANDOM_BYTES(1024)) FROM \`${schema}\`.seq_1_to_7000`,
    );
  const mb = await sql(db1, `SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = '${schema}'`);
  out.push(`database of ${mb} MiB (${schema})`);

  const cli = (args, timeoutMs = 30 * 60_000) =>
    timeAndOutput([bin, ...args, '--vault-password-file', pw], env, { cwd: ws, timeout: timeoutMs, anyExit: false });
  const writer = await Writer.start(control, web1, { everyMs: 100 });
  writer.run();
  await new Promise((r) => setTimeout(r, 20_000));
  const t0 = performance.now();
  const taken = await cli(['backup', '--json']);
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  await writer.stop();
  const before = writer.latency(t0 - 20_000, t0);
  const during = writer.latency(t0, t1);
  const lost = await writer.check(t0 - 20_000, t1, [db1, ...dbRest]);
  await writer.dropTable(db1);
  const b = JSON.parse(taken.stdout);
  out.push(
    `backup of the ${mb} MiB database: ${(taken.ms / 1000).toFixed(1)} s by the command, ${b.duration_s.toFixed(1)} s on ${b.node}; ${(b.bytes / 1048576).toFixed(1)} MiB`,
  );
  out.push(
    `writes while it ran: ${during.writes} written, ${lost.acknowledged} acknowledged over the window, ${lost.lost.length} lost; ` +
      `write time median ${before.median.toFixed(0)} → ${during.median.toFixed(0)} ms, 95th percentile ${before.p95.toFixed(0)} → ${during.p95.toFixed(0)} ms, longest ${during.max.toFixed(0)} ms`,
  );

  // Downtime during a restore, seen through the lab's public entry as a visitor sees it (HTTPS with the lab CA).
  const { httpStatus } = await import('../dist/net/http-probe.js');
  const { siteRequest } = await import('../dist/commands/operate.js');
  const site = siteRequest(await siteOf(ws));
  let firstBad;
  let backAt;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const t = performance.now();
      const ok = (await httpStatus({ ...site, timeoutMs: 2000 })) === 200;
      if (!ok) {
        firstBad ??= t;
        backAt = undefined;
      } else if (firstBad !== undefined) backAt ??= t;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const restored = await cli(['restore', '--yes', '--json', '--snapshot', b.short_id]);
  // The site may come back a moment after the command ends (the load balancer's checks).
  for (let i = 0; i < 300 && firstBad !== undefined && backAt === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  polling = false;
  await poll;
  out.push(
    `restore of it: ${(restored.ms / 1000).toFixed(1)} s by the command; the site's downtime ` +
      (firstBad === undefined
        ? 'none seen'
        : backAt === undefined
          ? 'did not end within 30 s of it'
          : `${((backAt - firstBad) / 1000).toFixed(1)} s (first failed to first good request)`),
  );

  // Deduplication: 9 more backups, a small option row added before each.
  for (let i = 0; i < 9; i++) {
    await sql(
      db1,
      `INSERT INTO \`${schema}\`.wp_options (option_name, option_value, autoload) VALUES ('hawp_bench_${i}_${Date.now()}', REPEAT('x', 1000), 'no')`,
    );
    await cli(['backup', '--json']);
  }
  const du = (await import('node:child_process')).execFileSync('du', ['-sb', labS3Dir], { encoding: 'utf8' }).split('\t')[0];
  out.push(`repository after 10 backups of the ${mb} MiB database: ${(Number(du) / 1048576).toFixed(1)} MiB`);
  await sql(db1, `DROP TABLE IF EXISTS \`${schema}\`.wp_hawp_bench`);
  return out;
}

/** Requests/s and latency of GET `path` through the lab's public entry: `concurrency` clients for `seconds`. */
async function load(site, { keepAlive, concurrency = 8, seconds = 20, uncached = false }) {
  const http = await import('node:http');
  const https = await import('node:https');
  const u = new URL(site.url);
  const tls = u.protocol === 'https:';
  const agent = new (tls ? https : http).Agent({ keepAlive, maxSockets: concurrency });
  const times = [];
  let failed = 0;
  let sent = 0;
  const end = performance.now() + seconds * 1000;
  // uncached: a URL of its own each time, which the page cache never holds (WordPress renders every one).
  const pathOf = () => (uncached ? `/?hawp-bench=${++sent}` : '/');
  const one = () =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = (tls ? https : http).get(
        { host: site.ip, port: tls ? 443 : 80, path: pathOf(), agent, headers: { host: u.hostname }, ...(tls ? { servername: u.hostname, ca: site.ca } : {}) },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) times.push(performance.now() - t);
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  agent.destroy();
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(times.length * q))] ?? NaN;
  return { rps: times.length / seconds, median: at(0.5), p99: at(0.99), failed };
}

/**
 * What TLS costs (issue: secure by default): WordPress's acknowledged-insert
 * time with the drill's writer over TLS (as WordPress connects) and over a
 * plaintext connection of a throw-away account beside it, in the same lab at
 * the same time; then requests/s through the load balancer over HTTPS, and
 * over HTTP after the lab is made HTTP-only (init --domain '' and up).
 */
async function benchTls(ws, env) {
  const out = [];
  const { randomBytes } = await import('node:crypto');
  const { Writer } = await import('../dist/drill/writer.js');
  const lab = await benchLab(ws);
  if (!lab) return ['no lab to measure'];
  const { control, names } = lab;
  const db1 = names('galera_cluster_node')[0];
  const web1 = names('wp_node')[0];
  const sql = async (text) => (await control.exec(db1, ['mariadb', '-N', '-B'], { input: text })).stdout.trim();

  // The writer as it ships, and a copy that connects in plaintext as a throw-away account from the same hosts.
  const script = readFileSync(path.join(root, 'libexec', 'drill-writer.php'), 'utf8');
  const user = 'hawp_bench_plain';
  const password = randomBytes(18).toString('hex');
  const plain = script
    .replace("if (defined('HAWP_DB_TLS_CA')) {", 'if (false) {')
    .replace('real_connect($host, DB_USER, DB_PASSWORD,', `real_connect($host, '${user}', '${password}',`);
  if (plain === script || !plain.includes(user) || plain.includes("defined('HAWP_DB_TLS_CA')"))
    return ['the writer changed: the bench cannot make its plaintext copy'];
  const hosts = (await sql("SELECT Host FROM mysql.global_priv WHERE User = 'wordpress'")).split('\n');
  const schema = 'wordpress';
  for (const h of hosts) await sql(`CREATE USER '${user}'@'${h}' IDENTIFIED BY '${password}'; GRANT ALL ON \`${schema}\`.* TO '${user}'@'${h}';`);
  const measure = async (label, o) => {
    const writer = await Writer.start(control, web1, { everyMs: 100, ...o });
    writer.run();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 30_000));
    const t1 = performance.now();
    await writer.stop();
    const l = writer.latency(t0, t1);
    await writer.dropTable(db1);
    return `${label}: ${l.writes} writes, median ${l.median.toFixed(1)} ms, 95th percentile ${l.p95.toFixed(1)} ms`;
  };
  try {
    const tlsLine = await measure('over TLS (a new connection each, as WordPress)', {});
    const plainLine = await measure('in plaintext (same path, a throw-away account)', { script: plain });
    out.push(`acknowledged insert, ${tlsLine}`, `acknowledged insert, ${plainLine}`);
  } finally {
    for (const h of hosts) await sql(`DROP USER IF EXISTS '${user}'@'${h}'`);
  }

  const fmtLoad = (l) => `${l.rps.toFixed(1)} requests/s, median ${l.median.toFixed(0)} ms${l.failed ? `, ${l.failed} failed` : ''}`;
  const secure = await siteOf(ws);
  if (!secure.url.startsWith('https:')) return [...out, 'the lab is not HTTPS: no HTTPS figure'];
  const httpsKeep = await load(secure, { keepAlive: true });
  const httpsNew = await load(secure, { keepAlive: false });
  // The same lab, HTTP only.
  const cli = (args) => timeAndOutput([bin, ...args, '--vault-password-file', pw], env, { cwd: ws, timeout: 30 * 60_000, anyExit: false });
  await cli(['init', '--non-interactive', '--domain', '']);
  await cli(['up', '--non-interactive', '--yes']);
  const plainSite = await siteOf(ws);
  const httpKeep = await load(plainSite, { keepAlive: true });
  const httpNew = await load(plainSite, { keepAlive: false });
  out.push(
    `home page through the load balancer, 8 clients, 20 s each: HTTPS ${fmtLoad(httpsKeep)} (connections kept), ${fmtLoad(httpsNew)} (a new one each); ` +
      `HTTP ${fmtLoad(httpKeep)} (kept), ${fmtLoad(httpNew)} (new)`,
  );
  return out;
}

/**
 * The page cache (issue: WordPress on every node): the home page through the
 * load balancer, 8 clients with connections kept, 20 s each, as the cache
 * serves it and with a URL of its own per request (every one rendered by
 * PHP from the database, as with the cache off).
 */
async function benchPageCache(ws) {
  const site = await siteOf(ws);
  const fmt = (l) =>
    `${l.rps.toFixed(1)} requests/s, median ${l.median.toFixed(0)} ms, 99th percentile ${l.p99.toFixed(0)} ms${l.failed ? `, ${l.failed} failed` : ''}`;
  const uncached = await load(site, { keepAlive: true, uncached: true });
  const cached = await load(site, { keepAlive: true });
  return [`home page through the load balancer, 8 clients, 20 s each: uncached ${fmt(uncached)}; from the page cache ${fmt(cached)}`];
}

// The local target: one measurement each (minutes, not milliseconds).
const lab = [];
const drill = [];
const backups = [];
const tlsCost = [];
const labArg = process.argv.indexOf('--lab');
const pageCache = [];
if (labArg > 0) {
  // An existing lab: only what reads the site, nothing that changes or removes it.
  pageCache.push(...(await benchPageCache(path.resolve(process.argv[labArg + 1]))));
} else if (!process.argv.includes('--no-lab') && process.platform === 'linux' && process.getuid() === 0) {
  const ws = path.join(tmp, 'lab');
  const env = { HOME: home };
  const up = ['up', '--non-interactive', '--yes', '--vault-password-file', pw];
  const down = ['destroy', '--non-interactive', '--yes', '--vault-password-file', pw];
  await time([bin, 'init', '--target', 'local', '--non-interactive', '--yes', '--project', 'bench', '--dir', ws, '--vault-password-file', pw], env);
  const only = ['up', 'backups', 'tls', 'cache'].find((o) => process.argv.includes(`--only-${o}`));
  if (only && only !== 'up') {
    lab.push([`up (for the ${only} figures; base image and caches as this machine has them)`, await time([bin, ...up], env, { cwd: ws })]);
  } else {
    // Warm-up: builds (or reuses) the base image and the package repository, then removes the containers.
    lab.push(['first up on this machine, incl. base image and package cache (warm-up)', await time([bin, ...up], env, { cwd: ws })]);
    await time([bin, ...down, '--no-final-backup'], env, { cwd: ws });
    // The workspace's cluster has held data: starting it empty again must be said.
    lab.push(['up: fresh containers to WordPress serving (budget 180 s, goal 150 s)', await time([bin, ...up, '--allow-empty-database'], env, { cwd: ws })]);
    lab.push(['up again, nothing to change (budget 30 s, goal 20 s)', await time([bin, ...up], env, { cwd: ws })]);
    // The whole playbook on the unchanged cluster (what every second up cost before the check).
    lab.push(['up --only ansible on an unchanged cluster (changed=0)', await time([bin, ...up, '--only', 'ansible'], env, { cwd: ws })]);
  }
  const all = !only;
  if (all) {
    // Failover under steady requests (budget: < 5 s per single node, < 10 s for one of each tier); exit 3 = over budget, still reported.
    const drilled = await timeAndOutput([bin, 'drill', '--json', '--vault-password-file', pw], env, { cwd: ws, anyExit: true });
    try {
      drill.push(...JSON.parse(drilled.stdout).scenarios);
    } catch {
      console.error('drill printed no report; run it by hand in the bench workspace to see why');
    }
  }
  if (all || only === 'cache') pageCache.push(...(await benchPageCache(ws)));
  if (all || only === 'backups') backups.push(...(await benchBackups(ws, env)));
  // Last: it leaves the lab HTTP-only.
  if (all || only === 'tls') tlsCost.push(...(await benchTls(ws, env)));
  lab.push(['destroy', await time([bin, ...down, '--no-final-backup'], env, { cwd: ws })]);
}
rmSync(tmp, { recursive: true, force: true });
if (labS3Dir) rmSync(labS3Dir, { recursive: true, force: true });

const fmt = (ms) => `${ms.toFixed(0).padStart(6)} ms`;
console.log(`\n${RUNS} runs each on ${os.cpus().length} cores, Node ${process.versions.node}\n`);
console.log(`${'what'.padEnd(56)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)}`);
for (const r of rows) console.log(`${r.label.padEnd(56)} ${fmt(r.median)} ${fmt(r.min)} ${fmt(r.max)}`);
const ratio = help.median / node.median;
console.log('');
console.log(`--help start-up: ${ratio.toFixed(2)}× bare node (budget 1.5×) ${ratio <= 1.5 ? 'within budget' : 'OVER BUDGET'}`);
console.log(`--version start-up: ${(version.median / node.median).toFixed(2)}× bare node`);
console.log(`init against the loopback API: ${initDo.median.toFixed(0)} ms (budget 1000 ms) ${initDo.median <= 1000 ? 'within budget' : 'OVER BUDGET'}`);
for (const [label, ms] of lab) console.log(`lab: ${label}: ${(ms / 1000).toFixed(1)} s`);
for (const line of backups) console.log(`backup: ${line}`);
for (const line of tlsCost) console.log(`tls: ${line}`);
for (const line of pageCache) console.log(`page cache: ${line}`);
for (const d of drill)
  console.log(
    `drill: ${d.name}: longest outage ${(d.longest_outage_ms / 1000).toFixed(1)} s (budget ${d.budget_ms / 1000} s) ${d.longest_outage_ms < d.budget_ms ? 'within budget' : 'OVER BUDGET'}; ` +
      `${d.failed}/${d.requests} requests failed; ${d.writes_acknowledged} writes acknowledged, ${d.writes_lost} lost; status saw it after ${d.detected_s} s; healthy ${d.healed_s} s after the restart`,
  );
