/**
 * The real DigitalOcean Terraform provider for tests: where to find it, how
 * to point terraform at it, and why a test must skip when it cannot.
 *
 * The registry is out of reach from tests, so the provider comes from a
 * Terraform filesystem mirror (registry.terraform.io/digitalocean/digitalocean/
 * <version>/<os>_<arch>/terraform-provider-digitalocean_v<version>):
 *   - $HA_WORDPRESS_TF_PLUGINS, when set (a clone anywhere, a developer's machine);
 *   - else ../shared/tools/terraform-plugins beside the repository, where CI
 *     puts it.
 * That build cannot match the registry's hashes in terraform/.terraform.lock.hcl,
 * so every run works in a copy of terraform/ without the lock file; the lock
 * terraform writes there is thrown away with the copy.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HAS_TERRAFORM } from './tools.js';

export const ROOT = path.resolve(__dirname, '../..');
export const TF_DIR = path.join(ROOT, 'terraform');
export const PLUGINS_ENV = 'HA_WORDPRESS_TF_PLUGINS';
const PROVIDER_DIR = 'registry.terraform.io/digitalocean/digitalocean';
const PLATFORM = `${os.platform()}_${os.arch() === 'x64' ? 'amd64' : os.arch()}`;

/** The mirror directory tests use, whether or not it exists. */
export function mirrorDir(env: NodeJS.ProcessEnv = process.env): string {
  const given = env[PLUGINS_ENV];
  return given ? path.resolve(given) : path.resolve(ROOT, '../shared/tools/terraform-plugins');
}

/** Whether `dir` holds a DigitalOcean provider for this platform. */
function holdsProvider(dir: string): boolean {
  const base = path.join(dir, PROVIDER_DIR);
  if (!existsSync(base)) return false;
  return readdirSync(base).some((version) => {
    const bin = path.join(base, version, PLATFORM);
    return existsSync(bin) && readdirSync(bin).some((f) => f.startsWith('terraform-provider-digitalocean'));
  });
}

/**
 * Why the tests that need real terraform and the real provider cannot run
 * here (one line naming what is missing), or undefined when they can.
 */
export function providerSkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const missing: string[] = [];
  if (!HAS_TERRAFORM) missing.push('terraform is not on PATH');
  const dir = mirrorDir(env);
  if (!holdsProvider(dir)) missing.push(`no DigitalOcean provider mirror for ${PLATFORM} in ${dir} (set ${PLUGINS_ENV} to one)`);
  return missing.length ? `skipped: ${missing.join('; ')}` : undefined;
}

export const SKIP = providerSkipReason();

/**
 * Set where these tests must run (CI): a missing terraform or mirror then
 * fails a test with the same reason instead of skipping.
 */
export const REQUIRE_ENV = 'HA_WORDPRESS_REQUIRE_TF_PROVIDER';
export const REQUIRED = process.env[REQUIRE_ENV] === '1';

/** A CLI config that installs the DigitalOcean provider from the mirror only; nothing else is allowed either. */
export function writeCliConfig(dir: string): string {
  const file = path.join(dir, 'terraformrc');
  writeFileSync(
    file,
    [
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirrorDir())}`,
      `    include = ["${PROVIDER_DIR}"]`,
      '  }',
      '  direct {',
      `    exclude = ["${PROVIDER_DIR}"]`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return file;
}

/** terraform's environment for these tests: the mirror, no checkpoint calls, no prompts. */
export function terraformEnv(cliConfig: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1', TF_INPUT: '0', TF_CLI_CONFIG_FILE: cliConfig, ...extra };
}

/**
 * A copy of terraform/ (the .tf files, the template, tests/) without the lock
 * file, state or .terraform, and a CLI config beside it: a place to run
 * `terraform init` against the mirror.
 */
export function terraformCopy(prefix = 'hawp-realprov-'): { dir: string; env: NodeJS.ProcessEnv; remove: () => void } {
  const parent = mkdtempSync(path.join(os.tmpdir(), prefix));
  const dir = path.join(parent, 'terraform');
  mkdirSync(dir);
  for (const f of readdirSync(TF_DIR, { withFileTypes: true })) {
    if (f.isFile() && (f.name.endsWith('.tf') || f.name.endsWith('.tftpl') || f.name.endsWith('.json')))
      copyFileSync(path.join(TF_DIR, f.name), path.join(dir, f.name));
  }
  if (existsSync(path.join(TF_DIR, 'tests'))) cpSync(path.join(TF_DIR, 'tests'), path.join(dir, 'tests'), { recursive: true });
  return { dir, env: terraformEnv(writeCliConfig(parent)), remove: () => rmSync(parent, { recursive: true, force: true }) };
}
