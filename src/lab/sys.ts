/**
 * The lab's small system helpers: one way to run a host command (argv, no
 * shell, explicit environment, a timeout, stderr in the error, every call in
 * the lab's log file), process and mount inspection through /proc, and a
 * pid-file lock.
 *
 * Why not runners/process.ts: that wrapper is for long phases (terraform,
 * ansible) with a PhaseLog and Ctrl-C forwarding; the lab runs dozens of short
 * root commands whose output is data, and a Ctrl-C should simply stop us
 * (the next labUp recovers from wherever we were).
 */
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import { scrub } from '../ui/logger.js';
import { sleep } from '../util/sleep.js';
import { parseMountinfo } from './plan.js';

export interface Ctx {
  log: Logger;
  status: (text: string) => void;
  /** Append-only log of every command and its output (the lab state dir's lab.log). */
  logFile?: string;
}

/** The environment every host command gets: sbin on PATH (debootstrap, nft), C messages to parse, apt never asking. */
export function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = ['HOME', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'TMPDIR'];
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
  };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

export function logLine(ctx: Ctx, text: string): void {
  if (!ctx.logFile) return;
  try {
    mkdirSync(path.dirname(ctx.logFile), { recursive: true });
    appendFileSync(ctx.logFile, scrub(text) + '\n', { mode: 0o600 });
  } catch {
    // The log is a diagnostic aid; never fail the lab because of it.
  }
}

const stamp = () => new Date().toISOString().slice(11, 23);

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly code: number | null,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    const last = (stderr.trim() || stdout.trim()).split('\n').slice(-3).join(' | ');
    super(`${cmd} failed (${code === null ? 'killed' : `exit ${code}`})${last ? `: ${last}` : ''}`);
  }
}

export interface RunOpts {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that are not errors (e.g. `conntrack -D` finding nothing). */
  okCodes?: number[];
}

/** Runs a host command to completion; rejects with CommandError (stderr included) on a bad exit. */
export function run(ctx: Ctx, cmd: string, args: string[], o: RunOpts = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  logLine(ctx, `${stamp()} $ ${[cmd, ...args].join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: o.env ?? hostEnv(), cwd: o.cwd, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as unknown as { code: number }).code : null) : 0;
        const out = `${stdout}${stderr}`.trim();
        if (out) logLine(ctx, out.length > 20_000 ? `${out.slice(0, 10_000)}\n…\n${out.slice(-10_000)}` : out);
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
          return reject(new UserError(`${path.basename(cmd)} is not installed on this machine: install it, then run the command again`));
        if (err && !(code !== null && o.okCodes?.includes(code))) {
          logLine(ctx, `[exit ${code ?? 'killed'}]`);
          return reject(new CommandError(path.basename(cmd), code, stderr, stdout));
        }
        resolve({ stdout, stderr, code: code ?? 0 });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

/** Like run, for commands that take minutes (debootstrap, apt): streams output lines to the log and to `onLine`. */
export function runLong(ctx: Ctx, cmd: string, args: string[], o: RunOpts & { onLine?: (line: string) => void } = {}): Promise<void> {
  logLine(ctx, `${stamp()} $ ${[cmd, ...args].join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env ?? hostEnv(), cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        logLine(ctx, line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
        o.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30 * 60_000);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new UserError(`${path.basename(cmd)} is not installed on this machine: install it, then run the command again`) : err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (buf) logLine(ctx, buf);
      logLine(ctx, `${stamp()} [exit ${code ?? 'killed'}]`);
      if (code === 0) resolve();
      else reject(new CommandError(path.basename(cmd), code, tail.join('\n'), ''));
    });
  });
}

// ---------------------------------------------------------------------------
// Processes

export async function cmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is alive and its command line contains every one of `marks` (guards against a recycled pid). */
export async function isOurs(pid: number | undefined, marks: string[]): Promise<boolean> {
  if (!pid || pid <= 1) return false;
  const cl = await cmdline(pid);
  if (!cl || cl.length === 0) return false; // gone, or a zombie
  const joined = cl.join('\0');
  return marks.every((m) => joined.includes(m));
}

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number((await fs.readFile(file, 'utf8')).trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!(await cmdline(pid))?.length) return true;
    await sleep(100);
  }
  return !(await cmdline(pid))?.length;
}

