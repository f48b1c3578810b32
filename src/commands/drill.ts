/**
 * `ha-wordpress drill` (local target): proves the cluster's promise (losing
 * any one node, or one node of each tier at once, keeps the site up and
 * loses no acknowledged write) by breaking the lab the way real clusters
 * break, while a visitor keeps reloading the site and WordPress keeps
 * writing.
 *
 * - Traffic (src/drill/traffic.ts): a GET of the home page through the
 *   public entry every 200 ms (WordPress renders it from the database, so a
 *   database outage shows), each with a 3 s limit.
 * - Writes (src/drill/writer.ts): a row every 200 ms from the last web node
 *   (no scenario stops it), through the reserved IP and HAProxy; after each
 *   scenario every database node is read for the acknowledged ones.
 * - Each scenario (src/drill/scenarios.ts, run by src/drill/run.ts): the
 *   break, `status` until it sees it, the restart, `status` until healthy.
 *
 * Exit 0 when every scenario met its budget, lost nothing, healed and was
 * seen by status within 10 s; 3 (status's "degraded") otherwise; the report
 * is printed either way. Ctrl-C restarts what was broken, then exits 130.
 */
import { CancelledError, UsageError, UserError } from '../errors.js';
import { failures, reportTable, type ScenarioResult } from '../drill/report.js';
import { HEAL_LIMIT_MS, runScenario } from '../drill/run.js';
import { parseScenarios, type Cluster, type Operation, type Victim } from '../drill/scenarios.js';
import { Traffic } from '../drill/traffic.js';
import { Writer } from '../drill/writer.js';
import { finishOnInterrupt } from '../runners/process.js';
import { readInventoryVars, siteUrlOf } from '../workspace/inventory.js';
import { openWorkspace, siteCa, siteRequest, withLockedWorkspace, type OpContext, type Workspace } from './operate.js';
import { DEGRADED_EXIT, statusProbe } from './status.js';
import { labOptions, labSizes, resizeContainers, upLocal } from './up.js';
import { PHP_FPM_UNIT } from './tiers.js';
import { MAX_DB_NODES, MAX_WEB_NODES } from '../validation/rules.js';
import type { LabControl } from '../lab/index.js';
import { otherSize } from '../lab/limits.js';

export type { ScenarioResult } from '../drill/report.js';

export type DrillContext = OpContext;

/** The web nodes' PHP-FPM (Debian 12's), which web-php-kill kills. */
const INTERRUPTED = 'drill interrupted; the nodes it broke were started again (`ha-wordpress status` shows when the cluster is whole)';

export async function runDrill(ctx: DrillContext): Promise<void> {
  const chosen = parseScenarios(ctx.options.scenario !== undefined ? [ctx.options.scenario] : undefined);
  await withLockedWorkspace(ctx, 'drill', (ws) => drill(ctx, ws, chosen));
}

