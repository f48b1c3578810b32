/**
 * `ha-wordpress init`: settings → checked answers → secrets → rendered files
 * → workspace. Each step is a function over the part of the context it needs;
 * prompts and the logger are injected so tests can drive it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import yaml from 'js-yaml';
import { CancelledError, UsageError, UserError } from '../errors.js';
import { packagePath, toolVersion } from '../paths.js';
import { renderTemplate } from '../render/render.js';
import { buildSecrets, ROTATE_NAMES, SECRET_SPECS, secretStrings, VAULT_GROUPS, type Vaults } from '../secrets/catalog.js';
import { normaliseVaultPassword } from '../secrets/vault.js';
import { precheck, Resolver, valuesFromSettingsFile, type ExtraCheck } from '../settings/resolve.js';
import { appliesTo, SETTING, SETTINGS, type SettingKey, type Target, type Values } from '../settings/table.js';
import { expandHome, findDefaultKey, generateKey, permissionProblem, readKey, type KeyInfo } from '../ssh/keys.js';
import { redact, type Logger } from '../ui/logger.js';
import type { Choice, Prompts } from '../ui/prompts.js';
import { withSpinner } from '../ui/spinner.js';
import { listFiles, readIfExists } from '../workspace/files.js';
import { applyPlan, isWorkspace, readSettingsFile, readWorkspaceSecrets, SETTINGS_FILE, TF_VAULT, VAULT_PASS_FILE, vaultRel, type PlannedFile } from '../workspace/workspace.js';
import { splitList } from '../validation/rules.js';
import { readPasswordFile } from '../workspace/vault-password.js';
import type { Account, DoApi, Region, Size, SshKey } from '../digitalocean/client.js';
import { dropletCount, monthlyCost, sizesIn } from '../digitalocean/cost.js';

/** What every command gets from the command line and the process (cli.ts builds it; tests pass fakes). */
export interface InitContext {
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  interactive: boolean;
  yes: boolean;
  prompts: Prompts;
  log: Logger;
}


/** What an existing workspace holds besides its settings (those are in Resolver.existing). */
interface Existing {
  vaults: Partial<Vaults>;
  token?: string;
  failoverFollows: boolean;
}

interface Live {
  api: DoApi;
  account: Account;
  regions: Region[];
  sizes: Size[];
  keys: SshKey[];
  droplets: number;
}

