/**
 * The one wrapper for the long-running child processes of `up` and `destroy`
 * (terraform, ansible-playbook): argv arrays and never a shell, an explicit
 * environment, every line of output into the phase's log file (scrubbed of
 * secrets), the last lines kept for the error report, and a Ctrl-C that
 * stops the child gracefully instead of killing it.
 *
 * Why the child gets its own process group: a Ctrl-C at a terminal sends
 * SIGINT to the whole foreground group. If terraform were in ours it would
 * get that one *and* the one we forward, and two interrupts make terraform
 * exit at once without releasing its state lock. So the terminal's SIGINT
 * reaches only us, and we forward exactly one per keypress. The child's
 * stdin is closed: neither terraform (-input=false) nor ansible reads it,
 * and a background group must not touch the terminal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { CancelledError, UserError } from '../errors.js';
import { scrub } from '../ui/logger.js';

/** One phase's log file: every command and every line of its output, scrubbed. */
export class PhaseLog {
  readonly file: string;
  private stream: WriteStream;

  constructor(dir: string, phase: string, stamp: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${stamp}-${phase}.log`);
    this.stream = createWriteStream(this.file, { flags: 'a', mode: 0o600 });
  }

  line(text: string): void {
    this.stream.write(scrub(text) + '\n');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

/** A timestamp for log file names: sortable, no colons (2026-11-22T03-15-00Z). */
export function logStamp(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: PhaseLog;
  /** Each output line as it arrives (--verbose streams them). Already scrubbed. */
  onLine?: (line: string) => void;
  /** Collect stdout (for `-json` commands) instead of only logging it. */
  capture?: boolean;
  /** Tell the user what is happening when Ctrl-C arrives. */
  onInterrupt?: (count: number) => void;
}

export interface RunResult {
  code: number;
  /** The last lines of combined output, scrubbed, for error reports. */
  tail: string[];
  stdout: string;
}

const TAIL = 25;

/** The child currently running, so the process-wide signal handler can reach it. */
let current: { pid: number; interrupts: number; onInterrupt?: (n: number) => void } | undefined;
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (!current) {
        // Nothing to wait for: behave like the default handler.
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      current.interrupts += 1;
      current.onInterrupt?.(current.interrupts);
      try {
        process.kill(-current.pid, sig);
      } catch {
        // already gone
      }
    });
  }
}

export async function runChild(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  installSignalHandlers();
  opts.log.line(`$ ${[cmd, ...args].join(' ')}`);
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const tail: string[] = [];
  const out: string[] = [];
  const me = { pid: child.pid ?? 0, interrupts: 0, onInterrupt: opts.onInterrupt };

  const lines = (stream: NodeJS.ReadableStream, isStdout: boolean) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      if (isStdout && opts.capture) out.push(chunk);
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        emit(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (buf) emit(buf);
      buf = '';
    });
  };
  const emit = (raw: string) => {
    const line = scrub(raw.replace(/\r$/, ''));
    opts.log.line(line);
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
    opts.onLine?.(line);
  };
  lines(child.stdout, true);
  lines(child.stderr, false);

  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new UserError(`${cmd} was not found on PATH`));
      else reject(err);
    });
    if (child.pid !== undefined) current = me;
    child.on('close', (c, signal) => resolve(c ?? (signal === 'SIGINT' ? 130 : 1)));
  }).finally(() => {
    if (current === me) current = undefined;
  });
  opts.log.line(`[exit ${code}]`);
  if (me.interrupts > 0) throw new CancelledError(`Interrupted: ${path.basename(cmd)} stopped cleanly.`);
  return { code, tail, stdout: out.join('') };
}

/** A quick probe such as `terraform version -json`: output, or undefined when the program is absent or fails. */
export function probe(cmd: string, args: string[], env: NodeJS.ProcessEnv): string | undefined {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout;
}
