/**
 * `backup`, `backups` and `restore`: the CLI side of the cluster's backups
 * (docs/backups.md). The work happens on the database nodes, in the
 * `ha-wordpress-backup` program the backup role installs (restic into the
 * backup bucket, credentials in a root-only file there); this side picks the
 * node, runs it over SSH with the host keys `up` recorded, and reports.
 * A restore changes every node, so it runs as a playbook (ansible/restore.yml).
 */
import path from 'node:path';
import { UsageError, UserError } from '../errors.js';
import { runPlaybook } from '../runners/ansible.js';
import { HostKeyRejected, keysFor, sshExec, SshTimeout, type Credentials } from '../ssh/exec.js';
import { readIfExists, writeAtomic } from '../workspace/files.js';
import { readInventory, recordedHostKeys, type Host } from '../workspace/inventory.js';
import { baseEnv, locateWorkspace, phase, resumeCommand, sshCredentials, withLockedWorkspace, type OpContext, type Workspace } from './operate.js';

/** The program the backup role installs on every database node. */
export const NODE_PROGRAM = '/usr/local/sbin/ha-wordpress-backup';

/**
 * The workspace's memory that its cluster has held data: `up` refuses to
 * bootstrap an empty database over it (the galera role reads it through
 * `galera_held_data`), so a cluster whose every node came back empty is
 * restored, not silently reinstalled.
 */
export const HELD_DATA_FILE = '.ha-wordpress/held-data.json';

export interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  tags: string[];
  contents: string[];
  size: number;
  /** The uploads' companion snapshot: the media bucket's files when the backup was taken (null: not in this backup). */
  media?: MediaCount | null;
  verified: string | null;
}

export interface MediaCount {
  files: number | null;
  bytes: number | null;
}

export interface BackupResult {
  snapshot: string;
  short_id: string;
  time: string;
  node: string;
  duration_s: number;
  bytes: number;
  added_bytes: number;
  contents: string[];
  media?: MediaCount | null;
}

export interface VerifyResult {
  snapshot: string;
  tables: number;
  rows: Record<string, number>;
  check: string;
  /** The uploads' part: how many attachments the dump names, and how many of their files the backup lacks (null: no uploads in it). */
  media?: { files: number; attachments: number; missing: number; missing_examples: string[] } | null;
  duration_s: number;
  node?: string;
}

/** A backup, a listing or a check could not be done: the node's one line, and where. */
export class NodeProgramFailed extends UserError {}

/** Runs the node program on the database nodes, over SSH, as root through sudo. */
export interface BackupNodes {
  hosts: Host[];
  /**
   * Runs `args` on the first node (in `order`) that answers; a node that
   * cannot be reached is skipped, a node that ran the program and failed is
   * the answer. Returns the parsed JSON and the node's name.
   */
  run<T>(args: string[], o: { timeoutMs: number; order?: 'writer-last' | 'inventory' }): Promise<{ value: T; node: string }>;
}

export async function backupNodes(ctx: OpContext, ws: Pick<Workspace, 'dir' | 'settings'>): Promise<BackupNodes> {
  const hosts = (await readInventory(ws.dir)).filter((h) => h.group === 'galera_cluster_node');
  if (hosts.length === 0) throw new UserError('the inventory lists no database node: run `ha-wordpress up` first');
  const known = await recordedHostKeys(ws.dir);
  const credentials = await sshCredentials(ctx, ws);
  return {
    hosts,
    run: async <T>(args: string[], o: { timeoutMs: number; order?: 'writer-last' | 'inventory' }) => {
      // HAProxy sends the writes to the first database node while it is up:
      // a backup desyncs the node it reads, so it prefers the others.
      const order = o.order === 'inventory' ? hosts : [...hosts].reverse();
      const unreachable: string[] = [];
      for (const h of order) {
        const r = await runOn<T>(h, credentials, known, args, o.timeoutMs);
        if (r.reached) return { value: r.value!, node: h.name };
        unreachable.push(`${h.name} (${r.error})`);
      }
      throw new UserError(`no database node could be reached: ${unreachable.join('; ')}; check \`ha-wordpress status\``);
    },
  };
}

