/**
 * `ha-wordpress init`: settings → checked answers → secrets → rendered files
 * → workspace. The steps live in src/init/ (where, account, SSH key, files,
 * summary); this wires them in order. Prompts and the logger come with the
 * context, so tests can drive it.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { newBackupBucket, newMediaBucket, sameRegionWarning } from '../backup/regions.js';
import { connectAccount, checkDropletLimit, regionChoices, sizeChoices, type Live } from '../init/account.js';
import { changedSecretsMustLand, planFiles } from '../init/files.js';
import { httpsInput, labHttps, planHttps, type HttpsPlan } from '../init/https.js';
import { registerKey, resolveSshKey } from '../init/ssh-key.js';
import { printSummary } from '../init/summary.js';
import { locate, type Where } from '../init/where.js';
import { buildSecrets, DB_TLS_ROTATE, DB_TLS_VAULT, ROTATE_NAMES, rotateRefusal, secretStrings, SMTP_PASSWORD, type Vaults } from '../secrets/catalog.js';
import { keptDbTls, newDbTls, type DbTls } from '../secrets/db-tls.js';
import { Resolver, type ExtraCheck } from '../settings/resolve.js';
import { appliesTo, RETIRED_FLAGS, SETTING, SETTINGS, type SettingKey, type Target, type Values } from '../settings/table.js';
import { redact } from '../ui/logger.js';
import { withSpinner } from '../ui/spinner.js';
import { splitList } from '../validation/rules.js';
import { readIfExists } from '../workspace/files.js';
import { withWorkspaceLock } from '../workspace/lock.js';
import { initPassword, saveByDefault } from '../workspace/vault-password.js';
import { applyPlan, readWorkspaceSecrets, VAULT_PASS_FILE } from '../workspace/workspace.js';
import type { Context } from './context.js';

/** Settled before the loop over the rest of the table, in this order. */
const SETTLED_FIRST = new Set<SettingKey>([
  'target',
  'project',
  'vaultPasswordFile',
  'token',
  'apiUrl',
  'region',
  'domain',
  'saveVaultPassword',
  'dir',
  'sshKey',
]);

/**
 * `next: false` leaves out the closing "Next: ha-wordpress up" (when up itself called init); `locked`: the
 * caller holds the workspace's lock already (scale, which changes the settings and then runs up under one lock).
 */
export async function runInit(ctx: Context, o: { next?: boolean; locked?: boolean } = {}): Promise<void> {
  const { log } = ctx;
  const rotate = parseRotate(ctx.options.rotate);
  for (const f of RETIRED_FLAGS) {
    const given = ctx.flags[camel(f.flag)] !== undefined ? `--${f.flag}` : ctx.env[f.env] ? f.env : undefined;
    if (given) log.warn(`${given} is no longer used (${f.why}); it is ignored`);
  }
  const r = new Resolver(ctx);
  const where = await locate(ctx, r);
  // A new workspace is written all at once (applyPlan stages it); an existing one is locked against other commands.
  if (!where.stored || o.locked) return initIn(ctx, r, where, rotate, o);
  await withWorkspaceLock(where.dir, 'init', () => initIn(ctx, r, where, rotate, o));
}

