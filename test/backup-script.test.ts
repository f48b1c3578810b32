/**
 * ha-wordpress-backup (ansible/roles/backup/files/), the node-side backup
 * script, run for real: against a real MariaDB server started here as a
 * child process on a private data directory and socket (no networking, no
 * Galera: the script treats a server without wsrep as standalone), with the
 * real restic and a restic repository on the local filesystem. The script
 * reads its settings and credentials from files whose paths the test sets
 * (HA_WORDPRESS_BACKUP_CONFIG, HA_WORDPRESS_BACKUP_ENV).
 *
 * Skipped, saying why, where mariadbd, mariadb-install-db, the MariaDB
 * clients, restic or python3 are missing.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startS3Standin, type S3Standin } from '../src/lab/s3.js';
import { MARIADB_TOOLS, startMariadb, type PrivateMariadb } from './support/mariadb.js';
import { send, signed } from './support/s3-client.js';
import { budget, missing, runTool, runToolSync, skipWhen, type ToolResult } from './support/tools.js';

const SCRIPT = path.resolve(__dirname, '..', 'ansible', 'roles', 'backup', 'files', 'ha-wordpress-backup');
// A password that breaks naive quoting; it must never be printed.
const PASSWORD = 'Re"s\'t#ic\\ $HOME;`x` =={a}%';

const why = missing(...MARIADB_TOOLS, 'mariadb-dump', 'restic', 'python3');

skipWhen(why).describe('ha-wordpress-backup against a real MariaDB server and a real restic repository', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-backup-'));
  const repo = path.join(dir, 'repo');
  const optionFile = path.join(dir, 'root.cnf');
  let db: PrivateMariadb | undefined;
  const envFile = path.join(dir, 'env');
  const holdFile = path.join(dir, 'hold');

  const config = (database: string, retention: Record<string, number> = { hourly: 24, daily: 7 }) => {
    const file = path.join(dir, `backup-${database}-${Object.keys(retention).join('-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        database,
        node: 'db-test',
        mysql_options: optionFile,
        state_dir: path.join(dir, 'state'),
        cache_dir: path.join(dir, 'cache'),
        settings_file: path.join(dir, 'settings.yml'),
        retention,
      }),
    );
    return file;
  };
  const good = config('wordpress');
  const script = (args: string[], cfg = good, env = envFile) =>
    runTool('python3', [SCRIPT, ...args], {
      env: { ...process.env, HA_WORDPRESS_BACKUP_CONFIG: cfg, HA_WORDPRESS_BACKUP_ENV: env, HA_WORDPRESS_BACKUP_HOLD: holdFile },
      allowFailure: true,
    });
  const ok = async (args: string[], cfg = good, env = envFile) => {
    const r = await script(args, cfg, env);
    expect(r.code, r.report).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  /** A failure: exit 1 and exactly one line on stderr, no secret in it. */
  const fails = async (args: string[], cfg = good, env = envFile): Promise<string> => {
    const r: ToolResult = await script(args, cfg, env);
    expect(r.code, r.report).toBe(1);
    expect(r.stdout, r.report).toBe('');
    expect(r.stderr.trimEnd().split('\n'), r.report).toHaveLength(1);
    expect(r.stderr).not.toContain(PASSWORD);
    return r.stderr.trim();
  };
  const sql = (query: string, database = 'wordpress') => db!.sql(query, database);
  const resticEnv = { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(dir, 'cache') };
  const resticSnapshots = () => JSON.parse(runToolSync('restic', ['snapshots', '--json'], { env: resticEnv }).stdout) as { id: string; tags?: string[] }[];
  const TABLES = ['wp_posts', 'wp_postmeta', 'wp_users', 'wp_usermeta', 'wp_options', 'wp_terms', 'wp_comments'];
  const checksums = () => Object.fromEntries(sql(`CHECKSUM TABLE ${TABLES.join(', ')}`).map(([t, c]) => [t!.replace(/^wordpress\./, ''), c]));
  const counts = () => Object.fromEntries(TABLES.map((t) => [t, Number(sql(`SELECT COUNT(*) FROM ${t}`)[0]![0])]));

  beforeAll(
    async () => {
      db = await startMariadb(dir);
      // WordPress's tables, trimmed to a few columns, with content.
      sql(
        `CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
       USE wordpress;
       CREATE TABLE wp_posts (ID bigint unsigned PRIMARY KEY AUTO_INCREMENT, post_title text, post_content longtext, post_status varchar(20));
       CREATE TABLE wp_postmeta (meta_id bigint unsigned PRIMARY KEY AUTO_INCREMENT, post_id bigint unsigned, meta_key varchar(255), meta_value longtext);
       CREATE TABLE wp_users (ID bigint unsigned PRIMARY KEY AUTO_INCREMENT, user_login varchar(60), user_pass varchar(255));
       CREATE TABLE wp_usermeta (umeta_id bigint unsigned PRIMARY KEY AUTO_INCREMENT, user_id bigint unsigned, meta_key varchar(255), meta_value longtext);
       CREATE TABLE wp_options (option_id bigint unsigned PRIMARY KEY AUTO_INCREMENT, option_name varchar(191) UNIQUE, option_value longtext);
       CREATE TABLE wp_terms (term_id bigint unsigned PRIMARY KEY AUTO_INCREMENT, name varchar(200), slug varchar(200));
       CREATE TABLE wp_comments (comment_ID bigint unsigned PRIMARY KEY AUTO_INCREMENT, comment_post_ID bigint unsigned, comment_content text);
       INSERT INTO wp_posts (post_title, post_content, post_status)
         SELECT CONCAT('Post ', seq), REPEAT(CONCAT('Content ', seq, ' é ''"\\\\ '), 50), 'publish' FROM seq_1_to_300;
       INSERT INTO wp_postmeta (post_id, meta_key, meta_value) SELECT seq, '_edit_lock', CONCAT(seq, ':1') FROM seq_1_to_300;
       INSERT INTO wp_users (user_login, user_pass) VALUES ('admin', '$P$Bxyz'), ('editor', '$P$Babc');
       INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (1, 'nickname', 'admin'), (2, 'nickname', 'editor');
       INSERT INTO wp_options (option_name, option_value) VALUES ('siteurl', 'http://shop.example'), ('blogname', 'Shop');
       INSERT INTO wp_terms (name, slug) VALUES ('Uncategorized', 'uncategorized');
       INSERT INTO wp_comments (comment_post_ID, comment_content) SELECT seq, 'Nice' FROM seq_1_to_40;
       CREATE TRIGGER wp_posts_touch BEFORE UPDATE ON wp_posts FOR EACH ROW SET NEW.post_status = NEW.post_status;`,
        'mysql',
      );
      writeFileSync(envFile, `# test\nRESTIC_REPOSITORY=${repo}\nRESTIC_PASSWORD=${PASSWORD}\n`);
      chmodSync(envFile, 0o600);
      writeFileSync(path.join(dir, 'settings.yml'), 'project: shop\nregion: fra1\n');
    },
    budget({ other: 3 }),
  );

  afterAll(
    async () => {
      await db?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    budget({ other: 1 }),
  );

  let first: Record<string, unknown>;
  let before: Record<string, string | undefined>;
  let beforeCounts: Record<string, number>;

  it(
    'init creates the repository once, and leaves an existing one alone',
    async () => {
      expect(await ok(['init'])).toEqual({ ok: true, initialised: true });
      expect(existsSync(path.join(repo, 'config'))).toBe(true);
      expect(await ok(['init'])).toEqual({ ok: true, initialised: false });
    },
    budget({ other: 2 }),
  );

  it(
    'backup: one snapshot of the dump plus the settings, full and short id, the state file (0600)',
    async () => {
      before = checksums();
      beforeCounts = counts();
      first = await ok(['backup', '--tag', 'manual']);
      expect(first).toMatchObject({ ok: true, node: 'db-test', contents: ['database', 'settings'], tag: 'manual' });
      expect(first.snapshot).toMatch(/^[0-9a-f]{64}$/);
      expect((first.snapshot as string).startsWith(first.short_id as string)).toBe(true);
      expect(first.bytes as number).toBeGreaterThan(100_000);
      const snaps = resticSnapshots();
      expect(snaps.filter((s) => s.tags?.includes('database')).map((s) => s.id)).toEqual([first.snapshot]);
      const settings = snaps.find((s) => s.tags?.includes('settings'))!;
      expect(settings.tags).toContain(`of=${first.snapshot as string}`);
      const stored = runToolSync('restic', ['dump', settings.id, '/settings.yml'], { env: resticEnv }).stdout;
      expect(stored).toBe('project: shop\nregion: fra1\n');
      const dump = runToolSync('restic', ['dump', first.snapshot as string, '/database.sql'], { env: resticEnv }).stdout;
      expect(dump).toMatch(/CREATE TABLE `wp_posts`/);
      expect(dump).toMatch(/TRIGGER .*wp_posts_touch/);
      expect(dump).toMatch(/-- Dump completed/);

      const statePath = path.join(dir, 'state', 'state.json');
      expect(statSync(statePath).mode & 0o777).toBe(0o600);
      const state = await ok(['state']);
      expect(state.last_backup).toMatchObject({ ok: true, snapshot: first.snapshot, short_id: first.short_id });
      expect(state.last_verify).toBeNull();
      expect(await ok(['latest'])).toMatchObject({ snapshot: first.snapshot, short_id: first.short_id });
      expect(await ok(['held-data'])).toMatchObject({ held_data: true, backups: 1 });
    },
    budget({ other: 8 }),
  );

  it(
    'restore-database: after rows are changed and deleted and a table added, the snapshot is exactly back',
    async () => {
      sql(`DELETE FROM wp_posts WHERE ID > 100;
         UPDATE wp_options SET option_value = 'Defaced' WHERE option_name = 'blogname';
         DELETE FROM wp_users WHERE user_login = 'editor';
         DROP TABLE wp_comments;
         CREATE TABLE wp_plugin_junk (id int);`);
      expect(counts).toThrow();
      const restored = await ok(['restore-database', '--snapshot', first.short_id as string]);
      expect(restored).toMatchObject({ ok: true, snapshot: first.snapshot, database: 'wordpress', tables: 7 });
      expect(checksums()).toEqual(before);
      expect(counts()).toEqual(beforeCounts);
      expect(sql("SELECT option_value FROM wp_options WHERE option_name = 'blogname'")).toEqual([['Shop']]);
      expect(sql("SHOW TABLES LIKE 'wp_plugin_junk'")).toEqual([]);
      expect(sql("SHOW TRIGGERS LIKE 'wp_posts'").map((r) => r[0])).toEqual(['wp_posts_touch']);
    },
    budget({ other: 8 }),
  );

  it(
    'verify: the counts of the WordPress tables, CHECK TABLE ok, no scratch database left, recorded in the repository',
    async () => {
      const v = await ok(['verify', '--snapshot', 'latest']);
      expect(v).toMatchObject({ ok: true, snapshot: first.snapshot, tables: 7, check: 'ok' });
      expect(v.rows).toEqual(beforeCounts);
      expect(sql("SHOW DATABASES LIKE 'hawp\\_verify\\_%'", 'mysql')).toEqual([]);
      const list = (await ok(['snapshots'])) as unknown as { id: string; verified: string | null; contents: string[]; size: number }[];
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ id: first.snapshot, contents: ['database', 'settings'], size: first.bytes });
      expect(list[0]!.verified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect((await ok(['state'])).last_verify).toMatchObject({ ok: true, snapshot: first.snapshot, tables: 7 });
    },
    budget({ other: 8 }),
  );

  it(
    'a dump that fails leaves no snapshot: exit 1, one line naming mariadb-dump, the failure in the state file',
    async () => {
      const count = resticSnapshots().length;
      const line = await fails(['backup'], config('no_such_db'));
      expect(line).toMatch(/^ha-wordpress-backup backup: mariadb-dump of no_such_db failed \(exit \d+\): .*Unknown database/);
      expect(resticSnapshots()).toHaveLength(count);
      expect((await ok(['state'])).last_backup).toMatchObject({ ok: false, error: expect.stringMatching(/mariadb-dump/) });
    },
    budget({ other: 4 }),
  );

  it(
    'a snapshot id that does not exist: exit 1, one line listing the snapshots that do',
    async () => {
      const line = await fails(['restore-database', '--snapshot', 'deadbeef']);
      expect(line).toContain("backup snapshot 'deadbeef' does not exist");
      expect(line).toContain(`${first.short_id as string} (`);
      expect(await fails(['verify', '--snapshot', 'not-an-id'])).toContain(first.short_id as string);
      // Nothing was touched.
      expect(checksums()).toEqual(before);
    },
    budget({ other: 4 }),
  );

  it(
    'a stale lock left by a killed restic does not block the next scheduled backup and its retention',
    async () => {
      // A restic backup that holds its lock, killed with SIGKILL: the lock stays.
      const hung = spawn('restic', ['backup', '--stdin', '--stdin-filename', 'hung.sql'], { env: resticEnv, stdio: ['pipe', 'ignore', 'ignore'] });
      const locks = path.join(repo, 'locks');
      // Wait until the lock is whole, not merely named: restic 0.14 ignores a
      // lock file it cannot read, and a kill between creating the file and
      // writing it would leave one that blocks nothing.
      const lockWritten = () =>
        readdirSync(locks).some((id) => runToolSync('restic', ['cat', 'lock', id, '--no-lock'], { env: resticEnv, allowFailure: true }).code === 0);
      for (let i = 0; !lockWritten(); i++) {
        if (i > 200) throw new Error('restic took no lock');
        await new Promise((r) => setTimeout(r, 100));
      }
      const gone = new Promise((r) => hung.once('exit', r));
      process.kill(hung.pid!, 'SIGKILL');
      await gone;
      expect(readdirSync(locks)).toHaveLength(1);
      // Retention's forget needs an exclusive lock: restic alone refuses.
      const refused = runToolSync('restic', ['forget', '--keep-last', '5'], { env: resticEnv, allowFailure: true });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/already locked/);

      // Keep the last one only: the retention forgets the first backup, and its
      // settings and verification records with it.
      const second = await ok(['backup', '--tag', 'scheduled'], config('wordpress', { last: 1 }));
      expect(second).toMatchObject({ ok: true, forgotten: 1 });
      expect(second).not.toHaveProperty('retention_error');
      expect(readdirSync(locks)).toEqual([]);
      const ids = ((await ok(['snapshots'])) as unknown as { id: string; tags: string[] }[]).map((s) => s.id);
      expect(ids).toEqual([second.snapshot]);
      expect(resticSnapshots().filter((s) => s.tags?.some((t) => t.startsWith('of=') && t !== `of=${second.snapshot as string}`))).toEqual([]);
      // The repository is sound after all this.
      const check = runToolSync('restic', ['check'], { env: resticEnv, allowFailure: true });
      expect(check.code, check.report).toBe(0);
    },
    budget({ other: 8 }),
  );

  const asRoot = skipWhen(process.platform === 'linux' && process.getuid?.() === 0 ? undefined : 'mounting a small tmpfs needs root on Linux');
  asRoot.it(
    'a full disk under the repository: exit 1, one line naming restic and the cause; with room again the next backup and restic check succeed',
    async () => {
      const small = path.join(dir, 'small');
      mkdirSync(small);
      runToolSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', small]);
      try {
        const smallEnv = path.join(dir, 'env-small');
        writeFileSync(smallEnv, `RESTIC_REPOSITORY=${path.join(small, 'repo')}\nRESTIC_PASSWORD=${PASSWORD}\n`, { mode: 0o600 });
        await ok(['init'], good, smallEnv);
        // Fill it: restic compresses, so even a few KiB could hold this test's dump.
        const free = Number(runToolSync('df', ['--output=avail', '-B1', small]).stdout.trim().split('\n')[1]);
        writeFileSync(path.join(small, 'filler'), Buffer.alloc(free));
        const line = await fails(['backup'], good, smallEnv);
        expect(line).toMatch(/^ha-wordpress-backup backup: restic backup failed: .*no space left on device/i);
        expect((await ok(['state'], good, smallEnv)).last_backup).toMatchObject({ ok: false, error: expect.stringMatching(/no space left/i) });

        rmSync(path.join(small, 'filler'));
        const next = await ok(['backup'], good, smallEnv);
        expect(next).toMatchObject({ ok: true });
        const smallRestic = { ...resticEnv, RESTIC_REPOSITORY: path.join(small, 'repo') };
        const check = runToolSync('restic', ['check'], { env: smallRestic, allowFailure: true });
        expect(check.code, check.report).toBe(0);
        const snaps = JSON.parse(runToolSync('restic', ['snapshots', '--json'], { env: smallRestic }).stdout) as { id: string }[];
        expect(snaps.map((x) => x.id)).toContain(next.snapshot);
      } finally {
        runToolSync('umount', [small], { allowFailure: true });
      }
    },
    budget({ other: 6 }),
  );

  it(
    "held (drill's hold file): the timers' runs do nothing and say so; a backup asked for by hand still runs",
    async () => {
      const count = resticSnapshots().length;
      writeFileSync(holdFile, '');
      try {
        expect(await ok(['backup', '--tag', 'scheduled', '--if-elected'])).toEqual({ ok: true, skipped: true, held: holdFile, node: 'db-test' });
        expect(await ok(['verify', '--if-elected'])).toEqual({ ok: true, skipped: true, held: holdFile, node: 'db-test' });
        expect(resticSnapshots()).toHaveLength(count);
        expect(await ok(['backup'])).toMatchObject({ ok: true, contents: ['database', 'settings'] });
      } finally {
        rmSync(holdFile, { force: true });
      }
      expect(resticSnapshots().length).toBeGreaterThan(count);
    },
    budget({ other: 4 }),
  );

  it(
    'refuses an env file others can read, saying which file and what to do',
    async () => {
      chmodSync(envFile, 0o644);
      try {
        const line = await fails(['snapshots']);
        expect(line).toBe(`ha-wordpress-backup snapshots: ${envFile} is readable by others (mode 644): it holds the repository password; chmod 600 it`);
      } finally {
        chmodSync(envFile, 0o600);
      }
      expect(readFileSync(envFile, 'utf8')).toContain('RESTIC_REPOSITORY=');
    },
    budget({ other: 2 }),
  );
  // The uploads: the media bucket in the lab's S3 stand-in (loopback), mirrored by the real rclone.
  skipWhen(missing('rclone')).it(
    'uploads: a backup holds the media bucket; restore-media puts changed, deleted and later objects back as they were',
    async () => {
      const creds = { accessKey: `LAB${randomBytes(6).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64') };
      const media = 'shop-media';
      const standin: S3Standin = await startS3Standin({ address: '127.0.0.1', port: 0, directory: path.join(dir, 's3'), ...creds, buckets: [media] });
      const port = Number(new URL(standin.url).port);
      const put = async (key: string, body: Buffer) => {
        const r = await send(
          port,
          signed(port, creds, { method: 'PUT', url: `/${media}/${key}`, body, headers: { 'x-amz-acl': 'public-read', 'content-type': 'image/jpeg' } }),
        );
        expect(r.status, r.body).toBe(200);
      };
      const del = async (key: string) => expect((await send(port, signed(port, creds, { method: 'DELETE', url: `/${media}/${key}` }))).status).toBe(204);
      /** Fetched as a browser would (anonymous): the status and the content's SHA-256. */
      const get = async (key: string) => {
        const r = await send(port, { method: 'GET', url: `/${media}/${key}`, headers: { host: `127.0.0.1:${port}` } });
        return r.status === 200 ? createHash('sha256').update(r.bytes).digest('hex') : r.status;
      };
      try {
        const repoMedia = path.join(dir, 'repo-media');
        const mediaEnv = path.join(dir, 'env-media');
        const envText = (secret: string) =>
          `RESTIC_REPOSITORY=${repoMedia}\nRESTIC_PASSWORD=${PASSWORD}\nAWS_ACCESS_KEY_ID=${creds.accessKey}\nAWS_SECRET_ACCESS_KEY=${secret}\n`;
        writeFileSync(mediaEnv, envText(creds.secretKey), { mode: 0o600 });
        const withMedia = path.join(dir, 'backup-media.json');
        const base = JSON.parse(readFileSync(good, 'utf8')) as Record<string, unknown>;
        writeFileSync(
          withMedia,
          JSON.stringify({ ...base, state_dir: path.join(dir, 'state-media'), media: { bucket: media, endpoint: standin.url, region: 'lab' } }),
        );
        await ok(['init'], good, mediaEnv);

        // A backup taken before uploads were backed up: restoring it leaves the bucket alone.
        const older = await ok(['backup'], good, mediaEnv);
        expect(older.contents).toEqual(['database', 'settings']);

        const files: Record<string, Buffer> = {
          // Where the web nodes' plugin keeps an upload: wp-content/uploads/ and its path under the uploads directory.
          'wp-content/uploads/2026/12/photo.jpg': randomBytes(180_000),
          'wp-content/uploads/2026/12/photo-150x150.jpg': randomBytes(9_000),
          'wp-content/uploads/2026/11/brochure.pdf': randomBytes(60_000),
        };
        for (const [k, b] of Object.entries(files)) await put(k, b);
        const hashes = Object.fromEntries(Object.entries(files).map(([k, b]) => [k, createHash('sha256').update(b).digest('hex')]));

        // Two attachments in the database: one whose file is in the bucket, one whose file was lost before the backup.
        sql(
          'INSERT INTO wp_postmeta (post_id, meta_key, meta_value) ' +
            "VALUES (1, '_wp_attached_file', '2026/12/photo.jpg'), (2, '_wp_attached_file', '2026/10/lost.jpg')",
        );
        const taken = await ok(['backup'], withMedia, mediaEnv);
        const bytes = Object.values(files).reduce((n, b) => n + b.length, 0);
        expect(taken).toMatchObject({ ok: true, contents: ['database', 'media', 'settings'], media: { files: 3, bytes } });
        const listed = (await ok(['snapshots'], withMedia, mediaEnv)) as unknown as { id: string; contents: string[]; media: unknown }[];
        expect(listed.map((b) => [b.id, b.contents, b.media])).toEqual([
          [older.snapshot, ['database', 'settings'], null],
          [taken.snapshot, ['database', 'media', 'settings'], { files: 3, bytes }],
        ]);
        // The mirror is root's alone, like the rest of the state directory.
        expect(statSync(path.join(dir, 'state-media', 'media', 'wp-content', 'uploads', '2026', '12', 'photo.jpg')).mode & 0o077).toBe(0);

        // verify says which attachments' files the backup lacks (reported, not failed: no backup can mend it).
        const verified = await ok(['verify', '--snapshot', taken.short_id as string], withMedia, mediaEnv);
        expect(verified).toMatchObject({ ok: true, check: 'ok', media: { files: 3, attachments: 2, missing: 1, missing_examples: ['2026/10/lost.jpg'] } });

        // After the backup: one file replaced, one deleted, one added.
        await put('wp-content/uploads/2026/12/photo.jpg', randomBytes(180_000));
        await del('wp-content/uploads/2026/11/brochure.pdf');
        await put('wp-content/uploads/2026/12/later.png', randomBytes(5_000));
        expect(await get('wp-content/uploads/2026/12/photo.jpg')).not.toBe(hashes['wp-content/uploads/2026/12/photo.jpg']);

        const olderRestore = await ok(['restore-media', '--snapshot', older.short_id as string], withMedia, mediaEnv);
        expect(olderRestore).toMatchObject({ ok: true, restored: false, why: expect.stringMatching(/holds no uploads/) });
        expect(await get('wp-content/uploads/2026/12/later.png')).not.toBe(404);

        const restored = await ok(['restore-media', '--snapshot', taken.short_id as string], withMedia, mediaEnv);
        expect(restored).toMatchObject({ ok: true, restored: true, bucket: media, files: 3, bytes });
        for (const [k, h] of Object.entries(hashes)) expect(await get(k), k).toBe(h);
        // Gone (anonymous, a missing object is a 403 as on Spaces; signed, 404).
        expect((await send(port, signed(port, creds, { method: 'GET', url: `/${media}/wp-content/uploads/2026/12/later.png` }))).status).toBe(404);
        // Again: nothing left to do, and the same result (an interrupted restore is finished this way).
        expect(await ok(['restore-media', '--snapshot', taken.snapshot as string], withMedia, mediaEnv)).toMatchObject({ restored: true, files: 3 });
        for (const [k, h] of Object.entries(hashes)) expect(await get(k), k).toBe(h);

        // A key the bucket refuses: the backup fails in one line naming the bucket; the database snapshot it took is kept.
        writeFileSync(mediaEnv, envText(creds.secretKey.split('').reverse().join('') + 'x'), { mode: 0o600 });
        const line = await fails(['backup'], withMedia, mediaEnv);
        expect(line).toMatch(/^ha-wordpress-backup backup: the database was saved \(snapshot [0-9a-f]{8}\) but the uploads were not: /);
        expect(line).toMatch(/copying the media bucket shop-media failed: .*(SignatureDoesNotMatch|403)/);
        expect(line).not.toContain(creds.secretKey);
        expect((await ok(['state'], withMedia, mediaEnv)).last_backup).toMatchObject({ ok: false, error: expect.stringMatching(/uploads were not/) });
      } finally {
        await standin.close();
      }
    },
    budget({ other: 10 }),
  );
});
