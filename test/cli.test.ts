import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli.js';
import { SETTINGS } from '../src/settings/table.js';
import { ROOT, runCli, tempDir } from './support/cli.js';

describe('the command line', () => {
  it('serves the top-level help that commander renders, at any width from 80 columns', async () => {
    const cached = readFileSync(path.join(ROOT, 'dist', 'root-help.txt'), 'utf8');
    const live = (w: number) => {
      const program = buildProgram(false);
      return program.configureHelp({ ...program.configureHelp(), helpWidth: w }).helpInformation();
    };
    expect(cached).toBe(live(80));
    expect(cached).toBe(live(200));
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(cached);
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('init --help lists every applicable setting with its env variables, and examples', async () => {
    for (const args of [
      ['init', '--help'],
      ['help', 'init'],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      for (const s of SETTINGS) {
        expect(r.stdout).toContain(`--${s.flag}`);
        for (const e of s.env ?? []) expect(r.stdout).toContain(e);
      }
      expect(r.stdout).toMatch(/Examples:/);
    }
  });

  it('a 100 000-character value is never echoed: a path flag gets one line saying it is too long, any other value is shortened', async () => {
    const huge = '/tmp/' + 'a'.repeat(100_000);
    const dir = path.join(tempDir('hawp-long-'), 'ws');
    const local = ['init', '--target', 'local', '--non-interactive', '--dir', dir];
    const cases: [string[], RegExp][] = [
      [['init', '--dir', huge], /^error: --dir: the path \/tmp\/a+… \(100005 characters\) is too long \(100005 bytes; at most 4095\): give a shorter path$/],
      [['init', '--dir', `/tmp/${'b'.repeat(300)}/ws`], /^error: --dir: the path .* is too long \(a name of 300 bytes in it; at most 255 per name\)/],
      [['status', '--dir', huge], /^error: --dir: the path .* is too long/],
      [['up', '--target', 'local', '--dir', huge], /^error: --dir: the path .* is too long/],
      [[...local, '--vault-password-file', huge], /^error: --vault-password-file: the path .* is too long/],
      [['status', '--dir', dir, '--vault-password-file', huge], /^error: --vault-password-file: the path .* is too long/],
      [[...local, '--ssh-key', huge], /^error: --ssh-key: the path .* is too long/],
      [
        ['init', '--non-interactive', '--dir', dir, '--ssh-allow', huge.slice(5)],
        /^error: --ssh-allow: "a+…a+" \(100002 characters\) is not an IPv4\/IPv6 address/,
      ],
      [
        ['init', '--non-interactive', '--dir', dir, '--rotate', huge.slice(5)],
        /^error: --rotate: unknown secret "a+…a+"; \(100003 characters\) use one or more/,
      ],
      [['init', `--${huge.slice(5)}`], /^error: unknown option '--a+…a+' \(100004 characters\)$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args, { env: { HOME: tempDir('hawp-home-') } })));
    runs.forEach((r, i) => {
      const [args, line] = cases[i]!;
      const what = args.map((a) => (a.length > 40 ? `${a.slice(0, 20)}…` : a)).join(' ');
      // stderr in the message: CI once saw exit 1 here, and never its reason.
      expect(r.code, `${what}\n${r.stderr.slice(0, 2000)}`).toBe(2);
      expect(r.stderr.length, what).toBeLessThan(1000);
      expect(
        r.stderr.split('\n').some((l) => line.test(l)),
        `${what}\n${r.stderr}`,
      ).toBe(true);
    });
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const r = await runCli(['init', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });
});
