/**
 * The one place output happens, so the one place secrets are redacted.
 * Every secret value the program learns is registered with `redact()`;
 * every line written through the logger (and every spinner text) has those
 * values replaced before it reaches the terminal.
 */
import { stripVTControlCharacters } from 'node:util';

const secrets = new Set<string>();
const MIN_SECRET_LENGTH = 4;

/** Registers a value that must never be printed. */
export function redact(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

/** Replaces every registered secret in `text` (longest first, so a secret that contains another is hidden whole). */
export function scrub(text: string): string {
  if (secrets.size === 0) return text;
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join('[redacted]');
  }
  return out;
}

export interface Logger {
  info(message: string): void;
  success(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Plain text to stdout (summaries, help-like output). */
  out(message: string): void;
}

const useColor = (stream: NodeJS.WriteStream) => Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';

function paint(stream: NodeJS.WriteStream, code: string, text: string): string {
  return useColor(stream) ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function write(stream: NodeJS.WriteStream, text: string): void {
  const clean = scrub(text);
  stream.write((useColor(stream) ? clean : stripVTControlCharacters(clean)) + '\n');
}

export const logger: Logger = {
  info: (m) => write(process.stderr, m),
  success: (m) => write(process.stderr, paint(process.stderr, '32', '✔ ') + m),
  warn: (m) => write(process.stderr, paint(process.stderr, '33', 'warning: ') + m),
  error: (m) => write(process.stderr, paint(process.stderr, '31', 'error: ') + m),
  out: (m) => write(process.stdout, m),
};
