/**
 * DigitalOcean Spaces on loopback, for the real DigitalOcean provider.
 *
 * The provider's S3 client always speaks virtual-hosted HTTPS to
 * `https://<bucket>.<region>.digitaloceanspaces.com/` (even with
 * SPACES_ENDPOINT_URL it puts the bucket in front of the host), and the
 * tests have no DNS. Go honours HTTPS_PROXY and SSL_CERT_FILE, and
 * `ha-wordpress` passes both to terraform, so the product runs unchanged:
 *
 * - an HTTP proxy on 127.0.0.1 answers `CONNECT <host>:443` for the Spaces
 *   endpoints of the regions that offer Spaces (and nothing else: every
 *   other CONNECT, and every plain proxied request, gets 403 and is
 *   recorded in `refused`, so nothing ever leaves loopback);
 * - behind the CONNECT it terminates TLS itself with a certificate for
 *   `<region>.digitaloceanspaces.com` and `*.<region>.digitaloceanspaces.com`
 *   signed by a certificate authority made for this stand-in alone
 *   (`caFile`: give it to terraform as SSL_CERT_FILE, and only that
 *   terraform trusts it);
 * - the S3 requests then go, rewritten to path style, to s3rver (the S3
 *   server the lab uses, src/lab/s3.ts), listening on a private unix socket.
 *   s3rver implements no versioning, lifecycle or bucket ACL sub-resource,
 *   which the provider writes and reads on every apply and plan; the
 *   stand-in answers those itself, with S3's XML, and keeps them per bucket.
 *
 * Like Spaces, a request without an AWS Signature Version 4 Authorization
 * header is refused (403 AccessDenied), and so is one whose access key is not
 * one `accessKeys()` lists (403 InvalidAccessKeyId). The signature itself is
 * not computed: the lab's gate (src/lab/s3.ts) is where that is tested.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { SPACES_REGIONS } from '../../src/backup/regions.js';
import { issue, newCa } from '../../src/secrets/pki.js';

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
/** The owner every bucket ACL names: Spaces shows the account's numeric id there. */
const OWNER_ID = '6174283';

export interface SpacesRequest {
  method: string;
  /** The Host the client asked for (the CONNECT target's name). */
  host: string;
  bucket?: string;
  /** Path within the bucket, without the query. */
  key: string;
  /** The sub-resource (`versioning`, `lifecycle`, `acl`…), or '' for the bucket or object itself. */
  sub: string;
  status: number;
  /** Who answered: the stand-in itself, s3rver, or a refusal. */
  by: 'stand-in' | 's3rver' | 'refused';
}

export interface BucketState {
  versioning?: 'Enabled' | 'Suspended';
  /** The lifecycle configuration as the client put it (S3 gives it back the same way). */
  lifecycle?: string;
  acl: string;
}

export interface FakeSpaces {
  /** `http://127.0.0.1:<port>`: HTTPS_PROXY for terraform. */
  proxyUrl: string;
  /** The throw-away CA's certificate (PEM): SSL_CERT_FILE for terraform. */
  caFile: string;
  requests: SpacesRequest[];
  /** CONNECT targets and proxied URLs that were refused. */
  refused: string[];
  /** Bucket names s3rver holds. */
  buckets(): string[];
  bucket(name: string): BucketState | undefined;
  close(): Promise<void>;
}

export interface FakeSpacesOptions {
  /** The access keys Spaces knows (the stand-in API's); any other key id is refused. */
  accessKeys: () => Iterable<string>;
  /**
   * Bucket names another account holds: creating one is refused as Spaces
   * refuses it (409 BucketAlreadyExists; bucket names are shared by every
   * account), and anything else asked of it is 403 AccessDenied.
   */
  taken?: Iterable<string>;
}

const hostPattern = new RegExp(`^(?:([a-z0-9][a-z0-9.-]*)\\.)?(${SPACES_REGIONS.join('|')})\\.digitaloceanspaces\\.com$`);

/** A CA and a server certificate for every Spaces region's endpoint (src/secrets/pki.ts, the openssl CLI). */
async function makeCertificates(dir: string): Promise<{ caFile: string; key: string; cert: string }> {
  const ca = await newCa('ha-wordpress test Spaces CA', 2);
  const dns = SPACES_REGIONS.flatMap((r) => [`${r}.digitaloceanspaces.com`, `*.${r}.digitaloceanspaces.com`]);
  const leaf = await issue(ca, { commonName: 'digitaloceanspaces.com', dns, usage: ['serverAuth'] }, 2);
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  return { caFile, key: leaf.key, cert: leaf.cert };
}

