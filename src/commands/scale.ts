/**
 * `ha-wordpress scale --web-nodes N --db-nodes M` (docs/operations.md#scale):
 * more or fewer WordPress or Galera nodes on a running cluster.
 *
 * It is the workspace's new counts applied by `up`, as `init --web-nodes N`
 * then `up` would, with what a change to a live cluster needs around it: the
 * cluster must be healthy first; the question names every node that comes or
 * goes and what happens to it; on DigitalOcean the terraform plan may hold
 * only those droplets (and the in-place changes that follow from them), or
 * nothing is applied; and the cluster must be healthy again after.
 *
 * Nodes that go leave one at a time, drained or desynced first (retire.ts,
 * through up). Nodes that come join without disturbing the rest: a web node
 * is served by the load balancer only once its health check passes, and a
 * Galera node joins by a state transfer from a member other than the writer,
 * with no restart of the others (docs/cluster.md#members).
 */
import { UsageError, UserError } from '../errors.js';
import { problemSummary as problem, untilHealthy } from '../util/problems.js';
import { readInventory } from '../workspace/inventory.js';
import { finishingOnInterrupt, openWorkspace, resumeCommand, withLockedWorkspace, type OpContext, type Workspace } from './operate.js';
import { statusProbe } from './status.js';
import { nodeName, type Tier } from './tiers.js';
import type { ConfirmedChange } from './up.js';

export interface Counts {
  web: number;
  db: number;
}

export interface ScaleStep {
  name: string;
  group: Extract<Tier, 'wp_node' | 'galera_cluster_node'>;
  change: 'add' | 'remove';
}

/**
 * The nodes that come (numbered on) and go (the highest-numbered, as a lower count deletes them), in the order they
 * leave: by number within a tier, web nodes first (tiers.ts leastCostOrder; up moves the writer last).
 */
export function scaleSteps(project: string, from: Counts, to: Counts): ScaleStep[] {
  const steps: ScaleStep[] = [];
  const tier = (group: ScaleStep['group'], a: number, b: number) => {
    for (let i = a + 1; i <= b; i++) steps.push({ name: nodeName(project, group, i), group, change: 'add' });
    for (let i = b + 1; i <= a; i++) steps.push({ name: nodeName(project, group, i), group, change: 'remove' });
  };
  tier('wp_node', from.web, to.web);
  tier('galera_cluster_node', from.db, to.db);
  return steps;
}

/**
 * Roughly what each step takes, from the lab (docs/operations.md#scale): new nodes are configured together by one
 * playbook run, so they share one figure; leaving nodes go one at a time.
 */
const ADD_S = 480;
const REMOVE_S: Record<ScaleStep['group'], number> = { wp_node: 30, galera_cluster_node: 30 };

export function expectedSeconds(steps: ScaleStep[]): number {
  return (steps.some((s) => s.change === 'add') ? ADD_S : 0) + steps.filter((s) => s.change === 'remove').reduce((t, s) => t + REMOVE_S[s.group], 0);
}

export function planLines(steps: ScaleStep[]): string[] {
  const width = Math.max(...steps.map((s) => s.name.length));
  const what: Record<ScaleStep['group'], Record<ScaleStep['change'], string>> = {
    wp_node: {
      add: 'a new web node, configured by the playbook; the load balancer serves it once its health check passes',
      remove: 'drained from the load balancer (no request dropped), then deleted',
    },
    galera_cluster_node: {
      add: 'a new database node; joins Galera by a state transfer from a member other than the writer, no other node restarted',
      remove: 'desynced, leaves the cluster as MariaDB stops, then deleted',
    },
  };
  return steps.map((s) => `  ${s.change === 'add' ? '+' : '-'} ${s.name.padEnd(width)}  ${what[s.group][s.change]}`);
}

export async function runScale(ctx: OpContext): Promise<void> {
  const { webNodes, dbNodes } = ctx.options;
  if (webNodes === undefined && dbNodes === undefined)
    throw new UsageError('scale: give --web-nodes N (2-10), --db-nodes N (odd, 3-9) or both, e.g. ha-wordpress scale --web-nodes 4');
  await withLockedWorkspace(ctx, 'scale', (ws) => scaleTo(ctx, ws, { web: webNodes ?? ws.settings.webNodes, db: dbNodes ?? ws.settings.dbNodes }));
}

