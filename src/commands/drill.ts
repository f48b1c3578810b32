/**
 * `ha-wordpress drill` (local target): proves the failover budgets (see
 * docs/cluster.md#budgets) by breaking the lab the way real clusters break,
 * while a visitor keeps reloading the site and WordPress keeps writing.
 *
 * - Traffic: a GET of the home page through the public entry every 200 ms
 *   (WordPress renders it from the database, so a database outage shows),
 *   each with a 3 s limit; anything but a 200 in time is a failure.
 * - Writes: libexec/drill-writer.php in the last web node (no scenario stops
 *   it) inserts one row every 200 ms with WordPress's own credentials through
 *   the reserved IP and HAProxy; a row is "acknowledged" when its INSERT
 *   returned. After each scenario has healed, every database node is read
 *   directly: an acknowledged row missing from any node is a lost write.
 * - Each scenario: 3 s of calm, the break, `status` run every second until
 *   one run sees the failure (that delay is reported), the break held for HOLD_MS, then the
 *   nodes started again (`labUp`, as `up` would) and `status` polled until
 *   the cluster is healthy (healed_s counts from the restart), then 3 s more.
 *   The outage is measured over the whole window, so whatever the recovery
 *   itself costs (a rejoining node taking a donor out, say) counts too.
 *
 * Exit 0 when every scenario met its budget, lost nothing, healed and was
 * seen by status within 10 s; 3 (status's "degraded") otherwise; the report
 * is printed either way. Ctrl-C restarts what was broken, then exits 130.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { CancelledError, UsageError, UserError } from '../errors.js';
import { longestOutage, lostWrites, parseIds, type Sample } from '../drill/measure.js';
import type { LabControl } from '../lab/index.js';
import { packagePath } from '../paths.js';
import { openWorkspace, type OpContext, type Workspace } from './operate.js';
import { DEGRADED_EXIT, statusProbe, type ClusterStatus } from './status.js';
import { labOptions, upLocal } from './up.js';

export type DrillContext = OpContext;

/** The budgets (docs/cluster.md#budgets): one node lost costs under 5 s of outage, one of each tier at once under 10 s. */
const SINGLE_MS = 5000;
const COMBINED_MS = 10_000;

export interface Scenario {
  name: string;
  what: string;
  budgetMs: number | null;
  /** Which nodes break, and how, given the cluster as status last saw it. */
  victims(c: Cluster, s: ClusterStatus): { name: string; how: 'stop' | 'kill'; why: string }[];
  /** Break the victims in turn, a few seconds apart (writes go on in between), rather than at once. */
  oneByOne?: boolean;
  /** The whole database tier: the restore is `up`, the recovery path a user takes. */
  restoreWithUp?: boolean;
}

interface Cluster {
  web: string[];
  db: string[];
}

const holder = (s: ClusterStatus) => {
  if (!s.reserved_ip.holder) throw new UserError('no HAProxy node holds the reserved IP; run `ha-wordpress status`, then `ha-wordpress up`');
  return { name: s.reserved_ip.holder, how: 'stop' as const, why: 'the HAProxy node holding the reserved IP' };
};
// With haproxy_single_writer (the default) HAProxy sends every query to the first database node and keeps the others as backups.
const writerDb = (c: Cluster) => ({ name: c.db[0]!, how: 'kill' as const, why: 'the database node HAProxy sends queries to' });
const firstWeb = (c: Cluster) => ({ name: c.web[0]!, how: 'stop' as const, why: 'a web node' });

