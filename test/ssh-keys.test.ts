import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findDefaultKey, generateKey, md5Fingerprint, newKeyPair, permissionProblem, readKey } from '../src/ssh/keys.js';
import { tempDir } from './support/cli.js';
import { budget, needs, runToolSync } from './support/tools.js';

async function pair(passphrase?: string) {
  const { utils } = (await import('ssh2')).default;
  return passphrase ? utils.generateKeyPairSync('ed25519', { comment: 'me@test', passphrase, cipher: 'aes256-ctr', rounds: 16 }) : newKeyPair('me@test');
}

describe('SSH keys', () => {
  needs('ssh-keygen').it(
    'MD5 fingerprints match ssh-keygen for ed25519 and RSA',
    () => {
      const dir = tempDir('hawp-ssh-');
      for (const type of ['ed25519', 'rsa']) {
        const f = path.join(dir, type);
        runToolSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f]);
        const want = runToolSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${f}.pub`])
          .stdout.split(' ')[1]!
          .replace(/^MD5:/, '');
        const pub = runToolSync('ssh-keygen', ['-y', '-f', f]).stdout;
        expect(md5Fingerprint(pub)).toBe(want);
      }
    },
    budget({ other: 6 }),
  );

  it('every new key pair is readable: 1500 pairs, both halves parse (ssh2 alone drops a leading zero byte about 1 in 300)', async () => {
    const { utils } = (await import('ssh2')).default;
    for (let i = 0; i < 1500; i++) {
      const kp = await newKeyPair('me@test');
      expect(utils.parseKey(kp.private)).not.toBeInstanceOf(Error);
      expect(utils.parseKey(kp.public)).not.toBeInstanceOf(Error);
    }
  });

  it('reads a private key and derives the public line DigitalOcean stores', async () => {
    const dir = tempDir('hawp-ssh-');
    const kp = await pair();
    const f = path.join(dir, 'id_ed25519');
    writeFileSync(f, kp.private, { mode: 0o600 });
    const key = await readKey(f);
    expect(key).toMatchObject({ type: 'ssh-ed25519', encrypted: false, path: f });
    expect(key.publicKey.split(' ').slice(0, 2).join(' ')).toBe(kp.public.trim().split(' ').slice(0, 2).join(' '));
    expect(key.fingerprint).toBe(md5Fingerprint(kp.public));
  });

  it('a passphrase-protected key without .pub says how to proceed; with .pub it is used via ssh-agent', async () => {
    const dir = tempDir('hawp-ssh-');
    const kp = await pair('secret passphrase');
    const f = path.join(dir, 'id_ed25519');
    writeFileSync(f, kp.private, { mode: 0o600 });
    await expect(readKey(f)).rejects.toThrow(/--ssh-key: .* is protected by a passphrase and has no id_ed25519\.pub beside it; run `ssh-keygen -y -f/);
    writeFileSync(`${f}.pub`, kp.public);
    const key = await readKey(f);
    expect(key.encrypted).toBe(true);
    expect(key.fingerprint).toBe(md5Fingerprint(kp.public));
  });

  it('refuses a public key, a missing file and garbage, naming the flag', async () => {
    const dir = tempDir('hawp-ssh-');
    const kp = await pair();
    writeFileSync(path.join(dir, 'k.pub'), kp.public);
    writeFileSync(path.join(dir, 'junk'), 'not a key at all');
    await expect(readKey(path.join(dir, 'k.pub'))).rejects.toThrow(/--ssh-key: .* is a public key; give the private key/);
    await expect(readKey(path.join(dir, 'nope'))).rejects.toThrow(/--ssh-key: .* does not exist/);
    await expect(readKey(path.join(dir, 'junk'))).rejects.toThrow(/--ssh-key: .* is not a private key/);
  });

  it('finds ~/.ssh/id_ed25519 before id_rsa, and generates a new pair without overwriting', async () => {
    const home = tempDir('hawp-home-');
    expect(await findDefaultKey(home)).toBeUndefined();
    mkdirSync(path.join(home, '.ssh'));
    writeFileSync(path.join(home, '.ssh', 'id_rsa'), 'x');
    expect(await findDefaultKey(home)).toBe(path.join(home, '.ssh', 'id_rsa'));
    const key = await generateKey(path.join(home, '.ssh', 'id_ed25519'), 'shop@ha-wordpress');
    expect(key.type).toBe('ssh-ed25519');
    expect(await findDefaultKey(home)).toBe(path.join(home, '.ssh', 'id_ed25519'));
    await expect(generateKey(path.join(home, '.ssh', 'id_ed25519'), 'again')).rejects.toThrow(/EEXIST/);
  });

  it('warns about a private key other users can read (ssh would refuse it)', async () => {
    const dir = tempDir('hawp-ssh-');
    const f = path.join(dir, 'k');
    writeFileSync(f, (await pair()).private, { mode: 0o600 });
    expect(await permissionProblem(f)).toBeUndefined();
    chmodSync(f, 0o644);
    expect(await permissionProblem(f)).toMatch(/chmod 600/);
  });
});
