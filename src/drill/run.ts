/**
 * One drill scenario, start to end, while the traffic and the writer run:
 * 3 s of calm, the break, `status` run every second until one run sees the
 * failure (that delay is reported; one run at a time), the break held for HOLD_MS, then the
 * nodes started again (as `up` would) and `status` polled until the cluster
 * is healthy (healed_s counts from the restart), then 3 s more. The outage is
 * measured over the whole window, so whatever the recovery itself costs (a
 * rejoining node taking a donor out, say) counts too.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../ui/logger.js';
import { sleep } from '../util/sleep.js';
import { shortfalls, type ScenarioResult } from './report.js';
import type { Cluster, Operation, Scenario, Seen, Victim } from './scenarios.js';
import type { Traffic } from './traffic.js';
import { FailureWatch, untilHealthy, type Health } from './watch.js';
import type { Writer } from './writer.js';

const CALM_MS = 3000;
/** How long a break is held once made (measured from its start). */
const HOLD_MS = 15_000;
/** How much longer it is held when status has not reported it yet (past that, the report says it never did). */
const DETECT_WAIT_MS = 30_000;
const ONE_BY_ONE_GAP_MS = 3000;
/** From the end of the restart (or of `up`) to healthy, at most; past that the scenario did not heal. */
// Generous: a slow machine's Galera rejoin (a state transfer, then Synced) can take minutes.
export const HEAL_LIMIT_MS = 10 * 60_000;

/** What a scenario is run with. */
export interface Rig {
  cluster: Cluster;
  /** `status`'s probe. */
  probe: () => Promise<Health & Seen>;
  breakNodes(victims: Victim[]): Promise<void>;
  /** Starts the broken nodes again (what `up` does for stopped nodes). */
  restart(): Promise<unknown>;
  /** The full `up`, the recovery path of a scenario that takes the whole database tier down. */
  recover(): Promise<unknown>;
  /** Runs a planned change to its end (scale, replace, upgrade: drill.ts); the nodes it changed. */
  operate(op: Operation): Promise<string[]>;
  traffic: Traffic;
  writer: Writer;
  /** Ctrl-C: every wait ends, the broken nodes are started again, nothing more is measured. */
  signal: AbortSignal;
  log: Logger;
}

export async function runScenario(sc: Scenario, rig: Rig): Promise<ScenarioResult> {
  if (sc.operation) return runChange(sc, sc.operation, rig);
  const { probe, signal, log } = rig;
  const start = performance.now();
  const victims = sc.victims(rig.cluster, await probe());
  log.info(`→ ${sc.name}: ${sc.what}: ${victims.map((v) => `${v.how} ${v.name} (${v.why})`).join(', ')}`);
  await sleep(CALM_MS, signal);

  let detected: number | null;
  let healed: number | null = null;
  try {
    const t0 = performance.now();
    // status runs from the moment the break starts, as a user or a monitor would run it: one run at a
    // time, back to back. In the lab every node shares this machine's cores, and runs side by side (each
    // an SSH login to every node) starved the web nodes of CPU: the site failed because it was watched.
    const watch = new FailureWatch(probe, {
      since: t0,
      signal,
      maxInFlight: 1,
      onDetected: (s, h) => log.info(`  status reports it after ${s.toFixed(1)} s: ${h.problems.slice(0, 2).join('; ')}`),
    });
    try {
      if (sc.oneByOne)
        for (const v of victims) {
          await rig.breakNodes([v]);
          await sleep(ONE_BY_ONE_GAP_MS, signal);
        }
      else await rig.breakNodes(victims);
      const held = () => performance.now() - t0;
      while ((held() < HOLD_MS || watch.detectedS === null) && held() < HOLD_MS + DETECT_WAIT_MS) await sleep(500, signal);
    } finally {
      await watch.stop();
      detected = watch.detectedS;
    }
  } finally {
    // Whatever happened since the break (Ctrl-C included), the broken nodes are started again.
    const t1 = performance.now();
    log.info(`  starting ${victims.map((v) => v.name).join(', ')} again${sc.restoreWithUp ? ' and running `up` (its recovery path)' : ''}…`);
    if (sc.restoreWithUp && !signal.aborted) await rig.recover();
    else await rig.restart();
    // healed_s counts from the restart, `up` included; the limit is for the cluster once the restart or `up`
    // is done. `up` ends on its own (it fails when it cannot recover), and on a slow machine it alone took
    // most of HEAL_LIMIT_MS: a cluster that was healthy right after it was reported as never healing.
    const restarted = performance.now() - t1;
    if (!signal.aborted) healed = await untilHealthy(probe, { since: t1, limitMs: restarted + HEAL_LIMIT_MS, signal });
  }
  log.info(healed === null ? '  not healthy again in time' : `  healthy again after ${healed.toFixed(1)} s`);
  return measured(sc, rig, { start, healed, detected, broken: victims.map((v) => v.name) });
}

/**
 * A planned change under the same traffic and writes: 3 s of calm, the
 * change run to its end (its duration reported), `status` polled until the
 * cluster is healthy, 3 s more; measured over the whole window like a break.
 */
async function runChange(sc: Scenario, op: Operation, rig: Rig): Promise<ScenarioResult> {
  const { signal, log } = rig;
  const start = performance.now();
  log.info(`→ ${sc.name}: ${sc.what}`);
  await sleep(CALM_MS, signal);
  const t0 = performance.now();
  const changed = await rig.operate(op);
  const t1 = performance.now();
  log.info(`  ${sc.name} done in ${((t1 - t0) / 1000).toFixed(1)} s (${changed.join(', ') || 'no node'}); waiting for the cluster to be healthy`);
  const healed = signal.aborted ? null : await untilHealthy(rig.probe, { since: t1, limitMs: HEAL_LIMIT_MS, signal });
  log.info(healed === null ? '  not healthy in time' : `  healthy after ${healed.toFixed(1)} s`);
  return measured(sc, rig, { start, healed, detected: null, broken: changed, change: { duration_s: round1((t1 - t0) / 1000) } });
}

/** The figures of a scenario's window (from `start` to 3 s of calm from now) and its verdict. */
async function measured(
  sc: Scenario,
  rig: Rig,
  m: { start: number; healed: number | null; detected: number | null; broken: string[]; change?: { duration_s: number } },
): Promise<ScenarioResult> {
  const { start, healed, detected } = m;
  await sleep(CALM_MS, rig.signal);
  const end = performance.now();

  const t = rig.traffic.measure(start, end);
  const w = await rig.writer.check(start, end, rig.cluster.db);
  const figures: Omit<ScenarioResult, 'passed'> = {
    name: sc.name,
    requests: t.requests,
    failed: t.failed,
    longest_outage_ms: t.longestOutageMs,
    healed_s: healed === null ? null : round1(healed),
    writes_acknowledged: w.acknowledged,
    writes_lost: w.lost.length,
    writes_failed: w.failed,
    detected_s: detected === null ? null : round1(detected),
    broken: m.broken,
    budget_ms: sc.budgetMs,
    ...(m.change ? { change: m.change } : {}),
  };
  rig.log.info(
    `  ${t.failed} of ${t.requests} requests failed, longest outage ${(t.longestOutageMs / 1000).toFixed(1)} s; ` +
      `${w.acknowledged} writes acknowledged, ${w.lost.length} lost`,
  );
  return { ...figures, passed: shortfalls(figures).length === 0 };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
