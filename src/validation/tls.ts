/**
 * The site's own certificate (--tls-certificate, --tls-key, --tls-chain),
 * checked before anything is written: every file parses, the key is the
 * certificate's and has no passphrase, the certificate covers the domain,
 * is valid now, and the chain issues it. DigitalOcean's load balancer would
 * take most of these and fail later, or serve a browser warning.
 * See docs/https.md.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

/** The PEM texts as read from the files, and the paths they came from (for the messages). */
export interface TlsFiles {
  certificate: { path: string; text: string };
  key: { path: string; text: string };
  chain?: { path: string; text: string };
}

/** What DigitalOcean's custom certificate takes: the leaf, its key, the chain (may be empty). */
export interface TlsBundle {
  leaf: string;
  key: string;
  chain: string;
  /** The names the certificate covers, for the summary. */
  names: string[];
  notAfter: Date;
}

export type TlsResult = { ok: true; bundle: TlsBundle; warning?: string } | { ok: false; flag: string; problem: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const WARN_DAYS = 30;
const DAY_MS = 86_400_000;

/** The certificates in a PEM text, in order; [] when there is none. */
export function pemCertificates(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((c) => `${c}\n`);
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** The DNS names a certificate covers (its subjectAltName, else its CN), for messages. */
export function coveredNames(cert: X509Certificate): string[] {
  const alt = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((x) => x.startsWith('DNS:'))
    .map((x) => x.slice(4));
  if (alt.length) return alt;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn] : [];
}

const day = (d: Date) => d.toISOString().slice(0, 10);

export function checkTlsFiles(files: TlsFiles, domain: string, now: Date = new Date()): TlsResult {
  const fail = (flag: string, problem: string): TlsResult => ({ ok: false, flag, problem });
  const certs = pemCertificates(files.certificate.text);
  const leaf = certs[0] ? parse(certs[0]) : undefined;
  if (!leaf) return fail('tls-certificate', `${files.certificate.path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (leaf.ca)
    return fail(
      'tls-certificate',
      `${files.certificate.path} starts with a CA certificate (${leaf.subject.replace(/\n/g, ', ')}): put the site's own certificate first`,
    );

  // A full chain in the certificate file (certbot's fullchain.pem) is the leaf, then the chain.
  let chainPems = certs.slice(1);
  if (files.chain) {
    const given = pemCertificates(files.chain.text);
    if (!given.length) return fail('tls-chain', `${files.chain.path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    if (chainPems.length)
      return fail(
        'tls-chain',
        `${files.certificate.path} already holds a chain after the certificate: give either that file alone or the certificate and --tls-chain`,
      );
    chainPems = given;
  }
  const chainFile = files.chain?.path ?? files.certificate.path;
  const chain: X509Certificate[] = [];
  for (const [i, pem] of chainPems.entries()) {
    const c = parse(pem);
    if (!c) return fail(files.chain ? 'tls-chain' : 'tls-certificate', `certificate ${i + 1} of the chain in ${chainFile} does not parse`);
    chain.push(c);
  }
  if (chain[0] && !leaf.checkIssued(chain[0]))
    return fail(
      files.chain ? 'tls-chain' : 'tls-certificate',
      `the chain in ${chainFile} does not start with the issuer of the certificate (${leaf.issuer.replace(/\n/g, ', ')})`,
    );

  let key: KeyObject;
  try {
    key = createPrivateKey({ key: files.key.text, format: 'pem' });
  } catch (e) {
    const why = (e as Error).message;
    if (/passphrase/i.test(why) || /ENCRYPTED/.test(files.key.text))
      return fail(
        'tls-key',
        `${files.key.path} is protected by a passphrase, which a load balancer cannot type: ` +
          `write it without one (openssl pkey -in ${files.key.path} -out site.key)`,
      );
    return fail('tls-key', `${files.key.path} holds no PEM private key`);
  }
  if (!leaf.checkPrivateKey(key)) return fail('tls-key', `${files.key.path} is not the key of the certificate in ${files.certificate.path}`);

  const names = coveredNames(leaf);
  const host = domain.replace(/\.$/, '');
  if (!leaf.checkHost(host, { subject: 'default', wildcards: true }))
    return fail('tls-certificate', `${files.certificate.path} covers ${names.join(', ') || 'no DNS name'}, not ${host}: give a certificate for ${host}`);

  const from = new Date(leaf.validFrom);
  const to = new Date(leaf.validTo);
  if (to.getTime() <= now.getTime()) return fail('tls-certificate', `${files.certificate.path} expired on ${day(to)}: renew it, then run init again`);
  if (from.getTime() > now.getTime()) return fail('tls-certificate', `${files.certificate.path} is valid only from ${day(from)}`);
  const daysLeft = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
  const bundle: TlsBundle = {
    leaf: certs[0]!,
    key: files.key.text,
    chain: chainPems.join(''),
    names,
    notAfter: to,
  };
  return daysLeft < WARN_DAYS
    ? {
        ok: true,
        bundle,
        warning: `the certificate for ${host} expires on ${day(to)}, in ${daysLeft} day${daysLeft === 1 ? '' : 's'}: renew it and run init again before then`,
      }
    : { ok: true, bundle };
}
