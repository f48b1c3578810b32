/**
 * Finding, reading, fingerprinting and generating the project's SSH key
 * (the ssh2 library; no ssh-keygen needed). Only the public half ever leaves
 * this machine.
 */
import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';

export interface KeyInfo {
  /** Absolute path of the private key. */
  path: string;
  /** "<type> <base64>" plus a comment: what DigitalOcean stores. */
  publicKey: string;
  /** MD5 fingerprint as DigitalOcean shows it (aa:bb:…). */
  fingerprint: string;
  type: string;
  /** The private key needs a passphrase: `up` must get it from ssh-agent. */
  encrypted: boolean;
}

const SUPPORTED = new Set(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']);

export function expandHome(p: string, home = os.homedir()): string {
  return p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}

/** MD5 over the key blob, the format DigitalOcean's API uses for fingerprints. */
export function md5Fingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error('not an OpenSSH public key line');
  const hex = createHash('md5').update(Buffer.from(blob, 'base64')).digest('hex');
  return hex.match(/../g)!.join(':');
}

/** The first of ~/.ssh/id_ed25519 and ~/.ssh/id_rsa that exists. */
export async function findDefaultKey(home = os.homedir()): Promise<string | undefined> {
  for (const name of ['id_ed25519', 'id_rsa']) {
    const p = path.join(home, '.ssh', name);
    try {
      await fs.access(p, constants.R_OK);
      return p;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

async function ssh2Utils() {
  const mod = await import('ssh2');
  return (mod.default ?? mod).utils;
}

function publicLine(type: string, blob: Buffer, comment: string): string {
  return `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/**
 * Reads a private key. A passphrase-protected key is accepted when its .pub
 * sits beside it (the public half is all init needs); `up` will then use
 * ssh-agent, and the caller tells the user so.
 */
export async function readKey(keyPath: string, flag = '--ssh-key'): Promise<KeyInfo> {
  const abs = path.resolve(keyPath);
  let data: Buffer;
  try {
    data = await fs.readFile(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${flag}: ${abs} does not exist; give the path of a private key, e.g. ~/.ssh/id_ed25519`, 2);
    if (code === 'EISDIR') throw new UserError(`${flag}: ${abs} is a directory; give the path of a private key file`, 2);
    throw new UserError(`${flag}: cannot read ${abs} (${code}); check its permissions`, 2);
  }
  const text = data.toString('utf8');
  if (/^(ssh-|ecdsa-)\S+ \S+/.test(text.trim())) throw new UserError(`${flag}: ${abs} is a public key; give the private key (the same path without .pub)`, 2);
  const utils = await ssh2Utils();
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    if (!/passphrase|encrypted/i.test(parsed.message))
      throw new UserError(`${flag}: ${abs} is not a private key ssh2 can read (${parsed.message}); use an OpenSSH ed25519 or RSA key`, 2);
    let pub: string;
    try {
      pub = (await fs.readFile(`${abs}.pub`, 'utf8')).trim();
    } catch {
      throw new UserError(
        `${flag}: ${abs} is protected by a passphrase and has no ${path.basename(abs)}.pub beside it; ` +
          `run \`ssh-keygen -y -f ${abs} > ${abs}.pub\` (asks the passphrase once) and run init again`,
        2,
      );
    }
    const pubKey = utils.parseKey(pub);
    if (pubKey instanceof Error) throw new UserError(`${flag}: ${abs}.pub is not a valid public key (${pubKey.message})`, 2);
    const key = Array.isArray(pubKey) ? pubKey[0]! : pubKey;
    return finish(abs, key.type, key.getPublicSSH(), key.comment, true, flag);
  }
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  if (!key.isPrivateKey()) throw new UserError(`${flag}: ${abs} holds no private key`, 2);
  return finish(abs, key.type, key.getPublicSSH(), key.comment || `${os.userInfo().username}@${os.hostname()}`, false, flag);
}

/** Below this, an RSA key is factorable with public means; OpenSSH refuses to make one, ssh2 still reads it. */
export const MIN_RSA_BITS = 2048;
const NEW_KEY_FIX = 'create an ed25519 key (`ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519`) and give it with --ssh-key';

/** The modulus size of an "ssh-rsa" public blob: string type, mpint e, mpint n. */
export function rsaBits(blob: Buffer): number {
  let at = 0;
  const field = () => {
    const len = blob.readUInt32BE(at);
    const value = blob.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return value;
  };
  field();
  field();
  const n = field();
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return i === n.length ? 0 : (n.length - i) * 8 - (Math.clz32(n[i]!) - 24);
}

function finish(abs: string, type: string, blob: Buffer, comment: string, encrypted: boolean, flag: string): KeyInfo {
  if (type === 'ssh-dss') throw new UserError(`${flag}: ${abs} is a DSA key, which OpenSSH no longer accepts; ${NEW_KEY_FIX}`, 2);
  if (!SUPPORTED.has(type)) throw new UserError(`${flag}: ${type} keys are not accepted by DigitalOcean; use an ed25519 or RSA key`, 2);
  const bits = type === 'ssh-rsa' ? rsaBits(blob) : undefined;
  if (bits !== undefined && bits < MIN_RSA_BITS)
    throw new UserError(`${flag}: ${abs} is a ${bits}-bit RSA key, too weak (at least ${MIN_RSA_BITS} bits); ${NEW_KEY_FIX}`, 2);
  const line = publicLine(type, blob, comment.replace(/\s+/g, '_'));
  return { path: abs, publicKey: line, fingerprint: md5Fingerprint(line), type, encrypted };
}

/** OpenSSH refuses private keys others can read; say so now rather than at `up`. */
export async function permissionProblem(keyPath: string): Promise<string | undefined> {
  const st = await fs.stat(keyPath);
  return (st.mode & 0o077) !== 0
    ? `${keyPath} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); ssh will refuse it: run \`chmod 600 ${keyPath}\``
    : undefined;
}

/**
 * A new pair in OpenSSH format (ed25519 unless asked otherwise). ssh2's
 * generator now and then (about 1 in 300) drops the leading zero byte of the
 * public key, which makes both halves unreadable (ssh-keygen: "error in
 * libcrypto"): such a pair is never returned, a new one is made. The tests make
 * their keys here too, for the same reason.
 */
export async function newKeyPair(
  comment: string,
  opts: { type?: 'ed25519' | 'ecdsa'; passphrase?: string } = {},
): Promise<{ private: string; public: string }> {
  const utils = await ssh2Utils();
  const { type = 'ed25519', passphrase } = opts;
  for (;;) {
    const base = type === 'ecdsa' ? { comment, bits: 256 } : { comment };
    const pair = passphrase
      ? utils.generateKeyPairSync(type, { ...base, passphrase, cipher: 'aes256-ctr', rounds: 16 })
      : utils.generateKeyPairSync(type, base);
    if (!(utils.parseKey(pair.private, passphrase) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}

/** Writes a new ed25519 pair; refuses to replace an existing file. */
export async function generateKey(keyPath: string, comment: string): Promise<KeyInfo> {
  const pair = await newKeyPair(comment);
  await fs.mkdir(path.dirname(keyPath), { recursive: true, mode: 0o700 });
  // 'wx': fail rather than overwrite a key someone already has.
  await fs.writeFile(keyPath, pair.private, { mode: 0o600, flag: 'wx' });
  await fs.writeFile(`${keyPath}.pub`, pair.public.trim() + '\n', { mode: 0o644, flag: 'wx' });
  return readKey(keyPath);
}
