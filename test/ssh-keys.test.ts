import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { UserError } from '../src/errors.js';
import { findDefaultKey, generateKey, md5Fingerprint, newKeyPair, permissionProblem, readKey, rsaBits } from '../src/ssh/keys.js';
import { runCli, tempDir } from './support/cli.js';
import { budget, missing, needs, runToolSync, skipWhen } from './support/tools.js';

/** Why a DSA key cannot be made here: OpenSSH 9.8 and later are built without DSA. */
function dsaKeygen(): string | undefined {
  const why = missing('ssh-keygen');
  if (why) return why;
  const dir = tempDir('hawp-dsa-');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'dsa', '-N', '', '-f', path.join(dir, 'probe')], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `this ssh-keygen makes no DSA keys (${(r.stderr || '').trim().split('\n')[0]})`;
}

const pair = (passphrase?: string) => newKeyPair('me@test', { passphrase });

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

  needs('ssh-keygen').it(
    'refuses an RSA key under 2048 bits (also through its .pub when passphrase-protected) and accepts 2048, naming the flag and the ed25519 fix',
    async () => {
      const dir = tempDir('hawp-ssh-');
      const weak = path.join(dir, 'rsa1024');
      runToolSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', weak]);
      const err = (await readKey(weak).catch((e: unknown) => e)) as UserError;
      expect(err).toBeInstanceOf(UserError);
      expect(err.exitCode).toBe(2);
      expect(err.message.split('\n')).toHaveLength(1);
      expect(err.message).toMatch(/^--ssh-key: .*rsa1024 is a 1024-bit RSA key, too weak \(at least 2048 bits\); /);
      expect(err.message).toMatch(/; create an ed25519 key \(`ssh-keygen -t ed25519 -f ~\/.ssh\/id_ed25519`\) and give it with --ssh-key$/);

      const locked = path.join(dir, 'rsa1024-locked');
      runToolSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', 'a passphrase', '-f', locked]);
      await expect(readKey(locked)).rejects.toThrow(/is a 1024-bit RSA key, too weak/);

      const ok = path.join(dir, 'rsa2048');
      runToolSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', ok]);
      expect(await readKey(ok)).toMatchObject({ type: 'ssh-rsa' });
      expect(rsaBits(Buffer.from(readFileSync(`${ok}.pub`, 'utf8').split(' ')[1]!, 'base64'))).toBe(2048);
    },
    budget({ other: 6 }),
  );

  skipWhen(dsaKeygen()).it('refuses a DSA key, naming the flag and the ed25519 fix', async () => {
    const dir = tempDir('hawp-ssh-');
    const dsa = path.join(dir, 'id_dsa');
    runToolSync('ssh-keygen', ['-q', '-t', 'dsa', '-N', '', '-f', dsa]);
    await expect(readKey(dsa)).rejects.toThrow(/^--ssh-key: .*id_dsa is a DSA key, which OpenSSH no longer accepts; create an ed25519 key/);
  });

  needs('ssh-keygen').it(
    'init refuses a weak key before writing anything: exit 2, one line',
    async () => {
      const dir = tempDir('hawp-ssh-');
      const weak = path.join(dir, 'rsa1024');
      runToolSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', weak]);
      const pw = path.join(dir, 'pw');
      writeFileSync(pw, 'a long vault password\n');
      const ws = path.join(dir, 'lab');
      const r = await runCli(['init', '--target', 'local', '--non-interactive', '--dir', ws, '--vault-password-file', pw, '--ssh-key', weak], {
        env: { HOME: dir },
      });
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(/^error: --ssh-key: .* is a 1024-bit RSA key/)]);
      expect(existsSync(ws)).toBe(false);
    },
    budget({ other: 3, cli: 1 }),
  );

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
