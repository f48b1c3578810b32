/**
 * The workspace on disk (docs/architecture.md#the-workspace): where it is, what an existing one holds,
 * and applying a set of planned files without losing anything.
 *
 * .ha-wordpress/manifest.json records a hash of every file init wrote, as
 * written (a vault file's ciphertext: the manifest is committed and must say
 * nothing about a secret).
 * When init runs again, a file whose current hash is still the recorded one
 * is ours to replace; a file that differs was edited by hand and is kept,
 * with the new version written beside it as <file>.new.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { UsageError, UserError } from '../errors.js';
import { secretStrings, VAULT_GROUPS, type Vaults } from '../secrets/catalog.js';
import { decryptVault, encryptVault, isVaultText, VaultError } from '../secrets/vault.js';
import { yamlValue } from '../render/escape.js';
import { redact } from '../ui/logger.js';
import { readIfExists, sha256, TEMPORARY, writeAtomic } from './files.js';

export const SETTINGS_FILE = 'ha-wordpress.yml';
export const MANIFEST_FILE = '.ha-wordpress/manifest.json';
export const VAULT_PASS_FILE = '.vault-pass';
/** The API token's vault: terraform's, not any Ansible group's (no host needs the account token). */
export const TF_VAULT = 'terraform/vault.yml';
export const vaultRel = (group: string) => `ansible/group_vars/${group}/vault.yml`;

export interface PlannedFile {
  /** Path relative to the workspace, '/'-separated. */
  rel: string;
  content: string;
  mode: number;
  /** Encrypt with the vault password when writing. */
  vault?: boolean;
  /**
   * 'managed': replace when unchanged since we wrote it, else keep + .new.
   * 'owned': always replace (ha-wordpress.yml, which init reads back first, so
   * hand edits to it become this run's input rather than being lost).
   * 'seed': write only when absent; afterwards the file belongs to a tool
   * (terraform adds its platform's hashes to .terraform.lock.hcl on init,
   * which must not look like a hand edit).
   */
  policy: 'managed' | 'owned' | 'seed';
}

export interface ApplyResult {
  written: string[];
  unchanged: string[];
  /** Hand-edited files kept as they are; the new version is at `${rel}.new`. */
  keptEdited: string[];
}

/**
 * .ha-wordpress/manifest.json. Version 2 records the hash of each file's
 * bytes as written (a vault's ciphertext); version 1 recorded a vault's
 * plaintext hash, which let anyone holding the committed manifest test
 * password guesses without ansible-vault's key derivation.
 */
interface Manifest {
  version: 1 | 2;
  files: Record<string, string>;
  /** Written just before the files: what an interrupted run was writing. */
  pending?: Record<string, string>;
  /**
   * The `<file>.new` written beside each hand-edited file: moved over the
   * file, it is init's version again, and the next run may replace it.
   */
  offered?: Record<string, string>;
}

/**
 * Why Ansible cannot work in `dir`, if it cannot. Ansible passes every path
 * it reads (inventory, playbook, roles, the working directory joined in)
 * through Python's os.path.expandvars more than once, so `$NAME` or
 * `${NAME}` in the workspace's path becomes that variable's value and the
 * files are "not found"; nothing else in a path is interpreted (see
 * workspace/inventory.ts). `what` names where the path came from.
 */
export function ansiblePathProblem(dir: string, what: string): string | undefined {
  const m = /\$(\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)/.exec(dir);
  if (!m) return undefined;
  return (
    `${what}: the path contains "${m[0]}", which Ansible replaces with an environment variable wherever it reads a path; ` +
    'use a directory whose path has no "$" before a letter, "_" or "{"'
  );
}

export async function isWorkspace(dir: string): Promise<boolean> {
  return (await readIfExists(path.join(dir, SETTINGS_FILE))) !== undefined;
}

