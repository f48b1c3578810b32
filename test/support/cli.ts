/**
 * Runs the built CLI (bin/ha-wordpress.js → dist/) as a user would, without
 * a terminal, asynchronously (a loopback fake API in the test process must
 * keep answering while the CLI runs). Every child process the CLI starts is
 * recorded through test/support/record-children.mjs, so tests can check argv.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'ha-wordpress.js');
const RECORDER = path.join(ROOT, 'test', 'support', 'record-children.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** argv of every child process the CLI started. */
  children: string[][];
}

export async function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const record = path.join(mkdtempSync(path.join(os.tmpdir(), 'hawp-rec-')), 'children.jsonl');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', RECORDER, opts.bin ?? BIN, ...args],
      {
        cwd: opts.cwd ?? ROOT,
        env: { PATH: process.env.PATH, LANG: 'C.UTF-8', HA_WORDPRESS_RECORD_CHILDREN: record, ...opts.env },
        timeout: opts.timeoutMs ?? 60_000,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        const children = existsSync(record)
          ? readFileSync(record, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[])
          : [];
        resolve({ code, stdout, stderr, children });
      },
    );
  });
}

export function tempDir(prefix = 'hawp-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}
