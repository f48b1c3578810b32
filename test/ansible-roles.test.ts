/**
 * The Ansible roles and site.yml shipped in ansible/: checked by the real
 * tools (ansible-playbook --syntax-check, ansible-lint's production profile),
 * and their templates rendered by real Ansible (ansible.builtin.template on
 * localhost) with adversarial vault values, then read back the way each
 * consumer reads them: PHP and MariaDB option files by the real php and
 * my_print_defaults (those tests are skipped, saying so, where the tool is
 * missing), SQL string literals, haproxy.cfg words and curl config quoting by
 * the readers below. The failover script and the Galera health check run for
 * real against loopback stand-ins.
 *
 * Every tool runs through test/support/tools.ts: a failure or a hang is
 * reported with the tool's output, and the timeouts allow for a busy CI
 * machine (ansible-playbook takes ~5 s idle, ~30 s beside the lab's containers).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { budget, missing, needs, runTool, runToolSync, skipWhen, type ToolResult } from './support/tools.js';

const ROOT = path.resolve(__dirname, '..');
const ANSIBLE_DIR = path.join(ROOT, 'ansible');
const ROLES = path.join(ANSIBLE_DIR, 'roles');

const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));
const ansibleEnv = (extra: NodeJS.ProcessEnv = {}) => ({
  ...process.env,
  ANSIBLE_CONFIG: path.join(ANSIBLE_DIR, 'ansible.cfg'),
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_RETRY_FILES_ENABLED: '0',
  ...extra,
});

// Values that break naive templating, each within what init allows for its
// sinks (src/validation/secrets.ts): quotes, backslashes (also trailing, and
// before n/s/" where parsers have escapes), $, #, ;, backticks, braces
// without "{{"/"{%"/"{#". Galera passwords carry no "$", the stats password
// no #, quotes, backslash or spaces. Token and salts go beyond init's rules.
const V = {
  wpDbPass: "Wp'\"\\'$HOME#;`x`{a}%!\\n\\",
  rootPass: 'Ro"o\'t\\#pw;1`x`\\\\n"\\',
  checkPass: 'Cc"h\'k\\s#;!\\"z`%_',
  sstPass: 'Ss\'"\\b#x;\\',
  statsPass: 'St@ts:p$w!;x%&*`(){a}[]<>|~^=+,.?/',
  adminPass: 'Ad\'m"in\\$pw#1\\\\%\\',
  title: 'Bob\'s "Blog" \\ $HOME #1 {x} %y \\\'',
  token: 'dop_v1_"quote\\back$x`y',
  spacesKey: 'DO00ABCDEFGHIJKLMNOP',
  spacesSecret: 'abc/def+ghi=jkl/mno+pqr=stu/vwx+yz0123456789',
  keepalived: 'Ab3dE6gH',
  restic: 'Re"s\'t#ic\\ $HOME;`x` =={a}%\\',
};
const SALT_NAMES = ['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'];
const SALTS = Object.fromEntries(SALT_NAMES.map((n, i) => [n, `${n}'\\${i}"$#\\`]));

const HOSTS = {
  db1: { ansible_host: '198.51.100.11', private_ip: '10.10.0.11' },
  db2: { ansible_host: '198.51.100.12', private_ip: '10.10.0.12' },
  db3: { ansible_host: '198.51.100.13', private_ip: '10.10.0.13' },
  lb1: { ansible_host: '198.51.100.21', private_ip: '10.10.0.21' },
  lb2: { ansible_host: '198.51.100.22', private_ip: '10.10.0.22' },
  web1: { ansible_host: '198.51.100.31', private_ip: '10.10.0.31' },
  web2: { ansible_host: '198.51.100.32', private_ip: '10.10.0.32' },
};

/** The inventory `up` writes (src/workspace/inventory.ts), plus the lab's extra vars. */
function inventory(): string {
  const pick = (...names: (keyof typeof HOSTS)[]) => Object.fromEntries(names.map((n) => [n, HOSTS[n]]));
  return yaml.dump({
    all: {
      vars: {
        ansible_user: 'deploy',
        ansible_connection: 'local',
        ansible_python_interpreter: '{{ ansible_playbook_python }}',
        load_balancer_ip: '203.0.113.10',
        db_reserved_ip: '203.0.113.20',
        lab_api_url: 'http://192.0.2.1:8080',
      },
      children: {
        wp_node: { hosts: pick('web1', 'web2') },
        galera_cluster_node: { hosts: pick('db1', 'db2', 'db3') },
        galera_loadbalancer: { hosts: pick('lb1', 'lb2') },
      },
    },
  });
}

/** group_vars as init renders them: the role-facing names point at vault_* values. */
function groupVars(o: { metadataUrl: string; apiUrl: string; apiConfig: string; out: string }): string {
  return yaml.dump({
    vault_wp_db_name: 'wordpress',
    vault_wp_db_user: 'wordpress',
    vault_wp_db_pass: V.wpDbPass,
    vault_galera_root_password: V.rootPass,
    vault_galera_clustercheck_password: V.checkPass,
    vault_galera_sst_password: V.sstPass,
    vault_haproxy_stats_user: 'haproxy-stats',
    vault_haproxy_stats_pass: V.statsPass,
    vault_haproxy_stats_port: 8404,
    vault_keepalived_auth_pass: V.keepalived,
    vault_galera_ha_do_token: V.token,
    vault_wp_admin_password: V.adminPass,
    vault_wp_salt: SALTS,
    vault_spaces_access_key: V.spacesKey,
    vault_spaces_secret_key: V.spacesSecret,
    vault_wordpress_smtp_password: V.adminPass,
    vault_backup_restic_password: V.restic,
    vault_backup_s3_access_key_id: V.spacesKey,
    vault_backup_s3_secret_access_key: V.spacesSecret,
    backup_restic_password: '{{ vault_backup_restic_password }}',
    backup_s3_access_key_id: '{{ vault_backup_s3_access_key_id }}',
    backup_s3_secret_access_key: '{{ vault_backup_s3_secret_access_key }}',
    backup_s3_endpoint: 'https://ams3.digitaloceanspaces.com',
    backup_bucket: 'shop-backups-x1y2z3',
    backup_s3_region: 'ams3',
    backup_retention: { hourly: 24, daily: 7 },
    ha_wordpress_target: 'digitalocean',
    site_domain: '',
    ssh_allow: '203.0.113.7/32, 2001:db8::/32',
    wp_db_name: '{{ vault_wp_db_name }}',
    wp_db_user: '{{ vault_wp_db_user }}',
    wp_db_pass: '{{ vault_wp_db_pass }}',
    galera_cluster_name: 'hawp',
    galera_root_password: '{{ vault_galera_root_password }}',
    galera_clustercheck_password: '{{ vault_galera_clustercheck_password }}',
    galera_sst_password: '{{ vault_galera_sst_password }}',
    haproxy_stats_user: '{{ vault_haproxy_stats_user }}',
    haproxy_stats_pass: '{{ vault_haproxy_stats_pass }}',
    haproxy_stats_port: '{{ vault_haproxy_stats_port }}',
    keepalived_auth_pass: '{{ vault_keepalived_auth_pass }}',
    do_api_url: o.apiUrl,
    do_api_token: '{{ vault_galera_ha_do_token }}',
    wordpress_site_title: V.title,
    wordpress_admin_user: 'hawp-admin',
    wordpress_admin_email: 'admin@example.com',
    wp_admin_password: '{{ vault_wp_admin_password }}',
    wp_salt: '{{ vault_wp_salt }}',
    wordpress_media_bucket: 'media-bucket',
    wordpress_media_endpoint: 'https://fra1.digitaloceanspaces.com',
    wordpress_media_region: 'fra1',
    wordpress_media_url: 'https://media-bucket.fra1.digitaloceanspaces.com',
    wordpress_media_access_key: '{{ vault_spaces_access_key }}',
    wordpress_media_secret_key: '{{ vault_spaces_secret_key }}',
    wordpress_smtp_host: 'smtp.example.com',
    wordpress_smtp_port: 465,
    wordpress_smtp_user: "o'brien@example.com",
    wordpress_smtp_password: '{{ vault_wordpress_smtp_password }}',
    db_tls_ca: 'the cluster CA',
    db_tls_host_name: 'db.hawp.internal',
    db_tls_client_subject: "/CN=hawp-wordpress/O=it's",
    galera_tls: { cert: 'server cert', key: 'server key' },
    wp_db_tls: { cert: 'client cert', key: 'client key' },
    __galera_tls_dynamic: false,
    __galera_require_hosts: ['10.10.0.21', '10.10.0.22'],
    // What the role's tasks compute at run time (metadata, facts) or keep
    // at fixed paths, pointed at the test's stand-ins and temp dir.
    haproxy_metadata_url: o.metadataUrl,
    __haproxy_anchor_ip: '198.51.100.121',
    __haproxy_vrrp_interface: 'eth1',
    __haproxy_api_config: o.apiConfig,
    __haproxy_assign_script: path.join(o.out, 'lb1', 'reserved-ip-assign'),
    __haproxy_vrrp_dir: path.join(o.out, 'lb1-vrrp'),
  });
}

