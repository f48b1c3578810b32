/**
 * The lab's S3 stand-in (src/lab/s3.ts: s3rver behind a SigV4 gate) driven
 * by the real restic, the way the backup role will drive it on the database
 * nodes: credentials and the repository password only in the environment,
 * the repository as `s3:http://<address>:<port>/<bucket>/<path>`, a dump
 * streamed into `backup --stdin`. Loopback only. Skipped, saying so, where
 * restic is not installed.
 *
 * Then, without restic, what the WordPress media offload relies on: an
 * object stored with `x-amz-acl: public-read` is served to anyone, as
 * Spaces serves it, and nothing else is.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_PATH, PUBLIC_READS_FILE, startS3Standin, type S3Standin } from '../src/lab/s3.js';
import { parseS3StandinConfig } from '../src/lab/s3-standin.js';
import { ROOT, tempDir } from './support/cli.js';
import { send, signed, type Answer } from './support/s3-client.js';
import { budget, needs, runTool, STEP_TIMEOUT_MS, type ToolResult } from './support/tools.js';

const MiB = 1024 * 1024;
const BUCKET = 'lab-backups';

/** A mariadb-dump look-alike: SQL text with random values (it compresses, like a real dump, but not to nothing). */
function writeDump(file: string, bytes: number): void {
  const fd = openSync(file, 'w', 0o600);
  let id = 1;
  let written = writeSync(fd, '-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n-- Host: localhost    Database: wordpress\n');
  while (written < bytes) {
    const rnd = randomBytes(36 * 4096);
    const lines: string[] = [];
    for (let i = 0; i < 4096; i++, id++)
      lines.push(
        `INSERT INTO \`wp_postmeta\` VALUES (${id},${1000 + (id % 977)},'_wp_attached_file','${rnd.subarray(i * 36, (i + 1) * 36).toString('base64')}');\n`,
      );
    written += writeSync(fd, lines.join(''));
  }
  closeSync(fd);
}

/** The same dump a day later: a few rows changed in the middle, some added at the end. */
function writeChangedDump(from: string, to: string, appendBytes: number): void {
  const data = readFileSync(from);
  const mid = Math.floor(data.length / 2);
  randomBytes(4096)
    .toString('hex')
    .slice(0, 4096)
    .split('')
    .forEach((c, i) => (data[mid + i] = c.charCodeAt(0)));
  writeFileSync(to, data, { mode: 0o600 });
  const more = path.join(path.dirname(to), 'more.sql');
  writeDump(more, appendBytes);
  writeFileSync(to, readFileSync(more), { flag: 'a' });
  rmSync(more);
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Every file under the store with its content hash: "unchanged" means this is equal. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = sha(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Bytes of object content in the store (s3rver keeps each object as `<key>._S3rver_object`). */
function storedBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('._S3rver_object')) n += statSync(p).size;
    }
  };
  walk(dir);
  return n;
}

