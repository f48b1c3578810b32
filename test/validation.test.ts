import { describe, expect, it } from 'vitest';
import * as rules from '../src/validation/rules.js';
import { bucketName, defaultMediaRegion, spacesRegion } from '../src/backup/regions.js';
import { secretCheck } from '../src/validation/secrets.js';
import * as gen from '../src/secrets/generate.js';
import { SETTINGS, SETTING } from '../src/settings/table.js';

describe('validators (table)', () => {
  const cases: [string, rules.Check, string, boolean][] = [
    ['project', rules.projectName, 'shop', true],
    ['project', rules.projectName, 'my-shop-2', true],
    ['project', rules.projectName, 'Shop', false],
    ['project', rules.projectName, '2shop', false],
    ['project', rules.projectName, 'shop-', false],
    ['project', rules.projectName, 'sh--op', false],
    ['project', rules.projectName, 'a', false],
    ['project', rules.projectName, 'a'.repeat(41), false],
    ['project', rules.projectName, 'shop_1', false],
    ['domain', rules.domain, '', true],
    ['domain', rules.domain, 'www.example.com', true],
    ['domain', rules.domain, 'example.com.', true],
    ['domain', rules.domain, 'localhost', false],
    ['domain', rules.domain, '-bad.example.com', false],
    ['domain', rules.domain, '10.0.0.1', false],
    ['domain', rules.domain, 'exa mple.com', false],
    ['web', rules.webNodes, '3', true],
    ['web', rules.webNodes, '1', false],
    ['web', rules.webNodes, '11', false],
    ['web', rules.webNodes, '2.5', false],
    ['db', rules.dbNodes, '3', true],
    ['db', rules.dbNodes, '5', true],
    ['db', rules.dbNodes, '4', false],
    ['db', rules.dbNodes, '1', false],
    ['db', rules.dbNodes, 'three', false],
    ['cidrs', rules.cidrList, '203.0.113.7/32,2001:db8::/32', true],
    ['cidrs', rules.cidrList, '203.0.113.7', true],
    ['cidrs', rules.cidrList, '0.0.0.0/0,::/0', true],
    ['cidrs', rules.cidrList, '203.0.113.7/33', false],
    ['cidrs', rules.cidrList, '256.1.1.1', false],
    ['cidrs', rules.cidrList, 'example.com', false],
    ['cidrs', rules.cidrList, '', false],
    ['url', rules.apiUrl, 'https://api.digitalocean.com', true],
    ['url', rules.apiUrl, 'http://127.0.0.1:8080', true],
    ['url', rules.apiUrl, 'ftp://x', false],
    ['url', rules.apiUrl, 'https://u:p@x', false],
    ['url', rules.apiUrl, 'not a url', false],
    ['token', rules.doToken, 'dop_v1_' + 'a1'.repeat(32), true],
    ['token', rules.doToken, 'f'.repeat(64), true],
    ['token', rules.doToken, 'dop_v1_short', false],
    ['token', rules.doToken, 'dop_v1_' + 'A'.repeat(64), false],
    ['email', rules.email, 'me@example.com', true],
    ['email', rules.email, 'me@localhost', false],
    ['email', rules.email, 'me example.com', false],
    ['login', rules.loginName, 'haproxy-stats', true],
    ['login', rules.loginName, 'a:b', false],
    ['login', rules.loginName, 'Admin', false],
    ['spaces key', rules.spacesKey, 'DO00ABCDEFGHIJKLMNOP', true],
    ['spaces key', rules.spacesKey, 'do00abc', false],
    ['spaces secret', rules.spacesSecret, 'a'.repeat(43), true],
    ['spaces secret', rules.spacesSecret, 'has space '.repeat(5), false],
    ['bucket', bucketName, 'my-media', true],
    ['bucket', bucketName, 'My_Media', false],
    ['bucket', bucketName, 'my--media', false],
    ['spaces region', spacesRegion, 'fra1', true],
    ['spaces region', spacesRegion, 'nyc1', false],
    ['mail host', rules.mailHost, 'smtp.example.com', true],
    ['mail host', rules.mailHost, '10.0.0.5', true],
    ['mail host', rules.mailHost, '', true],
    ['mail host', rules.mailHost, 'smtp', false],
    ['mail host', rules.mailHost, '10.0.0', false],
    ['mail login', rules.mailLogin, 'apikey', true],
    ['mail login', rules.mailLogin, 'me\nRCPT TO:<x>', false],
    ['title', rules.siteTitle, "Joe's Café & Bar", true],
    ['title', rules.siteTitle, 'Hi {{ x }}', true],
    ['title', rules.siteTitle, '', false],
    ['vault password', rules.vaultPassword, 'long enough', true],
    ['vault password', rules.vaultPassword, 'short', false],
    ['vault password', rules.vaultPassword, ' padded password ', false],
  ];
  it.each(cases)('%s: %j → ok=%s', (_name, check, value, ok) => {
    const problem = check(value);
    if (ok) expect(problem).toBeUndefined();
    else expect(problem).toMatch(/\w/);
  });
});

