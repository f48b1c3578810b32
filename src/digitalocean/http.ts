/**
 * The fetch function under the DigitalOcean client. It owns retries and
 * timeouts, so Kiota's own RetryHandler is left out of the middleware chain
 * (client.ts): two retry layers would multiply waits and hide the real cause.
 *
 * - Every attempt has a timeout, and all attempts of one request together a
 *   budget (`totalMs`): a hung API is reported after a minute, not after
 *   attempts × timeout (5 × 20 s plus the pauses was 109 s of silence).
 * - 429 and 5xx are retried with exponential backoff and jitter, honouring
 *   Retry-After (seconds or an HTTP date) clamped to 1..30 s: a negative,
 *   past or zero value would retry at once in a tight loop, a huge one would
 *   hang; one that is neither gets the backoff.
 * - A request that may have changed something (anything but GET/HEAD) is
 *   retried only when the server surely did not act on it: 429, or a
 *   connection that was refused before anything was sent. Callers of such
 *   requests check the outcome themselves (see createSshKey).
 * - `onSlow` and `onRetry` tell the caller about a wait as it happens, so
 *   the user sees why nothing moves.
 */
import { sleep } from '../util/sleep.js';

export interface RetryInfo {
  method: string;
  url: string;
  status?: number;
  reason: string;
  delayMs: number;
  /** The attempt that failed; the next one is attempt + 1. */
  attempt: number;
  attempts: number;
  totalMs: number;
}

export interface RetryPolicy {
  attempts: number;
  timeoutMs: number;
  /** Every attempt of one request and the pauses between them. */
  totalMs: number;
  baseDelayMs: number;
  /** The longest pause, a server's Retry-After included. */
  maxDelayMs: number;
  /** The shortest pause a Retry-After can ask for. */
  minRetryAfterMs: number;
  /** An attempt unanswered this long is reported through onSlow (once per attempt). */
  slowAfterMs: number;
  sleep: (ms: number) => Promise<void>;
  onRetry?: (info: RetryInfo) => void;
  onSlow?: (info: { method: string; url: string; waitedMs: number; attempt: number; timeoutMs: number }) => void;
}

export const DEFAULT_POLICY: RetryPolicy = {
  attempts: 5,
  timeoutMs: 20_000,
  totalMs: 60_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  minRetryAfterMs: 1000,
  slowAfterMs: 5000,
  sleep: (ms) => sleep(ms),
};

export class TimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
    /** How many attempts timed out or failed, and the time they took with the pauses. */
    readonly tries = 1,
    readonly elapsedMs = timeoutMs,
  ) {
    super(`no answer from ${url} within ${Math.round(timeoutMs / 1000)} s`);
  }
}

export class NetworkError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
  ) {
    super(`cannot reach ${url} (${code})`);
  }
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** What the three HTTP date formats start with; V8's Date.parse also reads "-5" or "1.5" as dates (long past ones). */
const HTTP_DATE = /^(mon|tue|wed|thu|fri|sat|sun)/i;

/** Milliseconds the server asked us to wait (negative for a date in the past), or undefined when the header says nothing usable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const h = header.trim();
  if (/^[-+]?\d+(\.\d+)?$/.test(h)) return Number(h) * 1000;
  if (!HTTP_DATE.test(h)) return undefined;
  const date = Date.parse(h);
  return Number.isNaN(date) ? undefined : date - now;
}

function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string } })?.cause;
  return cause?.code ?? (err as { code?: string })?.code ?? (err instanceof Error ? err.message : String(err));
}

export function retryingFetch(policy: RetryPolicy = DEFAULT_POLICY) {
  return async function fetchWithRetry(input: string, init: RequestInit = {}): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase();
    const safe = method === 'GET' || method === 'HEAD';
    const path = new URL(input).pathname;
    const started = Date.now();
    const left = () => policy.totalMs - (Date.now() - started);
    let delay = policy.baseDelayMs;
    for (let attempt = 1; ; attempt++) {
      const timeoutMs = Math.max(1, Math.min(policy.timeoutMs, left()));
      const last = attempt >= policy.attempts;
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      const slow = policy.onSlow
        ? setTimeout(() => policy.onSlow?.({ method, url: path, waitedMs: policy.slowAfterMs, attempt, timeoutMs }), policy.slowAfterMs)
        : undefined;
      slow?.unref();
      let response: Response;
      try {
        response = await fetch(input, { ...init, signal });
      } catch (err) {
        if (init.signal?.aborted) throw err;
        const code = errorCode(err);
        const timedOut = timeout.aborted;
        // A refused connection never reached the server, so even a POST is safe to repeat.
        const retriable = safe || code === 'ECONNREFUSED';
        const wait = Math.min(delay, policy.maxDelayMs);
        if (last || !retriable || wait >= left())
          throw timedOut ? new TimeoutError(input, policy.timeoutMs, attempt, Date.now() - started) : new NetworkError(input, code);
        policy.onRetry?.(info(timedOut ? `no answer within ${seconds(timeoutMs)}` : code, wait, attempt));
        await policy.sleep(wait);
        delay *= 2;
        continue;
      } finally {
        clearTimeout(slow);
      }
      const retriable = response.status === 429 || (safe && RETRY_STATUS.has(response.status));
      if (!retriable || last) return response;
      const asked = retryAfterMs(response.headers.get('retry-after'));
      // A rate limit is not lifted in half a second, whatever the header said.
      const floor = response.status === 429 ? policy.minRetryAfterMs : 0;
      const backoff = Math.min(Math.max(delay + Math.random() * 0.25 * delay, floor), policy.maxDelayMs);
      const wait = asked === undefined ? backoff : Math.min(Math.max(asked, policy.minRetryAfterMs), policy.maxDelayMs);
      // No time left for the pause and another try: the caller reports this answer.
      if (wait >= left()) return response;
      await response.body?.cancel().catch(() => undefined);
      policy.onRetry?.({ ...info(`HTTP ${response.status}`, wait, attempt), status: response.status });
      await policy.sleep(wait);
      delay *= 2;
    }

    function info(reason: string, delayMs: number, attempt: number): RetryInfo {
      return { method, url: path, reason, delayMs, attempt, attempts: policy.attempts, totalMs: policy.totalMs };
    }
  };
}

/** "0.5 s", "20 s": how waits are shown. */
export const seconds = (ms: number) => (ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`);
