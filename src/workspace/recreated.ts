/**
 * .ha-wordpress/recreated-hosts.json: the hosts `up` recreated (droplets
 * terraform created or replaced, lab containers made anew) whose new SSH host
 * key the wait phase has not recorded yet. A new machine has a new host key;
 * any other host whose key changed is stopped for (see commands/up.ts).
 *
 * The names are written before the machines are made (before `terraform
 * apply`, before a lab container is provisioned) and removed only once the
 * wait phase has recorded their keys. An `up` that fails in between (apply,
 * the inventory, a timeout in the wait) therefore leaves them here, and the
 * next `up` (or `up --only ansible`) still expects their new keys instead of
 * locking the user out.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { readIfExists, writeAtomic } from './files.js';

export const RECREATED_FILE = '.ha-wordpress/recreated-hosts.json';

interface RecreatedFile {
  version: 1;
  /** Host name → why its key is expected to be new, and since when. */
  hosts: Record<string, { by: string; at: string }>;
}

/** The hosts whose next host key is expected to be new, by name. */
export async function readRecreated(workspace: string): Promise<Set<string>> {
  return new Set(Object.keys((await read(workspace)).hosts));
}

// Read-modify-write, and the lab makes its containers concurrently: one change at a time, or one would undo another.
let queue: Promise<unknown> = Promise.resolve();
const serially = <T>(fn: () => Promise<T>): Promise<T> => {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
};

/** Records that these hosts are being made anew (`by`: what made them, for whoever reads the file). */
export function markRecreated(workspace: string, names: string[], by: string): Promise<void> {
  return serially(async () => {
    if (names.length === 0) return;
    const data = await read(workspace);
    const at = new Date().toISOString();
    for (const n of names) data.hosts[n] = { by, at };
    await writeAtomic(path.join(workspace, RECREATED_FILE), JSON.stringify(data, null, 2) + '\n', 0o600);
  });
}

/** These hosts' keys are recorded: nothing new is expected of them any more. */
export function forgetRecreated(workspace: string, names: string[]): Promise<void> {
  return serially(() => forget(workspace, names));
}

async function forget(workspace: string, names: string[]): Promise<void> {
  const data = await read(workspace);
  const before = Object.keys(data.hosts).length;
  for (const n of names) delete data.hosts[n];
  const left = Object.keys(data.hosts).length;
  if (left === before) return;
  const file = path.join(workspace, RECREATED_FILE);
  if (left === 0) await fs.rm(file, { force: true });
  else await writeAtomic(file, JSON.stringify(data, null, 2) + '\n', 0o600);
}

async function read(workspace: string): Promise<RecreatedFile> {
  const text = await readIfExists(path.join(workspace, RECREATED_FILE));
  if (text === undefined) return { version: 1, hosts: {} };
  try {
    const data = JSON.parse(text) as RecreatedFile;
    if (data?.version === 1 && data.hosts && typeof data.hosts === 'object' && !Array.isArray(data.hosts)) return data;
  } catch {
    // reported below
  }
  throw new UserError(
    `${RECREATED_FILE} is not a file up wrote; delete it, then run up with --accept-new-host-keys if hosts were recreated (check their fingerprints first)`,
  );
}