async function runOn<T>(
  h: Host,
  credentials: Credentials,
  known: string,
  args: string[],
  timeoutMs: number,
): Promise<{ reached: boolean; value?: T; error?: string }> {
  const keys = keysFor(known, h.address, h.port);
  if (keys.length === 0) return { reached: false, error: 'no host key recorded' };
  let r;
  try {
    r = await sshExec(h, credentials, ['sudo', '-n', NODE_PROGRAM, ...args].join(' '), {
      timeoutMs,
      readyTimeoutMs: 10_000,
      acceptKey: (k) => keys.includes(k),
    });
  } catch (err) {
    if (err instanceof HostKeyRejected) return { reached: false, error: 'its host key does not match the one up recorded' };
    if (err instanceof SshTimeout && err.loggedIn)
      throw new NodeProgramFailed(`${h.name}: \`ha-wordpress-backup ${args[0]}\` had not finished after ${Math.round(timeoutMs / 1000)} s`);
    return { reached: false, error: (err as Error).message };
  }
  if (r.code === 0) {
    try {
      return { reached: true, value: JSON.parse(r.stdout) as T };
    } catch {
      throw new NodeProgramFailed(`${h.name}: ha-wordpress-backup printed no JSON: ${lastLine(r.stdout) || '(nothing)'}`);
    }
  }
  // sudo's and the shell's own failures: the role has not run on this node.
  if (r.code === 127 || r.stderr.includes(`${NODE_PROGRAM}: command not found`))
    throw new NodeProgramFailed(`${h.name}: ${NODE_PROGRAM} is not installed; run \`ha-wordpress up --only ansible\` to install the backup role`);
  throw new NodeProgramFailed(`${h.name}: ${lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`}`);
}

const lastLine = (s: string) => s.trim().split('\n').pop()?.trim() ?? '';

/** Sizes as people read them: 95.7 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

const BACKUP_TIMEOUT_MS = 60 * 60_000;

/** Takes one backup now (`final` before a destroy), and records that the cluster holds data. */
export async function takeBackup(ctx: OpContext, ws: Pick<Workspace, 'dir' | 'settings'>, tag: 'manual' | 'final'): Promise<BackupResult> {
  const nodes = await backupNodes(ctx, ws);
  const { value, node } = await nodes.run<BackupResult>(['backup', '--tag', tag], { timeoutMs: BACKUP_TIMEOUT_MS });
  await rememberHeldData(ws.dir, { snapshot: value.snapshot, time: value.time });
  return { ...value, node: value.node ?? node };
}

export async function runBackup(ctx: OpContext): Promise<void> {
  const ws = await locateWorkspace(ctx);
  if (ctx.options.verify) {
    const nodes = await backupNodes(ctx, ws);
    const args = ['verify', '--snapshot', ctx.options.snapshot ?? 'latest'];
    const { value, node } = await nodes.run<VerifyResult>(args, { timeoutMs: BACKUP_TIMEOUT_MS });
    const result = { ...value, node: value.node ?? node };
    if (ctx.options.json) return ctx.log.out(JSON.stringify(result, null, 2));
    const rows = Object.entries(result.rows)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    ctx.log.success(
      `snapshot ${result.snapshot.slice(0, 8)} verified on ${result.node} in ${result.duration_s.toFixed(1)} s: ` +
        `${result.tables} tables, CHECK TABLE ${result.check}; ${rows}` +
        (result.media ? `; uploads: ${result.media.files} files for ${result.media.attachments} attachments` : ''),
    );
    if (result.media?.missing)
      ctx.log.warn(
        `${result.media.missing} attachments name a file that is not in the backup (it was not in the media bucket either), e.g. ` +
          `${result.media.missing_examples.join(', ')}: those images are broken on the site too; upload them again in WordPress`,
      );
    return;
  }
  const result = await takeBackup(ctx, ws, 'manual');
  if (ctx.options.json) return ctx.log.out(JSON.stringify(result, null, 2));
  ctx.log.success(
    `backup ${result.short_id} taken on ${result.node} in ${result.duration_s.toFixed(1)} s: ` +
      `${bytes(result.bytes)}${result.media ? ` and ${result.media.files ?? 0} uploads (${bytes(result.media.bytes ?? 0)})` : ''} ` +
      `(${bytes(result.added_bytes)} new in the repository); ${result.contents.join(', ')}`,
  );
}

export async function listSnapshots(ctx: OpContext, ws: Pick<Workspace, 'dir' | 'settings'>): Promise<Snapshot[]> {
  const nodes = await backupNodes(ctx, ws);
  return (await nodes.run<Snapshot[]>(['snapshots'], { timeoutMs: 120_000 })).value;
}

export async function runBackups(ctx: OpContext): Promise<void> {
  const ws = await locateWorkspace(ctx);
  const snapshots = await listSnapshots(ctx, ws);
  if (ctx.options.json) return ctx.log.out(JSON.stringify(snapshots, null, 2));
  if (snapshots.length === 0) return ctx.log.info(`No backups yet: \`${resumeCommand(ctx, 'backup')}\` takes one.`);
  for (const line of snapshotTable(snapshots)) ctx.log.out(line);
}

