/**
 * The fetch function under the DigitalOcean client. It owns retries and
 * timeouts, so Kiota's own RetryHandler is left out of the middleware chain
 * (client.ts): two retry layers would multiply waits and hide the real cause.
 *
 * - Every attempt has a timeout.
 * - 429 and 5xx are retried with exponential backoff and jitter, honouring
 *   Retry-After (seconds or an HTTP date) up to a cap.
 * - A request that may have changed something (anything but GET/HEAD) is
 *   retried only when the server surely did not act on it: 429, or a
 *   connection that was refused before anything was sent. Callers of such
 *   requests check the outcome themselves (see createSshKey).
 */
import { sleep } from '../util/sleep.js';

export interface RetryPolicy {
  attempts: number;
  timeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  onRetry?: (info: { url: string; status?: number; reason: string; delayMs: number; attempt: number }) => void;
}

export const DEFAULT_POLICY: RetryPolicy = {
  attempts: 5,
  timeoutMs: 20_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  sleep: (ms) => sleep(ms),
};

export class TimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
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

/** Milliseconds the server asked us to wait, or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
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
    let delay = policy.baseDelayMs;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= policy.attempts;
      const timeout = AbortSignal.timeout(policy.timeoutMs);
      const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await fetch(input, { ...init, signal });
      } catch (err) {
        if (init.signal?.aborted) throw err;
        const code = errorCode(err);
        const timedOut = timeout.aborted;
        // A refused connection never reached the server, so even a POST is safe to repeat.
        const retriable = safe || code === 'ECONNREFUSED';
        if (last || !retriable) throw timedOut ? new TimeoutError(input, policy.timeoutMs) : new NetworkError(input, code);
        const wait = Math.min(delay, policy.maxDelayMs);
        policy.onRetry?.({ url: path, reason: timedOut ? 'timeout' : code, delayMs: wait, attempt });
        await policy.sleep(wait);
        delay *= 2;
        continue;
      }
      const retriable = response.status === 429 || (safe && RETRY_STATUS.has(response.status));
      if (!retriable || last) return response;
      const asked = retryAfterMs(response.headers.get('retry-after'));
      // A server asking for a longer pause than we are prepared to wait gets
      // its answer passed through, so the user sees "rate limited" now
      // rather than a silent multi-minute hang.
      if (asked !== undefined && asked > policy.maxDelayMs) return response;
      const jitter = Math.random() * 0.25 * delay;
      const wait = asked ?? Math.min(delay + jitter, policy.maxDelayMs);
      await response.body?.cancel().catch(() => undefined);
      policy.onRetry?.({ url: path, status: response.status, reason: `HTTP ${response.status}`, delayMs: wait, attempt });
      await policy.sleep(wait);
      delay *= 2;
    }
  };
}
