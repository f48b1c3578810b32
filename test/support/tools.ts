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
  const r = run('terraform', ['console', ...extraArgs], { cwd: dir, input: `base64encode(jsonencode(${expression}))\n`, env: TF_ENV });
  if (r.code !== 0) return { ok: false, stderr: r.stderr };
  const b64 = JSON.parse(r.stdout.trim()) as string;
  return { ok: true, value: JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) };
}
