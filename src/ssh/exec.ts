/**
 * One command on one host over SSH (ssh2), for `status`: the host key must be
 * the one `up` recorded in .ha-wordpress/known_hosts, the command gets its
 * input on stdin (never secrets in argv), and everything is bounded by a
 * timeout so one dead node cannot stall the report.
 */
import { keyLine, knownHostName, type Credentials } from './wait.js';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecTarget {
  address: string;
  port: number;
  /** "ssh-ed25519 AAAA…" lines this host may present; empty accepts none. */
  knownKeys: string[];
}

export async function sshExec(t: ExecTarget, credentials: Credentials, command: string, input = '', timeoutMs = 8000): Promise<ExecResult> {
  const { Client } = (await import('ssh2')).default;
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let settled = false;
    const done = (err: Error | undefined, result?: ExecResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.end();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => done(new Error('timed out')), timeoutMs);
    conn.on('error', (err) => done(err));
    conn.on('ready', () => {
      conn.exec(command, (err, stream) => {
        if (err) return done(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        stream.on('close', (code: number | null) => done(undefined, { code, stdout, stderr }));
        stream.end(input);
      });
    });
    conn.connect({
      host: t.address,
      port: t.port,
      username: credentials.user,
      privateKey: credentials.privateKey,
      agent: credentials.privateKey ? undefined : credentials.agent,
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => t.knownKeys.includes(keyLine(key)),
    });
  });
}

/** The keys known_hosts lists for a host (as `up` writes it: `addr` or `[addr]:port`). */
export function keysFor(knownHostsText: string, address: string, port: number): string[] {
  const name = knownHostName(address, port);
  return knownHostsText
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([host, type, b64]) => host === name && type && b64)
    .map(([, type, b64]) => `${type} ${b64}`);
}
