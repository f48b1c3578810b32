/**
 * What a drill reports: one result per scenario, the verdict on it, the
 * table printed for a person (JSON is the results as they are), and the
 * one-line list of what failed.
 */
import { DETECT_BUDGET_S } from './scenarios.js';

export interface ScenarioResult {
  name: string;
  requests: number;
  failed: number;
  longest_outage_ms: number;
  /** Seconds from restarting the broken nodes to `status` healthy; null when it never got there. */
  healed_s: number | null;
  writes_acknowledged: number;
  writes_lost: number;
  writes_failed: number;
  /** Seconds from the break to the first `status` that reported it; null when status never did. */
  detected_s: number | null;
  broken: string[];
  budget_ms: number | null;
  /** A planned change (scale, replace, upgrade) rather than a break: nothing for status to report, and its duration. */
  change?: { duration_s: number };
  passed: boolean;
}

/**
 * What one scenario fell short of; empty when it passed. A scenario passes
 * when it healed, lost no acknowledged write, stayed within its outage budget
 * and `status` reported the break within DETECT_BUDGET_S.
 */
export function shortfalls(r: Omit<ScenarioResult, 'passed'>): string[] {
  const out: string[] = [];
  if (r.healed_s === null) out.push(`${r.name} did not heal`);
  if (r.writes_lost) out.push(`${r.name} lost ${r.writes_lost} acknowledged writes`);
  if (r.budget_ms === 0 && r.failed) out.push(`${r.name}: ${r.failed} requests failed (none may)`);
  else if (r.budget_ms !== null && r.budget_ms > 0 && r.longest_outage_ms >= r.budget_ms)
    out.push(`${r.name}: ${(r.longest_outage_ms / 1000).toFixed(1)} s outage (budget ${r.budget_ms / 1000} s)`);
  if (!r.change && (r.detected_s === null || r.detected_s > DETECT_BUDGET_S))
    out.push(`${r.name}: status did not report the failure within ${DETECT_BUDGET_S} s`);
  return out;
}

/** Everything that failed in a drill of `expected` scenarios (those not run included). */
export function failures(results: ScenarioResult[], expected: number): string[] {
  const out = results.flatMap(shortfalls);
  if (results.length < expected) out.push(`${expected - results.length} scenarios not run`);
  return out;
}

/** The results as an aligned table, one line per scenario under a header. */
export function reportTable(results: ScenarioResult[]): string[] {
  const s = (n: number | null, unit: string) => (n === null ? 'never' : `${n.toFixed(1)} ${unit}`);
  // A planned change has no break for status to see, and its own duration; the column only when one ran.
  const changes = results.some((r) => r.change);
  const header = [
    'SCENARIO',
    'REQUESTS',
    'FAILED',
    'LONGEST OUTAGE',
    'BUDGET',
    'STATUS SAW IT',
    'HEALED AFTER',
    'WRITES ACKED',
    'LOST',
    ...(changes ? ['DURATION'] : []),
    '',
  ];
  const rows = results.map((r) => [
    r.name,
    String(r.requests),
    String(r.failed),
    s(r.longest_outage_ms / 1000, 's'),
    r.budget_ms === null ? '-' : r.budget_ms === 0 ? 'none fails' : `< ${r.budget_ms / 1000} s`,
    r.change ? '-' : s(r.detected_s, 's'),
    s(r.healed_s, 's'),
    String(r.writes_acknowledged),
    String(r.writes_lost),
    ...(changes ? [r.change ? s(r.change.duration_s, 's') : '-'] : []),
    r.passed ? 'ok' : 'FAILED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}
