/**
 * `ha-wordpress up` (docs/operations.md#up): preflight → terraform → inventory → wait →
 * ansible → summary. Each phase is resumable by running `up` again:
 * terraform converges on what exists, the inventory is rewritten from its
 * outputs, and the playbook is idempotent.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CancelledError, UsageError, UserError } from '../errors.js';
import { BACKUP_TF_DIR, upBackupStorage } from '../backup/spaces.js';
import { DB_LB_NODES, monthlyCost } from '../digitalocean/cost.js';
import type { Size } from '../digitalocean/client.js';
import type { LabOptions } from '../lab/index.js';
import type { LabSizes } from '../lab/plan.js';
import { STATE_ROOT } from '../lab/dirs.js';
import { ansibleVersion, ANSIBLE_HINT, runPlaybook, type RecapRow } from '../runners/ansible.js';
import { countPlays, PlaybookProgress } from '../runners/playbook-progress.js';
import { listSnapshots, pickSnapshot, readHeldData, rememberHeldData, restoreSnapshot } from './backup.js';
import * as tf from '../runners/terraform.js';
import type { Credentials } from '../ssh/exec.js';
import { fingerprint, knownHosts, waitForHosts, type KeyChange } from '../ssh/wait.js';
import { ensureLabWorkspace } from '../init/lab-workspace.js';
import { aside, withSpinner } from '../ui/spinner.js';
import { readIfExists, writeAtomic } from '../workspace/files.js';
import {
  checkOutputs,
  INVENTORY_FILE,
  KNOWN_HOSTS_FILE,
  LAB_CA_FILE,
  readInventory,
  readInventoryVars,
  renderInventory,
  siteUrlOf,
  writeInventory,
  type ClusterOutputs,
  type Host,
} from '../workspace/inventory.js';
import { ansiblePathProblem } from '../workspace/workspace.js';
import { configFingerprint, whyConfigure } from '../workspace/converged.js';
import { statusProbe, type ClusterStatus } from './status.js';
import { applyResizes, rollResizes } from './resize.js';
import { retireNodes } from './retire.js';
import { isTier, nodeName, TAKE_OUT } from './tiers.js';
import { keysFor } from '../ssh/exec.js';
import { forgetRecreated, markRecreated, readRecreated } from '../workspace/recreated.js';
import { HAPROXY_STATS_PORT } from '../secrets/catalog.js';
import { confirmWorkspaceApiUrl } from '../settings/api-url.js';
import { httpOnlyWarning } from '../init/https.js';
import { sshOpenWarning } from '../validation/rules.js';
import {
  baseEnv,
  consented,
  finishingOnInterrupt,
  lastLine,
  nodeExec,
  phase,
  preflightTools,
  projectKey,
  requireFile,
  resumeCommand,
  siteAnswers,
  siteCa,
  sshCredentials,
  terraformEnv,
  withLockedWorkspace,
  type OpContext,
  type Workspace,
} from './operate.js';

type UpContext = OpContext;

/**
 * What a command that runs up for one change (scale, replace) confirmed: the droplets it adds, deletes or makes anew. The plan may
 * hold nothing else that creates, deletes, replaces or resizes a droplet; in-place changes that follow (the load
 * balancer's and firewalls' droplet lists) are part of it.
 */
export interface ConfirmedChange {
  add: string[];
  remove: string[];
  /** Droplets to destroy and create again, by terraform address (`ha-wordpress replace`); their names are in `add`. */
  replace?: string[];
  /** How to go on when the plan holds more: the user reviews it with up. */
  review: string;
}

export async function runUp(given: UpContext): Promise<void> {
  const ctx = given.options.target === 'local' ? await ensureLabWorkspace(given) : given;
  await withLockedWorkspace(ctx, 'up', async (ws) => {
    if (ctx.options.target !== undefined && ctx.options.target !== ws.target)
      throw new UsageError(`--target: the workspace in ${ws.dir} is for ${ws.target}; leave --target out, or give another --dir`);
    const unusable = ansiblePathProblem(ws.dir, ctx.options.dir !== undefined ? '--dir' : 'the workspace directory');
    if (unusable) throw new UsageError(`${unusable} (move the workspace there; nothing was changed)`);
    await (ws.target === 'local' ? upLocal(ctx, ws) : upCloud(ctx, ws));
  });
}

/** The DigitalOcean target: terraform, then the wait and the playbook. */
export async function upCloud(ctx: UpContext, ws: Workspace, confirmed?: ConfirmedChange): Promise<void> {
  const startedAt = Date.now();
  const doTerraform = ctx.options.only !== 'ansible';
  const doAnsible = ctx.options.only !== 'terraform';
  // Before anything runs: the account check and terraform send the token to the API URL.
  if (doTerraform) await confirmWorkspaceApiUrl(ctx, ws.settings.apiUrl, 'up');

  // Preflight: everything that can be checked before anything is created.
  const found = await preflightTools([...(doTerraform ? [terraformTool(ctx)] : []), ...(doAnsible ? [ansibleTool(ctx)] : [])]);
  if (doTerraform) await requireFile(ws, 'terraform/terraform.tf', "the cluster's terraform code");
  if (doAnsible) await requireFile(ws, 'ansible/site.yml', "the cluster's playbook");
  const credentials = doAnsible ? await sshCredentials(ctx, ws) : undefined;
  let sizes: Size[] | undefined;
  if (doTerraform) sizes = await checkAccount(ctx, ws);
  ctx.log.success(`preflight: ${found.join(', ')}; the vault opens${ws.tokenSource ? `; API token from ${ws.tokenSource}` : ''}`);

  let cluster: ClusterOutputs | undefined;
  if (doTerraform) {
    // The backups' bucket and keys first: the cluster's playbook needs the nodes' key.
    await requireFile(ws, `${BACKUP_TF_DIR}/terraform.tf`, "the backup bucket's terraform code");
    await upBackupStorage(ctx, ws);
    cluster = await terraformPhase(ctx, ws, sizes ?? [], confirmed);
    if (!cluster) return; // the user declined the plan
  }
  const left = doAnsible ? await configure(ctx, ws, credentials!, startedAt) : [];
  await finish(ctx, ws, cluster ?? (await clusterFromInventory(ws)), doAnsible, left);
}

