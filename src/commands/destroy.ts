/**
 * `ha-wordpress destroy` (docs/operations.md#destroy): shows what terraform would remove,
 * asks for the project name (or --yes), applies exactly the plan it showed,
 * takes a final backup (docs/backups.md; --no-final-backup skips it), applies
 * exactly the plan it showed, and keeps the workspace so `up` can rebuild it
 * (--purge removes it). The backup bucket is never part of the plan.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UsageError, UserError } from '../errors.js';
import * as tf from '../runners/terraform.js';
import { confirmWorkspaceApiUrl } from '../settings/api-url.js';
import { INVENTORY_FILE, KEY_LINK, KNOWN_HOSTS_FILE } from '../workspace/inventory.js';
import { RECREATED_FILE } from '../workspace/recreated.js';
import { SETTINGS_FILE } from '../workspace/workspace.js';
import { bytes, readHeldData, takeBackup } from './backup.js';
import { phase, preflightTools, requireFile, resumeCommand, terraformEnv, withLockedWorkspace, type OpContext, type Workspace } from './operate.js';

type DestroyContext = OpContext;

export async function runDestroy(ctx: DestroyContext): Promise<void> {
  // Refuse before anything runs: not even `terraform init` without consent.
  if (!ctx.yes && !ctx.interactive)
    throw new UsageError('destroy: not confirmed; run it on a terminal to type the project name, or add --yes (nothing was changed)');
  await withLockedWorkspace(ctx, 'destroy', (ws) => (ws.target === 'local' ? destroyLocal(ctx, ws) : destroyCloud(ctx, ws)));
}

async function destroyCloud(ctx: DestroyContext, ws: Workspace): Promise<void> {
  await confirmWorkspaceApiUrl(ctx, ws.settings.apiUrl, 'destroy');
  const found = await preflightTools([{ name: 'terraform', version: () => tf.terraformVersion(ctx.env), hint: tf.TERRAFORM_HINT }]);
  await requireFile(ws, 'terraform/terraform.tf', "the cluster's terraform code");
  ctx.log.success(`preflight: ${found.join(', ')}; the vault opens; API token from ${ws.tokenSource}`);

  const dir = path.join(ws.dir, 'terraform');
  const env = terraformEnv(ctx, ws);
  const resume = resumeCommand(ctx, 'destroy');
  const planned = await phase(
    ctx,
    ws,
    'destroy',
    'terraform: planning the destroy',
    resume,
    async (p) => {
      const run = tf.inPhase(dir, env, p);
      await tf.init(run);
      return tf.plan(run, { destroy: true });
    },
    (s) => `terraform plan -destroy: ${s.destroy} to destroy`,
  );

  if (planned.destroy === 0) {
    ctx.log.info(`Nothing to destroy: terraform manages no resources for ${ws.project}.`);
    await fs.rm(path.join(dir, tf.DESTROY_PLAN_FILE), { force: true });
    await finish(ctx, ws);
    return;
  }
  ctx.log.info(`  To be destroyed (${planned.destroy}):`);
  for (const [kind, n] of countByType(planned.deleted)) ctx.log.info(`    ${String(n).padStart(3)} × ${kind}`);
  ctx.log.warn(
    'the droplets, their disks and the databases on them go away for good; ' +
      'a Spaces bucket that still holds files stops the destroy (empty it first if you mean it)',
  );

  if (ctx.options.purge && ws.settings.backupBucket)
    ctx.log.warn(
      `--purge also deletes this workspace's vault, and with it the only copy of the password the backups in ${ws.settings.backupBucket} are ` +
        'encrypted with: keep vault_backup_restic_password (`ansible-vault view ansible/group_vars/all/vault.yml`) somewhere safe first',
    );
  await confirmByName(ctx, ws, () => fs.rm(path.join(dir, tf.DESTROY_PLAN_FILE), { force: true }));
  await finalBackup(ctx, ws, () => fs.rm(path.join(dir, tf.DESTROY_PLAN_FILE), { force: true }));

  // DigitalOcean refuses to delete a region's default VPC, and the provider
  // would retry for minutes before failing the whole destroy: terraform
  // forgets it, and the plan is made again without it.
  const kept = planned.defaultVpcs;
  const toDestroy =
    kept.length === 0
      ? planned
      : await phase(
          ctx,
          ws,
          'destroy',
          "terraform: leaving the region's default VPC out",
          resume,
          async (p) => {
            const run = tf.inPhase(dir, env, p);
            await tf.forget(
              run,
              kept.map((v) => v.address),
            );
            return tf.plan(run, { destroy: true });
          },
          (s) => `terraform plan -destroy: ${s.destroy} to destroy`,
        );

  if (toDestroy.destroy > 0)
    await phase(
      ctx,
      ws,
      'destroy',
      'terraform: destroying',
      resume,
      async (p) => {
        await tf.apply(tf.inPhase(dir, env, p), tf.DESTROY_PLAN_FILE);
      },
      () => `destroyed ${toDestroy.destroy} resources of ${ws.project}`,
    );
  await fs.rm(path.join(dir, tf.DESTROY_PLAN_FILE), { force: true });
  for (const v of kept)
    ctx.log.warn(
      `left the VPC ${v.name} (${v.id}) in ${v.region}: DigitalOcean keeps a region's default VPC; ` +
        'delete it in the control panel once another VPC is the default',
    );
  await finish(ctx, ws);
}

/** The local target: every container, mount, cgroup, link and process of the lab goes. */
async function destroyLocal(ctx: DestroyContext, ws: Workspace): Promise<void> {
  const lab = await import('../lab/index.js');
  ctx.log.info(
    `  To be destroyed: the lab of ${ws.project} (its containers and their disks, its network and stand-in services` +
      `${ctx.options.purge ? ', and with --purge its backups' : ''}).`,
  );
  await confirmByName(ctx, ws, async () => undefined);
  await finalBackup(ctx, ws, async () => undefined);
  await phase(
    ctx,
    ws,
    'destroy',
    'lab: removing containers, network and services',
    resumeCommand(ctx, 'destroy'),
    async (p) => {
      await lab.labDestroy({ workspace: ws.dir, project: ws.project, log: ctx.log, onStatus: p.status, purge: ctx.options.purge });
    },
    () => `removed the lab of ${ws.project}`,
  );
  await finish(ctx, ws);
}

