/**
 * `ha-wordpress replace <node>` (docs/operations.md#replace): one node made
 * anew, dead or on request, and brought back into its tier.
 *
 * The node is taken out of its tier first when it still answers (tiers.ts:
 * a web node drains, an HAProxy node hands the reserved IP over, a Galera
 * node desyncs and leaves cleanly), then its droplet is destroyed and
 * created again (`terraform plan -replace`; in the lab its container is
 * removed and made again), and `up` configures it with the rest. A new
 * Galera node joins by a full state transfer from a member other than the
 * writer (docs/cluster.md#donors); the others are not restarted for its new
 * address (docs/cluster.md#members).
 *
 * Gates: a healthy cluster before (or, with --force, a cluster that is
 * healthy once this node is left out: the node is what is wrong with it),
 * and a healthy cluster after. On DigitalOcean the plan may hold only this
 * droplet's replacement, or nothing is applied.
 */
import { CancelledError, UsageError, UserError } from '../errors.js';
import { stopRequested } from '../runners/process.js';
import { problemSummary as problem, untilHealthy } from '../util/problems.js';
import { readInventory, type Host } from '../workspace/inventory.js';
import { finishingOnInterrupt, lastLine, nodeExec, resumeCommand, withLockedWorkspace, type OpContext, type Workspace } from './operate.js';
import { without } from './retire.js';
import { statusProbe, type ClusterStatus } from './status.js';
import { DROPLET, isTier, nodeName, TAKE_OUT, TIER_NAME, type Tier } from './tiers.js';
import type { ConfirmedChange } from './up.js';

/** The droplet's terraform address, from its name (tiers.ts DROPLET). */
export function dropletAddress(project: string, h: { name: string; group: Tier }): string {
  const { prefix, resource } = DROPLET[h.group];
  const m = /-(\d+)$/.exec(h.name);
  if (!m || h.name !== nodeName(project, h.group, Number(m[1])))
    throw new UserError(`${h.name} is not named as terraform names a ${TIER_NAME[h.group]} node of ${project} (${project}-${prefix}-NN); replace it by hand`);
  return `digitalocean_droplet.${resource}[${Number(m[1]) - 1}]`;
}

const WHAT: Record<Tier, string> = {
  wp_node: 'drained from the load balancer; made anew and configured; served again once its health check passes',
  galera_loadbalancer: 'the reserved IP handed to its peer if it holds it; made anew and configured; back as the backup',
  galera_cluster_node:
    'desynced and leaves the cluster cleanly; made anew, empty; rejoins by a state transfer from a member other than the writer, no other node restarted',
};

/**
 * Whether the replacement may start: a healthy cluster, or with --force one that is healthy without this node
 * (the node is what is wrong). Returns why not, or undefined.
 */
export function replaceRefusal(before: ClusterStatus, name: string, force: boolean, resume: string): string | undefined {
  if (before.healthy) return undefined;
  if (!force)
    return (
      `replace: the cluster is not healthy (${problem(before)}); nothing was changed: ` +
      `if ${name} is what is wrong, \`${resume} --force\` replaces it; otherwise fix that first`
    );
  const rest = without(before, new Set([name]));
  if (!rest.healthy)
    return `replace: even without ${name} the cluster is not healthy (${problem(rest)}); nothing was changed: replacing ${name} would not mend that`;
  return undefined;
}

export async function runReplace(ctx: OpContext): Promise<void> {
  const name = ctx.args?.[0] ?? '';
  await withLockedWorkspace(ctx, 'replace', (ws) => replaceNode(ctx, ws, name));
}