const t = (role: string, file: string) => path.join(ROLES, role, 'templates', file);

/**
 * One play per tier renders that tier's templates into out/<host>/. The
 * roles' defaults and vars come first and the test's values last: vars_files
 * outrank play vars, so everything the test sets goes in a file.
 */
function renderPlaybook(varsFiles: string[], out: string): string {
  const task = (role: string, file: string, dest = file.replace(/\.j2$/, '')) => ({
    name: `render ${role}/${file}`,
    'ansible.builtin.template': { src: t(role, file), dest: `${out}/{{ inventory_hostname }}/${dest}`, mode: '0600' },
  });
  const lookupTask = (role: string, file: string, dest: string) => ({
    name: `render ${role}/${file} through lookup`,
    'ansible.builtin.copy': {
      content: `{{ lookup('ansible.builtin.template', '${t(role, file)}', convert_data=False) }}`,
      dest: `${out}/{{ inventory_hostname }}/${dest}`,
      mode: '0600',
    },
  });
  const play = (hosts: string, tasks: unknown[]) => ({
    name: `render for ${hosts}`,
    hosts,
    gather_facts: false,
    vars_files: varsFiles,
    tasks: [{ name: 'out dir', 'ansible.builtin.file': { path: `${out}/{{ inventory_hostname }}`, state: 'directory', mode: '0700' } }, ...tasks],
  });
  return yaml.dump([
    play('all', [task('common', 'nftables.conf.j2')]),
    play('db1', [
      task('galera', '60-galera.cnf.j2'),
      task('galera', 'root.my.cnf.j2'),
      task('galera', 'galera-health.json.j2'),
      task('galera', 'galera-health.service.j2'),
      task('backup', 'env.j2', 'backup.env'),
      task('backup', 'backup.json.j2', 'backup.json'),
      lookupTask('galera', 'accounts-check.sql.j2', 'accounts-check.sql'),
      lookupTask('galera', 'accounts-apply.sql.j2', 'accounts-apply.sql'),
      lookupTask('galera', 'require-cert-check.sql.j2', 'require-cert-check.sql'),
      lookupTask('galera', 'require-cert-apply.sql.j2', 'require-cert-apply.sql'),
    ]),
    play('galera_loadbalancer', [
      task('haproxy', 'haproxy.cfg.j2'),
      task('haproxy', 'keepalived.conf.j2'),
      task('haproxy', 'do-api.curlrc.j2'),
      task('haproxy', 'reserved-ip-assign.j2'),
      task('haproxy', 'vrrp-notify.j2'),
      task('haproxy', 'haproxy-handover.j2'),
      task('haproxy', 'reserved-ip-check.service.j2'),
      task('haproxy', 'reserved-ip-check.timer.j2'),
    ]),
    play('web1', [
      task('wordpress', 'config-default.php.j2'),
      task('wordpress', 'wp-site.php.j2'),
      task('wordpress', 'nginx-site.conf.j2'),
      task('wordpress', 'wp-cron.service.j2'),
      task('wordpress', 'wp-cron.timer.j2'),
      task('wordpress', 'drain.j2'),
      task('wordpress', 'nginx-drain.conf.j2'),
      { ...task('wordpress', 'php-fpm.ini.j2', 'php-fpm-2048.ini'), vars: { __wordpress_node_size: { stdout: '2048 2' } } },
      // PHP-FPM sized to the node: what the role measured (MiB), or what group_vars set.
      ...POOL_CASES.map(([mem, set]) => ({
        ...task('wordpress', 'php-fpm-pool.conf.j2', poolFile(mem, set)),
        vars: { __wordpress_node_size: { stdout: mem }, ...set },
      })),
    ]),
  ]);
}

/** The node's memory in MiB and its CPUs (what the role measures), and what group_vars override, for each rendering of the PHP-FPM pools. */
const POOL_CASES: [string, Record<string, number>][] = [
  ['512 1', {}],
  ['1024 1', {}],
  ['2048 2', {}],
  ['2048 8', {}],
  ['4096 16', {}],
  ['24000 2', {}],
  ['24000 16', {}],
  ['2048 2', { wordpress_fpm_max_children: 40, wordpress_opcache_memory_mb: 96 }],
];

const poolFile = (mem: string, set: Record<string, number>) => `pool-${mem.replace(' ', 'x')}-${Object.values(set).join('-') || 'derived'}.conf`;

/** What site.yml passes the roles, and what the galera role's tasks compute before its SQL templates. */
const MEMBERS = {
  common_galera_nodes: "{{ groups['galera_cluster_node'] }}",
  common_haproxy_nodes: "{{ groups['galera_loadbalancer'] }}",
  common_wordpress_nodes: "{{ groups['wp_node'] }}",
  galera_nodes: "{{ groups['galera_cluster_node'] }}",
  galera_client_nodes: "{{ groups['galera_loadbalancer'] }}",
  haproxy_nodes: "{{ groups['galera_loadbalancer'] }}",
  haproxy_galera_nodes: "{{ groups['galera_cluster_node'] }}",
  wordpress_nodes: "{{ groups['wp_node'] }}",
  backup_galera_nodes: "{{ groups['galera_cluster_node'] }}",
  __galera_wp_hosts: "{{ galera_client_nodes | map('extract', hostvars, 'private_ip') | list }}",
  __galera_accounts: `{{ lookup('ansible.builtin.template', '${t('galera', 'accounts.json.j2')}', convert_data=False) | from_json }}`,
  // Nothing exists yet: the apply script holds every statement.
  __galera_sql_state: {},
  __galera_stale_hosts: ['10.10.0.99'],
};

// ---------------------------------------------------------------------------
// Readers: how each consumer parses what the templates wrote.

/** The named constants of a PHP file, as real PHP defines them when it includes the file. */
function phpConstants(file: string, names: string[]): Record<string, string> {
  const code = `include $argv[1]; $o = []; foreach (json_decode($argv[2]) as $n) { $o[$n] = constant($n); } echo json_encode($o);`;
  const r = runToolSync('php', ['-r', code, '--', file, JSON.stringify(names)]);
  expect(r.stderr, r.report).toBe('');
  return JSON.parse(r.stdout) as Record<string, string>;
}

/** One group of a MariaDB option file as the server and clients read it (mysys, through my_print_defaults); names with "-". */
function optionGroup(file: string, group: string): Record<string, string> {
  const r = runToolSync('my_print_defaults', ['--defaults-file=' + file, group]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(line);
    expect(m, `${line}\n${r.report}`).not.toBeNull();
    out[m![1]!.replace(/_/g, '-')] = m![2] ?? '';
  }
  return out;
}

/** SQL statements (split on ";" outside quotes) and their '...' literals decoded as MariaDB does. */
function sqlStatements(text: string): { sql: string; strings: string[] }[] {
  const out: { sql: string; strings: string[] }[] = [];
  let sql = '';
  let strings: string[] = [];
  const esc: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a', '%': '\\%', _: '\\_' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      let s = '';
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text[j]!;
        if (d === '\\') {
          const n = text[++j]!;
          s += esc[n] ?? n;
        } else if (d === "'" && text[j + 1] === "'") {
          s += "'";
          j++;
        } else if (d === "'") break;
        else s += d;
      }
      if (j >= text.length) throw new Error(`unterminated string literal after: ${sql.slice(-60)}`);
      sql += text.slice(i, j + 1);
      strings.push(s);
      i = j;
    } else if (c === '`') {
      const j = text.indexOf('`', i + 1);
      sql += text.slice(i, j + 1);
      i = j;
    } else if (c === ';') {
      out.push({ sql: sql.trim(), strings });
      sql = '';
      strings = [];
    } else sql += c;
  }
  if (sql.trim() !== '') out.push({ sql: sql.trim(), strings });
  return out;
}