export const SCENARIOS: Scenario[] = [
  { name: 'haproxy-holder-stop', what: 'stop the HAProxy node that holds the reserved IP', budgetMs: SINGLE_MS, victims: (_c, s) => [holder(s)] },
  { name: 'galera-node-kill', what: 'hard-kill the Galera node taking the writes', budgetMs: SINGLE_MS, victims: (c) => [writerDb(c)] },
  { name: 'web-node-stop', what: 'stop one web node', budgetMs: SINGLE_MS, victims: (c) => [firstWeb(c)] },
  { name: 'one-of-each', what: 'one node of each tier at once', budgetMs: COMBINED_MS, victims: (c, s) => [holder(s), writerDb(c), firstWeb(c)] },
  // On request: the same single losses as a crash (no clean shutdown: the peer must notice missing VRRP adverts, the load balancer a dead backend).
  { name: 'haproxy-holder-kill', what: 'hard-kill the HAProxy node that holds the reserved IP', budgetMs: SINGLE_MS, victims: (_c, s) => [{ ...holder(s), how: 'kill' }] },
  { name: 'web-node-kill', what: 'hard-kill one web node', budgetMs: SINGLE_MS, victims: (c) => [{ ...firstWeb(c), how: 'kill' }] },
  // Every database node down. Crashed all at once, Galera rebuilds its primary component by itself
  // when they all come back (pc.recovery, from gvwstate.dat). Shut down one after another, as in
  // maintenance or a staged power-off, no node may start the cluster alone: the last to leave is
  // marked safe_to_bootstrap, and `up` (the galera role's recover mode) must pick it.
  {
    name: 'full-stop',
    what: 'shut every Galera node down, one after another, then recover with `up`',
    budgetMs: null,
    victims: (c) => c.db.map((name) => ({ name, how: 'stop' as const, why: 'every database node' })),
    oneByOne: true,
    restoreWithUp: true,
  },
  {
    name: 'full-crash',
    what: 'hard-kill every Galera node at once, then run `up`',
    budgetMs: null,
    victims: (c) => c.db.map((name) => ({ name, how: 'kill' as const, why: 'every database node' })),
    restoreWithUp: true,
  },
];
/** What `drill` runs without --scenario: the four losses docs/cluster.md#budgets lists (crash variants and whole-tier losses on request). */
export const DEFAULT_SCENARIOS = ['haproxy-holder-stop', 'galera-node-kill', 'web-node-stop', 'one-of-each'];

export interface ScenarioResult {
  name: string;
  requests: number;
  failed: number;
  longest_outage_ms: number;
  /** Seconds from restarting the broken nodes to `status` healthy; null when it never got there. */
  healed_s: number | null;
  writes_acknowledged: number;
  writes_lost: number;
  writes_failed: number;
  /** Seconds from the break to the first `status` that reported it; null when status never did. */
  detected_s: number | null;
  broken: string[];
  budget_ms: number | null;
  passed: boolean;
}

const CALM_MS = 3000;
const HOLD_MS = 15_000;
const ONE_BY_ONE_GAP_MS = 3000;
const HEAL_LIMIT_MS = 5 * 60_000;
const REQUEST_EVERY_MS = 200;
const REQUEST_LIMIT_MS = 3000;
const WRITE_EVERY_MS = 200;
const DETECT_BUDGET_S = 10;
const WRITER_FILE = '/run/ha-wordpress-drill-writer.php';
const INTERRUPTED = 'drill interrupted; the nodes it broke were started again (`ha-wordpress status` shows when the cluster is whole)';

export function parseScenarios(given: string[] | undefined): Scenario[] {
  if (!given || given.length === 0) return SCENARIOS.filter((s) => DEFAULT_SCENARIOS.includes(s.name));
  const names = given.flatMap((g) => g.split(',')).map((n) => n.trim()).filter(Boolean);
  if (names.includes('all')) return SCENARIOS;
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new UsageError(`--scenario: no scenario "${n}"; choose from ${SCENARIOS.map((x) => x.name).join(', ')}, or all`);
    return s;
  });
}