export function snapshotTable(snapshots: Snapshot[]): string[] {
  const header = ['TIME', 'ID', 'SIZE', 'KIND', 'CONTAINS', 'VERIFIED'];
  const rows = snapshots.map((s) => [
    s.time
      .replace('T', ' ')
      .replace(/\.\d+/, '')
      .replace(/(Z|[+-]\d\d:\d\d)$/, ' $1'),
    s.short_id,
    bytes(s.size),
    s.tags.filter((t) => ['scheduled', 'manual', 'final'].includes(t)).join(',') || '-',
    s.contents.join(',') || '-',
    s.verified ? s.verified.replace('T', ' ').replace(/\.\d+.*$/, '') : 'no',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  '));
}

/**
 * A snapshot by id prefix (full or short), or `latest`: a bad one is one
 * line listing what exists, newest first.
 */
export function pickSnapshot(snapshots: Snapshot[], wanted: string, flag = '--snapshot'): Snapshot {
  if (snapshots.length === 0) throw new UserError(`${flag}: the backup repository holds no snapshot yet; there is nothing to restore`);
  const newest = [...snapshots].sort((a, b) => b.time.localeCompare(a.time));
  if (wanted === 'latest') return newest[0]!;
  const found = /^[0-9a-f]{4,64}$/.test(wanted) ? snapshots.filter((s) => s.id.startsWith(wanted)) : [];
  if (found.length === 1) return found[0]!;
  const list = newest
    .slice(0, 10)
    .map((s) => `${s.short_id} (${s.time.replace(/\.\d+/, '')})`)
    .join(', ');
  const more = newest.length > 10 ? ` and ${newest.length - 10} older` : '';
  throw new UsageError(
    found.length > 1
      ? `${flag}: ${wanted} matches ${found.length} snapshots; give more of the id (\`ha-wordpress backups\` lists them)`
      : `${flag}: no snapshot ${wanted}; the repository has ${list}${more} (or give latest)`,
  );
}

export async function runRestore(ctx: OpContext): Promise<void> {
  // Refuse before anything runs, like destroy.
  if (!ctx.yes && !ctx.interactive)
    throw new UsageError('restore: not confirmed; run it on a terminal to type the project name, or add --yes (nothing was changed)');
  await withLockedWorkspace(ctx, 'restore', async (ws) => {
    const snapshot = pickSnapshot(await listSnapshots(ctx, ws), ctx.options.snapshot ?? 'latest');
    ctx.log.info(
      `  Snapshot ${snapshot.short_id} of ${snapshot.time} (${snapshot.contents.join(', ')}) replaces the live database ` +
        `${snapshot.contents.includes('media') ? "and the media bucket's uploads " : ''}of ${ws.project}; ` +
        'the site shows a maintenance page while it runs, and what was written since that snapshot is lost.',
    );
    if (!ctx.yes) {
      const typed = (await ctx.prompts.input({ message: `Type the project name (${ws.project}) to restore it:` })).trim();
      if (typed !== ws.project) throw new UserError(`"${typed}" is not the project name ${ws.project}; nothing was restored`);
    }
    await restoreSnapshot(ctx, ws, snapshot);
  });
}

/**
 * The point of no return is the playbook's first change (the maintenance
 * page, then mariadb stopped everywhere): before it, Ctrl-C changes nothing;
 * after it, the failure line names the command that finishes the restore.
 */
export async function restoreSnapshot(ctx: OpContext, ws: Workspace, snapshot: Pick<Snapshot, 'id' | 'short_id'>): Promise<void> {
  const started = Date.now();
  await phase(
    ctx,
    ws,
    'restore',
    `restore: snapshot ${snapshot.short_id} into the cluster (restore.yml)`,
    resumeCommand(ctx, `restore --snapshot ${snapshot.short_id} --yes`),
    async (p) =>
      runPlaybook({
        workspace: ws.dir,
        env: baseEnv(ctx.env),
        vaultPassword: ws.vaultPassword,
        playbook: 'restore.yml',
        extraVars: { restore_snapshot: snapshot.id },
        log: p.log,
        onInterrupt: p.onInterrupt,
        onLine: (line) => {
          p.onLine?.(line);
          const task = line.match(/^TASK \[(.*)\]/);
          if (task) p.status(`restore: ${task[1]}`);
        },
      }),
    () => `restored snapshot ${snapshot.short_id}`,
  );
  await rememberHeldData(ws.dir, { snapshot: snapshot.id, time: new Date().toISOString() });
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  if (ctx.options.json) ctx.log.out(JSON.stringify({ restored: snapshot.id, short_id: snapshot.short_id, duration_s: seconds }, null, 2));
  else ctx.log.success(`The site serves snapshot ${snapshot.short_id} again (${Math.round(seconds)} s in all).`);
}

export interface HeldData {
  since: string;
  snapshot?: string;
  time?: string;
}

export async function readHeldData(dir: string): Promise<HeldData | undefined> {
  const text = await readIfExists(path.join(dir, HELD_DATA_FILE));
  if (!text) return undefined;
  try {
    return JSON.parse(text) as HeldData;
  } catch {
    // A damaged marker still says the cluster held data.
    return { since: 'unknown' };
  }
}

/** Written (atomically) once the cluster is known to hold data: after a backup, a restore or an `up` that installed the site. */
export async function rememberHeldData(dir: string, latest: { snapshot?: string; time?: string } = {}): Promise<void> {
  const before = await readHeldData(dir);
  const next: HeldData = {
    since: before?.since ?? new Date().toISOString(),
    ...(before?.snapshot ? { snapshot: before.snapshot, time: before.time } : {}),
    ...latest,
  };
  await writeAtomic(path.join(dir, HELD_DATA_FILE), `${JSON.stringify(next, null, 2)}\n`, 0o600);
}
