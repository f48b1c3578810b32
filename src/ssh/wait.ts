/**
 * The wait phase of `up`: every host accepts SSH as the admin user with the
 * project's key, and cloud-init has finished (a droplet answers SSH before
 * cloud-init has created the admin user or installed python3, so "port 22
 * open" is not enough). Hosts are waited for concurrently; each retries until
 * one shared deadline and a host that never gets there is named.
 *
 * The host keys seen here are what ansible later accepts (known_hosts in the
 * workspace, StrictHostKeyChecking=yes): ansible talks to the machines this
 * phase reached. A key that differs from the recorded one is returned by
 * knownHosts() for `up` to judge: ansible is about to send every secret to
 * whatever answered.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import type { Host } from '../workspace/inventory.js';
import { knownHostName, sshExec, SshTimeout, type Credentials } from './exec.js';

export interface SeenKey {
  /** The inventory's host name (the droplet's name). */
  name: string;
  host: string;
  port: number;
  /** "ssh-ed25519 AAAA…" */
  key: string;
}

export interface WaitOptions {
  hosts: Host[];
  credentials: Credentials;
  timeoutMs: number;
  /** Pause between attempts on one host. */
  retryMs?: number;
  onReady?: (host: Host, elapsedMs: number, note?: string) => void;
  /**
   * Hosts that may be left out when they do not answer within `missingAfterMs`
   * (a node configured before, now down: docs/operations.md#a-node-missing);
   * any other host is waited for to the end of `timeoutMs`.
   */
  mayBeMissing?: (host: Host) => boolean;
  missingAfterMs?: number;
}

/** What the wait found: the host keys of the hosts that answered, and the hosts left out. */
export interface WaitResult {
  seen: SeenKey[];
  missing: { host: Host; reason: string }[];
}

/** How long a host configured before may stay silent before up goes on without it. */
export const MISSING_AFTER_MS = 90_000;

/** cloud-init finished with errors: retrying will not help. */
class CloudInitFailed extends Error {}

export async function waitForHosts(o: WaitOptions): Promise<WaitResult> {
  const start = Date.now();
  const fullDeadline = start + o.timeoutMs;
  const missingDeadline = start + Math.min(o.timeoutMs, o.missingAfterMs ?? MISSING_AFTER_MS);
  const retryMs = o.retryMs ?? 2000;

  // Any host key is accepted here: this is where it is first seen (and
  // recorded for ansible and status, which then accept only it).
  const attempt = async (h: Host, budgetMs: number): Promise<{ key: string; note?: string }> => {
    // `--wait` blocks until cloud-init is done; 127: an image without cloud-init (nothing to wait for).
    const r = await sshExec(h, o.credentials, 'cloud-init status --wait', {
      timeoutMs: budgetMs,
      readyTimeoutMs: Math.max(1000, Math.min(budgetMs, 20_000)),
      acceptKey: () => true,
    }).catch((err: Error) => {
      throw err instanceof SshTimeout && err.loggedIn ? new Error('cloud-init had not finished') : err;
    });
    if (r.code === 0 || r.code === 127) return { key: r.hostKey };
    // cloud-init ≥ 23.4 exits 2 for "done, with recoverable errors".
    if (r.code === 2) return { key: r.hostKey, note: 'cloud-init finished with recoverable errors (see /var/log/cloud-init.log on the host)' };
    const last = (r.stdout + r.stderr).trim().split('\n').pop();
    throw new CloudInitFailed(`cloud-init failed (${last || `exit ${r.code}`}); see /var/log/cloud-init-output.log on the host`);
  };

  const missing: WaitResult['missing'] = [];
  const one = async (h: Host): Promise<SeenKey | undefined> => {
    let last: Error | undefined;
    const mayBeMissing = o.mayBeMissing?.(h) ?? false;
    const deadline = mayBeMissing ? missingDeadline : fullDeadline;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const { key, note } = await attempt(h, left);
        o.onReady?.(h, Date.now() - start, note);
        return { name: h.name, host: h.address, port: h.port, key };
      } catch (err) {
        if (err instanceof CloudInitFailed)
          throw new UserError(`${h.name} (${h.address}): ${err.message}; fix it or recreate the droplet, then run \`ha-wordpress up\``);
        last = err as Error;
      }
      await sleep(Math.min(retryMs, Math.max(0, deadline - Date.now())));
    }
    if (mayBeMissing) {
      missing.push({ host: h, reason: `${describe(last, o.credentials.user)} within ${Math.round((deadline - start) / 1000)} s` });
      return undefined;
    }
    throw new UserError(
      `${h.name} (${h.address}${h.port === 22 ? '' : `:${h.port}`}) was not ready within ${Math.round(o.timeoutMs / 1000)} s: ` +
        `${describe(last, o.credentials.user)}; check it in the DigitalOcean control panel, then run \`ha-wordpress up --only ansible\``,
    );
  };

  // Every host is waited for to the end, so one report can name each that failed.
  const results = await Promise.allSettled(o.hosts.map(one));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) throw new UserError(failed.map((e) => e.message).join('\n'));
  const seen = results.map((r) => (r as PromiseFulfilledResult<SeenKey | undefined>).value).filter((k): k is SeenKey => k !== undefined);
  return { seen, missing };
}

