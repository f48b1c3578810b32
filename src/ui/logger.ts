/**
 * The one place output happens, so the one place secrets are redacted.
 * Every secret value the program learns is registered with `redact()`;
 * every line written through the logger (and every spinner text, phase log
 * and lab log line) has each of those values replaced before it goes
 * anywhere: the value itself and every form it takes in a child's output
 * (JSON-escaped, URL-encoded, base64, quoted: secrets/forms.ts).
 */
import { stripVTControlCharacters } from 'node:util';
import { secretForms } from '../secrets/forms.js';

const secrets = new Set<string>();
/** Every form of every registered secret, longest first (so a form that contains another is hidden whole). */
let forms: string[] = [];
const MIN_SECRET_LENGTH = 4;

/** Registers a value that must never be printed, in any of its forms. */
export function redact(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  forms = [...new Set([...forms, ...secretForms(value)])].sort((a, b) => b.length - a.length);
}

/** Replaces every form of every registered secret in `text`. */
export function scrub(text: string): string {
  let out = text;
  for (const f of forms) {
    if (out.includes(f)) out = out.split(f).join('[redacted]');
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
