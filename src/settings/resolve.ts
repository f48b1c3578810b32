/**
 * Turning flags, environment, an existing workspace, prompts and defaults
 * into one checked value per setting. A flag or env value is an answer: it
 * goes through the same validator as a typed one.
 */
import { UsageError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import type { Choice, Prompts } from '../ui/prompts.js';
import { appliesTo, flagName, problemLine, SETTINGS, type Setting, type SettingKey, type Target, type Values } from './table.js';

export interface Given {
  value: string;
  /** '--flag' or the env variable's name. */
  source: string;
}

/** The value given on the command line or in the environment, as a string. */
export function givenValue(s: Setting, flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Given | undefined {
  const f = flags[s.key];
  if (f !== undefined && f !== null) {
    if (typeof f === 'boolean') return { value: f ? 'true' : 'false', source: `--${s.flag}` };
    return { value: String(f), source: `--${s.flag}` };
  }
  for (const name of s.env ?? []) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, source: name };
  }
  return undefined;
}

/** Settings file keys are the flag names; values are typed YAML. */
export function valuesFromSettingsFile(data: Record<string, unknown>): Values {
  const out: Values = {};
  for (const s of SETTINGS) {
    const v = data[s.flag];
    if (v === undefined || v === null) continue;
    out[s.key] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

export interface ExtraCheck {
  /** Validation against live data (e.g. the region list), after the pure validator. */
  check?: (v: string) => string | undefined;
  /** Choices for a select prompt. */
  choices?: Choice[];
  /** Replaces the setting's prompt hint (e.g. "empty: keep the current one"). */
  hint?: string;
}

export interface ResolverOptions {
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  interactive: boolean;
  yes: boolean;
  prompts: Prompts;
  log: Logger;
}

export class Resolver {
  readonly values: Values = {};
  existing: Values = {};
  /** Where each value came from, for messages. */
  readonly sources: Partial<Record<SettingKey, string>> = {};
  customise = false;

  constructor(private readonly o: ResolverOptions) {}

  given(s: Setting): Given | undefined {
    return givenValue(s, this.o.flags, this.o.env);
  }

  private shouldAsk(s: Setting, hasFallback: boolean): boolean {
    if (!this.o.interactive || s.prompt.when === 'never') return false;
    if (this.o.yes && hasFallback) return false;
    return s.prompt.when === 'always' || this.customise || !hasFallback;
  }

  private problem(s: Setting, v: string, extra?: ExtraCheck): string | undefined {
    return s.validate?.(v) ?? extra?.check?.(v);
  }

  /**
   * Settles one setting. Returns undefined only for optional settings left
   * empty (and secrets to be generated or kept).
   */
  async settle(s: Setting, extra: ExtraCheck = {}): Promise<string | undefined> {
    const given = this.given(s);
    const fallback = this.existing[s.key] ?? s.default?.(this.values);
    if (given) {
      const p = this.problem(s, given.value, extra);
      if (!p) return this.set(s, given.value, given.source);
      if (!this.o.interactive || s.prompt.when === 'never') throw new UsageError(problemLine(s, p, given.source));
      // On a terminal a bad flag value is reported, then asked for properly.
      this.o.log.error(problemLine(s, p, given.source));
      return this.set(s, await this.ask(s, extra, fallback), 'prompt');
    }
    if (this.shouldAsk(s, fallback !== undefined || !s.required)) {
      return this.set(s, await this.ask(s, extra, fallback), 'prompt');
    }
    if (fallback !== undefined) {
      // A stored or default value must still pass the live checks (a region
      // that was retired, a size no longer offered).
      const p = this.problem(s, fallback, extra);
      if (p) {
        if (!this.o.interactive) throw new UsageError(problemLine(s, p, this.existing[s.key] !== undefined ? 'the workspace' : 'the default'));
        this.o.log.error(problemLine(s, p, this.existing[s.key] !== undefined ? 'the workspace' : 'the default'));
        return this.set(s, await this.ask(s, extra, undefined), 'prompt');
      }
      return this.set(s, fallback, this.existing[s.key] !== undefined ? 'workspace' : 'default');
    }
    if (s.required) throw new UsageError(`missing ${flagName(s)}`);
    return undefined;
  }

  private set(s: Setting, v: string | undefined, source: string): string | undefined {
    if (v === undefined) return undefined;
    this.values[s.key] = v;
    this.sources[s.key] = source;
    return v;
  }

  private async ask(s: Setting, extra: ExtraCheck, fallback: string | undefined): Promise<string | undefined> {
    const p = this.o.prompts;
    // A stored secret (the API token on a re-run) is kept when the answer is empty.
    const keepStored = s.kind === 'secret' && fallback !== undefined;
    const hint = keepStored ? 'empty: keep the current one' : (extra.hint ?? s.prompt.hint);
    const message = hint ? `${s.prompt.message} (${hint})` : s.prompt.message;
    const validate = (v: string) => this.problem(s, v, extra) ?? true;
    switch (s.kind) {
      case 'secret': {
        const optional = !s.required || keepStored;
        const v = await p.password({ message, validate: (x) => (optional && x === '' ? true : validate(x)) });
        return v === '' ? (keepStored ? fallback : undefined) : v;
      }
      case 'boolean':
        return String(await p.confirm({ message, default: (fallback ?? 'true') === 'true' }));
      case 'select':
        if (extra.choices ?? s.choices) {
          const choices = extra.choices ?? s.choices!.map((c) => ({ value: c, name: c }));
          const def = fallback && choices.some((c) => c.value === fallback && !this.problem(s, c.value, extra)) ? fallback : undefined;
          return p.select({ message, choices, default: def });
        }
        break;
      default:
        break;
    }
    const v = await p.input({
      message,
      default: fallback,
      validate: (x) => (x.trim() === '' && !s.required && s.kind !== 'number' ? true : validate(x.trim())),
    });
    // An optional answer left empty means "not set" (the default applies, e.g. no domain).
    return v.trim() === '' && !s.required ? undefined : v.trim();
  }
}

/**
 * Non-interactive runs check everything they can without the network before
 * doing anything: every bad value and every missing flag is reported at once.
 */
export function precheck(target: Target, flags: Record<string, unknown>, env: NodeJS.ProcessEnv, existing: Values, present: ReadonlySet<SettingKey>): string[] {
  const problems: string[] = [];
  const missing: string[] = [];
  const values: Values = { ...existing };
  for (const s of SETTINGS) {
    if (!appliesTo(s, target)) continue;
    const given = givenValue(s, flags, env);
    if (given) {
      // The vault password's env variable holds the password itself; its
      // flag holds a path, read and checked by the caller.
      if (s.key === 'vaultPasswordFile' && given.source.startsWith('--')) continue;
      const p = s.validate?.(given.value);
      if (p) problems.push(problemLine(s, p, given.source));
      else values[s.key] = given.value;
    }
  }
  for (const s of SETTINGS) {
    if (!appliesTo(s, target) || !s.required) continue;
    if (givenValue(s, flags, env) || existing[s.key] !== undefined || present.has(s.key) || s.default?.(values) !== undefined) continue;
    missing.push(flagName(s));
  }
  if (missing.length) problems.push(`missing ${missing.join(', ')} (needed without a terminal; see ha-wordpress init --help)`);
  return problems;
}
