/**
 * terraform/backup/, the backup bucket's own root, against the real
 * DigitalOcean provider's schema: `terraform validate` and `terraform test`
 * with a mocked provider. Not applied on loopback: digitalocean_spaces_bucket
 * speaks S3 to <region>.digitaloceanspaces.com, which the stand-in API
 * (test/support/fake-do-api.mjs) does not serve. And destroy never runs
 * terraform in it.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUIRE_ENV, REQUIRED, ROOT, SKIP, TF_DIR, terraformEnv, writeCliConfig } from './support/terraform-provider.js';
import { runToolSync } from './support/tools.js';

const BACKUP_DIR = path.join(TF_DIR, 'backup');
const run = (args: string[], cwd: string, env: NodeJS.ProcessEnv) => runToolSync('terraform', args, { cwd, env, allowFailure: true });

if (SKIP && REQUIRED) it(`${REQUIRE_ENV}=1: the real provider must be usable here`, () => expect.fail(SKIP));

describe.skipIf(SKIP)(
  SKIP
    ? `terraform/backup with the real provider (validate, test with mock_provider; not applied: the stand-in serves no S3) ${SKIP}`
    : 'terraform/backup with the real provider (validate, test with mock_provider; not applied: the stand-in serves no S3)',
  () => {
    let parent: string;
    let dir: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(() => {
      parent = mkdtempSync(path.join(os.tmpdir(), 'hawp-backup-tf-'));
      dir = path.join(parent, 'backup');
      // Without the lock file: the mirror's build cannot match the registry's hashes.
      cpSync(BACKUP_DIR, dir, { recursive: true, filter: (src) => !src.endsWith('.terraform.lock.hcl') && !src.includes(`${path.sep}.terraform`) });
      env = terraformEnv(writeCliConfig(parent));
      const init = run(['init', '-backend=false', '-input=false', '-no-color'], dir, env);
      expect(init.code, init.stdout + init.stderr).toBe(0);
    });
    afterAll(() => rmSync(parent, { recursive: true, force: true }));

    it('terraform validate: the bucket, its versioning and lifecycle rule exist in the schema as written', () => {
      const r = run(['validate', '-json', '-no-color'], dir, env);
      const result = JSON.parse(r.stdout) as { valid: boolean; diagnostics: { summary: string }[]; warning_count: number };
      expect(result.diagnostics.map((d) => d.summary)).toEqual([]);
      expect(result).toMatchObject({ valid: true, warning_count: 0 });
    });

    it('terraform test: private, versioned, old versions expired, bad region/name/days refused', () => {
      const r = run(['test', '-no-color'], dir, env);
      const out = r.stdout + r.stderr;
      const names = [...readFileSync(path.join(BACKUP_DIR, 'tests', 'backup.tftest.hcl'), 'utf8').matchAll(/^run "([^"]+)"/gm)].map((m) => m[1]!);
      expect(names.length).toBeGreaterThanOrEqual(5);
      for (const n of names) expect(out, n).toContain(`run "${n}"... pass`);
      expect(r.code, out).toBe(0);
    });

    it('a bucket in the state is kept as it is; a new region (which would replace it) stops on prevent_destroy, for backups and media alike', () => {
      const vars = (region: string, mediaRegion: string) => [
        ...['-var', 'backup_bucket=shop-backups-a1b2c3', '-var', `backup_region=${region}`],
        ...['-var', 'media_bucket=shop-media-d4e5f6', '-var', `media_region=${mediaRegion}`],
      ];
      const plan = (region: string, mediaRegion = 'fra1') =>
        run(['plan', '-refresh=false', '-input=false', '-no-color', ...vars(region, mediaRegion)], dir, {
          ...env,
          DIGITALOCEAN_TOKEN: 'dop_v1_' + '0'.repeat(64),
        });
      // A plan that only creates the bucket makes no Spaces call.
      const fresh = plan('ams3');
      expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
      expect(fresh.stdout).toMatch(/digitalocean_spaces_bucket\.backup will be created/);
      expect(fresh.stdout).toMatch(/digitalocean_spaces_bucket\.media will be created/);
      // The state the provider writes for that bucket (-refresh=false: nothing asks S3).
      const bucket = {
        id: 'shop-backups-a1b2c3',
        name: 'shop-backups-a1b2c3',
        region: 'ams3',
        acl: 'private',
        force_destroy: false,
        versioning: [{ enabled: true }],
        lifecycle_rule: [
          {
            id: 'backup-versions',
            enabled: true,
            prefix: '',
            abort_incomplete_multipart_upload_days: 7,
            expiration: [],
            noncurrent_version_expiration: [{ days: 30 }],
          },
        ],
        cors_rule: [],
        urn: 'do:space:shop-backups-a1b2c3',
        bucket_domain_name: 'shop-backups-a1b2c3.ams3.digitaloceanspaces.com',
        endpoint: 'ams3.digitaloceanspaces.com',
      };
      const media = {
        ...bucket,
        id: 'shop-media-d4e5f6',
        name: 'shop-media-d4e5f6',
        region: 'fra1',
        versioning: [],
        lifecycle_rule: [],
        urn: 'do:space:shop-media-d4e5f6',
        bucket_domain_name: 'shop-media-d4e5f6.fra1.digitaloceanspaces.com',
        endpoint: 'fra1.digitaloceanspaces.com',
      };
      const state = {
        version: 4,
        terraform_version: '1.11.0',
        serial: 1,
        lineage: '3f0c8f52-0000-4000-8000-000000000001',
        outputs: {},
        resources: [
          {
            mode: 'managed',
            type: 'digitalocean_spaces_bucket',
            name: 'backup',
            provider: 'provider["registry.terraform.io/digitalocean/digitalocean"]',
            instances: [{ schema_version: 0, attributes: bucket }],
          },
          {
            mode: 'managed',
            type: 'digitalocean_spaces_bucket',
            name: 'media',
            provider: 'provider["registry.terraform.io/digitalocean/digitalocean"]',
            instances: [{ schema_version: 0, attributes: media }],
          },
        ],
      };
      writeFileSync(path.join(dir, 'terraform.tfstate'), JSON.stringify(state));
      const same = plan('ams3');
      expect(same.code, same.stdout + same.stderr).toBe(0);
      expect(same.stdout).not.toMatch(/digitalocean_spaces_bucket\.(backup|media) (will|must)/);
      const moved = plan('fra1');
      expect(moved.code).not.toBe(0);
      expect(moved.stdout + moved.stderr).toMatch(/Instance cannot be destroyed[\s\S]*digitalocean_spaces_bucket\.backup has lifecycle\.prevent_destroy/);
      const movedMedia = plan('ams3', 'ams3');
      expect(movedMedia.code).not.toBe(0);
      expect(movedMedia.stdout + movedMedia.stderr).toMatch(
        /Instance cannot be destroyed[\s\S]*digitalocean_spaces_bucket\.media has lifecycle\.prevent_destroy/,
      );
    });
  },
);

describe('destroy leaves the backup root alone', () => {
  it('no code path of destroy names terraform/backup or its state', () => {
    const destroy = readFileSync(path.join(ROOT, 'src/commands/destroy.ts'), 'utf8');
    expect(destroy).toMatch(/terraform/); // it does run terraform, in the cluster's root
    expect(destroy).not.toMatch(/terraform\/backup|BACKUP_TF_DIR|['"]backup['"]\s*\)/);
  });
});
