/**
 * Every plain (non-secret) setting × a corpus of hostile values: each value
 * is either refused by init's own check with the flag named, or reaches
 * Ansible and Terraform as exactly the string the user typed — read back
 * through real ansible-playbook (the roles' own defaults and vars, as the
 * roles see them) and real `terraform console` (variables.tf's types and
 * validation). "Accepted and broken" must be zero.
 *
 * Files are rendered by init's planFiles, the same code `init` writes with.
 * Each corpus value is one inventory host whose variables are that case's
 * rendered group_vars; the readback role prints, per host, what the roles'
 * variables hold.
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFiles } from '../src/init/files.js';
import { newDbTls } from '../src/secrets/db-tls.js';
import { buildSecrets } from '../src/secrets/catalog.js';
import { precheck } from '../src/settings/resolve.js';
import { isStored } from '../src/settings/stored.js';
import { appliesTo, SETTINGS, type SettingKey, type Values } from '../src/settings/table.js';
import { newKeyPair, readKey } from '../src/ssh/keys.js';
import { splitList } from '../src/validation/rules.js';
import { retentionMap } from '../src/backup/retention.js';
import { ROOT, tempDir } from './support/cli.js';
import { budget, needs, runTool, runToolSync, TF_ENV, terraformEval } from './support/tools.js';

const CORPUS: string[] = [
  '{{ vault_wp_db_pass }}',
  '{{vault_wp_db_pass}}@example.com',
  '{{7*7}}',
  "{{ lookup('pipe', 'id') }}",
  '{% if true %}x{% endif %}',
  '{# comment #}',
  'True',
  'False',
  'true',
  'yes',
  'no',
  'null',
  '~',
  'None',
  '[1, 2]',
  '{"a": 1}',
  '{a: 1}',
  '0x1F',
  '1e3',
  '007',
  '3',
  '- item',
  'key: value',
  '#hash',
  '&anchor',
  '*alias',
  '!tag value',
  '%TAG',
  '@at',
  '`backtick`',
  "it's",
  '"double"',
  'back\\slash',
  '$HOME',
  '${x}',
  '%{x}',
  '$(id)',
  '; rm -rf x',
  '<script>alert(1)</script>',
  "'; DROP TABLE wp_users; --",
  ' leading and trailing ',
  'tab\there',
  'new\nline',
  'nel\u0085x',
  'ls\u2028ps\u2029',
  'bom\ufeffx',
  'bidi\u202eevil',
  'Café 漢字 🚀',
  'a'.repeat(300),
  '',
  'shop.example.com',
  'owner@example.com',
  'https://api.digitalocean.com',
  'http://127.0.0.1:8080',
  'https://evil.example/{{x}}',
  'https://api.digitalocean.com/v2 x',
  '203.0.113.7/32, 2001:db8::/32',
  '0.0.0.0/0',
  'fra1',
  'shop-media',
  'DO00ABCDEFGHIJKLMNOP',
  's-2vcpu-4gb',
  'debian-12-x64',
  'deploy',
];

/** A valid value for every plain setting: what a case holds where its corpus value was refused. */
const BASE: Values = {
  target: 'digitalocean',
  apiUrl: 'https://api.digitalocean.com',
  project: 'shop',
  region: 'fra1',
  domain: 'shop.example.com',
  sshAllow: '203.0.113.7/32',
  adminUser: 'deploy',
  webNodes: '3',
  dbNodes: '3',
  webSize: 's-1vcpu-2gb',
  dbSize: 's-2vcpu-4gb',
  lbSize: 's-1vcpu-1gb',
  image: 'debian-12-x64',
  tls: 'auto',
  hsts: 'true',
  siteTitle: 'Shop',
  allowXmlrpc: 'false',
  wpAdminUser: 'shopkeeper',
  wpAdminEmail: 'owner@example.com',
  haproxyStatsUser: 'haproxy-stats',
  spacesBucket: 'shop-media',
  spacesRegion: 'fra1',
  mediaCdn: 'false',
  smtpHost: 'smtp.example.com',
  smtpPort: '587',
  smtpUser: 'apikey',
  backupSchedule: 'hourly',
  backupRetention: 'hourly=24,daily=7,weekly=4,monthly=6',
  backupRegion: 'ams3',
  backupBucket: 'shop-backups-a1b2c3',
};