async function drill(ctx: DrillContext, ws: Workspace, chosen: ReturnType<typeof parseScenarios>): Promise<void> {
  if (ws.target !== 'local')
    throw new UsageError(
      'drill runs on the local target only: it stops and kills nodes on purpose. ' +
        'On DigitalOcean, watch `ha-wordpress status` while you power off one droplet at a time',
    );
  const lab = await import('../lab/index.js');
  const labOpts = await labOptions(ctx, ws);
  const control = await lab.labControl(labOpts);
  if (!control) throw new UserError(`this workspace has no lab on this machine; run \`ha-wordpress up\` first`);
  const group = (g: string) => control.plan.nodes.filter((n) => n.group === g).map((n) => n.name);
  const cluster: Cluster = { web: group('wp_node'), db: group('galera_cluster_node') };
  // status one run at a time (drill/run.ts), so a node that stopped mid-probe is given up on sooner than
  // status itself would: the lab's containers share this machine's cores, and status's SSH logins
  // to every node every second, several at once, took the CPU the site needed (docs/operations.md#drill).
  const drillProbe = (w: Workspace) => statusProbe(ctx, w, { readyMs: 3000, totalMs: 6000 });
  // Made again after a planned change: the nodes, their addresses and host keys may be new.
  let probeNow = await drillProbe(ws);
  const probe = () => probeNow();
  const before = await probe();
  if (!before.healthy)
    throw new UserError(`the cluster is not healthy before the drill (${before.problems[0]}); run \`ha-wordpress status\`, then \`ha-wordpress up\``);

  const stop = new AbortController();
  // Through the one process-wide handler (runners/process.ts): the first Ctrl-C ends every wait and the broken
  // nodes are started again, also after a scenario's `up` ran ansible-playbook; a second one stops at once.
  const interrupts = finishOnInterrupt(
    () => stop.abort(new CancelledError(INTERRUPTED)),
    () => ctx.log.error('drill: stopped at once (a second Ctrl-C): nodes it broke may still be down; `ha-wordpress up` starts them'),
  );
  const lb = control.plan.nodes.find((n) => n.role === 'lb')!;
  // The site as a visitor reaches it: over HTTPS, the lab CA's certificate verified, when the lab has a domain.
  const ca = await siteCa(ws);
  const url = siteUrlOf(await readInventoryVars(ws.dir), ws);
  const traffic = new Traffic({ ...siteRequest({ ip: lb.ip, url, ...(ca ? { ca } : {}) }), signal: stop.signal });
  const writerNode = cluster.web[cluster.web.length - 1]!;
  const writer = await Writer.start(control, writerNode);
  ctx.log.info(
    `drill: ${chosen.length} scenario${chosen.length === 1 ? '' : 's'}; requests to ${url} (at ${lb.ip}) every ${traffic.everyMs} ms, ` +
      `a row written from ${writerNode} every ${writer.everyMs} ms`,
  );

  const results: ScenarioResult[] = [];
  const phpKilled = new Set<string>();
  // A scheduled backup (a dump, restic, the media mirror, retention) on one database node takes seconds of
  // CPU: in the lab every node shares this machine's cores, so one that fell inside a scenario starved the
  // web nodes and showed as an outage of the site. Scheduled backups are skipped until the drill is over
  // (the next tick takes one); on DigitalOcean each droplet has its own CPU.
  await holdBackups(control, cluster.db, 'hold');
  ctx.log.info("drill: scheduled backups are held until it ends (the lab's nodes share this machine's CPU)");
  try {
    traffic.start();
    writer.run();
    for (const sc of chosen) {
      const r = await runScenario(sc, {
        cluster,
        probe,
        breakNodes: async (victims) => {
          if (sc.reservedIpApi) await control.reservedIpApi({ reset: true, ...sc.reservedIpApi });
          const nodes = victims.filter((v): v is Victim & { how: 'stop' | 'kill' } => v.how !== 'kill-php-fpm');
          const php = victims.filter((v) => v.how === 'kill-php-fpm').map((v) => v.name);
          for (const name of php) phpKilled.add(name);
          await Promise.all([control.breakNodes(nodes), ...php.map((name) => control.exec(name, ['systemctl', 'kill', '--signal=SIGKILL', PHP_FPM_UNIT]))]);
        },
        // Starts what was stopped; PHP-FPM too, should systemd not have started it again yet.
        restart: async () => {
          if (sc.reservedIpApi) await control.reservedIpApi({ reset: true });
          await lab.labUp(labOpts);
          for (const name of phpKilled) await control.exec(name, ['systemctl', 'start', PHP_FPM_UNIT]);
          phpKilled.clear();
        },
        recover: () => upLocal({ ...ctx, options: { ...ctx.options, only: undefined } }, ws),
        operate: async (op) => {
          const changed = await operate(ctx, ws, op, control, (await probe()).galera.writer);
          probeNow = await drillProbe(await openWorkspace(ctx));
          return changed;
        },
        traffic,
        writer,
        signal: stop.signal,
        log: ctx.log,
      });
      results.push(r);
      if (writer.error) throw writer.error;
      if (r.healed_s === null) {
        const after = sc.restoreWithUp ? 'after its `up`' : 'after its nodes were started again';
        ctx.log.warn(`${sc.name} did not heal within ${HEAL_LIMIT_MS / 1000} s ${after}; the remaining scenarios are skipped`);
        break;
      }
    }
  } catch (err) {
    if (stop.signal.aborted) throw new CancelledError(INTERRUPTED);
    throw err;
  } finally {
    interrupts.release();
    await Promise.all([traffic.stop(), writer.stop()]);
    await holdBackups(control, cluster.db, 'release');
  }
  if (stop.signal.aborted) throw new CancelledError(INTERRUPTED);
  await writer.dropTable(cluster.db[0]!);

  const passed = results.length === chosen.length && results.every((r) => r.passed);
  if (ctx.options.json) ctx.log.out(JSON.stringify({ scenarios: results, passed }, null, 2));
  else for (const line of reportTable(results)) ctx.log.out(line);
  if (passed) ctx.log.success('drill passed: every outage within budget, no acknowledged write lost, every scenario healed, status saw every failure');
  else {
    ctx.log.error(`drill failed: ${failures(results, chosen.length).join('; ')}`);
    process.exitCode = DEGRADED_EXIT;
  }
}