/** haproxy.cfg words (2.6 rules): '...' literal, "..." with \ escapes and $VAR, \ escapes outside, # comments. */
function haproxyWords(line: string): string[] {
  const words: string[] = [];
  let w: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      if (w !== undefined) words.push(w);
      w = undefined;
    } else if (c === "'") {
      const j = line.indexOf("'", i + 1);
      if (j < 0) throw new Error('unterminated single quote');
      w = (w ?? '') + line.slice(i + 1, j);
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') s += line[++j];
        else if (line[j] === '$') throw new Error('environment variable expansion inside double quotes');
        else s += line[j];
      }
      w = (w ?? '') + s;
      i = j;
    } else if (c === '\\') w = (w ?? '') + line[++i];
    else w = (w ?? '') + c;
  }
  if (w !== undefined) words.push(w);
  return words;
}

/** A curl config file's "name = "value"" (tool_parsecfg.c: \\ \" \t \n \r \v, other \x is x). */
function curlConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z-]+)\s*[=:]?\s*"(.*)"\s*$/.exec(line);
    if (!m) continue;
    const map: Record<string, string> = { t: '\t', n: '\n', r: '\r', v: '\v' };
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => map[c] ?? c);
  }
  return out;
}

/** nft -c checks a ruleset against the kernel: it needs nft, root, and a kernel that lets it (not every container does). */
function whyNoNftCheck(): string | undefined {
  if (process.getuid?.() !== 0) return 'nft -c needs root';
  const tool = missing('nft');
  if (tool) return tool;
  const r = runToolSync('nft', ['-c', '-f', '/dev/null'], { allowFailure: true });
  return r.code === 0 ? undefined : `nft -c does not work here: ${r.stderr.trim().split('\n')[0]}`;
}

// ---------------------------------------------------------------------------