/**
 * The local target: the lab (src/lab) stands in for terraform and
 * DigitalOcean; wait, ansible and the summary are the same code as for the
 * droplets. `--only terraform` means "the infrastructure side": the lab.
 * Also `drill`'s way back after the whole database tier went down: the same
 * recovery path a user takes.
 */
export async function upLocal(ctx: UpContext, ws: Workspace): Promise<void> {
  const startedAt = Date.now();
  const doLab = ctx.options.only !== 'ansible';
  const doAnsible = ctx.options.only !== 'terraform';
  const lab = await import('../lab/index.js');
  const problems = doLab ? await lab.labCheck() : [];
  if (problems.length) throw new UserError(problems.join('\n'));
  const found = await preflightTools(doAnsible ? [ansibleTool(ctx)] : []);
  if (doAnsible) await requireFile(ws, 'ansible/site.yml', "the cluster's playbook");
  const credentials = doAnsible ? await sshCredentials(ctx, ws) : undefined;
  ctx.log.success(`preflight: ${[...found, 'the vault opens'].join('; ')}`);

  let cluster: ClusterOutputs | undefined;
  if (doLab) {
    // Containers the new shape has no more (a lower --web-nodes or --db-nodes) leave cleanly before the lab removes them.
    const wanted = { workspace: ws.dir, project: ws.project, webNodes: ws.settings.webNodes, dbNodes: ws.settings.dbNodes, sizes: labSizes(ws) };
    const shape = await lab.labPlan(wanted);
    const existing = new Set(await lab.labContainers({ workspace: ws.dir, project: ws.project }));
    await refuseEmptyStart(ctx, ws, (name) => !existing.has(name), 'container');
    // A changed size: each running container it concerns is stopped, given its new limits and started, one at a time
    // and gated, before anything else changes (as the droplets' resizes come first on DigitalOcean).
    // Asked first, as the droplets' resizes are in terraform's plan.
    if ((await resizeContainers(ctx, ws, wanted.sizes, { ask: true })) === undefined) return;
    if (shape) await retireLeaving(ctx, ws, (name) => !shape.nodes.some((x) => x.name === name));
    cluster = await phase(
      ctx,
      ws,
      'lab',
      'lab: containers, network and stand-in services',
      resumeCommand(ctx, 'up'),
      async (p) => {
        const made = await lab.labUp({ ...(await labOptions(ctx, ws)), onStatus: p.status });
        const out: ClusterOutputs = {
          inventory: made.inventory,
          loadBalancerIp: made.loadBalancerIp,
          dbReservedIp: made.dbReservedIp,
          siteUrl: made.siteUrl,
        };
        // The lab CA's certificate, for curl --cacert or a browser (and for up's and status's own check of the site).
        if (made.caCert) await writeAtomic(path.join(ws.dir, LAB_CA_FILE), made.caCert, 0o644);
        await saveInventory(ws, out, made.extraVars);
        return out;
      },
      (c) => `lab: ${hostCount(c)} containers up; inventory in ${INVENTORY_FILE}`,
    );
  }
  const left = doAnsible ? await configure(ctx, ws, credentials!, startedAt) : [];
  await finish(ctx, ws, cluster ?? (await clusterFromInventory(ws)), doAnsible, left);
}

/**
 * The lab's rolling resize of the running containers whose size is not `sizes` (a changed web-size, db-size or
 * lb-size; `drill --scenario resize-db` gives others), gated like a droplet's; returns the names resized, in order.
 * With `ask` (up), a resize is applied only after a yes at the prompt or with --yes, as a droplet's plan is;
 * undefined when the user declined.
 */
export async function resizeContainers(ctx: UpContext, ws: Workspace, sizes: LabSizes, o: { ask?: boolean } = {}): Promise<string[] | undefined> {
  const lab = await import('../lab/index.js');
  const resized = await lab.labResizes({ workspace: ws.dir, project: ws.project, webNodes: ws.settings.webNodes, dbNodes: ws.settings.dbNodes, sizes });
  if (!resized.length) return [];
  const resume = resumeCommand(ctx, 'up');
  for (const r of resized)
    ctx.log.warn(`${r.name} will be RESIZED (${r.from} → ${r.to}): the lab stops its container for it, so up resizes one container at a time`);
  const [what, them] = resized.length === 1 ? ['1 container', 'it'] : [`${resized.length} containers`, 'them'];
  if (
    o.ask &&
    !(await consented(
      ctx,
      { message: `Resize ${what}, one at a time?`, default: true },
      `resize: ${what} would be resized and up is not interactive; run \`${resumeCommand(ctx, 'up --yes')}\` to resize ${them} one at a time`,
    ))
  )
    return undefined;
  const options = { ...(await labOptions(ctx, ws)), sizes };
  return phase(
    ctx,
    ws,
    'resize',
    `resize: ${what}, one at a time`,
    resume,
    async (p) => {
      const gates = await resizeGates(ctx, ws, resume, p);
      return heldResize(ctx, resume, (stopRequested) =>
        rollResizes({ ...gates, stopRequested, resized, what: 'container', apply: (one) => lab.labResizeNode({ ...options, onStatus: p.status }, one.name) }),
      );
    },
    (done) => `resize: ${done.join(', ')} resized, one at a time`,
  );
}

