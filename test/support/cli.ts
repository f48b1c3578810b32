/**
 * Runs the built CLI (bin/ha-wordpress.js → dist/) as a user would, without
 * a terminal, asynchronously (a loopback fake API in the test process must
 * keep answering while the CLI runs). Every child process the CLI starts is
 * recorded through test/support/record-children.mjs, so tests can check argv.
 */
import { execFile } from 'node:child_process';
import { newKeyPair } from '../../src/ssh/keys.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STEP_TIMEOUT_MS, tail } from './tools.js';

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

/**
 * A run killed by its timeout (default STEP_TIMEOUT_MS.cli, sized for a busy
 * CI machine) rejects with the CLI's output so far and its time: no test
 * expects one, and an exit code of 1 would hide it.
 */
export async function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const record = path.join(mkdtempSync(path.join(os.tmpdir(), 'hawp-rec-')), 'children.jsonl');
  const timeoutMs = opts.timeoutMs ?? STEP_TIMEOUT_MS.cli;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', RECORDER, opts.bin ?? BIN, ...args],
      {
        cwd: opts.cwd ?? ROOT,
        env: { PATH: process.env.PATH, LANG: 'C.UTF-8', HA_WORDPRESS_RECORD_CHILDREN: record, ...opts.env },
        timeout: timeoutMs,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err?.killed || (err && typeof err.code !== 'number')) {
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          const how = err.killed ? `was killed by the test's ${timeoutMs / 1000} s timeout` : `failed (${err.signal ?? err.message.split('\n')[0]})`;
          return reject(new Error(`ha-wordpress ${args.join(' ')} ${how} after ${seconds} s\n stdout:\n${tail(stdout)}\n stderr:\n${tail(stderr)}`));
        }
        const code = err ? (err.code as number) : 0;
        const children = existsSync(record)
          ? readFileSync(record, 'utf8')
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as string[])
          : [];
        resolve({ code, stdout, stderr, children });
      },
    );
  });
}

export function tempDir(prefix = 'hawp-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A home directory holding ~/.ssh/id_ed25519 (and .pub), as a user's machine would. */
export async function homeWithKey(parent: string): Promise<{ home: string; publicKey: string }> {
  const home = path.join(parent, 'home');
  mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const pair = await newKeyPair('me@laptop');
  writeFileSync(path.join(home, '.ssh', 'id_ed25519'), pair.private, { mode: 0o600 });
  writeFileSync(path.join(home, '.ssh', 'id_ed25519.pub'), pair.public);
  return { home, publicKey: pair.public.trim() };
}
