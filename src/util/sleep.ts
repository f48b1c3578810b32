/**
 * The one wait of this tool. Every retry loop, poll and pacing delay goes
 * through it, so each can be ended early the same way: an aborted signal
 * ends the wait at once (and clears its timer, so nothing keeps the process
 * alive after a Ctrl-C).
 */
import { CancelledError } from '../errors.js';

/**
 * Resolves after `ms`. With `signal`: rejects as soon as it is aborted (at
 * once if it already is) with the reason it was aborted with, when that is
 * an Error (so `controller.abort(new CancelledError('…'))` surfaces as that
 * error), else with a CancelledError.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const reason = () => (signal?.reason instanceof Error ? signal.reason : new CancelledError());
    if (signal?.aborted) return reject(reason());
    const onAbort = () => {
      clearTimeout(timer);
      reject(reason());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
