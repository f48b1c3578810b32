/**
 * The one wrapper for the long-running child processes of `up` and `destroy`
 * (terraform, ansible-playbook): argv arrays and never a shell, an explicit
 * environment, every line of output into the phase's log file (scrubbed of
 * secrets), the last lines kept for the error, and a Ctrl-C that stops the
 * child gracefully instead of killing it.
 *
 * Why the child gets its own process group: a Ctrl-C at a terminal sends
 * SIGINT to the whole foreground group. If terraform were in ours it would
 * get that one *and* the one we forward, and two interrupts make terraform
 * exit at once without releasing its state lock. So the terminal's SIGINT
 * reaches only us, and we forward exactly one, to the child's group. A second
 * Ctrl-C kills the whole group. The child's stdin is closed: neither
 * terraform (-input=false) nor ansible reads it, and a background group must
 * not touch the terminal.
 *
 * execa starts the child and reads its output: no shell, `extendEnv: false`
 * (the environment is exactly the one given), the detached group, output
 * decoded and split into lines as it arrives, stdout kept for `-json`
 * commands, why a start failed (missing program, missing directory), and the
 * exit code or signal. What execa cannot do, and this module does itself:
 * signal a process group. `subprocess.kill()`, and with it execa's `timeout`,
 * `cancelSignal` and `forceKillAfterDelay`, signals the child's pid alone.
 * That is not enough for a forced stop: ansible-playbook's forked workers and
 * terraform's provider plugins are in the group, outlive a leader killed
 * alone, and keep our output pipes open (ansible's workers write to them), so
 * the run would not end. So every signal here (the forwarded Ctrl-C, the
 * forced kill, a timeout's stop) goes to the group with process.kill(-pid).
 *
 * execa 9 is ESM-only; it is loaded with import() on first use, so commands
 * that run no child (and --help) never load it.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { CancelledError, UserError } from '../errors.js';
import { scrub } from '../ui/logger.js';

type Execa = typeof import('execa');
let execaModule: Promise<Execa> | undefined;
const loadExeca = () => (execaModule ??= import('execa'));

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
  return now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/** A child process that failed: which step, its exit code and its last lines of output (stderr included). */
export class StepFailure extends Error {
  constructor(
    readonly step: string,
    readonly code: number,
    readonly tail: string[],
    message = `${step} exited with code ${code}`,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

export interface RunOptions {
  cwd: string;
  /** The child's whole environment: nothing of ours is added. */
  env: NodeJS.ProcessEnv;
  log: PhaseLog;
  /** What a failure calls the command ("terraform apply"); the program's name when absent. */
  step?: string;
  /** Each output line as it arrives (--verbose streams them). Already scrubbed. */
  onLine?: (line: string) => void;
  /** Collect stdout (for `-json` commands) instead of only logging it. */
  capture?: boolean;
  /** Tell the user what is happening on Ctrl-C: 1 when the child was asked to stop, 2 when it was killed. */
  onInterrupt?: (stage: number) => void;
  /** Stop the child when it runs longer than this: a SIGINT to its group, then a kill after `graceMs`. */
  timeoutMs?: number;
  /** How long a timed-out child has to stop after its SIGINT; 30 s when absent. */
  graceMs?: number;
  /**
   * A step that must not be cut short (a droplet half-way through its resize): under a command that finishes its step
   * (finishOnInterrupt), the first Ctrl-C is not passed on, and the child runs to its end; a second one asks it to
   * stop, a third kills it.
   */
  holdFirstInterrupt?: boolean;
}

export interface RunResult {
  /** The last lines of combined output, scrubbed. */
  tail: string[];
  /** stdout, when `capture` was set; '' otherwise. */
  stdout: string;
}

const TAIL = 25;

/** A running child, as the process-wide signal handler and the timeout see it. */
interface Running {
  pid: number;
  /** 0 running, 1 asked to stop (one SIGINT/SIGTERM sent to its group), 2 its group killed. */
  stage: number;
  interrupted: boolean;
  timedOut: boolean;
  onInterrupt?: (stage: number) => void;
  /** RunOptions.holdFirstInterrupt. */
  hold?: boolean;
}

/** The child currently running, so the process-wide signal handler can reach it. */
let current: Running | undefined;
let handlersInstalled = false;

/**
 * A command that finishes its step in progress on a Ctrl-C (scale and
 * replace finish the node in progress; drill starts what it broke again):
 * the first Ctrl-C calls its onFirst instead of exiting, and a child that
 * runs gets it too, as always; no new child starts after it. A second
 * Ctrl-C with no child running exits at once, after onSecond.
 */
interface Finisher {
  requested: boolean;
  onFirst: () => void;
  onSecond: () => void;
}
/** Innermost last: a drill that runs a scale holds one, and the scale another; a Ctrl-C reaches both. */
const finishers: Finisher[] = [];

/** Ctrl-C finishes the step in progress until `release` (see Finisher); `requested` says whether it was pressed. */
export function finishOnInterrupt(onFirst: () => void, onSecond: () => void): { requested: () => boolean; release: () => void } {
  installSignalHandlers();
  const me: Finisher = { requested: false, onFirst, onSecond };
  finishers.push(me);
  return {
    requested: () => me.requested,
    release: () => {
      const i = finishers.indexOf(me);
      if (i >= 0) finishers.splice(i, 1);
    },
  };
}

/** Whether a Ctrl-C asked the command in progress to stop at its next safe point (finishOnInterrupt). */
export const stopRequested = (): boolean => finishers.some((f) => f.requested);

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // the whole group is gone already
  }
}

