import { sleep } from './sleep.js';

/** The first of a verdict's problems, and how many more: for one-line messages ("…, and 2 more"). */
export function problemSummary(s: { problems: string[] }): string {
  return `${s.problems[0] ?? 'unknown'}${s.problems.length > 1 ? `, and ${s.problems.length - 1} more` : ''}`;
}

/**
 * The gate between two nodes of a rolling change (resize, retire, upgrade):
 * asks until the verdict is healthy; after `withinMs`, throws what `fail`
 * makes of the last verdict. A probe that throws counts as not healthy.
 */
export async function untilHealthy<S extends { healthy: boolean; problems: string[] }>(
  probe: () => Promise<S>,
  o: { withinMs: number; everyMs: number },
  fail: (last: { problems: string[] }) => Error,
): Promise<void> {
  const end = Date.now() + o.withinMs;
  for (;;) {
    const s = await probe().catch((err: Error) => ({ healthy: false, problems: [err.message] }));
    if (s.healthy) return;
    if (Date.now() > end) throw fail(s);
    await sleep(o.everyMs);
  }
}
