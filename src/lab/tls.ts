/**
 * HTTPS in the lab (docs/https.md, "The local target"): the stand-in load
 * balancer terminates TLS for the site's domain, as DigitalOcean's does with
 * a Let's Encrypt certificate, with a certificate from a certificate
 * authority made for this lab. The CA's certificate is what a user gives
 * curl (--cacert) or trusts in a browser; its key stays in the lab's state
 * directory (0600), which only root reads.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { issue, newCa, type KeyPair } from '../secrets/pki.js';
import { labDir } from './dirs.js';

/** The lab CA lives as long as the lab; the site's certificate is made again when it nears its end or the domain changes. */
const CA_DAYS = 3650;
const LEAF_DAYS = 397;
const RENEW_DAYS = 30;

export interface LabTls {
  /** The lab CA's certificate (PEM): what verifies the site. */
  caCert: string;
  /** The site's certificate followed by its key, as HAProxy's `crt` reads it. */
  haproxyPem: string;
}

const files = (labId: string) => {
  const dir = path.join(labDir(labId), 'tls');
  return { dir, caCert: path.join(dir, 'ca.pem'), caKey: path.join(dir, 'ca.key'), site: path.join(dir, 'site.pem') };
};

/** The lab's CA (made on first use) and a current certificate for `domain` signed by it. */
export async function ensureLabTls(labId: string, domain: string, now = new Date()): Promise<LabTls> {
  const f = files(labId);
  await fs.mkdir(f.dir, { recursive: true, mode: 0o700 });
  let ca = await readPair(f.caCert, f.caKey);
  if (!ca) {
    ca = await newCa(`ha-wordpress lab ${labId} CA`, CA_DAYS);
    await fs.writeFile(f.caKey, ca.key, { mode: 0o600 });
    await fs.writeFile(f.caCert, ca.cert, { mode: 0o644 });
  }
  const current = await fs.readFile(f.site, 'utf8').catch(() => undefined);
  if (current && stillGood(current, ca.cert, domain, now)) return { caCert: ca.cert, haproxyPem: current };
  const leaf = await issue(ca, { commonName: domain, dns: [domain], usage: ['serverAuth'] }, LEAF_DAYS);
  const pem = leaf.cert + leaf.key;
  await fs.writeFile(f.site, pem, { mode: 0o600 });
  return { caCert: ca.cert, haproxyPem: pem };
}

async function readPair(certFile: string, keyFile: string): Promise<KeyPair | undefined> {
  const [cert, key] = await Promise.all([fs.readFile(certFile, 'utf8').catch(() => undefined), fs.readFile(keyFile, 'utf8').catch(() => undefined)]);
  return cert && key ? { cert, key } : undefined;
}

/** The stored certificate is this CA's, for exactly this domain, and not within RENEW_DAYS of its end. */
function stillGood(pem: string, caCert: string, domain: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(pem);
    const ca = new X509Certificate(caCert);
    return (
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      cert.checkHost(domain, { wildcards: false }) === domain &&
      Date.parse(cert.validTo) - now.getTime() > RENEW_DAYS * 86_400_000
    );
  } catch {
    return false;
  }
}
