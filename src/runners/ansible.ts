/**
 * ansible-playbook as `up` runs it: from the workspace's ansible/ directory,
 * with its ansible.cfg, the inventory `up` wrote and site.yml. The vault
 * password goes through libexec/vault-password (an executable password file
 * that prints it from the environment), so it is in no argv and no file.
 */
import path from 'node:path';
import { packagePath } from '../paths.js';
import { childEnv } from './env.js';
import { probe, runChild, type PhaseLog } from './process.js';

export const ANSIBLE_HINT = 'install ansible-core 2.14 or newer (`apt-get install ansible-core` on Debian/Ubuntu, or `pipx install ansible-core`)';

export const VAULT_PASSWORD_SCRIPT = packagePath('libexec', 'vault-password');

export async function ansibleVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const out = await probe('ansible-playbook', ['--version'], childEnv(env));
  if (out === undefined) return undefined;
  return out.match(/core ([0-9][^\]\s]*)/)?.[1] ?? out.split('\n')[0]?.trim();
}

export interface RecapRow {
  host: string;
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

/** One line of ansible's PLAY RECAP, e.g. `web-01 : ok=5 changed=1 unreachable=0 failed=0 …`. */
export function parseRecapLine(line: string): RecapRow | undefined {
  const m = line.match(/^(\S+)\s+:\s+(.*)$/);
  if (!m) return undefined;
  const n = (k: string) => Number(m[2]!.match(new RegExp(`\\b${k}=(\\d+)`))?.[1] ?? NaN);
  const row = { host: m[1]!, ok: n('ok'), changed: n('changed'), unreachable: n('unreachable'), failed: n('failed') };
  return Number.isNaN(row.ok) || Number.isNaN(row.changed) ? undefined : row;
}

export interface PlaybookRun {
  workspace: string;
  /** The user's environment: only its allow-listed part (runners/env.ts) reaches ansible, with the variables set here. */
  env: NodeJS.ProcessEnv;
  vaultPassword: string;
  /** In ansible/; site.yml unless a test runs another playbook the same way. */
  playbook?: string;
  /** `-e` as JSON: typed values (booleans stay booleans); never secrets, since argv is visible in `ps`. */
  extraVars?: Record<string, string | number | boolean>;
  log: PhaseLog;
  onLine?: (line: string) => void;
  onInterrupt?: (n: number) => void;
  /** Hosts the run leaves out (`--limit all:!h`): nodes that do not answer. */
  without?: string[];
}

export async function runPlaybook(run: PlaybookRun): Promise<RecapRow[]> {
  const dir = path.join(run.workspace, 'ansible');
  const recap: RecapRow[] = [];
  let inRecap = false;
  const onLine = (line: string) => {
    if (/^PLAY RECAP\b/.test(line)) inRecap = true;
    else if (inRecap) {
      const row = parseRecapLine(line.trim());
      if (row) recap.push(row);
    }
    run.onLine?.(line);
  };
  const env = childEnv(run.env, {
    // For libexec/vault-password, the executable password file.
    HA_WORDPRESS_VAULT_PASSWORD: run.vaultPassword,
    // Explicit: Ansible ignores an ansible.cfg in a world-writable directory.
    // Relative to the working directory: Ansible expands `$VAR` and `~` in
    // this path, and the workspace's own path may contain anything.
    ANSIBLE_CONFIG: 'ansible.cfg',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: 'false',
  });
  const args = ['-i', 'inventory/hosts.yml', run.playbook ?? 'site.yml', '--vault-password-file', VAULT_PASSWORD_SCRIPT];
  if (run.extraVars && Object.keys(run.extraVars).length) args.push('-e', JSON.stringify(run.extraVars));
  if (run.without?.length) args.push('--limit', ['all', ...run.without.map((h) => `!${h}`)].join(':'));
  await runChild('ansible-playbook', args, { cwd: dir, env, log: run.log, onLine, onInterrupt: run.onInterrupt });
  return recap;
}
