import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllPtySessions, spawnInPty, stripAnsi } from './support/pty.js';

const ROOT = path.resolve(__dirname, '..');
const DEMO = path.join(__dirname, 'fixtures', 'pty-demo.mjs');
const NODE = process.execPath;

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

afterEach(async () => {
  await killAllPtySessions();
});

describe('spawnInPty', () => {
  it('drives an @inquirer/prompts wizard like a person at a terminal', async () => {
    const s = spawnInPty(NODE, [DEMO], { cwd: ROOT });

    await s.expect('TTY stdin=true stdout=true');

    // input with validation: the invalid answer is rejected and re-asked
    await s.expect('Project name:');
    s.type('bad');
    await s.expect('not bad please');
    // inquirer keeps the rejected text in the line: clear it before retyping
    s.write(s.keys.clearLine);
    s.type('my-site');
    await s.expect(/✔ Project name: my-site/);

    // password: typed like any other answer, only the mask is shown
    await s.expect('API token:');
    s.type('hunter2-secret');
    await s.expect('API token: **************');

    // select: arrow down once, wait for the redraw, then Enter
    await s.expect('Region:');
    await s.expect('❯ Amsterdam');
    s.write(s.keys.down);
    await s.expect('❯ Frankfurt');
    s.write(s.keys.enter);
    await s.expect('✔ Region: Frankfurt');

    // confirm: a letter followed by Enter
    await s.expect('Proceed? (y/N)');
    s.type('y');

    const { match, before } = await s.expectMatch(/RESULT (\{.*\})/);
    expect(JSON.parse(match![1]!)).toEqual({
      name: 'my-site',
      secret: 'hunter2-secret',
      region: 'fra1',
      proceed: true,
    });
    expect(await s.wait()).toEqual({ code: 0, signal: null });

    // The password never reached the terminal before the program printed it itself.
    const beforeResult = s.transcript().slice(0, s.transcript().indexOf('RESULT'));
    expect(beforeResult).not.toContain('hunter2');
    expect(s.rawTranscript().slice(0, s.rawTranscript().indexOf('RESULT'))).not.toContain('hunter2');
    expect(before).toContain('✔ Proceed? Yes');

    // The emulated screen shows the final state of every prompt, without redraw noise.
    expect(s.screen()).toBe(
      [
        'TTY stdin=true stdout=true',
        '✔ Project name: my-site',
        '✔ API token: **************',
        '✔ Region: Frankfurt',
        '✔ Proceed? Yes',
        `RESULT {"name":"my-site","secret":"hunter2-secret","region":"fra1","proceed":true}`,
      ].join('\n'),
    );
  });

  it('reports Ctrl+C inside a prompt', async () => {
    const s = spawnInPty(NODE, [DEMO], { cwd: ROOT });
    await s.expect('Project name:');
    s.write(s.keys.ctrlC);
    await s.expect('CANCELLED');
    expect(await s.wait()).toEqual({ code: 130, signal: null });
  });

  it('answers a number prompt (inline program)', async () => {
    const program = [
      "import { number } from '@inquirer/prompts';",
      "const n = await number({ message: 'How many nodes?', min: 1, max: 9, required: true });",
      'console.log(`NODES ${n}`);',
    ].join('\n');
    const s = spawnInPty(NODE, ['--input-type=module', '-e', program], { cwd: ROOT });
    await s.expect('How many nodes?');
    s.type('42');
    await s.expect('Value must be between 1 and 9');
    s.write(s.keys.clearLine);
    s.type('3');
    expect(await s.expect(/NODES \d+/)).toBe('NODES 3');
    expect(await s.wait()).toEqual({ code: 0, signal: null });
  });

  it('reports a non-zero exit code', async () => {
    const s = spawnInPty(NODE, ['-e', 'console.log("bye"); process.exit(3)']);
    await s.expect('bye');
    expect(await s.exited).toEqual({ code: 3, signal: null });
  });

  it('drains all output of a program that exits right away', async () => {
    const s = spawnInPty(NODE, ['-e', 'process.stdout.write("x".repeat(200000) + "\\nEND\\n")']);
    expect(await s.wait()).toEqual({ code: 0, signal: null });
    expect(s.transcript()).toBe('x'.repeat(200000) + '\nEND\n');
  });

  it('keeps the program running when input is closed', async () => {
    const s = spawnInPty(NODE, ['-e', 'setTimeout(() => { console.log("still here"); process.exit(4); }, 300)']);
    s.closeInput();
    await s.expect('still here');
    expect(await s.wait()).toEqual({ code: 4, signal: null });
  });

  it('fails expect with the recent screen when the text never appears', async () => {
    const s = spawnInPty(NODE, ['-e', 'console.log("Waiting for Godot"); setTimeout(() => {}, 30000)']);
    await s.expect('Waiting');
    const started = Date.now();
    const error = await rejectionOf(s.expect('Godot arrived', 300));
    // Well under the 30 s default, with room for a busy machine's timer delays.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.message).toMatch(/expect\("Godot arrived"\) failed: timed out after 300 ms/);
    expect(error.message).toContain('| Waiting for Godot'); // screen
    expect(error.message).toContain('for Godot'); // unmatched output since the last expect
    expect(error.stack).toContain('pty.test.ts'); // points at the failing expect

    s.kill();
    expect(await s.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('fails expect immediately when the program exits first', async () => {
    const s = spawnInPty(NODE, ['-e', 'console.log("done"); process.exit(2)']);
    // A timeout far beyond the program's life (even on a busy machine): the exit, not the clock, ends the expect.
    const error = await rejectionOf(s.expect('never printed', 120_000));
    expect(error.message).toContain('the program exited with code 2');
    expect(error.message).toContain('done');
  });

  it('reports a command that cannot be started', async () => {
    const s = spawnInPty('definitely-not-a-command-xyz', []);
    expect(await s.exited).toEqual({ code: 127, signal: null });
    await expect(s.expect('x')).rejects.toThrow(/could not be run/);
  });
});

describe('stripAnsi', () => {
  it('removes CSI and OSC sequences and CRs', () => {
    expect(stripAnsi('\x1b[34m?\x1b[39m \x1b[1mName\x1b[22m\x1b[2K\x1b[G\x1b]0;title\x07ok\r\n')).toBe('? Nameok\n');
  });
});
