/**
 * terraform/ against the real DigitalOcean provider, without any API:
 * `terraform validate` checks every resource, attribute and block against the
 * provider's real schema, and `terraform test` runs terraform/tests/*.tftest.hcl
 * with `mock_provider "digitalocean"` (plan-time checks of the firewalls, the
 * load balancer's backends, the outputs and every variable validation).
 * Runs in a copy of terraform/ without the lock file (see
 * test/support/terraform-provider.ts).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { REQUIRE_ENV, REQUIRED, SKIP, TF_DIR, terraformCopy } from './support/terraform-provider.js';
import { runToolSync, type ToolOptions } from './support/tools.js';

/** terraform, returning its exit code for the test to assert on (with its output in the message). */
const run = (cmd: string, args: string[], opts: ToolOptions) => runToolSync(cmd, args, { ...opts, allowFailure: true });

const ran: string[] = [];
let runBlocks = 0;
// One line either way: what ran, or why nothing could.
if (SKIP) console.log(`real DigitalOcean provider: terraform validate and terraform test ${SKIP}`);
afterAll(() => {
  if (!SKIP) console.log(`real DigitalOcean provider: ${ran.length} checks ran (${ran.join(', ')}); terraform test passed ${runBlocks} run blocks`);
});

/** Every `run "…"` block of terraform/tests, by name. */
function runBlockNames(): string[] {
  const dir = path.join(TF_DIR, 'tests');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.tftest.hcl'))
    .flatMap((f) => [...readFileSync(path.join(dir, f), 'utf8').matchAll(/^run "([^"]+)"/gm)].map((m) => m[1]!));
}

if (SKIP && REQUIRED) it(`${REQUIRE_ENV}=1: the real provider must be usable here`, () => expect.fail(SKIP));

describe.skipIf(SKIP)(
  SKIP ? `terraform validate / terraform test with the real DigitalOcean provider ${SKIP}` : 'terraform/ with the real DigitalOcean provider',
  () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let remove = () => {};

    beforeAll(() => {
      ({ dir, env, remove } = terraformCopy());
      const init = run('terraform', ['init', '-backend=false', '-input=false', '-no-color'], { cwd: dir, env });
      expect(init.code, init.stdout + init.stderr).toBe(0);
      expect(init.stdout).toMatch(/Installed digitalocean\/digitalocean v2\.\d+\.\d+/);
    });
    afterAll(() => remove());

    it("terraform validate: every resource and attribute exists in the provider's schema, without errors or warnings", () => {
      const r = run('terraform', ['validate', '-json', '-no-color'], { cwd: dir, env });
      const result = JSON.parse(r.stdout) as { valid: boolean; error_count: number; warning_count: number; diagnostics: { summary: string }[] };
      expect(result.diagnostics.map((d) => d.summary)).toEqual([]);
      expect(result).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
      expect(r.code).toBe(0);
      ran.push('terraform validate');
    });

    it('terraform test: every run in terraform/tests passes (database ports, SSH, HTTP, backends, reserved IP, outputs, rejected values)', () => {
      const names = runBlockNames();
      expect(names.length).toBeGreaterThanOrEqual(8);
      const r = run('terraform', ['test', '-no-color'], { cwd: dir, env });
      const out = r.stdout + r.stderr;
      for (const n of names) expect(out, n).toContain(`run "${n}"... pass`);
      expect(out).toContain(`Success! ${names.length} passed, 0 failed.`);
      expect(r.code).toBe(0);
      runBlocks = names.length;
      ran.push('terraform test');
    });

    it('terraform test: the database-port check fails when a Galera port is opened to the internet', () => {
      // The same first run against a firewall.tf whose 3306 rule admits 0.0.0.0/0.
      const { dir: bad, env: badEnv, remove: removeBad } = terraformCopy('hawp-realprov-bad-');
      onTestFinished(removeBad);
      const fw = path.join(bad, 'firewall.tf');
      const text = readFileSync(fw, 'utf8');
      const rule = /(port_range\s*=\s*"3306"\s*\n\s*source_addresses\s*=\s*)\[digitalocean_vpc\.cluster\.ip_range\]/;
      expect(text).toMatch(rule);
      writeFileSync(fw, text.replace(rule, '$1["0.0.0.0/0"]'));
      const tests = path.join(bad, 'tests', 'cluster.tftest.hcl');
      const all = readFileSync(tests, 'utf8');
      writeFileSync(tests, all.slice(0, all.indexOf('run "ssh_is_reachable_only_from_ssh_allow"')));
      expect(run('terraform', ['init', '-backend=false', '-input=false', '-no-color'], { cwd: bad, env: badEnv }).code).toBe(0);
      const r = run('terraform', ['test', '-no-color'], { cwd: bad, env: badEnv });
      const out = (r.stdout + r.stderr).replace(/\s+/g, ' ');
      expect(out).toContain('run "database_ports_are_reachable_only_from_inside_the_vpc"... fail');
      expect(out).toContain('A firewall rule lets something outside the VPC reach 3306, 4444, 4567, 4568 or 9200.');
      expect(r.code).not.toBe(0);
      ran.push('terraform test (a broken firewall fails)');
    });
  },
);
