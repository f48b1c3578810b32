/**
 * Real tools the tests use where this machine has them, all run through
 * runTool/runToolSync: a run that fails, hangs or cannot start throws with
 * the tool's own output (the tail of stdout and stderr) and how long it ran,
 * so a failure in CI shows what the tool said, not a bare exit code or a
 * vitest timeout.
 *
 * Where a tool is missing, the test that needs it is skipped and its title
 * says which tool and which package provides it (`needs(...)`); no test
 * falls back to imitating a tool.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { describe, it, type TestFunction } from 'vitest';

const MIN = 60_000;

/**
 * How long one run of each tool may take before it is killed. CI runs the
 * suite on 2 cores beside the lab's containers, where an ansible-playbook
 * that takes 3 s on an idle machine takes 30 s and more: these bound a hung
 * tool, they are not estimates. `cli` is one run of the built CLI (runCli).
 */
export const STEP_TIMEOUT_MS = {
  /** ansible-roles' render of every template: 5 s idle, 220 s at load 16 on 2 cores. */
  'ansible-playbook': 10 * MIN,
  'ansible-lint': 5 * MIN,
  'ansible-vault': 2 * MIN,
  'ansible-inventory': 2 * MIN,
  terraform: 3 * MIN,
  /** pack runs the build (tsc); install unpacks ~200 packages from the cache (~2 min together at load 18). */
  npm: 8 * MIN,
  cli: 3 * MIN,
  /** One backup, restore or check of ~100 MB through the S3 stand-in: 20 s at load 15 on 2 cores. */
  restic: 5 * MIN,
  /** php, ssh-keygen, my_print_defaults, nft, sh, bash: each well under a second idle. */
  other: 1 * MIN,
} as const;
export type Step = keyof typeof STEP_TIMEOUT_MS;

const stepOf = (cmd: string): Step => (cmd in STEP_TIMEOUT_MS ? (cmd as Step) : 'other');

/**
 * A vitest test or hook timeout that outlasts the given runs one after
 * another (`budget({ terraform: 2 })`), plus a minute for the test's own
 * work: a slow step then fails with its own error and output, never with
 * vitest's "Test timed out".
 */
export function budget(steps: Partial<Record<Step, number>>): number {
  return Object.entries(steps).reduce((sum, [step, n]) => sum + STEP_TIMEOUT_MS[step as Step] * (n ?? 0), MIN);
}

/** How to get each tool, for skip reasons. */
const INSTALL: Record<string, string> = {
  'ansible-playbook': 'apt-get install ansible-core',
  'ansible-vault': 'apt-get install ansible-core',
  'ansible-inventory': 'apt-get install ansible-core',
  'ansible-lint': 'apt-get install ansible-lint',
  terraform: "install Terraform 1.5+ from HashiCorp's releases",
  php: 'apt-get install php-cli',
  my_print_defaults: 'apt-get install mariadb-client-core',
  'ssh-keygen': 'apt-get install openssh-client',
  curl: 'apt-get install curl',
  openssl: 'apt-get install openssl',
  nft: 'apt-get install nftables',
  unzip: 'apt-get install unzip',
  mariadbd: 'apt-get install mariadb-server',
  'mariadb-install-db': 'apt-get install mariadb-server',
  mariadb: 'apt-get install mariadb-client',
  'mariadb-dump': 'apt-get install mariadb-client',
  restic: 'apt-get install restic',
  haproxy: 'apt-get install haproxy',
  zipinfo: 'apt-get install unzip',
};

const found = new Map<string, boolean>();
export function has(tool: string): boolean {
  if (!found.has(tool)) found.set(tool, spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0);
  return found.get(tool)!;
}

/** Why these tools cannot be used here ("php is not on PATH (apt-get install php-cli)"), or undefined when they all can. */
export function missing(...tools: string[]): string | undefined {
  const gone = tools.filter((t) => !has(t));
  if (gone.length === 0) return undefined;
  const how = [...new Set(gone.map((t) => INSTALL[t]).filter(Boolean))];
  return `${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} not on PATH${how.length ? ` (${how.join('; ')})` : ''}`;
}

/**
 * `it`/`describe` for tests that can only run under a condition: with a
 * reason (one line), they are skipped and the title carries it.
 */
export function skipWhen(why: string | undefined) {
  const title = (name: string) => (why ? `${name} (skipped: ${why})` : name);
  return {
    why,
    it: (name: string, fn: TestFunction, timeout?: number) => it.skipIf(why !== undefined)(title(name), fn, timeout),
    describe: (name: string, fn: () => void) => describe.skipIf(why !== undefined)(title(name), fn),
  };
}

/** skipWhen for tests that need real tools: `needs('php').it(...)`. */
export const needs = (...tools: string[]) => skipWhen(missing(...tools));

export const HAS_TERRAFORM = has('terraform');
export const HAS_ANSIBLE = has('ansible-vault') && has('ansible-playbook');

