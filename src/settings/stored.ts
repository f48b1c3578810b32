/**
 * ha-wordpress.yml: the workspace's non-secret settings, written by init and
 * read by every command. Both directions are derived from the settings
 * table: the keys are init's flag names, a missing value takes the same
 * default init would give, and every value read passes the same validator
 * as the flag, so a hand edit that breaks a rule gets the flag's own
 * one-line error. Pure: the caller reads and writes the file.
 */
import yaml from 'js-yaml';
import { UsageError } from '../errors.js';
import { splitList } from '../validation/rules.js';
import { appliesTo, problemLine, SETTINGS, TARGETS, type Setting, type SettingKey, type SettingsTable, type Target, type Values } from './table.js';

export const SETTINGS_FILE = 'ha-wordpress.yml';

/** Settings that live elsewhere: secrets in the vaults, and the run-time choices of where and how to keep the workspace. */
const NOT_STORED = new Set<SettingKey>(['dir', 'saveVaultPassword', 'vaultPasswordFile']);
export const isStored = (s: Setting): boolean => s.kind !== 'secret' && !NOT_STORED.has(s.key);

/** Keys init writes beside the settings. */
const BOOKKEEPING = new Set(['tool-version', 'ssh-key-fingerprint', 'failover-token-follows-api-token']);

type Row = SettingsTable[number];
type StoredRow = Exclude<Row, { kind: 'secret' } | { key: 'dir' | 'saveVaultPassword' | 'vaultPasswordFile' }>;
interface KindValue {
  text: string;
  path: string;
  select: string;
  number: number;
  list: string[];
  boolean: boolean;
}
type ValueOf<R extends StoredRow> = R['kind'] extends keyof KindValue ? KindValue[R['kind']] : never;

/**
 * A workspace's settings, typed by kind: numbers are numbers, lists are
 * arrays. A setting with a default always has a value; one without (the
 * region on the local target, the Spaces bucket) may be undefined, as may a
 * setting that does not apply to the workspace's target.
 */
export type WorkspaceSettings = {
  [R in StoredRow as R['key']]: R extends { default: unknown } ? ValueOf<R> : ValueOf<R> | undefined;
};

/** ha-wordpress.yml's mapping → the string values init's resolver works with (an existing workspace's answers). */
export function valuesFromSettingsFile(data: Record<string, unknown>): Values {
  const out: Values = {};
  for (const s of SETTINGS) {
    const v = data[s.flag];
    if (v === undefined || v === null || !isStored(s)) continue;
    out[s.key] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

export interface ReadSettings {
  settings: WorkspaceSettings;
  /** Where each value came from: the file, an environment variable, or the default. */
  sources: Partial<Record<SettingKey, string>>;
  /** Things to tell the user: keys this version does not know. */
  notes: string[];
}

/**
 * Checks and types a workspace's settings. An environment variable that
 * stands for a stored setting (DIGITALOCEAN_API_URL) overrides the file, as
 * it would override init's default. Throws a UsageError naming the flag and
 * where the bad value came from.
 */
export function readSettings(data: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): ReadSettings {
  const fromFile = SETTINGS_FILE;
  const rawTarget = data.target ?? 'digitalocean';
  if (!TARGETS.includes(rawTarget as Target))
    throw new UsageError(
      problemLine(
        SETTINGS.find((s) => s.key === 'target')!,
        'use digitalocean or local',
        fromFile,
      ),
    );
  const target = rawTarget as Target;

  const values: Values = {};
  const sources: ReadSettings['sources'] = {};
  const notes: string[] = [];
  const known = new Set<string>(BOOKKEEPING);
  for (const s of SETTINGS) {
    if (!isStored(s)) continue;
    known.add(s.flag);
    if (!appliesTo(s, target)) continue;
    const envName = s.env?.find((n) => env[n]);
    const raw = envName ? env[envName] : data[s.flag];
    let value: string | undefined;
    let source: string;
    if (raw !== undefined && raw !== null) {
      value = Array.isArray(raw) ? raw.map(String).join(',') : String(raw);
      source = envName ?? fromFile;
    } else {
      value = s.default?.(values);
      source = 'the default';
    }
    if (value === undefined) {
      if (s.required) throw new UsageError(`${problemLine(s, 'missing', fromFile)}; run \`ha-wordpress init\` again with --${s.flag}`);
      continue;
    }
    const problem = s.validate?.(value);
    if (problem)
      throw new UsageError(
        `${problemLine(s, problem, source)}${source === fromFile ? `; fix ${SETTINGS_FILE} or run \`ha-wordpress init\` again with --${s.flag}` : ''}`,
      );
    values[s.key] = value;
    sources[s.key] = source;
  }
  for (const key of Object.keys(data)) {
    if (!known.has(key)) notes.push(`${SETTINGS_FILE}: ${key} is not a setting of this version and is ignored`);
  }
  return { settings: typed(values), sources, notes };
}

function typed(values: Values): WorkspaceSettings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const v = values[s.key];
    if (v === undefined || !isStored(s)) continue;
    out[s.key] = convert(s, v);
  }
  return out as WorkspaceSettings;
}

function convert(s: Setting, v: string): string | number | boolean | string[] {
  switch (s.kind) {
    case 'number':
      return Number(v);
    case 'list':
      return splitList(v);
    case 'boolean':
      return v === 'true';
    default:
      return v;
  }
}

/**
 * Every stored setting for the templates, typed, under its key: absent ones
 * (not set, or not for this target) as '' or [], so a template never meets
 * undefined. A new setting reaches the templates with no code here.
 */
export function templateSettings(target: Target, values: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    if (!isStored(s)) continue;
    const v = appliesTo(s, target) ? values[s.key] : undefined;
    out[s.key] = v !== undefined ? convert(s, v) : s.kind === 'list' ? [] : '';
  }
  return out;
}

/** The text of ha-wordpress.yml for init's checked values; `extra` holds the bookkeeping keys. */
export function settingsFileText(target: Target, values: Values, extra: Record<string, unknown>): string {
  const data: Record<string, unknown> = { 'tool-version': extra['tool-version'] };
  for (const s of SETTINGS) {
    if (!appliesTo(s, target) || !isStored(s)) continue;
    const v = values[s.key];
    if (v !== undefined) data[s.flag] = convert(s, v);
  }
  Object.assign(data, extra);
  const header = [
    '# ha-wordpress workspace settings (no secrets: those are in the encrypted vault files).',
    '# Keys are the flags of `ha-wordpress init`; run init again after editing to re-render.',
  ].join('\n');
  return `${header}\n${yaml.dump(data, { lineWidth: -1, quotingType: '"' })}`;
}
