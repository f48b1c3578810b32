/**
 * HTTPS in the lab (src/lab/tls.ts and the stand-in load balancer's
 * configuration): the lab CA is made once and kept, the site's certificate
 * verifies against it for the domain and is made again only when the domain
 * changes, the keys are 0600, and HAProxy's configuration mirrors
 * terraform/loadbalancer.tf (443 terminated with the certificate, 80
 * redirected; plain HTTP to the web nodes with X-Forwarded-Proto).
 * The state lives in the lab's root-only directory, so that part needs root.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labDir } from '../src/lab/dirs.js';
import { haproxyConfig, LB_HEALTHCHECK_FILE, LB_SITE_PEM, makePlan, parseLbHealthcheck } from '../src/lab/plan.js';
import { ROOT } from './support/cli.js';
import { ensureLabTls } from '../src/lab/tls.js';
import { missing } from './support/tools.js';

const AS_ROOT = process.getuid?.() === 0;
const why = !AS_ROOT ? 'needs root (the lab state directory)' : missing('openssl');

describe.skipIf(Boolean(why))(`the lab CA and the site's certificate${why ? ` (skipped: ${why})` : ''}`, () => {
  const labId = `hawp-tlstest-${randomBytes(3).toString('hex')}`;
  afterAll(() => rmSync(labDir(labId), { recursive: true, force: true }));

  it('makes the CA once, a certificate for the domain that verifies against it, and a new one only when the domain changes', async () => {
    const a = await ensureLabTls(labId, 'shop.test');
    const ca = new X509Certificate(a.caCert);
    const leaf = new X509Certificate(a.haproxyPem);
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('shop.test')).toBe('shop.test');
    expect(leaf.checkHost('other.test')).toBeUndefined();
    expect(a.haproxyPem).toMatch(/-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----/);

    const again = await ensureLabTls(labId, 'shop.test');
    expect(again).toEqual(a);
    const renamed = await ensureLabTls(labId, 'blog.test');
    expect(renamed.caCert).toBe(a.caCert);
    expect(new X509Certificate(renamed.haproxyPem).checkHost('blog.test')).toBe('blog.test');

    const dir = path.join(labDir(labId), 'tls');
    expect(statSync(path.join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'site.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(path.join(dir, 'ca.pem'), 'utf8')).toBe(a.caCert);
  }, 30_000);

  it('makes a new certificate when the stored one is within 30 days of its end', async () => {
    const now = await ensureLabTls(labId, 'shop.test');
    const end = Date.parse(new X509Certificate(now.haproxyPem).validTo);
    const later = await ensureLabTls(labId, 'shop.test', new Date(end - 10 * 86_400_000));
    expect(later.haproxyPem).not.toBe(now.haproxyPem);
  }, 30_000);
});

describe("the stand-in load balancer's HAProxy configuration", () => {
  const plan = makePlan({ workspace: '/tmp/ws', project: 'shop', webNodes: 3, dbNodes: 3, octet: 7 });
  // The file terraform gives DigitalOcean (loadbalancer.tf), as the lab reads it.
  const check = parseLbHealthcheck(readFileSync(path.join(ROOT, LB_HEALTHCHECK_FILE), 'utf8'));
  it('without a domain: plain HTTP to the web nodes, no 443', () => {
    const cfg = haproxyConfig(plan, check);
    expect(cfg).not.toMatch(/:443|redirect/);
    expect(cfg).toMatch(/frontend public\n\s+bind :80\n\s+option forwardfor\n\s+http-request set-header X-Forwarded-Proto http\n/);
  });
  it('with a domain: 443 terminated with the lab certificate, X-Forwarded-Proto https, and 80 only redirects', () => {
    const cfg = haproxyConfig(plan, check, { domain: 'shop.test' });
    expect(cfg).toContain(`bind :443 ssl crt ${LB_SITE_PEM}`);
    expect(cfg).toMatch(/frontend public_https\n(.*\n)*?\s+http-request set-header X-Forwarded-Proto https\n/);
    expect(cfg).toMatch(/frontend public\n\s+bind :80\n\s+http-request redirect scheme https code 301\n\n/);
    expect(cfg.match(/server shop-wp-0\d /g)).toHaveLength(3);
  });
  it("checks the web nodes as DigitalOcean's load balancer does: terraform's values, within DigitalOcean's minimums", () => {
    expect(check).toEqual({
      protocol: 'http',
      port: 80,
      path: '/healthz',
      check_interval_seconds: 3,
      response_timeout_seconds: 3,
      unhealthy_threshold: 2,
      healthy_threshold: 2,
    });
    const cfg = haproxyConfig(plan, check);
    expect(cfg).toContain('    timeout check 3s\n');
    expect(cfg).toContain('    option httpchk GET /healthz\n    default-server inter 3s fall 2 rise 2\n');
    expect(cfg.match(/server shop-wp-0\d 10\.\d+\.\d+\.\d+:80 check port 80\n/g)).toHaveLength(3);
    // What the DigitalOcean API would refuse is refused here, naming the file.
    const bad = (change: Record<string, unknown>) => () => parseLbHealthcheck(JSON.stringify({ ...check, ...change }));
    expect(bad({ check_interval_seconds: 1 })).toThrow(`${LB_HEALTHCHECK_FILE}: check_interval_seconds must be a whole number from 3 to 300`);
    expect(bad({ unhealthy_threshold: 1 })).toThrow('unhealthy_threshold must be a whole number from 2 to 10');
    expect(bad({ path: 'healthz' })).toThrow('path must be an absolute URL path');
    expect(() => parseLbHealthcheck('{')).toThrow(/is not JSON/);
  });
});
