/**
 * The wordpress role's WP Offload Media Lite install, run for real by
 * ansible-playbook on this machine (connection local) against a loopback
 * stand-in for downloads.wordpress.org: the plugin is unpacked only from an
 * archive with the pinned SHA-256, an empty pin stops the role before
 * anything is fetched, and a new pin replaces the old version whole.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budget, missing, runTool, runToolSync, skipWhen, type ToolResult } from './support/tools.js';

const ROOT = path.resolve(__dirname, '..');
const ANSIBLE_DIR = path.join(ROOT, 'ansible');
const ROLE = path.join(ANSIBLE_DIR, 'roles', 'wordpress');
const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

// The role unpacks as root (owner: root), as it does on a droplet.
const why = process.getuid?.() !== 0 ? 'the role unpacks the plugin as root; run as root' : missing('ansible-playbook', 'unzip', 'zipinfo', 'python3');

/** A plugin archive as wordpress.org serves one: a single amazon-s3-and-cloudfront/ directory. */
function pluginZip(dir: string, version: string, files: Record<string, string>): Buffer {
  const src = tmp('hawp-zip-');
  const plugin = path.join(src, 'amazon-s3-and-cloudfront');
  mkdirSync(plugin);
  writeFileSync(path.join(plugin, 'wordpress-s3.php'), `<?php\n/*\nPlugin Name: WP Offload Media Lite\nVersion: ${version}\n*/\n`);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(plugin, name), text);
  const zip = path.join(dir, `plugin-${version}.zip`);
  runToolSync('python3', ['-m', 'zipfile', '-c', zip, 'amazon-s3-and-cloudfront'], { cwd: src });
  return readFileSync(zip);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