/** The first stop asks (the signal forwarded once); any later one kills the group. */
function escalate(run: Running, sig: NodeJS.Signals): void {
  if (run.stage >= 2) return;
  run.stage += 1;
  signalGroup(run.pid, run.stage === 1 ? sig : 'SIGKILL');
}

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      // Commands finishing their step: the first Ctrl-C is theirs to act on (and a running child's, below).
      const first = finishers.filter((f) => !f.requested);
      for (const f of first) {
        f.requested = true;
        f.onFirst();
      }
      if (!current) {
        if (first.length) return;
        for (const f of finishers) f.onSecond();
        // Nothing to wait for: behave like the default handler.
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      // The command's first Ctrl-C, while a step it holds runs: that step finishes; the command stops after it.
      if (current.hold && current.stage === 0 && first.length) return;
      current.interrupted = true;
      escalate(current, sig);
      current.onInterrupt?.(current.stage);
    });
  }
}

/**
 * Runs one command to its end. A non-zero exit, or a timeout, is a
 * StepFailure carrying the last lines of output; a Ctrl-C is a
 * CancelledError once the child has stopped; a missing program is a
 * UserError naming it.
 */
export async function runChild(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  // Before the first await: a Ctrl-C from here on is ours to handle.
  installSignalHandlers();
  const name = path.basename(cmd);
  if (stopRequested()) throw new CancelledError(`Interrupted: ${name} was not started.`);
  const { execa } = await loadExeca();
  const step = opts.step ?? name;
  opts.log.line(`$ ${[cmd, ...args].join(' ')}`);

  const tail: string[] = [];
  const emit = (raw: string) => {
    const line = scrub(raw);
    opts.log.line(line);
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
    opts.onLine?.(line);
  };
  // execa hands these generators whole lines, decoded (utf8 is its default
  // encoding), without their newline (\r\n too); what they yield is what
  // execa keeps for result.stdout.
  const capture = opts.capture === true;
  const stdoutLines = function* (line: unknown) {
    emit(line as string);
    if (capture) yield line;
  };
  // A transform that keeps nothing for result.stderr: it yields no line.
  // eslint-disable-next-line require-yield
  const stderrLines = function* (line: unknown) {
    emit(line as string);
  };

  const subprocess = execa(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: stdoutLines,
    stderr: stderrLines,
    detached: true,
    reject: false,
  });
  const me: Running | undefined =
    subprocess.pid === undefined
      ? undefined
      : { pid: subprocess.pid, stage: 0, interrupted: false, timedOut: false, onInterrupt: opts.onInterrupt, hold: opts.holdFirstInterrupt };
  if (me) current = me;
  const timers: NodeJS.Timeout[] = [];
  if (me && opts.timeoutMs !== undefined) {
    const grace = opts.graceMs ?? 30_000;
    timers.push(
      setTimeout(() => {
        me.timedOut = true;
        escalate(me, 'SIGINT');
        timers.push(setTimeout(() => escalate(me, 'SIGINT'), grace));
      }, opts.timeoutMs),
    );
  }

  const r = await subprocess.finally(() => {
    for (const t of timers) clearTimeout(t);
    if (current === me) current = undefined;
  });

  if (r.exitCode === undefined && r.signal === undefined) {
    // It never started.
    opts.log.line(`[could not start: ${r.code ?? r.originalMessage}]`);
    if (r.code === 'ENOENT' && /"cwd" option is invalid/.test(r.originalMessage ?? ''))
      throw new UserError(`${step} could not start: its directory ${opts.cwd} does not exist`);
    if (r.code === 'ENOENT') throw new UserError(`${cmd} was not found on PATH`);
    if (r.code === 'EACCES') throw new UserError(`${cmd} is not executable (permission denied): check its mode, or put an executable ${name} first on PATH`);
    throw r;
  }
  const code = r.exitCode ?? 128 + (constants.signals[r.signal!] ?? 0);
  opts.log.line(r.signal ? `[killed by ${r.signal}]` : `[exit ${code}]`);
  if (me?.interrupted)
    throw new CancelledError(me.stage >= 2 ? `Interrupted: ${name} was killed before it finished its current step.` : `Interrupted: ${name} stopped cleanly.`);
  if (me?.timedOut) throw new StepFailure(step, code, tail, `${step} did not finish within ${seconds(opts.timeoutMs!)} and was stopped`);
  if (code !== 0) throw new StepFailure(step, code, tail);
  if (r.failed) throw r; // exit 0 but execa failed (its output buffer overflowed): a bug, not the user's to fix
  return { tail, stdout: r.stdout ?? '' };
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * A quick probe such as `terraform version -json`: its stdout, or undefined
 * when the program is absent, fails or hangs past `timeoutMs`. execa's own
 * timeout serves here: a version command is one process, not a group.
 */
export async function probe(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<string | undefined> {
  const { execa } = await loadExeca();
  const r = await execa(cmd, args, { env, extendEnv: false, stdin: 'ignore', reject: false, timeout: timeoutMs, forceKillAfterDelay: 2000 });
  return r.failed ? undefined : r.stdout;
}
