/**
 * A real MariaDB server for one test file: a child process on a private data
 * directory and socket (no networking, no Galera), its root login over the
 * socket for the user running the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runToolSync } from './tools.js';

export interface PrivateMariadb {
  socket: string;
  /** `[client]` options that log in as the server's superuser over the socket. */
  optionFile: string;
  /** Runs SQL through the real client; rows as arrays of columns. */
  sql(query: string, db?: string): string[][];
  /** Stops the server (SIGTERM, then waits for it). */
  stop(): Promise<void>;
  /** Starts it again on the same data directory. */
  start(): Promise<void>;
}

/** Tools a test needs for startMariadb, for `missing(...)`. */
export const MARIADB_TOOLS = ['mariadbd', 'mariadb-install-db', 'mariadb'];

export async function startMariadb(dir: string): Promise<PrivateMariadb> {
  const user = os.userInfo().username;
  const datadir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const optionFile = path.join(dir, 'root.cnf');
  runToolSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, `--user=${user}`, '--auth-root-authentication-method=socket', '--skip-test-db']);
  writeFileSync(optionFile, `[client]\nuser = ${user}\nsocket = ${socket}\n`);
  let server: ChildProcess | undefined;

  const start = async () => {
    const child = spawn(
      'mariadbd',
      ['--no-defaults', `--datadir=${datadir}`, `--socket=${socket}`, '--skip-networking', `--user=${user}`, '--innodb-buffer-pool-size=32M'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    server = child;
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    for (let i = 0; ; i++) {
      const r = runToolSync('mariadb', [`--defaults-file=${optionFile}`, '-e', 'SELECT 1'], { allowFailure: true });
      if (r.code === 0) return;
      if (i > 120 || child.exitCode !== null) throw new Error(`mariadbd did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const stop = async () => {
    const child = server;
    if (!child || child.exitCode !== null) return;
    const ended = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await ended;
  };
  const sql = (query: string, db = 'mysql') =>
    runToolSync('mariadb', [`--defaults-file=${optionFile}`, '--batch', '--skip-column-names', db], { input: query })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));

  await start();
  return { socket, optionFile, sql, stop, start };
}