/** restic's --json backup prints status lines, then one summary. */
function summary(r: ToolResult): { snapshot_id: string; data_added: number; total_bytes_processed: number } {
  const line = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((m) => m.message_type === 'summary');
  if (!line) throw new Error(`no summary in restic's output:\n${r.report}`);
  return line as unknown as ReturnType<typeof summary>;
}

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP pass-through that keeps what restic sent, so a signed request can be replayed, altered, to the stand-in. */
async function recordingProxy(port: number): Promise<{ port: number; seen: Recorded[]; close: () => Promise<void> }> {
  const seen: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const restic = needs('restic');

restic.describe('the S3 stand-in with the real restic', () => {
  let dir: string;
  let store: string;
  let standin: S3Standin;
  let env: NodeJS.ProcessEnv;
  let repo: string;
  // Random per run, with the characters a generated Spaces secret has ('/' and '+').
  const accessKey = `LAB${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(30).toString('base64');

  const start = (port = 0) => startS3Standin({ address: '127.0.0.1', port, directory: store, accessKey, secretKey, buckets: [BUCKET] });

  /** restic against `repo` (or another), with only the environment it needs: no secret in argv. */
  const run = (args: string[], opts: { env?: NodeJS.ProcessEnv; allowFailure?: boolean; repository?: string } = {}) =>
    runTool('restic', ['-r', opts.repository ?? repo, ...args], { env: opts.env ?? env, allowFailure: opts.allowFailure });

  /** `cat dump | restic backup --stdin …`: a pipe, as from mariadb-dump, so restic cannot seek or stat its input. */
  const backupFromPipe = (file: string, args: string[], opts: { repository?: string } = {}) =>
    runTool('sh', ['-c', 'cat -- "$0" | restic "$@"', file, '-r', opts.repository ?? repo, 'backup', '--stdin', '--stdin-filename', 'wordpress.sql', ...args], {
      env,
      timeoutMs: STEP_TIMEOUT_MS.restic,
    });

  beforeAll(async () => {
    dir = tempDir('hawp-s3-');
    store = path.join(dir, 'store');
    const password = path.join(dir, 'restic-password');
    writeFileSync(password, `${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
    standin = await start();
    repo = `s3:${standin.url}/${BUCKET}/db-01`;
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      TMPDIR: dir,
      RESTIC_PASSWORD_FILE: password,
      RESTIC_CACHE_DIR: path.join(dir, 'cache'),
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
    };
  });

  afterAll(async () => {
    await standin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  restic.it(
    'init, a directory backup and a streamed dump, listed by snapshots --json',
    async () => {
      // The configured bucket exists before any client asks.
      expect(statSync(path.join(store, BUCKET)).isDirectory()).toBe(true);
      const init = await run(['init']);
      expect(init.stdout).toMatch(/created restic repository [0-9a-f]+ at s3:http:\/\/127\.0\.0\.1:\d+\/lab-backups\/db-01/);
      // restic 0.14 makes repository version 2 (compressed) unless told otherwise.
      expect(JSON.parse((await run(['cat', 'config'])).stdout)).toMatchObject({ version: 2 });

      const src = path.join(dir, 'src');
      mkdirSync(path.join(src, 'wp-content', 'uploads'), { recursive: true });
      const config = "<?php define('DB_NAME', 'wordpress');\n";
      writeFileSync(path.join(src, 'wp-config.php'), config);
      writeFileSync(path.join(src, 'wp-content', 'uploads', 'photo.jpg'), randomBytes(300_000));
      const files = summary(await run(['backup', '--json', '--tag', 'files', src]));
      expect(files.total_bytes_processed).toBe(300_000 + config.length);

      const dump = path.join(dir, 'dump-1.sql');
      writeDump(dump, 6 * MiB);
      const db = summary(await backupFromPipe(dump, ['--json', '--tag', 'db']));
      expect(db.total_bytes_processed).toBe(statSync(dump).size);

      const snaps = JSON.parse((await run(['snapshots', '--json'])).stdout) as { id: string; short_id: string; paths: string[]; tags?: string[] }[];
      // restic 0.14's backup summary names the snapshot by its short id.
      expect(snaps.map((s) => s.short_id).sort()).toEqual([files.snapshot_id, db.snapshot_id].sort());
      expect(snaps.find((s) => s.short_id === db.snapshot_id)).toMatchObject({ paths: ['/wordpress.sql'], tags: ['db'] });
      expect(snaps.find((s) => s.short_id === files.snapshot_id)).toMatchObject({ paths: [src], tags: ['files'] });
      for (const s of snaps) expect(s.id.startsWith(s.short_id)).toBe(true);

      // A bucket nobody configured is made by restic init, as on Spaces.
      await run(['init'], { repository: `s3:${standin.url}/made-by-restic/db-01` });
      expect(existsSync(path.join(store, 'made-by-restic', 'db-01', 'config._S3rver_object'))).toBe(true);
    },
    budget({ restic: 7 }),
  );

  restic.it(
    'a second dump is deduplicated: the store grows by much less than the dump',
    async () => {
      const dump = path.join(dir, 'dump-1.sql');
      const next = path.join(dir, 'dump-2.sql');
      writeChangedDump(dump, next, 256 * 1024);
      const before = storedBytes(store);
      const s = summary(await backupFromPipe(next, ['--json', '--tag', 'db']));
      const grown = storedBytes(store) - before;
      expect(s.total_bytes_processed).toBe(statSync(next).size);
      // Two of ~7 content-defined chunks change (the middle one and the tail); the rest are already stored.
      expect(grown).toBeGreaterThan(0);
      expect(grown).toBeLessThan(statSync(next).size / 2);
    },
    budget({ restic: 1 }),
  );

  restic.it(
    'forget --keep-last --prune, check --read-data, then restore and dump give back the same bytes',
    async () => {
      const before = JSON.parse((await run(['snapshots', '--json', '--tag', 'db'])).stdout) as { id: string; time: string }[];
      expect(before).toHaveLength(2);
      const bytesBefore = storedBytes(store);
      await run(['forget', '--tag', 'db', '--keep-last', '1', '--prune']);
      const after = JSON.parse((await run(['snapshots', '--json', '--tag', 'db'])).stdout) as { id: string; time: string }[];
      const newest = [...before].sort((a, b) => a.time.localeCompare(b.time)).pop()!;
      expect(after.map((s) => s.id)).toEqual([newest.id]);
      // prune deleted the chunks only the forgotten dump had (DELETE through the gate).
      expect(storedBytes(store)).toBeLessThan(bytesBefore);
      await run(['check']);
      const read = await run(['check', '--read-data']);
      expect(read.stdout).toContain('no errors were found');

      const target = path.join(dir, 'restored');
      await run(['restore', 'latest', '--tag', 'db', '--target', target]);
      expect(sha(path.join(target, 'wordpress.sql'))).toBe(sha(path.join(dir, 'dump-2.sql')));
      const dumped = path.join(dir, 'dumped.sql');
      await runTool('sh', ['-c', 'restic -r "$0" dump latest --tag db wordpress.sql > "$1"', repo, dumped], { env, timeoutMs: STEP_TIMEOUT_MS.restic });
      expect(sha(dumped)).toBe(sha(path.join(dir, 'dump-2.sql')));
      // The files snapshot, restored in full.
      await run(['restore', 'latest', '--tag', 'files', '--target', path.join(dir, 'restored-files')]);
      const photo = path.join('wp-content', 'uploads', 'photo.jpg');
      expect(sha(path.join(dir, 'restored-files', dir, 'src', photo))).toBe(sha(path.join(dir, 'src', photo)));
    },
    budget({ restic: 9 }),
  );

  restic.it(
    'wrong credentials: restic fails and the store is unchanged; an unsigned request is refused',
    async () => {
      const was = fingerprint(store);
      const wrongSecret = await run(['backup', path.join(dir, 'src')], { env: { ...env, AWS_SECRET_ACCESS_KEY: `${secretKey}x` }, allowFailure: true });
      expect(wrongSecret.code, wrongSecret.report).toBe(1);
      expect(wrongSecret.stderr).toContain('The request signature we calculated does not match the signature you provided');
      const wrongKey = await run(['backup', path.join(dir, 'src')], { env: { ...env, AWS_ACCESS_KEY_ID: 'LABSOMEONEELSE' }, allowFailure: true });
      expect(wrongKey.code, wrongKey.report).toBe(1);
      expect(wrongKey.stderr).toContain('The AWS Access Key Id you provided does not exist in our records');
      const wrongInit = await run(['init'], {
        repository: `s3:${standin.url}/not-made/db-01`,
        env: { ...env, AWS_SECRET_ACCESS_KEY: 'guess' },
        allowFailure: true,
      });
      expect(wrongInit.code, wrongInit.report).toBe(1);
      expect(fingerprint(store)).toEqual(was);

      const anonymous = await send(standin.port, { method: 'GET', url: `/${BUCKET}/db-01/config`, headers: {} });
      expect(anonymous.status).toBe(403);
      expect(anonymous.body).toContain('<Code>AccessDenied</Code>');
      const listing = await send(standin.port, { method: 'GET', url: `/${BUCKET}?list-type=2`, headers: {} });
      expect(listing.status).toBe(403);
    },
    budget({ restic: 3 }),
  );

  restic.it(
    'a restic upload replayed with one byte changed, or another signature, is refused and stores nothing; replayed as it was, it is taken',
    async () => {
      const proxy = await recordingProxy(standin.port);
      try {
        const src = path.join(dir, 'replayed');
        mkdirSync(src);
        writeFileSync(path.join(src, 'table.sql'), randomBytes(200_000).toString('hex'));
        await run(['backup', src], { repository: `s3:http://127.0.0.1:${proxy.port}/${BUCKET}/db-01` });
      } finally {
        await proxy.close();
      }
      const put = proxy.seen.find((r) => r.method === 'PUT' && r.url.includes('/db-01/data/') && r.body.length > 65536);
      expect(put, `restic's requests: ${proxy.seen.map((r) => `${r.method} ${r.url}`).join(', ')}`).toBeDefined();
      // Over http restic signs each chunk of the body: the framing the gate takes off before s3rver stores the object.
      expect(put!.headers['x-amz-content-sha256']).toBe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
      expect(Number(put!.headers['x-amz-decoded-content-length'])).toBeLessThan(put!.body.length);

      const again = await send(standin.port, { ...put!, headers: put!.headers });
      expect(again.status, again.body).toBe(200);
      const was = fingerprint(store);

      const body = Buffer.from(put!.body);
      const dataStart = body.indexOf('\r\n') + 2;
      body[dataStart + 100] = body[dataStart + 100]! ^ 0x01;
      const flipped = await send(standin.port, { ...put!, headers: put!.headers, body });
      expect(flipped.status).toBe(403);
      expect(flipped.body).toContain('A chunk signature does not match the chunk it signs');

      const auth = String(put!.headers.authorization);
      const otherSig = auth.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`);
      const resigned = await send(standin.port, { ...put!, headers: { ...put!.headers, authorization: otherSig } });
      expect(resigned.status).toBe(403);
      expect(resigned.body).toContain('<Code>SignatureDoesNotMatch</Code>');

      const moved = await send(standin.port, { ...put!, url: put!.url.replace(/data\/(..)\/\w+/, 'data/$1/elsewhere'), headers: put!.headers });
      expect(moved.status).toBe(403);
      expect(moved.body).toContain('<Code>SignatureDoesNotMatch</Code>');

      // Content-Length is not signed (restic signs content-md5, host and the x-amz-* headers): a body cut
      // before its final chunk, with a matching Content-Length, must fail on the framing itself.
      const cut = put!.body.subarray(0, put!.body.lastIndexOf('0;chunk-signature='));
      const truncated = await send(standin.port, { ...put!, headers: { ...put!.headers, 'content-length': String(cut.length) }, body: cut });
      expect(truncated.status).toBe(400);
      expect(truncated.body).toContain('<Code>IncompleteBody</Code>');

      expect(fingerprint(store)).toEqual(was);
      await run(['check', '--read-data']);
    },
    budget({ restic: 2 }),
  );

  restic.it(
    'the data survives a restart of the stand-in on the same directory',
    async () => {
      const snaps = (await run(['snapshots', '--json'])).stdout;
      const was = fingerprint(store);
      const port = standin.port;
      await standin.close();
      expect(fingerprint(store)).toEqual(was);
      standin = await start(port);
      expect(JSON.parse((await run(['snapshots', '--json'])).stdout)).toEqual(JSON.parse(snaps));
      const dumped = path.join(dir, 'after-restart.sql');
      await runTool('sh', ['-c', 'restic -r "$0" dump latest --tag db wordpress.sql > "$1"', repo, dumped], { env, timeoutMs: STEP_TIMEOUT_MS.restic });
      expect(sha(dumped)).toBe(sha(path.join(dir, 'dump-2.sql')));
    },
    budget({ restic: 2 }),
  );

  restic.it(
    'check --read-data finds an object damaged in the store, where plain check does not',
    async () => {
      const repository = `s3:${standin.url}/${BUCKET}/scratch`;
      await run(['init'], { repository });
      const dump = path.join(dir, 'scratch.sql');
      writeDump(dump, 2 * MiB);
      await backupFromPipe(dump, [], { repository });
      const packs: string[] = [];
      const walk = (d: string) =>
        readdirSync(d, { withFileTypes: true }).forEach((e) =>
          e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('._S3rver_object') && packs.push(path.join(d, e.name)),
        );
      walk(path.join(store, BUCKET, 'scratch', 'data'));
      const pack = packs.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
      const bytes = readFileSync(pack);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(pack, bytes);
      await run(['check', '--no-cache'], { repository });
      const read = await run(['check', '--read-data', '--no-cache'], { repository, allowFailure: true });
      expect(read.code, read.report).toBe(1);
      expect(read.stdout + read.stderr).toMatch(/Pack ID does not match|ciphertext verification failed|Fatal: repository contains errors/);
    },
    budget({ restic: 4 }),
  );

  restic.it(
    'about 100 MB streamed: backup, the same again, restore (timings printed)',
    async () => {
      const repository = `s3:${standin.url}/${BUCKET}/timing`;
      await run(['init'], { repository });
      const dump = path.join(dir, 'big.sql');
      writeDump(dump, 100 * 1000 * 1000);
      const size = statSync(dump).size;
      const base = storedBytes(store);
      const first = await backupFromPipe(dump, ['--json'], { repository });
      const afterFirst = storedBytes(store);
      const second = await backupFromPipe(dump, ['--json'], { repository });
      const afterSecond = storedBytes(store);
      const target = path.join(dir, 'big-restored');
      const restore = await run(['restore', 'latest', '--target', target], { repository });
      expect(sha(path.join(target, 'wordpress.sql'))).toBe(sha(dump));
      // The same dump again stores no new data chunk: only a snapshot, an index and a tree.
      expect(summary(second).data_added).toBeLessThan(64 * 1024);
      expect(afterSecond - afterFirst).toBeLessThan(64 * 1024);
      const mb = (n: number) => (n / MiB).toFixed(1);
      console.log(
        `S3 stand-in, ${mb(size)} MiB dump through a pipe: backup ${(first.ms / 1000).toFixed(1)} s ` +
          `(stored ${mb(afterFirst - base)} MiB), same dump again ${(second.ms / 1000).toFixed(1)} s ` +
          `(+${((afterSecond - afterFirst) / 1024).toFixed(0)} KiB), restore ${(restore.ms / 1000).toFixed(1)} s`,
      );
      rmSync(dump);
      rmSync(target, { recursive: true });
    },
    budget({ restic: 4 }),
  );

  restic.it(
    'the s3-standin daemon: config from a 0600 file, health, restic through it, SIGTERM ends it cleanly',
    async () => {
      const script = path.join(ROOT, 'dist', 'lab', 's3-standin.js');
      expect(existsSync(script), `${script} is missing: run npm run build first`).toBe(true);
      const daemonStore = path.join(dir, 'daemon-store');
      const config = path.join(dir, 's3-standin.json');
      const cfg = { address: '127.0.0.1', port: 0, directory: daemonStore, accessKey, secretKey, buckets: ['daemon-bucket'], configHash: 'abc123' };
      // Port 0 would leave us guessing: take a free one first.
      const probe = http.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      cfg.port = (probe.address() as { port: number }).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      writeFileSync(config, JSON.stringify(cfg), { mode: 0o600 });

      const child = spawn(process.execPath, [script, config], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        let health: { status: number; body: string } | undefined;
        for (let i = 0; i < 100 && !health; i++) {
          health = await send(cfg.port, { method: 'GET', url: HEALTH_PATH, headers: {} }).catch(() => undefined);
          if (!health) await new Promise((r) => setTimeout(r, 100));
        }
        expect(health, out).toBeDefined();
        expect(JSON.parse(health!.body)).toEqual({ service: 's3', pid: child.pid, config: 'abc123' });
        expect(out).toContain(`S3 stand-in on http://127.0.0.1:${cfg.port}`);
        expect(out).not.toContain(secretKey);
        const repository = `s3:http://127.0.0.1:${cfg.port}/daemon-bucket/db-01`;
        await run(['init'], { repository });
        await run(['backup', path.join(dir, 'src')], { repository });
        // umask 077: nothing the daemon stores is readable by anyone but root.
        expect(statSync(path.join(daemonStore, 'daemon-bucket', 'db-01', 'config._S3rver_object')).mode & 0o077).toBe(0);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      expect(out).toContain('stopping (SIGTERM)');
      expect(out).not.toContain(secretKey);
    },
    budget({ restic: 2 }),
  );
});

describe('the S3 stand-in serves public-read objects anonymously, as Spaces does', () => {
  const MEDIA = 'lab-media';
  const creds = { accessKey: `LAB${randomBytes(8).toString('hex').toUpperCase()}`, secretKey: randomBytes(30).toString('base64') };
  let dir: string;
  let store: string;
  let standin: S3Standin;
  const logged: string[] = [];

  const start = () =>
    startS3Standin({ address: '127.0.0.1', port: 0, directory: store, ...creds, buckets: [MEDIA], log: (l) => logged.push(l) }).then((s) => (standin = s));
  const put = (key: string, body: Buffer, headers: Record<string, string> = {}) =>
    send(standin.port, signed(standin.port, creds, { method: 'PUT', url: `/${MEDIA}/${key}`, headers, body }));
  const putPublic = (key: string, body: Buffer, headers: Record<string, string> = {}) => put(key, body, { ...headers, 'x-amz-acl': 'public-read' });
  const signedGet = (key: string) => send(standin.port, signed(standin.port, creds, { method: 'GET', url: `/${MEDIA}/${key}` }));
  const anonymous = (method: string, url: string, body?: Buffer) => send(standin.port, { method, url, headers: {}, body });
  const expectDenied = (a: Answer, method = 'GET') => {
    expect(a.status, a.body).toBe(403);
    // A HEAD answer has no body to say why.
    if (method !== 'HEAD') expect(a.body).toContain('<Code>AccessDenied</Code>');
  };

  beforeAll(async () => {
    dir = tempDir('hawp-s3-acl-');
    store = path.join(dir, 'store');
    await start();
  });

  afterAll(async () => {
    await standin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a public-read object: anonymous GET and HEAD answer 200 with its bytes and headers; a private one 403, as does a missing key', async () => {
    const photo = randomBytes(200_000);
    const key = 'wp-content/uploads/2026/05/photo.jpg';
    const stored = await putPublic(key, photo, { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=31536000' });
    expect(stored.status, stored.body).toBe(200);
    const got = await anonymous('GET', `/${MEDIA}/${key}`);
    expect(got.status, got.body).toBe(200);
    expect(got.bytes.equals(photo)).toBe(true);
    expect(got.headers['content-type']).toBe('image/jpeg');
    expect(got.headers['cache-control']).toBe('public, max-age=31536000');
    const head = await anonymous('HEAD', `/${MEDIA}/${key}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(photo.length));
    expect(head.bytes.length).toBe(0);
    // A query parameter S3 does not know (a cache-buster) is ignored; a sub-resource or a header override is not an anonymous read.
    expect((await anonymous('GET', `/${MEDIA}/${key}?ver=6.5`)).bytes.equals(photo)).toBe(true);
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}?acl`));
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}?response-content-type=text%2Fhtml`));
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}?tagging`));

    // A key with spaces and non-ASCII characters, percent-encoded on the wire.
    const odd = 'wp-content/uploads/2026/05/caf%C3%A9%20au%20lait%2B1.jpg';
    expect((await putPublic(odd, photo.subarray(0, 1000))).status).toBe(200);
    expect((await anonymous('GET', `/${MEDIA}/${odd}`)).bytes.equals(photo.subarray(0, 1000))).toBe(true);

    const secret = randomBytes(5000);
    expect((await put('private/notes.txt', secret)).status).toBe(200);
    expect((await put('private/explicit.txt', secret, { 'x-amz-acl': 'private' })).status).toBe(200);
    for (const k of ['private/notes.txt', 'private/explicit.txt', 'wp-content/uploads/none.jpg']) {
      expectDenied(await anonymous('GET', `/${MEDIA}/${k}`));
      expectDenied(await anonymous('HEAD', `/${MEDIA}/${k}`), 'HEAD');
    }
    // Signed, the private object is there.
    expect((await signedGet('private/notes.txt')).bytes.equals(secret)).toBe(true);
    expect(logged.some((l) => /^GET \/lab-media\/wp-content\/uploads\/2026\/05\/photo\.jpg → 200 \(public-read, anonymous\)/.test(l))).toBe(true);
  });

  it('a signed PUT without public-read makes an object private, also over a public one; a delete takes the mark with it', async () => {
    const key = 'wp-content/uploads/2026/05/logo.png';
    const v1 = randomBytes(3000);
    const v2 = randomBytes(3000);
    expect((await putPublic(key, v1)).status).toBe(200);
    expect((await anonymous('GET', `/${MEDIA}/${key}`)).bytes.equals(v1)).toBe(true);
    expect((await put(key, v2)).status).toBe(200);
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}`));
    expectDenied(await anonymous('HEAD', `/${MEDIA}/${key}`), 'HEAD');
    expect((await signedGet(key)).bytes.equals(v2)).toBe(true);
    expect((await putPublic(key, v1)).status).toBe(200);
    expect((await anonymous('GET', `/${MEDIA}/${key}`)).bytes.equals(v1)).toBe(true);

    // A PUT the gate refuses (its body is not what it signed) changes nothing, the mark included.
    const tampered = signed(standin.port, creds, { method: 'PUT', url: `/${MEDIA}/${key}`, body: v2 });
    const refused = await send(standin.port, { ...tampered, body: Buffer.from(v2).fill(0, 0, 1) });
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
    expect((await anonymous('GET', `/${MEDIA}/${key}`)).bytes.equals(v1)).toBe(true);
    // A PUT s3rver refuses (no such bucket) does not touch the mark of an object elsewhere, nor make one.
    const nowhere = await send(standin.port, signed(standin.port, creds, { method: 'PUT', url: `/no-such-bucket/x`, headers: { 'x-amz-acl': 'public-read' } }));
    expect(nowhere.status).toBe(404);
    expectDenied(await anonymous('GET', '/no-such-bucket/x'));

    // Deleted, then stored again without the header: private (403, not the old mark, not 404).
    expect((await send(standin.port, signed(standin.port, creds, { method: 'DELETE', url: `/${MEDIA}/${key}` }))).status).toBe(204);
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}`));
    expect((await put(key, v2)).status).toBe(200);
    expectDenied(await anonymous('GET', `/${MEDIA}/${key}`));

    // A multi-object delete takes the marks of the keys it names: 403 after it, not s3rver's 404 behind a stale mark.
    // (Top-level keys: s3rver's multi-delete of two keys in one folder races to remove the folder and fails.)
    for (const k of ['batch-a.jpg', 'batch-b%26c.jpg']) expect((await putPublic(k, v1)).status).toBe(200);
    const xml = '<Delete><Object><Key>batch-a.jpg</Key></Object><Object><Key>batch-b&amp;c.jpg</Key></Object></Delete>';
    const batch = await send(standin.port, signed(standin.port, creds, { method: 'POST', url: `/${MEDIA}?delete`, body: Buffer.from(xml) }));
    expect(batch.status, batch.body).toBe(200);
    for (const k of ['batch-a.jpg', 'batch-b%26c.jpg']) expectDenied(await anonymous('GET', `/${MEDIA}/${k}`));
    expect((await putPublic('batch-a.jpg', v1)).status).toBe(200);
    expect((await put('batch-b%26c.jpg', v2)).status).toBe(200);
  });

  it('anonymous PUT, DELETE, POST and listings are refused and change nothing', async () => {
    const key = 'wp-content/uploads/2026/05/photo.jpg';
    const before = (await anonymous('GET', `/${MEDIA}/${key}`)).bytes;
    expect(before.length).toBe(200_000);
    const was = fingerprint(store);
    expectDenied(await anonymous('PUT', `/${MEDIA}/${key}`, Buffer.from('defaced')));
    expectDenied(await anonymous('PUT', `/${MEDIA}/new.jpg`, Buffer.from('new')));
    expectDenied(await anonymous('DELETE', `/${MEDIA}/${key}`));
    expectDenied(await anonymous('POST', `/${MEDIA}?delete`, Buffer.from(`<Delete><Object><Key>${key}</Key></Object></Delete>`)));
    for (const listing of ['/', `/${MEDIA}`, `/${MEDIA}/`, `/${MEDIA}?list-type=2`, `/${MEDIA}?list-type=2&prefix=wp-content%2F`])
      expectDenied(await anonymous('GET', listing));
    expectDenied(await anonymous('HEAD', `/${MEDIA}`), 'HEAD');
    expect(fingerprint(store)).toEqual(was);
    expect((await anonymous('GET', `/${MEDIA}/${key}`)).bytes.equals(before)).toBe(true);
  });

  it('the marks outlive a restart (the log compacted, a torn last line left out)', async () => {
    const file = path.join(store, PUBLIC_READS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await standin.close();
    // What a crash in the middle of an append leaves.
    writeFileSync(file, '["public-read","lab-media","private/no', { flag: 'a' });
    await start();
    expect((await anonymous('GET', `/${MEDIA}/wp-content/uploads/2026/05/photo.jpg`)).status).toBe(200);
    expect((await anonymous('GET', `/${MEDIA}/batch-a.jpg`)).status).toBe(200);
    for (const k of ['wp-content/uploads/2026/05/logo.png', 'private/notes.txt', 'batch-b%26c.jpg']) expectDenied(await anonymous('GET', `/${MEDIA}/${k}`));
    expect(logged).toContain(`${PUBLIC_READS_FILE}: 1 unreadable line(s) left out`);
    // Compacted: one line per public object, nothing about the private ones.
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as string[]);
    expect(lines.map((l) => l.join(' ')).sort()).toEqual(
      [
        'public-read lab-media wp-content/uploads/2026/05/photo.jpg',
        'public-read lab-media wp-content/uploads/2026/05/café au lait+1.jpg',
        'public-read lab-media batch-a.jpg',
      ].sort(),
    );
    // s3rver does not take the file for a bucket.
    expect((await send(standin.port, signed(standin.port, creds, { method: 'GET', url: '/' }))).body).not.toContain(PUBLIC_READS_FILE);
  });
});

