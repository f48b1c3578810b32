/**
 * The Spaces stand-in (test/support/fake-spaces.ts) the real-provider test
 * relies on: it tunnels only to Spaces endpoints, refuses unsigned requests
 * and unknown keys, and, with the real DigitalOcean provider behind
 * HTTPS_PROXY and SSL_CERT_FILE, terraform/backup applies and then plans no
 * change.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { startFakeSpaces, type FakeSpaces } from './support/fake-spaces.js';
import { takenBucketError, type BucketRef } from '../src/backup/spaces.js';
import { ROOT, SKIP, terraformEnv, writeCliConfig } from './support/terraform-provider.js';
import { needs, skipWhen } from './support/tools.js';

const KEY = 'DO00FAKESPACESKEY0001';
const SECRET = 'a-secret-the-stand-in-does-not-check';

/** Asynchronous: the stand-in answers from this process. */
function tool(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, timeout: 3 * 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

const tools = needs('openssl', 'curl');
tools.describe('the Spaces stand-in', () => {
  let spaces: FakeSpaces;
  beforeAll(async () => {
    spaces = await startFakeSpaces({ accessKeys: () => [KEY] });
  });
  afterAll(() => spaces?.close());

  const curl = (url: string, extra: string[] = []) =>
    tool('curl', ['-sS', '--proxy', spaces.proxyUrl, '--cacert', spaces.caFile, '-o', '-', '-w', '\n%{http_code}', ...extra, url], {
      env: { PATH: process.env.PATH },
    });
  const signed = (key = KEY) => ['--aws-sigv4', 'aws:amz:fra1:s3', '--user', `${key}:${SECRET}`];

  tools.it('tunnels only to Spaces endpoints on 443: any other host is refused at CONNECT', async () => {
    const r = await curl('https://example.com/');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/CONNECT|403/);
    expect(spaces.refused).toContain('example.com:443');
    const plain = await curl('http://fra1.digitaloceanspaces.com/');
    expect(plain.out.trim().endsWith('403')).toBe(true);
    expect(spaces.requests).toEqual([]);
  });

  tools.it('refuses an unsigned request and an unknown key as Spaces does, with the certificate of the endpoint', async () => {
    const unsigned = await curl('https://shop-backups.fra1.digitaloceanspaces.com/', ['-X', 'PUT']);
    expect(unsigned.out).toContain('<Code>AccessDenied</Code>');
    expect(unsigned.out.trim().endsWith('403')).toBe(true);
    const unknown = await curl('https://shop-backups.fra1.digitaloceanspaces.com/', ['-X', 'PUT', ...signed('DO00NOTAKEYOFTHEACCOUNT')]);
    expect(unknown.out).toContain('<Code>InvalidAccessKeyId</Code>');
    expect(spaces.buckets()).toEqual([]);
  });

  tools.it('creates a bucket through s3rver and keeps its versioning, which s3rver lacks', async () => {
    const made = await curl('https://shop-backups.fra1.digitaloceanspaces.com/', ['-X', 'PUT', '-H', 'x-amz-acl: private', ...signed()]);
    expect(made.out.trim().endsWith('200')).toBe(true);
    expect(spaces.buckets()).toEqual(['shop-backups']);
    const before = await curl('https://shop-backups.fra1.digitaloceanspaces.com/?versioning', signed());
    expect(before.out).not.toContain('<Status>');
    const put = await curl('https://shop-backups.fra1.digitaloceanspaces.com/?versioning', [
      '-X',
      'PUT',
      '--data-binary',
      '<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>',
      ...signed(),
    ]);
    expect(put.out.trim().endsWith('200')).toBe(true);
    const after = await curl('https://shop-backups.fra1.digitaloceanspaces.com/?versioning', signed());
    expect(after.out).toContain('<Status>Enabled</Status>');
    expect(spaces.bucket('shop-backups')).toMatchObject({ versioning: 'Enabled', acl: 'private' });
    const none = await curl('https://shop-backups.fra1.digitaloceanspaces.com/?lifecycle', signed());
    expect(none.out).toContain('<Code>NoSuchLifecycleConfiguration</Code>');
    expect(spaces.requests.map((r) => `${r.method} ${r.sub || '-'} ${r.status} ${r.by}`)).toEqual([
      'PUT - 403 refused',
      'PUT - 403 refused',
      'PUT - 200 s3rver',
      'GET versioning 200 stand-in',
      'PUT versioning 200 stand-in',
      'GET versioning 200 stand-in',
      'GET lifecycle 404 stand-in',
    ]);
  });
});