describe('secret rules per sink', () => {
  const galera = SETTING.galeraRootPassword.validate!;
  const wpDb = SETTING.wpDbPassword.validate!;
  const stats = SETTING.haproxyStatsPassword.validate!;
  it.each([
    ['{{', 'abcdefgh{{ijkl'],
    ['{%', 'abcdefgh{%ijkl'],
    ['{#', 'abcdefgh{#ijkl'],
  ])('refuses the Jinja delimiter %s in every password', (_d, v) => {
    for (const check of [galera, wpDb, stats, SETTING.wpAdminPassword.validate!]) expect(check(v)).toMatch(/template syntax/);
  });
  it('refuses a leading "{" or "[" in every password (Ansible would evaluate it as a dict or list), but not inside', () => {
    for (const check of [galera, wpDb, stats, SETTING.wpAdminPassword.validate!]) {
      expect(check("{'a':1,'b':2}x")).toMatch(/dictionary/);
      expect(check('[1,2,3,4,5,6,7]')).toMatch(/list/);
      expect(check('abc{def}[ghi]jkl')).toBeUndefined();
    }
  });
  it('refuses "$" in the three Galera passwords only', () => {
    for (const key of ['galeraRootPassword', 'galeraClustercheckPassword'] as const) expect(SETTING[key].validate!('abc$defghijkl')).toMatch(/"\$"/);
    expect(wpDb('abc$defghijkl')).toBeUndefined();
  });
  it('refuses what haproxy.cfg cannot carry in the stats password', () => {
    for (const v of ['abcdefgh#ijkl', 'abcdefgh"ijkl', "abcdefgh'ijkl", 'abcdefgh\\ijkl']) expect(stats(v)).toMatch(/haproxy/);
  });
  it('refuses short, spaced, control and non-ASCII values', () => {
    expect(wpDb('short')).toMatch(/12/);
    expect(wpDb('has a space in it')).toMatch(/spaces/);
    expect(wpDb('tab\there-1234')).toMatch(/printable/);
    expect(wpDb('pässwörd-123456')).toMatch(/ASCII/);
  });
  it('accepts quotes, backslashes and HCL template openers where the roles escape them', () => {
    expect(wpDb(`it's"a\\pass\${x}%{y}`)).toBeUndefined();
  });
});

describe('generated secrets', () => {
  const secretSettings = SETTINGS.filter((s) => s.generated);
  it('always pass every validator of the setting they stand for (2000 samples each)', () => {
    for (let i = 0; i < 2000; i++) {
      const pw = gen.password();
      expect(pw).toMatch(/^[A-Za-z0-9]{32}$/);
      for (const s of secretSettings) expect(s.validate!(pw)).toBeUndefined();
      expect(secretCheck(['yaml', 'jinja', 'galera-check', 'option-file', 'php', 'haproxy'])(pw)).toBeUndefined();
    }
  });
  it('salts: eight 64-character alphanumeric values, all different', () => {
    const salts = gen.wpSalts();
    expect(Object.keys(salts)).toHaveLength(8);
    for (const v of Object.values(salts)) expect(v).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(new Set(Object.values(salts)).size).toBe(8);
  });
  it('keepalived password is exactly 8 characters (keepalived ignores the rest)', () => {
    expect(gen.keepalivedPass()).toMatch(/^[A-Za-z0-9]{8}$/);
  });
  it('lab token has the DigitalOcean format', () => {
    expect(rules.doToken(gen.labToken())).toBeUndefined();
  });
  it('is uniform enough: every character of the alphabet shows up, none dominates', () => {
    const counts = new Map<string, number>();
    const text = gen.randomString(62 * 400);
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(250);
      expect(n).toBeLessThan(560);
    }
  });
});

describe('where the media bucket goes', () => {
  it('a region without Spaces names the nearest that has, and that is the default for a cluster there', () => {
    expect(spacesRegion('nyc1')).toBe('nyc1 has no Spaces; use nyc3, the nearest region that has');
    expect(spacesRegion('ric1')).toBe('ric1 has no Spaces; use nyc3, the nearest region that has');
    expect(defaultMediaRegion('nyc2')).toBe('nyc3');
    expect(defaultMediaRegion('ams2')).toBe('ams3');
    // With Spaces: the cluster's own, as every page view fetches uploads.
    expect(defaultMediaRegion('fra1')).toBe('fra1');
    for (const r of ['nyc1', 'nyc2', 'ric1', 'ams2', 'sfo1', 'fra1', 'blr1']) expect(spacesRegion(defaultMediaRegion(r)!), r).toBeUndefined();
  });
});
