import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli.js';
import { SETTINGS } from '../src/settings/table.js';
import { ROOT, runCli } from './support/cli.js';

describe('the command line', () => {
  it('serves the top-level help that commander renders, at any width from 80 columns', async () => {
    const cached = readFileSync(path.join(ROOT, 'dist', 'root-help.txt'), 'utf8');
    const live = (w: number) => buildProgram(false).configureHelp({ helpWidth: w }).helpInformation();
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

  it('an unknown option is a usage error (exit 2)', async () => {
    const r = await runCli(['init', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });
});
