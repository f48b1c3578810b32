/**
 * A small certificate authority, made with the openssl CLI (Node can verify
 * X.509 but not build it): the workspace's own CA for the cluster's internal
 * TLS, and the lab's stand-in for a public one. ECDSA P-256 keys and
 * SHA-256 signatures, which MariaDB, Galera, HAProxy and every TLS client
 * here accept.
 *
 * Keys never reach argv: openssl reads and writes them as files in a private
 * (0700) directory that is removed afterwards, and they come back as strings
 * for the caller to put in a vault.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';

const run = promisify(execFile);

export interface KeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8, no passphrase). */
  key: string;
}

export interface LeafRequest {
  commonName: string;
  /** DNS names of subjectAltName. */
  dns?: readonly string[];
  /** IP addresses of subjectAltName. */
  ips?: readonly string[];
  /** serverAuth, clientAuth or both (the default): a Galera node is both. */
  usage?: readonly ('serverAuth' | 'clientAuth')[];
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function inPrivateDir<T>(work: (file: (name: string) => string, openssl: (...args: string[]) => Promise<void>) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hawp-pki-'));
  await fs.chmod(dir, 0o700);
  const file = (name: string) => path.join(dir, name);
  const openssl = async (...args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', OPENSSL_CONF: '/dev/null' } });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new UserError('openssl was not found on PATH: install it (Debian/Ubuntu: apt install openssl)');
      throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`, { cause: err });
    }
  };
  try {
    return await work(file, openssl);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A self-signed certificate authority, valid for `days`. */
export function newCa(commonName: string, days: number): Promise<KeyPair> {
  return inPrivateDir(async (f, openssl) => {
    const ext = [
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
    ];
    await openssl('req', '-x509', ...EC, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', String(days), '-subj', subject(commonName), ...ext);
    return { cert: await fs.readFile(f('ca.pem'), 'utf8'), key: await fs.readFile(f('ca.key'), 'utf8') };
  });
}

/** A certificate signed by `ca` for the names and addresses asked, valid for `days`. */
export function issue(ca: KeyPair, req: LeafRequest, days: number): Promise<KeyPair> {
  return inPrivateDir(async (f, openssl) => {
    await fs.writeFile(f('ca.pem'), ca.cert, { mode: 0o600 });
    await fs.writeFile(f('ca.key'), ca.key, { mode: 0o600 });
    const alt = [...(req.dns ?? []).map((d) => `DNS:${d}`), ...(req.ips ?? []).map((ip) => `IP:${ip}`)];
    const usage = (req.usage ?? ['serverAuth', 'clientAuth']).join(',');
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyAgreement',
      `extendedKeyUsage=${usage}`,
      'authorityKeyIdentifier=keyid',
      ...(alt.length ? [`subjectAltName=${alt.join(',')}`] : []),
    ];
    await fs.writeFile(f('leaf.ext'), ext.join('\n') + '\n');
    await openssl('req', ...EC, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', subject(req.commonName));
    // A random serial: two leaves of one CA never share one.
    const serial = `0x${randomBytes(15).toString('hex')}`;
    const sign = ['-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', serial, '-days', String(days)];
    await openssl('x509', ...sign, '-sha256', '-extfile', f('leaf.ext'), '-out', f('leaf.pem'));
    return { cert: await fs.readFile(f('leaf.pem'), 'utf8'), key: await fs.readFile(f('leaf.key'), 'utf8') };
  });
}

/** `/CN=<name>`, with the characters openssl's -subj parser treats specially escaped. */
function subject(commonName: string): string {
  return `/CN=${commonName.replace(/[\\/+,=]/g, (c) => `\\${c}`)}`;
}