describe('the s3-standin config', () => {
  const good = { address: '10.213.7.1', port: 8057, directory: '/var/lib/x', accessKey: 'K', secretKey: 'S' };
  it('takes a complete config and names the field that is wrong', () => {
    expect(parseS3StandinConfig(JSON.stringify({ ...good, buckets: ['b-1'] }))).toEqual({ ...good, buckets: ['b-1'] });
    expect(() => parseS3StandinConfig(JSON.stringify({ ...good, secretKey: '' }))).toThrow('the config\'s "secretKey" must be a non-empty string');
    expect(() => parseS3StandinConfig(JSON.stringify({ ...good, port: 70000 }))).toThrow('"port" must be a port number');
    expect(() => parseS3StandinConfig(JSON.stringify({ ...good, buckets: 'b' }))).toThrow('"buckets" must be a list');
    expect(() => parseS3StandinConfig('{')).toThrow('the config is not JSON');
  });
  it('refuses a bucket name S3 would refuse, before creating anything', async () => {
    const dir = tempDir('hawp-s3-');
    try {
      await expect(startS3Standin({ ...good, address: '127.0.0.1', port: 0, directory: path.join(dir, 's'), buckets: ['Bad_Name'] })).rejects.toThrow(
        'bucket name "Bad_Name" must be 3-63 characters',
      );
      expect(existsSync(path.join(dir, 's'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
