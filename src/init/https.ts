/**
 * init's HTTPS step (docs/https.md): which certificate the load balancer
 * gets, decided from --tls, --domain, the certificate files and the
 * account's DigitalOcean DNS domains, with the line init prints about it.
 */
import { promises as fs } from 'node:fs';
import { UsageError } from '../errors.js';
import type { Values } from '../settings/table.js';
import { checkTlsFiles, type TlsBundle } from '../validation/tls.js';

/** lab: the local target's stand-in load balancer, with the lab CA's certificate (src/lab/tls.ts). */
export type TlsMode = 'none' | 'lets_encrypt' | 'custom' | 'lab';

export interface HttpsPlan {
  tls: TlsMode;
  /** The account's DNS domain that holds the site's name: up makes its A record there. */
  zone?: string;
  /** The user's certificate, checked (custom only). */
  bundle?: TlsBundle;
  /** What init says about it: one line, and whether it is a warning. */
  say: { line: string; warn: boolean };
  /** A certificate that expires soon. */
  expiryWarning?: string;
}

export interface HttpsInput {
  domain?: string;
  /** --tls: auto, lets_encrypt, custom or none. */
  tls: string;
  certificate?: string;
  key?: string;
  chain?: string;
  /** The account's DNS domains (asked only when needed). */
  zones: () => Promise<string[]>;
  readFile?: (path: string) => Promise<string>;
  now?: Date;
}

/** The longest of the account's domains that is `domain` or a parent of it. */
export function zoneOf(domain: string, zones: readonly string[]): string | undefined {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return zones
    .map((z) => z.toLowerCase().replace(/\.$/, ''))
    .filter((z) => name === z || name.endsWith(`.${z}`))
    .sort((a, b) => b.length - a.length)[0];
}

const NOT_IN_DNS = (d: string) =>
  `--domain: ${d} is not in this account's DigitalOcean DNS, so DigitalOcean cannot get it a Let's Encrypt certificate: ` +
  'add its domain there (Networking → Domains, then point the registrar at ns1, ns2 and ns3.digitalocean.com), ' +
  'or give your own certificate with --tls-certificate and --tls-key; --tls none keeps the site on plain HTTP';

/** What init and every up say about a site without HTTPS. */
export function httpOnlyWarning(domain: string | undefined): string {
  return domain
    ? 'HTTP only (--tls none): logins and cookies cross the internet in clear; ' +
        `HTTPS needs ${domain} in DigitalOcean DNS, or --tls-certificate and --tls-key (run init again)`
    : "HTTP only: no --domain, so the site answers on the load balancer's IP and logins cross the internet in clear; HTTPS needs a domain " +
        "(in DigitalOcean DNS for a free Let's Encrypt certificate, or your own with --tls-certificate and --tls-key)";
}

export async function planHttps(i: HttpsInput): Promise<HttpsPlan> {
  const domain = i.domain?.toLowerCase().replace(/\.$/, '') || undefined;
  const files = i.certificate !== undefined || i.key !== undefined || i.chain !== undefined;
  const mode = i.tls;

  if (mode === 'none') {
    if (files) throw new UsageError('--tls-certificate: --tls none serves plain HTTP; leave out the certificate files, or use --tls custom');
    return { tls: 'none', say: { warn: true, line: httpOnlyWarning(domain) } };
  }
  if (!domain) {
    if (mode !== 'auto') throw new UsageError(`--tls ${mode}: a certificate is for a domain; give --domain too`);
    if (files) throw new UsageError('--tls-certificate: a certificate is for a domain; give --domain too');
    return planHttps({ ...i, tls: 'none' });
  }
  if (mode === 'lets_encrypt' && files)
    throw new UsageError("--tls-certificate: --tls lets_encrypt uses DigitalOcean's certificate; leave out the certificate files, or use --tls custom");

  const zone = zoneOf(domain, await i.zones());
  if (mode === 'lets_encrypt' || (mode === 'auto' && !files)) {
    if (!zone) throw new UsageError(NOT_IN_DNS(domain));
    return {
      tls: 'lets_encrypt',
      zone,
      say: {
        warn: false,
        line:
          `HTTPS: a Let's Encrypt certificate for ${domain}, made and renewed by DigitalOcean ` +
          `(${zone} is in your DigitalOcean DNS); up adds the A record there`,
      },
    };
  }

  // custom, or auto with the files
  if (i.certificate === undefined || i.key === undefined)
    throw new UsageError(`--tls-${i.certificate === undefined ? 'certificate' : 'key'}: your own certificate needs both --tls-certificate and --tls-key`);
  const read = i.readFile ?? ((p: string) => fs.readFile(p, 'utf8'));
  const load = async (flag: string, p: string) => {
    try {
      return { path: p, text: await read(p) };
    } catch (e) {
      throw new UsageError(`--${flag}: cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const checked = checkTlsFiles(
    {
      certificate: await load('tls-certificate', i.certificate),
      key: await load('tls-key', i.key),
      ...(i.chain !== undefined ? { chain: await load('tls-chain', i.chain) } : {}),
    },
    domain,
    i.now,
  );
  if (!checked.ok) throw new UsageError(`--${checked.flag}: ${checked.problem}`);
  const until = checked.bundle.notAfter.toISOString().slice(0, 10);
  const dns = zone ? `up adds the A record in your DigitalOcean DNS (${zone})` : `point ${domain} (an A record) at the load balancer's IP, which up prints`;
  return {
    tls: 'custom',
    ...(zone ? { zone } : {}),
    bundle: checked.bundle,
    say: { warn: false, line: `HTTPS: your certificate for ${domain} (valid until ${until}); ${dns}` },
    ...(checked.warning ? { expiryWarning: checked.warning } : {}),
  };
}

/** The values planHttps reads, from init's settled settings (file names already absolute). */
export function httpsInput(v: Values, zones: () => Promise<string[]>): HttpsInput {
  return {
    ...(v.domain ? { domain: v.domain } : {}),
    tls: v.tls ?? 'auto',
    ...(v.tlsCertificate ? { certificate: v.tlsCertificate } : {}),
    ...(v.tlsKey ? { key: v.tlsKey } : {}),
    ...(v.tlsChain ? { chain: v.tlsChain } : {}),
    zones,
  };
}

/** The local target: HTTPS with the lab CA whenever there is a domain (its default is <project>.test). */
export function labHttps(domain: string | undefined): HttpsPlan {
  if (!domain) return { tls: 'none', say: { warn: true, line: httpOnlyWarning(undefined) } };
  return {
    tls: 'lab',
    say: { warn: false, line: `HTTPS: the lab's load balancer serves ${domain} with a certificate from the lab's own CA (up prints the CA file)` },
  };
}
