/**
 * The keep-policy: how many hourly, daily, weekly and monthly snapshots
 * survive each `restic forget --prune` (restic's --keep-hourly and the
 * like). Written `hourly=24,daily=7,weekly=4,monthly=6`; a rule left out or
 * 0 keeps nothing by that rule, and restic keeps a snapshot any one rule
 * wants. Pure.
 */

export const RETENTION_RULES = ['hourly', 'daily', 'weekly', 'monthly'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];
export type Retention = Partial<Record<RetentionRule, number>>;

export const DEFAULT_RETENTION = 'hourly=24,daily=7,weekly=4,monthly=6';
/** More is allowed by restic, but a typo (hourly=24000) would keep every snapshot for years. */
export const MAX_KEEP = 1000;

const FORM = `write rule=count pairs separated by commas, e.g. ${DEFAULT_RETENTION} (rules: ${RETENTION_RULES.join(', ')})`;

export type RetentionResult = { ok: true; retention: Retention } | { ok: false; problem: string };

export function parseRetention(text: string): RetentionResult {
  const retention: Retention = {};
  const parts = text.split(',').map((p) => p.trim());
  if (text.trim() === '') return { ok: false, problem: FORM };
  for (const part of parts) {
    const m = part.match(/^([a-z]+)\s*=\s*(\S+)$/i);
    if (!m) return { ok: false, problem: `"${part}" is not a rule: ${FORM}` };
    const rule = m[1]!.toLowerCase() as RetentionRule;
    if (!RETENTION_RULES.includes(rule))
      return { ok: false, problem: `"${m[1]}" is not a rule: use ${RETENTION_RULES.join(', ')} (e.g. ${DEFAULT_RETENTION})` };
    if (rule in retention) return { ok: false, problem: `${rule} is given twice` };
    if (!/^[0-9]+$/.test(m[2]!) || Number(m[2]) > MAX_KEEP) return { ok: false, problem: `${rule}=${m[2]}: give a whole number from 0 to ${MAX_KEEP}` };
    retention[rule] = Number(m[2]);
  }
  if (!Object.values(retention).some((n) => n > 0))
    return { ok: false, problem: `every rule is 0, so every snapshot would be deleted: keep at least one, e.g. ${DEFAULT_RETENTION}` };
  return { ok: true, retention };
}

/** The settings table's validator. */
export const backupRetention = (v: string): string | undefined => {
  const r = parseRetention(v);
  return r.ok ? undefined : r.problem;
};

/** For the Ansible variable: every rule, 0 where none was given. */
export function retentionMap(text: string): Record<RetentionRule, number> {
  const r = parseRetention(text);
  if (!r.ok) throw new Error(`internal error: retention "${text}" was not checked`);
  return Object.fromEntries(RETENTION_RULES.map((k) => [k, r.retention[k] ?? 0])) as Record<RetentionRule, number>;
}