type Read = (v: string) => unknown;
const asString: Read = (v) => v;
/**
 * Where each setting arrives, and what it must read as there. Ansible:
 * [variable] or [variable, field of its JSON]; Terraform: variables.tf names.
 */
const CONSUMERS: Partial<Record<SettingKey, { ansible?: [string, string?][]; terraform?: string[]; read?: Read }>> = {
  apiUrl: { ansible: [['haproxy_do_api_url']] },
  project: { ansible: [['galera_cluster_name']], terraform: ['project'] },
  region: { terraform: ['region'] },
  domain: { ansible: [['site_domain'], ['wordpress_site_host']], terraform: ['domain'] },
  sshAllow: { ansible: [['__common_ssh_allow']], terraform: ['ssh_allow'], read: splitList },
  adminUser: { ansible: [['ansible_user'], ['common_admin_user']], terraform: ['admin_user'] },
  webNodes: { terraform: ['web_count'], read: Number },
  dbNodes: { terraform: ['db_count'], read: Number },
  webSize: { terraform: ['web_size'] },
  dbSize: { terraform: ['db_size'] },
  lbSize: { terraform: ['lb_size'] },
  image: { terraform: ['image'] },
  // init turns --tls into one of three fixed words (src/init/https.ts) before anything is written; test/init.e2e.test.ts reads them back.
  tls: {},
  hsts: { ansible: [['site_hsts']], read: (v) => v === 'true' },
  siteTitle: { ansible: [['wordpress_site_title'], ['__wordpress_install_input', 'title']] },
  allowXmlrpc: { ansible: [['wordpress_allow_xmlrpc']], read: (v) => v === 'true' },
  wpAdminUser: { ansible: [['wordpress_admin_user'], ['__wordpress_install_input', 'user']] },
  wpAdminEmail: { ansible: [['wordpress_admin_email'], ['__wordpress_install_input', 'email']] },
  haproxyStatsUser: { ansible: [['haproxy_stats_user']] },
  // The buckets' own root (terraform/backup) is read back by test/terraform-backup.test.ts and test/init.e2e.test.ts.
  spacesBucket: { ansible: [['wordpress_media_bucket']] },
  spacesRegion: { ansible: [['wordpress_media_region']] },
  // A switch between two URLs of the bucket; test/init.e2e.test.ts reads the URL back.
  mediaCdn: {},
  smtpHost: { ansible: [['wordpress_smtp_host']] },
  smtpPort: { ansible: [['wordpress_smtp_port']], read: Number },
  smtpUser: { ansible: [['wordpress_smtp_user']] },
  // The backup bucket's own root (terraform/backup) is read back by test/terraform-backup.test.ts.
  backupSchedule: { ansible: [['backup_schedule']] },
  backupRetention: { ansible: [['backup_retention']], read: retentionMap },
  backupRegion: { ansible: [['backup_s3_region']] },
  backupBucket: { ansible: [['backup_bucket']] },
};

/** Plain settings that reach the workspace's files (the target is a choice of two, tested elsewhere). */
const PLAIN = SETTINGS.filter((s) => appliesTo(s, 'digitalocean') && isStored(s) && s.kind !== 'path' && s.key !== 'target');
const ALL_PRESENT = new Set(SETTINGS.map((s) => s.key));

interface Case {
  host: string;
  values: Values;
  /** The settings that hold this case's corpus value. */
  taken: SettingKey[];
  corpus: string;
}

let root: string;
const refused: string[] = [];
const cases: Case[] = [];

