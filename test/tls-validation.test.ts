/**
 * The site's own certificate files (src/validation/tls.ts), against real
 * certificates and keys made here with the openssl CLI: a CA, leaves for
 * the domain, a wildcard, another name, a key with a passphrase. Expiry is
 * checked by moving the clock the check is given, not the certificates.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, expect } from 'vitest';
import { planHttps, zoneOf } from '../src/init/https.js';
import { checkTlsFiles, type TlsFiles } from '../src/validation/tls.js';
import { missing, skipWhen } from './support/tools.js';

const DAY = 86_400_000;
const t = skipWhen(missing('openssl'));

t.describe('the site certificate checks, with certificates made by openssl', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-tls-'));
  const f = (n: string) => path.join(dir, n);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  /** A leaf signed by the CA, valid for `days`, covering `names` (DNS names). */
  const leaf = (name: string, names: string[], days = 90) => {
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${names[0]}`);
    writeFileSync(f(`${name}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=critical,CA:FALSE\n`);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-set_serial',
      String(Date.now()),
      '-days',
      String(days),
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    );
  };
  const read = (n: string) => ({ path: f(n), text: readFileSync(f(n), 'utf8') });
  const files = (cert: string, key: string, chain?: string): TlsFiles => ({
    certificate: read(cert),
    key: read(key),
    ...(chain ? { chain: read(chain) } : {}),
  });

  beforeAll(() => {
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-days',
      '365',
      '-subj',
      '/CN=Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    leaf('site', ['shop.example.com', 'www.shop.example.com']);
    leaf('wild', ['*.example.com']);
    leaf('other', ['other.example.org']);
    writeFileSync(f('fullchain.pem'), readFileSync(f('site.pem'), 'utf8') + readFileSync(f('ca.pem'), 'utf8'));
    openssl('pkey', '-in', f('site.key'), '-aes256', '-passout', 'pass:secret', '-out', f('site-locked.key'));
    writeFileSync(f('junk.pem'), 'not a certificate\n');
  });

  t.it('accepts a certificate with its key and chain, and says what it covers and until when', () => {
    const r = checkTlsFiles(files('site.pem', 'site.key', 'ca.pem'), 'shop.example.com');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.bundle.names).toEqual(['shop.example.com', 'www.shop.example.com']);
    expect(r.bundle.chain).toBe(readFileSync(f('ca.pem'), 'utf8'));
    expect(r.bundle.notAfter.getTime()).toBeGreaterThan(Date.now() + 80 * DAY);
    expect(r.warning).toBeUndefined();
  });

  t.it("splits certbot's fullchain.pem into the certificate and its chain", () => {
    const r = checkTlsFiles(files('fullchain.pem', 'site.key'), 'shop.example.com');
    expect(r.ok && r.bundle.leaf).toBe(readFileSync(f('site.pem'), 'utf8'));
    expect(r.ok && r.bundle.chain).toBe(readFileSync(f('ca.pem'), 'utf8'));
  });

  t.it('a wildcard covers one label: shop.example.com yes, a.b.example.com no', () => {
    expect(checkTlsFiles(files('wild.pem', 'wild.key'), 'shop.example.com').ok).toBe(true);
    expect(checkTlsFiles(files('wild.pem', 'wild.key'), 'a.b.example.com')).toEqual({
      ok: false,
      flag: 'tls-certificate',
      problem: `${f('wild.pem')} covers *.example.com, not a.b.example.com: give a certificate for a.b.example.com`,
    });
  });

  t.it('refuses, naming the flag: no certificate, a CA first, another domain, the wrong key, a key with a passphrase, a chain that does not issue it', () => {
    const problem = (r: ReturnType<typeof checkTlsFiles>) => (r.ok ? 'accepted' : `--${r.flag}: ${r.problem}`);
    expect(problem(checkTlsFiles(files('junk.pem', 'site.key'), 'shop.example.com'))).toBe(
      `--tls-certificate: ${f('junk.pem')} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
    expect(problem(checkTlsFiles(files('ca.pem', 'ca.key'), 'shop.example.com'))).toMatch(
      /^--tls-certificate: .* starts with a CA certificate \(CN=Test CA\): put the site's own certificate first$/,
    );
    expect(problem(checkTlsFiles(files('other.pem', 'other.key'), 'shop.example.com'))).toBe(
      `--tls-certificate: ${f('other.pem')} covers other.example.org, not shop.example.com: give a certificate for shop.example.com`,
    );
    expect(problem(checkTlsFiles(files('site.pem', 'other.key'), 'shop.example.com'))).toBe(
      `--tls-key: ${f('other.key')} is not the key of the certificate in ${f('site.pem')}`,
    );
    expect(problem(checkTlsFiles(files('site.pem', 'site-locked.key'), 'shop.example.com'))).toMatch(
      /^--tls-key: .* is protected by a passphrase, which a load balancer cannot type/,
    );
    expect(problem(checkTlsFiles(files('site.pem', 'junk.pem'), 'shop.example.com'))).toBe(`--tls-key: ${f('junk.pem')} holds no PEM private key`);
    expect(problem(checkTlsFiles(files('site.pem', 'site.key', 'other.pem'), 'shop.example.com'))).toMatch(
      /^--tls-chain: the chain in .* does not start with the issuer of the certificate \(CN=Test CA\)$/,
    );
    expect(problem(checkTlsFiles(files('fullchain.pem', 'site.key', 'ca.pem'), 'shop.example.com'))).toMatch(
      /^--tls-chain: .* already holds a chain after the certificate/,
    );
  });

  t.it('expired: refused with the date; expiring within 30 days: accepted with a warning that names the day', () => {
    const r = checkTlsFiles(files('site.pem', 'site.key'), 'shop.example.com');
    expect(r.ok).toBe(true);
    const end = r.ok ? r.bundle.notAfter : new Date();
    const expired = checkTlsFiles(files('site.pem', 'site.key'), 'shop.example.com', new Date(end.getTime() + DAY));
    expect(expired).toEqual({
      ok: false,
      flag: 'tls-certificate',
      problem: `${f('site.pem')} expired on ${end.toISOString().slice(0, 10)}: renew it, then run init again`,
    });
    const soon = checkTlsFiles(files('site.pem', 'site.key'), 'shop.example.com', new Date(end.getTime() - 10.5 * DAY));
    expect(soon.ok && soon.warning).toBe(
      `the certificate for shop.example.com expires on ${end.toISOString().slice(0, 10)}, in 10 days: renew it and run init again before then`,
    );
  });

  t.describe("init's choice of certificate (planHttps)", () => {
    const zones = async () => ['example.org', 'example.com', 'shop.example.com'];
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: Error) => e.message,
      );

    t.it("picks Let's Encrypt when the domain's zone is in DigitalOcean DNS (the longest matching zone), and says so", async () => {
      expect(zoneOf('www.shop.example.com.', ['example.com', 'shop.example.com'])).toBe('shop.example.com');
      expect(zoneOf('example.com', ['example.com'])).toBe('example.com');
      expect(zoneOf('badexample.com', ['example.com'])).toBeUndefined();
      const p = await planHttps({ domain: 'Blog.Example.org', tls: 'auto', zones });
      expect(p).toMatchObject({ tls: 'lets_encrypt', zone: 'example.org' });
      expect(p.say).toEqual({
        warn: false,
        line:
          "HTTPS: a Let's Encrypt certificate for blog.example.org, made and renewed by DigitalOcean " +
          '(example.org is in your DigitalOcean DNS); up adds the A record there',
      });
    });

    t.it('refuses a domain outside DigitalOcean DNS without a certificate, naming --domain and the ways forward', async () => {
      const msg = await refused(planHttps({ domain: 'shop.example.net', tls: 'auto', zones }));
      expect(msg).toMatch(/^--domain: shop\.example\.net is not in this account's DigitalOcean DNS/);
      expect(msg).toContain('--tls-certificate and --tls-key');
      expect(msg).toContain('--tls none');
      expect(await refused(planHttps({ domain: 'shop.example.net', tls: 'lets_encrypt', zones }))).toBe(msg);
    });

    t.it('takes your certificate when the files are given: the A record in DigitalOcean DNS when the zone is there, else what to point', async () => {
      const withZone = await planHttps({ domain: 'shop.example.com', tls: 'auto', certificate: f('site.pem'), key: f('site.key'), chain: f('ca.pem'), zones });
      expect(withZone).toMatchObject({ tls: 'custom', zone: 'shop.example.com' });
      expect(withZone.bundle?.chain).toBe(readFileSync(f('ca.pem'), 'utf8'));
      expect(withZone.say.line).toMatch(/^HTTPS: your certificate for shop\.example\.com \(valid until \d{4}-\d\d-\d\d\); /);
      expect(withZone.say.line).toMatch(/; up adds the A record in your DigitalOcean DNS \(shop\.example\.com\)$/);
      const elsewhere = await planHttps({
        domain: 'shop.example.com',
        tls: 'custom',
        certificate: f('fullchain.pem'),
        key: f('site.key'),
        zones: async () => [],
      });
      expect(elsewhere.zone).toBeUndefined();
      expect(elsewhere.say.line).toContain("point shop.example.com (an A record) at the load balancer's IP, which up prints");
    });

    t.it('no domain or --tls none: HTTP only, with a warning saying what HTTPS needs; the API is not asked', async () => {
      const never = async (): Promise<string[]> => {
        throw new Error('the DNS domains were listed');
      };
      const bare = await planHttps({ tls: 'auto', zones: never });
      expect(bare).toMatchObject({ tls: 'none', say: { warn: true } });
      expect(bare.say.line).toMatch(/^HTTP only: no --domain/);
      const off = await planHttps({ domain: 'shop.example.com', tls: 'none', zones: never });
      expect(off.say.line).toMatch(/^HTTP only \(--tls none\): logins and cookies cross the internet in clear/);
    });

    t.it('refuses contradictions and missing pieces, naming the flag', async () => {
      const cert = { certificate: f('site.pem'), key: f('site.key') };
      expect(await refused(planHttps({ domain: 'shop.example.com', tls: 'none', ...cert, zones }))).toMatch(/^--tls-certificate: --tls none serves plain HTTP/);
      expect(await refused(planHttps({ domain: 'shop.example.com', tls: 'lets_encrypt', ...cert, zones }))).toMatch(
        /^--tls-certificate: --tls lets_encrypt uses DigitalOcean's certificate/,
      );
      expect(await refused(planHttps({ tls: 'custom', ...cert, zones }))).toBe('--tls custom: a certificate is for a domain; give --domain too');
      expect(await refused(planHttps({ domain: 'shop.example.com', tls: 'custom', certificate: f('site.pem'), zones }))).toMatch(
        /^--tls-key: your own certificate needs both/,
      );
      expect(await refused(planHttps({ domain: 'shop.example.com', tls: 'custom', certificate: f('missing.pem'), key: f('site.key'), zones }))).toBe(
        `--tls-certificate: cannot read ${f('missing.pem')} (ENOENT)`,
      );
      expect(await refused(planHttps({ domain: 'shop.example.com', tls: 'custom', certificate: f('other.pem'), key: f('other.key'), zones }))).toMatch(
        /^--tls-certificate: .* covers other\.example\.org, not shop\.example\.com/,
      );
    });
  });
});
