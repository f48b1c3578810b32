/**
 * The workspace on disk (docs/architecture.md#the-workspace): where it is, what an existing one holds,
 * and applying a set of planned files without losing anything.
 *
 * .ha-wordpress/manifest.json records a hash of every file init wrote (for a
 * vault file: of its plaintext, because re-encryption changes the bytes).
 * When init runs again, a file whose current hash is still the recorded one
 * is ours to replace; a file that differs was edited by hand and is kept,
 * with the new version written beside it as <file>.new.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { UsageError, UserError } from '../errors.js';
import { secretStrings, VAULT_GROUPS, type Vaults } from '../secrets/catalog.js';
import { decryptVault, encryptVault, isVaultText, VaultError } from '../secrets/vault.js';
import { redact } from '../ui/logger.js';
import { readIfExists, sha256, writeAtomic } from './files.js';

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

interface Manifest {
  version: 1;
  files: Record<string, string>;
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
  if (!text) return { version: 1, files: {} };
  try {
    const m = JSON.parse(text) as Manifest;
    return { version: 1, files: m.files ?? {} };
  } catch {
    return { version: 1, files: {} };
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
export async function readWorkspaceSecrets(dir: string, password: string): Promise<{ vaults: Partial<Vaults>; token?: string }> {
  const vaults: Partial<Vaults> = {};
  for (const group of VAULT_GROUPS) {
    const plain = await readVaultFile(dir, vaultRel(group), password);
    if (plain === undefined) continue;
    vaults[group] = parseYamlMap(plain, vaultRel(group)) as Vaults[typeof group];
  }
  const tf = await readVaultFile(dir, TF_VAULT, password);
  const token = tf === undefined ? undefined : String(parseYamlMap(tf, TF_VAULT).do_token ?? '') || undefined;
  secretStrings(vaults).forEach(redact);
  redact(token);
  return { vaults, token };
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

/** Current hash of a file as the manifest records it (plaintext for vault files). */
async function currentHash(dir: string, f: PlannedFile, password: string): Promise<string | undefined> {
  if (f.vault) {
    const plain = await readVaultFile(dir, f.rel, password);
    return plain === undefined ? undefined : sha256(plain);
  }
  const text = await readIfExists(path.join(dir, f.rel));
  return text === undefined ? undefined : sha256(text);
}

/**
 * Decides every file's fate first and only then writes, so a problem found
 * while deciding (an unreadable vault, say) leaves the workspace untouched.
 */
export async function applyPlan(dir: string, files: PlannedFile[], vaultPassword: string): Promise<ApplyResult> {
  const manifest = await readManifest(dir);
  // Independent files are read, and later written, concurrently: each write
  // ends in an fsync, and ~100 of them one after another were most of init's
  // time (budget under 1 s: docs/cluster.md#budgets). The manifest is written last, after all.
  const decisions = await inParallel(files, async (f) => {
    const want = sha256(f.content);
    const have = await currentHash(dir, f, vaultPassword);
    let action: 'write' | 'skip' | 'new';
    if (have === undefined) action = 'write';
    else if (f.policy === 'seed' || have === want) action = 'skip';
    else if (f.policy === 'owned' || manifest.files[f.rel] === have) action = 'write';
    else action = 'new';
    return { f, action };
  });

  const result: ApplyResult = { written: [], unchanged: [], keptEdited: [] };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await inParallel(decisions, async ({ f, action }) => {
    if (action === 'skip') {
      // Keep the bytes (a vault is not re-encrypted needlessly), but make sure
      // a secret file's mode is right even if someone loosened it.
      await fs.chmod(path.join(dir, f.rel), f.mode);
      return;
    }
    const data = f.vault ? encryptVault(f.content, vaultPassword) : f.content;
    await writeAtomic(path.join(dir, action === 'new' ? `${f.rel}.new` : f.rel), data, f.mode);
  });
  for (const { f, action } of decisions) {
    if (action === 'write') {
      manifest.files[f.rel] = sha256(f.content);
      result.written.push(f.rel);
    } else if (action === 'new') result.keptEdited.push(f.rel);
    else {
      manifest.files[f.rel] ??= sha256(f.content);
      result.unchanged.push(f.rel);
    }
  }
  await writeAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n', 0o644);
  return result;
}

/** fn over every item, at most `limit` at a time; results in the items' order. After a failure no new item starts, and the first error is thrown once the running ones have ended. */
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
