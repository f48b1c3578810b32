/**
 * Drive a command-line program through a real pseudo-terminal from tests.
 *
 * The program runs under `python3 test/support/pty-bridge.py`, which allocates
 * a pty (120x40 by default), makes it the controlling terminal of the program
 * (so `process.stdin.isTTY` and `process.stdout.isTTY` are both true) and
 * relays bytes both ways. No native npm module is needed.
 *
 * Typical wizard test:
 *
 *   const s = spawnInPty('node', ['bin/ha-wordpress.js', 'init']);
 *   await s.expect('Project name');      // wait for the prompt before typing
 *   s.type('my-site');                   // text + Enter
 *   await s.expect('API token');
 *   s.type('secret');                    // password prompts work the same way
 *   await s.expect('Region');
 *   s.write(s.keys.down);                // arrow down in a select ...
 *   await s.expect('❯ Frankfurt');       // ... wait for the redraw ...
 *   s.write(s.keys.enter);               // ... then confirm the highlighted choice
 *   await s.expect('Proceed?');
 *   s.type('y');
 *   expect(await s.wait()).toEqual({ code: 0, signal: null });
 *
 * Rules of thumb:
 *  - Always `expect` the prompt before typing its answer. Text typed while no
 *    prompt is active is echoed by the terminal driver (a password would leak
 *    into the transcript) and may be consumed by the wrong prompt.
 *  - `expect` consumes output up to the end of its match; the next `expect`
 *    only looks at later output. Matching is done on the ANSI-stripped log of
 *    the output (`transcript()`), in which every redraw of a prompt is a new
 *    line: while typing 'ab' you get "? Name:", "? Name: a", "? Name: ab".
 *    It is a log, not a screen: use `screen()` to see what a person would
 *    currently see (e.g. the final "✔ Name: ab").
 *  - Answering @inquirer/prompts (7.x):
 *      input/number/password: `type(text)`. After a validation error the
 *        rejected text stays in the line: `write(keys.clearLine)` first.
 *      select: `write(keys.down)` (or up), `expect('❯ Choice')` to see the
 *        redraw, then `write(keys.enter)`. Several keys in one write also work.
 *      confirm: `type('y')` / `type('n')`, or `write(keys.enter)` for the default.
 *      Ctrl+C: `write(keys.ctrlC)` makes the prompt reject with ExitPromptError.
 *  - Sessions started inside a vitest test are killed automatically when the
 *    test finishes (also on timeout/failure). Call `killAllPtySessions()` in
 *    `afterEach`/`afterAll` if you spawn from hooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { onTestFinished } from 'vitest';

export interface ExitStatus {
  /** Exit code of the program, or null if it was killed by a signal. */
  code: number | null;
  /** Name of the signal that killed the program (e.g. 'SIGTERM'), or null. */
  signal: string | null;
}

export interface SpawnPtyOptions {
  cwd?: string;
  /** Merged over `process.env` (a value of `undefined` removes a variable). TERM defaults to xterm-256color. */
  env?: NodeJS.ProcessEnv;
  /** Terminal width, default 120. */
  cols?: number;
  /** Terminal height, default 40. */
  rows?: number;
  /** Default timeout of `expect`/`wait`, default 30 s (a CLI starting on a busy 2-core CI machine takes seconds). */
  timeoutMs?: number;
  /** Wait this long after each successful `expect` before it resolves (default 0). */
  settleMs?: number;
  /** Hard limit on the life of the session; the program is killed after it. Default 5 min. */
  lifetimeMs?: number;
  /** Kill the program when the current vitest test finishes. Default true. */
  autoCleanup?: boolean;
  /** Mirror the raw terminal output to stderr (also enabled by env PTY_DEBUG=1). */
  debug?: boolean;
  /** Python interpreter, default env PTY_PYTHON or 'python3'. */
  python?: string;
}

export interface ExpectMatch {
  /** The matched text. */
  text: string;
  /** The RegExp match (with capture groups) when the pattern was a RegExp. */
  match: RegExpExecArray | null;
  /** The ANSI-stripped output that was consumed by this expect (up to the end of the match). */
  before: string;
}

