/**
 * The one settings model: ha-wordpress.yml read through the settings table
 * (same defaults, same validators, typed values), the command definitions
 * every command's flags come from, and the coverage check behind the
 * "SSH open to the whole internet" warning.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { COMMANDS, commandOptions, parseFlags } from '../src/settings/commands.js';
import { readSettings, settingsFileText, templateSettings } from '../src/settings/stored.js';
import { SETTINGS, type Values } from '../src/settings/table.js';
import { allAddresses } from '../src/validation/rules.js';
import yaml from 'js-yaml';

const local = { target: 'local', project: 'shop' };

function error(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('ha-wordpress.yml, read through the settings table', () => {
  it('fills what the file leaves out with the defaults init gives, typed by kind', () => {
    const { settings, sources } = readSettings(local);
    expect(settings).toMatchObject({
      target: 'local',
      project: 'shop',
      webNodes: 3,
      dbNodes: 3,
      adminUser: 'deploy',
      siteTitle: 'shop',
      wpAdminUser: 'shop-admin',
    });
    expect(sources.webNodes).toBe('the default');
    expect(sources.project).toBe('ha-wordpress.yml');
    // Settings of the other target are absent, not defaulted.
    expect(settings.apiUrl).toBeUndefined();
    expect(settings.region).toBeUndefined();
  });

  it('types numbers and lists as init wrote them', () => {
    const { settings } = readSettings({ target: 'digitalocean', project: 'shop', region: 'fra1', 'web-nodes': 5, 'ssh-allow': ['10.0.0.0/8', '192.0.2.7/32'] });
    expect(settings.webNodes).toBe(5);
    expect(settings.sshAllow).toEqual(['10.0.0.0/8', '192.0.2.7/32']);
    expect(settings.apiUrl).toBe('https://api.digitalocean.com');
  });

  it.each([
    [
      { ...local, 'web-nodes': 1 },
      /^--web-nodes \(from ha-wordpress\.yml\): give a whole number from 2 to 10; fix ha-wordpress\.yml or run `ha-wordpress init` again with --web-nodes$/,
    ],
    [{ ...local, 'db-nodes': 4 }, /^--db-nodes \(from ha-wordpress\.yml\): use an odd number/],
    [{ ...local, 'admin-user': 'root' }, /^--admin-user \(from ha-wordpress\.yml\): choose a user other than root/],
    [{ ...local, 'wp-admin-user': 'admin' }, /^--wp-admin-user \(from ha-wordpress\.yml\): "admin" is the first name brute-force attacks try/],
    [{ ...local, project: 'Bad_Name' }, /^--project \(from ha-wordpress\.yml\): use lowercase letters/],
    [{ target: 'mars', project: 'shop' }, /^--target \(from ha-wordpress\.yml\): use digitalocean or local$/],
    [{ target: 'digitalocean', project: 'shop' }, /^--region \(from ha-wordpress\.yml\): missing; run `ha-wordpress init` again with --region$/],
    [{ target: 'digitalocean', project: 'shop', region: 'fra1', 'api-url': 'ftp://x' }, /^--api-url \(from ha-wordpress\.yml\): use an http/],
  ])('a hand edit that breaks a rule gets the flag’s own one-line error: %j', (data, message) => {
    expect(error(() => readSettings(data))).toMatch(message);
  });

  it('the same value as a flag gets the same problem text (one validator)', () => {
    const webNodes = SETTINGS.find((s) => s.key === 'webNodes')!;
    expect(error(() => readSettings({ ...local, 'web-nodes': 11 }))).toContain(webNodes.validate!('11')!);
  });

  it('lets DIGITALOCEAN_API_URL stand for api-url, checked by the same validator and named as the source', () => {
    const data = { target: 'digitalocean', project: 'shop', region: 'fra1', 'api-url': 'https://api.digitalocean.com' };
    expect(readSettings(data, { DIGITALOCEAN_API_URL: 'http://127.0.0.1:9999' }).settings.apiUrl).toBe('http://127.0.0.1:9999');
    expect(error(() => readSettings(data, { DIGITALOCEAN_API_URL: 'not a url' }))).toMatch(/^--api-url \(from DIGITALOCEAN_API_URL\): give a full URL/);
  });

  it('notes keys it does not know, and reads init’s own bookkeeping silently', () => {
    const { notes } = readSettings({ ...local, 'tool-version': '0.1.0', 'ssh-key-fingerprint': 'aa:bb', colour: 'blue' });
    expect(notes).toEqual(['ha-wordpress.yml: colour is not a setting of this version and is ignored']);
  });

  it('round-trips: what init writes reads back as the same typed values', () => {
    const values: Values = {
      target: 'digitalocean',
      project: 'shop',
      region: 'fra1',
      webNodes: '4',
      dbNodes: '5',
      sshAllow: '10.0.0.0/8, 192.0.2.7/32',
      domain: '',
    };
    const text = settingsFileText('digitalocean', values, { 'tool-version': '9.9.9' });
    const data = yaml.load(text) as Record<string, unknown>;
    expect(Object.keys(data)[0]).toBe('tool-version');
    const { settings } = readSettings(data);
    expect(settings).toMatchObject({ webNodes: 4, dbNodes: 5, sshAllow: ['10.0.0.0/8', '192.0.2.7/32'], region: 'fra1' });
  });

  it('gives the templates every stored setting under its key, typed, with "" for what does not apply', () => {
    const s = templateSettings('local', { target: 'local', project: 'shop', webNodes: '3' });
    expect(s.webNodes).toBe(3);
    expect(s.region).toBe('');
    expect(s.sshAllow).toEqual([]);
    expect(Object.keys(s)).not.toContain('wpDbPassword');
    expect(Object.keys(s)).not.toContain('dir');
  });
});

describe('command definitions', () => {
  it('give every workspace command --dir and --vault-password-file, with one meaning', () => {
    for (const name of ['up', 'destroy', 'status', 'drill']) {
      const def = COMMANDS.find((c) => c.name === name)!;
      const flags = commandOptions(def).map((o) => o.flag);
      expect(flags, name).toContain('dir');
      expect(flags, name).toContain('vault-password-file');
    }
  });

  it('check option values with their validators, naming the flag', () => {
    const up = COMMANDS.find((c) => c.name === 'up')!;
    expect(parseFlags(up, { waitTimeout: '0' }).problems).toEqual(['--wait-timeout: give whole seconds from 1 to 7200, e.g. --wait-timeout 900']);
    expect(parseFlags(up, { waitTimeout: '900' })).toMatchObject({ problems: [], flags: { waitTimeout: 900 } });
    expect(parseFlags(up, {}).flags.waitTimeout).toBe(600);
  });
});

describe('allAddresses: does a list of CIDR blocks let in everyone?', () => {
  it.each([
    ['0.0.0.0/0', true],
    ['::/0', true],
    ['0.0.0.0/0,::/0', true],
    ['0.0.0.0/1,128.0.0.0/1', true],
    ['128.0.0.0/1, 0.0.0.0/2, 64.0.0.0/2', true],
    ['::/1,8000::/1', true],
    ['0.0.0.0/1', false],
    ['0.0.0.0/1,128.0.0.0/2', false],
    ['10.0.0.0/8,192.0.2.7', false],
    ['203.0.113.7/32', false],
    ['2001:db8::/32', false],
  ])('%s → %s', (list, open) => {
    expect(allAddresses(list)).toBe(open);
  });
});
