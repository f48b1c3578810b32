/**
 * The child-process wrapper (src/runners/process.ts) on its own, with small
 * node scripts as children: argv without a shell, exactly the environment
 * given, lines scrubbed into the log, stderr in the error, timeouts, and
 * Ctrl-C: one SIGINT forwarded to the child's own process group, a kill of
 * the whole group on the second.
 *
 * The Ctrl-C tests run the built wrapper (dist/) in a driver process of its
 * own, started as a shell job (its own process group), and send SIGINT to
 * that group as a terminal does; the signal handler is process-wide, so it
 * must not be installed in the test runner itself for those.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import { finishOnInterrupt, PhaseLog, probe, runChild, StepFailure, stopRequested } from '../src/runners/process.js';
import { redact } from '../src/ui/logger.js';
import { ROOT, tempDir } from './support/cli.js';

const NODE = process.execPath;
let dir: string;
const script = (name: string) => path.join(dir, name);

const SCRIPTS: Record<string, string> = {
  // Prints its argv and its whole environment as JSON.
  'show.mjs': `process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), env: process.env }) + '\\n');`,
  // Some stdout, the reason on stderr, exit 3.
  'fail.mjs': `console.log('working on it'); console.error('Error: the quota for droplets is exhausted'); process.exit(3);`,
  // A line in two writes, a secret, a line with \\r\\n, a last line without a newline.
  'lines.mjs': `
    const w = (s) => new Promise((r) => process.stdout.write(s, r));
    await w('half a ');
    await new Promise((r) => setTimeout(r, 100));
    await w('line\\n');
    await w('token=' + process.env.SECRET + '\\r\\n');
    process.stderr.write('on stderr\\n');
    await w('no newline at the end');`,
  // Stops on SIGINT like terraform: says so, finishes its step, records how many interrupts it saw.
  'graceful.mjs': `
    import { writeFileSync } from 'node:fs';
    let n = 0;
    process.on('SIGINT', () => {
      n += 1;
      if (n > 1) return;
      console.log('Interrupt received, finishing the current step');
      setTimeout(() => { writeFileSync(process.env.RECORD, 'interrupts=' + n); process.exit(1); }, 300);
    });
    console.log('ready');
    setInterval(() => {}, 1000);`,
  // Ignores SIGINT, and so does a grandchild that holds our stdout open (like ansible's forked workers).
  'stubborn.mjs': `
    import { spawn } from 'node:child_process';
    process.on('SIGINT', () => console.log('ignoring SIGINT'));
    // The grandchild says it is ready once its own handler is in place (a SIGINT before that would kill it).
    spawn(process.execPath, ['-e', "process.on('SIGINT', () => {}); console.log('grandchild ' + process.pid + ' ready'); setInterval(() => {}, 1000)"], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    setInterval(() => {}, 1000);`,
  // A step that takes a while (a droplet's resize): stops on SIGINT like terraform, else ends well after 1.5 s.
  'step.mjs': `
    import { writeFileSync } from 'node:fs';
    let n = 0;
    process.on('SIGINT', () => {
      n += 1;
      if (n > 1) return;
      setTimeout(() => { writeFileSync(process.env.RECORD, 'interrupts=' + n); process.exit(1); }, 300);
    });
    console.log('ready');
    setTimeout(() => { writeFileSync(process.env.RECORD, 'interrupts=' + n); console.log('step done'); process.exit(0); }, 1500);`,
  // Never ends on its own, ignores SIGINT.
  'hang.mjs': `process.on('SIGINT', () => console.log('ignoring SIGINT')); console.log('ready'); setInterval(() => {}, 1000);`,
};

/** Runs runChild from dist/ in a process of its own; everything it learns goes to stderr. */
const DRIVER = `
const { runChild, PhaseLog } = require(${JSON.stringify(path.join(ROOT, 'dist', 'runners', 'process.js'))});
const [child, logDir] = process.argv.slice(2);
const log = new PhaseLog(logDir, 'driven', 'stamp');
runChild(process.execPath, [child], {
  cwd: logDir,
  env: { RECORD: process.env.RECORD },
  log,
  onLine: (l) => process.stderr.write('line: ' + l + '\\n'),
  onInterrupt: (n) => process.stderr.write('stage ' + n + '\\n'),
}).then(
  () => process.exit(0),
  (err) => log.close().then(() => { process.stderr.write(err.name + ': ' + err.message + '\\n'); process.exit(err.exitCode ?? 1); }),
);`;