/** The scale itself, on a workspace whose lock the caller holds (runScale; drill's scale-web and scale-db). */
export async function scaleTo(ctx: OpContext, ws: Workspace, to: Counts): Promise<void> {
  const from: Counts = { web: ws.settings.webNodes, db: ws.settings.dbNodes };
  const steps = scaleSteps(ws.project, from, to);
  const resume = resumeCommand(ctx, `scale${to.web !== from.web ? ` --web-nodes ${to.web}` : ''}${to.db !== from.db ? ` --db-nodes ${to.db}` : ''}`);
  const result = (duration: number) => ({
    web_nodes: { from: from.web, to: to.web },
    db_nodes: { from: from.db, to: to.db },
    added: steps.filter((s) => s.change === 'add').map((s) => s.name),
    removed: steps.filter((s) => s.change === 'remove').map((s) => s.name),
    duration_s: duration,
  });
  if (steps.length === 0) {
    if (ctx.options.json) ctx.log.out(JSON.stringify(result(0), null, 2));
    else ctx.log.success(`The cluster has ${from.web} web and ${from.db} database nodes already: nothing to do.`);
    return;
  }
  if ((await readInventory(ws.dir).catch(() => [])).length === 0)
    throw new UserError(`scale: this workspace has no cluster yet; \`${resumeCommand(ctx, 'init')}\` with the counts you want, then \`up\``);

  // A scale changes the cluster one node at a time, each gated on the rest: it starts from a healthy cluster.
  const probe = await statusProbe(ctx, ws);
  const before = await probe();
  if (!before.healthy)
    throw new UserError(
      `scale: the cluster is not healthy (${problem(before)}); nothing was changed: fix that first (\`ha-wordpress status\` shows it), then run \`${resume}\``,
    );

  ctx.log.info(
    `scale: ${from.web} → ${to.web} web nodes, ${from.db} → ${to.db} database nodes; ` +
      `the cluster stays up throughout (about ${Math.ceil(expectedSeconds(steps) / 60)} min):`,
  );
  for (const line of planLines(steps)) ctx.log.info(line);
  if (!ctx.yes) {
    if (!ctx.interactive) throw new UsageError('scale: not confirmed; run it on a terminal to answer, or add --yes (nothing was changed)');
    if (!(await ctx.prompts.confirm({ message: `Scale to ${to.web} web and ${to.db} database nodes now?`, default: true })))
      throw new UserError('nothing was changed');
  }

  const started = Date.now();
  // The new counts into the workspace (tfvars, group_vars, the lab's shape), every other setting and secret kept.
  const { runInit } = await import('./init.js');
  const quiet = { ...ctx.log, info: () => undefined, success: () => undefined, out: () => undefined };
  await runInit(
    {
      ...ctx,
      flags: { webNodes: String(to.web), dbNodes: String(to.db) },
      options: { ...ctx.options, dir: ws.dir },
      interactive: false,
      yes: true,
      log: quiet,
    },
    { next: false, locked: true },
  );
  ctx.log.success(`workspace: ${to.web} web and ${to.db} database nodes`);

  // Then up, as confirmed: no second question, and on DigitalOcean nothing beyond these droplets.
  const upCtx: OpContext = { ...ctx, yes: true };
  const changed = await openWorkspace(upCtx);
  const confirmed: ConfirmedChange = {
    add: steps.filter((s) => s.change === 'add').map((s) => s.name),
    remove: steps.filter((s) => s.change === 'remove').map((s) => s.name),
    review: `the workspace asks for ${to.web} web and ${to.db} database nodes now; run \`${resumeCommand(ctx, 'up')}\` to review the plan`,
  };
  const up = await import('./up.js');
  await finishingOnInterrupt(ctx, 'scale', () => (changed.target === 'local' ? up.upLocal(upCtx, changed) : up.upCloud(upCtx, changed, confirmed)));

  // up has waited for the site; the whole cluster (the new Galera members Synced, every backend UP) before saying done,
  // asked of the nodes the inventory names now.
  await untilHealthy(
    await statusProbe(ctx, changed),
    { withinMs: 15 * 60_000, everyMs: 3000 },
    (s) =>
      new UserError(
        `scale: the nodes are in place, but the cluster is not healthy 15 min later (${problem(s)}): ` +
          `see \`ha-wordpress status\`; \`${resumeCommand(ctx, 'up')}\` continues`,
      ),
  );
  const duration = Math.round((Date.now() - started) / 100) / 10;
  if (ctx.options.json) ctx.log.out(JSON.stringify(result(duration), null, 2));
  else ctx.log.success(`Scaled to ${to.web} web and ${to.db} database nodes in ${Math.round(duration)} s; the cluster is healthy.`);
}
