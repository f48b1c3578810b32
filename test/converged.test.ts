/**
 * When `up` may leave the playbook out (src/workspace/converged.ts): the
 * configuration's fingerprint over the workspace's ansible/, and the verdict
 * from what the nodes recorded and how healthy the cluster is. The lab test
 * runs it for real (a second `up` with nothing to change).
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../src/commands/status.js';
import yaml from 'js-yaml';
import { CONVERGED_FILE, configFingerprint, whyConfigure } from '../src/workspace/converged.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workspace(): string {
  const ws = mkdtempSync(path.join(os.tmpdir(), 'hawp-converged-'));
  dirs.push(ws);
  const file = (rel: string, body: string) => {
    mkdirSync(path.dirname(path.join(ws, 'ansible', rel)), { recursive: true });
    writeFileSync(path.join(ws, 'ansible', rel), body);
  };
  file('site.yml', '- hosts: all\n');
  file('roles/galera/tasks/main.yml', '- name: a task\n');
  file('group_vars/all/vault.yml', '$ANSIBLE_VAULT;1.1;AES256\n6162\n');
  file('inventory/hosts.yml', 'all: {}\n');
  return ws;
}

describe('the configuration fingerprint', () => {
  it('is the same for the same files, and changes with any content, name or new file under ansible/', async () => {
    const ws = workspace();
    const base = await configFingerprint(ws);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(await configFingerprint(ws)).toBe(base);

    writeFileSync(path.join(ws, 'ansible/inventory/hosts.yml'), 'all: {vars: {x: 1}}\n');
    const inventory = await configFingerprint(ws);
    expect(inventory).not.toBe(base);

    renameSync(path.join(ws, 'ansible/roles/galera/tasks/main.yml'), path.join(ws, 'ansible/roles/galera/tasks/other.yml'));
    const renamed = await configFingerprint(ws);
    expect(renamed).not.toBe(inventory);

    writeFileSync(path.join(ws, 'ansible/group_vars/all/vars.yml'), '');
    expect(await configFingerprint(ws)).not.toBe(renamed);
  });

  it("leaves out Python's byte-code caches and dot-files, and what is outside ansible/", async () => {
    const ws = workspace();
    const base = await configFingerprint(ws);
    mkdirSync(path.join(ws, 'ansible/library/__pycache__'), { recursive: true });
    writeFileSync(path.join(ws, 'ansible/library/__pycache__/hawp_files.cpython-311.pyc'), 'x');
    writeFileSync(path.join(ws, 'ansible/library/old.pyc'), 'x');
    writeFileSync(path.join(ws, 'ansible/.swp'), 'x');
    writeFileSync(path.join(ws, 'settings.json'), '{}');
    expect(await configFingerprint(ws)).toBe(base);
  });

  it('does not mistake one file split in two for the same bytes', async () => {
    const a = workspace();
    const b = workspace();
    writeFileSync(path.join(a, 'ansible/x'), 'ab');
    writeFileSync(path.join(b, 'ansible/x'), 'a');
    writeFileSync(path.join(b, 'ansible/x2'), 'b');
    writeFileSync(path.join(a, 'ansible/x2'), '');
    expect(await configFingerprint(a)).not.toBe(await configFingerprint(b));
  });
});

describe('whether the playbook must run', () => {
  const FP = 'f'.repeat(64);
  const node = (name: string, converged: string | null | undefined): NodeStatus => ({
    name,
    group: 'wp_node',
    address: '10.0.0.1',
    reachable: converged !== undefined,
    services: {},
    ...(converged !== undefined ? { converged } : {}),
  });
  const healthy = { healthy: true, problems: [] };

  it('need not when every node recorded this configuration and the cluster is healthy', () => {
    expect(whyConfigure({ ...healthy, nodes: [node('a', FP), node('b', FP)] }, FP)).toBeUndefined();
  });

  it('must when a node recorded another configuration, none, or cannot be asked', () => {
    expect(whyConfigure({ ...healthy, nodes: [node('a', FP), node('b', 'e'.repeat(64))] }, FP)).toBe('b does not have this configuration yet');
    expect(whyConfigure({ ...healthy, nodes: [node('a', null), node('b', undefined), node('c', FP)] }, FP)).toBe('a, b do not have this configuration yet');
    expect(whyConfigure({ ...healthy, nodes: [node('a', null), node('b', null)] }, FP)).toBe('no node has this configuration yet');
  });

  it('must when the cluster is not healthy, even with the configuration everywhere (the playbook starts what stopped)', () => {
    const sick = { healthy: false, problems: ['s-wp-01: nginx is inactive', 'the site does not answer at http://x/'] };
    expect(whyConfigure({ ...sick, nodes: [node('a', FP)] }, FP)).toBe('the cluster is not healthy (s-wp-01: nginx is inactive, and 1 more)');
  });
});

describe('the recorded configuration on the node', () => {
  const ANSIBLE = path.resolve(__dirname, '..', 'ansible');
  it("is written by site.yml's last play where status reads it, and PHP-FPM's reload looks for it there", () => {
    const plays = yaml.load(readFileSync(path.join(ANSIBLE, 'site.yml'), 'utf8')) as { tasks?: Record<string, { dest?: string }>[] }[];
    const last = plays[plays.length - 1]!.tasks!;
    expect(last.map((t) => t['ansible.builtin.copy']?.dest)).toEqual([CONVERGED_FILE]);
    // Without it (a node's first run) a reload needs no drain: nothing is served yet.
    const reload = readFileSync(path.join(ANSIBLE, 'roles/wordpress/templates/php-fpm-reload.j2'), 'utf8');
    expect(reload).toContain(`[ ! -e ${CONVERGED_FILE} ]`);
  });
});
