/**
 * A visitor who keeps reloading the site: one GET every `everyMs` on a fixed
 * schedule (open loop: a slow answer does not slow the schedule, so an outage
 * shows as a run of failures rather than as fewer requests), each with its
 * own deadline. Anything but a 200 in time is a failure. The request log is
 * what `longestOutage` (./measure.ts) turns into the time the site was down.
 *
 * Any command that must prove the site stayed up during an operation starts
 * one before and reads `measure(from, to)` after. Every request has a URL of
 * its own (`?hawp-visit=<n>`), past any page cache.
 */
import { performance } from 'node:perf_hooks';
import { httpStatus } from '../net/http-probe.js';
import { longestOutage, type Sample } from './measure.js';

export interface TrafficOptions {
  /** The public entry's address. */
  host: string;
  port?: number;
  path?: string;
  hostHeader?: string;
  /** HTTPS, the certificate verified for this name (http-probe.ts). */
  tls?: { servername: string; ca?: string };
  /** The schedule: one request sent every this many ms. */
  everyMs?: number;
  /** A request not answered (200, body and all) within this counts as failed. */
  limitMs?: number;
  /** Once aborted, no more requests are sent. */
  signal?: AbortSignal;
}

/** What the requests sent in a window saw. */
export interface TrafficFigures {
  requests: number;
  failed: number;
  /** From the first failed request to the next one that succeeded, the longest such run (see longestOutage). */
  longestOutageMs: number;
}

export class Traffic {
  private readonly samples: Sample[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private sent = 0;
  readonly everyMs: number;
  readonly limitMs: number;

  constructor(private readonly o: TrafficOptions) {
    this.everyMs = o.everyMs ?? 200;
    this.limitMs = o.limitMs ?? 3000;
  }

  /** Starts the schedule; the first request goes out one interval from now. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
  }

  /** Stops sending; resolves once the requests still in flight have been answered or timed out (so the log is complete). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.pending);
  }

  /** Requests sent in [from, to) (performance.now() ms), in the order their answers arrived. */
  between(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.at >= from && s.at < to);
  }

  /** The window's figures; a failure still going on at `to` counts up to `to`. */
  measure(from: number, to: number): TrafficFigures {
    const s = this.between(from, to);
    return { requests: s.length, failed: s.filter((x) => !x.ok).length, longestOutageMs: longestOutage(s, to) };
  }

  private tick(): void {
    if (this.o.signal?.aborted) {
      clearInterval(this.timer);
      return;
    }
    // Bounded whatever happens: twice as many as can be outstanding when every request runs to its deadline.
    if (this.pending.size >= 2 * Math.ceil(this.limitMs / this.everyMs)) return;
    const at = performance.now();
    // A URL no cache has seen, so WordPress renders it from the database: the
    // web nodes' page cache (a few seconds of nginx microcache) must not hide
    // an outage. WordPress ignores the unknown query variable.
    const path = this.o.path ?? '/';
    const p = httpStatus({
      host: this.o.host,
      port: this.o.port,
      path: `${path}${path.includes('?') ? '&' : '?'}hawp-visit=${++this.sent}`,
      hostHeader: this.o.hostHeader,
      ...(this.o.tls ? { tls: this.o.tls } : {}),
      timeoutMs: this.limitMs,
      userAgent: 'ha-wordpress-drill',
    }).then((status) => {
      this.pending.delete(p);
      this.samples.push({ at, ok: status === 200 });
    });
    this.pending.add(p);
  }
}
