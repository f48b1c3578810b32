/** Real tools the tests use where this machine has them. */
import { execFileSync, spawnSync } from 'node:child_process';

export function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

export const HAS_TERRAFORM = has('terraform');
export const HAS_ANSIBLE = has('ansible-vault') && has('ansible-playbook');

/** Environment for terraform in tests: no phoning home, no user config. */
export const TF_ENV = { ...process.env, CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' };

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, input: opts.input, env: opts.env ?? process.env, timeout: 120_000 });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The exact plaintext of a vault file, as real ansible-vault decrypts it. */
export function ansibleVaultDecrypt(file: string, passwordFile: string): string {
  return execFileSync('ansible-vault', ['decrypt', '--vault-password-file', passwordFile, '--output', '-', file], { encoding: 'utf8' });
}

/** Evaluates an expression with real terraform console in `dir` and returns its JSON value (base64 keeps console's quoting out of the way). */
export function terraformEval(dir: string, expression: string, extraArgs: string[] = []): { ok: true; value: unknown } | { ok: false; stderr: string } {
  const r = run('terraform', ['console', '-no-color', ...extraArgs], { cwd: dir, input: `base64encode(jsonencode(${expression}))\n`, env: TF_ENV });
  if (r.code !== 0) return { ok: false, stderr: r.stderr };
  // Warnings may come first; the value is the last line.
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('"')) return { ok: false, stderr: r.stdout + r.stderr };
  const b64 = JSON.parse(last) as string;
  return { ok: true, value: JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) };
}

/**
 * `terraform init` + `plan` in a directory holding only variables.tf and a
 * tfvars file: no provider is needed, and plan runs every validation block.
 */
export function terraformPlan(dir: string): { code: number; output: string } {
  const init = run('terraform', ['init', '-input=false', '-backend=false', '-no-color'], { cwd: dir, env: TF_ENV });
  if (init.code !== 0) return { code: init.code, output: init.stdout + init.stderr };
  const plan = run('terraform', ['plan', '-input=false', '-lock=false', '-no-color'], { cwd: dir, env: TF_ENV });
  // Terraform wraps long messages and frames them with box-drawing characters.
  return { code: plan.code, output: (plan.stdout + plan.stderr).replace(/\s*│\s*/g, ' ').replace(/\s+/g, ' ') };
}