/** Direct children of a process (from /proc/<pid>/task/<pid>/children). */
export async function children(pid: number): Promise<number[]> {
  try {
    const tasks = await fs.readdir(`/proc/${pid}/task`);
    const out: number[] = [];
    for (const t of tasks) {
      const txt = await fs.readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
      out.push(...txt.split(/\s+/).filter(Boolean).map(Number));
    }
    return out;
  } catch {
    return [];
  }
}

/** The pid (in our namespace) of the process under `root` that is PID 1 of its own pid namespace: a container's init. */
export async function findInit(root: number, depth = 3): Promise<number | undefined> {
  for (const c of await children(root)) {
    const status = await fs.readFile(`/proc/${c}/status`, 'utf8').catch(() => '');
    const nspid = status
      .match(/^NSpid:\s+(.*)$/m)?.[1]
      ?.trim()
      .split(/\s+/);
    if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1') return c;
    if (depth > 0) {
      const deeper = await findInit(c, depth - 1);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

/** Processes whose command line contains every one of `marks` (paths only this lab uses). */
export async function findProcesses(marks: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const e of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cl = await fs.readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (marks.every((m) => cl.includes(m))) out.push(Number(e));
  }
  return out;
}

export async function killProcesses(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  await Promise.all(
    pids.map(async (pid) => {
      if (await waitGone(pid, graceMs)) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitGone(pid, 2000);
    }),
  );
}

// ---------------------------------------------------------------------------
// Mounts and trees

export async function mounts(): Promise<{ mountPoint: string; fsType: string }[]> {
  return parseMountinfo(await fs.readFile('/proc/self/mountinfo', 'utf8'));
}

export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return (await mounts()).map((m) => m.mountPoint).filter((m) => m === dir || m.startsWith(prefix));
}

/** Unmounts everything at or under `dir`, deepest first; a mount that stays busy is detached lazily. */
export async function unmountUnder(ctx: Ctx, dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const found = (await mountsUnder(dir)).sort((a, b) => b.length - a.length);
    if (found.length === 0) return;
    for (const m of found) {
      await run(ctx, 'umount', [m]).catch(() => run(ctx, 'umount', ['-l', m]).catch(() => undefined));
    }
  }
  const left = await mountsUnder(dir);
  if (left.length) throw new UserError(`could not unmount ${left[0]}; stop whatever uses it (fuser -vm ${left[0]}), then run the command again`);
}

/**
 * Removes a directory tree that may have had things mounted inside (a
 * debootstrap killed midway leaves /proc and /sys mounted in its target):
 * unmount first, then `rm --one-file-system`, so a mount we failed to see
 * can never lead the removal onto the host's own files.
 */
export async function removeTree(ctx: Ctx, dir: string): Promise<void> {
  try {
    await fs.lstat(dir);
  } catch {
    return;
  }
  await unmountUnder(ctx, dir);
  await run(ctx, 'rm', ['-rf', '--one-file-system', '--', dir], { timeoutMs: 600_000 });
}

// ---------------------------------------------------------------------------
// Locks

/**
 * A lock file holding the owner's pid. Two `up`s on one lab, or two labs
 * building the shared cache, would otherwise trip over each other; a lock
 * whose owner is dead (a killed run) is taken over.
 */
export async function withLock<T>(ctx: Ctx, file: string, what: string, fn: () => Promise<T>, waitMs = 30 * 60_000): Promise<T> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const end = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await readPid(file);
      if (owner === process.pid) throw new Error(`lock ${file} is already held by this process`, { cause: err });
      if (!owner || !alive(owner)) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > end)
        throw new UserError(`another ha-wordpress (pid ${owner}) is still working on ${what}; wait for it to finish (or stop it), then run the command again`);
      if (!told) {
        ctx.status(`waiting for another ha-wordpress (pid ${owner}) working on ${what}…`);
        told = true;
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
