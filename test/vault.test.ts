import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptVault, encryptVault } from '../src/secrets/vault.js';
import { ansibleVaultDecrypt, budget, needs, runToolSync } from './support/tools.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-vault-'));
const samples = ['', 'a: 1\n', 'exactly sixteen!', 'ünïcødé: "ok ✓"\nquote: "it\'s \\"x\\""\n', 'x'.repeat(1000)];

describe('ansible-vault 1.1 format', () => {
  it('round-trips in process, with a fresh salt every time', () => {
    for (const text of samples) {
      const a = encryptVault(text, 'pw-123456');
      expect(a.split('\n')[0]).toBe('$ANSIBLE_VAULT;1.1;AES256');
      expect(
        a
          .split('\n')
          .slice(1, -1)
          .every((l) => l.length <= 80 && /^[0-9a-f]+$/.test(l)),
      ).toBe(true);
      expect(decryptVault(a, 'pw-123456')).toBe(text);
      expect(encryptVault(text, 'pw-123456')).not.toBe(a);
    }
  });

  it('refuses a wrong password and a tampered file', () => {
    const a = encryptVault('secret: 1\n', 'right-password');
    expect(() => decryptVault(a, 'wrong-password')).toThrow(/password is wrong/);
    const lines = a.split('\n');
    const last = lines.length - 2;
    lines[last] = lines[last]!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    expect(() => decryptVault(lines.join('\n'), 'right-password')).toThrow();
  });

  needs('ansible-vault').it(
    'real ansible-vault decrypts what we encrypt (password file with trailing newline, as Ansible strips it)',
    () => {
      const pwFile = path.join(dir, 'pw');
      writeFileSync(pwFile, 'correct horse battery staple ✓\n');
      // (ansible-vault view prints an empty plaintext as a blank line, so '' is left out here.)
      for (const [i, text] of samples.filter((t) => t !== '').entries()) {
        const f = path.join(dir, `ours-${i}.yml`);
        writeFileSync(f, encryptVault(text, 'correct horse battery staple ✓'));
        expect(ansibleVaultDecrypt(f, pwFile)).toBe(text);
      }
    },
    budget({ 'ansible-vault': 4 }),
  );

  needs('ansible-vault').it(
    'we decrypt what real ansible-vault encrypts',
    () => {
      const pwFile = path.join(dir, 'pw2');
      writeFileSync(pwFile, 'another-password\n');
      const f = path.join(dir, 'theirs.yml');
      const text = 'vault_x: "ünïcødé {{ not templated here }}"\n';
      writeFileSync(f, text);
      runToolSync('ansible-vault', ['encrypt', '--vault-password-file', pwFile, f]);
      expect(readFileSync(f, 'utf8')).toMatch(/^\$ANSIBLE_VAULT;1\.1;AES256\n/);
      expect(decryptVault(readFileSync(f, 'utf8'), 'another-password')).toBe(text);
    },
    budget({ 'ansible-vault': 1 }),
  );
});
