/**
 * The one way this tool runs a command on a node over SSH (ssh2): used by
 * up's wait phase (`cloud-init status --wait`) and by `status` (the probe).
 * The caller decides which host keys to accept, input goes on stdin (never
 * secrets in argv), and one timeout bounds the whole exchange, so a dead
 * node cannot stall anything.
 */
/** How to log in to a node: the admin user, with the project key or through ssh-agent. */
export interface Credentials {
  user: string;
  /** The private key's text, unless it has a passphrase. */
  privateKey?: string;
  /** ssh-agent socket, used for a key with a passphrase. */
  agent?: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The host key the node presented ("ssh-ed25519 AAAA…"). */
  hostKey: string;
}

export interface ExecOptions {
  /** Bounds connect + login + the command. */
  timeoutMs: number;
  /** Bounds connect + login only (default: timeoutMs). */
  readyTimeoutMs?: number;
  input?: string;
  /** Whether to trust the host key the node presents. */
  acceptKey: (keyLine: string) => boolean;
}

/** The node presented a host key the caller does not trust. */
export class HostKeyRejected extends Error {
  constructor(readonly hostKey: string) {
    super('the host key is not one this tool trusts');
    this.name = 'HostKeyRejected';
  }
}

/** The whole exchange ran out of time; `loggedIn` tells "no answer" from "the command did not finish". */
export class SshTimeout extends Error {
  constructor(readonly loggedIn: boolean) {
    super(loggedIn ? 'the command had not finished' : 'timed out: no answer');
    this.name = 'SshTimeout';
  }
}

export async function sshExec(t: { address: string; port: number }, credentials: Credentials, command: string, o: ExecOptions): Promise<ExecResult> {
  const { Client } = (await import('ssh2')).default;
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let settled = false;
    let loggedIn = false;
    let hostKey = '';
    let rejected = false;
    const done = (err: Error | undefined, result?: Omit<ExecResult, 'hostKey'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.end();
      if (err) reject(err);
      else resolve({ ...result!, hostKey });
    };
    const timer = setTimeout(() => done(new SshTimeout(loggedIn)), o.timeoutMs);
    // ssh2 reports a refused host key as a generic handshake error: say which it was.
    conn.on('error', (err) => done(rejected ? new HostKeyRejected(hostKey) : err));
    conn.on('ready', () => {
      loggedIn = true;
      conn.exec(command, (err, stream) => {
        if (err) return done(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        stream.on('close', (code: number | null) => done(undefined, { code, stdout, stderr }));
        stream.end(o.input ?? '');
      });
    });
    conn.connect({
      host: t.address,
      port: t.port,
      username: credentials.user,
      privateKey: credentials.privateKey,
      agent: credentials.privateKey ? undefined : credentials.agent,
      readyTimeout: o.readyTimeoutMs ?? o.timeoutMs,
      hostVerifier: (key: Buffer) => {
        hostKey = keyLine(key);
        rejected = !o.acceptKey(hostKey);
        return !rejected;
      },
    });
  });
}

/** The OpenSSH public-key line of a raw host key blob (string type, then key data). */
export function keyLine(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + len).toString('ascii');
  return `${type} ${blob.toString('base64')}`;
}

/** A host's name in known_hosts: the address, or `[address]:port` off port 22. */
export const knownHostName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

/** The keys known_hosts lists for a host (as `up` writes it). */
export function keysFor(knownHostsText: string, address: string, port: number): string[] {
  const name = knownHostName(address, port);
  return knownHostsText
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([host, type, b64]) => host === name && type && b64)
    .map(([, type, b64]) => `${type} ${b64}`);
}
