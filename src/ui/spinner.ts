/**
 * A spinner on stderr while something slow runs, only on a terminal (in CI
 * and pipes it stays silent rather than filling logs with frames). Its text
 * goes through the logger's scrub(), like every other output.
 */
import { scrub } from './logger.js';

/** The spinner on screen now, if any: a line printed meanwhile would share its row. */
let active: { clear(): unknown; render(): unknown } | undefined;

/** Prints a line while a spinner may be running: the spinner steps aside for it and comes back below it. */
export function aside(print: () => void): void {
  active?.clear();
  print();
  active?.render();
}

export async function withSpinner<T>(text: string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  const { default: ora } = await import('ora');
  const spinner = ora({ text: scrub(text), stream: process.stderr, discardStdin: false }).start();
  const previous = active;
  active = spinner;
  try {
    return await work();
  } finally {
    spinner.stop();
    active = previous;
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
  // Lines printed through aside() while it runs step around it.
  const previous = active;
  active = spinner;
  return {
    text: (t) => (spinner.text = scrub(t)),
    stop: () => {
      spinner.stop();
      if (active === spinner) active = previous;
    },
  };
}