/**
 * A rolling resize that a Ctrl-C stops at its next safe point: the node in progress is resized and the cluster
 * healthy again (on DigitalOcean terraform's apply of that droplet is not interrupted), then nothing more is changed,
 * not even the rest of up. A second Ctrl-C stops at once.
 */
function heldResize(ctx: UpContext, resume: string, roll: (stopRequested: () => boolean) => Promise<string[]>): Promise<string[]> {
  return finishingOnInterrupt(ctx, 'up', async (requested) => {
    const done = await roll(requested);
    if (requested())
      throw new CancelledError(`up stopped at Ctrl-C after the resizes (${done.join(', ')}); nothing else was changed: run \`${resume}\` to go on`);
    return done;
  });
}

/** What a rolling resize is gated by on either target: the cluster's health, each node taken out, progress shown. */
async function resizeGates(ctx: UpContext, ws: Workspace, resume: string, p: { status: (text: string) => void }) {
  const probe = await clusterGate(ctx, ws);
  return {
    probe,
    // Only a cluster that has held data has nodes to take out (and their host keys recorded).
    takeOut: probe ? await takeOutNode(ctx, ws) : undefined,
    resume,
    progress: (line: string) => {
      p.status(`resizing ${line}`);
      aside(() => ctx.log.info(`  resizing ${line}`));
    },
  };
}

/** The tiers' droplet sizes, which the lab gives its containers as limits. */
export const labSizes = (ws: Workspace): LabSizes => ({ web: ws.settings.webSize, db: ws.settings.dbSize, lb: ws.settings.lbSize });

/** What the lab needs to converge this workspace's containers (shared with `drill`, which restarts what it broke through it). */
export async function labOptions(ctx: OpContext, ws: Workspace): Promise<LabOptions> {
  const key = await projectKey(ws);
  const token = ws.vaults.galera_loadbalancer?.vault_galera_ha_do_token;
  if (typeof token !== 'string' || !token)
    throw new UserError('ansible/group_vars/galera_loadbalancer/vault.yml has no vault_galera_ha_do_token; run `ha-wordpress init` again');
  return {
    workspace: ws.dir,
    project: ws.project,
    webNodes: ws.settings.webNodes,
    dbNodes: ws.settings.dbNodes,
    adminUser: ws.settings.adminUser,
    publicKey: key.publicKey,
    apiToken: token,
    s3Keys: labS3Keys(ws),
    ...(ws.settings.spacesBucket ? { s3Buckets: [ws.settings.spacesBucket] } : {}),
    log: ctx.log,
    yes: ctx.yes,
    interactive: ctx.interactive,
    confirm: (message) => ctx.prompts.confirm({ message, default: true }),
    // A container made anew has new host keys, like a replaced droplet: the wait phase expects them.
    onCreated: (name) => markRecreated(ws.dir, [name], 'lab'),
    ...(ws.settings.domain ? { domain: ws.settings.domain } : {}),
    sizes: labSizes(ws),
  };
}

