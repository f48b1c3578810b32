/**
 * `init` killed with SIGKILL right after a file-system change it makes
 * (test/support/kill-after-writes.cjs counts them: writes, renames, mkdirs,
 * removals) — each of the first and last 15 of a run, and every 5th
 * between (a first init makes ~260; every one of them took 6 minutes on
 * 2 busy cores, too long for every CI run): a first init leaves either nothing or a whole workspace, never
 * a plaintext secret outside a 0600 file that .gitignore covers, and the
 * same command run again finishes the job; an init over an existing
 * workspace leaves one whose vaults open, and running it again finishes it.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptVault } from '../src/secrets/vault.js';
import { BIN, homeWithKey, tempDir } from './support/cli.js';

const PRELOAD = path.join(__dirname, 'support', 'kill-after-writes.cjs');
const PASSWORD = 'interrupted init vault password';
const VAULTS = ['all', 'galera_cluster_node', 'galera_loadbalancer', 'wp_node'].map((g) => `ansible/group_vars/${g}/vault.yml`);

let root: string;
let home: string;
let pwFile: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function init(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'init', '--non-interactive', '--yes', '--vault-password-file', pwFile, ...args],
      { env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', NODE_OPTIONS: `--require ${PRELOAD}`, ...env }, encoding: 'utf8', timeout: 120_000 },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, signal: err?.signal ?? null, stderr }),
    );
  });
}

/** Every file under `dir`, relative, with its mode. */
function files(dir: string, rel = ''): { rel: string; mode: number }[] {
  const out: { rel: string; mode: number }[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...files(dir, r));
    else if (e.isFile()) out.push({ rel: r, mode: statSync(path.join(dir, r)).mode & 0o777 });
  }
  return out;
}

/** The vault password in plaintext only where .gitignore keeps it out of git, and only in 0600 files. */
function expectNoExposedPassword(parent: string): void {
  for (const f of files(parent)) {
    if (!readFileSync(path.join(parent, f.rel), 'utf8').includes(PASSWORD)) continue;
    const name = path.basename(f.rel);
    expect(name === '.vault-pass' || /^\..*\.tmp$/.test(name), `${f.rel} holds the vault password`).toBe(true);
    expect(f.mode, `${f.rel} holds the vault password with mode ${f.mode.toString(8)}`).toBe(0o600);
  }
}

function expectVaultsOpen(ws: string): void {
  for (const v of VAULTS) expect(() => decryptVault(readFileSync(path.join(ws, v), 'utf8'), PASSWORD), v).not.toThrow();
}

/** Runs `task` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
    }),
  );
}

/** Where to kill a run of `total` changes: each of the first and last 15, every 5th between. */
function killPoints(total: number): number[] {
  return Array.from({ length: total }, (_, i) => i + 1).filter((k) => k <= 15 || k > total - 15 || k % 5 === 0);
}

/** How many file-system changes a run makes, counted by the same preload. */
async function countWrites(args: string[]): Promise<number> {
  const count = path.join(root, `count-${Date.now()}-${Math.random()}`);
  const r = await init(args, { HAWP_COUNT_WRITES: count });
  expect(r.code, r.stderr).toBe(0);
  return Number(readFileSync(count, 'utf8'));
}

beforeAll(async () => {
  root = tempDir('hawp-interrupt-');
  ({ home } = await homeWithKey(root));
  pwFile = path.join(root, 'pw');
  writeFileSync(pwFile, `${PASSWORD}\n`);
});

const first = (ws: string) => ['--target', 'local', '--dir', ws, '--save-vault-password'];

describe('init killed after one of its file-system changes', () => {
  it(
    'a first init leaves nothing or a whole workspace, exposes no secret, and the same command finishes it',
    async () => {
      const reference = path.join(root, 'reference', 'shop');
      const total = await countWrites(first(reference));
      const want = files(reference)
        .map((f) => f.rel)
        .sort();
      expect(total).toBeGreaterThan(50);
      const points = killPoints(total);
      let killed = 0;
      await pool(points, 4, async (k) => {
        const parent = path.join(root, `first-${k}`);
        mkdirSync(parent);
        const ws = path.join(parent, 'shop');
        const r = await init(first(ws), { HAWP_KILL_AFTER_WRITES: String(k) });
        if (r.signal === 'SIGKILL') killed++;
        else expect(r.code, r.stderr).toBe(0);
        if (existsSync(ws))
          expect(
            files(ws)
              .map((f) => f.rel)
              .sort(),
            `killed after change ${k}: a partial workspace`,
          ).toEqual(want);
        expectNoExposedPassword(parent);
        // Finishing the job: every 10th change and the last ten (the rename into place and after).
        if (k % 10 === 0 || k > total - 10) {
          const again = await init(first(ws));
          expect(again.code, `after a kill at change ${k}: ${again.stderr}`).toBe(0);
          expect(readdirSync(parent), `after a kill at change ${k}: staging left behind`).toEqual(['shop']);
          expectVaultsOpen(ws);
          expectNoExposedPassword(parent);
        }
      });
      expect(killed).toBeGreaterThan(points.length * 0.9);
    },
    10 * 60_000,
  );

  it(
    'an init over an existing workspace leaves vaults that open, and running it again applies the change',
    async () => {
      const fresh = path.join(root, 'existing-fresh', 'shop');
      expect((await init(first(fresh))).code).toBe(0);
      const base = path.join(root, 'existing-reference', 'shop');
      cpSync(fresh, base, { recursive: true });
      const change = (ws: string) => ['--dir', ws, '--site-title', 'A new title'];
      const total = await countWrites(change(base));
      const points = killPoints(total);
      await pool(points, 4, async (k) => {
        const ws = path.join(root, `existing-${k}`, 'shop');
        cpSync(fresh, ws, { recursive: true });
        const r = await init(change(ws), { HAWP_KILL_AFTER_WRITES: String(k) });
        if (r.signal !== 'SIGKILL') expect(r.code, r.stderr).toBe(0);
        expectVaultsOpen(ws);
        expectNoExposedPassword(path.dirname(ws));
        if (k % 10 === 0 || k > total - 5) {
          const again = await init(change(ws));
          expect(again.code, `after a kill at change ${k}: ${again.stderr}`).toBe(0);
          expect(readFileSync(path.join(ws, 'ansible/group_vars/wp_node/vars.yml'), 'utf8')).toContain('wordpress_site_title: !unsafe "A new title"');
          expect(files(ws).filter((f) => /\.tmp$/.test(f.rel))).toEqual([]);
        }
      });
    },
    10 * 60_000,
  );
});