export async function runDrill(ctx: DrillContext): Promise<void> {
  const chosen = parseScenarios(ctx.options.scenario !== undefined ? [ctx.options.scenario] : undefined);
  const ws = await openWorkspace(ctx);
  if (ws.target !== 'local')
    throw new UsageError('drill runs on the local target only: it stops and kills nodes on purpose. On DigitalOcean, watch `ha-wordpress status` while you power off one droplet at a time');
  const lab = await import('../lab/index.js');
  const labOpts = await labOptions(ctx, ws);
  const control = await lab.labControl(labOpts);
  if (!control) throw new UserError(`this workspace has no lab on this machine; run \`ha-wordpress up\` first`);
  const group = (g: string) => control.plan.nodes.filter((n) => n.group === g).map((n) => n.name);
  const cluster: Cluster = { web: group('wp_node'), db: group('galera_cluster_node') };
  const probe = await statusProbe(ctx, ws);
  const before = await probe();
  if (!before.healthy) throw new UserError(`the cluster is not healthy before the drill (${before.problems[0]}); run \`ha-wordpress status\`, then \`ha-wordpress up\``);

  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on('SIGINT', onSigint);
  const lb = control.plan.nodes.find((n) => n.role === 'lb')!;
  const traffic = new Traffic(lb.ip, stop.signal);
  const writerNode = cluster.web[cluster.web.length - 1]!;
  const writer = await Writer.start(control, writerNode, await fs.readFile(packagePath('libexec', 'drill-writer.php'), 'utf8'));
  ctx.log.info(`drill: ${chosen.length} scenario${chosen.length === 1 ? '' : 's'}; requests to http://${lb.ip}/ every ${REQUEST_EVERY_MS} ms, a row written from ${writerNode} every ${WRITE_EVERY_MS} ms`);

  const results: ScenarioResult[] = [];
  try {
    traffic.start();
    writer.run();
    for (const sc of chosen) {
      const r = await runScenario(ctx, ws, sc, { cluster, control, probe, traffic, writer, signal: stop.signal, restore: () => lab.labUp(labOpts) });
      results.push(r);
      if (writer.error) throw writer.error;
      if (r.healed_s === null) {
        ctx.log.warn(`${sc.name} did not heal within ${HEAL_LIMIT_MS / 1000} s; the remaining scenarios are skipped`);
        break;
      }
    }
  } catch (err) {
    if (stop.signal.aborted) throw new CancelledError(INTERRUPTED);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    traffic.stop();
    await writer.stop();
  }
  if (stop.signal.aborted) throw new CancelledError(INTERRUPTED);
  await control.exec(cluster.db[0]!, ['mariadb', '-e', `DROP TABLE IF EXISTS ${writer.table}`], { timeoutMs: 30_000 }).catch(() => undefined);

  const passed = results.length === chosen.length && results.every((r) => r.passed);
  if (ctx.options.json) ctx.log.out(JSON.stringify({ scenarios: results, passed }, null, 2));
  else for (const line of report(results)) ctx.log.out(line);
  if (passed) ctx.log.success('drill passed: every outage within budget, no acknowledged write lost, every scenario healed, status saw every failure');
  else {
    ctx.log.error(`drill failed: ${failures(results, chosen.length).join('; ')}`);
    process.exitCode = DEGRADED_EXIT;
  }
}

interface Run {
  cluster: Cluster;
  control: LabControl;
  probe: () => Promise<ClusterStatus>;
  traffic: Traffic;
  writer: Writer;
  signal: AbortSignal;
  restore: () => Promise<unknown>;
}