/** The workspace's Spaces key pair, which the lab's S3 stand-in accepts; undefined in a workspace made before backups (the lab says so). */
function labS3Keys(ws: Workspace): LabOptions['s3Keys'] {
  const id = ws.vaults.all?.vault_backup_s3_access_key_id;
  const secret = ws.vaults.all?.vault_backup_s3_secret_access_key;
  return typeof id === 'string' && id && typeof secret === 'string' && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

const terraformTool = (ctx: UpContext) => ({ name: 'terraform', version: () => tf.terraformVersion(ctx.env), hint: tf.TERRAFORM_HINT });
const ansibleTool = (ctx: UpContext) => ({ name: 'ansible-playbook', version: () => ansibleVersion(ctx.env), hint: ANSIBLE_HINT });

async function checkAccount(ctx: UpContext, ws: Workspace): Promise<Size[]> {
  const { connect } = await import('../digitalocean/client.js');
  const api = await connect({ token: ws.token!, apiUrl: ws.settings.apiUrl, log: ctx.log });
  const [account, sizes] = await withSpinner('Checking the DigitalOcean account…', () => Promise.all([api.account(), api.sizes()]));
  if (account.status !== 'active')
    throw new UserError(
      `the DigitalOcean account is ${account.status}${account.statusMessage ? ` (${account.statusMessage})` : ''}: ` +
        'resolve it in the control panel, then run up again',
    );
  return sizes;
}

async function terraformPhase(ctx: UpContext, ws: Workspace, sizes: Size[], confirmed?: ConfirmedChange): Promise<ClusterOutputs | undefined> {
  const dir = path.join(ws.dir, 'terraform');
  const env = terraformEnv(ctx, ws);
  const resume = resumeCommand(ctx, 'up');

  const planned = await phase(
    ctx,
    ws,
    'terraform',
    'terraform: init and plan',
    resume,
    async (p) => {
      const run = tf.inPhase(dir, env, p);
      p.status('terraform init…');
      await tf.init(run);
      p.status('terraform plan…');
      return tf.plan(run, confirmed?.replace ? { replace: confirmed.replace } : {});
    },
    (s) => `terraform plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy`,
  );

  if (confirmed) {
    const beyond = beyondChange(planned, confirmed);
    if (beyond) {
      await fs.rm(path.join(dir, tf.PLAN_FILE), { force: true });
      throw new UserError(`terraform: the plan holds more than what was confirmed (${beyond}); nothing was applied: ${confirmed.review}`);
    }
  }
  await refuseEmptyStart(ctx, ws, (name) => planned.newDroplets.includes(name), 'droplet').catch(async (err: unknown) => {
    await fs.rm(path.join(dir, tf.PLAN_FILE), { force: true });
    throw err;
  });
  if (tf.hasChanges(planned)) {
    const cost = clusterCost(ws, sizes);
    if (cost) ctx.log.info(`  The cluster: ${cost}`);
    for (const a of planned.replaced) ctx.log.warn(`${a} will be REPLACED: everything on it is lost`);
    for (const a of planned.deleted) ctx.log.warn(`${a} will be DESTROYED`);
    for (const r of planned.resized)
      ctx.log.warn(`${r.name} will be RESIZED (${r.from} → ${r.to}): DigitalOcean shuts it down for it, so up resizes one droplet at a time`);
    const risky = planned.replaced.length + planned.deleted.length > 0;
    const ok = await consented(
      ctx,
      {
        message:
          `Apply this plan (${planned.add} to add, ${planned.change} to change` +
          `${planned.resized.length ? ` of which ${planned.resized.length} resized one at a time` : ''}, ${planned.destroy} to destroy)?`,
        default: !risky,
      },
      `terraform: the plan has changes and up is not interactive; review it (${path.relative(ctx.cwd, ws.logDir) || ws.logDir}), ` +
        `then run \`${resumeCommand(ctx, 'up --yes')}\` to apply it`,
    );
    if (!ok) {
      await fs.rm(path.join(dir, tf.PLAN_FILE), { force: true });
      return undefined;
    }
    await phase(
      ctx,
      ws,
      'terraform',
      'terraform: apply',
      resume,
      async (p) => {
        // Before the droplets exist: an up that stops after the apply still expects their new host keys next time.
        await markRecreated(ws.dir, planned.newDroplets, 'terraform');
        const run = tf.inPhase(dir, env, p);
        if (planned.resized.length === 0) {
          await retireLeaving(ctx, ws, (name) => planned.deletedDroplets.includes(name), p);
          return tf.apply(run, tf.PLAN_FILE);
        }
        // Resizes first, on the whole healthy cluster; then the nodes that go leave; then the rest of the plan.
        const gates = await resizeGates(ctx, ws, resume, p);
        await heldResize(ctx, resume, (stopRequested) => applyResizes({ ...gates, stopRequested, run, resized: planned.resized }));
        await retireLeaving(ctx, ws, (name) => planned.deletedDroplets.includes(name), p);
        // The plan the user confirmed is stale now: plan the rest again, and apply it only if it is no more than that plan's rest.
        const rest = await tf.plan(run);
        const beyond = beyondConfirmed(planned, rest);
        if (beyond) throw new UserError(`the droplets are resized, but the rest of the plan changed meanwhile (${beyond}); run \`${resume}\` to review it`);
        if (tf.hasChanges(rest)) await tf.apply(run, tf.PLAN_FILE);
      },
      () => 'terraform apply: the infrastructure is in place',
    );
  }
  await fs.rm(path.join(dir, tf.PLAN_FILE), { force: true });
  await fs.rm(path.join(dir, tf.RESIZE_PLAN_FILE), { force: true });

  return phase(
    ctx,
    ws,
    'inventory',
    'inventory: reading terraform outputs',
    resume,
    async (p) => {
      const out = checkOutputs(await tf.outputs(tf.inPhase(dir, env, p)));
      await saveInventory(ws, out);
      return out;
    },
    (c) => `inventory: ${INVENTORY_FILE} (${hostCount(c)} hosts)`,
  );
}

/**
 * Nodes about to be deleted (a lower --web-nodes or --db-nodes) leave the
 * cluster cleanly first, one at a time (commands/retire.ts), once the
 * cluster has held data: before that there is nothing to drain.
 */
async function retireLeaving(ctx: UpContext, ws: Workspace, leaves: (name: string) => boolean, inPhase?: { status: (text: string) => void }): Promise<void> {
  // The inventory still names every node up configured last time: the leaving ones among them.
  const hosts = (await readInventory(ws.dir).catch(() => [])).filter((h) => leaves(h.name));
  if (hosts.length === 0) return;
  const probe = await clusterGate(ctx, ws);
  if (!probe) return;
  const exec = await nodeExec(ctx, ws);
  const work = async (status: (text: string) => void) =>
    retireNodes({
      leaving: hosts,
      probe,
      exec: (h, command) => exec(h, command, 120_000),
      resume: resumeCommand(ctx, 'up'),
      progress: (line) => {
        status(`taking out ${line}`);
        aside(() => ctx.log.info(`  taking out ${line}`));
      },
    });
  if (inPhase) return void (await work(inPhase.status));
  await phase(
    ctx,
    ws,
    'retire',
    `retire: ${hosts.map((h) => h.name).join(', ')} leave the cluster`,
    resumeCommand(ctx, 'up'),
    (p) => work(p.status),
    (order) => `retire: ${order.join(', ')} left the cluster cleanly, one at a time`,
  );
}

/**
 * What resizes and leaving nodes are gated on once the cluster has held
 * data: the status probe (commands/resize.ts, commands/retire.ts). A cluster
 * that never held data has nothing to lose, and perhaps no configured node
 * to ask.
 */
async function clusterGate(ctx: UpContext, ws: Workspace): Promise<(() => Promise<ClusterStatus>) | undefined> {
  if (!(await readHeldData(ws.dir))) return undefined;
  return statusProbe(ctx, ws);
}

/** What a plan holds beyond the droplets a confirmed change adds and deletes, or undefined. */
/** Takes one node of the inventory out of its tier over SSH (tiers.ts TAKE_OUT); rejects with the command's last line when it fails. */
async function takeOutNode(ctx: UpContext, ws: Workspace): Promise<(name: string) => Promise<void>> {
  const hosts = await readInventory(ws.dir).catch(() => [] as Host[]);
  const exec = await nodeExec(ctx, ws);
  return async (name) => {
    const h = hosts.find((x) => x.name === name);
    if (!h || !isTier(h.group)) throw new Error(`${name} is not in the inventory`);
    const out = await exec(h, TAKE_OUT[h.group], 30 * 60_000);
    if (out.code !== 0) throw new Error(lastLine(out));
  };
}

export function beyondChange(plan: tf.PlanSummary, c: Pick<ConfirmedChange, 'add' | 'remove' | 'replace'>): string | undefined {
  const more = [
    ...plan.replaced.filter((a) => !c.replace?.includes(a)).map((a) => `${a} replaced`),
    ...(c.replace ?? []).filter((a) => !plan.replaced.includes(a)).map((a) => `${a} not replaced`),
    ...plan.resized.map((r) => `${r.name} resized`),
    ...plan.newDroplets.filter((n) => !c.add.includes(n)).map((n) => `${n} created`),
    ...plan.deletedDroplets.filter((n) => !c.remove.includes(n)).map((n) => `${n} deleted`),
    ...c.add.filter((n) => !plan.newDroplets.includes(n)).map((n) => `${n} not created`),
    ...c.remove.filter((n) => !plan.deletedDroplets.includes(n)).map((n) => `${n} not deleted`),
  ];
  // Deleted resources that are not droplets (a volume, a firewall, the load balancer) were never part of a scale.
  if (plan.deleted.length > plan.deletedDroplets.length) more.push(`${plan.deleted.length - plan.deletedDroplets.length} other resources deleted`);
  return more.length ? more.join(', ') : undefined;
}

/** What the plan after the resizes has that the confirmed one did not, or undefined. */
export function beyondConfirmed(confirmed: tf.PlanSummary, rest: tf.PlanSummary): string | undefined {
  const extra = (now: string[], before: string[]) => now.filter((a) => !before.includes(a));
  const more = [...extra(rest.replaced, confirmed.replaced), ...extra(rest.deleted, confirmed.deleted), ...rest.resized.map((r) => r.address)];
  if (more.length) return `${more.join(', ')} would change too`;
  if (rest.add > confirmed.add || rest.destroy > confirmed.destroy || rest.change > confirmed.change - confirmed.resized.length)
    return `${rest.add} to add, ${rest.change} to change and ${rest.destroy} to destroy now`;
  return undefined;
}

/** The inventory for ansible: the hosts, and how to reach them (the project key, unless ssh-agent serves it). */
async function saveInventory(ws: Workspace, out: ClusterOutputs, extraVars: Record<string, unknown> = {}): Promise<void> {
  const key = await projectKey(ws);
  const conn = { adminUser: ws.settings.adminUser, keyFile: key.encrypted ? undefined : key.path };
  await writeInventory(ws.dir, renderInventory(out, conn, extraVars), conn);
}

const hostCount = (c: ClusterOutputs) => Object.values(c.inventory).reduce((n, g) => n + Object.keys(g).length, 0);

function clusterCost(ws: Workspace, sizes: Size[]): string | undefined {
  const { region = '', webSize, dbSize, lbSize, webNodes, dbNodes } = ws.settings;
  const shape = { webSize, dbSize, lbSize, webNodes, dbNodes };
  const cost = monthlyCost(sizes, region, shape);
  const n = shape.webNodes + shape.dbNodes + DB_LB_NODES;
  return cost === undefined ? undefined : `${n} droplets in ${region} ≈ $${cost}/month at today's prices, plus the load balancer`;
}

/**
 * Waits for every host, and returns those left out: a host configured before
 * (its key recorded) and not made anew that does not answer within 90 s is
 * down, and up goes on without it (docs/operations.md#a-node-missing).
 */
async function waitPhase(ctx: UpContext, ws: Workspace, credentials: Credentials): Promise<{ left: Host[]; allNew: boolean }> {
  const hosts = await readInventory(ws.dir);
  // None yet on a first wait: every host is new then.
  const known = (await readIfExists(path.join(ws.dir, KNOWN_HOSTS_FILE))) ?? '';
  const recreated = await readRecreated(ws.dir);
  // Every host made in this run (or never reached before): none can hold a configuration yet.
  const allNew = hosts.every((h) => keysFor(known, h.address, h.port).length === 0 || recreated.has(h.name));
  const left = await phase(
    ctx,
    ws,
    'wait',
    `wait: SSH and cloud-init on ${hosts.length} hosts`,
    resumeCommand(ctx, 'up --only ansible'),
    async (p) => {
      let ready = 0;
      const { seen, missing } = await waitForHosts({
        hosts,
        credentials,
        timeoutMs: ctx.options.waitTimeout * 1000,
        mayBeMissing: (h) => keysFor(known, h.address, h.port).length > 0 && !recreated.has(h.name),
        onReady: (h, ms, note) => {
          ready += 1;
          p.log.line(`${h.name} (${h.address}) ready after ${Math.round(ms / 1000)} s${note ? `: ${note}` : ''}`);
          p.status(`wait: ${ready}/${hosts.length} hosts ready`);
          if (note) ctx.log.warn(`${h.name}: ${note}`);
          else if (ctx.verbose || !process.stderr.isTTY) ctx.log.info(`  ${h.name} ready`);
        },
      });
      if (missing.length === hosts.length)
        throw new UserError(
          `no host answered (${missing.map((m) => `${m.host.name}: ${m.reason}`).join('; ')}); ` +
            `check the droplets in the DigitalOcean control panel, then run \`${resumeCommand(ctx, 'up --only ansible')}\``,
        );
      for (const m of missing) {
        p.log.line(`${m.host.name} (${m.host.address}) left out: ${m.reason}`);
        aside(() => ctx.log.warn(`${m.host.name} (${m.host.address}) does not answer (${m.reason}): up goes on without it`));
      }
      const file = path.join(ws.dir, KNOWN_HOSTS_FILE);
      const { text, changed } = knownHosts(
        seen,
        await readIfExists(file),
        missing.map((m) => ({ host: m.host.address, port: m.host.port })),
      );
      await judgeChangedKeys(ctx, ws, changed);
      await writeAtomic(file, text, 0o600);
      await forgetRecreated(
        ws.dir,
        seen.map((s) => s.name),
      ); // their new keys are recorded
      return missing.map((m) => m.host);
    },
    (left) =>
      left.length
        ? `wait: ${hosts.length - left.length} of ${hosts.length} hosts ready; ${left.map((h) => h.name).join(', ')} left out (not answering)`
        : `wait: all ${hosts.length} hosts accept SSH and cloud-init has finished`,
  );
  return { left, allNew };
}

/**
 * A host whose key changed gets every secret from ansible next: that is
 * expected only of a machine up made anew (a droplet terraform replaced, a
 * lab container recreated, in this run or in one that stopped before its
 * keys were recorded; see workspace/recreated.ts). Any other change stops
 * up, with known_hosts untouched, unless the user checked the fingerprints
 * and said --accept-new-host-keys.
 */
async function judgeChangedKeys(ctx: UpContext, ws: Workspace, changed: KeyChange[]): Promise<void> {
  if (changed.length === 0) return;
  const recreated = await readRecreated(ws.dir);
  const lab = ws.target === 'local';
  for (const c of changed.filter((c) => recreated.has(c.name)))
    ctx.log.info(`  ${c.name}: new SSH host key ${fingerprint(c.now)} recorded (up ${lab ? 'recreated its container' : 'replaced its droplet'})`);
  const unexpected = changed.filter((c) => !recreated.has(c.name));
  if (unexpected.length === 0) return;
  if (ctx.options.acceptNewHostKeys) {
    for (const c of unexpected) ctx.log.warn(`the SSH host key of ${describeChange(c)} changed; accepted (--accept-new-host-keys)`);
    return;
  }
  throw new UserError(changedKeysError(unexpected, { lab, project: ws.project, resume: resumeCommand(ctx, 'up --only ansible --accept-new-host-keys') }));
}

const describeChange = (c: KeyChange) => `${c.name} (${c.address}: ${c.before.map(fingerprint).join(' or ')} → ${fingerprint(c.now)})`;

/** The one line that stops up: which keys changed, from what to what, and how to check them and go on. */
export function changedKeysError(unexpected: KeyChange[], o: { lab: boolean; project: string; resume: string }): string {
  const one = unexpected.length === 1;
  const machine = o.lab ? 'container' : 'droplet';
  // A container's root is mounted on this machine, under its lab's directory.
  const root = o.lab ? `${STATE_ROOT}/${o.project}-*/containers/${one ? unexpected[0]!.name : '<node>'}/root` : '';
  const files = [...new Set(unexpected.map((c) => root + hostKeyFile(c.now)))].join(' / ');
  const where = o.lab ? `in the container${one ? "'s" : "s'"} root on this machine` : one ? "on the droplet's console" : "on the droplets' consoles";
  return (
    `the SSH host ${one ? 'key' : 'keys'} of ${unexpected.map(describeChange).join(', ')} changed, and up did not ${o.lab ? 'recreate' : 'replace'} ` +
    `${one ? 'its' : 'their'} ${machine}${one ? '' : 's'}: stopped before any secret was sent, known_hosts unchanged; ` +
    `check the new ${one ? 'fingerprint' : 'fingerprints'} ${where} (\`ssh-keygen -lf ${files}\`), then run \`${o.resume}\``
  );
}

/** Where a host keeps the public half of a host key of this type (OpenSSH's names). */
function hostKeyFile(keyLine: string): string {
  const type = keyLine.split(' ')[0] ?? '';
  const short = type.startsWith('ecdsa-') ? 'ecdsa' : type === 'ssh-rsa' ? 'rsa' : type === 'ssh-ed25519' ? 'ed25519' : '*';
  return `/etc/ssh/ssh_host_${short}_key.pub`;
}

/**
 * The wait, then the playbook unless there is nothing to change
 * (docs/architecture.md#nothing-to-change): every node recorded the
 * workspace's current configuration and the cluster is healthy.
 * `--only ansible`, `--restore` and `--allow-empty-database` always run it.
 */
async function configure(ctx: UpContext, ws: Workspace, credentials: Credentials, startedAt: number): Promise<string[]> {
  const waited = await waitPhase(ctx, ws, credentials);
  const left = waited.left.map((h) => h.name);
  // A restore, or an empty start, rebuilds every database node: none may be missing.
  if (left.length && (ctx.options.restore !== undefined || ctx.options.allowEmptyDatabase))
    throw new UserError(
      `${left.join(', ')} ${left.length === 1 ? 'does' : 'do'} not answer, and ${ctx.options.restore !== undefined ? '--restore' : '--allow-empty-database'} ` +
        'rebuilds the whole cluster: bring every node back (`ha-wordpress status` shows which), then run the command again',
    );
  const config = await configFingerprint(ws.dir);
  const forced = ctx.options.only === 'ansible' || ctx.options.restore !== undefined || ctx.options.allowEmptyDatabase;
  // Asking new nodes whether they have the configuration would cost seconds to learn that they do not.
  if (waited.allNew && !forced) ctx.log.success('check: every node is new: the playbook runs');
  else if (!forced) {
    const why = await phase(
      ctx,
      ws,
      'check',
      'check: whether every node has this configuration',
      resumeCommand(ctx, 'up'),
      // Asking is an optimisation: when it cannot be done, the playbook runs as it always did.
      async () =>
        statusProbe(ctx, ws)
          .then((probe) => probe())
          .then(
            (status) => whyConfigure(status, config),
            (err: Error) => `the nodes could not be asked (${err.message})`,
          ),
      (reason) =>
        reason === undefined
          ? 'nothing to change: every node has this configuration and the cluster is healthy; ' +
            `\`${resumeCommand(ctx, 'up --only ansible')}\` applies it again anyway`
          : `check: ${reason}: the playbook runs`,
    );
    if (why === undefined) {
      await rememberHeldData(ws.dir);
      return left;
    }
  }
  await ansiblePhase(ctx, ws, config, left);
  await afterPlaybook(ctx, ws, startedAt);
  return left;
}

async function ansiblePhase(ctx: UpContext, ws: Workspace, config: string, without: string[] = []): Promise<RecapRow[]> {
  return phase(
    ctx,
    ws,
    'ansible',
    'ansible: configuring the cluster (site.yml)',
    resumeCommand(ctx, 'up --only ansible'),
    async (p) => {
      const playbook = await fs.readFile(path.join(ws.dir, 'ansible', 'site.yml'), 'utf8');
      const progress = new PlaybookProgress(countPlays(playbook), Date.now());
      // The status line's clock moves on between lines too.
      const tick = setInterval(() => p.status(progress.status(Date.now())), 1000);
      try {
        return await runPlaybook({
          workspace: ws.dir,
          env: baseEnv(ctx.env),
          vaultPassword: ws.vaultPassword,
          // The last play records the fingerprint on each node it configured.
          extraVars: { ...(await heldDataVars(ctx, ws)), ha_wordpress_converged: config },
          without,
          log: p.log,
          onInterrupt: p.onInterrupt,
          onLine: (line) => {
            p.onLine?.(line);
            const what = progress.feed(line);
            // Without --verbose, a line per play: the phase says where it is in logs and pipes too.
            if (what === 'play' && !p.onLine) aside(() => ctx.log.info(`  ${progress.playLine(Date.now())}`));
            if (what) p.status(progress.status(Date.now()));
          },
        });
      } finally {
        clearInterval(tick);
      }
    },
    (recap) => {
      const changed = recap.reduce((n, r) => n + r.changed, 0);
      return `ansible: ${recap.length} hosts configured, ${changed} changed`;
    },
    // The galera role's refusal to start an empty site (roles/galera/tasks/refuse-empty.yml): nothing to fix, a choice to make.
    // Matched across lines: the YAML result format folds a long message at 80 columns, anywhere.
    (err) =>
      /not\s+starting\s+an\s+empty\s+site/.test(err.tail.join(' ')) ? emptyStartMessage(ctx, 'is empty', '(the latest backup is named above)') : undefined,
  );
}

/**
 * The same refusal as the galera role's, before anything is created: every
 * database node would be a new droplet or container, so empty, while this
 * workspace's cluster has held data (after a destroy, say). Without it, up
 * would build the whole cluster only for the playbook to stop it there.
 * The role's check stays: nodes that exist may still be empty.
 */
async function refuseEmptyStart(ctx: UpContext, ws: Workspace, isNew: (name: string) => boolean, what: string): Promise<void> {
  if (ctx.options.restore !== undefined || ctx.options.allowEmptyDatabase) return;
  const held = await readHeldData(ws.dir);
  if (!held) return;
  const db = Array.from({ length: ws.settings.dbNodes }, (_, i) => nodeName(ws.project, 'galera_cluster_node', i + 1));
  if (!db.every(isNew)) return;
  const latest = held.snapshot ? `latest backup ${held.snapshot.slice(0, 8)} of ${held.time ?? 'an unknown time'}` : 'no backup recorded in this workspace';
  throw new UserError(emptyStartMessage(ctx, 'would be new', `(${latest}); no ${what} was created`));
}

function emptyStartMessage(ctx: UpContext, dbState: string, detail: string): string {
  return (
    `up stopped before starting an empty site: every database node ${dbState}, but this workspace's cluster has held data ${detail}; ` +
    `run \`${resumeCommand(ctx, 'up --restore latest')}\` to bring it back, or \`${resumeCommand(ctx, 'up --allow-empty-database')}\` to really start over`
  );
}

/**
 * What the galera role needs to tell a first bootstrap from a cluster that
 * lost every node: whether this workspace's cluster has held data, its
 * latest backup (named in the refusal), and whether the user allowed an
 * empty start (`--allow-empty-database`, or `--restore`, which fills it).
 */
async function heldDataVars(ctx: UpContext, ws: Workspace): Promise<Record<string, string | boolean>> {
  const held = await readHeldData(ws.dir);
  return {
    ...(ctx.options.restore !== undefined ? { backup_timers_paused: true } : {}),
    galera_held_data: Boolean(held),
    galera_held_data_latest: held?.snapshot ? `${held.snapshot.slice(0, 8)} of ${held.time ?? 'an unknown time'}` : '',
    galera_allow_empty: ctx.options.allowEmptyDatabase || ctx.options.restore !== undefined,
  };
}

/**
 * `--restore`: the snapshot back into the cluster just configured; otherwise
 * the cluster now holds a site worth keeping. "latest" is the newest
 * snapshot that existed when up started: nothing of the new, empty cluster.
 */
async function afterPlaybook(ctx: UpContext, ws: Workspace, startedAt: number): Promise<void> {
  if (ctx.options.restore === undefined) return rememberHeldData(ws.dir);
  const before = (await listSnapshots(ctx, ws)).filter((s) => Date.parse(s.time) < startedAt);
  const snapshot = pickSnapshot(before, ctx.options.restore, '--restore');
  await restoreSnapshot(ctx, ws, snapshot);
}

/** For `--only ansible`: what terraform wrote into the inventory last time. */
async function clusterFromInventory(ws: Workspace): Promise<ClusterOutputs | undefined> {
  const vars = await readInventoryVars(ws.dir);
  if (!vars.load_balancer_ip) return undefined;
  return {
    inventory: {} as ClusterOutputs['inventory'],
    loadBalancerIp: vars.load_balancer_ip,
    dbReservedIp: vars.db_reserved_ip ?? '',
    siteUrl: siteUrlOf(vars, ws),
    ...(vars.dns_record ? { dnsRecord: vars.dns_record } : {}),
  };
}

/**
 * After the playbook: the site must answer through the public entry before
 * up says the cluster is up. The load balancer marks a web node healthy only
 * after its checks pass (2 in a row), so this polls for a while.
 */
async function finish(ctx: UpContext, ws: Workspace, c: ClusterOutputs | undefined, configured: boolean, left: string[] = []): Promise<void> {
  let answered: boolean | undefined;
  if (configured && c) {
    const ca = await siteCa(ws);
    answered = await withSpinner('Waiting for the site to answer through the load balancer…', () =>
      siteAnswers({ ip: c.loadBalancerIp, url: c.siteUrl, ...(ca ? { ca } : {}) }, SITE_WAIT_MS),
    );
  }
  summary(ctx, ws, c, configured, answered);
  if (left.length) {
    const [it, is] = left.length === 1 ? ['it', 'it is'] : ['them', 'they are'];
    const start =
      ws.target === 'local'
        ? `\`${resumeCommand(ctx, 'up')}\` starts ${it} and configures ${it}`
        : `start ${it} in DigitalOcean's control panel, then run \`${resumeCommand(ctx, 'up')}\``;
    ctx.log.warn(`up configured every node but ${left.join(', ')}, which did not answer; \`ha-wordpress status\` says DEGRADED until ${is} back: ${start}`);
  }
}

const SITE_WAIT_MS = 120_000;

function summary(ctx: UpContext, ws: Workspace, c: ClusterOutputs | undefined, configured: boolean, answered?: boolean): void {
  const pad = (s: string) => `  ${s.padEnd(17)}`;
  const domain = ws.settings.domain;
  const lines: string[] = [];
  if (!configured) {
    ctx.log.success('The infrastructure is up.');
    lines.push(`${pad('next')}${resumeCommand(ctx, 'up --only ansible')} configures it`);
  } else if (answered === false) {
    ctx.log.warn(
      `the playbook finished, but the site did not answer through the load balancer within ${SITE_WAIT_MS / 1000} s; ` +
        "check `ha-wordpress up --only ansible --verbose` and the load balancer's health checks",
    );
  } else {
    ctx.log.success('The cluster is up: the site answers through the load balancer.');
  }
  if (c) {
    const site = c.siteUrl;
    lines.push(`${pad('site')}${site}`);
    lines.push(`${pad('load balancer')}${c.loadBalancerIp}`);
    if (ws.target === 'local') {
      lines.push(`${pad('')}the lab's public entry: reachable from this machine only`);
      const host = new URL(site).hostname;
      if (site.startsWith('https:')) {
        lines.push(`${pad('lab CA')}${LAB_CA_FILE} (trust it in a browser, with \`${c.loadBalancerIp} ${host}\` in /etc/hosts)`);
        lines.push(`${pad('try')}curl --cacert ${LAB_CA_FILE} --resolve ${host}:443:${c.loadBalancerIp} ${site}`);
      }
    } else if (c.dnsRecord) lines.push(`${pad('DNS')}${c.dnsRecord} → ${c.loadBalancerIp} (an A record up keeps in your DigitalOcean DNS)`);
    else if (domain) lines.push(`${pad('DNS')}point ${domain} (an A record) at ${c.loadBalancerIp}`);
    if (c.dbReservedIp) lines.push(`${pad('database entry')}reserved IP ${c.dbReservedIp}, held by one of the two HAProxy nodes`);
    if (configured) lines.push(`${pad('WordPress admin')}${site}wp-admin/ as ${ws.settings.wpAdminUser}`);
  }
  const view = (group: string) => `ansible-vault view ansible/group_vars/${group}/vault.yml`;
  lines.push(`${pad('credentials')}admin password: \`${view('wp_node')}\` (vault_wp_admin_password)`);
  lines.push(`${pad('')}HAProxy stats (port ${HAPROXY_STATS_PORT}, on the private network): \`${view('galera_loadbalancer')}\``);
  lines.push(`${pad('logs')}${path.relative(ctx.cwd, ws.logDir) || ws.logDir}/${ws.stamp}-*.log`);
  for (const l of lines) ctx.log.info(l);
  // Said on every up, not only by init: it stays true until someone changes it.
  if (ws.target === 'digitalocean' && c?.siteUrl.startsWith('http:')) ctx.log.warn(httpOnlyWarning(domain || undefined));
  const sshOpen = ws.target === 'digitalocean' ? sshOpenWarning((ws.settings.sshAllow ?? []).join(',')) : undefined;
  if (sshOpen) ctx.log.warn(sshOpen);
}
