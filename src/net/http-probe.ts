/**
 * The one way this tool asks a web server whether it answers: a single
 * plain-HTTP GET on a fresh connection (no keep-alive pool, so every probe
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
    const req = http.get({ host: p.host, port: p.port ?? 80, path: p.path ?? '/', agent: false, headers }, (res) => {
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
    });
    req.on('error', () => finish(0));
    const timer = setTimeout(() => finish(0), p.timeoutMs);
    const onAbort = () => finish(0);
    p.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