const provider = skipWhen(tools.why ?? SKIP?.replace(/^skipped: /, ''));
provider.describe('the real DigitalOcean provider through the Spaces stand-in', () => {
  let spaces: FakeSpaces;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    spaces = await startFakeSpaces({ accessKeys: () => [KEY], taken: ['someone-elses-media'] });
    const parent = mkdtempSync(path.join(os.tmpdir(), 'hawp-spaces-tf-'));
    dir = path.join(parent, 'backup');
    cpSync(path.join(ROOT, 'terraform/backup'), dir, { recursive: true, filter: (src) => !src.endsWith('.terraform.lock.hcl') });
    env = terraformEnv(writeCliConfig(parent), {
      HTTPS_PROXY: spaces.proxyUrl,
      NO_PROXY: '127.0.0.1,localhost',
      SSL_CERT_FILE: spaces.caFile,
      DIGITALOCEAN_TOKEN: 'dop_v1_not_used_by_the_bucket',
      DIGITALOCEAN_API_URL: 'http://127.0.0.1:9',
      SPACES_ACCESS_KEY_ID: KEY,
      SPACES_SECRET_ACCESS_KEY: SECRET,
      TF_VAR_backup_bucket: 'shop-backups-x1',
      TF_VAR_backup_region: 'ams3',
      TF_VAR_media_bucket: 'shop-media-x1',
      TF_VAR_media_region: 'fra1',
    });
    // The provider's S3 client trusts only AWS_CA_BUNDLE when it is set (this machine sets it); ha-wordpress never passes it to terraform.
    delete env.AWS_CA_BUNDLE;
  });
  afterAll(async () => {
    await spaces?.close();
    if (dir) rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  provider.it(
    'terraform/backup applies the versioned backup bucket with its lifecycle rule and the media bucket, then plans no change',
    async () => {
      const init = await tool('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env });
      expect(init.code, init.out).toBe(0);
      const apply = await tool('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: dir, env });
      expect(apply.code, apply.out).toBe(0);
      expect(spaces.buckets().sort()).toEqual(['shop-backups-x1', 'shop-media-x1']);
      // The media bucket: private (its objects are public-read one by one), not versioned.
      expect(spaces.bucket('shop-media-x1')!.versioning).not.toBe('Enabled');
      const b = spaces.bucket('shop-backups-x1')!;
      expect(b.versioning).toBe('Enabled');
      expect(b.lifecycle).toMatch(/<ID>backup-versions<\/ID>/);
      expect(b.lifecycle).toMatch(/<NoncurrentVersionExpiration><NoncurrentDays>30<\/NoncurrentDays><\/NoncurrentVersionExpiration>/);
      expect(b.lifecycle).toMatch(/<AbortIncompleteMultipartUpload><DaysAfterInitiation>7<\/DaysAfterInitiation><\/AbortIncompleteMultipartUpload>/);
      expect(spaces.refused).toEqual([]);
      console.log(
        `provider's S3 calls: ${spaces.requests.map((r) => `${r.method} ${r.sub || (r.key === '/' ? 'bucket' : r.key)} ${r.status} (${r.by})`).join('; ')}`,
      );
      const mark = spaces.requests.length;
      const plan = await tool('terraform', ['plan', '-detailed-exitcode', '-input=false', '-no-color'], { cwd: dir, env });
      expect(plan.out).toContain('No changes.');
      expect(plan.code).toBe(0);
      expect(spaces.requests.slice(mark).filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
      console.log(
        `provider's S3 calls on a plan: ${spaces.requests
          .slice(mark)
          .map((r) => `${r.method} ${r.sub || 'bucket'} ${r.status} (${r.by})`)
          .join('; ')}`,
      );
    },
    5 * 60_000,
  );

  provider.it(
    "a media bucket name another account holds: terraform fails on Spaces' BucketAlreadyExists, and up turns that output into one line naming --spaces-bucket",
    async () => {
      // A workspace of its own: nothing in its state yet, as on a first up.
      const fresh = path.join(path.dirname(dir), 'taken');
      cpSync(path.join(ROOT, 'terraform/backup'), fresh, { recursive: true, filter: (src) => !src.endsWith('.terraform.lock.hcl') });
      const taken = { ...env, TF_VAR_backup_bucket: 'shop-backups-x2', TF_VAR_media_bucket: 'someone-elses-media' };
      const init = await tool('terraform', ['init', '-input=false', '-no-color'], { cwd: fresh, env: taken });
      expect(init.code, init.out).toBe(0);
      const apply = await tool('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: fresh, env: taken });
      expect(apply.code).not.toBe(0);
      expect(apply.out).toContain('BucketAlreadyExists');
      // What up shows instead (src/backup/spaces.ts), from the last lines of this very output, as up keeps them.
      const tail = apply.out.trimEnd().split('\n').slice(-25).join('\n');
      const buckets: BucketRef[] = [
        { flag: 'backup-bucket', name: 'shop-backups-x2', resource: 'digitalocean_spaces_bucket.backup' },
        { flag: 'spaces-bucket', name: 'someone-elses-media', resource: 'digitalocean_spaces_bucket.media' },
      ];
      expect(takenBucketError(tail, buckets)).toBe(
        '--spaces-bucket someone-elses-media: another DigitalOcean account has a bucket of that name (bucket names are unique across all of Spaces); ' +
          'choose another with `ha-wordpress init --spaces-bucket <name>`, then run `ha-wordpress up`',
      );
      expect(spaces.buckets()).not.toContain('someone-elses-media');
    },
    5 * 60_000,
  );
});
