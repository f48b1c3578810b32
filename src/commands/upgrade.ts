/**
 * `ha-wordpress upgrade`: the package updates every node waits for, one node
 * at a time (docs/operations.md#upgrade).
 *
 * unattended-upgrades installs Debian's security updates by itself, but not
 * those of the packages whose scripts restart the cluster's services
 * (MariaDB, Galera, HAProxy, keepalived, nginx, PHP: the common role holds
 * them back), and it never reboots. Those wait for this command. It reads
 * every node's package lists anew, shows what each node would get, and then,
 * node by node in the order that costs least (web nodes, the HAProxy node
 * without the reserved IP, its holder, the Galera nodes with the writer
 * last), takes the node out of its tier (tiers.ts), upgrades it with package
 * scripts kept from starting anything, restarts its tier's services (or
 * reboots it when an update asks for that), and waits for the whole cluster
 * to be healthy again before the next. The first node that does not come
 * back stops it; nothing after it is touched.
 */
import { promises as fs } from 'node:fs';
import { CancelledError, UsageError, UserError } from '../errors.js';
import { finishOnInterrupt } from '../runners/process.js';
import { parseLbHealthcheck } from '../lab/plan.js';
import { packagePath } from '../paths.js';
import { problemSummary as problem, untilHealthy } from '../util/problems.js';
import { sleep } from '../util/sleep.js';
import { readInventory, type Host } from '../workspace/inventory.js';
import { lastLine, nodeExec, resumeCommand, withLockedWorkspace, type NodeExec, type OpContext, type Workspace } from './operate.js';
import { statusProbe, type ClusterStatus } from './status.js';
import { BRING_BACK, isTier, leastCostOrder, TAKE_OUT, TIER_NAME, type Roles, type Tier } from './tiers.js';
import { labOptions } from './up.js';

/** The common role's programs on every node. */
export const PENDING_UPDATES = '/usr/local/lib/ha-wordpress/pending-updates';
export const APPLY_UPDATES = '/usr/local/lib/ha-wordpress/apply-updates';

export interface NodePlan {
  host: Host & { group: Tier };
  packages: string[];
  security: string[];
  /** An installed update already waits for a reboot. */
  reboot: boolean;
}

export interface NodeResult {
  name: string;
  group: string;
  packages: number;
  /** restarted: its tier's services; rebooted: the node. */
  action: 'restarted' | 'rebooted';
  duration_s: number;
  /** Where the node's time went: taken out, upgraded, its services back (or rebooted), the cluster healthy again. */
  steps: { out_s: number; upgrade_s: number; back_s: number; healthy_s: number };
}

export interface UpgradeRun {
  nodes: NodePlan[];
  probe: () => Promise<ClusterStatus>;
  exec: NodeExec;
  /** Reboots the node; resolves once it runs again (its services then start as at any boot). */
  reboot: (h: Host) => Promise<void>;
  /** After a web node is healthy again: the load balancer's own checks to let it back in (interval × healthy threshold). */
  lbRiseMs: number;
  resume: string;
  progress: (line: string) => void;
  /** Ctrl-C asked to stop: checked after each node, never within one. */
  stopRequested?: () => boolean;
  /** How long a node may take to be healthy again; 15 min. */
  backWithinMs?: number;
  everyMs?: number;
}

/** The least costly order (tiers.ts). */
export const upgradeOrder = <T extends { host: Host }>(nodes: T[], roles: Roles) =>
  leastCostOrder(nodes, (n) => ({ tier: n.host.group, name: n.host.name }), roles);

const unhealthy = (s: Pick<ClusterStatus, 'problems'>, resume: string) =>
  new UserError(
    `nothing was upgraded: the cluster is not healthy (${problem(s)}); an upgrade takes one node out at a time, ` + `so fix that first, then run \`${resume}\``,
  );

