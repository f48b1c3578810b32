/**
 * The one way this tool asks a web server whether it answers: a single
 * GET (plain HTTP, or HTTPS with the certificate verified) on a fresh connection (no keep-alive pool, so every probe
 * goes through connect the way a new visitor does), no redirects followed,
 * and one deadline over the whole exchange (connect, headers and body: a
 * page that starts but never finishes is no answer). It never throws: no
 * answer in time, whatever the reason, is status 0.
 *
 * Used by `up` and `status` (does the site answer through the load
 * balancer), the lab (does the stand-in load balancer answer, is the services
 * daemon healthy) and the drill's load generator.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpProbe {
  /** The address to connect to. */
  host: string;
  port?: number;
  path?: string;
  /** The Host header, for a server that routes by name (the site's domain on the load balancer). */
  hostHeader?: string;
  /** Bounds the whole exchange. */
  timeoutMs: number;
  userAgent?: string;
  /** Ends the probe early (status 0). */
  signal?: AbortSignal;
  /**
   * HTTPS (port 443 unless `port` says): the certificate must be valid for
   * `servername` and chain to a trusted authority (the system's, or `ca`
   * when given); one that does not is no answer.
   */
  tls?: { servername: string; ca?: string };
}

export interface HttpAnswer {
  /** The status code, or 0 when there was no complete answer in time. */
  status: number;
  /** The body as UTF-8 (its first `maxBodyBytes`); empty when status is 0. */
  body: string;
}

/** The status code of one GET, or 0. The body is read (a 200 counts only once it has all arrived) but not kept. */
export async function httpStatus(p: HttpProbe): Promise<number> {
  return (await exchange(p, 0)).status;
}

/** One GET with its body, for a caller that reads the answer (a health document). */
export function httpGet(p: HttpProbe, maxBodyBytes = 1 << 20): Promise<HttpAnswer> {
  return exchange(p, maxBodyBytes);
}

function exchange(p: HttpProbe, maxBodyBytes: number): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    if (p.signal?.aborted) return resolve({ status: 0, body: '' });
    let settled = false;
    const finish = (status: number, body = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      p.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(status ? { status, body } : { status: 0, body: '' });
    };
    const headers: Record<string, string> = { connection: 'close', 'user-agent': p.userAgent ?? 'ha-wordpress' };
    if (p.hostHeader) headers.host = p.hostHeader;
    const target = { host: p.host, path: p.path ?? '/', agent: false as const, headers };
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (c: Buffer) => {
        if (kept >= maxBodyBytes) return;
        chunks.push(c.subarray(0, maxBodyBytes - kept));
        kept += Math.min(c.length, maxBodyBytes - kept);
      });
      res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      res.on('error', () => finish(0));
      // A connection cut mid-body ends with 'close' and no 'end': no answer.
      res.on('close', () => finish(0));
    };
    const req = p.tls
      ? https.get({ ...target, port: p.port ?? 443, servername: p.tls.servername, ...(p.tls.ca ? { ca: p.tls.ca } : {}) }, onResponse)
      : http.get({ ...target, port: p.port ?? 80 }, onResponse);
    req.on('error', () => finish(0));
    const timer = setTimeout(() => finish(0), p.timeoutMs);
    const onAbort = () => finish(0);
    p.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface PeerCertificate {
  /** When it stops being valid. */
  notAfter: Date;
  /** It chains to a trusted authority and covers the name asked for. */
  verified: boolean;
  /** Why not, when it is not (Node's error code, e.g. CERT_HAS_EXPIRED). */
  problem?: string;
}

/**
 * The certificate a TLS server presents for `servername`, read even when it
 * does not verify (so an expired or wrong one can be reported as such), or
 * undefined when no handshake completes within `timeoutMs`.
 */
export function peerCertificate(p: { host: string; port?: number; servername: string; ca?: string; timeoutMs: number }): Promise<PeerCertificate | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: p.host, port: p.port ?? 443, servername: p.servername, rejectUnauthorized: false, ...(p.ca ? { ca: p.ca } : {}) });
    const done = (v: PeerCertificate | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), p.timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      if (!cert?.valid_to) return done(undefined);
      // authorized covers the chain; the name is checked here, as https.get would.
      const nameProblem = tls.checkServerIdentity(p.servername, cert);
      const problem = socket.authorizationError ? String(socket.authorizationError) : nameProblem ? 'ERR_TLS_CERT_ALTNAME_INVALID' : undefined;
      done({ notAfter: new Date(cert.valid_to), verified: !problem, ...(problem ? { problem } : {}) });
    });
  });
}