async function runScenario(ctx: DrillContext, ws: Workspace, sc: Scenario, run: Run): Promise<ScenarioResult> {
  const { control, probe, signal } = run;
  const start = performance.now();
  const current = await probe();
  const victims = sc.victims(run.cluster, current);
  ctx.log.info(`→ ${sc.name}: ${sc.what}: ${victims.map((v) => `${v.how} ${v.name} (${v.why})`).join(', ')}`);
  await pause(CALM_MS, signal);

  let detected: number | null = null;
  let healed: number | null = null;
  try {
    const t0 = performance.now();
    // status runs from the moment the break starts, a new one every second alongside the others (as a
    // user or a monitor would run it), so one run caught mid-shutdown and waiting out its SSH timeout
    // does not hide what the next one sees.
    let watching = true;
    const runs: Promise<void>[] = [];
    const watcher = (async () => {
      let inFlight = 0;
      while (watching && detected === null) {
        if (inFlight < 3) {
          inFlight++;
          runs.push(
            probe()
              .then((s) => {
                if (detected === null && !s.healthy) {
                  detected = (performance.now() - t0) / 1000;
                  ctx.log.info(`  status reports it after ${detected.toFixed(1)} s: ${s.problems.slice(0, 2).join('; ')}`);
                }
              })
              .catch(() => undefined)
              .finally(() => inFlight--),
          );
        }
        await pause(1000, signal);
      }
      await Promise.allSettled(runs);
    })().catch(() => undefined); // Ctrl-C ends its wait early; the break's own wait reports that
    try {
      if (sc.oneByOne)
        for (const v of victims) {
          await control.breakNodes([v]);
          await pause(ONE_BY_ONE_GAP_MS, signal);
        }
      else await control.breakNodes(victims);
      // Held broken for HOLD_MS, and until status saw it (or 30 s more: then the report says it never did).
      while ((performance.now() - t0 < HOLD_MS || detected === null) && performance.now() - t0 < HOLD_MS + 30_000) await pause(500, signal);
    } finally {
      watching = false;
      await watcher;
    }
  } finally {
    // Whatever happened since the break (Ctrl-C included), the broken nodes are started again.
    const t1 = performance.now();
    ctx.log.info(`  starting ${victims.map((v) => v.name).join(', ')} again${sc.restoreWithUp ? ' and running `up` (its recovery path)' : ''}…`);
    if (sc.restoreWithUp && !signal.aborted) await upLocal({ ...ctx, options: { ...ctx.options, only: undefined } }, ws);
    else await run.restore();
    if (!signal.aborted) healed = await untilHealthy(probe, t1, signal);
  }
  ctx.log.info(healed === null ? '  not healthy again in time' : `  healthy again after ${healed.toFixed(1)} s`);
  await pause(CALM_MS, signal);
  const end = performance.now();

  const samples = run.traffic.between(start, end);
  const writes = run.writer.between(start, end);
  const perNode = await Promise.all(run.cluster.db.map((db) => run.writer.readBack(db)));
  const lost = lostWrites(writes.acknowledged, perNode);
  const outage = longestOutage(samples, end);
  const result: ScenarioResult = {
    name: sc.name,
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    longest_outage_ms: outage,
    healed_s: healed === null ? null : round1(healed),
    writes_acknowledged: writes.acknowledged.length,
    writes_lost: lost.length,
    writes_failed: writes.failed,
    detected_s: detected === null ? null : round1(detected),
    broken: victims.map((v) => v.name),
    budget_ms: sc.budgetMs,
    passed: false,
  };
  result.passed = healed !== null && lost.length === 0 && (sc.budgetMs === null || outage < sc.budgetMs) && detected !== null && detected <= DETECT_BUDGET_S;
  ctx.log.info(`  ${result.failed} of ${result.requests} requests failed, longest outage ${(outage / 1000).toFixed(1)} s; ${result.writes_acknowledged} writes acknowledged, ${result.writes_lost} lost`);
  return result;
}

async function untilHealthy(probe: () => Promise<ClusterStatus>, since: number, signal: AbortSignal): Promise<number | null> {
  while (performance.now() - since < HEAL_LIMIT_MS && !signal.aborted) {
    if ((await probe()).healthy) return (performance.now() - since) / 1000;
    await pause(1000, signal).catch(() => undefined);
  }
  return null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** A wait that ends early (with CancelledError) on Ctrl-C. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CancelledError());
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function failures(results: ScenarioResult[], expected: number): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.healed_s === null) out.push(`${r.name} did not heal`);
    if (r.writes_lost) out.push(`${r.name} lost ${r.writes_lost} acknowledged writes`);
    if (r.budget_ms !== null && r.longest_outage_ms >= r.budget_ms) out.push(`${r.name}: ${(r.longest_outage_ms / 1000).toFixed(1)} s outage (budget ${r.budget_ms / 1000} s)`);
    if (r.detected_s === null || r.detected_s > DETECT_BUDGET_S) out.push(`${r.name}: status did not report the failure within ${DETECT_BUDGET_S} s`);
  }
  if (results.length < expected) out.push(`${expected - results.length} scenarios not run`);
  return out;
}