export interface PtySession {
  /**
   * Wait until the ANSI-stripped output produced since the previous successful
   * expect contains `pattern`; resolves with the matched text and consumes the
   * output up to the end of the match. Rejects with the recent screen content
   * when the timeout elapses or the program exits first.
   */
  expect(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Like `expect`, but resolves with details (capture groups, consumed text). */
  expectMatch(pattern: string | RegExp, timeoutMs?: number): Promise<ExpectMatch>;
  /** Send raw bytes to the program's terminal (e.g. `keys.down`). No-op once it has exited. */
  write(data: string): void;
  /** Send a line of text followed by Enter ('\r', as a real keyboard does). */
  type(line: string): void;
  /** Common key sequences for `write`. */
  readonly keys: Readonly<PtyKeys>;
  /** Whole output so far, ANSI-stripped; each redraw (CR, erase line, cursor up...) starts a new line. */
  transcript(): string;
  /** Whole output so far, exactly as the program wrote it (LF became CRLF in the tty). */
  rawTranscript(): string;
  /** What the terminal currently shows (visible rows; `scrollback` adds lines scrolled off the top). */
  screen(options?: { scrollback?: boolean }): string;
  /** Resolves (never rejects) when the program has exited and its output is drained. */
  readonly exited: Promise<ExitStatus>;
  /** Exit status once known, otherwise undefined. */
  readonly exitStatus: ExitStatus | undefined;
  /** Wait for the program to exit; rejects with the screen after `timeoutMs`. */
  wait(timeoutMs?: number): Promise<ExitStatus>;
  /** Send a signal (default SIGTERM) to the program; it is SIGKILLed if still alive 1.5 s later. */
  kill(signal?: NodeJS.Signals): void;
  /** Kill (if running) and wait for the exit. */
  dispose(): Promise<ExitStatus>;
  /** Stop sending input: closes the bridge's stdin (the program keeps running). */
  closeInput(): void;
}

export interface PtyKeys {
  up: string;
  down: string;
  left: string;
  right: string;
  enter: string;
  tab: string;
  space: string;
  backspace: string;
  escape: string;
  home: string;
  end: string;
  /** Deletes the whole current input line (readline Ctrl+U). */
  clearLine: string;
  ctrlC: string;
  ctrlD: string;
}

export const keys: Readonly<PtyKeys> = Object.freeze({
  up: '\x1b[A',
  down: '\x1b[B',
  right: '\x1b[C',
  left: '\x1b[D',
  enter: '\r',
  tab: '\t',
  space: ' ',
  backspace: '\x7f',
  escape: '\x1b',
  home: '\x1b[H',
  end: '\x1b[F',
  clearLine: '\x15',
  ctrlC: '\x03',
  ctrlD: '\x04',
});

const BRIDGE = path.join(__dirname, 'pty-bridge.py');
const live = new Set<PtySessionImpl>();
let exitHookInstalled = false;

/** Start `command args...` inside a pseudo-terminal. */
export function spawnInPty(command: string, args: string[] = [], options: SpawnPtyOptions = {}): PtySession {
  const session = new PtySessionImpl(command, args, options);
  if (options.autoCleanup !== false) {
    try {
      // Runs after the test, also when it failed or timed out.
      onTestFinished(async () => {
        await session.dispose();
      });
    } catch {
      // Not inside a running test (e.g. beforeAll): rely on killAllPtySessions / lifetimeMs / process exit.
    }
  }
  return session;
}

/** Kill every session that is still running and wait for them to exit. */
export async function killAllPtySessions(): Promise<void> {
  await Promise.all([...live].map((s) => s.dispose()));
}

/** Remove CSI, OSC and other escape sequences, CRs and other control characters (keeps \n and \t). */
export function stripAnsi(text: string): string {
  let out = '';
  new AnsiParser({
    text: (s) => (out += s),
    control: (c) => {
      if (c === '\n' || c === '\t') out += c;
    },
  }).feed(text);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------

interface PendingExpect {
  pattern: string | RegExp;
  timeoutMs: number;
  error: Error;
  timer: NodeJS.Timeout;
  resolve: (m: ExpectMatch) => void;
  reject: (e: Error) => void;
}

class PtySessionImpl implements PtySession {
  readonly keys = keys;
  readonly exited: Promise<ExitStatus>;
  exitStatus: ExitStatus | undefined;

  private readonly proc: ChildProcess;
  private readonly stdin: Writable;
  private readonly label: string;
  private readonly timeoutMs: number;
  private readonly settleMs: number;
  private readonly cols: number;
  private readonly rows: number;
  private readonly debug: boolean;
  private raw = '';
  private readonly log = new CleanLog();
  private consumed = 0;
  private bridgeStderr = '';
  private statusLine = '';
  private spawnError: Error | undefined;
  private pending: PendingExpect | undefined;
  private inputOpen = true;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private readonly parser: AnsiParser;
  private readonly term: Screen;
  private resolveExited!: (s: ExitStatus) => void;

  constructor(command: string, args: string[], options: SpawnPtyOptions) {
    this.cols = options.cols ?? 120;
    this.rows = options.rows ?? 40;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.settleMs = options.settleMs ?? 0;
    this.debug = options.debug ?? process.env.PTY_DEBUG === '1';
    this.label = [command, ...args].join(' ');
    this.term = new Screen(this.cols, this.rows);
    this.parser = new AnsiParser({
      text: (s) => {
        this.log.text(s);
        this.term.text(s);
      },
      control: (c) => {
        this.log.control(c);
        this.term.control(c);
      },
      csi: (params, final, prefix) => {
        this.log.csi(params, final, prefix);
        this.term.csi(params, final, prefix);
      },
    });
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));

    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const python = options.python ?? process.env.PTY_PYTHON ?? 'python3';
    const bridgeArgs = [BRIDGE, '--cols', String(this.cols), '--rows', String(this.rows), '--', command, ...args];
    this.proc = spawn(python, bridgeArgs, {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    live.add(this);
    installExitHook();

    this.stdin = this.proc.stdin!;
    this.stdin.on('error', () => {
      // EPIPE after the program exited: input is simply dropped.
      this.inputOpen = false;
    });
    const out = this.proc.stdout!;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => this.onOutput(chunk));
    const err = this.proc.stderr!;
    err.setEncoding('utf8');
    err.on('data', (chunk: string) => (this.bridgeStderr += chunk));
    const status = this.proc.stdio[3] as Readable | null;
    if (status) {
      status.setEncoding('utf8');
      status.on('data', (chunk: string) => (this.statusLine += chunk));
      status.on('error', () => {});
    }
    this.proc.on('error', (e) => {
      this.spawnError ??= e;
    });
    this.proc.on('close', (code, signal) => this.onClose(code, signal));

    this.lifetimeTimer = setTimeout(() => this.kill('SIGKILL'), options.lifetimeMs ?? 5 * 60_000);
    this.lifetimeTimer.unref();
  }

  // --- output -------------------------------------------------------------

  private onOutput(chunk: string): void {
    this.raw += chunk;
    this.parser.feed(chunk);
    if (this.debug) process.stderr.write(chunk);
    this.check();
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitStatus) return;
    let status: ExitStatus = { code, signal };
    try {
      const parsed = JSON.parse(this.statusLine.trim()) as { code: number | null; signal: string | null; error: string | null };
      status = { code: parsed.code, signal: parsed.signal };
      if (parsed.error) this.spawnError ??= new Error(`cannot run ${this.label}: ${parsed.error}`);
    } catch {
      if (this.spawnError === undefined && !this.statusLine) {
        // The bridge died without reporting (crash, SIGKILL, python missing).
        const why = this.bridgeStderr.trim();
        if (why) this.spawnError = new Error(`pty bridge failed: ${why}`);
      }
    }
    this.exitStatus = status;
    this.inputOpen = false;
    live.delete(this);
    clearTimeout(this.lifetimeTimer);
    if (this.killTimer) clearTimeout(this.killTimer);
    this.check();
    if (this.pending) this.fail(this.pending, this.exitReason());
    this.resolveExited(status);
  }

