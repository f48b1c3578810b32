/**
 * Ansible Vault format 1.1 (AES256), as ansible-core's
 * lib/ansible/parsing/vault implements it:
 *   key material = PBKDF2-HMAC-SHA256(password, 32-byte salt, 10000 iterations, 80 bytes)
 *     → AES key [0,32), HMAC key [32,64), CTR initial counter [64,80)
 *   ciphertext = AES-256-CTR(PKCS#7-padded plaintext)
 *   hmac = HMAC-SHA256(HMAC key, ciphertext)
 *   body = hex(hex(salt) "\n" hex(hmac) "\n" hex(ciphertext)), in 80-column lines
 * under the header "$ANSIBLE_VAULT;1.1;AES256".
 */
import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

const HEADER = '$ANSIBLE_VAULT;1.1;AES256';

function deriveKeys(password: string, salt: Buffer) {
  const material = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, 10000, 80, 'sha256');
  return { key: material.subarray(0, 32), hmacKey: material.subarray(32, 64), iv: material.subarray(64, 80) };
}

/** Ansible strips surrounding whitespace from a password read from a file; do the same everywhere. */
export function normaliseVaultPassword(raw: string): string {
  return raw.trim();
}

export function isVaultText(text: string): boolean {
  return text.startsWith('$ANSIBLE_VAULT;');
}

export function encryptVault(plaintext: string, password: string): string {
  const salt = randomBytes(32);
  const { key, hmacKey, iv } = deriveKeys(password, salt);
  const data = Buffer.from(plaintext, 'utf8');
  const pad = 16 - (data.length % 16);
  const padded = Buffer.concat([data, Buffer.alloc(pad, pad)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([cipher.update(padded), cipher.final()]);
  const hmac = createHmac('sha256', hmacKey).update(ciphertext).digest();
  const inner = [salt.toString('hex'), hmac.toString('hex'), ciphertext.toString('hex')].join('\n');
  const body = Buffer.from(inner, 'utf8').toString('hex');
  const lines = body.match(/.{1,80}/g) ?? [];
  return [HEADER, ...lines].join('\n') + '\n';
}

export class VaultError extends Error {
  /** 'wrong-password': the HMAC does not match; 'damaged': the file is not a readable vault. */
  constructor(
    message: string,
    readonly code: 'wrong-password' | 'damaged' = 'damaged',
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

export function decryptVault(vaultText: string, password: string): string {
  const lines = vaultText.trim().split(/\r?\n/);
  const header = (lines.shift() ?? '').split(';').map((s) => s.trim());
  if (header[0] !== '$ANSIBLE_VAULT' || header[2] !== 'AES256' || (header[1] !== '1.1' && header[1] !== '1.2'))
    throw new VaultError('not an ansible-vault 1.1/1.2 AES256 file');
  const inner = Buffer.from(lines.join('').trim(), 'hex').toString('utf8').split('\n');
  if (inner.length !== 3) throw new VaultError('the vault file is damaged');
  const [saltHex, hmacHex, ctHex] = inner as [string, string, string];
  const salt = Buffer.from(saltHex, 'hex');
  const expected = Buffer.from(hmacHex, 'hex');
  const ciphertext = Buffer.from(ctHex, 'hex');
  const { key, hmacKey, iv } = deriveKeys(password, salt);
  const actual = createHmac('sha256', hmacKey).update(ciphertext).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual))
    throw new VaultError('the vault password is wrong (or the file was changed)', 'wrong-password');
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const pad = padded[padded.length - 1] ?? 0;
  if (pad < 1 || pad > 16) throw new VaultError('the vault file is damaged (bad padding)');
  return padded.subarray(0, padded.length - pad).toString('utf8');
}
