/**
 * A spinner on stderr while something slow runs, only on a terminal (in CI
 * and pipes it stays silent rather than filling logs with frames). Its text
 * goes through the logger's scrub(), like every other output.
 */
import { scrub } from './logger.js';

export async function withSpinner<T>(text: string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  const { default: ora } = await import('ora');
  const spinner = ora({ text: scrub(text), stream: process.stderr, discardStdin: false }).start();
  try {
    const result = await work();
    spinner.stop();
    return result;
  } catch (err) {
    spinner.stop();
    throw err;
  }
}

export interface Spinner {
  text(text: string): void;
  stop(): void;
}

/** A spinner whose text can change (the wait phase counts hosts); a no-op off a terminal. */
export async function startSpinner(text: string, enabled = true): Promise<Spinner> {
  if (!enabled || !process.stderr.isTTY) return { text: () => undefined, stop: () => undefined };
  const { default: ora } = await import('ora');
  const spinner = ora({ text: scrub(text), stream: process.stderr, discardStdin: false }).start();
  return { text: (t) => (spinner.text = scrub(t)), stop: () => spinner.stop() };
}
