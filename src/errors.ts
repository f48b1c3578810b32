/**
 * Errors the user can act on. The top-level handler in cli.ts prints their
 * message as one line and exits with their code; anything else is a bug and
 * gets a short "unexpected error" line instead of a stack trace.
 */
/** A message's value longer than this (a run without spaces: a path, a flag's argument) is shortened. */
const LONGEST_VALUE = 256;

/**
 * The start of a value and its size, for a message about a value too long to
 * print: "/tmp/aaaaaaaa… (100005 characters)".
 */
export function preview(value: string, keep = 40): string {
  const chars = Array.from(value);
  return chars.length <= keep ? value : `${chars.slice(0, keep).join('')}… (${chars.length} characters)`;
}

/**
 * Every value quoted in an error message comes from the user, and may be
 * 100 KB long: each run of more than LONGEST_VALUE non-space characters
 * keeps its start and end, so the message stays one readable line.
 */
export function capValues(text: string): string {
  return text.replace(new RegExp(`\\S{${LONGEST_VALUE + 1},}`, 'g'), (v) => {
    const chars = Array.from(v);
    return `${chars.slice(0, 100).join('')}…${chars.slice(-100).join('')} (${chars.length} characters)`;
  });
}

export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(capValues(message));
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** Bad or missing input: exit code 2, like commander's own usage errors. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** The user pressed Ctrl-C or Esc at a prompt: not a failure, exit 130. */
export class CancelledError extends UserError {
  constructor(message = 'Cancelled.') {
    super(message, 130);
    this.name = 'CancelledError';
  }
}