  private exitReason(): string {
    if (this.spawnError) return `the program could not be run: ${this.spawnError.message}`;
    const s = this.exitStatus!;
    return s.signal ? `the program was killed by ${s.signal}` : `the program exited with code ${s.code}`;
  }

  // --- expect -------------------------------------------------------------

  expect(pattern: string | RegExp, timeoutMs?: number): Promise<string> {
    return this.expectInternal(pattern, timeoutMs, new Error()).then((m) => m.text);
  }

  expectMatch(pattern: string | RegExp, timeoutMs?: number): Promise<ExpectMatch> {
    return this.expectInternal(pattern, timeoutMs, new Error());
  }

  private expectInternal(pattern: string | RegExp, timeoutMs: number | undefined, error: Error): Promise<ExpectMatch> {
    if (pattern instanceof RegExp && (pattern.global || pattern.sticky)) {
      pattern = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    }
    const p = pattern;
    const ms = timeoutMs ?? this.timeoutMs;
    if (this.pending) {
      error.message = `expect(${show(p)}) called while expect(${show(this.pending.pattern)}) is still waiting; await each expect before the next`;
      return Promise.reject(error);
    }
    const found = new Promise<ExpectMatch>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending === pending) this.fail(pending, `timed out after ${ms} ms`);
      }, ms);
      const pending: PendingExpect = { pattern: p, timeoutMs: ms, error, timer, resolve, reject };
      this.pending = pending;
      this.check();
      if (this.pending === pending && this.exitStatus) this.fail(pending, this.exitReason());
    });
    if (this.settleMs <= 0) return found;
    return found.then(async (m) => {
      await sleep(this.settleMs);
      return m;
    });
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const hay = this.log.value.slice(this.consumed);
    let index: number;
    let text: string;
    let match: RegExpExecArray | null = null;
    if (typeof p.pattern === 'string') {
      index = hay.indexOf(p.pattern);
      text = p.pattern;
    } else {
      match = p.pattern.exec(hay);
      index = match ? match.index : -1;
      text = match ? match[0] : '';
    }
    if (index < 0) return;
    const before = hay.slice(0, index + text.length);
    this.consumed += index + text.length;
    clearTimeout(p.timer);
    this.pending = undefined;
    p.resolve({ text, match, before });
  }

  private fail(p: PendingExpect, why: string): void {
    clearTimeout(p.timer);
    this.pending = undefined;
    const unconsumed = this.log.value.slice(this.consumed);
    const tail = unconsumed.length > 1500 ? '…' + unconsumed.slice(-1500) : unconsumed;
    const screen = this.screen()
      .split('\n')
      .slice(-20)
      .map((l) => '  | ' + l)
      .join('\n');
    p.error.message =
      `expect(${show(p.pattern)}) failed: ${why} (command: ${this.label}).\n` +
      `--- screen (last lines) ---\n${screen || '  | <empty>'}\n` +
      `--- unmatched output since last expect (ANSI-stripped) ---\n${tail || '<none>'}` +
      (this.bridgeStderr.trim() ? `\n--- bridge stderr ---\n${this.bridgeStderr.trim()}` : '');
    p.reject(p.error);
  }

  // --- input --------------------------------------------------------------

  write(data: string): void {
    if (!this.inputOpen || this.exitStatus) return;
    this.stdin.write(data);
  }

  type(line: string): void {
    this.write(line + '\r');
  }

  closeInput(): void {
    if (!this.inputOpen) return;
    this.inputOpen = false;
    this.stdin.end();
  }

  // --- output views -------------------------------------------------------

  transcript(): string {
    return this.log.value;
  }

  rawTranscript(): string {
    return this.raw;
  }

  screen(options: { scrollback?: boolean } = {}): string {
    return this.term.render(options.scrollback ?? false);
  }

  // --- lifecycle ----------------------------------------------------------

  wait(timeoutMs?: number): Promise<ExitStatus> {
    if (this.exitStatus) return Promise.resolve(this.exitStatus);
    const error = new Error();
    const ms = timeoutMs ?? this.timeoutMs;
    return new Promise<ExitStatus>((resolve, reject) => {
      const timer = setTimeout(() => {
        const screen = this.screen()
          .split('\n')
          .slice(-20)
          .map((l) => '  | ' + l)
          .join('\n');
        error.message = `wait(): ${this.label} still running after ${ms} ms.\n--- screen (last lines) ---\n${screen}`;
        reject(error);
      }, ms);
      void this.exited.then((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitStatus || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      // The bridge forwards the signal to the program's process group and
      // escalates to SIGKILL itself after 1.5 s.
      this.proc.kill(signal);
    } catch {
      /* already gone */
    }
    if (!this.killTimer) {
      this.killTimer = setTimeout(() => {
        try {
          this.proc.kill('SIGKILL'); // last resort: the bridge itself is stuck
        } catch {
          /* already gone */
        }
      }, 4000);
      this.killTimer.unref();
    }
  }

  async dispose(): Promise<ExitStatus> {
    this.kill();
    return this.exited;
  }

  /** Synchronous best-effort kill used at process exit. */
  killSync(): void {
    try {
      this.proc.kill('SIGTERM');
    } catch {
      /* ignore */
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // The bridge also notices when its parent disappears, this is just faster.
  process.once('exit', () => {
    for (const s of live) s.killSync();
  });
}

function show(p: string | RegExp): string {
  return typeof p === 'string' ? JSON.stringify(p) : String(p);
}

// ---------------------------------------------------------------------------
// Minimal ANSI/VT parser (stateful, so sequences split across chunks are fine)

interface ParserHandlers {
  text(s: string): void;
  control(c: string): void;
  csi?(params: number[], final: string, prefix: string): void;
}

class AnsiParser {
  private state: 'ground' | 'esc' | 'escInter' | 'csi' | 'osc' | 'oscEsc' | 'str' | 'strEsc' = 'ground';
  private buf = '';

  constructor(private readonly h: ParserHandlers) {}

  feed(data: string): void {
    let text = '';
    const flush = () => {
      if (text) this.h.text(text);
      text = '';
    };
    for (const ch of data) {
      const c = ch.codePointAt(0)!;
      switch (this.state) {
        case 'ground':
          if (c === 0x1b) {
            flush();
            this.state = 'esc';
          } else if (c === 0x9b) {
            flush();
            this.state = 'csi';
            this.buf = '';
          } else if (c < 0x20 || c === 0x7f) {
            flush();
            this.h.control(ch);
          } else {
            text += ch;
          }
          break;
        case 'esc':
          if (ch === '[') {
            this.state = 'csi';
            this.buf = '';
          } else if (ch === ']') {
            this.state = 'osc';
          } else if (ch === 'P' || ch === 'X' || ch === '^' || ch === '_') {
            this.state = 'str'; // DCS/SOS/PM/APC: skip until ST
          } else if (c >= 0x20 && c <= 0x2f) {
            this.state = 'escInter'; // e.g. ESC ( B
          } else {
            this.state = 'ground'; // two-character sequence (ESC 7, ESC M, ...)
          }
          break;
        case 'escInter':
          if (c >= 0x30 && c <= 0x7e) this.state = 'ground';
          break;
        case 'csi':
          if (c >= 0x40 && c <= 0x7e) {
            this.state = 'ground';
            this.dispatchCsi(this.buf, ch);
          } else if (c === 0x1b) {
            this.state = 'esc';
          } else {
            this.buf += ch;
          }
          break;
        case 'osc':
        case 'str':
          if (c === 0x07) this.state = 'ground';
          else if (c === 0x1b) this.state = this.state === 'osc' ? 'oscEsc' : 'strEsc';
          break;
        case 'oscEsc':
        case 'strEsc':
          this.state = ch === '\\' ? 'ground' : this.state === 'oscEsc' ? 'osc' : 'str';
          break;
      }
    }
    flush();
  }

  private dispatchCsi(body: string, final: string): void {
    if (!this.h.csi) return;
    const m = /^([<=>?]?)([\d;:]*)/.exec(body);
    const prefix = m?.[1] ?? '';
    const params = (m?.[2] ?? '')
      .split(';')
      .filter((p, i, a) => p !== '' || a.length > 1)
      .map((p) => (p === '' ? 0 : Number.parseInt(p, 10)));
    this.h.csi(params, final, prefix);
  }
}

// ---------------------------------------------------------------------------
// ANSI-stripped log of the output. Escape sequences are removed; where the
// program moves the cursor back to redraw (lone CR, erase line, cursor up,
// cursor to column 1, ...) a line break is inserted so that every redraw of
// a prompt becomes its own line instead of being glued to the previous one.

class CleanLog {
  value = '';
  private dirty = false; // text written since the last line break
  private pendingCr = false;

  text(s: string): void {
    this.resolveCr(false);
    this.value += s;
    this.dirty = true;
  }

  control(c: string): void {
    if (c === '\r') {
      this.resolveCr(false);
      this.pendingCr = true;
      return;
    }
    this.resolveCr(c === '\n');
    if (c === '\n') {
      this.value += '\n';
      this.dirty = false;
    } else if (c === '\t') {
      this.value += '\t';
      this.dirty = true;
    }
  }

  csi(params: number[], final: string, prefix: string): void {
    this.resolveCr(false);
    if (prefix !== '') return;
    const p0 = params[0] ?? 0;
    const redraw = 'ABEFHfJ'.includes(final) || (final === 'G' && p0 <= 1) || (final === 'K' && p0 === 2);
    if (redraw) this.lineBreak();
  }

  private resolveCr(followedByLf: boolean): void {
    if (!this.pendingCr) return;
    this.pendingCr = false;
    if (!followedByLf) this.lineBreak();
  }

  private lineBreak(): void {
    if (!this.dirty) return;
    this.value += '\n';
    this.dirty = false;
  }
}

// ---------------------------------------------------------------------------
// Minimal screen emulation: enough for readline/@inquirer redraws.

class Screen {
  private lines: string[][] = [[]];
  private row = 0;
  private col = 0;
  private top = 0; // index in `lines` of the first visible row

  constructor(
    private readonly cols: number,
    private readonly rows: number,
  ) {}

  text(s: string): void {
    for (const ch of s) {
      if (this.col >= this.cols) {
        this.col = 0;
        this.lineFeed();
      }
      const line = this.line(this.row);
      while (line.length < this.col) line.push(' ');
      line[this.col] = ch;
      this.col++;
    }
  }

  control(c: string): void {
    if (c === '\r') this.col = 0;
    else if (c === '\n' || c === '\v' || c === '\f') this.lineFeed();
    else if (c === '\b') this.col = Math.max(0, Math.min(this.col, this.cols - 1) - 1);
    else if (c === '\t') this.col = Math.min(this.cols - 1, (Math.floor(this.col / 8) + 1) * 8);
  }

  csi(params: number[], final: string, prefix: string): void {
    if (prefix !== '') return; // private modes (?25h etc.) do not move anything
    const n = Math.max(1, params[0] ?? 1);
    switch (final) {
      case 'A':
        this.row = Math.max(this.top, this.row - n);
        break;
      case 'B':
        this.row = Math.min(this.top + this.rows - 1, this.row + n);
        break;
      case 'C':
        this.col = Math.min(this.cols - 1, this.col + n);
        break;
      case 'D':
        this.col = Math.max(0, Math.min(this.col, this.cols - 1) - n);
        break;
      case 'E':
        this.row = Math.min(this.top + this.rows - 1, this.row + n);
        this.col = 0;
        break;
      case 'F':
        this.row = Math.max(this.top, this.row - n);
        this.col = 0;
        break;
      case 'G':
        this.col = Math.min(this.cols - 1, n - 1);
        break;
      case 'H':
      case 'f':
        this.row = this.top + Math.min(this.rows, Math.max(1, params[0] ?? 1)) - 1;
        this.col = Math.min(this.cols, Math.max(1, params[1] ?? 1)) - 1;
        break;
      case 'J': {
        const mode = params[0] ?? 0;
        if (mode === 0) {
          this.line(this.row).length = Math.min(this.line(this.row).length, this.col);
          this.lines.length = Math.min(this.lines.length, this.row + 1);
        } else if (mode === 1) {
          for (let r = this.top; r < this.row; r++) this.lines[r] = [];
          this.eraseLine(1);
        } else {
          for (let r = this.top; r < this.lines.length; r++) this.lines[r] = [];
        }
        break;
      }
      case 'K':
        this.eraseLine(params[0] ?? 0);
        break;
      default:
        break; // SGR (m) and everything else: no effect on the text
    }
  }

  render(scrollback: boolean): string {
    const from = scrollback ? 0 : this.top;
    const out = this.lines.slice(from, this.top + this.rows).map((l) => l.join('').replace(/\s+$/, ''));
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out.join('\n');
  }

  private eraseLine(mode: number): void {
    const line = this.line(this.row);
    if (mode === 0) line.length = Math.min(line.length, this.col);
    else if (mode === 1) for (let i = 0; i <= this.col && i < line.length; i++) line[i] = ' ';
    else line.length = 0;
  }

  private lineFeed(): void {
    this.row++;
    this.line(this.row);
    if (this.row >= this.top + this.rows) this.top = this.row - this.rows + 1;
  }

  private line(r: number): string[] {
    while (this.lines.length <= r) this.lines.push([]);
    return this.lines[r]!;
  }
}