function describe(err: Error | undefined, user: string): string {
  if (!err) return 'no attempt finished';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'SSH refused the connection (sshd not running yet?)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'the address is unreachable';
  const level = (err as { level?: string }).level;
  // ssh2's levels: 'client-timeout' (no handshake in time), 'protocol' (the
  // connection closed before the handshake: sshd still starting).
  if (err instanceof SshTimeout || level === 'client-timeout' || level === 'protocol') return 'SSH did not answer';
  if ((err as { level?: string }).level === 'client-authentication')
    return `SSH refused the project key for user ${user} (cloud-init may not have created the user)`;
  return err.message;
}

/** A host whose recorded key is not the one it presented. */
export interface KeyChange {
  /** The inventory's host name. */
  name: string;
  /** The address as the user knows it: `203.0.113.5`, or `127.0.0.1:2222` off port 22. */
  address: string;
  /** The keys recorded for it ("ssh-ed25519 AAAA…"). */
  before: string[];
  /** The key it presented. */
  now: string;
}

/**
 * known_hosts text for the keys seen, and the hosts whose key differs from
 * `previous`. A host is compared with every key recorded for its address,
 * whatever their type: a host that used to present an ed25519 key and now
 * offers only an ECDSA one has changed too. An address with no recorded key
 * is new (trust on first use). The hosts in `keep` (left out of this run:
 * not seen, not gone) keep the keys recorded for them.
 */
export function knownHosts(seen: SeenKey[], previous: string | undefined, keep: { host: string; port: number }[] = []): { text: string; changed: KeyChange[] } {
  const name = (s: SeenKey) => knownHostName(s.host, s.port);
  const before = new Map<string, string[]>();
  for (const line of (previous ?? '').split('\n')) {
    const [host, type, b64] = line.trim().split(/\s+/);
    if (host && type && b64 && !host.startsWith('#')) before.set(host, [...(before.get(host) ?? []), `${type} ${b64}`]);
  }
  const lines = new Set<string>();
  const changed: KeyChange[] = [];
  for (const s of seen) {
    const [type, b64] = s.key.split(' ');
    const key = `${type} ${b64}`;
    const old = before.get(name(s)) ?? [];
    if (old.length > 0 && !old.includes(key)) changed.push({ name: s.name, address: s.port === 22 ? s.host : `${s.host}:${s.port}`, before: old, now: key });
    lines.add(`${name(s)} ${key}`);
  }
  for (const k of keep) for (const key of before.get(knownHostName(k.host, k.port)) ?? []) lines.add(`${knownHostName(k.host, k.port)} ${key}`);
  return { text: [...lines].join('\n') + '\n', changed };
}

/** A key's fingerprint as `ssh-keygen -l` and the droplet console print it: SHA256 of the key blob, unpadded base64. */
export function fingerprint(keyLine: string): string {
  const b64 = keyLine.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}
