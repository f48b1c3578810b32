/**
 * hawp_files, the playbook's own action (ansible/action_plugins/hawp_files.py)
 * and module (ansible/library/hawp_files.py) that write a group of files in
 * one module run: run by the real ansible-playbook on localhost into a
 * scratch directory. It must render a template byte for byte as
 * ansible.builtin.template does, change nothing the second time, leave a
 * file that fails its check as it was, and change nothing in check mode.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { budget, missing, runTool, skipWhen } from './support/tools.js';

const ROOT = path.resolve(__dirname, '..');
const ANSIBLE_DIR = path.join(ROOT, 'ansible');
const when = skipWhen(process.getuid?.() !== 0 ? 'not root: it sets owners' : missing('ansible-playbook'));

// trim_blocks matters (the newline after a block tag goes), a filter, a loop,
// a variable holding quotes and backslashes, and no newline at the end.
const TEMPLATE = `# {{ title }}
{% for n in numbers %}
line {{ n }}: {{ (n * 2) | string }}
{% endfor %}
secret = '{{ secret }}'
{% if flag %}flag on{% endif %}`;

function workspace() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-files-'));
  const role = path.join(dir, 'roles', 't');
  for (const sub of ['tasks', 'templates', 'files']) mkdirSync(path.join(role, sub), { recursive: true });
  writeFileSync(path.join(role, 'templates', 'thing.conf.j2'), TEMPLATE);
  writeFileSync(path.join(role, 'files', 'plain.txt'), 'as it is {{ not templated }}\n');
  const out = path.join(dir, 'out');
  mkdirSync(out);
  writeFileSync(path.join(out, 'old.conf'), 'to be removed\n');
  writeFileSync(path.join(out, 'existing.txt'), 'kept\n', { mode: 0o600 });
  const tasks = [
    {
      name: 'Write the group',
      hawp_files: {
        files: [
          { directory: `${out}/sub/deeper`, owner: 'root', group: 'root', mode: '0750' },
          { template: 'thing.conf.j2', dest: `${out}/sub/thing.conf`, mode: '0640' },
          { src: 'plain.txt', dest: `${out}/plain.txt`, mode: '0644' },
          { content: 'port = {{ listen_port }}\n', dest: `${out}/inline.conf`, mode: '0600' },
          { template: 'thing.conf.j2', dest: `${out}/never.conf`, mode: '0644', when: '{{ flag and false }}' },
          { link: `${out}/sub/thing.conf`, dest: `${out}/thing-link.conf` },
          { absent: `${out}/old.conf` },
          { attributes: `${out}/existing.txt`, mode: '0644' },
        ],
      },
      register: 'written',
    },
    { name: 'Report', 'ansible.builtin.debug': { msg: 'CHANGED={{ written.changed }} PATHS={{ written.changed_paths | join(",") }};' } },
    // The same template through Ansible's own action, to compare bytes.
    { name: 'Render with the template action', 'ansible.builtin.template': { src: 'thing.conf.j2', dest: `${out}/builtin.conf`, mode: '0640' } },
    {
      name: 'Check it',
      when: 'check_validate | default(false)',
      hawp_files: { files: [{ content: 'new\n', dest: `${out}/inline.conf`, mode: '0600', validate: '/bin/sh -c "grep -q never %s"' }] },
    },
  ];
  writeFileSync(path.join(role, 'tasks', 'main.yml'), yaml.dump(tasks));
  writeFileSync(path.join(dir, 'play.yml'), yaml.dump([{ name: 'hawp_files', hosts: 'localhost', gather_facts: false, roles: ['t'] }]));
  writeFileSync(
    path.join(dir, 'vars.yml'),
    yaml.dump({ title: 'A title', numbers: [1, 2, 3], secret: `it's a "quote" and \\ a backslash`, flag: true, listen_port: 3306 }),
  );
  return { dir, out };
}

async function play(dir: string, ...extra: string[]) {
  return runTool(
    'ansible-playbook',
    ['-i', 'localhost,', '-c', 'local', '-e', '@vars.yml', '-e', 'ansible_python_interpreter=/usr/bin/python3', ...extra, 'play.yml'],
    {
      cwd: dir,
      env: { ...process.env, ANSIBLE_CONFIG: path.join(ANSIBLE_DIR, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_ROLES_PATH: path.join(dir, 'roles') },
      allowFailure: true,
    },
  );
}

const pathsIn = (stdout: string) => /PATHS=([^;]*);/.exec(stdout)![1]!.split(',');
const recapChanged = (stdout: string) => Number(/localhost\s*:.*changed=(\d+)/.exec(stdout)?.[1]);
const modeOf = (p: string) => (statSync(p).mode & 0o7777).toString(8);

describe('hawp_files: a group of files in one module run', () => {
  when.describe('on localhost, as root (it sets owners)', () => {
    it(
      'writes every kind of entry, the template byte for byte as ansible.builtin.template renders it; a second run changes nothing',
      async () => {
        const { dir, out } = workspace();
        const first = await play(dir);
        expect(first.code, first.report).toBe(0);
        expect(first.stdout).toContain('CHANGED=True');
        expect(pathsIn(first.stdout)).toEqual([
          `${out}/sub/deeper`,
          `${out}/sub/thing.conf`,
          `${out}/plain.txt`,
          `${out}/inline.conf`,
          `${out}/thing-link.conf`,
          `${out}/old.conf`,
          `${out}/existing.txt`,
        ]);
        expect(readFileSync(`${out}/sub/thing.conf`)).toEqual(readFileSync(`${out}/builtin.conf`));
        expect(readFileSync(`${out}/sub/thing.conf`, 'utf8')).toBe(
          `# A title\nline 1: 2\nline 2: 4\nline 3: 6\nsecret = 'it's a "quote" and \\ a backslash'\nflag on`,
        );
        expect(readFileSync(`${out}/plain.txt`, 'utf8')).toBe('as it is {{ not templated }}\n');
        expect(readFileSync(`${out}/inline.conf`, 'utf8')).toBe('port = 3306\n');
        expect(existsSync(`${out}/never.conf`)).toBe(false);
        expect(readlinkSync(`${out}/thing-link.conf`)).toBe(`${out}/sub/thing.conf`);
        expect(existsSync(`${out}/old.conf`)).toBe(false);
        expect(readFileSync(`${out}/existing.txt`, 'utf8')).toBe('kept\n');
        expect([modeOf(`${out}/sub/deeper`), modeOf(`${out}/sub/thing.conf`), modeOf(`${out}/inline.conf`), modeOf(`${out}/existing.txt`)]).toEqual([
          '750',
          '640',
          '600',
          '644',
        ]);
        expect(lstatSync(`${out}/sub/deeper`).isDirectory()).toBe(true);
        // No temporary file left beside any destination.
        expect([...readdirSync(out), ...readdirSync(`${out}/sub`)].filter((n) => n.startsWith('.hawp-'))).toEqual([]);

        const second = await play(dir);
        expect(second.code, second.report).toBe(0);
        expect(second.stdout).toContain('CHANGED=False');
        expect(recapChanged(second.stdout), second.report).toBe(0);
      },
      budget({ 'ansible-playbook': 2 }),
    );

    it(
      'a file that fails its check is left as it was (no temporary file behind); check mode reports a change and makes none',
      async () => {
        const { dir, out } = workspace();
        expect((await play(dir)).code).toBe(0);
        const failed = await play(dir, '-e', 'check_validate=true');
        expect(failed.code, failed.report).not.toBe(0);
        expect(failed.stdout + failed.stderr).toMatch(/inline\.conf failed its check \(\/bin\/sh\),\s+left\s+as\s+it\s+was/);
        expect(readFileSync(`${out}/inline.conf`, 'utf8')).toBe('port = 3306\n');
        expect(readdirSync(out).filter((n) => n.startsWith('.hawp-'))).toEqual([]);

        writeFileSync(`${out}/plain.txt`, 'edited by hand\n');
        const checked = await play(dir, '--check', '-e', 'listen_port=5432');
        expect(checked.code, checked.report).toBe(0);
        expect(checked.stdout).toContain('CHANGED=True');
        expect(pathsIn(checked.stdout)).toEqual([`${out}/plain.txt`, `${out}/inline.conf`]);
        expect(readFileSync(`${out}/plain.txt`, 'utf8')).toBe('edited by hand\n');
        expect(readFileSync(`${out}/inline.conf`, 'utf8')).toBe('port = 3306\n');
      },
      budget({ 'ansible-playbook': 3 }),
    );
  });
});