needs('ansible-playbook').describe('ansible/ roles and site.yml', () => {
  it(
    'site.yml and restore.yml pass ansible-playbook --syntax-check against an inventory shaped like the one up writes',
    async () => {
      const dir = tmp('hawp-syntax-');
      writeFileSync(path.join(dir, 'hosts.yml'), inventory());
      const r = await runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), '--syntax-check', 'site.yml', 'restore.yml'], {
        cwd: ANSIBLE_DIR,
        env: ansibleEnv(),
        allowFailure: true,
      });
      expect(r.stderr + r.stdout, r.report).not.toMatch(/ERROR/);
      expect(r.code, r.report).toBe(0);
    },
    budget({ 'ansible-playbook': 1 }),
  );

  needs('ansible-lint').it(
    'ansible-lint is clean with the production profile (offline)',
    async () => {
      const r = await runTool('ansible-lint', ['--offline', '--nocolor', '-p', 'site.yml', 'restore.yml', 'roles'], {
        cwd: ANSIBLE_DIR,
        env: ansibleEnv({ NO_COLOR: '1' }),
        allowFailure: true,
      });
      expect(r.stdout + r.stderr, r.report).toMatch(/Passed with production profile/);
      expect(r.code, r.report).toBe(0);
    },
    budget({ 'ansible-lint': 1 }),
  );

  it('site.yml starts each background install in a play before the one that waits for it, under the job name the wait uses', () => {
    type Task = Record<string, unknown>;
    const plays = yaml.load(readFileSync(path.join(ANSIBLE_DIR, 'site.yml'), 'utf8')) as Task[];
    const load = (role: string, file: string) => (yaml.load(readFileSync(path.join(ROLES, role, 'tasks', file), 'utf8')) as Task[]) ?? [];
    /** The packages_job of every include of the packages role's `from` tasks in these tasks. */
    const jobs = (tasks: Task[], from: string) =>
      tasks
        .filter((t) => (t['ansible.builtin.include_role'] as Task | undefined)?.name === 'packages')
        .filter((t) => (t['ansible.builtin.include_role'] as Task).tasks_from === from)
        .map((t) => (t.vars as Task).packages_job as string);
    const started: string[] = [];
    for (const [i, play] of plays.entries()) {
      for (const task of (play.tasks as Task[] | undefined) ?? []) {
        const inc = task['ansible.builtin.include_role'] as Task | undefined;
        if (inc?.tasks_from !== 'packages-start.yml') continue;
        const role = inc.name as string;
        const [job] = jobs(load(role, 'packages-start.yml'), 'start.yml');
        expect(job, `${role}/tasks/packages-start.yml starts a job`).toBeTruthy();
        // The role's own play comes later and waits under the same name.
        const later = plays.slice(i + 1).findIndex((p) => ((p.roles as Task[] | undefined) ?? []).some((r) => r.role === role));
        expect(later, `a play after "${String(play.name)}" applies the ${role} role`).toBeGreaterThanOrEqual(0);
        expect(jobs(load(role, 'main.yml'), 'wait.yml'), `${role}/tasks/main.yml waits for "${job}"`).toEqual([job]);
        started.push(role);
      }
    }
    expect(started.sort()).toEqual(['backup', 'haproxy', 'wordpress']);
    // Every start records its job, and every wait reads the record.
    const start = readFileSync(path.join(ROLES, 'packages', 'tasks', 'start.yml'), 'utf8');
    const wait = readFileSync(path.join(ROLES, 'packages', 'tasks', 'wait.yml'), 'utf8');
    expect(start).toMatch(/poll: 0/);
    expect(start).toMatch(/combine\(\{packages_job: __packages_started\.ansible_job_id\}\)/);
    expect(wait).toMatch(/jid: "\{\{ __packages_jobs\[packages_job\] \}\}"/);
  });

  it('debian-packages.txt lists every package a role installs (the lab serves only those)', () => {
    const listed = new Set(
      readFileSync(path.join(ANSIBLE_DIR, 'debian-packages.txt'), 'utf8')
        .split('\n')
        .map((l) => l.replace(/#.*$/, '').trim())
        .filter(Boolean),
    );
    const installed: string[] = [];
    for (const role of readdirSync(ROLES)) {
      const vars: Record<string, unknown> = {};
      for (const f of ['defaults/main.yml', 'vars/main.yml']) {
        try {
          Object.assign(vars, yaml.load(readFileSync(path.join(ROLES, role, f), 'utf8')));
        } catch {
          /* no such file */
        }
      }
      const tasksDir = path.join(ROLES, role, 'tasks');
      const visit = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(visit);
        if (!node || typeof node !== 'object') return;
        const task = node as Record<string, unknown>;
        const apt = (task['ansible.builtin.apt'] ?? task['apt']) as { name?: unknown } | undefined;
        if (apt?.name !== undefined) {
          // A Jinja expression: every role variable it names may be installed
          // (`a + (b if … else [])`), and a variable that is itself an
          // expression is read the same way.
          const resolve = (name: unknown, depth: number): unknown[] => {
            if (typeof name !== 'string' || !name.includes('{{')) return [name];
            const refs = (name.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).filter((v) => v in vars);
            expect(refs.length, `${role}: apt name ${name} names a role variable`).toBeGreaterThan(0);
            expect(depth, `${role}: ${name} refers back to itself`).toBeLessThan(5);
            return refs.flatMap((v) => resolve(vars[v], depth + 1));
          };
          for (const value of resolve(apt.name, 0)) installed.push(...(Array.isArray(value) ? (value as string[]) : [String(value)]));
        }
        for (const k of ['block', 'rescue', 'always']) visit(task[k]);
      };
      for (const f of readdirSync(tasksDir)) visit(yaml.load(readFileSync(path.join(tasksDir, f), 'utf8')));
    }
    expect(installed.length).toBeGreaterThan(20);
    expect(installed).toContain('rclone');
    expect(installed.filter((p) => !listed.has(p))).toEqual([]);
    // python3-apt is what ansible.builtin.apt needs on the node.
    expect(listed.has('python3-apt')).toBe(true);
  });

  describe('templates rendered by Ansible with adversarial vault values', () => {
    const out = tmp('hawp-render-');
    // The stand-in API behaves as DigitalOcean's: an assign is an action in progress, completed at its second
    // poll (then the metadata service says the address is here); `refuse` assigns are answered "pending event" first.
    const state = {
      metadataActive: 'false',
      posts: [] as { auth: string | undefined; body: string; url: string }[],
      polls: 0,
      refuse: 0,
    };
    let server: http.Server;
    let base = '';
    let rendered: ToolResult;
    const file = (host: string, name: string) => readFileSync(path.join(out, host, name), 'utf8');

    beforeAll(
      async () => {
        // Stand-ins for the metadata service and the reserved-IP action.
        server = http.createServer((req, res) => {
          let body = '';
          req.on('data', (c: Buffer) => (body += c.toString()));
          req.on('end', () => {
            const url = req.url ?? '';
            if (req.method === 'GET' && url === '/metadata/v1/reserved_ip/ipv4/active') return res.end(state.metadataActive);
            if (req.method === 'GET' && url === '/metadata/v1/id') return res.end('4242');
            if (req.method === 'POST' && url.startsWith('/v2/reserved_ips/')) {
              state.posts.push({ auth: req.headers.authorization, body, url });
              if (state.refuse > 0) {
                state.refuse--;
                res.statusCode = 422;
                return res.end('{"id":"unprocessable_entity","message":"Droplet already has a pending event."}');
              }
              res.statusCode = 201;
              return res.end('{"action":{"id":77,"status":"in-progress","type":"assign_ip"}}');
            }
            if (req.method === 'GET' && url === '/v2/reserved_ips/203.0.113.20/actions/77') {
              const done = ++state.polls >= 2;
              if (done) state.metadataActive = 'true';
              return res.end(`{"action":{"id":77,"status":"${done ? 'completed' : 'in-progress'}"}}`);
            }
            res.statusCode = 404;
            res.end('not found');
          });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

        const dir = tmp('hawp-play-');
        writeFileSync(path.join(dir, 'hosts.yml'), inventory());
        writeFileSync(
          path.join(dir, 'values.yml'),
          groupVars({ metadataUrl: `${base}/metadata/v1`, apiUrl: `${base}/`, apiConfig: path.join(out, 'lb1', 'do-api.curlrc'), out }),
        );
        writeFileSync(path.join(dir, 'members.yml'), yaml.dump(MEMBERS));
        const varsFiles = [
          ...['common', 'galera', 'haproxy', 'wordpress', 'backup'].flatMap((r) => [
            path.join(ROLES, r, 'defaults', 'main.yml'),
            path.join(ROLES, r, 'vars', 'main.yml'),
          ]),
          path.join(dir, 'values.yml'),
          path.join(dir, 'members.yml'),
        ];
        writeFileSync(path.join(dir, 'render.yml'), renderPlaybook(varsFiles, out));
        // A failed render is reported by the test below, with ansible's output; a hang or a crash, here.
        rendered = await runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, 'render.yml')], {
          env: ansibleEnv(),
          allowFailure: true,
        });
      },
      budget({ 'ansible-playbook': 1 }),
    );

    it('renders every template', () => {
      expect(rendered.stdout + rendered.stderr, rendered.report).not.toMatch(/FAILED|ERROR/);
      expect(rendered.code, rendered.report).toBe(0);
    });

    needs('php').it(
      'wp-config (config-default.php): every vault value survives as PHP reads it, and both PHP files parse',
      () => {
        const want: Record<string, string> = {
          DB_NAME: 'wordpress',
          DB_USER: 'wordpress',
          DB_PASSWORD: V.wpDbPass,
          // The name in the database's certificate (the web nodes' /etc/hosts maps it to the reserved IP).
          DB_HOST: 'db.hawp.internal:3306',
          HAWP_DB_TLS_CA: '/etc/wordpress/tls/ca.pem',
          HAWP_DB_TLS_CERT: '/etc/wordpress/tls/client.pem',
          HAWP_DB_TLS_KEY: '/etc/wordpress/tls/client.pem',
          WP_HOME: 'http://203.0.113.10',
          WP_SITEURL: 'http://203.0.113.10',
          HAWP_MEDIA_ENDPOINT: 'https://fra1.digitaloceanspaces.com',
          HAWP_MEDIA_REGION: 'fra1',
          HAWP_MEDIA_BUCKET: 'media-bucket',
          HAWP_MEDIA_KEY: V.spacesKey,
          HAWP_MEDIA_SECRET: V.spacesSecret,
          HAWP_MEDIA_URL: 'https://media-bucket.fra1.digitaloceanspaces.com',
          HAWP_SMTP_HOST: 'smtp.example.com',
          HAWP_SMTP_USER: "o'brien@example.com",
          HAWP_SMTP_PASSWORD: V.adminPass,
          HAWP_SMTP_FROM: '',
          ...SALTS,
        };
        const real = phpConstants(path.join(out, 'web1', 'config-default.php'), [...Object.keys(want), 'DISABLE_WP_CRON', 'HAWP_SMTP_PORT']);
        for (const [k, v] of Object.entries(want)) expect(real[k], `${k} (php)`).toBe(v);
        // Cron runs from the timer (one node at a time), never on page loads.
        expect(real.DISABLE_WP_CRON as unknown).toBe(true);
        expect(real.HAWP_SMTP_PORT as unknown).toBe(465);
        for (const f of ['config-default.php', 'wp-site.php']) {
          const lint = runToolSync('php', ['-l', path.join(out, 'web1', f)], { allowFailure: true });
          expect(lint.code, lint.report).toBe(0);
        }
      },
      budget({ other: 3 }),
    );

    it('wp-config: admin over plain HTTP, outbound HTTP not blocked', () => {
      const text = file('web1', 'config-default.php');
      expect(text).toMatch(/define\('FORCE_SSL_ADMIN', false\);/);
      expect(text).not.toMatch(/WP_HTTP_BLOCK_EXTERNAL/);
    });

    needs('my_print_defaults').it(
      'MariaDB option files: passwords survive mysys option parsing (# and quotes included)',
      () => {
        const root = optionGroup(path.join(out, 'db1', 'root.my.cnf'), 'client');
        expect(root.password).toBe(V.rootPass);
        expect(root.user).toBe('root');
        const galera = optionGroup(path.join(out, 'db1', '60-galera.cnf'), 'galera');
        expect(galera['wsrep-sst-auth']).toBe(`sst:${V.sstPass}`);
        expect(galera['wsrep-cluster-address']).toBe('gcomm://10.10.0.11,10.10.0.12,10.10.0.13');
        expect(galera['wsrep-node-address']).toBe('10.10.0.11');
        // MariaDB reads the donor list without its quotes; the trailing comma lets any node donate when these cannot.
        expect(galera['wsrep-sst-donor']).toBe('db2,db3,');
        expect(galera['wsrep-provider']).toBe('/usr/lib/galera/libgalera_smm.so');
        const mysqld = optionGroup(path.join(out, 'db1', '60-galera.cnf'), 'mysqld');
        expect(mysqld['innodb-autoinc-lock-mode']).toBe('2');
        // MariaDB and Galera's group communication on the private address only.
        expect(mysqld['bind-address']).toBe('10.10.0.11');
        // Peers over TLS with the cluster CA, plaintext refused (no socket.dynamic outside a move to TLS).
        expect(galera['wsrep-provider-options']).toBe(
          'gcache.size=256M; gmcast.listen_addr=tcp://10.10.0.11:4567; socket.ssl=yes; socket.ssl_ca=/etc/mysql/tls/ca.pem; ' +
            'socket.ssl_cert=/etc/mysql/tls/server.pem; socket.ssl_key=/etc/mysql/tls/server.key',
        );
        expect(mysqld).toMatchObject({ 'ssl-ca': '/etc/mysql/tls/ca.pem', 'ssl-cert': '/etc/mysql/tls/server.pem', 'ssl-key': '/etc/mysql/tls/server.key' });
        // State transfers: TLS, the peer's chain verified (SST's script reads [sst]).
        expect(optionGroup(path.join(out, 'db1', '60-galera.cnf'), 'sst')).toEqual({ 'ssl-mode': 'VERIFY_CA' });
      },
      budget({ other: 4 }),
    );

    it('backup env file: every credential on its own KEY=value line, verbatim; the settings JSON names the nodes in order', () => {
      // The script's reader: split each line at its first "=", the value verbatim.
      const env = Object.fromEntries(
        file('db1', 'backup.env')
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(env).toEqual({
        RESTIC_REPOSITORY: 's3:https://ams3.digitaloceanspaces.com/shop-backups-x1y2z3/hawp',
        RESTIC_PASSWORD: V.restic,
        AWS_ACCESS_KEY_ID: V.spacesKey,
        AWS_SECRET_ACCESS_KEY: V.spacesSecret,
      });
      const cfg = JSON.parse(file('db1', 'backup.json')) as Record<string, unknown>;
      expect(cfg).toMatchObject({
        database: 'wordpress',
        table_prefix: 'wp_',
        node: 'db1',
        s3_region: 'ams3',
        retention: { hourly: 24, daily: 7 },
        single_writer: true,
        health_port: 9200,
        nodes: [
          { name: 'db1', address: '10.10.0.11' },
          { name: 'db2', address: '10.10.0.12' },
          { name: 'db3', address: '10.10.0.13' },
        ],
      });
      expect(JSON.stringify(cfg)).not.toContain(V.spacesSecret);
    });

    it('nginx site: a maintenance page while the restore flag exists, the health check exempt', () => {
      const site = file('web1', 'nginx-site.conf');
      expect(site).toContain('if (-f /etc/ha-wordpress/maintenance) {');
      expect(site).toMatch(/if \(\$uri = \/healthz\) \{\s*set \$hawp_maintenance "";/);
      expect(site).toMatch(/error_page 503 @maintenance;/);
    });

    it('PHP-FPM sized to the node: max_children and OPcache from its memory (the documented formula), group_vars winning', () => {
      const read = (name: string) => {
        const r = runToolSync('php', ['-r', 'echo json_encode(parse_ini_file($argv[1], true, INI_SCANNER_RAW));', '--', path.join(out, 'web1', name)]);
        expect(r.stderr, r.report).toBe('');
        return JSON.parse(r.stdout) as Record<string, Record<string, string>>;
      };
      const sizes = POOL_CASES.map(([mem, set]) => {
        const pools = read(poolFile(mem, set));
        const www = pools.www!;
        // The socket nginx sends WordPress to, and a pool that can start as many children as it may have.
        expect(www.listen).toBe('/run/php/php8.2-fpm.sock');
        expect(www.pm).toBe('dynamic');
        const [max, start, minSpare, maxSpare] = ['pm.max_children', 'pm.start_servers', 'pm.min_spare_servers', 'pm.max_spare_servers'].map((k) =>
          Number(www[k]),
        );
        expect(minSpare).toBeLessThanOrEqual(start!);
        expect(start).toBeLessThanOrEqual(maxSpare!);
        expect(maxSpare).toBeLessThanOrEqual(max!);
        // The health check's pool: one child of its own, on the socket nginx's /healthz uses.
        expect(pools['ha-wordpress-health']).toMatchObject({ listen: '/run/php/ha-wordpress-health.sock', pm: 'static', 'pm.max_children': '1' });
        // A reload (the pool sized anew) waits for the requests in flight, as long as one may run, instead of killing them.
        expect(pools.global).toEqual({ process_control_timeout: `${www.request_terminate_timeout}s` });
        const opcache = /OPcache = [^\n]*\n;\s+memory for every pool[^:]*: (\d+)/.exec(readFileSync(path.join(out, 'web1', poolFile(mem, set)), 'utf8'))?.[1];
        return [mem, max, Number(opcache)];
      });
      // (memory - 256 - OPcache) / 64, at most 5 per CPU and 64 in all, at least 4; OPcache memory / 16 within 64..256.
      expect(sizes).toEqual([
        ['512 1', 4, 64],
        ['1024 1', 5, 64],
        ['2048 2', 10, 128],
        ['2048 8', 26, 128],
        ['4096 16', 56, 256],
        ['24000 2', 10, 256],
        ['24000 16', 64, 256],
        ['2048 2', 40, 96],
      ]);
      const ini = readFileSync(path.join(out, 'web1', 'php-fpm-2048.ini'), 'utf8');
      const r = runToolSync('php', ['-r', 'echo json_encode(parse_ini_string($argv[1], false, INI_SCANNER_RAW));', '--', ini]);
      expect(JSON.parse(r.stdout)).toMatchObject({ 'opcache.memory_consumption': '128', memory_limit: '256M' });
    });

    it('cron: a timer every minute on each web node starts the runner as www-data, stopped a minute before its lease ends', () => {
      const unit = file('web1', 'wp-cron.service');
      expect(unit).toMatch(/^ExecStart=\/usr\/bin\/php \/usr\/local\/lib\/ha-wordpress\/wp-cron-run\.php 600$/m);
      expect(unit).toMatch(/^User=www-data$/m);
      expect(unit).toMatch(/^Type=oneshot$/m);
      expect(unit).toMatch(/^TimeoutStartSec=540$/m);
      expect(file('web1', 'wp-cron.timer')).toMatch(/^OnCalendar=\*-\*-\* \*:\*:00$/m);
      const lint = runToolSync('php', ['-l', path.join(ROLES, 'wordpress', 'files', 'wp-cron-run.php')], { allowFailure: true });
      expect(lint.code, lint.report).toBe(0);
    });

    it('nginx site: the page cache on by default, for anonymous GET and HEAD only, keyed by the scheme the visitor used', () => {
      const site = file('web1', 'nginx-site.conf');
      // The PHP location that runs WordPress (not wp-content's, which denies).
      const php = /\n {4}location ~ \\\.php\$ \{\n {8}include snippets\/fastcgi-php\.conf;([^}]*)\}/.exec(site)?.[1] ?? '';
      expect(php).toContain('fastcgi_cache wordpress;');
      expect(php).toContain('fastcgi_cache_valid 200 301 302 5s;');
      expect(php).toMatch(/fastcgi_cache_key "\$http_x_forwarded_proto\|/);
      expect(php).toContain('fastcgi_no_cache $hawp_no_cache;');
      expect(site).toMatch(/if \(\$request_method !~ \^\(GET\|HEAD\)\$\) \{\s*set \$hawp_no_cache 1;/);
      expect(site).toMatch(/if \(\$http_cookie ~\* "wordpress_logged_in_\|/);
      // add_header in the location replaces the server's: the security headers are there too.
      expect(php).toContain('add_header X-Content-Type-Options nosniff always;');
    });

    it('nginx site: /healthz goes through PHP-FPM (the health pool) to a script that answers ok without the database', () => {
      const site = file('web1', 'nginx-site.conf');
      const health = /\n {4}location = \/healthz \{\n([\s\S]*?)\n {4}\}\n/.exec(site)?.[1];
      expect(health).toContain('fastcgi_pass unix:/run/php/ha-wordpress-health.sock;');
      expect(health).toContain('fastcgi_param SCRIPT_FILENAME /usr/local/lib/ha-wordpress/health/healthz.php;');
      const script = path.join(ROLES, 'wordpress', 'files', 'healthz.php');
      const r = runToolSync('php', [script]);
      expect(r.stdout).toBe('ok\n');
      expect(readFileSync(script, 'utf8')).not.toMatch(/mysqli|wp-load|wp-config|PDO/);
    });

    it('a clean stop drains: /healthz fails while the flag exists, nginx stops after the drain and before PHP-FPM', () => {
      const health = /\n {4}location = \/healthz \{\n([\s\S]*?)\n {4}\}\n/.exec(file('web1', 'nginx-site.conf'))?.[1] ?? '';
      expect(health).toMatch(/if \(-f \/run\/ha-wordpress\/draining\) \{\s*return 503;\s*\}/);
      const drain = file('web1', 'drain');
      expect(runToolSync('sh', ['-n', path.join(out, 'web1', 'drain')]).code).toBe(0);
      expect(drain).toMatch(/^: > \/run\/ha-wordpress\/draining$/m);
      // The load balancer's check (terraform/lb-healthcheck.json): 3 s × (2 failures + 1).
      const lb = JSON.parse(readFileSync(path.join(ROOT, 'terraform', 'lb-healthcheck.json'), 'utf8')) as Record<string, number>;
      expect(drain).toMatch(new RegExp(`^sleep ${lb.check_interval_seconds! * (lb.unhealthy_threshold! + 1)}$`, 'm'));
      const unit = file('web1', 'nginx-drain.conf');
      expect(unit).toMatch(/^After=php8\.2-fpm\.service$/m);
      expect(unit).toMatch(/^ExecStartPre=-\/bin\/rm -f \/run\/ha-wordpress\/draining$/m);
      // The list reset, the drain, then Debian's own stop.
      expect(unit.match(/^ExecStop=.*$/gm)).toEqual([
        'ExecStop=',
        'ExecStop=-/usr/local/lib/ha-wordpress/drain',
        'ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile /run/nginx.pid',
      ]);
      expect(unit).toMatch(/^TimeoutStopSec=19$/m);
    });

    it('nginx site: xmlrpc.php answers 403 by default, security headers on every answer, no version in them', () => {
      const site = file('web1', 'nginx-site.conf');
      expect(site).toMatch(/location = \/xmlrpc\.php \{\s*access_log off;\s*return 403;\s*\}/);
      for (const h of ['X-Content-Type-Options nosniff', 'X-Frame-Options SAMEORIGIN', 'Referrer-Policy strict-origin-when-cross-origin'])
        expect(site).toContain(`    add_header ${h} always;`);
      expect(site).toMatch(/^\s*server_tokens off;$/m);
    });

    it('SQL sent on stdin: statements stay whole and every password literal decodes exactly', () => {
      const apply = sqlStatements(file('db1', 'accounts-apply.sql'));
      const withPassword = (user: string, host: string) =>
        apply.filter((s) => s.strings[0] === user && s.strings[1] === host && /IDENTIFIED/.test(s.sql)).map((s) => s.strings[2]);
      expect(withPassword('root', 'localhost')).toEqual([V.rootPass]);
      expect(withPassword('sst', 'localhost')).toEqual([V.sstPass, V.sstPass]);
      expect(withPassword('clustercheck', 'localhost')).toEqual([V.checkPass, V.checkPass]);
      // WordPress's account, from each HAProxy node's private address only.
      expect(withPassword('wordpress', '10.10.0.21')).toEqual([V.wpDbPass, V.wpDbPass]);
      expect(withPassword('wordpress', '10.10.0.22')).toEqual([V.wpDbPass, V.wpDbPass]);
      expect(
        apply
          .filter((s) => /^GRANT .* ON `wordpress`\.\* TO/.test(s.sql))
          .map((s) => s.strings[1])
          .sort(),
      ).toEqual(['10.10.0.21', '10.10.0.22']);
      expect(apply.some((s) => /^GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON \*\.\* TO/.test(s.sql) && s.strings[0] === 'sst')).toBe(true);
      expect(apply.some((s) => /^DROP USER IF EXISTS/.test(s.sql) && s.strings[1] === '10.10.0.99')).toBe(true);
      expect(apply.some((s) => /^CREATE DATABASE IF NOT EXISTS `wordpress`/.test(s.sql))).toBe(true);
      // Every statement starts with a keyword: nothing leaked out of a literal.
      for (const s of apply) expect(s.sql, s.sql).toMatch(/^(CREATE|ALTER|GRANT|DROP) /);

      const check = sqlStatements(file('db1', 'accounts-check.sql'));
      for (const s of check) expect(s.sql).toMatch(/^SELECT /);
      const passwords = check.flatMap((s) => [...s.sql.matchAll(/PASSWORD\('/g)].map(() => s)).length;
      expect(passwords).toBe(5);
      expect(check.flatMap((s) => s.strings)).toEqual(expect.arrayContaining([V.rootPass, V.sstPass, V.checkPass, V.wpDbPass]));

      // The account requires the web nodes' certificate subject, from each HAProxy address, exactly (quote included).
      const require = sqlStatements(file('db1', 'require-cert-apply.sql'));
      expect(require.map((r) => [r.sql.replace(/'(?:[^'\\]|\\.)*'/g, '?'), ...r.strings])).toEqual([
        ['ALTER USER ?@? REQUIRE SUBJECT ?', 'wordpress', '10.10.0.21', "/CN=hawp-wordpress/O=it's"],
        ['ALTER USER ?@? REQUIRE SUBJECT ?', 'wordpress', '10.10.0.22', "/CN=hawp-wordpress/O=it's"],
      ]);
      const requireCheck = sqlStatements(file('db1', 'require-cert-check.sql'));
      expect(requireCheck).toHaveLength(1);
      expect(requireCheck[0]!.strings).toEqual(expect.arrayContaining(['wordpress', "/CN=hawp-wordpress/O=it's"]));
    });

    it('haproxy.cfg: the stats login survives HAProxy quoting; anchor bind, private backends, check timings', () => {
      const cfg = file('lb1', 'haproxy.cfg');
      const auth = cfg.split('\n').find((l) => /^\s*stats auth /.test(l))!;
      const words = haproxyWords(auth.trim());
      expect(words.slice(0, 2)).toEqual(['stats', 'auth']);
      expect(words).toHaveLength(3);
      const [user, ...pass] = words[2]!.split(':');
      expect(user).toBe('haproxy-stats');
      expect(pass.join(':')).toBe(V.statsPass);
      expect(cfg).toMatch(/^\s*bind 198\.51\.100\.121:3306$/m);
      expect(cfg).toMatch(/^\s*bind 10\.10\.0\.21:8404$/m);
      expect(cfg).toMatch(/^\s*timeout connect 1s$/m);
      expect(cfg).toMatch(/^\s*default-server port 9200 inter 1s fall 2 rise 2/m);
      expect(cfg).toMatch(/^\s*option httpchk/m);
      expect(cfg).toMatch(/^\s*source 10\.10\.0\.21$/m);
      expect(cfg.match(/^\s*server db\d 10\.10\.0\.1\d:3306 check/gm)).toHaveLength(3);
      // The writer table, shared with the other HAProxy node (test/haproxy-writer.test.ts runs it).
      expect(cfg).toMatch(/^\s*localpeer lb1$/m);
      expect(cfg).toMatch(/^\s*peer lb1 10\.10\.0\.21:10000$/m);
      expect(cfg).toMatch(/^\s*peer lb2 10\.10\.0\.22:10000$/m);
      expect(cfg).toMatch(/^\s*stick on int\(1\)$/m);
    });

    it('keepalived.conf: unicast VRRP between the private addresses, no virtual_ipaddress, script security', () => {
      const lb1 = file('lb1', 'keepalived.conf');
      const lb2 = file('lb2', 'keepalived.conf');
      expect(lb1).toMatch(/^\s*auth_pass Ab3dE6gH$/m);
      expect(lb1).toMatch(/^\s*unicast_src_ip 10\.10\.0\.21$/m);
      expect(lb1).toMatch(/unicast_peer \{\s*10\.10\.0\.22\s*\}/);
      expect(lb2).toMatch(/unicast_peer \{\s*10\.10\.0\.21\s*\}/);
      expect(lb1).toMatch(/^\s*priority 150$/m);
      expect(lb2).toMatch(/^\s*priority 140$/m);
      expect(lb1).toMatch(/^\s*enable_script_security$/m);
      expect(lb1).toMatch(/^\s*script_user keepalived_script$/m);
      expect(lb1).not.toMatch(/^\s*virtual_ipaddress/m);
      expect(lb1).toMatch(/^\s*notify \/usr\/local\/lib\/ha-wordpress\/vrrp-notify$/m);
      expect(lb1).not.toMatch(/notify_master/);
    });

    it('the API token reaches the Authorization header intact, never the script', () => {
      expect(curlConfig(file('lb1', 'do-api.curlrc')).header).toBe(`Authorization: Bearer ${V.token}`);
      expect(file('lb1', 'reserved-ip-assign')).not.toContain('quote\\back');
    });

    needs('curl', 'python3', 'flock').it(
      'reserved-ip-assign: waits for the action to complete, asks again after a pending event, leaves it when metadata says it is here; ' +
        'vrrp-notify records the state and assigns on MASTER; the timer acts only on the MASTER',
      async () => {
        const script = path.join(out, 'lb1', 'reserved-ip-assign');
        const notify = path.join(out, 'lb1', 'vrrp-notify');
        for (const f of [script, notify]) {
          chmodSync(f, 0o755);
          const syntax = await runTool('sh', ['-n', f], { allowFailure: true });
          expect(syntax.code, syntax.report).toBe(0);
        }
        const vrrp = path.join(out, 'lb1-vrrp');
        mkdirSync(vrrp, { recursive: true });
        const stateFile = path.join(vrrp, 'state');
        const reset = (metadataActive: string, refuse = 0) => Object.assign(state, { metadataActive, posts: [], polls: 0, refuse });

        // keepalived made this node MASTER: one assign, polled until completed, then the metadata service agrees.
        reset('false');
        const moved = await runTool(notify, ['INSTANCE', 'reserved_ip', 'MASTER', '150'], { allowFailure: true });
        expect(moved.code, moved.report).toBe(0);
        expect(readFileSync(stateFile, 'utf8')).toBe('MASTER\n');
        expect(state.posts).toHaveLength(1);
        expect(state.posts[0]!.url).toBe('/v2/reserved_ips/203.0.113.20/actions');
        expect(state.posts[0]!.auth).toBe(`Bearer ${V.token}`);
        expect(JSON.parse(state.posts[0]!.body)).toEqual({ type: 'assign', droplet_id: 4242 });
        expect(state.polls).toBe(2);
        expect(state.metadataActive).toBe('true');

        // Another action in progress: DigitalOcean's 422 "pending event", asked again.
        reset('false', 1);
        const retried = await runTool('sh', [script], { allowFailure: true });
        expect(retried.code, retried.report).toBe(0);
        expect(state.posts).toHaveLength(2);
        expect(state.metadataActive).toBe('true');

        // Already here: nothing asked.
        reset('true');
        expect((await runTool('sh', [script], { allowFailure: true })).code).toBe(0);
        expect(state.posts).toHaveLength(0);

        // The reconciliation timer: nothing on a BACKUP, whatever the metadata says; an assign on the MASTER when the address is elsewhere.
        await runTool(notify, ['INSTANCE', 'reserved_ip', 'BACKUP', '150']);
        expect(readFileSync(stateFile, 'utf8')).toBe('BACKUP\n');
        reset('false');
        expect((await runTool('sh', [script, '--if-master'], { allowFailure: true })).code).toBe(0);
        expect(state.posts).toHaveLength(0);
        // keepalived's own run stops as soon as the node is no longer MASTER.
        expect((await runTool('sh', [script], { allowFailure: true })).code).toBe(0);
        expect(state.posts).toHaveLength(0);
        writeFileSync(stateFile, 'MASTER\n');
        const reconciled = await runTool('sh', [script, '--if-master'], { allowFailure: true });
        expect(reconciled.code, reconciled.report).toBe(0);
        expect(state.posts).toHaveLength(1);
        expect(state.metadataActive).toBe('true');

        // A clean stop of the holder: HAProxy serves until the metadata service says the peer has the address.
        const handover = path.join(out, 'lb1', 'haproxy-handover');
        chmodSync(handover, 0o755);
        reset('true');
        const t0 = Date.now();
        const moving = setTimeout(() => (state.metadataActive = 'false'), 2500);
        const waited = await runTool('sh', [handover], { allowFailure: true });
        clearTimeout(moving);
        expect(waited.code, waited.report).toBe(0);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
        expect(Date.now() - t0).toBeLessThan(8000);
        // Not the holder: no wait at all.
        const t1 = Date.now();
        expect((await runTool('sh', [handover], { allowFailure: true })).code).toBe(0);
        expect(Date.now() - t1).toBeLessThan(1500);

        const unit = file('lb1', 'reserved-ip-check.service');
        expect(unit).toMatch(/^User=keepalived_script$/m);
        expect(unit).toMatch(new RegExp(`^ExecStart=${script.replace(/[.]/g, '\\.')} --if-master$`, 'm'));
        expect(file('lb1', 'reserved-ip-check.timer')).toMatch(/^OnUnitActiveSec=10s$/m);
      },
      budget({ other: 4 }),
    );

    it('the Galera health check: its login in JSON, verbatim; the unit runs the one long-lived check with that file', () => {
      expect(JSON.parse(file('db1', 'galera-health.json'))).toEqual({
        // The private address only, like MariaDB.
        bind: '10.10.0.11',
        port: 9200,
        socket: '/run/mysqld/mysqld.sock',
        user: 'clustercheck',
        password: V.checkPass,
      });
      const unit = file('db1', 'galera-health.service');
      expect(unit).toMatch(/^ExecStart=\/usr\/bin\/python3 \/usr\/local\/lib\/ha-wordpress\/galera-health \/etc\/mysql\/galera-health\.json$/m);
      expect(unit).toMatch(/^User=galera-health$/m);
      expect(unit).toMatch(/^Restart=always$/m);
      // It binds the private address: after the network is up, and never given up on.
      expect(unit).toMatch(/^After=mariadb\.service network-online\.target$/m);
      expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
      expect(unit).not.toContain(V.checkPass);
    });

    it('nftables.conf: SSH from ssh_allow, tier ports from the right sources only, rules outside comments', () => {
      const rules = (host: string) =>
        file(host, 'nftables.conf')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => /^(ip|ip6|tcp|udp|meta) /.test(l));
      for (const h of Object.keys(HOSTS)) {
        expect(rules(h)).toContain('ip saddr { 203.0.113.7/32 } tcp dport 22 accept');
        expect(rules(h)).toContain('ip6 saddr { 2001:db8::/32 } tcp dport 22 accept');
      }
      const cluster = '10.10.0.11, 10.10.0.12, 10.10.0.13, 10.10.0.21, 10.10.0.22';
      expect(rules('db1')).toContain(`ip saddr { ${cluster} } tcp dport { 3306, 4444, 4567, 4568, 9200 } accept`);
      expect(rules('db1')).toContain(`ip saddr { ${cluster} } udp dport { 4567 } accept`);
      expect(rules('db1').some((r) => / 80 /.test(r) || /dport 8404/.test(r))).toBe(false);
      // The reserved IP arrives from the web nodes' public addresses; their VPC addresses are there for HAProxy's own address.
      expect(rules('lb1')).toContain('ip saddr { 10.10.0.31, 10.10.0.32, 198.51.100.31, 198.51.100.32 } tcp dport 3306 accept');
      // Galera's ports from the VPC only: no rule on a database node names a public address.
      expect(rules('db1').filter((r) => /198\.51\.100\./.test(r))).toEqual([]);
      expect(rules('lb1')).toContain('ip saddr { 10.10.0.22 } ip protocol 112 accept');
      expect(rules('lb2')).toContain('ip saddr { 10.10.0.21 } ip protocol 112 accept');
      // HAProxy peers (the shared writer table): only from the other HAProxy node.
      expect(rules('lb1')).toContain('ip saddr { 10.10.0.22 } tcp dport 10000 accept');
      expect(rules('lb2')).toContain('ip saddr { 10.10.0.21 } tcp dport 10000 accept');
      expect(rules('db1').some((r) => /dport 10000/.test(r))).toBe(false);
      expect(rules('lb1').some((r) => /dport 8404 accept$/.test(r) && !/198\.51/.test(r))).toBe(true);
      expect(rules('web1')).toContain('tcp dport { 80 } accept');
      expect(rules('web1').some((r) => /3306|4567/.test(r))).toBe(false);
    });

    skipWhen(whyNoNftCheck()).it(
      'nftables.conf: nft -c accepts the rules of every tier',
      () => {
        for (const h of ['db1', 'lb1', 'web1']) {
          const r = runToolSync('nft', ['-c', '-f', path.join(out, h, 'nftables.conf')], { allowFailure: true });
          expect(r.code, r.report).toBe(0);
          expect(r.stderr, r.report).toBe('');
        }
      },
      budget({ other: 3 }),
    );
  });

  it(
    'the Galera plan: bootstrap only a fresh cluster, join a running one, recover after a full stop, refuse when a node is unaccounted for',
    async () => {
      const out = tmp('hawp-plan-');
      const dir = tmp('hawp-plan-play-');
      writeFileSync(path.join(dir, 'hosts.yml'), inventory());
      const used = '5e3f1a2b-0c4d-11ef-9a3b-3b2a1c0d9e8f';
      const fresh = '00000000-0000-0000-0000-000000000000';
      const node = (uuid: string, running: boolean, primary: boolean) => ({ uuid, running, primary, seqno: 1, safe_to_bootstrap: false });
      const scenarios: Record<string, { hosts: string; states: Record<string, unknown> }> = {
        fresh: { hosts: 'db1:db2:db3', states: { db1: node(fresh, false, false), db2: node(fresh, false, false), db3: node(fresh, false, false) } },
        join: { hosts: 'db1:db2:db3', states: { db1: node(used, false, false), db2: node(used, true, true), db3: node(used, true, true) } },
        joinMissing: { hosts: 'db1:db2', states: { db1: node(used, true, true), db2: node(used, false, false) } },
        fullStop: { hosts: 'db1:db2:db3', states: { db1: node(used, false, false), db2: node(used, false, false), db3: node(fresh, false, false) } },
        lostQuorum: { hosts: 'db1:db2:db3', states: { db1: node(used, true, false), db2: node(used, true, false), db3: node(used, false, false) } },
        refuse: { hosts: 'db1:db2', states: { db1: node(used, false, false), db2: node(used, false, false) } },
      };
      const plays = Object.entries(scenarios).map(([name, s]) => ({
        name,
        hosts: s.hosts,
        gather_facts: false,
        vars_files: [path.join(ROLES, 'galera', 'vars', 'main.yml')],
        vars: { galera_nodes: ['db1', 'db2', 'db3'], states: s.states },
        tasks: [
          { name: 'state', 'ansible.builtin.set_fact': { __galera_node: '{{ states[inventory_hostname] }}' } },
          {
            name: 'plan',
            'ansible.builtin.copy': {
              content: `{{ lookup('ansible.builtin.template', '${t('galera', 'plan.json.j2')}', convert_data=False) }}`,
              dest: `${out}/${name}.json`,
              mode: '0600',
            },
            run_once: true,
          },
        ],
      }));
      writeFileSync(path.join(dir, 'plan.yml'), yaml.dump(plays));
      const r = await runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, 'plan.yml')], { env: ansibleEnv(), allowFailure: true });
      expect(r.stdout + r.stderr, r.report).not.toMatch(/FAILED|ERROR/);
      expect(r.code, r.report).toBe(0);
      const plan = (name: string) => JSON.parse(readFileSync(path.join(out, `${name}.json`), 'utf8')) as Record<string, unknown>;
      expect(plan('fresh')).toMatchObject({ mode: 'bootstrap', seed: 'db1' });
      expect(plan('join')).toMatchObject({ mode: 'join', seed: 'db2', stopped: ['db1'], running: ['db2', 'db3'] });
      expect(plan('joinMissing')).toMatchObject({ mode: 'join', seed: 'db1', missing: ['db3'] });
      expect(plan('fullStop')).toMatchObject({ mode: 'recover', used: ['db1', 'db2'] });
      expect(plan('lostQuorum')).toMatchObject({ mode: 'recover', running: ['db1', 'db2'] });
      expect(plan('refuse')).toMatchObject({ mode: 'refuse', missing: ['db3'] });
    },
    budget({ 'ansible-playbook': 1 }),
  );
  it(
    'the Galera bootstrap refuses an empty cluster for a workspace that has held data, unless told to start over',
    async () => {
      const dir = tmp('hawp-empty-');
      writeFileSync(path.join(dir, 'hosts.yml'), inventory());
      const fresh = { uuid: '00000000-0000-0000-0000-000000000000', running: false, primary: false, seqno: -1, safe_to_bootstrap: false };
      // A stand-in galera_new_cluster first on PATH: it notes that it was
      // called and fails, so the run never starts a real server.
      const bin = tmp('hawp-empty-bin-');
      const marker = path.join(dir, 'bootstrapped');
      writeFileSync(path.join(bin, 'galera_new_cluster'), `#!/bin/sh\ntouch '${marker}'\nexit 1\n`);
      chmodSync(path.join(bin, 'galera_new_cluster'), 0o755);
      const play = (extra: Record<string, unknown>) => [
        {
          name: 'bootstrap of three empty nodes',
          hosts: 'galera_cluster_node',
          gather_facts: false,
          environment: { PATH: `${bin}:${process.env.PATH}` },
          vars: { galera_nodes: ['db1', 'db2', 'db3'], ...extra },
          tasks: [
            { name: 'state', 'ansible.builtin.set_fact': { __galera_node: fresh } },
            { name: 'bootstrap', 'ansible.builtin.include_role': { name: path.join(ROLES, 'galera'), tasks_from: 'bootstrap.yml' } },
          ],
        },
      ];
      const run = async (name: string, extra: Record<string, unknown>) => {
        writeFileSync(path.join(dir, `${name}.yml`), yaml.dump(play(extra)));
        return runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, `${name}.yml`)], { env: ansibleEnv(), allowFailure: true });
      };
      const refused = await run('refused', { galera_held_data: true, galera_held_data_latest: '4f3a2b1c of 2026-11-30T12:00:00Z' });
      expect(refused.code, refused.report).not.toBe(0);
      expect(refused.stdout, refused.report).toMatch(/Refuse to bootstrap an empty cluster/);
      // The callback wraps long messages: compare with the line breaks folded.
      const said = refused.stdout.replace(/\s+/g, ' ');
      expect(said, refused.report).toMatch(/has held data: not starting an empty site/);
      // New nodes have no backup program yet to ask the repository: the workspace's own record names the backup.
      expect(said, refused.report).toMatch(/The latest backup this workspace took is 4f3a2b1c of 2026-11-30T12:00:00Z\./);
      expect(said, refused.report).toMatch(/Run `ha-wordpress up --restore latest`/);
      expect(said, refused.report).toMatch(/`ha-wordpress up --allow-empty-database`/);
      expect(existsSync(marker), refused.report).toBe(false);
      // Allowed, or for a workspace that never held data, the bootstrap goes on to galera_new_cluster.
      for (const extra of [{ galera_held_data: true, galera_allow_empty: true }, {}]) {
        rmSync(marker, { force: true });
        const started = await run('allowed', extra);
        expect(started.stdout, started.report).not.toMatch(/has held data/);
        expect(existsSync(marker), started.report).toBe(true);
      }
    },
    budget({ 'ansible-playbook': 3 }),
  );

  it(
    "site.yml's first check refuses new database nodes for a workspace that has held data before anything is installed, and only when every node is new",
    async () => {
      const dir = tmp('hawp-first-');
      writeFileSync(path.join(dir, 'hosts.yml'), inventory());
      const grastate = (uuid: string) => `# GALERA saved state\nversion: 2.1\nuuid:    ${uuid}\nseqno:   -1\nsafe_to_bootstrap: 0\n`;
      writeFileSync(
        path.join(dir, 'first.yml'),
        yaml.dump([
          {
            name: 'the first check',
            hosts: 'galera_cluster_node',
            gather_facts: false,
            vars: { galera_nodes: ['db1', 'db2', 'db3'] },
            tasks: [{ name: 'check', 'ansible.builtin.include_role': { name: path.join(ROLES, 'galera'), tasks_from: 'first-check.yml' } }],
          },
        ]),
      );
      const run = async (files: Record<string, string>, extra: Record<string, unknown> = {}) => {
        const states = tmp('hawp-first-state-');
        for (const [host, text] of Object.entries(files)) writeFileSync(path.join(states, host), text);
        // Extra vars outrank the role's own path to grastate.dat: each host reads its own file.
        const vars = {
          __galera_grastate: `${states}/{{ inventory_hostname }}`,
          galera_held_data: true,
          galera_held_data_latest: '4f3a2b1c of 2026-11-30T12:00:00Z',
          ...extra,
        };
        return runTool('ansible-playbook', ['-i', path.join(dir, 'hosts.yml'), path.join(dir, 'first.yml'), '-e', JSON.stringify(vars)], {
          env: ansibleEnv(),
          allowFailure: true,
        });
      };
      const zero = '00000000-0000-0000-0000-000000000000';
      const cases: Record<string, string>[] = [{}, { db1: grastate(zero), db2: grastate(zero) }];
      for (const files of cases) {
        const refused = await run(files);
        expect(refused.code, refused.report).not.toBe(0);
        const said = refused.stdout.replace(/\s+/g, ' ');
        expect(said, refused.report).toMatch(/has held data: not starting an empty site\./);
        expect(said, refused.report).toMatch(/The latest backup this workspace took is 4f3a2b1c of 2026-11-30T12:00:00Z\./);
        expect(said, refused.report).toMatch(/--allow-empty-database/);
      }
      // One node has been in the cluster: not new, the galera play decides (join or recover).
      const used = await run({ db2: grastate('6f1e7c52-93a0-11ee-8c6e-2b3f5d9a1c10') });
      expect(used.code, used.report).toBe(0);
      expect(used.stdout, used.report).not.toMatch(/has held data/);
      // Told to start over, or a workspace that never held data.
      for (const extra of [{ galera_allow_empty: true }, { galera_held_data: false }]) {
        const allowed = await run({}, extra);
        expect(allowed.code, allowed.report).toBe(0);
      }
    },
    budget({ 'ansible-playbook': 5 }),
  );
});