const xmlError = (code: string, message: string, resource: string) =>
  `${XML_HEAD}<Error><Code>${code}</Code><Message>${message}</Message><Resource>${resource}</Resource><RequestId>fake-spaces</RequestId></Error>`;

/** The access key id of a SigV4 Authorization header, or undefined when there is none. */
function accessKeyOf(header: string | undefined): string | undefined {
  return /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\//.exec(header ?? '')?.[1];
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startFakeSpaces(opts: FakeSpacesOptions): Promise<FakeSpaces> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-spaces-'));
  const store = path.join(dir, 'store');
  mkdirSync(store, { mode: 0o700 });
  const { caFile, key, cert } = await makeCertificates(dir);
  const socketPath = path.join(dir, 's3rver.sock');
  const s3 = new S3rver({ directory: store, silent: true, vhostBuckets: false, resetOnClose: false });
  const inner: http.Server = await s3.listen(socketPath);
  const agent = new http.Agent({ keepAlive: true });

  const requests: SpacesRequest[] = [];
  const refused: string[] = [];
  const state = new Map<string, BucketState>();
  const exists = (bucket: string) => existsSync(path.join(store, bucket));
  const stateOf = (bucket: string) => {
    let s = state.get(bucket);
    if (!s) state.set(bucket, (s = { acl: 'private' }));
    return s;
  };

  const tls = https.createServer({ key, cert }, (req, res) => {
    void serve(req, res).catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'application/xml' });
      res.end(xmlError('InternalError', err.message, req.url ?? '/'));
    });
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').replace(/:443$/, '');
    const url = new URL(req.url ?? '/', 'https://x');
    const m = hostPattern.exec(host);
    let bucket = m?.[1];
    let keyPath = url.pathname;
    if (!bucket) {
      // Path style: /<bucket>/<key>.
      const [, first = '', ...rest] = url.pathname.split('/');
      bucket = first || undefined;
      keyPath = `/${rest.join('/')}`;
    }
    const sub =
      [...url.searchParams.keys()].find((k) => ['versioning', 'lifecycle', 'acl', 'cors', 'policy', 'location', 'uploads', 'delete'].includes(k)) ?? '';
    const body = await readBody(req);
    const answer = (status: number, by: SpacesRequest['by'], xml?: string, headers: http.OutgoingHttpHeaders = {}) => {
      requests.push({ method: req.method ?? '', host, bucket, key: keyPath, sub, status, by });
      res.writeHead(status, { ...(xml ? { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) } : {}), ...headers });
      res.end(req.method === 'HEAD' ? undefined : xml);
    };
    const resource = `/${bucket ?? ''}${keyPath === '/' ? '' : keyPath}`;

    const id = accessKeyOf(req.headers.authorization);
    if (!id) return answer(403, 'refused', xmlError('AccessDenied', 'Access Denied', resource));
    if (![...opts.accessKeys()].includes(id))
      return answer(403, 'refused', xmlError('InvalidAccessKeyId', 'The access key you provided does not exist.', resource));

    if (bucket !== undefined && [...(opts.taken ?? [])].includes(bucket)) {
      if (req.method === 'PUT' && keyPath === '/' && sub === '')
        return answer(
          409,
          'stand-in',
          xmlError(
            'BucketAlreadyExists',
            'The requested bucket name is not available. The bucket namespace is shared by all users of the system. ' +
              'Please select a different name and try again.',
            resource,
          ),
        );
      return answer(403, 'stand-in', xmlError('AccessDenied', 'Access Denied', resource));
    }

    const onBucket = bucket !== undefined && keyPath === '/';
    if (onBucket && (sub === 'versioning' || sub === 'lifecycle' || sub === 'acl')) {
      if (!exists(bucket!)) return answer(404, 'stand-in', xmlError('NoSuchBucket', 'The specified bucket does not exist.', resource));
      const s = stateOf(bucket!);
      const text = body.toString('utf8');
      if (sub === 'versioning') {
        if (req.method === 'PUT') {
          const status = /<Status>(Enabled|Suspended)<\/Status>/.exec(text)?.[1] as BucketState['versioning'] | undefined;
          if (!status) return answer(400, 'stand-in', xmlError('MalformedXML', 'The XML you provided was not well-formed.', resource));
          s.versioning = status;
          return answer(200, 'stand-in');
        }
        if (req.method === 'GET')
          return answer(
            200,
            'stand-in',
            `${XML_HEAD}<VersioningConfiguration xmlns="${S3_NS}">${s.versioning ? `<Status>${s.versioning}</Status>` : ''}</VersioningConfiguration>`,
          );
      }
      if (sub === 'lifecycle') {
        if (req.method === 'PUT') {
          if (!/<LifecycleConfiguration[\s>]/.test(text) || !/<Rule>/.test(text))
            return answer(400, 'stand-in', xmlError('MalformedXML', 'The XML you provided was not well-formed.', resource));
          s.lifecycle = text;
          return answer(200, 'stand-in');
        }
        if (req.method === 'GET')
          return s.lifecycle
            ? answer(200, 'stand-in', s.lifecycle.startsWith('<?xml') ? s.lifecycle : XML_HEAD + s.lifecycle)
            : answer(404, 'stand-in', xmlError('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist.', resource));
        if (req.method === 'DELETE') {
          delete s.lifecycle;
          return answer(204, 'stand-in');
        }
      }
      if (sub === 'acl') {
        if (req.method === 'PUT') {
          const canned = req.headers['x-amz-acl'];
          if (canned !== 'private' && canned !== 'public-read')
            return answer(400, 'stand-in', xmlError('InvalidArgument', 'Spaces accepts only the canned ACLs private and public-read.', resource));
          s.acl = canned;
          return answer(200, 'stand-in');
        }
        if (req.method === 'GET') {
          const owner = `<ID>${OWNER_ID}</ID><DisplayName>${OWNER_ID}</DisplayName>`;
          const grant = (who: string, permission: string) => `<Grant>${who}<Permission>${permission}</Permission></Grant>`;
          const everyone = `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>`;
          const grants = [
            grant(`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${owner}</Grantee>`, 'FULL_CONTROL'),
            ...(s.acl === 'public-read' ? [grant(everyone, 'READ')] : []),
          ];
          return answer(
            200,
            'stand-in',
            `${XML_HEAD}<AccessControlPolicy xmlns="${S3_NS}"><Owner>${owner}</Owner>` +
              `<AccessControlList>${grants.join('')}</AccessControlList></AccessControlPolicy>`,
          );
        }
      }
      return answer(405, 'stand-in', xmlError('MethodNotAllowed', 'The specified method is not allowed against this resource.', resource));
    }

    // Everything else is s3rver's, in path style, without the Authorization s3rver cannot check (it then serves the request as its own).
    const headers = { ...req.headers, host: 'localhost', 'content-length': String(body.length) };
    delete headers.authorization;
    delete headers['transfer-encoding'];
    const pathStyle = `/${bucket ?? ''}${bucket && keyPath !== '/' ? keyPath : ''}${url.search}`;
    await new Promise<void>((resolve, reject) => {
      const up = http.request({ socketPath, agent, method: req.method, path: pathStyle, headers }, (back) => {
        const chunks: Buffer[] = [];
        back.on('data', (c: Buffer) => chunks.push(c));
        back.on('end', () => {
          const status = back.statusCode ?? 502;
          if (bucket && keyPath === '/' && sub === '') {
            if (req.method === 'PUT' && status === 200) {
              const canned = req.headers['x-amz-acl'];
              state.set(bucket, { acl: typeof canned === 'string' ? canned : 'private' });
            }
            if (req.method === 'DELETE' && status === 204) state.delete(bucket);
          }
          requests.push({ method: req.method ?? '', host, bucket, key: keyPath, sub, status, by: 's3rver' });
          const out = { ...back.headers };
          delete out.connection;
          delete out['keep-alive'];
          res.writeHead(status, out);
          res.end(Buffer.concat(chunks));
          resolve();
        });
        back.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });
  }

  const proxy = http.createServer((req, res) => {
    // Plain-http proxying (an http:// URL through the proxy) is not Spaces.
    refused.push(req.url ?? '');
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('this proxy only tunnels to Spaces endpoints\n');
  });
  const tunnels = new Set<net.Socket>();
  proxy.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    const [host, port] = target.split(':');
    if (port !== '443' || !host || !hostPattern.test(host)) {
      refused.push(target);
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    tls.emit('connection', socket);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;

  return {
    proxyUrl: `http://127.0.0.1:${port}`,
    caFile,
    requests,
    refused,
    buckets: () => listBuckets(store),
    bucket: (name) => (exists(name) ? stateOf(name) : undefined),
    close: async () => {
      for (const s of tunnels) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      tls.close();
      agent.destroy();
      await new Promise<void>((resolve) => inner.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** s3rver keeps one directory per bucket. */
function listBuckets(store: string): string[] {
  return readdirSync(store, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}