/** Upgrades each node on its own, gated; returns what each got, in order. */
export async function rollUpgrade(r: UpgradeRun): Promise<NodeResult[]> {
  // Asked again, not taken from the plan's status: the question before may have waited minutes, and the holder or
  // the writer may have moved meanwhile.
  const first = await r.probe();
  if (!first.healthy) throw unhealthy(first, r.resume);
  const order = upgradeOrder(r.nodes, { writer: first.galera.writer, holder: first.reserved_ip.holder });
  const done: NodeResult[] = [];
  for (const [i, n] of order.entries()) {
    const h = n.host;
    const started = Date.now();
    const marks: number[] = [];
    const untouched = order.slice(i + 1).map((x) => x.host.name);
    const rest = untouched.length ? `; ${untouched.join(', ')} untouched` : '';
    r.progress(`${h.name}: taking it out of the ${TIER_NAME[h.group]} tier`);
    const out = await r.exec(h, TAKE_OUT[h.group], 5 * 60_000);
    if (out.code !== 0) {
      await r.exec(h, BRING_BACK[h.group], 10 * 60_000).catch(() => undefined);
      throw new UserError(`${h.name} could not be taken out cleanly (${lastLine(out)}); it was not upgraded${rest}: fix it, then run \`${r.resume}\``);
    }
    marks.push(Date.now());
    r.progress(`${h.name}: upgrading ${n.packages.length} package${n.packages.length === 1 ? '' : 's'}`);
    const applied = n.packages.length ? await r.exec(h, `sudo -n ${APPLY_UPDATES}`, 30 * 60_000) : { code: 0, stdout: '', stderr: '' };
    if (applied.code !== 0) {
      // Its services come back as they were (the packages apt finished are installed); the next run goes on from there.
      const back = await r.exec(h, BRING_BACK[h.group], 10 * 60_000).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
      throw new UserError(
        `the upgrade failed on ${h.name} (${lastLine(applied)}); ` +
          `${back.code === 0 ? 'its services were started again' : `its services did not start again (${lastLine(back)})`}${rest}: ` +
          `fix it (\`sudo apt-get -f install\` on ${h.name} shows what apt needs), then run \`${r.resume}\``,
      );
    }
    marks.push(Date.now());
    const reboot = n.reboot || /^reboot$/m.test(applied.stdout);
    if (reboot) {
      r.progress(`${h.name}: rebooting`);
      await r.reboot(h);
    } else {
      r.progress(`${h.name}: starting its services again`);
      const back = await r.exec(h, BRING_BACK[h.group], 10 * 60_000);
      if (back.code !== 0)
        throw new UserError(
          `${h.name} was upgraded but its services did not start again (${lastLine(back)})${rest}: ` +
            `see \`journalctl -xe\` on ${h.name}; \`ha-wordpress up\` starts them, then run \`${r.resume}\``,
        );
    }
    marks.push(Date.now());
    r.progress(`${h.name}: waiting for the cluster to be healthy again`);
    const within = r.backWithinMs ?? 15 * 60_000;
    await untilHealthy(
      r.probe,
      { withinMs: within, everyMs: r.everyMs ?? 3000 },
      (s) =>
        new UserError(
          `${h.name} was upgraded but the cluster is not healthy ${Math.round(within / 60_000)} min later (${problem(s)})${rest}: ` +
            `once \`ha-wordpress status\` says healthy, run \`${r.resume}\` to upgrade the rest`,
        ),
    );
    // The load balancer lets a web node back in only after its own checks pass: before the next web node drains.
    if (h.group === 'wp_node' && order[i + 1]?.host.group === 'wp_node') await sleep(r.lbRiseMs);
    const [a, b, c] = marks as [number, number, number];
    done.push({
      name: h.name,
      group: h.group,
      packages: n.packages.length,
      action: reboot ? 'rebooted' : 'restarted',
      duration_s: seconds(Date.now() - started),
      steps: { out_s: seconds(a - started), upgrade_s: seconds(b - a), back_s: seconds(c - b), healthy_s: seconds(Date.now() - c) },
    });
    if (untouched.length && r.stopRequested?.())
      throw new CancelledError(`upgrade stopped at Ctrl-C after ${h.name}, which is back and healthy${rest}: run \`${r.resume}\` to go on`);
  }
  return done;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** What one tier's node takes, roughly (measured in the lab, docs/operations.md#upgrade): for the question before anything starts. */
const EXPECTED_S: Record<Tier, number> = { wp_node: 45, galera_loadbalancer: 35, galera_cluster_node: 45 };
const REBOOT_S = 90;

export function planLines(nodes: NodePlan[]): string[] {
  const width = Math.max(...nodes.map((n) => n.host.name.length));
  return nodes.map((n) => {
    const what = n.packages.length
      ? `${n.packages.length} package${n.packages.length === 1 ? '' : 's'}${n.security.length ? ` (${n.security.length} security)` : ''}: ` +
        `${n.packages.slice(0, 4).join(', ')}${n.packages.length > 4 ? ', …' : ''}`
      : 'no package';
    const then = n.reboot ? 'then a reboot' : 'then its services restarted';
    const s = EXPECTED_S[n.host.group] + (n.reboot ? REBOOT_S : 0);
    return `  ${n.host.name.padEnd(width)}  ${TIER_NAME[n.host.group].padEnd(7)}  ${what}; ${then} (~${s} s)`;
  });
}

/** The node's pending updates, read after `apt-get update` there (the common role's pending-updates). */
export function parsePending(name: string, r: { code: number | null; stdout: string; stderr: string }): { packages: string[]; security: string[] } {
  if (r.code === 127 || /No such file|not found/.test(r.stderr))
    throw new UserError(`${name} has no ${PENDING_UPDATES}: run \`ha-wordpress up\` first, so every node has what upgrade needs (nothing was changed)`);
  if (r.code !== 0) throw new UserError(`${name}: reading its package lists failed (${lastLine(r)}); nothing was changed`);
  try {
    const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { packages: { name: string; security?: boolean }[] };
    return { packages: report.packages.map((p) => p.name), security: report.packages.filter((p) => p.security).map((p) => p.name) };
  } catch {
    throw new UserError(`${name}: ${PENDING_UPDATES} printed no report (${lastLine(r)}); nothing was changed`);
  }
}

export async function runUpgrade(ctx: OpContext): Promise<void> {
  await withLockedWorkspace(ctx, 'upgrade', (ws) => upgradeNodes(ctx, ws));
}

/** The upgrade itself, on a workspace whose lock the caller holds (runUpgrade; drill's rolling-upgrade). */
export async function upgradeNodes(ctx: OpContext, ws: Workspace): Promise<void> {
  const hosts = await readInventory(ws.dir);
  const exec = await nodeExec(ctx, ws);
  const probe = await statusProbe(ctx, ws);
  const resume = resumeCommand(ctx, 'upgrade');

  const before = await probe();
  if (!before.healthy) throw unhealthy(before, resume);
  ctx.log.info(`upgrade: reading the package lists on ${hosts.length} nodes…`);
  const plans: NodePlan[] = await Promise.all(
    hosts
      .filter((h): h is Host & { group: Tier } => isTier(h.group))
      .map(async (h) => {
        const r = await exec(h, `sudo -n ${PENDING_UPDATES} --refresh --print`, 10 * 60_000);
        const node = before.nodes.find((x) => x.name === h.name);
        return { host: h, ...parsePending(h.name, r), reboot: Boolean(node?.reboot_required) };
      }),
  );
  const todo = upgradeOrder(
    plans.filter((p) => p.packages.length || p.reboot),
    { writer: before.galera.writer, holder: before.reserved_ip.holder },
  );
  if (todo.length === 0) {
    if (ctx.options.json) ctx.log.out(JSON.stringify({ nodes: [], duration_s: 0 }, null, 2));
    else ctx.log.success('Every node is up to date (its package lists read just now) and none waits for a reboot: nothing to do.');
    return;
  }
  const total = todo.reduce((s, n) => s + EXPECTED_S[n.host.group] + (n.reboot ? REBOOT_S : 0), 0);
  ctx.log.info(
    `upgrade: ${todo.length} of ${plans.length} nodes, one at a time in this order, each taken out of its tier first ` +
      `and the cluster healthy again before the next (about ${Math.ceil(total / 60)} min):`,
  );
  for (const line of planLines(todo)) ctx.log.info(line);
  if (!ctx.yes) {
    if (!ctx.interactive) throw new UsageError(`upgrade: not confirmed; run it on a terminal to answer, or add --yes (nothing was changed)`);
    if (!(await ctx.prompts.confirm({ message: `Upgrade these ${todo.length} nodes now?`, default: true }))) throw new UserError('nothing was upgraded');
  }

  // Through the one process-wide handler (runners/process.ts), as scale and replace: a second Ctrl-C is the user's to
  // give, and stops now, saying what that may have left behind.
  const interrupts = finishOnInterrupt(
    () =>
      ctx.log.warn('upgrade: Ctrl-C: finishing the node in progress (it is brought back and the cluster healthy), then stopping; Ctrl-C again stops at once'),
    () =>
      ctx.log.error(
        'upgrade: stopped at once (a second Ctrl-C): the node in progress may be out of its tier; `ha-wordpress status` shows it, ' +
          `\`${resumeCommand(ctx, 'up')}\` starts its services again, then \`${resume}\` goes on`,
      ),
  );
  const started = Date.now();
  try {
    const results = await rollUpgrade({
      nodes: todo,
      probe,
      exec,
      reboot: await rebooter(ctx, ws, exec),
      lbRiseMs: await lbRiseMs(),
      resume,
      progress: (line) => ctx.log.info(`  ${line}`),
      stopRequested: interrupts.requested,
    });
    const duration = seconds(Date.now() - started);
    if (ctx.options.json) ctx.log.out(JSON.stringify({ nodes: results, duration_s: duration }, null, 2));
    else {
      for (const x of results)
        ctx.log.info(
          `  ${x.name}: ${x.packages} package${x.packages === 1 ? '' : 's'}, ${x.action === 'rebooted' ? 'rebooted' : 'services restarted'}, ${x.duration_s} s`,
        );
      ctx.log.success(`Upgraded ${results.length} node${results.length === 1 ? '' : 's'} one at a time in ${Math.round(duration)} s; the cluster is healthy.`);
    }
  } finally {
    interrupts.release();
  }
}

/** The load balancer lets a node back in after this many passed checks (terraform/lb-healthcheck.json, DigitalOcean's and the lab's). */
async function lbRiseMs(): Promise<number> {
  const hc = parseLbHealthcheck(await fs.readFile(packagePath('terraform', 'lb-healthcheck.json'), 'utf8'));
  return (hc.check_interval_seconds * hc.healthy_threshold + 1) * 1000;
}

/**
 * A droplet reboots itself (`systemctl reboot`), and is back once it answers
 * with another boot id. A lab container that reboots ends its
 * systemd-nspawn, so the lab stops and starts it, as it does for a drill.
 */
async function rebooter(ctx: OpContext, ws: Workspace, exec: UpgradeRun['exec']): Promise<(h: Host) => Promise<void>> {
  if (ws.target === 'local') {
    const lab = await import('../lab/index.js');
    const opts = await labOptions(ctx, ws);
    return async (h) => {
      const control = await lab.labControl(opts);
      if (!control) throw new UserError('this workspace has no lab on this machine; run `ha-wordpress up` first');
      await control.breakNodes([{ name: h.name, how: 'stop' }]);
      await lab.labUp(opts);
    };
  }
  return async (h) => {
    const bootId = async () => {
      const r = await exec(h, 'cat /proc/sys/kernel/random/boot_id', 15_000).catch(() => undefined);
      return r?.code === 0 ? r.stdout.trim() : undefined;
    };
    const was = await bootId();
    await exec(h, 'sudo -n systemctl reboot', 15_000).catch(() => undefined);
    const end = Date.now() + 10 * 60_000;
    for (;;) {
      await sleep(5000);
      const now = await bootId();
      if (now && now !== was) return;
      if (Date.now() > end) throw new UserError(`${h.name} did not come back within 10 min of its reboot; see its console in DigitalOcean's control panel`);
    }
  };
}