/** The driver of a command that finishes its step (finishOnInterrupt) around a child whose first Ctrl-C it holds. */
const HELD_DRIVER = `
const { runChild, PhaseLog, finishOnInterrupt } = require(${JSON.stringify(path.join(ROOT, 'dist', 'runners', 'process.js'))});
const [child, logDir] = process.argv.slice(2);
const log = new PhaseLog(logDir, 'driven', 'stamp');
const guard = finishOnInterrupt(() => process.stderr.write('first Ctrl-C\\n'), () => process.stderr.write('second Ctrl-C\\n'));
runChild(process.execPath, [child], {
  cwd: logDir,
  env: { RECORD: process.env.RECORD },
  log,
  holdFirstInterrupt: true,
  onLine: (l) => process.stderr.write('line: ' + l + '\\n'),
  onInterrupt: (n) => process.stderr.write('stage ' + n + '\\n'),
}).then(
  () => log.close().then(() => { process.stderr.write('finished; stop requested: ' + guard.requested() + '\\n'); process.exit(0); }),
  (err) => log.close().then(() => { process.stderr.write(err.name + ': ' + err.message + '\\n'); process.exit(err.exitCode ?? 1); }),
);`;

beforeAll(() => {
  dir = tempDir('hawp-process-');
  writeFileSync(script('held-driver.cjs'), HELD_DRIVER);
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(script(name), text);
  writeFileSync(script('driver.cjs'), DRIVER);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whatever a failed Ctrl-C test left running: drivers, and grandchildren no group kill reached. */
const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

function newLog(name: string): PhaseLog {
  return new PhaseLog(path.join(dir, 'logs'), name, 'stamp');
}
async function logText(log: PhaseLog): Promise<string> {
  await log.close();
  return readFileSync(log.file, 'utf8');
}

describe('runChild', () => {
  it('passes argv as it is, with no shell, and exactly the environment given', async () => {
    const log = newLog('argv');
    const marker = path.join(dir, 'shell-ran');
    const tricky = `$(touch ${marker}); * "quoted" 'single'`;
    const r = await runChild(NODE, [script('show.mjs'), tricky, ''], { cwd: dir, env: { ONLY: 'this', EMPTY: '' }, log, capture: true });
    const shown = JSON.parse(r.stdout) as { argv: string[]; env: Record<string, string> };
    expect(shown.argv).toEqual([tricky, '']);
    expect(existsSync(marker)).toBe(false);
    // Nothing of the parent's environment (PATH, HOME, the vitest variables) leaks in.
    expect(shown.env).toEqual({ ONLY: 'this', EMPTY: '' });
    expect(await logText(log)).toContain(`$ ${NODE} ${script('show.mjs')}`);
  });

  it('after a Ctrl-C that a command finishes its step for (finishOnInterrupt), no new child starts; released, children run again', async () => {
    const said: string[] = [];
    const guard = finishOnInterrupt(
      () => said.push('finishing'),
      () => said.push('at once'),
    );
    try {
      expect(stopRequested()).toBe(false);
      // No child runs: the handler's own path, which must not exit.
      process.emit('SIGINT');
      expect(stopRequested()).toBe(true);
      expect(said).toEqual(['finishing']);
      const err = await runChild(NODE, [script('show.mjs')], { cwd: dir, env: {}, log: newLog('not-started') }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'CancelledError', exitCode: 130, message: 'Interrupted: node was not started.' });
    } finally {
      guard.release();
    }
    expect(stopRequested()).toBe(false);
    const r = await runChild(NODE, [script('show.mjs')], { cwd: dir, env: {}, log: newLog('started'), capture: true });
    expect(JSON.parse(r.stdout)).toMatchObject({ argv: [] });
  });

  it('a non-zero exit is a StepFailure with its exit code and the last lines, stderr included', async () => {
    const log = newLog('fail');
    const err = await runChild(NODE, [script('fail.mjs')], { cwd: dir, env: {}, log, step: 'terraform apply' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailure);
    const f = err as StepFailure;
    expect(f.message).toBe('terraform apply exited with code 3');
    expect(f.code).toBe(3);
    expect(f.tail).toContain('Error: the quota for droplets is exhausted');
    expect(f.tail).toContain('working on it');
    const text = await logText(log);
    expect(text).toContain('Error: the quota for droplets is exhausted');
    expect(text).toContain('[exit 3]');
  });

  it('splits output into whole lines, scrubs secrets from them, and keeps stdout only when asked', async () => {
    const secret = 'process-test-secret-4242';
    redact(secret);
    const log = newLog('lines');
    const seen: string[] = [];
    const r = await runChild(NODE, [script('lines.mjs')], { cwd: dir, env: { SECRET: secret }, log, onLine: (l) => seen.push(l) });
    expect([...seen].sort()).toEqual(['half a line', 'no newline at the end', 'on stderr', 'token=[redacted]'].sort());
    expect(seen.indexOf('half a line')).toBeLessThan(seen.indexOf('token=[redacted]'));
    expect(r.stdout).toBe('');
    expect(r.tail).toEqual(seen);
    const text = await logText(log);
    expect(text).not.toContain(secret);
    expect(text).toContain('token=[redacted]\n');

    const captured = await runChild(NODE, [script('lines.mjs')], { cwd: dir, env: { SECRET: 'x' }, log: newLog('lines2'), capture: true });
    // Captured stdout is what the child wrote (its \r\n too), for JSON parsers.
    expect(captured.stdout).toBe('half a line\ntoken=x\r\nno newline at the end');
  });

  it('a program that is not there is a one-line UserError naming it; so is a missing directory', async () => {
    await expect(runChild('ha-wordpress-no-such-program', [], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, log: newLog('missing') })).rejects.toThrow(
      new UserError('ha-wordpress-no-such-program was not found on PATH'),
    );
    const gone = path.join(dir, 'not-a-dir');
    await expect(runChild(NODE, [script('show.mjs')], { cwd: gone, env: {}, log: newLog('nodir'), step: 'terraform init' })).rejects.toThrow(
      `terraform init could not start: its directory ${gone} does not exist`,
    );
  });

  // The limits leave node time to start and install its SIGINT handler (a SIGINT before that kills it at once).
  it('a timeout asks the child to stop (SIGINT), and it fails naming the time limit with its last lines', async () => {
    const record = path.join(dir, 'timeout-record');
    const started = Date.now();
    const err = (await runChild(NODE, [script('graceful.mjs')], {
      cwd: dir,
      env: { RECORD: record },
      log: newLog('timeout'),
      step: 'terraform init',
      timeoutMs: 2500,
    }).catch((e: unknown) => e)) as StepFailure;
    expect(err).toBeInstanceOf(StepFailure);
    expect(err.message).toBe('terraform init did not finish within 2.5 s and was stopped');
    expect(err.tail).toContain('Interrupt received, finishing the current step');
    expect(readFileSync(record, 'utf8')).toBe('interrupts=1');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a timed-out child that ignores SIGINT is killed after the grace period', async () => {
    const started = Date.now();
    const err = (await runChild(NODE, [script('hang.mjs')], { cwd: dir, env: {}, log: newLog('hang'), timeoutMs: 2500, graceMs: 300 }).catch(
      (e: unknown) => e,
    )) as StepFailure;
    expect(err).toBeInstanceOf(StepFailure);
    expect(err.code).toBe(137);
    expect(err.tail).toContain('ignoring SIGINT');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('probe', () => {
  it('returns stdout of a command that succeeds, undefined when it fails, is missing or hangs', async () => {
    expect(await probe(NODE, ['-e', 'console.log("v1.2.3")'], {})).toBe('v1.2.3');
    expect(await probe(NODE, [script('fail.mjs')], {})).toBeUndefined();
    expect(await probe('ha-wordpress-no-such-program', [], { PATH: '/usr/bin:/bin' })).toBeUndefined();
    const started = Date.now();
    // hang.mjs ignores SIGINT, not execa's SIGTERM.
    expect(await probe(NODE, [script('hang.mjs')], {}, 300)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives the child exactly the environment given', async () => {
    const out = await probe(NODE, [script('show.mjs')], { ONLY: 'this' });
    expect((JSON.parse(out!) as { env: object }).env).toEqual({ ONLY: 'this' });
  });
});

/** The driver as a shell job: its own process group, like a command typed at a terminal. */
function drive(child: string, record = path.join(dir, 'unused'), driver = 'driver.cjs') {
  const logDir = path.join(dir, `driven-${child}-${driver}`);
  const p = spawn(NODE, [script(driver), script(child), logDir], { env: { RECORD: record }, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  leftovers.push(p.pid!);
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  p.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.filter((w) => stderr.includes(w.text))) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  return {
    /** Ctrl-C at the terminal: SIGINT to the whole foreground group. */
    ctrlC: () => process.kill(-p.pid!, 'SIGINT'),
    waitFor: (text: string) =>
      Promise.race([
        new Promise<void>((resolve) => (stderr.includes(text) ? resolve() : waiters.push({ text, resolve }))),
        exited.then(() => {
          if (!stderr.includes(text)) throw new Error(`the driver exited without printing ${JSON.stringify(text)}:\n${stderr}`);
        }),
      ]),
    exited,
    stderr: () => stderr,
    log: () => readFileSync(path.join(logDir, readdirSync(logDir)[0]!), 'utf8'),
  };
}

/** Running, or stopped but not yet a zombie (a zombie is dead, but answers kill(pid, 0) until reaped). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('Ctrl-C', () => {
  it('forwards exactly one SIGINT to the child, waits for it to stop, and ends in CancelledError (exit 130)', async () => {
    const record = path.join(dir, 'graceful-record');
    const d = drive('graceful.mjs', record);
    await d.waitFor('line: ready');
    d.ctrlC();
    expect(await d.exited).toBe(130);
    // The terminal's SIGINT went to the driver's group only; the child got the one forwarded to its own.
    expect(readFileSync(record, 'utf8')).toBe('interrupts=1');
    expect(d.stderr()).toContain('stage 1\n');
    expect(d.stderr()).not.toContain('stage 2');
    expect(d.stderr()).toContain('CancelledError: Interrupted: node stopped cleanly.');
    expect(d.log()).toContain('Interrupt received, finishing the current step');
  });

  it('a step the command holds runs to its end on the first Ctrl-C, which the command then acts on', async () => {
    const record = path.join(dir, 'held-record');
    const d = drive('step.mjs', record, 'held-driver.cjs');
    await d.waitFor('line: ready');
    d.ctrlC();
    expect(await d.exited).toBe(0);
    expect(readFileSync(record, 'utf8')).toBe('interrupts=0');
    expect(d.stderr()).toContain('first Ctrl-C\n');
    expect(d.stderr()).toContain('line: step done\n');
    expect(d.stderr()).not.toContain('stage ');
    expect(d.stderr()).toContain('finished; stop requested: true\n');
  });

  it('a second Ctrl-C passes one SIGINT on to a held step', async () => {
    const record = path.join(dir, 'held-twice-record');
    const d = drive('step.mjs', record, 'held-driver.cjs');
    await d.waitFor('line: ready');
    d.ctrlC();
    await d.waitFor('first Ctrl-C');
    d.ctrlC();
    expect(await d.exited).toBe(130);
    expect(readFileSync(record, 'utf8')).toBe('interrupts=1');
    expect(d.stderr()).toContain('stage 1\n');
    expect(d.stderr()).not.toContain('stage 2');
    expect(d.stderr()).not.toContain('step done');
  });

  it('kills the child and everything in its process group on the second Ctrl-C', async () => {
    const d = drive('stubborn.mjs');
    await d.waitFor(' ready');
    const grandchild = Number(/line: grandchild (\d+) ready/.exec(d.stderr())![1]);
    leftovers.push(grandchild);
    expect(alive(grandchild)).toBe(true);
    d.ctrlC();
    await d.waitFor('line: ignoring SIGINT');
    expect(d.stderr()).toContain('stage 1\n');
    d.ctrlC();
    // The grandchild holds the output pipe: the run could only end because the whole group was killed.
    expect(await d.exited).toBe(130);
    expect(d.stderr()).toContain('stage 2\n');
    expect(d.stderr()).toContain('CancelledError: Interrupted: node was killed before it finished its current step.');
    expect(alive(grandchild)).toBe(false);
    expect(d.log()).toContain('[killed by SIGKILL]');
  });
});