async function initIn(ctx: Context, r: Resolver, { dir, target, project, stored }: Where, rotate: Set<string>, o: { next?: boolean }): Promise<void> {
  const { log } = ctx;
  if (stored) log.info(`Updating the workspace in ${dir}: existing secrets are kept.`);

  const { password: vaultPassword, from: passwordFrom } = await initPassword(ctx, dir, Boolean(stored));
  r.values.vaultPasswordFile = ctx.options.vaultPasswordFile;
  const existing = stored ? await readWorkspaceSecrets(dir, vaultPassword) : undefined;

  let live: Live | undefined;
  let token: string | undefined;
  if (target === 'digitalocean') {
    ({ live, token } = await connectAccount(ctx, r, existing?.token));
    await r.settle(SETTING.region, regionChoices(live, r));
  }
  await r.settle(SETTING.domain);
  // Unless the user says, the password is kept only when nothing else holds it (saveByDefault).
  r.existing.saveVaultPassword = String(saveByDefault(passwordFrom));
  await r.settle(SETTING.saveVaultPassword);
  if (ctx.interactive && !ctx.yes) {
    r.customise = await ctx.prompts.confirm({ message: 'Customise node counts, sizes, SSH access and credentials?', default: false });
  }

  // Made once: a later init keeps the stored name (the bucket holds the backups).
  if (!r.given(SETTING.backupBucket)) r.existing.backupBucket ??= newBackupBucket(project);
  // Likewise the media bucket: it holds every upload.
  if (!r.given(SETTING.spacesBucket)) r.existing.spacesBucket ??= newMediaBucket(project);
  const given: Values = {};
  for (const s of SETTINGS) {
    if (SETTLED_FIRST.has(s.key) || !appliesTo(s, target)) continue;
    const extra: ExtraCheck = live && ['webSize', 'dbSize', 'lbSize'].includes(s.key) ? sizeChoices(live, r.values.region!) : {};
    if (s.generated && existing) extra.hint = 'empty: keep the current one';
    const v = await r.settle(s, extra);
    if (s.kind === 'secret' && v !== undefined) given[s.key] = v;
  }
  checkSpaces(given);
  checkMail(target, r.values, given, existing?.vaults);
  const sameRegion = sameRegionWarning(r.values.region, r.values.backupRegion);
  if (sameRegion) log.warn(sameRegion);
  if (live) checkDropletLimit(live, r.values, log);
  // HTTPS (docs/https.md): which certificate, its files checked, before anything is written.
  let https: HttpsPlan | undefined = target === 'local' ? labHttps(r.values.domain || undefined) : undefined;
  if (live) {
    const api = live.api;
    // Absolute file names, read now and kept so: a later init, from any directory, reads the same files.
    for (const k of ['tlsCertificate', 'tlsKey', 'tlsChain'] as const) if (r.values[k]) r.values[k] = path.resolve(ctx.cwd, r.values[k]);
    https = await planHttps(httpsInput(r.values, () => withSpinner('Listing the DigitalOcean DNS domains…', () => api.domains())));
  }

  // Every value is checked and nothing has been written. From here on, side
  // effects: a new SSH key if there is none, its upload, the workspace.
  const key = await resolveSshKey(ctx, r.existing.sshKey, project);
  r.values.sshKey = key.path;
  const keyNote = live ? await registerKey(live, key, project) : 'used for the lab containers';

  const secrets = buildSecrets({
    dbTls: await dbTlsFor(project, existing?.vaults, rotate),
    target,
    given,
    haproxyStatsUser: r.values.haproxyStatsUser!,
    existing: existing?.vaults,
    rotate,
    apiToken: token,
    failoverFollowsApiToken: stored?.['failover-token-follows-api-token'] !== false,
  });
  secretStrings(secrets.vaults).forEach(redact);

  const files = await planFiles({
    target,
    values: r.values,
    key,
    vaults: secrets.vaults,
    token,
    terraformSpaces: existing?.terraformSpaces,
    failoverFollows: secrets.failoverFollowsApiToken,
    ...(https ? { https } : {}),
  });
  const saved = r.values.saveVaultPassword === 'true';
  if (saved) files.push({ rel: VAULT_PASS_FILE, content: vaultPassword + '\n', mode: 0o600, policy: 'owned' });
  const tokenChanged = token !== undefined && existing?.token !== undefined && token !== existing.token;
  const result = await applyPlan(dir, files, vaultPassword, changedSecretsMustLand(secrets.changes, tokenChanged));

  const oldPassFile = !saved && (await readIfExists(path.join(dir, VAULT_PASS_FILE))) !== undefined;
  printSummary(log, {
    cwd: ctx.cwd,
    dir,
    target,
    values: r.values,
    secrets,
    ...(https ? { https } : {}),
    result,
    key,
    keyNote,
    live,
    saved,
    passwordFrom,
    oldPassFile,
    updated: Boolean(stored),
    next: o.next ?? true,
  });
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function parseRotate(raw: string | undefined): Set<string> {
  const names = raw !== undefined ? splitList(raw) : [];
  for (const n of names) if (rotateRefusal(n)) throw new UsageError(`--rotate ${n}: ${rotateRefusal(n)}`);
  for (const n of names) if (!ROTATE_NAMES.includes(n)) throw new UsageError(`--rotate: unknown secret "${n}"; use one or more of ${ROTATE_NAMES.join(', ')}`);
  return new Set(names);
}

/** A media key of the user's own is a pair; without one, `up` makes a key scoped to the bucket. */
function checkSpaces(v: Values): void {
  if (Boolean(v.spacesKey) !== Boolean(v.spacesSecret))
    throw new UsageError(
      `${v.spacesKey ? '--spaces-key needs --spaces-secret' : '--spaces-secret needs --spaces-key'}: ` +
        'give both for a key of your own, or neither and `up` makes one for the media bucket',
    );
}

/** A login needs its password and a server; DigitalOcean drops port 25. */
function checkMail(target: Target, v: Values, given: Values, vaults: Partial<Vaults> | undefined): void {
  const password = given.smtpPassword ?? vaults?.wp_node?.[SMTP_PASSWORD];
  if (!v.smtpHost) {
    const stray = v.smtpUser ? '--smtp-user' : given.smtpPassword ? '--smtp-password' : undefined;
    if (stray) throw new UsageError(`${stray} needs --smtp-host: name the mail server too, or leave the mail settings out`);
    return;
  }
  if (v.smtpUser && !password)
    throw new UsageError(
      '--smtp-user needs its password: set HA_WORDPRESS_SMTP_PASSWORD (or --smtp-password), or leave --smtp-user empty for a server without login',
    );
  if (!v.smtpUser && given.smtpPassword) throw new UsageError('--smtp-password needs --smtp-user: give the login it belongs to');
  if (target === 'digitalocean' && v.smtpPort === '25')
    throw new UsageError('--smtp-port 25: DigitalOcean blocks outbound port 25; use 587 (STARTTLS) or 465 (TLS), which mail providers offer');
}

/**
 * The database path's CA and certificates: the workspace's, unless there are
 * none (or they name another project) or --rotate asks for new ones. A
 * rotation keeps trusting the CA it replaces (the nodes get both), so `up`
 * can change certificates one node at a time with no connection refused;
 * the CA before that one is dropped (docs/cluster.md#rotating-the-database-certificates).
 */
async function dbTlsFor(
  project: string,
  vaults: Partial<Vaults> | undefined,
  rotate: ReadonlySet<string>,
): Promise<{ material: DbTls; state: 'kept' | 'new' | 'rotated' }> {
  const at = (w: { group: keyof Vaults; name: string }) => vaults?.[w.group]?.[w.name];
  const kept = keptDbTls(project, at(DB_TLS_VAULT.ca), at(DB_TLS_VAULT.server), at(DB_TLS_VAULT.client));
  if (kept && !rotate.has('all') && !rotate.has(DB_TLS_ROTATE)) return { material: kept, state: 'kept' };
  const fresh = await newDbTls(project);
  if (!kept) return { material: fresh, state: 'new' };
  const current = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/.exec(kept.ca)![0];
  return { material: { ...fresh, ca: `${fresh.ca.trimEnd()}\n${current.trimEnd()}\n` }, state: 'rotated' };
}
