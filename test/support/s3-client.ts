/**
 * Plain S3 requests to the lab's S3 stand-in on loopback, for tests: signed
 * as an S3 SDK signs them (SigV4 in the Authorization header, the body's
 * real SHA-256), independent of the tools under test (restic, rclone).
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';

export interface Answer {
  status: number;
  /** The body as text (S3's XML errors). */
  body: string;
  bytes: Buffer;
  headers: http.IncomingHttpHeaders;
}

export function send(port: number, r: { method: string; url: string; headers: http.OutgoingHttpHeaders; body?: Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.url, headers: r.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(parts);
        resolve({ status: res.statusCode!, body: bytes.toString('utf8'), bytes, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * A request signed as an S3 SDK signs it (SigV4, the Authorization header,
 * the body's real SHA-256), for the requests restic never makes. `url` is
 * already encoded as it goes on the wire.
 */
export function signed(
  port: number,
  creds: { accessKey: string; secretKey: string },
  r: { method: string; url: string; headers?: Record<string, string>; body?: Buffer },
): { method: string; url: string; headers: http.OutgoingHttpHeaders; body: Buffer } {
  const body = r.body ?? Buffer.alloc(0);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    ...r.headers,
    host: `127.0.0.1:${port}`,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
  };
  const names = Object.keys(headers).sort();
  const [uri, query = ''] = r.url.split('?') as [string, string?];
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((kv) => (kv.includes('=') ? kv : `${kv}=`))
    .sort()
    .join('&');
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim()}\n`).join('');
  const canonical = [r.method, uri, canonicalQuery, canonicalHeaders, names.join(';'), headers['x-amz-content-sha256']].join('\n');
  const scope = `${day}/lab/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (k: Buffer | string, data: string) => createHmac('sha256', k).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretKey}`, day), 'lab'), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return { method: r.method, url: r.url, headers, body };
}
