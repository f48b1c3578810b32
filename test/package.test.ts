/// <reference path="./support/fake-do-api.d.ts" />
/**
 * The package as users get it: `npm pack`, the tarball installed into an
 * empty directory from the npm registry, then `ha-wordpress --help` and a
 * non-interactive init run from there (against the stand-in API on
 * 127.0.0.1). Proves templates/, terraform/ and ansible/ ship inside the
 * package, and that an installed copy resolves the working Kiota versions
 * (package.json "overrides" only apply to the root project, so the pins are
 * exact direct dependencies too).
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOKEN, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { ROOT, runCli, tempDir } from './support/cli.js';
import { budget, runTool, runToolSync } from './support/tools.js';

let api: FakeDoApi;
let installDir: string;
let installedBin: string;

beforeAll(
  async () => {
    api = await startFakeDoApi({ perPageCap: 3 });
    const packDir = tempDir('hawp-pack-');
    const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    // --ignore-scripts: `npm pack` would run "prepare" (the build), and tsc
    // rewriting dist/ in place while other test files start the CLI from it
    // made one of them load a half-written file (CI once saw exit 1 from
    // test/cli.test.ts). `npm test` has just built dist/; it is packed as it is.
    expect(existsSync(path.join(ROOT, 'dist', 'cli.js')), 'dist/ is built (npm run build)').toBe(true);
    const { stdout } = await runTool('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', packDir], { cwd: ROOT, env: npmEnv });
    const tarball = path.join(packDir, stdout.trim().split('\n').pop()!);
    installDir = tempDir('hawp-install-');
    writeFileSync(path.join(installDir, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
    await runTool('npm', ['install', '--prefer-offline', '--no-package-lock', tarball], { cwd: installDir, env: npmEnv });
    installedBin = path.join(installDir, 'node_modules', '.bin', 'ha-wordpress');
  },
  budget({ npm: 2 }),
);

afterAll(async () => api?.close());

describe('the installed package', () => {
  it('ships only what it needs (no tests, sources or tfstate)', () => {
    const pkg = path.join(installDir, 'node_modules', 'ha-wordpress');
    const top = readdirSync(pkg).sort();
    expect(top).toEqual(expect.arrayContaining(['bin', 'dist', 'templates', 'terraform', 'ansible', 'package.json']));
    expect(top).not.toContain('test');
    expect(top).not.toContain('src');
    // up's vault password script must stay executable, and the lock file and playbook must ship.
    expect(statSync(path.join(pkg, 'libexec', 'vault-password')).mode & 0o111).not.toBe(0);
    for (const rel of ['terraform/.terraform.lock.hcl', 'terraform/cloud-init.yaml.tftpl', 'ansible/site.yml'])
      expect(existsSync(path.join(pkg, rel)), rel).toBe(true);
  });

  it(
    'resolves the Kiota version that works, whatever npm would pick today',
    () => {
      const out = runToolSync('npm', ['ls', '--all', '--parseable', '--long', '@microsoft/kiota-abstractions'], { cwd: installDir }).stdout;
      const versions = new Set(
        out
          .trim()
          .split('\n')
          .map((l) => l.split(':')[1]),
      );
      expect([...versions]).toEqual(['@microsoft/kiota-abstractions@1.0.0-preview.102']);
    },
    budget({ npm: 1 }),
  );

  it('runs --help from the installed bin', async () => {
    const r = await runCli(['--help'], { bin: installedBin, cwd: installDir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: ha-wordpress/);
    expect(r.stdout).toMatch(/init/);
  });

  it('runs a non-interactive init from the installed package (templates, terraform/ and ansible/ found inside it)', async () => {
    const home = path.join(installDir, 'home');
    mkdirSync(home);
    const pw = path.join(installDir, 'pw');
    writeFileSync(pw, 'installed-vault-pass\n');
    const ws = path.join(installDir, 'site');
    const r = await runCli(
      ['init', '--non-interactive', '--yes', '--project', 'site', '--region', 'atl1', '--dir', ws, '--vault-password-file', pw, '--api-url', api.url],
      { bin: installedBin, cwd: installDir, env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } },
    );
    expect(r.code, r.stderr).toBe(0);
    for (const rel of [
      'terraform/variables.tf',
      'terraform/terraform.tf',
      'terraform/.terraform.lock.hcl',
      'terraform/terraform.tfvars',
      'ansible/group_vars/wp_node/vault.yml',
      'ha-wordpress.yml',
    ])
      expect(existsSync(path.join(ws, rel)), rel).toBe(true);
    // Regions and sizes were listed: the array-of-strings deserialization works in the installed copy.
    expect(api.requests.some((q) => q.path === '/v2/sizes' && q.status === 200)).toBe(true);
  });
});
