/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `api-url` is where every command sends the API token: a one-line edit of
 * ha-wordpress.yml (or DIGITALOCEAN_API_URL) must not be enough to send it
 * elsewhere. The validator keeps it to https (http on loopback only) in one
 * plain shape; any URL other than DigitalOcean's and loopback is confirmed
 * on a terminal or given --yes, and refused without either before anything
 * is sent. The CLI runs against the stand-in API on 127.0.0.1 (loopback, so
 * no question), with stand-in terraform and ansible-playbook.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError, UserError } from '../src/errors.js';
import { apiUrlKind, confirmApiUrl } from '../src/settings/api-url.js';
import { readSettings } from '../src/settings/stored.js';
import { apiUrl, isLoopbackUrl } from '../src/validation/rules.js';
import type { Logger } from '../src/ui/logger.js';
import { DEFAULT_TOKEN, defaultKeys, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { BIN, homeWithKey, ROOT, runCli, tempDir } from './support/cli.js';
import { spawnInPty } from './support/pty.js';
import { readCalls, standinBin } from './support/standins.js';
import { budget } from './support/tools.js';
import { md5Fingerprint } from '../src/ssh/keys.js';

describe('the api-url validator', () => {
  it.each([
    'https://api.digitalocean.com',
    'https://api.digitalocean.com/',
    'https://do-proxy.example.com:8443/digitalocean/',
    'http://127.0.0.1:8080',
    'http://127.45.6.7',
    'http://localhost:3000/',
    'http://[::1]:9000',
  ])('accepts %s', (v) => expect(apiUrl(v)).toBeUndefined());

  it.each([
    // Plain http to anything but this machine.
    ['http://api.example.com', /^use https:\/\/ \(plain http:\/\/ only for a loopback address: 127\.0\.0\.0\/8, \[::1\] or localhost\)$/],
    ['http://localhost.example.com', /^use https:\/\//],
    ['http://127.0.0.1.nip.io', /^use https:\/\//],
    ['ftp://api.example.com', /^use an https:\/\/ URL/],
    // Hosts one parser reads as loopback and another as a name.
    ['http://127.1', /host written in full/],
    ['http://2130706433/', /host written in full/],
    ['http://0x7f.0.0.1', /host written in full/],
    ['http://[::ffff:127.0.0.1]', /host written in full/],
    ['https://api.digitalocean.com/v2/../x', /host written in full/],
    ['https://evil.example\\@api.digitalocean.com', /credentials/],
    ['https://evil.example\\.api.digitalocean.com', /host written in full/],
    // Whitespace and template syntax (the URL is written into the failover script's vars).
    ['https://api.digitalocean.com ', /no spaces or control characters/],
    ['https://api.digitalocean.com\n', /no spaces or control characters/],
    ['https://api.digitalocean.com\t/', /no spaces or control characters/],
    ['https://{{ lookup("env", "HOME") }}', /"\{\{", "\{%" or "\{#"/],
    ['https://api.digitalocean.com/{%raw%}', /"\{\{", "\{%" or "\{#"/],
    ['https://api.digitalocean.com/{#x', /"\{\{", "\{%" or "\{#"/],
    // Userinfo, query, fragment.
    ['https://user:pw@evil.example', /credentials/],
    ['https://api.digitalocean.com@evil.example', /credentials/],
    ['https://@evil.example', /credentials/],
    ['https://api.example.com/?x=1', /query or fragment/],
    ['https://api.example.com/?', /query or fragment/],
    ['https://api.example.com/#x', /query or fragment/],
    ['not a url', /^give a full URL/],
  ])('refuses %j in one line', (v, message) => {
    const problem = apiUrl(v);
    expect(problem).toMatch(message);
    expect(problem).not.toContain('\n');
  });

  it('calls only this machine loopback', () => {
    for (const v of ['http://127.0.0.1:1', 'http://127.255.255.254', 'http://LOCALHOST', 'http://[::1]']) expect(isLoopbackUrl(v), v).toBe(true);
    for (const v of ['http://128.0.0.1', 'http://localhost.', 'http://[::2]', 'http://127.1', 'https://api.digitalocean.com'])
      expect(isLoopbackUrl(v), v).toBe(false);
  });

  it('names the flag and the source when ha-wordpress.yml or DIGITALOCEAN_API_URL holds a bad one (every command reads it so)', () => {
    const data = { target: 'digitalocean', project: 'shop', region: 'fra1', 'api-url': 'http://collector.example.net' };
    expect(() => readSettings(data)).toThrow(
      '--api-url (from ha-wordpress.yml): use https:// (plain http:// only for a loopback address: 127.0.0.0/8, [::1] or localhost); ' +
        'fix ha-wordpress.yml or run `ha-wordpress init` again with --api-url',
    );
    const ok = { ...data, 'api-url': 'https://api.digitalocean.com' };
    expect(() => readSettings(ok, { DIGITALOCEAN_API_URL: 'https://x.example/{{ x }}' })).toThrow(
      /^--api-url \(from DIGITALOCEAN_API_URL\): must not contain "\{\{"/,
    );
  });
});

describe('confirmApiUrl', () => {
  const quiet = (): Logger & { warnings: string[] } => {
    const warnings: string[] = [];
    return { warnings, info: () => undefined, success: () => undefined, warn: (m) => warnings.push(m), error: () => undefined, out: () => undefined };
  };
  const ask = (answer: boolean) => {
    const asked: string[] = [];
    return {
      asked,
      prompts: {
        confirm: async (o: { message: string; default?: boolean }) => {
          asked.push(`${o.message} [default ${o.default}]`);
          return answer;
        },
      },
    };
  };

  it('sorts URLs into DigitalOcean’s, loopback and the rest', () => {
    expect(apiUrlKind('https://api.digitalocean.com')).toBe('default');
    expect(apiUrlKind('https://API.digitalocean.com/')).toBe('default');
    expect(apiUrlKind('https://api.digitalocean.com/v3')).toBe('other');
    expect(apiUrlKind('http://127.0.0.1:8080')).toBe('loopback');
    expect(apiUrlKind('https://api.digitalocean.com.evil.example')).toBe('other');
  });

  it('asks nothing for DigitalOcean’s URL or a loopback one, even without a terminal', async () => {
    for (const url of ['https://api.digitalocean.com', 'http://127.0.0.1:9', 'http://[::1]:9', 'http://localhost:9']) {
      const { asked, prompts } = ask(false);
      const log = quiet();
      await confirmApiUrl({ interactive: false, yes: false, prompts, log }, url, 'ha-wordpress.yml', 'up');
      expect(asked).toEqual([]);
      expect(log.warnings).toEqual([]);
    }
  });

  it('refuses another URL without a terminal and without --yes, in one line naming --yes and where the URL came from', async () => {
    const { asked, prompts } = ask(true);
    const err = await confirmApiUrl({ interactive: false, yes: false, prompts, log: quiet() }, 'https://collector.example.net', 'ha-wordpress.yml', 'up').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      "--api-url (from ha-wordpress.yml): https://collector.example.net is not DigitalOcean's API (https://api.digitalocean.com) " +
        'and up would send your API token there; nothing was sent: if you trust it, run again with --yes, else correct ha-wordpress.yml',
    );
    expect(asked).toEqual([]);
  });

  it('takes --yes, and says where the token goes', async () => {
    const log = quiet();
    await confirmApiUrl({ interactive: false, yes: true, prompts: ask(false).prompts, log }, 'https://proxy.example.net', '--api-url', 'init');
    expect(log.warnings).toEqual([
      "--api-url: https://proxy.example.net is not DigitalOcean's API (https://api.digitalocean.com); init sends your API token there (--yes)",
    ]);
  });

  it('on a terminal asks, showing the URL, with no as the default; no stops', async () => {
    const no = ask(false);
    await expect(
      confirmApiUrl({ interactive: true, yes: false, prompts: no.prompts, log: quiet() }, 'https://collector.example.net', 'DIGITALOCEAN_API_URL', 'destroy'),
    ).rejects.toThrow(UserError);
    expect(no.asked).toEqual([
      "Send your DigitalOcean API token to https://collector.example.net (--api-url (from DIGITALOCEAN_API_URL))? It is not DigitalOcean's API (https://api.digitalocean.com) [default false]",
    ]);
    const yes = ask(true);
    await confirmApiUrl(
      { interactive: true, yes: false, prompts: yes.prompts, log: quiet() },
      'https://collector.example.net',
      'DIGITALOCEAN_API_URL',
      'destroy',
    );
    expect(yes.asked).toHaveLength(1);
  });
});

describe('the commands that send the token', () => {
  vi.setConfig({ testTimeout: budget({ cli: 3 }), hookTimeout: budget({ cli: 2 }) });
  const ELSEWHERE = 'https://collector.example.net';
  let api: FakeDoApi;
  let root: string;
  let home: string;
  let pwFile: string;
  let bin: string;

  beforeAll(async () => {
    root = tempDir('hawp-apiurl-');
    const made = await homeWithKey(root);
    home = made.home;
    pwFile = path.join(root, 'pw');
    writeFileSync(pwFile, 'api url test vault password\n');
    api = await startFakeDoApi({ keys: [...defaultKeys(), { id: 9, name: 'me', fingerprint: md5Fingerprint(made.publicKey), public_key: made.publicKey }] });
    bin = standinBin(root);
  });
  afterAll(async () => api?.close());

  const initArgs = (ws: string, url: string) => [
    'init',
    '--non-interactive',
    '--project',
    'shop',
    '--region',
    'fra1',
    '--dir',
    ws,
    '--vault-password-file',
    pwFile,
    '--api-url',
    url,
  ];

  /** A DigitalOcean workspace made against the stand-in API, then pointed elsewhere by a hand edit. */
  async function pointedElsewhere(name: string, url = ELSEWHERE): Promise<string> {
    const ws = path.join(root, name);
    const r = await runCli(initArgs(ws, api.url), { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } });
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(ws, 'ha-wordpress.yml');
    const data = yaml.load(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, yaml.dump({ ...data, 'api-url': url }));
    return ws;
  }
  const env = (record: string) => ({
    HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
    STANDIN_RECORD: record,
    STANDIN_REPO: ROOT,
    HA_WORDPRESS_CHILD_ENV: 'STANDIN_*',
  });

  it('init without a terminal refuses another URL without --yes, before any request', async () => {
    const before = api.requests.length;
    const r = await runCli(initArgs(path.join(root, 'init-elsewhere'), ELSEWHERE), { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: --api-url: ${ELSEWHERE} is not DigitalOcean's API (https://api.digitalocean.com) and init would send your API token there; ` +
        'nothing was sent: if you trust it, run again with --yes, else leave --api-url out',
    );
    expect(api.requests.length).toBe(before);
  });

  it('init refuses plain http to another machine from DIGITALOCEAN_API_URL, naming the variable', async () => {
    const args = initArgs(path.join(root, 'init-http'), api.url).slice(0, -2);
    const r = await runCli(args, { env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN, DIGITALOCEAN_API_URL: 'http://collector.example.net' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'error: --api-url (from DIGITALOCEAN_API_URL): use https:// (plain http:// only for a loopback address: 127.0.0.0/8, [::1] or localhost)',
    );
  });

  it('up without a terminal refuses a hand-edited api-url without --yes, and runs nothing', async () => {
    const ws = await pointedElsewhere('up-elsewhere');
    const record = path.join(root, 'up-elsewhere.jsonl');
    const r = await runCli(['up', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: env(record) });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: --api-url (from ha-wordpress.yml): ${ELSEWHERE} is not DigitalOcean's API (https://api.digitalocean.com) and up would send your API token there; ` +
        'nothing was sent: if you trust it, run again with --yes, else correct ha-wordpress.yml',
    );
    expect(r.children).toEqual([]);
    expect(readCalls(record)).toEqual([]);
  });

  it('up and status refuse a hand-edited plain-http api-url with the flag’s one-line error', async () => {
    const ws = await pointedElsewhere('up-http', 'http://collector.example.net');
    for (const args of [['up', '--yes'], ['status']]) {
      const r = await runCli([...args, '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: env(path.join(root, 'up-http.jsonl')) });
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        'error: --api-url (from ha-wordpress.yml): use https:// (plain http:// only for a loopback address: 127.0.0.0/8, [::1] or localhost); ' +
          'fix ha-wordpress.yml or run `ha-wordpress init` again with --api-url',
      );
      expect(r.children).toEqual([]);
    }
  });

  it('destroy --yes says where the token goes, and hands terraform that URL', async () => {
    const ws = await pointedElsewhere('destroy-elsewhere');
    const record = path.join(root, 'destroy-elsewhere.jsonl');
    const r = await runCli(['destroy', '--yes', '--non-interactive', '--dir', ws, '--vault-password-file', pwFile], { env: env(record) });
    expect(r.stderr).toContain(
      `warning: --api-url (from ha-wordpress.yml): ${ELSEWHERE} is not DigitalOcean's API (https://api.digitalocean.com); destroy sends your API token there (--yes)`,
    );
    expect(r.code, r.stderr).toBe(0);
    const tf = readCalls(record).filter((c) => c.tool === 'terraform' && c.argv[0] !== 'version');
    expect(tf.length).toBeGreaterThan(0);
    for (const c of tf) expect(c.env.DIGITALOCEAN_API_URL).toBe(ELSEWHERE);
  });

  it('up on a terminal asks before sending the token elsewhere; no runs nothing', async () => {
    const ws = await pointedElsewhere('up-asked');
    const record = path.join(root, 'up-asked.jsonl');
    const s = spawnInPty(process.execPath, [BIN, 'up', '--dir', ws, '--vault-password-file', pwFile], {
      env: { ...env(record), NO_COLOR: '1', DIGITALOCEAN_TOKEN: undefined, HA_WORDPRESS_VAULT_PASSWORD: undefined },
      timeoutMs: 60_000,
      lifetimeMs: 5 * 60_000,
    });
    await s.expect(`Send your DigitalOcean API token to ${ELSEWHERE} (--api-url (from ha-wordpress.yml))?`);
    s.type('n');
    await s.expect('not confirmed; the API token was not sent');
    expect(await s.wait()).toEqual({ code: 1, signal: null });
    expect(readCalls(record)).toEqual([]);
  });
});