/** The replacement itself, on a workspace whose lock the caller holds (runReplace; drill's replace-db). */
export async function replaceNode(ctx: OpContext, ws: Workspace, name: string): Promise<void> {
  const hosts = await readInventory(ws.dir).catch(() => [] as Host[]);
  const found = hosts.find((h) => h.name === name);
  if (!found || !isTier(found.group))
    throw new UsageError(
      hosts.length
        ? `<node>: ${name} is not a node of this cluster; its nodes: ${hosts.map((h) => h.name).join(', ')}`
        : `<node>: this workspace has no cluster yet (no inventory); \`ha-wordpress up\` makes it`,
    );
  const h = found as Host & { group: Tier };
  const resume = resumeCommand(ctx, `replace ${name}`);
  const address = ws.target === 'digitalocean' ? dropletAddress(ws.project, h) : undefined;

  const probe = await statusProbe(ctx, ws);
  const before = await probe();
  const refusal = replaceRefusal(before, name, ctx.options.force, resume);
  if (refusal) throw new UserError(refusal);
  const node = before.nodes.find((n) => n.name === name);
  const answers = Boolean(node?.reachable);

  ctx.log.info(`replace: ${name} (${TIER_NAME[h.group]}), about 8 min; the rest of the cluster keeps serving:`);
  ctx.log.info(`  ${answers ? WHAT[h.group] : `it does not answer: ${WHAT[h.group].replace(/^[^;]*; /, '')}`}`);
  if (address) ctx.log.info(`  terraform: ${address} destroyed and created again; nothing else may be in the plan`);
  if (!ctx.yes) {
    if (!ctx.interactive) throw new UsageError('replace: not confirmed; run it on a terminal to answer, or add --yes (nothing was changed)');
    if (!(await ctx.prompts.confirm({ message: `Replace ${name} now? Everything on it is lost (its tier has it elsewhere).`, default: false })))
      throw new UserError('nothing was changed');
  }

  const started = Date.now();
  await finishingOnInterrupt(ctx, 'replace', () => remake(ctx, ws, h, address, answers, resume));

  // Asked of the inventory and host keys as up left them: a new droplet has a new address and a new key.
  await untilHealthy(
    await statusProbe(ctx, ws),
    { withinMs: 15 * 60_000, everyMs: 3000 },
    (s) =>
      new UserError(
        `replace: ${name} is made anew, but the cluster is not healthy 15 min later (${problem(s)}): ` +
          `see \`ha-wordpress status\`; \`${resumeCommand(ctx, 'up')}\` continues`,
      ),
  );
  const duration = Math.round((Date.now() - started) / 100) / 10;
  if (ctx.options.json) ctx.log.out(JSON.stringify({ node: name, group: h.group, taken_out: answers, duration_s: duration }, null, 2));
  else ctx.log.success(`Replaced ${name} in ${Math.round(duration)} s; the cluster is healthy.`);
}

/** The node out of its tier (when it answers), then made anew by up: its container removed first in the lab, `-replace` on DigitalOcean. */
async function remake(ctx: OpContext, ws: Workspace, h: Host & { group: Tier }, address: string | undefined, answers: boolean, resume: string): Promise<void> {
  const name = h.name;
  if (answers) {
    ctx.log.info(`  ${name}: taking it out of the ${TIER_NAME[h.group]} tier`);
    const exec = await nodeExec(ctx, ws);
    const out = await exec(h, TAKE_OUT[h.group], 5 * 60_000);
    // It is to be destroyed anyway: a node that cannot be taken out cleanly is only a node that is gone a little sooner.
    if (out.code !== 0) ctx.log.warn(`${name} could not be taken out cleanly (${lastLine(out)}); it is replaced all the same`);
    // A Ctrl-C meanwhile: the node is out and nothing is deleted yet, a safe point to stop at.
    if (stopRequested())
      throw new CancelledError(
        `replace stopped at Ctrl-C: ${name} is out of its tier, nothing was deleted; run \`${resume} --force\` to go on, ` +
          `or \`${resumeCommand(ctx, 'up')}\` to bring it back as it is`,
      );
  }

  const upCtx: OpContext = { ...ctx, yes: true };
  const up = await import('./up.js');
  if (ws.target === 'local') {
    const lab = await import('../lab/index.js');
    const control = await lab.labControl(await up.labOptions(ctx, ws));
    if (!control) throw new UserError(`this workspace has no lab on this machine; \`${resumeCommand(ctx, 'up')}\` makes it`);
    ctx.log.info(`  ${name}: removing its container`);
    await control.removeNodes([name]);
    await up.upLocal(upCtx, ws);
  } else {
    const confirmed: ConfirmedChange = {
      add: [name],
      remove: [],
      replace: [address!],
      review: `${name} is out of its tier; run \`${resumeCommand(ctx, 'up')}\` to review the plan (it brings ${name} back as it is)`,
    };
    await up.upCloud(upCtx, ws, confirmed);
  }
}