skipWhen(why).describe('wordpress role: WP Offload Media Lite is pinned and checked', () => {
  const work = tmp('hawp-offload-');
  const content = path.join(work, 'wp-content');
  const plugin = path.join(content, 'plugins', 'amazon-s3-and-cloudfront');
  const archives: Record<string, Buffer> = {};
  const fetched: string[] = [];
  let server: http.Server;
  let base = '';

  beforeAll(async () => {
    mkdirSync(path.join(content, 'plugins'), { recursive: true });
    archives['3.2.11'] = pluginZip(work, '3.2.11', { 'classes.php': '<?php // 3.2.11\n', 'dropped-later.php': '<?php\n' });
    archives['3.2.12'] = pluginZip(work, '3.2.12', { 'classes.php': '<?php // 3.2.12\n' });
    server = http.createServer((req, res) => {
      fetched.push(req.url ?? '');
      const m = /^\/plugin\/amazon-s3-and-cloudfront\.([0-9.]+)\.zip$/.exec(req.url ?? '');
      const body = m ? archives[m[1]!] : undefined;
      if (!body) {
        res.statusCode = 404;
        return res.end('not found');
      }
      res.setHeader('content-type', 'application/zip');
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  /**
   * Runs the role's checks and its plugin install with the role's defaults and
   * vars, the download pointed at the stand-in and the paths into `work`.
   * Everything else the checks need is set to a plausible value.
   */
  async function run(o: { version: string; sha256: string }): Promise<ToolResult> {
    const dir = tmp('hawp-offload-play-');
    const salts = Object.fromEntries(
      ['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'].map((n) => [
        n,
        'x'.repeat(64),
      ]),
    );
    writeFileSync(
      path.join(dir, 'values.yml'),
      yaml.dump({
        wordpress_db_password: 'a-db-password',
        wordpress_admin_password: 'an-admin-password',
        wordpress_admin_user: 'admin',
        wordpress_admin_email: 'admin@example.com',
        wordpress_site_title: 'Shop',
        wordpress_salts: salts,
        wordpress_db_host: '10.0.0.20',
        wordpress_site_host: 'shop.example.com',
        wordpress_media_offload: true,
        wordpress_spaces_bucket: 'media',
        wordpress_spaces_region: 'fra1',
        wordpress_spaces_access_key: 'DO00EXAMPLE',
        wordpress_spaces_secret_key: 'secret',
        wordpress_offload_plugin_version: o.version,
        wordpress_offload_plugin_sha256: o.sha256,
        wordpress_offload_plugin_url: `${base}/plugin/amazon-s3-and-cloudfront.{{ wordpress_offload_plugin_version }}.zip`,
        __wordpress_content_dir: content,
        __wordpress_offload_zip: path.join(work, 'cache', 'amazon-s3-and-cloudfront.{{ wordpress_offload_plugin_version }}.zip'),
      }),
    );
    const play = {
      name: 'offload',
      hosts: 'localhost',
      connection: 'local',
      gather_facts: false,
      vars: { ansible_python_interpreter: '{{ ansible_playbook_python }}' },
      vars_files: [path.join(ROLE, 'defaults', 'main.yml'), path.join(ROLE, 'vars', 'main.yml'), path.join(dir, 'values.yml')],
      tasks: [
        { name: 'checks', 'ansible.builtin.import_tasks': path.join(ROLE, 'tasks', 'checks.yml') },
        { name: 'plugin', 'ansible.builtin.import_tasks': path.join(ROLE, 'tasks', 'offload-plugin.yml') },
      ],
    };
    writeFileSync(path.join(dir, 'play.yml'), yaml.dump([play]));
    return runTool('ansible-playbook', ['-i', 'localhost,', path.join(dir, 'play.yml')], {
      env: { ...process.env, ANSIBLE_CONFIG: path.join(ANSIBLE_DIR, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: '0' },
      allowFailure: true,
    });
  }

  const recap = (r: ToolResult) => /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(r.stdout);

  it(
    'an empty checksum stops the role before anything is fetched, saying what to set and where',
    async () => {
      const r = await run({ version: '3.2.11', sha256: '' });
      expect(r.code, r.report).not.toBe(0);
      // Ansible's yaml output folds long messages.
      const said = r.stdout.replace(/\s+/g, ' ');
      expect(said).toMatch(/wordpress_offload_plugin_sha256 is not a SHA-256 \(64 hex digits\)/);
      expect(said).toMatch(/put `wordpress_offload_plugin_sha256: <the digits>` in ansible\/group_vars\/wp_node\/offload\.yml/);
      expect(fetched).toEqual([]);
      expect(existsSync(plugin)).toBe(false);
    },
    budget({ 'ansible-playbook': 1 }),
  );

  it(
    'an archive that does not match the pinned checksum is not unpacked',
    async () => {
      const r = await run({ version: '3.2.11', sha256: sha256(Buffer.from('some other archive')) });
      expect(r.code, r.report).not.toBe(0);
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/The checksum for \S+amazon-s3-and-cloudfront\.3\.2\.11\.zip did not match/);
      expect(fetched).toEqual(['/plugin/amazon-s3-and-cloudfront.3.2.11.zip']);
      expect(existsSync(plugin)).toBe(false);
      expect(existsSync(path.join(work, 'cache', 'amazon-s3-and-cloudfront.3.2.11.zip'))).toBe(false);
    },
    budget({ 'ansible-playbook': 1 }),
  );

  it(
    'the matching archive is unpacked once: a second run fetches and changes nothing',
    async () => {
      fetched.length = 0;
      const pin = { version: '3.2.11', sha256: sha256(archives['3.2.11']!).toUpperCase() };
      const first = await run(pin);
      expect(first.code, first.report).toBe(0);
      expect(readFileSync(path.join(plugin, 'wordpress-s3.php'), 'utf8')).toContain('Version: 3.2.11');
      expect(existsSync(path.join(plugin, 'dropped-later.php'))).toBe(true);
      const again = await run(pin);
      expect(again.code, again.report).toBe(0);
      expect(recap(again)?.[2], again.report).toBe('0');
      expect(fetched).toEqual(['/plugin/amazon-s3-and-cloudfront.3.2.11.zip']);
    },
    budget({ 'ansible-playbook': 2 }),
  );

  it(
    'a new pin replaces the plugin whole: the files the new version dropped are gone',
    async () => {
      const r = await run({ version: '3.2.12', sha256: sha256(archives['3.2.12']!) });
      expect(r.code, r.report).toBe(0);
      expect(readFileSync(path.join(plugin, 'wordpress-s3.php'), 'utf8')).toContain('Version: 3.2.12');
      expect(readFileSync(path.join(plugin, 'classes.php'), 'utf8')).toContain('3.2.12');
      expect(existsSync(path.join(plugin, 'dropped-later.php'))).toBe(false);
    },
    budget({ 'ansible-playbook': 1 }),
  );
});

describe('wordpress role defaults', () => {
  it('download a pinned version of WP Offload Media Lite, never the moving latest', () => {
    const d = yaml.load(readFileSync(path.join(ROLE, 'defaults', 'main.yml'), 'utf8')) as Record<string, string>;
    expect(d.wordpress_offload_plugin_version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(d.wordpress_offload_plugin_url).toBe('https://downloads.wordpress.org/plugin/amazon-s3-and-cloudfront.{{ wordpress_offload_plugin_version }}.zip');
    expect(d).toHaveProperty('wordpress_offload_plugin_sha256');
  });
});
