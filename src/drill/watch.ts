/**
 * Watching a cluster's health through an operation, with `status`'s own
 * probe: how long after a break `status` first reports it, and how long after
 * a repair it reports the cluster whole again.
 */
import { performance } from 'node:perf_hooks';
import { sleep } from '../util/sleep.js';

/** What a health probe says (`status`'s ClusterStatus is one). */
export interface Health {
  healthy: boolean;
  problems: string[];
}

export interface WatchOptions<H extends Health> {
  /** The moment detection time counts from (performance.now() ms): the break. */
  since: number;
  /** A new probe starts this often (ms)... */
  everyMs?: number;
  /** ...while fewer than this many are still running. */
  maxInFlight?: number;
  /** Ends the watch at once (probes still running are not waited for). */
  signal?: AbortSignal;
  /** Called once, with the first failing report. */
  onDetected?: (seconds: number, health: H) => void;
}

/**
 * A probe started every second (by default) until one reports the cluster
 * unhealthy. The probes run alongside each other, as a user or a monitor
 * would run `status` again without waiting for the last one: a run caught
 * mid-shutdown and waiting out its SSH timeout does not hide what the next
 * one sees. A probe that throws counts as no report.
 */
export class FailureWatch<H extends Health> {
  private detected: number | null = null;
  private watching = true;
  private readonly runs: Promise<void>[] = [];
  private readonly loop: Promise<void>;

  constructor(
    private readonly probe: () => Promise<H>,
    private readonly o: WatchOptions<H>,
  ) {
    this.loop = this.watch().catch(() => undefined); // an abort ends its wait early; whoever aborted reports that
  }

  /** Seconds from `since` to the first report of a failure; null while none has come. */
  get detectedS(): number | null {
    return this.detected;
  }

  /** Stops starting probes; resolves once those running have finished (at once after an abort). */
  async stop(): Promise<void> {
    this.watching = false;
    await this.loop;
  }

  private async watch(): Promise<void> {
    const max = this.o.maxInFlight ?? 3;
    let inFlight = 0;
    while (this.watching && this.detected === null) {
      if (inFlight < max) {
        inFlight++;
        this.runs.push(
          this.probe()
            .then((h) => {
              if (this.detected === null && !h.healthy) {
                this.detected = (performance.now() - this.o.since) / 1000;
                this.o.onDetected?.(this.detected, h);
              }
            })
            .catch(() => undefined)
            .finally(() => inFlight--),
        );
      }
      await sleep(this.o.everyMs ?? 1000, this.o.signal);
    }
    await Promise.allSettled(this.runs);
  }
}

/**
 * Probes one after another (a pause of `everyMs` between them) until one
 * reports the cluster healthy: the seconds since `since`, or null when
 * `limitMs` passed first or the signal was aborted. A probe that throws ends
 * the wait with its error.
 */
export async function untilHealthy(
  probe: () => Promise<Health>,
  o: { since: number; limitMs: number; everyMs?: number; signal?: AbortSignal },
): Promise<number | null> {
  while (performance.now() - o.since < o.limitMs && !o.signal?.aborted) {
    if ((await probe()).healthy) return (performance.now() - o.since) / 1000;
    await sleep(o.everyMs ?? 1000, o.signal).catch(() => undefined);
  }
  return null;
}