/** --yes, or the project name typed at the prompt; anything else aborts after `cleanup`. */
async function confirmByName(ctx: DestroyContext, ws: Workspace, cleanup: () => Promise<void>): Promise<void> {
  if (ctx.yes) return;
  const without = ctx.options.finalBackup ? '' : ' WITHOUT a final backup (--no-final-backup)';
  const typed = (await ctx.prompts.input({ message: `Type the project name (${ws.project}) to destroy it${without}:` })).trim();
  if (typed === ws.project) return;
  await cleanup();
  throw new UserError(`"${typed}" is not the project name ${ws.project}; nothing was destroyed`);
}

/**
 * The data outlives the machines: a backup of the database as it is now,
 * before anything is destroyed. A cluster that never held a site (no
 * held-data marker: no playbook finished) has nothing to keep; one that
 * cannot be backed up stops the destroy, which the user can still choose
 * with --no-final-backup.
 */
async function finalBackup(ctx: DestroyContext, ws: Workspace, cleanup: () => Promise<void>): Promise<void> {
  if (!ctx.options.finalBackup) {
    ctx.log.warn('no final backup (--no-final-backup): what was written since the last backup is lost with the nodes');
    return;
  }
  if (!(await readHeldData(ws.dir))) {
    ctx.log.info('No final backup: no playbook ever finished on this cluster, so it holds no site to keep.');
    return;
  }
  try {
    const started = Date.now();
    const b = await takeBackup(ctx, ws, 'final');
    ctx.log.success(`final backup ${b.short_id} taken on ${b.node}: ${bytes(b.bytes)} (${Math.round((Date.now() - started) / 1000)} s)`);
  } catch (err) {
    await cleanup();
    if (!(err instanceof UserError)) throw err;
    throw new UserError(
      `the final backup failed: ${err.message}; nothing was destroyed. Fix it and run \`${resumeCommand(ctx, 'destroy')}\` again, ` +
        `or add --no-final-backup to destroy without one`,
    );
  }
}

/** After a destroy: the inventory and host keys describe machines that are gone. */
async function finish(ctx: DestroyContext, ws: Workspace): Promise<void> {
  await fs.rm(path.join(ws.dir, INVENTORY_FILE), { force: true });
  await fs.rm(path.join(ws.dir, KNOWN_HOSTS_FILE), { force: true });
  await fs.rm(path.join(ws.dir, KEY_LINK), { force: true });
  await fs.rm(path.join(ws.dir, RECREATED_FILE), { force: true });
  if (ctx.options.purge) {
    // Only ever a directory that is a workspace (openWorkspace checked the settings file).
    await fs.access(path.join(ws.dir, SETTINGS_FILE));
    await fs.rm(ws.dir, { recursive: true, force: true });
    ctx.log.success(`Removed the workspace ${ws.dir}`);
  } else {
    ctx.log.info(`The workspace ${ws.dir} is kept: \`${resumeCommand(ctx, 'up')}\` builds the cluster again (--purge removes it).`);
  }
  backupsLeft(ctx, ws);
}

/** Where the data went, and the commands that bring it back (docs/backups.md). */
function backupsLeft(ctx: DestroyContext, ws: Workspace): void {
  const bucket = ws.settings.backupBucket;
  if (!bucket) return;
  if (ws.target === 'local') {
    if (!ctx.options.purge) ctx.log.info(`The backups stay in the lab's S3 stand-in: \`${resumeCommand(ctx, 'up --restore latest')}\` brings the site back.`);
    return;
  }
  const where = `the Spaces bucket ${bucket} in ${ws.settings.backupRegion ?? 'its region'}`;
  ctx.log.info(
    ctx.options.purge
      ? `The backups stay in ${where} (never deleted by destroy). To restore them into a new cluster you need this workspace's backup ` +
          'password, which went with it unless you kept it: `ha-wordpress init --backup-bucket ' +
          `${bucket} --backup-region ${ws.settings.backupRegion ?? '<region>'}\` with HA_WORDPRESS_BACKUP_PASSWORD set, ` +
          'then `ha-wordpress up --restore latest`.'
      : `The backups stay in ${where} (never deleted by destroy): \`${resumeCommand(ctx, 'up --restore latest')}\` builds a new cluster with the data; ` +
          'from a new workspace, `init --backup-bucket ' +
          `${bucket}\` with this workspace's backup password (HA_WORDPRESS_BACKUP_PASSWORD; \`ansible-vault view ansible/group_vars/all/vault.yml\`, ` +
          'vault_backup_restic_password), then `up --restore latest`.',
  );
}

/** "digitalocean_droplet.web[0]" → counts per resource type. */
function countByType(addresses: string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const a of addresses) {
    const type = a.replace(/^module\.[^.]+\./, '').split('.')[0]!;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return [...counts.entries()];
}