export async function runInit(ctx: InitContext): Promise<void> {
  const { flags, log } = ctx;
  const r = new Resolver(ctx);
  const rotate = parseRotate(flags.rotate);

  // Where: --dir, else the current directory when it is a workspace, else ./<project>.
  let dir = typeof flags.dir === 'string' ? path.resolve(ctx.cwd, expandHome(flags.dir, ctx.home)) : (await isWorkspace(ctx.cwd)) ? ctx.cwd : undefined;
  let stored: Record<string, unknown> | undefined;
  /** Makes the workspace at `at`, if there is one, the source of existing values. */
  const adopt = async (at: string) => {
    if (stored || !(await isWorkspace(at))) return;
    stored = await readSettingsFile(at);
    r.existing = valuesFromSettingsFile(stored);
  };
  if (dir) await adopt(dir);

  if (!ctx.interactive) {
    const target = pickTarget(flags, r.existing);
    const project = (flags.project as string | undefined) ?? r.existing.project ?? SETTING.project.default!({})!;
    const probeDir = dir ?? path.resolve(ctx.cwd, project);
    await adopt(probeDir);
    const present = new Set<SettingKey>();
    if (stored && (await readIfExists(path.join(probeDir, TF_VAULT)))) present.add('token');
    if (stored && (await readIfExists(path.join(probeDir, VAULT_PASS_FILE)))) present.add('vaultPasswordFile');
    const problems = precheck(target, flags, ctx.env, r.existing, present);
    if (problems.length) throw new UsageError(problems.join('\n'));
  }

  const target = (await r.settle(SETTING.target)) as Target;
  const sameTarget = (where: string) => {
    if (r.existing.target && r.existing.target !== target)
      throw new UsageError(`--target: the workspace ${where} was made for ${r.existing.target}; use another --dir for a ${target} cluster`);
  };
  sameTarget(dir ?? ctx.cwd);
  const project = (await r.settle(SETTING.project))!;
  if (!dir) {
    dir = path.resolve(ctx.cwd, project);
    await adopt(dir);
    sameTarget(dir);
  }
  for (const s of SETTINGS) {
    const g = !appliesTo(s, target) && r.given(s);
    if (g) log.warn(`${g.source} does not apply to --target ${target} and is ignored`);
  }
  await checkDirUsable(dir, Boolean(stored));
  if (stored) log.info(`Updating the workspace in ${dir}: existing secrets are kept.`);

  const vaultPassword = await resolveVaultPassword(ctx, r, dir, Boolean(stored));
  const existing = stored ? await loadExisting(dir, stored, vaultPassword) : undefined;

  let live: Live | undefined;
  let token: string | undefined;
  if (target === 'digitalocean') {
    ({ live, token } = await connectAccount(ctx, r, existing?.token));
  }

  if (live) {
    await r.settle(SETTING.region, regionChoices(live, r));
  }
  await r.settle(SETTING.domain);
  await r.settle(SETTING.saveVaultPassword);
  if (ctx.interactive && !ctx.yes) {
    r.customise = await ctx.prompts.confirm({ message: 'Customise node counts, sizes, SSH access and credentials?', default: false });
  }

  const done = new Set<SettingKey>(['target', 'project', 'vaultPasswordFile', 'token', 'region', 'domain', 'saveVaultPassword', 'dir', 'sshKey']);
  const given: Values = {};
  const spacesBefore = Boolean(existing?.vaults.wp_node?.vault_spaces_access_key);
  for (const s of SETTINGS) {
    if (done.has(s.key) || !appliesTo(s, target)) continue;
    // The Spaces secret and bucket only matter once there is a key.
    if ((s.key === 'spacesSecret' || s.key === 'spacesBucket') && !r.values.spacesKey && !spacesBefore && !r.given(s)) continue;
    const extra: ExtraCheck = live && ['webSize', 'dbSize', 'lbSize'].includes(s.key) ? sizeChoices(live, r.values.region!) : {};
    if (s.generated && existing) extra.hint = 'empty: keep the current one';
    const v = await r.settle(s, extra);
    if (s.kind === 'secret' && v !== undefined) given[s.key] = v;
  }
  checkSpaces(r.values, existing);
  if (live) checkDropletLimit(live, r.values, log);

  // Every value is checked and nothing has been written. From here on, side
  // effects: a new SSH key if there is none, its upload, the workspace.
  const key = await resolveSshKey(ctx, r.values, r.existing.sshKey, project);
  let keyNote: string;
  if (live) {
    const { key: doKey, uploaded } = await withSpinner('Registering the SSH key with DigitalOcean…', () =>
      live!.api.ensureSshKey(`${project} (ha-wordpress)`, key.publicKey, key.fingerprint, live!.keys),
    );
    keyNote = uploaded ? `uploaded to DigitalOcean as "${doKey.name}"` : `already on the DigitalOcean account as "${doKey.name}"`;
  } else {
    keyNote = 'used for the lab containers';
  }

  const secrets = buildSecrets({
    target,
    given,
    adminUser: r.values.adminUser!,
    haproxyStatsUser: r.values.haproxyStatsUser!,
    existing: existing?.vaults,
    rotate,
    apiToken: token,
    failoverFollowsApiToken: existing?.failoverFollows ?? true,
  });
  secretStrings(secrets.vaults).forEach(redact);

  const files = await planFiles({ target, values: r.values, key, vaults: secrets.vaults, token, failoverFollows: secrets.failoverFollowsApiToken });
  const save = r.values.saveVaultPassword === 'true';
  if (save) files.push({ rel: VAULT_PASS_FILE, content: vaultPassword + '\n', mode: 0o600, policy: 'owned' });
  const result = await applyPlan(dir, files, vaultPassword);

  // The summary: where, what, and the next command.
  const relDir = path.relative(ctx.cwd, dir);
  const rel = relDir === '' ? '.' : relDir.startsWith('..') ? dir : relDir;
  log.success(`Workspace ready in ${dir}`);
  const lines: string[] = [];
  const pad = (s: string) => s.padEnd(16);
  lines.push(`  ${pad('settings')}${SETTINGS_FILE}`);
  if (target === 'digitalocean') lines.push(`  ${pad('terraform')}terraform/terraform.tfvars (no secrets), terraform/vault.yml (API token, encrypted)`);
  lines.push(`  ${pad('ansible')}ansible/group_vars/{${VAULT_GROUPS.join(',')}}/{vars,vault}.yml (vault files encrypted)`);
  if (secrets.generated.length) lines.push(`  ${pad('generated')}${secrets.generated.join(', ')}`);
  if (secrets.kept) lines.push(`  ${pad('kept')}${secrets.kept} existing secret${secrets.kept === 1 ? '' : 's'}`);
  if (secrets.changed.length) lines.push(`  ${pad('changed')}${secrets.changed.join(', ')}`);
  if (live) {
    const cost = monthly(live, r.values.region!, r.values);
    const nodes = dropletCount({ webNodes: Number(r.values.webNodes), dbNodes: Number(r.values.dbNodes) });
    if (cost !== undefined) lines.push(`  ${pad('estimated cost')}$${cost}/month for ${nodes} droplets in ${r.values.region}, plus the load balancer`);
  }
  lines.push(`  ${pad('SSH key')}${key.path} (MD5 ${key.fingerprint}), ${keyNote}`);
  const oldPassFile = !save && (await readIfExists(path.join(dir, VAULT_PASS_FILE))) !== undefined;
  lines.push(
    `  ${pad('vault password')}${
      save
        ? `${VAULT_PASS_FILE} (mode 0600, git-ignored)`
        : oldPassFile
          ? `the existing ${VAULT_PASS_FILE} is left as it is: delete it if it should not be kept`
          : 'not saved: give --vault-password-file or HA_WORDPRESS_VAULT_PASSWORD to up'
    }`,
  );
  lines.push(`  ${pad('files')}${result.written.length} written, ${result.unchanged.length} unchanged`);
  for (const line of lines) log.info(line);
  for (const f of result.keptEdited) log.warn(`${f} was edited by hand and is kept; the new version is ${f}.new: merge it, then delete the .new file`);
  const liveChanges = SECRET_SPECS.filter((s) => s.live && secrets.changed.includes(s.label));
  if (stored && liveChanges.length)
    log.warn(`changed on a workspace that may be running: ${liveChanges.map((s) => s.label).join(', ')}; run \`ha-wordpress up --only ansible\` to apply`);
  if (target === 'digitalocean' && splitList(r.values.sshAllow ?? '').some((c) => c === '0.0.0.0/0' || c === '::/0'))
    log.warn('SSH to the droplets is open to the whole internet; restrict it with --ssh-allow <your address>/32 (and run init again)');
  if (key.encrypted) log.warn(`${key.path} has a passphrase: run \`ssh-add ${key.path}\` before \`ha-wordpress up\`, which connects through ssh-agent`);
  log.info('');
  log.info(`Next: ${rel === '.' ? '' : `cd ${shellQuote(rel)} && `}ha-wordpress up`);
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function pickTarget(flags: Record<string, unknown>, existing: Values): Target {
  const t = (flags.target as string | undefined) ?? existing.target;
  return t === 'local' ? 'local' : 'digitalocean';
}

function parseRotate(raw: unknown): Set<string> {
  const names = typeof raw === 'string' ? splitList(raw) : [];
  for (const n of names)
    if (!ROTATE_NAMES.includes(n)) throw new UsageError(`--rotate: unknown secret "${n}"; use one or more of ${ROTATE_NAMES.join(', ')}`);
  return new Set(names);
}

async function checkDirUsable(dir: string, isWs: boolean): Promise<void> {
  if (isWs) return;
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new UsageError(`--dir: ${dir} is a file; choose a new or empty directory`);
    const entries = await fs.readdir(dir);
    if (entries.length > 0) throw new UsageError(`--dir: ${dir} is not empty and is not an ha-wordpress workspace; choose a new or empty directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function resolveVaultPassword(ctx: InitContext, r: Resolver, dir: string, existingWs: boolean): Promise<string> {
  const s = SETTING.vaultPasswordFile;
  const check = (pw: string) => s.validate!(pw);
  const file = ctx.flags.vaultPasswordFile;
  let pw: string | undefined;
  let saved: string | undefined;
  if (typeof file === 'string') {
    const read = await readPasswordFile(file, ctx.cwd, ctx.home);
    pw = read.password;
    const problem = check(pw);
    if (problem) throw new UsageError(`--vault-password-file: the password in ${read.path} ${problem.replace(/^use/, 'is too short: use')}`);
  } else if (ctx.env.HA_WORDPRESS_VAULT_PASSWORD) {
    pw = ctx.env.HA_WORDPRESS_VAULT_PASSWORD;
    const problem = check(pw);
    if (problem) throw new UsageError(`HA_WORDPRESS_VAULT_PASSWORD: ${problem}`);
  } else if (existingWs && (saved = await readIfExists(path.join(dir, VAULT_PASS_FILE))) !== undefined) {
    pw = normaliseVaultPassword(saved);
  } else if (ctx.interactive) {
    const validate = (v: string) => check(v) ?? true;
    for (;;) {
      pw = await ctx.prompts.password({ message: existingWs ? 'Vault password of this workspace' : s.prompt.message, validate });
      if (existingWs) break;
      const again = await ctx.prompts.password({ message: 'Repeat the vault password' });
      if (again === pw) break;
      ctx.log.error('the two passwords differ; type them again');
    }
  } else {
    throw new UsageError('missing --vault-password-file (or HA_WORDPRESS_VAULT_PASSWORD)');
  }
  redact(pw);
  r.values.vaultPasswordFile = typeof file === 'string' ? file : undefined;
  return pw!;
}

async function loadExisting(dir: string, stored: Record<string, unknown>, password: string): Promise<Existing> {
  const { vaults, token } = await readWorkspaceSecrets(dir, password);
  return {
    vaults,
    token,
    failoverFollows: stored['failover-token-follows-api-token'] !== false,
  };
}

async function connectAccount(ctx: InitContext, r: Resolver, storedToken: string | undefined): Promise<{ live: Live; token: string }> {
  const s = SETTING.token;
  await r.settle(SETTING.apiUrl);
  const apiUrl = r.values.apiUrl!;
  if (storedToken && !r.given(s)) r.existing.token = storedToken;
  for (let attempt = 1; ; attempt++) {
    const token = (await r.settle(s))!;
    redact(token);
    try {
      const { connect } = await import('../digitalocean/client.js');
      const api = await connect({ token, apiUrl });
      const [account, regions, sizes, keys, droplets] = await withSpinner('Checking the DigitalOcean account, regions, sizes and SSH keys…', () =>
        Promise.all([api.account(), api.regions(), api.sizes(), api.sshKeys(), api.dropletCount()]),
      );
      if (account.status !== 'active')
        throw new UserError(`the DigitalOcean account is ${account.status}${account.statusMessage ? ` (${account.statusMessage})` : ''}: resolve it in the control panel, then run init again`);
      ctx.log.success(`DigitalOcean account ${account.email || ''} is active (droplet limit ${account.dropletLimit})`);
      return { live: { api, account, regions, sizes, keys, droplets }, token };
    } catch (err) {
      // A rejected token typed at the prompt is asked again; one from a flag, env or the workspace is reported.
      if (ctx.interactive && r.sources.token === 'prompt' && err instanceof UserError && /\(401\)/.test(err.message) && attempt < 3) {
        ctx.log.error(err.message);
        delete r.values.token;
        continue;
      }
      if (err instanceof UserError && /\(401\)/.test(err.message) && r.sources.token === 'workspace')
        throw new UserError(`${err.message.replace(/check --token \/ DIGITALOCEAN_TOKEN/, 'the token stored in the workspace is no longer valid: give a new one with --token or DIGITALOCEAN_TOKEN')}`);
      throw err;
    }
  }
}

function monthly(live: Live, region: string, v: Values): number | undefined {
  return monthlyCost(live.sizes, region, {
    webSize: v.webSize ?? SETTING.webSize.default!({})!,
    dbSize: v.dbSize ?? SETTING.dbSize.default!({})!,
    lbSize: v.lbSize ?? SETTING.lbSize.default!({})!,
    webNodes: Number(v.webNodes ?? 3),
    dbNodes: Number(v.dbNodes ?? 3),
  });
}

function regionChoices(live: Live, r: Resolver) {
  const available = live.regions.filter((x) => x.available);
  const values = { ...r.existing, ...r.values };
  for (const k of ['webSize', 'dbSize', 'lbSize', 'webNodes', 'dbNodes'] as const) {
    const g = r.given(SETTING[k]);
    if (g) values[k] = g.value;
  }
  const nodes = dropletCount({ webNodes: Number(values.webNodes ?? 3), dbNodes: Number(values.dbNodes ?? 3) });
  const choices: Choice[] = available.map((x) => {
    const cost = monthly(live, x.slug, values);
    return {
      value: x.slug,
      name: `${x.slug.padEnd(6)} ${x.name.padEnd(16)} ${cost === undefined ? 'the chosen droplet sizes are not all offered here' : `${nodes} droplets ≈ $${cost}/month + load balancer`}`,
    };
  });
  return {
    choices,
    check: (v: string) => {
      const reg = live.regions.find((x) => x.slug === v);
      if (!reg) return `no region "${v}" on this account; available: ${available.map((x) => x.slug).join(', ')}`;
      if (!reg.available) return `region ${v} does not take new droplets now; available: ${available.map((x) => x.slug).join(', ')}`;
      return undefined;
    },
  };
}

function sizeChoices(live: Live, region: string) {
  const offered = sizesIn(live.sizes, region);
  return {
    choices: offered.map((z) => ({
      value: z.slug,
      name: `${z.slug.padEnd(20)} ${z.vcpus} vCPU, ${z.memory >= 1024 ? `${z.memory / 1024} GB` : `${z.memory} MB`} RAM, ${z.disk} GB disk, $${z.priceMonthly}/month`,
    })),
    check: (v: string) => {
      if (offered.some((z) => z.slug === v)) return undefined;
      const cheapest = offered.slice(0, 6).map((z) => z.slug);
      return `size ${v} is not offered in ${region}; for example: ${cheapest.join(', ')}`;
    },
  };
}

function checkDropletLimit(live: Live, v: Values, log: Logger): void {
  const needed = dropletCount({ webNodes: Number(v.webNodes), dbNodes: Number(v.dbNodes) });
  const limit = live.account.dropletLimit;
  if (limit > 0 && limit < needed)
    throw new UserError(`the account may have ${limit} droplets and the cluster needs ${needed}: ask DigitalOcean support to raise the droplet limit, or lower --web-nodes / --db-nodes`);
  if (limit > 0 && live.droplets + needed > limit)
    log.warn(`the account has ${live.droplets} droplets and a limit of ${limit}; the cluster's ${needed} more may not fit (droplets of this cluster that already exist count once)`);
}

function checkSpaces(v: Values, existing: Existing | undefined): void {
  const haveKey = Boolean(v.spacesKey ?? existing?.vaults.wp_node?.vault_spaces_access_key);
  const haveSecret = Boolean(v.spacesSecret ?? existing?.vaults.wp_node?.vault_spaces_secret_key);
  const haveBucket = Boolean(v.spacesBucket);
  if ((haveKey || haveSecret || haveBucket) && !(haveKey && haveSecret && haveBucket))
    throw new UsageError('--spaces-key, --spaces-secret and --spaces-bucket go together: give all three for media offload, or none');
}

async function resolveSshKey(ctx: InitContext, v: Values, storedPath: string | undefined, project: string): Promise<KeyInfo> {
  const flag = ctx.flags.sshKey;
  let keyPath: string | undefined;
  if (typeof flag === 'string') keyPath = path.resolve(ctx.cwd, expandHome(flag, ctx.home));
  else if (storedPath) keyPath = storedPath;
  else keyPath = await findDefaultKey(ctx.home);

  let key: KeyInfo;
  if (keyPath) {
    key = await readKey(keyPath, typeof flag === 'string' ? '--ssh-key' : storedPath ? `--ssh-key (from ${SETTINGS_FILE})` : '--ssh-key');
  } else {
    const newPath = path.join(ctx.home, '.ssh', 'id_ed25519');
    if (!ctx.yes) {
      if (!ctx.interactive)
        throw new UsageError(`--ssh-key: no ~/.ssh/id_ed25519 or ~/.ssh/id_rsa found; give --ssh-key PATH, or --yes to create a new key at ${newPath}`);
      const ok = await ctx.prompts.confirm({ message: `No SSH key in ~/.ssh. Create a new ed25519 key at ${newPath}?`, default: true });
      if (!ok) throw new CancelledError('No SSH key: run init again with --ssh-key PATH.');
    }
    key = await generateKey(newPath, `${project}@ha-wordpress`);
    ctx.log.success(`Created the SSH key ${newPath} (and ${newPath}.pub)`);
  }
  const perm = await permissionProblem(key.path);
  if (perm) ctx.log.warn(perm);
  v.sshKey = key.path;
  return key;
}

interface PlanInput {
  target: Target;
  values: Values;
  key: KeyInfo;
  vaults: Vaults;
  token?: string;
  failoverFollows: boolean;
}

/** Renders every file of the workspace in memory; nothing is written here. */
async function planFiles(p: PlanInput): Promise<PlannedFile[]> {
  const v = p.values;
  const doTarget = p.target === 'digitalocean';
  const model = {
    tool: { version: toolVersion() },
    target: p.target,
    s: {
      project: v.project!,
      region: v.region ?? '',
      image: v.image ?? '',
      adminUser: v.adminUser!,
      domain: v.domain ?? '',
      webNodes: Number(v.webNodes),
      dbNodes: Number(v.dbNodes),
      webSize: v.webSize ?? '',
      dbSize: v.dbSize ?? '',
      lbSize: v.lbSize ?? '',
      sshKeyFingerprints: [p.key.fingerprint],
      adminSshKeys: [p.key.publicKey],
      sshAllow: splitList(v.sshAllow ?? ''),
      siteTitle: v.siteTitle!,
      wpAdminUser: v.wpAdminUser!,
      wpAdminEmail: v.wpAdminEmail!,
      spacesBucket: v.spacesBucket ?? '',
      mediaOffload: Boolean(v.spacesBucket),
      apiUrl: doTarget ? v.apiUrl! : '',
    },
  };
  const files: PlannedFile[] = [];

  // The shipped infrastructure code, as the installed package has it.
  const skip = new Set(['.terraform', 'group_vars', 'inventory']);
  for (const tree of doTarget ? ['terraform', 'ansible'] : ['ansible']) {
    const root = packagePath(tree);
    const shipped = await listFiles(root, skip).catch(() => {
      throw new UserError(`this installation of ha-wordpress has no ${tree}/ directory (${root}); reinstall the package`);
    });
    for (const rel of shipped) {
      if (/\.tfstate|\.tfvars$|\.new$/.test(rel)) continue;
      const policy = rel === '.terraform.lock.hcl' ? 'seed' : 'managed';
      files.push({ rel: `${tree}/${rel}`, content: await fs.readFile(path.join(root, rel), 'utf8'), mode: 0o644, policy });
    }
  }

  files.push({ rel: SETTINGS_FILE, content: settingsFile(p), mode: 0o644, policy: 'owned' });
  files.push({ rel: '.gitignore', content: await renderTemplate('gitignore', model), mode: 0o644, policy: 'managed' });
  if (doTarget) {
    files.push({ rel: 'terraform/terraform.tfvars', content: await renderTemplate('terraform/terraform.tfvars', model), mode: 0o644, policy: 'managed' });
    const tfVault = await renderTemplate('terraform/vault.yml', { token: p.token });
    assertRoundTrip(tfVault, { do_token: p.token }, TF_VAULT);
    files.push({ rel: TF_VAULT, content: tfVault, mode: 0o600, vault: true, policy: 'managed' });
  }
  for (const group of VAULT_GROUPS) {
    files.push({ rel: `ansible/group_vars/${group}/vars.yml`, content: await renderTemplate(`ansible/group_vars/${group}/vars.yml`, model), mode: 0o644, policy: 'managed' });
    const vault = await renderTemplate(`ansible/group_vars/${group}/vault.yml`, { ...model, v: p.vaults[group] });
    assertRoundTrip(vault, p.vaults[group], vaultRel(group));
    files.push({ rel: vaultRel(group), content: vault, mode: 0o600, vault: true, policy: 'managed' });
  }
  return files;
}

/**
 * A rendered vault must read back as exactly the values it was given, or the
 * template is wrong: fail before anything is written rather than deploy a
 * cluster with a mangled password.
 */
function assertRoundTrip(text: string, expected: unknown, where: string): void {
  const parsed = yaml.load(text);
  if (!isDeepStrictEqual(parsed, expected)) throw new Error(`internal error: ${where} does not read back as the values it was rendered from`);
}

function settingsFile(p: PlanInput): string {
  const data: Record<string, unknown> = { 'tool-version': toolVersion() };
  for (const s of SETTINGS) {
    if (!appliesTo(s, p.target) || s.kind === 'secret' || s.key === 'dir' || s.key === 'saveVaultPassword') continue;
    const v = p.values[s.key];
    if (v === undefined) continue;
    data[s.flag] = s.kind === 'number' ? Number(v) : s.kind === 'list' ? splitList(v) : v;
  }
  data['ssh-key-fingerprint'] = p.key.fingerprint;
  if (p.target === 'digitalocean') data['failover-token-follows-api-token'] = p.failoverFollows;
  const header = [
    '# ha-wordpress workspace settings (no secrets: those are in the encrypted vault files).',
    '# Keys are the flags of `ha-wordpress init`; run init again after editing to re-render.',
  ].join('\n');
  return `${header}\n${yaml.dump(data, { lineWidth: -1, quotingType: '"' })}`;
}