beforeAll(() => {
  root = tempDir('hawp-hostile-');
  CORPUS.forEach((value, i) => {
    const values: Values = { ...BASE };
    const taken: SettingKey[] = [];
    for (const s of PLAIN) {
      // What init does with a flag: the setting's own check, the line it prints.
      const problems = precheck('digitalocean', { [s.key]: value }, {}, {}, ALL_PRESENT);
      if (problems.length > 0) refused.push(...problems);
      else {
        values[s.key] = value;
        taken.push(s.key);
      }
    }
    cases.push({ host: `case_${i}`, values, taken, corpus: value });
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('plain settings under hostile values', () => {
  it('every plain setting that reaches a file says where it arrives (add new settings to CONSUMERS)', () => {
    expect(PLAIN.map((s) => s.key).filter((k) => !CONSUMERS[k])).toEqual([]);
  });

  it('every refusal is one line naming the flag', () => {
    expect(refused.length).toBeGreaterThan(CORPUS.length);
    for (const line of refused) {
      expect(line).toMatch(/^--[a-z-]+: \S/);
      expect(line).not.toContain('\n');
    }
  });

  needs('ansible-playbook', 'terraform').it(
    'every accepted value reads back through real Ansible and real terraform console as exactly the string typed',
    async () => {
      const pair = await newKeyPair('me@laptop');
      writeFileSync(path.join(root, 'id_ed25519'), pair.private, { mode: 0o600 });
      const key = await readKey(path.join(root, 'id_ed25519'));

      // --- render each case with init's own code ---
      const inv: Record<string, Record<string, unknown>> = {};
      const tfCases: Case[] = [];
      const dbTls = { material: await newDbTls('shop'), state: 'new' as const };
      for (const c of cases) {
        const secrets = buildSecrets({
          dbTls,
          target: 'digitalocean',
          given: c.values,
          haproxyStatsUser: c.values.haproxyStatsUser!,
          rotate: new Set(),
          apiToken: 'dop_v1_' + 'a'.repeat(64),
          failoverFollowsApiToken: true,
        });
        const files = await planFiles({
          target: 'digitalocean',
          values: c.values,
          key,
          vaults: secrets.vaults,
          token: 'dop_v1_' + 'a'.repeat(64),
          failoverFollows: true,
        });
        const hv = path.join(root, 'ansible', 'host_vars', c.host);
        mkdirSync(hv, { recursive: true });
        for (const f of files.filter((x) => x.rel.startsWith('ansible/group_vars/')))
          writeFileSync(path.join(hv, f.rel.split('/').slice(2).join('_')), f.content);
        inv[c.host] = {};
        if (c.taken.some((k) => CONSUMERS[k]?.terraform)) {
          writeFileSync(path.join(root, `${c.host}.tfvars`), files.find((f) => f.rel === 'terraform/terraform.tfvars')!.content);
          tfCases.push(c);
        }
      }

      // --- Ansible: the roles' defaults and vars, read as the roles read them ---
      const ansibleNames = [...new Set(Object.values(CONSUMERS).flatMap((c) => (c.ansible ?? []).map(([v]) => v)))];
      const roles = path.join(root, 'ansible', 'roles');
      for (const role of ['common', 'galera', 'haproxy', 'wordpress', 'backup']) {
        mkdirSync(path.join(roles, `readback_${role}`), { recursive: true });
        for (const d of ['defaults', 'vars']) symlinkSync(path.join(ROOT, 'ansible', 'roles', role, d), path.join(roles, `readback_${role}`, d));
      }
      mkdirSync(path.join(roles, 'readback', 'tasks'), { recursive: true });
      // set_fact runs on the controller (no module per host); base64 keeps the
      // values out of any later templating; one copy writes every host's.
      const names = JSON.stringify(ansibleNames);
      writeFileSync(
        path.join(roles, 'readback', 'tasks', 'main.yml'),
        yaml.dump([
          {
            name: 'what the roles read',
            'ansible.builtin.set_fact': {
              readback: `{{ dict(${names} | zip(lookup('ansible.builtin.vars', *${names}, wantlist=True))) | to_json | b64encode }}`,
            },
          },
          {
            name: 'write it down',
            run_once: true,
            'ansible.builtin.copy': {
              dest: `${root}/out/readback.json`,
              content: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'readback'))) | to_json }}",
              mode: '0600',
            },
          },
        ]),
      );
      mkdirSync(path.join(root, 'out'));
      const hosts = Object.fromEntries(Object.keys(inv).map((h) => [h, {}]));
      writeFileSync(
        path.join(root, 'ansible', 'hosts.yml'),
        yaml.dump({
          all: {
            vars: {
              ansible_connection: 'local',
              ansible_python_interpreter: '{{ ansible_playbook_python }}',
              load_balancer_ip: '203.0.113.10',
              db_reserved_ip: '203.0.113.20',
            },
            children: { wp_node: { hosts }, galera_cluster_node: { hosts }, galera_loadbalancer: { hosts } },
          },
        }),
      );
      writeFileSync(
        path.join(root, 'ansible', 'readback.yml'),
        yaml.dump([{ hosts: 'all', gather_facts: false, roles: ['readback_common', 'readback_galera', 'readback_haproxy', 'readback_wordpress', 'readback'] }]),
      );
      writeFileSync(path.join(root, 'ansible', 'ansible.cfg'), '[defaults]\nretry_files_enabled = false\n');
      await runTool('ansible-playbook', ['-i', 'hosts.yml', 'readback.yml', '--forks', '20'], {
        cwd: path.join(root, 'ansible'),
        env: {
          ...process.env,
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_ROLES_PATH: roles,
          ANSIBLE_CONFIG: path.join(root, 'ansible', 'ansible.cfg'),
          ANSIBLE_LOCALHOST_WARNING: 'false',
        },
      });

      // --- Terraform: variables.tf's types and validation, through console ---
      const tfDir = path.join(root, 'terraform');
      mkdirSync(tfDir);
      copyFileSync(path.join(ROOT, 'terraform', 'variables.tf'), path.join(tfDir, 'variables.tf'));
      runToolSync('terraform', ['init', '-input=false', '-backend=false', '-no-color'], { cwd: tfDir, env: TF_ENV });
      const tfNames = [...new Set(Object.values(CONSUMERS).flatMap((c) => c.terraform ?? []))];
      const tfRead = new Map<string, Record<string, unknown> | string>();
      for (const c of tfCases) {
        const r = terraformEval(tfDir, `{ ${tfNames.map((n) => `${n} = var.${n}`).join(', ')} }`, [`-var-file=${path.join(root, `${c.host}.tfvars`)}`]);
        tfRead.set(c.host, r.ok ? (r.value as Record<string, unknown>) : r.report);
      }

      // --- compare, and count as the review did ---
      const broken: string[] = [];
      let roundTripped = 0;
      const readback = JSON.parse(readFileSync(path.join(root, 'out', 'readback.json'), 'utf8')) as Record<string, string>;
      for (const c of cases) {
        const got = JSON.parse(Buffer.from(readback[c.host]!, 'base64').toString('utf8')) as Record<string, unknown>;
        for (const k of c.taken) {
          const want = (CONSUMERS[k]!.read ?? asString)(c.corpus);
          const problems: string[] = [];
          for (const [name, field] of CONSUMERS[k]!.ansible ?? []) {
            const raw = got[name];
            let value: unknown = raw;
            if (field !== undefined) value = typeof raw === 'string' ? (JSON.parse(raw) as Record<string, unknown>)[field] : `not JSON: ${JSON.stringify(raw)}`;
            // The domain is the site's host only when there is one.
            if (name === 'wordpress_site_host' && c.corpus === '') continue;
            if (JSON.stringify(value) !== JSON.stringify(want)) problems.push(`ansible ${name}${field ? `.${field}` : ''} = ${JSON.stringify(value)}`);
          }
          for (const name of CONSUMERS[k]!.terraform ?? []) {
            const tf = tfRead.get(c.host);
            if (typeof tf === 'string' || tf === undefined) problems.push(`terraform refused the tfvars: ${String(tf).slice(0, 400)}`);
            else if (JSON.stringify(tf[name]) !== JSON.stringify(want)) problems.push(`terraform var.${name} = ${JSON.stringify(tf[name])}`);
          }
          if (problems.length) broken.push(`--${SETTINGS.find((s) => s.key === k)!.flag} ${JSON.stringify(c.corpus)}: ${problems.join('; ')}`);
          else roundTripped++;
        }
      }
      const tried = CORPUS.length * PLAIN.length;
      // The note's figures; the assertion below is what must hold.
      console.log(
        `hostile settings: ${tried} inputs (${PLAIN.length} settings × ${CORPUS.length} values): ${refused.length} refused naming the flag, ` +
          `${roundTripped} accepted and read back exactly, ${broken.length} accepted and broken`,
      );
      expect(refused.length + roundTripped + broken.length).toBe(tried);
      expect(broken).toEqual([]);
    },
    budget({ 'ansible-playbook': 1, terraform: 4 }),
  );
});