/** Environment for terraform in tests: no phoning home, no user config. */
export const TF_ENV = { ...process.env, CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' };

export interface ToolOptions {
  cwd?: string;
  /** The whole environment (default: the test's). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (also when absent: a tool never waits on the test's stdin). */
  input?: string;
  /** Default: STEP_TIMEOUT_MS for the command. */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing: for tests that assert on the failure. */
  allowFailure?: boolean;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** The command, how it ended, its time and the tail of its output: an assertion message. */
  report: string;
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly result: ToolResult,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** The last lines of a stream, indented, capped in size (ansible can be long-winded). */
export function tail(text: string, lines = 40, chars = 6000): string {
  let t = text.replace(/\s+$/, '');
  if (t === '') return '  (empty)';
  let cut = '';
  const all = t.split('\n');
  if (all.length > lines) {
    cut = `  … ${all.length - lines} earlier lines\n`;
    t = all.slice(-lines).join('\n');
  }
  if (t.length > chars) {
    cut = `  … ${t.length - chars} earlier characters\n`;
    t = t.slice(-chars);
  }
  return (
    cut +
    t
      .split('\n')
      .map((l) => `  | ${l}`)
      .join('\n')
  );
}

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

interface Ending {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  error?: Error;
}

function finish(cmd: string, args: string[], opts: ToolOptions, timeoutMs: number, ms: number, stdout: string, stderr: string, end: Ending): ToolResult {
  const line = [cmd, ...args].map(quote).join(' ');
  const how = end.timedOut
    ? `was killed by the test's ${timeoutMs / 1000} s timeout`
    : end.error
      ? `failed (${end.error.message})`
      : end.signal
        ? `was killed by ${end.signal}`
        : `exited with code ${end.code}`;
  const where = opts.cwd ? ` (in ${opts.cwd})` : '';
  const report = `${line}${where} ${how} after ${(ms / 1000).toFixed(1)} s\n stdout:\n${tail(stdout)}\n stderr:\n${tail(stderr)}`;
  const result: ToolResult = { code: end.code ?? 1, stdout, stderr, ms, report };
  // Seen in CI's log before it becomes a failure.
  if (ms > timeoutMs / 2 && !end.timedOut) process.stderr.write(`slow step: ${line} took ${(ms / 1000).toFixed(0)} s of its ${timeoutMs / 1000} s timeout\n`);
  const exited = !end.timedOut && !end.error && !end.signal;
  if (!exited || (end.code !== 0 && !opts.allowFailure)) throw new ToolError(report, result);
  return result;
}

/**
 * Runs a tool without blocking the test's event loop (use it where the tool
 * talks to a server in the test process, and for the long ones). Throws a
 * ToolError, with the output, when it cannot start, is killed, outlives its
 * timeout or (unless allowFailure) exits non-zero.
 */
export function runTool(cmd: string, args: string[], opts: ToolOptions = {}): Promise<ToolResult> {
  const timeoutMs = opts.timeoutMs ?? STEP_TIMEOUT_MS[stepOf(cmd)];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // Its own process group: a timeout kills the tool's children too (ansible's forks).
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: 'pipe', detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let done = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined); // EPIPE: the tool did not read its input
    child.stdin.end(opts.input ?? '');
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 5000).unref();
    }, timeoutMs);
    const settle = (end: Omit<Ending, 'timedOut'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        resolve(finish(cmd, args, opts, timeoutMs, performance.now() - started, stdout, stderr, { ...end, timedOut }));
      } catch (e) {
        reject(e as Error);
      }
    };
    child.on('error', (error) => settle({ code: null, signal: null, error }));
    child.on('close', (code, signal) => settle({ code, signal }));
  });
}

/** runTool for short steps in synchronous tests; the same errors. */
export function runToolSync(cmd: string, args: string[], opts: ToolOptions = {}): ToolResult {
  const timeoutMs = opts.timeoutMs ?? STEP_TIMEOUT_MS[stepOf(cmd)];
  const started = performance.now();
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return finish(cmd, args, opts, timeoutMs, performance.now() - started, r.stdout ?? '', r.stderr ?? '', {
    code: r.status,
    signal: r.signal,
    timedOut,
    error: timedOut ? undefined : r.error,
  });
}

/** The exact plaintext of a vault file, as real ansible-vault decrypts it. */
export function ansibleVaultDecrypt(file: string, passwordFile: string): string {
  return runToolSync('ansible-vault', ['decrypt', '--vault-password-file', passwordFile, '--output', '-', file]).stdout;
}

/**
 * Evaluates an expression with real terraform console in `dir` and returns
 * its JSON value (base64 keeps console's quoting out of the way); when
 * terraform refuses it, `report` holds what terraform said.
 */
export function terraformEval(dir: string, expression: string, extraArgs: string[] = []): { ok: true; value: unknown } | { ok: false; report: string } {
  const r = runToolSync('terraform', ['console', '-no-color', ...extraArgs], {
    cwd: dir,
    input: `base64encode(jsonencode(${expression}))\n`,
    env: TF_ENV,
    allowFailure: true,
  });
  if (r.code !== 0) return { ok: false, report: r.report };
  // Warnings may come first; the value is the last line.
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('"')) return { ok: false, report: r.report };
  const b64 = JSON.parse(last) as string;
  return { ok: true, value: JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) };
}

/**
 * `terraform init` + `plan` in a directory holding only variables.tf and a
 * tfvars file: no provider is needed, and plan runs every validation block.
 * init must succeed; plan's failure is returned (the tests assert on it).
 */
export function terraformPlan(dir: string): { code: number; output: string; report: string } {
  runToolSync('terraform', ['init', '-input=false', '-backend=false', '-no-color'], { cwd: dir, env: TF_ENV });
  const plan = runToolSync('terraform', ['plan', '-input=false', '-lock=false', '-no-color'], { cwd: dir, env: TF_ENV, allowFailure: true });
  // Terraform wraps long messages and frames them with box-drawing characters.
  return { code: plan.code, output: (plan.stdout + plan.stderr).replace(/\s*│\s*/g, ' ').replace(/\s+/g, ' '), report: plan.report };
}