function report(results: ScenarioResult[]): string[] {
  const s = (n: number | null, unit: string) => (n === null ? 'never' : `${n.toFixed(1)} ${unit}`);
  const header = ['SCENARIO', 'REQUESTS', 'FAILED', 'LONGEST OUTAGE', 'BUDGET', 'STATUS SAW IT', 'HEALED AFTER', 'WRITES ACKED', 'LOST', ''];
  const rows = results.map((r) => [
    r.name,
    String(r.requests),
    String(r.failed),
    s(r.longest_outage_ms / 1000, 's'),
    r.budget_ms === null ? '-' : `< ${r.budget_ms / 1000} s`,
    s(r.detected_s, 's'),
    s(r.healed_s, 's'),
    String(r.writes_acknowledged),
    String(r.writes_lost),
    r.passed ? 'ok' : 'FAILED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** A visitor reloading the home page through the public entry on a fixed schedule (open loop: a slow answer does not slow the schedule). */
class Traffic {
  private samples: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  constructor(
    private readonly host: string,
    private readonly signal: AbortSignal,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.signal.aborted) return this.stop();
      if (this.inFlight >= 2 * (REQUEST_LIMIT_MS / REQUEST_EVERY_MS)) return; // bounded, whatever happens
      const at = performance.now();
      this.inFlight++;
      get(this.host, REQUEST_LIMIT_MS).then((ok) => {
        this.inFlight--;
        this.samples.push({ at, ok });
      });
    }, REQUEST_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  between(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.at >= from && s.at < to);
  }
}

function get(host: string, limitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port: 80, path: '/', agent: false, headers: { connection: 'close', 'user-agent': 'ha-wordpress-drill' } }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(t);
        resolve(res.statusCode === 200);
      });
      res.on('error', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    const t = setTimeout(() => {
      req.destroy();
      resolve(false);
    }, limitMs);
    req.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** The writer in a web node, one row per line, paced from here. */
class Writer {
  private acked = new Map<number, number>();
  private failed: number[] = [];
  private stopped = false;
  private loop?: Promise<void>;
  private nextId = 0;

  private constructor(
    private readonly control: LabControl,
    private readonly node: string,
    private readonly child: ChildProcess,
    private readonly lines: AsyncIterator<string>,
    readonly table: string,
  ) {}

  static async start(control: LabControl, node: string, script: string): Promise<Writer> {
    await control.exec(node, ['sh', '-c', `umask 077 && cat > ${WRITER_FILE}`], { input: script });
    const child = await control.spawn(node, ['php', WRITER_FILE]);
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    child.stderr!.resume();
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([lines.next(), new Promise<IteratorResult<string>>((r) => (timer = setTimeout(() => r({ done: true, value: undefined }), 60_000)))]);
    clearTimeout(timer);
    const line = first.done ? '' : first.value;
    const m = /^ready ([A-Za-z0-9_$]+\.ha_wordpress_drill)$/.exec(line);
    if (!m) {
      child.kill('SIGKILL');
      throw new UserError(`the drill's writer in ${node} could not start: ${line.replace(/^error /, '') || 'no answer'}`);
    }
    return new Writer(control, node, child, lines, m[1]!.split('.').map((p) => `\`${p}\``).join('.'));
  }

  /** Why the writer stopped on its own, if it did (the drill's figures would be meaningless). */
  error?: Error;

  run(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const id = ++this.nextId;
        const t = performance.now();
        this.child.stdin!.write(`${id}\n`);
        const next = await this.lines.next();
        if (next.done) throw new UserError(`the drill's writer in ${this.node} stopped`);
        const [verdict, n] = next.value.split(' ');
        if (Number(n) !== id) throw new UserError(`the drill's writer in ${this.node} answered out of turn: ${next.value.slice(0, 40)}`);
        if (verdict === 'ok') this.acked.set(id, t);
        else this.failed.push(t);
        const rest = WRITE_EVERY_MS - (performance.now() - t);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
    })().catch((err: Error) => {
      this.error = err;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => undefined);
    this.child.stdin!.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, 10_000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      if (this.child.exitCode !== null) resolve();
    });
    await this.control.exec(this.node, ['rm', '-f', WRITER_FILE]).catch(() => undefined);
  }

  /** Writes started in [from, to): acknowledged ids, and how many failed. */
  between(from: number, to: number): { acknowledged: number[]; failed: number } {
    const acknowledged = [...this.acked].filter(([, t]) => t >= from && t < to).map(([id]) => id);
    return { acknowledged, failed: this.failed.filter((t) => t >= from && t < to).length };
  }

  /** Every row one database node has, read on the node itself (root over its socket; wsrep_sync_wait so it has applied all it received). */
  async readBack(db: string): Promise<Set<number>> {
    const r = await this.control.exec(db, ['mariadb', '-N', '-B', '-e', `SET SESSION wsrep_sync_wait = 1; SELECT id FROM ${this.table}`], { timeoutMs: 60_000 });
    return parseIds(r.stdout);
  }
}
