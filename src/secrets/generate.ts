/**
 * Generated secrets use only [A-Za-z0-9]: no character of that alphabet is
 * special in YAML, Jinja, HCL, PHP strings, shell, MariaDB option files,
 * haproxy.cfg or keepalived.conf, so every generated value is safe in every
 * sink by construction (tests check many samples against the validators).
 */
import { randomBytes } from 'node:crypto';

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform random string over `alphabet` (rejection sampling: no modulo bias). */
export function randomString(length: number, alphabet = ALPHANUM): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** 32 alphanumerics ≈ 190 bits. */
export const password = (): string => randomString(32);

/** WordPress's eight keys and salts, 64 alphanumerics each (≈ 381 bits). */
export const WP_SALT_NAMES = [
  'AUTH_KEY',
  'SECURE_AUTH_KEY',
  'LOGGED_IN_KEY',
  'NONCE_KEY',
  'AUTH_SALT',
  'SECURE_AUTH_SALT',
  'LOGGED_IN_SALT',
  'NONCE_SALT',
] as const;
export type WpSalts = Record<(typeof WP_SALT_NAMES)[number], string>;

export function wpSalts(): WpSalts {
  return Object.fromEntries(WP_SALT_NAMES.map((n) => [n, randomString(64)])) as WpSalts;
}

/** keepalived uses only the first 8 characters of auth_pass, so generate exactly 8. */
export const keepalivedPass = (): string => randomString(8);

/** A token in DigitalOcean's format, for the local lab's stand-in API. */
export const labToken = (): string => 'dop_v1_' + randomBytes(32).toString('hex');

/** An access key in the shape of a Spaces one (20 upper-case letters and digits), for the lab's stand-in. */
export const s3AccessKeyId = (): string => randomString(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');

/** A secret key in the shape of a Spaces one (about 43 characters; alphanumeric keeps every sink safe). */
export const s3SecretKey = (): string => randomString(40);
