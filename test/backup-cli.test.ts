import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELD_DATA_FILE, pickSnapshot, readHeldData, rememberHeldData, snapshotTable, type Snapshot } from '../src/commands/backup.js';
import { runCli, tempDir } from './support/cli.js';

function snap(i: number, over: Partial<Snapshot> = {}): Snapshot {
  const id = (i.toString(16).padStart(2, '0') + 'ab').repeat(16);
  return {
    id,
    short_id: id.slice(0, 8),
    time: new Date(Date.UTC(2026, 10, 1, i)).toISOString(),
    tags: ['scheduled'],
    contents: ['database', 'settings'],
    size: 1024 * 1024 * (i + 1),
    verified: null,
    ...over,
  };
}

describe('choosing a snapshot', () => {
  const all = Array.from({ length: 14 }, (_, i) => snap(i));

  it('latest is the newest by time, whatever the order the node listed them in', () => {
    expect(pickSnapshot([...all].reverse(), 'latest').short_id).toBe(all[13]!.short_id);
    expect(pickSnapshot(all, 'latest').short_id).toBe(all[13]!.short_id);
  });

  it('an id is matched by its start, short or full', () => {
    expect(pickSnapshot(all, all[3]!.short_id)).toBe(all[3]);
    expect(pickSnapshot(all, all[3]!.id)).toBe(all[3]);
  });

  it('an unknown id is one line listing the newest 10 that exist and how many more', () => {
    let message = '';
    try {
      pickSnapshot(all, 'deadbeef');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^--snapshot: no snapshot deadbeef; the repository has /);
    expect(message).toContain(all[13]!.short_id);
    expect(message).toContain(all[4]!.short_id);
    expect(message).not.toContain(all[3]!.short_id);
    expect(message).toContain('and 4 older');
  });

  it('an ambiguous start asks for more of the id; an empty repository says there is nothing to restore', () => {
    const twins = [snap(1, { id: `abcd1${'0'.repeat(59)}` }), snap(2, { id: `abcd2${'0'.repeat(59)}` })];
    expect(() => pickSnapshot(twins, 'abcd')).toThrow(/abcd matches 2 snapshots; give more of the id/);
    expect(() => pickSnapshot([], 'latest', '--restore')).toThrow(/^--restore: the backup repository holds no snapshot yet/);
  });
});

describe('the snapshot table', () => {
  it('has one row per snapshot with time, short id, size, kind, contents and verification, in columns', () => {
    const lines = snapshotTable([snap(0), snap(1, { tags: ['final'], verified: '2026-11-02T03:04:05.123Z' })]);
    expect(lines[0]).toMatch(/^TIME\s+ID\s+SIZE\s+KIND\s+CONTAINS\s+VERIFIED$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^2026-11-01 00:00:00 Z\s+00ab00ab\s+1\.0 MiB\s+scheduled\s+database,settings\s+no$/);
    expect(lines[2]).toMatch(/01ab01ab\s+2\.0 MiB\s+final\s+database,settings\s+2026-11-02 03:04:05$/);
    // Columns line up: the ID column starts at the same place on every line.
    const at = lines.map((l) => l.search(/ID|00ab00ab|01ab01ab/));
    expect(new Set(at).size).toBe(1);
  });
});

describe('the held-data marker', () => {
  it('keeps the first time the cluster held data and the latest snapshot it knows, in a file only the owner reads', async () => {
    const dir = tempDir('hawp-held-');
    mkdirSync(path.join(dir, '.ha-wordpress'));
    expect(await readHeldData(dir)).toBeUndefined();
    await rememberHeldData(dir);
    const first = await readHeldData(dir);
    expect(first?.since).toMatch(/^\d{4}-/);
    await rememberHeldData(dir, { snapshot: 'ab'.repeat(32), time: '2026-11-30T00:00:00Z' });
    await rememberHeldData(dir);
    const later = await readHeldData(dir);
    expect(later).toEqual({ since: first!.since, snapshot: 'ab'.repeat(32), time: '2026-11-30T00:00:00Z' });
    expect(statSync(path.join(dir, HELD_DATA_FILE)).mode & 0o777).toBe(0o600);
    // A damaged marker still means "has held data".
    writeFileSync(path.join(dir, HELD_DATA_FILE), '{not json');
    expect(await readHeldData(dir)).toEqual({ since: 'unknown' });
    expect(readFileSync(path.join(dir, HELD_DATA_FILE), 'utf8')).toBe('{not json');
  });
});

describe('backup, backups and restore on the command line', () => {
  it('a bad snapshot id is one line naming the flag, exit 2, before any workspace is opened', async () => {
    const cwd = tempDir('hawp-bk-');
    for (const args of [
      ['backup', '--verify', '--snapshot', 'not-an-id'],
      ['restore', '--yes', '--snapshot', 'xyz'],
      ['up', '--restore', '12'],
    ]) {
      const r = await runCli(args, { cwd });
      expect(r.code, args.join(' ')).toBe(2);
      const flag = args.includes('--restore') ? '--restore' : '--snapshot';
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: ${flag}: not a snapshot id: give the id \`ha-wordpress backups\` shows`));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('restore without a terminal and without --yes refuses and changes nothing', async () => {
    const cwd = tempDir('hawp-bk-');
    const r = await runCli(['restore', '--non-interactive'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/restore: not confirmed; run it on a terminal to type the project name, or add --yes \(nothing was changed\)/);
  });

  it('backup and backups outside a workspace say where to run them', async () => {
    const cwd = tempDir('hawp-bk-');
    for (const cmd of ['backup', 'backups']) {
      const r = await runCli([cmd], { cwd });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is not an ha-wordpress workspace .*cd into the directory `ha-wordpress init` created, or give --dir/);
    }
  });

  it('each new command has --help with an example, and destroy offers --no-final-backup', async () => {
    for (const cmd of ['backup', 'backups', 'restore']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n\s+\$ /);
      expect(r.stdout).toContain('--json');
    }
    expect((await runCli(['destroy', '--help'])).stdout).toContain('--no-final-backup');
    const up = (await runCli(['up', '--help'])).stdout;
    expect(up).toContain('--restore <id>');
    expect(up).toContain('--allow-empty-database');
  });
});
