/**
 * Any directory a user can create works as a workspace, and nothing in its
 * name is interpreted: not by ssh's option parser (spaces, quotes,
 * backslashes, ` -o ProxyCommand=…`), not by ssh's `%` tokens or `${VAR}`
 * expansion, not by Ansible's templating (`{{ lookup('pipe', …) }}`), not by
 * Ansible's `$VAR`/`~` expansion of its config path.
 *
 * One kind of name cannot work: Ansible expands `$NAME` and `${NAME}` in
 * every path it reads (the working directory included), so init and up
 * refuse such a workspace path with one line instead of failing later.
 *
 * Each workspace gets the inventory, key symlink and known_hosts exactly as
 * `up` writes them (renderInventory/writeInventory/knownHosts), and the real
 * runner (runPlaybook: ansible-playbook from ansible/ with the shipped
 * ansible.cfg) connects with real ssh to an SSH server on 127.0.0.1 that
 * accepts only the project key, and runs one raw command.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlaybook } from '../src/runners/ansible.js';
import { PhaseLog, StepFailure } from '../src/runners/process.js';
import { knownHosts } from '../src/ssh/wait.js';
import { KNOWN_HOSTS_FILE, renderInventory, writeInventory } from '../src/workspace/inventory.js';
import { newKeyPair } from '../src/ssh/keys.js';
import { homeWithKey, ROOT, runCli, tempDir } from './support/cli.js';
import { startSshServer } from './support/ssh-server.js';
import { budget, needs } from './support/tools.js';

/** One directory name each; none may contain "/" (it would be two directories). */
const HOSTILE_DIRS = [
  'My Projects',
  `it's "quoted"`,
  'back\\slash\\',
  `{{ lookup('pipe', 'touch hawp-canary-jinja') }}`,
  '{% raw %}x{# comment #}',
  '$(touch hawp-canary-shell)`touch hawp-canary-shell` $ 5$ $$',
  '%d%h%%C%r',
  ' -o ProxyCommand=touch hawp-canary-ssh',
  'semi;colon&amp|pipe>out',
  'tab\there',
  'new\nline',
  'ünïcødé 漢字 🚀',
  '~tilde*star?[x]',
  '-leading-dash',
  '#hash !bang',
  'a=b,c:d "-F x"',
];
const CANARIES = ['hawp-canary-jinja', 'hawp-canary-shell', 'hawp-canary-ssh'];

const PROBE = `- name: reach every host
  hosts: all
  gather_facts: false
  tasks:
    - name: one command over ssh
      ansible.builtin.raw: echo hawp-reached
      register: reached
      changed_when: false
      failed_when: "'hawp-reached' not in reached.stdout"
`;

let root: string;

beforeAll(() => {
  root = tempDir('hawp-paths-');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

needs('ansible-playbook', 'ssh').describe('a workspace under any directory name reaches its hosts', () => {
  it.each(HOSTILE_DIRS.map((d) => [JSON.stringify(d), d]))(
    '%s',
    async (_label, dirName) => {
      const pair = await newKeyPair('me@laptop');
      // One server per workspace: ssh's ControlMaster reuses a connection per host, port and user.
      const ssh = await startSshServer({
        user: 'deploy',
        publicKey: pair.public,
        answer: (c) => (c.includes('echo hawp-reached') ? { code: 0, output: 'hawp-reached\r\n' } : undefined),
      });
      try {
        const ws = path.join(root, `${readdirSync(root).length}`, dirName);
        mkdirSync(path.join(ws, 'ansible', 'inventory'), { recursive: true });
        copyFileSync(path.join(ROOT, 'ansible', 'ansible.cfg'), path.join(ws, 'ansible', 'ansible.cfg'));
        writeFileSync(path.join(ws, 'ansible', 'probe.yml'), PROBE);
        // The key lives under the hostile name too, as a user's ~/.ssh might.
        const keyFile = path.join(ws, 'keys', dirName, 'id_ed25519');
        mkdirSync(path.dirname(keyFile), { recursive: true });
        writeFileSync(keyFile, pair.private, { mode: 0o600 });
        mkdirSync(path.join(ws, '.ha-wordpress'), { recursive: true });
        writeFileSync(path.join(ws, KNOWN_HOSTS_FILE), knownHosts([{ name: 'web-01', host: '127.0.0.1', port: ssh.port, key: ssh.hostKey }], undefined).text);

        const conn = { adminUser: 'deploy', keyFile };
        const host = { ansible_host: '127.0.0.1', ansible_port: ssh.port };
        const inventory = { wp_node: { 'web-01': host }, galera_cluster_node: {}, galera_loadbalancer: {} };
        const outputs = { inventory, loadBalancerIp: '', dbReservedIp: '', siteUrl: '' };
        await writeInventory(ws, renderInventory(outputs, conn), conn);

        const log = new PhaseLog(path.join(root, 'logs'), 'ansible', `${Date.now()}`);
        await runPlaybook({ workspace: ws, env: { ...process.env }, vaultPassword: 'unused-vault-password', playbook: 'probe.yml', log }).catch(
          (err: unknown) => {
            throw err instanceof StepFailure ? new Error(`${err.message}:\n${err.tail.join('\n')}`) : err;
          },
        );

        expect(ssh.logins).toContain('deploy');
        expect(ssh.commands.some((c) => c.includes('echo hawp-reached'))).toBe(true);
        for (const c of CANARIES) {
          expect(existsSync(path.join(ws, 'ansible', c)), `${c} was created: part of the path was run`).toBe(false);
          expect(existsSync(path.join(process.cwd(), c)), `${c} was created: part of the path was run`).toBe(false);
        }
      } finally {
        await ssh.close();
      }
    },
    budget({ 'ansible-playbook': 1 }),
  );
});

describe('a workspace path that Ansible would expand', () => {
  it.each(['x${HOME}y', 'shop-$USER', '${'])(
    'init --dir %s is refused in one line naming --dir, and nothing is made',
    async (name) => {
      const dir = path.join(root, name);
      const { home } = await homeWithKey(tempDir('hawp-paths-home-'));
      const env = { ...process.env, HOME: home, HA_WORDPRESS_VAULT_PASSWORD: 'a-vault-password' };
      const r = await runCli(['init', '--target', 'local', '--non-interactive', '--yes', '--dir', dir], { env });
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/--dir: the path contains "\$/);
      expect(existsSync(dir)).toBe(false);
    },
    budget({ cli: 1 }),
  );
});
