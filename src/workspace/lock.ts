/**
 * One command at a time on a workspace. A command that writes the workspace
 * or changes the cluster (init on an existing workspace, up, destroy, drill)
 * holds .ha-wordpress/lock for as long as it runs. The lock file says who
 * holds it (pid, command, start time); a lock whose process is gone is taken
 * over, since a killed run cannot release it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { processAlive } from './workspace.js';

export const LOCK_FILE = '.ha-wordpress/lock';

interface Holder {
  pid: number;
  command: string;
  started: string;
}

export async function withWorkspaceLock<T>(dir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(dir, LOCK_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  const me: Holder = { pid: process.pid, command, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const holder = await readHolder(file);
    if (holder && processAlive(holder.pid))
      throw new UsageError(
        `the workspace ${dir} is busy: \`ha-wordpress ${holder.command}\` (pid ${holder.pid}) has held it since ${holder.started}; ` +
          'wait for it to end, or stop it, then try again',
      );
    // The holder is gone (killed, or the machine restarted): its lock is stale.
    await fs.rm(file, { force: true });
  }
  try {
    return await fn();
  } finally {
    const holder = await readHolder(file);
    if (holder?.pid === me.pid && holder.started === me.started) await fs.rm(file, { force: true });
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const h = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' ? { pid: h.pid, command: String(h.command ?? '?'), started: String(h.started ?? '?') } : undefined;
  } catch {
    return undefined;
  }
}
