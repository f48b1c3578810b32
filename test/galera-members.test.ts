/**
 * A new Galera member list alone restarts no running node
 * (ansible/roles/galera/tasks/config-file.yml, docs/cluster.md#members):
 * the role's own tasks, run by real ansible-playbook on this machine into a
 * file in a temporary directory, say whether each change of the
 * configuration needs the node restarted. A replaced node's new private
 * address changes every node's wsrep_cluster_address; before, that
 * restarted every other node one after the other, moving the writer each
 * time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { budget, missing, runTool, skipWhen, type ToolResult } from './support/tools.js';

const ROLES = path.resolve(__dirname, '..', 'ansible', 'roles');

/** The group the role gives the file (MariaDB's): absent where MariaDB was never installed. */
const noMysqlGroup = readFileSync('/etc/group', 'utf8')
  .split('\n')
  .some((l) => l.startsWith('mysql:'))
  ? undefined
  : 'no mysql group here (apt-get install mariadb-server)';

skipWhen(missing('ansible-playbook') ?? noMysqlGroup).describe('Galera configuration: which changes restart a running node', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-members-'));
  const config = path.join(dir, '60-galera.cnf');
  let run: ToolResult;
  /** One step of the playbook: the configuration written, and whether the role would restart the node for it. */
  const step = (name: string, before: unknown[]) => [
    ...before,
    {
      name: `write: ${name}`,
      'ansible.builtin.include_role': { name: 'galera', tasks_from: 'config-file.yml' },
      vars: { __galera_tls_dynamic: false },
    },
    {
      name: `record: ${name}`,
      'ansible.builtin.copy': {
        content: "{{ {'changed': __galera_config is changed, 'restart': __galera_config_restart | bool} | to_json }}",
        dest: path.join(dir, `${name}.json`),
        mode: '0600',
      },
    },
  ];
  const result = (name: string) => JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as { changed: boolean; restart: boolean };
  /** Another private address for a member, as a replaced droplet gets. */
  const moveMember = (host: string, ip: string) => ({
    name: `${host} is replaced: new private address`,
    'ansible.builtin.set_fact': { private_ip: ip },
    delegate_to: host,
    delegate_facts: true,
  });

  beforeAll(
    async () => {
      const host = (ip: string) => ({ ansible_connection: 'local', private_ip: ip });
      writeFileSync(
        path.join(dir, 'hosts.yml'),
        yaml.dump({
          all: {
            vars: { ansible_python_interpreter: '{{ ansible_playbook_python }}' },
            hosts: { db1: host('10.10.0.11'), db2: host('10.10.0.12'), db3: host('10.10.0.13'), db4: host('10.10.0.14') },
          },
        }),
      );
      let tasks: unknown[] = [];
      tasks = step('first', tasks);
      tasks = step('again', tasks);
      tasks = step('members', [
        ...tasks,
        moveMember('db3', '10.10.0.23'),
        { name: 'a fourth member', 'ansible.builtin.set_fact': { galera_nodes: ['db1', 'db2', 'db3', 'db4'] } },
      ]);
      tasks = step('gcache-and-members', [
        ...tasks,
        moveMember('db2', '10.10.0.22'),
        { name: 'a larger gcache too', 'ansible.builtin.set_fact': { galera_gcache_size: '512M' } },
      ]);
      writeFileSync(
        path.join(dir, 'play.yml'),
        yaml.dump([
          {
            name: 'the galera role writes its configuration',
            hosts: 'db1',
            gather_facts: false,
            vars: {
              galera_nodes: ['db1', 'db2', 'db3'],
              galera_cluster_name: 'shop',
              galera_sst_password: 'an-sst-password',
            },
            tasks,
          },
        ]),
      );
      run = await runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, 'play.yml'), '-e', `__galera_config_file=${config}`], {
        env: { ...process.env, ANSIBLE_ROLES_PATH: ROLES, ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0' },
        allowFailure: true,
      });
    },
    budget({ 'ansible-playbook': 1 }),
  );

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a node is restarted for a changed setting, not for a member added or replaced (the list, and the SST donors from it, are read only at start)', () => {
    expect(run.code, run.report).toBe(0);
    expect(result('first')).toEqual({ changed: true, restart: true });
    expect(result('again')).toEqual({ changed: false, restart: false });
    // The file does carry the new list, for the node's next start.
    expect(result('members')).toEqual({ changed: true, restart: false });
    expect(readFileSync(config, 'utf8')).toMatch(/^wsrep_cluster_address = "gcomm:\/\/10\.10\.0\.11,10\.10\.0\.22,10\.10\.0\.23,10\.10\.0\.14"$/m);
    // And the preferred SST donors that follow from it: every member but the first in HAProxy's order (the writer), any after them.
    expect(readFileSync(config, 'utf8')).toMatch(/^wsrep_sst_donor = "db2,db3,db4,"$/m);
    expect(result('gcache-and-members')).toEqual({ changed: true, restart: true });
  });
});
