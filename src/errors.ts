/**
 * Errors the user can act on. The top-level handler in cli.ts prints their
 * message as one line and exits with their code; anything else is a bug and
 * gets a short "unexpected error" line instead of a stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
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
