/**
 * How up judges the host keys its wait phase saw (src/ssh/wait.ts) and what
 * it remembers of the hosts it made anew (src/workspace/recreated.ts): the
 * pieces the end-to-end tests in up.host-keys.e2e.test.ts drive through the
 * CLI, here case by case.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { changedKeysError } from '../src/commands/up.js';
import { fingerprint, knownHosts, type KeyChange, type SeenKey } from '../src/ssh/wait.js';
import { forgetRecreated, markRecreated, readRecreated, RECREATED_FILE } from '../src/workspace/recreated.js';
import { needs } from './support/tools.js';

// Synchronous, as the describes below need their keys while they are collected;
// so it retries ssh2's unreadable pairs itself, as newKeyPair (src/ssh/keys.ts) does.
function hostKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): { line: string; pub: string } {
  for (;;) {
    const pair = type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519');
    const parsed = ssh2.utils.parseKey(pair.public);
    if (parsed instanceof Error || Array.isArray(parsed)) continue;
    return { line: `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`, pub: pair.public };
  }
}

const keys = { a: hostKey(), b: hostKey(), ecdsa: hostKey('ecdsa') };

const seen = (name: string, host: string, key: string, port = 22): SeenKey => ({ name, host, port, key });

describe('knownHosts', () => {
  const [a, b] = [keys.a.line, keys.b.line];

  it('a host whose address has no recorded key is new, not changed (trust on first use)', () => {
    const r = knownHosts([seen('shop-wp-01', '203.0.113.5', a)], `198.51.100.7 ${b}\n`);
    expect(r.changed).toEqual([]);
    expect(r.text).toBe(`203.0.113.5 ${a}\n`);
  });

  it('the same key again is no change', () => {
    expect(knownHosts([seen('shop-wp-01', '203.0.113.5', a)], `203.0.113.5 ${a}\n`).changed).toEqual([]);
  });

  it('another key at a recorded address is a change, with the old and the new key and the address as the user knows it', () => {
    const r = knownHosts([seen('shop-wp-01', '203.0.113.5', b), seen('shop-db-01', '127.0.0.1', a, 2222)], `203.0.113.5 ${a}\n[127.0.0.1]:2222 ${a}\n`);
    expect(r.changed).toEqual([{ name: 'shop-wp-01', address: '203.0.113.5', before: [a], now: b }]);
    // The text is what was seen: the caller decides whether to write it.
    expect(r.text).toBe(`203.0.113.5 ${b}\n[127.0.0.1]:2222 ${a}\n`);
  });

  it('a key of another type than the recorded one is a change too (an impostor need only offer ECDSA)', () => {
    const ecdsa = keys.ecdsa.line;
    const r = knownHosts([seen('shop-wp-01', '203.0.113.5', ecdsa)], `203.0.113.5 ${a}\n`);
    expect(r.changed).toEqual([{ name: 'shop-wp-01', address: '203.0.113.5', before: [a], now: ecdsa }]);
  });

  it('the same address on another port is another host', () => {
    expect(knownHosts([seen('shop-wp-01', '127.0.0.1', b, 2201)], `[127.0.0.1]:2200 ${a}\n`).changed).toEqual([]);
  });
});

needs('ssh-keygen').it('fingerprint() prints what ssh-keygen -l prints for the same key', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-fp-'));
  for (const type of ['ed25519', 'ecdsa'] as const) {
    const k = hostKey(type);
    const file = path.join(dir, `${type}.pub`);
    writeFileSync(file, k.pub);
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' }).split(' ')[1];
    expect(fingerprint(k.line)).toBe(printed);
  }
});

describe('the line that stops up', () => {
  const [a, b, c] = [keys.a.line, keys.b.line, keys.ecdsa.line];
  const wp: KeyChange = { name: 'shop-wp-01', address: '203.0.113.5', before: [a], now: b };
  const db: KeyChange = { name: 'shop-db-02', address: '203.0.113.9', before: [b], now: c };
  const resume = 'ha-wordpress up --only ansible --accept-new-host-keys --dir shop';

  it('one droplet: its name, address, old and new fingerprints, where to check them and the command that goes on', () => {
    expect(changedKeysError([wp], { lab: false, project: 'shop', resume })).toBe(
      `the SSH host key of shop-wp-01 (203.0.113.5: ${fingerprint(a)} → ${fingerprint(b)}) changed, and up did not replace its droplet: ` +
        "stopped before any secret was sent, known_hosts unchanged; check the new fingerprint on the droplet's console " +
        `(\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\`), then run \`${resume}\``,
    );
  });

  it('several droplets: every one named, in one line, with the key file of each type', () => {
    const line = changedKeysError([wp, db], { lab: false, project: 'shop', resume });
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/^the SSH host keys of shop-wp-01 \(203\.0\.113\.5: SHA256:\S+ → SHA256:\S+\), shop-db-02 \(203\.0\.113\.9: /);
    expect(line).toContain(
      "and up did not replace their droplets: stopped before any secret was sent, known_hosts unchanged; check the new fingerprints on the droplets' consoles",
    );
    expect(line).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub / /etc/ssh/ssh_host_ecdsa_key.pub');
  });

  it("the lab: the container was not recreated, and its key is read from the container's root on this machine", () => {
    const line = changedKeysError([{ ...wp, name: 'hawp-wp-01' }], { lab: true, project: 'hawp', resume });
    expect(line).toContain('and up did not recreate its container: stopped before any secret was sent');
    expect(line).toContain(
      "check the new fingerprint in the container's root on this machine " +
        '(`ssh-keygen -lf /var/lib/ha-wordpress/labs/hawp-*/containers/hawp-wp-01/root/etc/ssh/ssh_host_ed25519_key.pub`)',
    );
  });
});

describe('the hosts up made anew (.ha-wordpress/recreated-hosts.json)', () => {
  const workspace = () => mkdtempSync(path.join(os.tmpdir(), 'hawp-recreated-'));

  it('marks, reads and forgets by name; the file goes once nothing is expected, and is private', async () => {
    const ws = workspace();
    expect(await readRecreated(ws)).toEqual(new Set());
    await markRecreated(ws, ['shop-wp-01', 'shop-db-02'], 'terraform');
    expect(await readRecreated(ws)).toEqual(new Set(['shop-wp-01', 'shop-db-02']));
    expect(statSync(path.join(ws, RECREATED_FILE)).mode & 0o777).toBe(0o600);
    await forgetRecreated(ws, ['shop-wp-01', 'shop-wp-02']);
    expect(await readRecreated(ws)).toEqual(new Set(['shop-db-02']));
    await forgetRecreated(ws, ['shop-db-02']);
    expect(existsSync(path.join(ws, RECREATED_FILE))).toBe(false);
  });

  it('keeps every name when the lab marks its containers concurrently', async () => {
    const ws = workspace();
    const names = Array.from({ length: 8 }, (_, i) => `lab-node-${i}`);
    await Promise.all(names.map((n) => markRecreated(ws, [n], 'lab')));
    expect(await readRecreated(ws)).toEqual(new Set(names));
    const data = JSON.parse(readFileSync(path.join(ws, RECREATED_FILE), 'utf8')) as { hosts: Record<string, { by: string }> };
    expect(data.hosts['lab-node-3']!.by).toBe('lab');
  });

  it('a file up did not write is an error saying what to do, not an empty list', async () => {
    const ws = workspace();
    await markRecreated(ws, ['shop-wp-01'], 'terraform');
    writeFileSync(path.join(ws, RECREATED_FILE), '["shop-wp-01"]');
    await expect(readRecreated(ws)).rejects.toThrow(
      /^\.ha-wordpress\/recreated-hosts\.json is not a file up wrote; delete it, then run up with --accept-new-host-keys/,
    );
  });
});