/** The settings file of an existing workspace, as flag-name → value. */
export async function readSettingsFile(dir: string): Promise<Record<string, unknown>> {
  const file = path.join(dir, SETTINGS_FILE);
  const text = await readIfExists(file);
  if (text === undefined) return {};
  let data: unknown;
  try {
    data = yaml.load(text);
  } catch (err) {
    throw new UserError(`${file} is not valid YAML (${(err as Error).message.split('\n')[0]}); fix it or remove it`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UserError(`${file} should hold a YAML mapping of settings; fix it or remove it`);
  return data as Record<string, unknown>;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const text = await readIfExists(path.join(dir, MANIFEST_FILE));
  if (!text) return { version: 2, files: {} };
  try {
    const m = JSON.parse(text) as Partial<Manifest>;
    return { version: m.version === 2 ? 2 : 1, files: m.files ?? {}, pending: m.pending, offered: m.offered };
  } catch {
    return { version: 2, files: {} };
  }
}

/** Decrypts a vault file of the workspace; undefined when it does not exist. */
export async function readVaultFile(dir: string, rel: string, password: string): Promise<string | undefined> {
  const text = await readIfExists(path.join(dir, rel));
  if (text === undefined) return undefined;
  if (!isVaultText(text)) throw new UserError(`${rel} is not encrypted; encrypt it with \`ansible-vault encrypt ${rel}\` or remove it`);
  try {
    return decryptVault(text, password);
  } catch (err) {
    if (err instanceof VaultError && err.code === 'wrong-password')
      throw new UsageError(`--vault-password-file: the vault password does not open ${rel}; give the password this workspace was created with`);
    throw new UserError(`${rel}: ${(err as Error).message}`);
  }
}

/**
 * Every secret of the workspace: the Ansible groups' vaults and the API token
 * from terraform's. Each value is registered with the logger's redaction
 * before it is returned, so no later output can show it.
 */
export async function readWorkspaceSecrets(
  dir: string,
  password: string,
): Promise<{ vaults: Partial<Vaults>; token?: string; terraformSpaces?: TerraformSpacesKey; tlsKey?: string }> {
  const vaults: Partial<Vaults> = {};
  for (const group of VAULT_GROUPS) {
    const plain = await readVaultFile(dir, vaultRel(group), password);
    if (plain === undefined) continue;
    vaults[group] = parseYamlMap(plain, vaultRel(group)) as Vaults[typeof group];
  }
  const tf = await readVaultFile(dir, TF_VAULT, password);
  const tfData = tf === undefined ? {} : parseYamlMap(tf, TF_VAULT);
  const token = String(tfData.do_token ?? '') || undefined;
  const id = String(tfData[TF_SPACES_ID] ?? '');
  const secret = String(tfData[TF_SPACES_SECRET] ?? '');
  const terraformSpaces = id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
  const tlsKey = String(tfData[TF_TLS_KEY] ?? '') || undefined;
  secretStrings(vaults).forEach(redact);
  redact(token);
  redact(terraformSpaces?.secretAccessKey);
  redact(tlsKey);
  return { vaults, token, terraformSpaces, tlsKey };
}

/** The full-access Spaces key terraform manages buckets with: made by `up` through the API, kept in terraform's vault. */
export interface TerraformSpacesKey {
  accessKeyId: string;
  secretAccessKey: string;
}
export const TF_SPACES_ID = 'spaces_access_key_id';
export const TF_SPACES_SECRET = 'spaces_secret_access_key';
/** The private key of the site's own certificate (docs/https.md). */
export const TF_TLS_KEY = 'tls_private_key';

/**
 * Sets entries of one vault file in place, for a command other than init
 * (`up` storing a Spaces key it just made). Only the lines of those entries
 * change, so the file is byte for byte what init would render with the same
 * values: if init wrote it (the manifest knows its hash) the manifest learns
 * the new hash, and the next init sees no hand edit. A hand-edited vault
 * keeps its edits and stays hand-edited. The values must be plain
 * (alphanumeric and the like): they are written as YAML scalars.
 */
export async function setVaultEntries(dir: string, rel: string, password: string, entries: Record<string, string>): Promise<void> {
  const file = path.join(dir, rel);
  const before = await readIfExists(file);
  const plain = (await readVaultFile(dir, rel, password)) ?? '';
  let text = plain.endsWith('\n') || plain === '' ? plain : plain + '\n';
  for (const [name, value] of Object.entries(entries)) {
    if (!/^[A-Za-z0-9/+=_-]*$/.test(value)) throw new Error(`internal error: ${name} is not a plain value`);
    const line = `${name}: ${yamlValue(value)}`;
    const re = new RegExp(`^${name}:.*$`, 'm');
    text = re.test(text) ? text.replace(re, line) : text + line + '\n';
  }
  const expected = { ...(plain ? parseYamlMap(plain, rel) : {}), ...entries };
  const parsed = parseYamlMap(text, rel);
  if (
    JSON.stringify(
      Object.keys(parsed)
        .sort()
        .map((k) => [k, parsed[k]]),
    ) !==
    JSON.stringify(
      Object.keys(expected)
        .sort()
        .map((k) => [k, expected[k]]),
    )
  )
    throw new UserError(`${rel} does not read back as expected after setting ${Object.keys(entries).join(', ')}; check it with \`ansible-vault view ${rel}\``);
  const data = encryptVault(text, password);
  const manifest = await readManifest(dir);
  const known = before !== undefined && [manifest.files[rel], manifest.pending?.[rel], manifest.offered?.[rel]].includes(sha256(before));
  if (known) await writeManifest(dir, { ...manifest, pending: { ...manifest.files, [rel]: sha256(data) } });
  await writeAtomic(file, data, 0o600);
  if (known) await writeManifest(dir, { ...manifest, files: { ...manifest.files, [rel]: sha256(data) }, pending: undefined });
}

function parseYamlMap(text: string, where: string): Record<string, unknown> {
  try {
    const data = yaml.load(text);
    if (data && typeof data === 'object' && !Array.isArray(data)) return data as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UserError(`${where} does not hold a YAML mapping; fix it with \`ansible-vault edit ${where}\``);
}

/**
 * What a file holds now: the hash of its content (for a vault, of the
 * plaintext, compared in memory only) and the hash the manifest records (of
 * the bytes on disk: for a vault, the ciphertext, so the manifest reveals
 * nothing about a secret).
 */
async function current(dir: string, f: PlannedFile, password: string): Promise<{ content: string; recorded: string } | undefined> {
  const text = await readIfExists(path.join(dir, f.rel));
  if (text === undefined) return undefined;
  const recorded = sha256(text);
  if (!f.vault) return { content: recorded, recorded };
  return { content: sha256((await readVaultFile(dir, f.rel, password)) ?? ''), recorded };
}

/**
 * Decides every file's fate first and only then writes, so a problem found
 * while deciding (an unreadable vault, say) leaves the workspace untouched.
 *
 * A new workspace is written whole into a staging directory beside it and
 * renamed into place: an interrupted first init leaves nothing at `dir`
 * (the next run sweeps the staging directory). On an existing workspace
 * each file is replaced atomically; the manifest first records what is about
 * to be written (`pending`), so a run cut off half-way is recognised as ours
 * by the next one rather than taken for hand edits.
 *
 * `beforeWrite` sees which hand-edited files would be kept (their new version
 * going to `.new`) once every fate is decided and before anything is
 * written: it throws to stop a run whose point would be lost that way.
 */
export async function applyPlan(dir: string, files: PlannedFile[], vaultPassword: string, beforeWrite?: (keptEdited: string[]) => void): Promise<ApplyResult> {
  await sweepStaging(dir);
  if (!(await isWorkspace(dir))) return applyNew(dir, files, vaultPassword);
  await sweepTemporaries(dir, files);
  const manifest = await readManifest(dir);
  const ours = (rel: string, hashes: { content: string; recorded: string }) => {
    const known = [manifest.files[rel], manifest.pending?.[rel], manifest.offered?.[rel]];
    // A version-1 manifest recorded a vault's plaintext hash.
    return known.includes(hashes.recorded) || (manifest.version === 1 && known.includes(hashes.content));
  };
  // Independent files are read, and later written, concurrently: each write
  // ends in an fsync, and ~100 of them one after another were most of init's
  // time (budget under 1 s: docs/cluster.md#budgets).
  const decisions = await inParallel(files, async (f) => {
    const want = sha256(f.content);
    const have = await current(dir, f, vaultPassword);
    let action: 'write' | 'skip' | 'new';
    if (have === undefined) action = 'write';
    else if (f.policy === 'seed' || have.content === want) action = 'skip';
    else if (f.policy === 'owned' || ours(f.rel, have)) action = 'write';
    else action = 'new';
    const data = action === 'skip' ? undefined : f.vault ? encryptVault(f.content, vaultPassword) : f.content;
    return { f, action, data, recorded: data !== undefined ? sha256(data) : have!.recorded };
  });
  beforeWrite?.(decisions.filter((d) => d.action === 'new').map((d) => d.f.rel));

  const next: Manifest = { version: 2, files: {} };
  for (const { f, action, recorded } of decisions) {
    if (action === 'new') {
      if (manifest.files[f.rel] !== undefined) next.files[f.rel] = manifest.files[f.rel]!;
      (next.offered ??= {})[f.rel] = recorded;
    } else next.files[f.rel] = recorded;
  }
  // What this run is about to write, before it writes it.
  await writeManifest(dir, { ...manifest, pending: next.files });

  const result: ApplyResult = { written: [], unchanged: [], keptEdited: [] };
  await inParallel(decisions, async ({ f, action, data }) => {
    if (action === 'skip') {
      // Keep the bytes (a vault is not re-encrypted needlessly), but make sure
      // a secret file's mode is right even if someone loosened it.
      await fs.chmod(path.join(dir, f.rel), f.mode);
      return;
    }
    await writeAtomic(path.join(dir, action === 'new' ? `${f.rel}.new` : f.rel), data!, f.mode);
  });
  for (const { f, action } of decisions) (action === 'write' ? result.written : action === 'new' ? result.keptEdited : result.unchanged).push(f.rel);
  await writeManifest(dir, next);
  return result;
}

const STAGING = '.ha-wordpress-init-';
const stagingPrefix = (dir: string) => path.join(path.dirname(dir), `.${path.basename(dir)}${STAGING}`);

/** A new workspace, all or nothing: written in a staging directory beside `dir`, then renamed into place. */
async function applyNew(dir: string, files: PlannedFile[], vaultPassword: string): Promise<ApplyResult> {
  const staging = `${stagingPrefix(dir)}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
    await fs.mkdir(staging, { mode: 0o700 });
    const recorded = await inParallel(files, async (f) => {
      const data = f.vault ? encryptVault(f.content, vaultPassword) : f.content;
      await writeAtomic(path.join(staging, f.rel), data, f.mode);
      return [f.rel, sha256(data)] as const;
    });
    await writeManifest(staging, { version: 2, files: Object.fromEntries(recorded) });
    // rename(2) replaces an empty directory, and fails on one that is not:
    // a second init racing this one gets an error rather than a mix.
    await fs.rename(staging, dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST')
        throw new UsageError(`--dir: ${dir} was filled by something else while init ran (another init?); nothing was written there`);
      throw err;
    });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return { written: files.map((f) => f.rel), unchanged: [], keptEdited: [] };
}

/** Staging directories of earlier inits that were killed before their rename (their owner is gone). */
async function sweepStaging(dir: string): Promise<void> {
  const prefix = path.basename(stagingPrefix(dir));
  const parent = path.dirname(dir);
  const entries = await fs.readdir(parent).catch(() => [] as string[]);
  for (const e of entries) {
    if (!e.startsWith(prefix)) continue;
    const pid = Number(e.slice(prefix.length).split('-')[0]);
    if (pid && pid !== process.pid && processAlive(pid)) continue;
    await fs.rm(path.join(parent, e), { recursive: true, force: true });
  }
}

/** writeAtomic's temporary files that a killed run left (each 0600 when it held a secret, and git-ignored). */
async function sweepTemporaries(dir: string, files: PlannedFile[]): Promise<void> {
  // The planned files' directories, plus where the manifest and .vault-pass live (not always in the plan).
  const dirs = new Set([...files.map((f) => path.dirname(path.join(dir, f.rel))), path.dirname(path.join(dir, MANIFEST_FILE)), dir]);
  for (const d of dirs) {
    const entries = await fs.readdir(d).catch(() => [] as string[]);
    for (const e of entries) if (TEMPORARY.test(e)) await fs.rm(path.join(d, e), { force: true });
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(m, null, 2) + '\n', 0o644);
}

/**
 * fn over every item, at most `limit` at a time; results in the items' order. After a failure no new item
 * starts, and the first error is thrown once the running ones have ended.
 */
async function inParallel<T, R>(items: T[], fn: (item: T) => Promise<R>, limit = 16): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return out;
}
