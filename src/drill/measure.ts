/**
 * What a drill measures, as pure functions over what it recorded, so the
 * arithmetic is tested on its own (test/drill.test.ts) and the lab run only
 * has to record honestly.
 */

/** One request through the public entry: when it was sent (ms, monotonic) and whether the site answered 200 in time. */
export interface Sample {
  at: number;
  ok: boolean;
}

/**
 * The longest time the site did not answer: from the sending of the first
 * request that failed to the sending of the first one after it that
 * succeeded (what a visitor who kept reloading would have lived through).
 * A run of failures still open when the window ends counts up to `end`.
 * Requests are sent on a fixed schedule, so the figure is exact to one
 * request interval.
 */
export function longestOutage(samples: Sample[], end: number): number {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  let longest = 0;
  let since: number | undefined;
  for (const s of sorted) {
    if (!s.ok && since === undefined) since = s.at;
    if (s.ok && since !== undefined) {
      longest = Math.max(longest, s.at - since);
      since = undefined;
    }
  }
  if (since !== undefined) longest = Math.max(longest, end - since);
  return Math.round(longest);
}

/** The acknowledged row ids missing from at least one database node. */
export function lostWrites(acknowledged: Iterable<number>, perNode: ReadonlySet<number>[]): number[] {
  const lost: number[] = [];
  for (const id of acknowledged) if (perNode.length === 0 || perNode.some((rows) => !rows.has(id))) lost.push(id);
  return lost.sort((a, b) => a - b);
}

/** Row ids out of `mariadb -N -B` output (one per line); anything else in it means the read went wrong. */
export function parseIds(text: string): Set<number> {
  const ids = new Set<number>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    if (!/^\d+$/.test(t)) throw new Error(`unexpected line in the rows read back: ${t.slice(0, 60)}`);
    ids.add(Number(t));
  }
  return ids;
}
