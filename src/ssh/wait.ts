/**
 * The wait phase of `up`: every host accepts SSH as the admin user with the
 * project's key, and cloud-init has finished (a droplet answers SSH before
 * cloud-init has created the admin user or installed python3, so "port 22
 * open" is not enough). Hosts are waited for concurrently; each retries until
 * one shared deadline and a host that never gets there is named.
 *
 * The host keys seen here are what ansible later accepts (known_hosts in the
 * workspace, StrictHostKeyChecking=yes): ansible talks to the machines this
 * phase reached, and a key that changes between runs is reported.
 */
import { UserError } from '../errors.js';
import type { Host } from '../workspace/inventory.js';

export interface Credentials {
  user: string;
  /** The private key's text, unless it has a passphrase. */
  privateKey?: string;
  /** ssh-agent socket, used for a key with a passphrase. */
  agent?: string;
}

export interface SeenKey {
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
}

/** cloud-init finished with errors: retrying will not help. */
class CloudInitFailed extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForHosts(o: WaitOptions): Promise<SeenKey[]> {
  const { Client } = (await import('ssh2')).default;
  const start = Date.now();
  const deadline = start + o.timeoutMs;
  const retryMs = o.retryMs ?? 2000;

  const attempt = (h: Host, budgetMs: number) =>
    new Promise<{ key: string; note?: string }>((resolve, reject) => {
      const conn = new Client();
      let hostKey = '';
      let settled = false;
      let connected = false;
      const finish = (err: Error | undefined, note?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.end();
        if (err) reject(err);
        else resolve({ key: hostKey, note });
      };
      // The handshake has its own timeout; this one bounds the whole attempt
      // (a cloud-init that never finishes).
      const timer = setTimeout(() => finish(new Error(connected ? 'cloud-init had not finished' : 'timed out: no answer')), budgetMs);
      conn.on('error', (err) => finish(err));
      conn.on('ready', () => {
        connected = true;
        // `--wait` blocks until cloud-init is done; 127: no cloud-init on this machine (the local lab).
        conn.exec('cloud-init status --wait', (err, stream) => {
          if (err) return finish(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString('utf8')));
          stream.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
          stream.on('close', (code: number | null) => {
            if (code === 0 || code === 127) finish(undefined);
            // cloud-init ≥ 23.4 exits 2 for "done, with recoverable errors".
            else if (code === 2) finish(undefined, 'cloud-init finished with recoverable errors (see /var/log/cloud-init.log on the host)');
            else finish(new CloudInitFailed(`cloud-init failed (${out.trim().split('\n').pop() || `exit ${code}`}); see /var/log/cloud-init-output.log on the host`));
          });
        });
      });
      conn.connect({
        host: h.address,
        port: h.port,
        username: o.credentials.user,
        privateKey: o.credentials.privateKey,
        agent: o.credentials.privateKey ? undefined : o.credentials.agent,
        readyTimeout: Math.max(1000, Math.min(budgetMs, 20_000)),
        hostVerifier: (key: Buffer) => {
          hostKey = keyLine(key);
          return true;
        },
      });
    });

  const one = async (h: Host): Promise<SeenKey> => {
    let last: Error | undefined;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const { key, note } = await attempt(h, left);
        o.onReady?.(h, Date.now() - start, note);
        return { host: h.address, port: h.port, key };
      } catch (err) {
        if (err instanceof CloudInitFailed) throw new UserError(`${h.name} (${h.address}): ${err.message}; fix it or recreate the droplet, then run \`ha-wordpress up\``);
        last = err as Error;
      }
      await sleep(Math.min(retryMs, Math.max(0, deadline - Date.now())));
    }
    throw new UserError(
      `${h.name} (${h.address}${h.port === 22 ? '' : `:${h.port}`}) was not ready within ${Math.round(o.timeoutMs / 1000)} s: ${describe(last, o.credentials.user)}; check it in the DigitalOcean control panel, then run \`ha-wordpress up --only ansible\``,
    );
  };

  // Every host is waited for to the end, so one report can name each that failed.
  const results = await Promise.allSettled(o.hosts.map(one));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) throw new UserError(failed.map((e) => e.message).join('\n'));
  return results.map((r) => (r as PromiseFulfilledResult<SeenKey>).value);
}

function describe(err: Error | undefined, user: string): string {
  if (!err) return 'no attempt finished';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'SSH refused the connection (sshd not running yet?)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'the address is unreachable';
  if (/handshake|timed out|no answer/i.test(err.message)) return 'SSH did not answer';
  if ((err as { level?: string }).level === 'client-authentication')
    return `SSH refused the project key for user ${user} (cloud-init may not have created the user)`;
  return err.message;
}

/** The OpenSSH public-key line of a raw host key blob (string type, then key data). */
export function keyLine(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + len).toString('ascii');
  return `${type} ${blob.toString('base64')}`;
}

/** known_hosts text for the keys seen, and the hosts whose key differs from `previous`. */
/** A host's name in known_hosts: the address, or `[address]:port` off port 22. */
export const knownHostName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

export function knownHosts(seen: SeenKey[], previous: string | undefined): { text: string; changed: string[] } {
  const name = (s: SeenKey) => knownHostName(s.host, s.port);
  const before = new Map<string, string>();
  for (const line of (previous ?? '').split('\n')) {
    const [host, type, b64] = line.trim().split(/\s+/);
    if (host && type && b64 && !host.startsWith('#')) before.set(`${host} ${type}`, b64);
  }
  const lines = new Set<string>();
  const changed: string[] = [];
  for (const s of seen) {
    const [type, b64] = s.key.split(' ');
    const old = before.get(`${name(s)} ${type}`);
    if (old !== undefined && old !== b64) changed.push(name(s));
    lines.add(`${name(s)} ${s.key}`);
  }
  return { text: [...lines].join('\n') + '\n', changed };
}