/** While it exists, the backup timers' runs do nothing (the backup script's HOLD_FILE). */
const BACKUP_HOLD = '/run/ha-wordpress-backup.hold';

/**
 * Holds the scheduled backups and verifications on the lab's database nodes (and waits out one already
 * running), or releases them. The timers stay active, so `status` is not disturbed; a node that does not
 * answer is left as it is (the file is on /run: a restart of the node releases it).
 */
async function holdBackups(control: LabControl, db: string[], how: 'hold' | 'release'): Promise<void> {
  const script =
    how === 'hold'
      ? `touch ${BACKUP_HOLD}; while systemctl is-active --quiet ha-wordpress-backup.service ha-wordpress-backup-verify.service; do sleep 1; done`
      : `rm -f ${BACKUP_HOLD}`;
  await Promise.all(db.map((name) => control.exec(name, ['sh', '-c', script], { timeoutMs: 300_000 }).catch(() => undefined)));
}

/**
 * A planned change, run as the user runs it (the same code as the command,
 * under the drill's workspace lock, answered yes): the nodes it changed.
 * - rolling-upgrade: a point release of nftables (on every node; restarts no
 *   service of the cluster) published in the lab's updates channel, then
 *   `upgrade`, which rolls it through every node;
 * - scale-web, scale-db: one more web node (two more Galera nodes: the count
 *   stays odd), then back to the count the cluster had (one fewer first, at
 *   the most nodes init allows);
 * - replace-db: the last Galera node that does not take the writes.
 */
async function operate(ctx: DrillContext, ws: Workspace, op: Operation, control: LabControl, writer: string | null): Promise<string[]> {
  const quiet: DrillContext = { ...ctx, yes: true, options: { ...ctx.options, json: false } };
  const { web, db } = { web: ws.settings.webNodes, db: ws.settings.dbNodes };
  const nodes = (group: string) => control.plan.nodes.filter((n) => n.group === group).map((n) => n.name);
  switch (op) {
    case 'rolling-upgrade': {
      const version = await control.publishUpdate('nftables');
      ctx.log.info(`  nftables ${version} published in the lab's updates channel`);
      const { upgradeNodes } = await import('./upgrade.js');
      await upgradeNodes(quiet, ws);
      return control.plan.nodes.filter((n) => n.dropletId !== undefined).map((n) => n.name);
    }
    case 'scale-web':
    case 'scale-db': {
      const { scaleSteps, scaleTo } = await import('./scale.js');
      // Up and back; at the most nodes init allows, down and back.
      const more = op === 'scale-web' ? { web: web < MAX_WEB_NODES ? web + 1 : web - 1, db } : { web, db: db < MAX_DB_NODES ? db + 2 : db - 2 };
      await scaleTo(quiet, ws, more);
      await scaleTo(quiet, await openWorkspace(quiet), { web, db });
      return scaleSteps(ws.project, { web, db }, more).map((s) => s.name);
    }
    case 'replace-db': {
      const name = nodes('galera_cluster_node')
        .filter((n) => n !== writer)
        .at(-1)!;
      const { replaceNode } = await import('./replace.js');
      await replaceNode(quiet, ws, name);
      return [name];
    }
    case 'resize-db': {
      const sizes = labSizes(ws);
      const other = { ...sizes, db: otherSize(sizes.db) };
      ctx.log.info(`  the Galera nodes: ${sizes.db} → ${other.db}, then back`);
      // The drill was the consent: it asks nothing more.
      const there = (await resizeContainers(quiet, ws, other)) ?? [];
      await resizeContainers(quiet, ws, sizes);
      return there;
    }
  }
}
