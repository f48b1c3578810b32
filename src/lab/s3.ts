/**
 * The lab's S3 stand-in: where the database nodes' restic backups go on the
 * local target, as they go to a DigitalOcean Spaces bucket on DigitalOcean
 * (docs/lab.md for the lab's design, docs/backups.md for the backups).
 *
 * The S3 API itself is s3rver (npm), a maintained S3 server that keeps each
 * object as a file under `directory`, so the data outlives the process (and
 * a lab destroy, unless the directory is purged). s3rver alone is not
 * enough for restic, so it sits behind a small gate on the public address
 * and listens only on a unix socket in a private directory:
 *
 * - s3rver never computes an AWS Signature Version 4 (what restic's S3
 *   client uses): it only looks the key id up among its own (the built-in
 *   S3RVER), takes any secret with it, and serves a request that carries no
 *   Authorization header at all as anonymous. Spaces
 *   refuses them, so the gate does the check: every request must carry a
 *   SigV4 Authorization header made with this access key and secret, or it
 *   gets the 403 Spaces would give (InvalidAccessKeyId,
 *   SignatureDoesNotMatch, AccessDenied, RequestTimeTooSkewed).
 * - The one exception, as on Spaces: an object stored with
 *   `x-amz-acl: public-read` may be read (GET, HEAD) by anyone, which is how
 *   visitors fetch the WordPress media offloaded to the bucket. s3rver keeps
 *   no ACL, so the gate keeps that mark itself (PublicReads); a signed PUT
 *   without the header stores a private object, also over a public one.
 * - Over plain http restic uploads with a streaming signature (the body in
 *   `aws-chunked` framing, each chunk signed), and s3rver would store that
 *   framing as the object's content. The gate verifies the chunk signature
 *   chain and hands s3rver the decoded bytes.
 * - s3rver writes an object in place while the body arrives, so an upload
 *   cut short would leave a truncated object under its key. The gate reads
 *   the whole body and checks it (chunk signatures, x-amz-content-sha256,
 *   Content-MD5, length) before s3rver sees a byte: an upload is stored
 *   whole or not at all.
 *
 * The gate does not implement S3: everything it forwards is answered by
 * s3rver. It buffers one request body in memory (restic's packs are 16 MiB
 * by default, 128 MiB at most), up to MAX_BODY.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface S3StandinOptions {
  /** Where to listen: the lab bridge's address in the lab, 127.0.0.1 in tests. */
  address: string;
  /** 0 picks a free port (tests); the started stand-in says which. */
  port: number;
  /** The store (one directory per bucket); created 0700 if missing, never emptied. */
  directory: string;
  accessKey: string;
  secretKey: string;
  /** Created at start when missing; clients may create others (restic init does). */
  buckets?: string[];
  /** Echoed by GET /_lab/health, so whoever started a daemon can tell which configuration it runs. */
  configHash?: string;
  /** One line per request and per refusal; never a secret. */
  log?: (line: string) => void;
}

export interface S3Standin {
  address: string;
  port: number;
  /** `http://address:port`: restic's repository is `s3:<url>/<bucket>/<path>`. */
  url: string;
  close(): Promise<void>;
}

/** Above restic's largest pack (128 MiB) with room for the chunk framing. */
export const MAX_BODY = 160 * 1024 * 1024;
/** Spaces, like S3, refuses a request signed more than 15 minutes away from its clock. */
const MAX_SKEW_MS = 15 * 60_000;
/** Not a valid bucket name (no underscores), so it can never shadow a bucket. */
export const HEALTH_PATH = '/_lab/health';

const EMPTY_SHA256 = createHash('sha256').digest('hex');
const STREAMING = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';

/** S3's bucket naming rules (the ones Spaces enforces too), checked before s3rver creates a directory. */
export function bucketNameError(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) return 'must be 3-63 characters of a-z, 0-9, "." and "-", starting and ending with a letter or digit';
  if (/\.\.|^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not hold ".." or look like an IP address';
  return undefined;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sameHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ escaped, hex in capitals. */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function decode(s: string, plusIsSpace: boolean): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, ' ') : s);
  } catch {
    throw new Refusal(400, 'InvalidURI', 'Couldn\u2019t parse the specified URI.');
  }
}

interface Authorization {
  accessKey: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(header: string | undefined, query: string): Authorization {
  if (/(^|&)X-Amz-Algorithm=/.test(query)) throw new Refusal(403, 'AccessDenied', 'This stand-in accepts only the Authorization header, not presigned URLs.');
  if (!header) throw new Refusal(403, 'AccessDenied', 'Access Denied: the request is not signed.');
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(header);
  if (!m) throw new Refusal(400, 'InvalidArgument', 'Unsupported Authorization Type: only AWS4-HMAC-SHA256 is accepted.');
  const parts = new Map(
    m[1]!.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const credential = (parts.get('Credential') ?? '').split('/');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (credential.length !== 5 || credential[4] !== 'aws4_request' || !signedHeaders || !signature || !/^[0-9a-f]{64}$/.test(signature))
    throw new Refusal(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  const [accessKey, date, region, service] = credential as [string, string, string, string];
  return { accessKey, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** The canonical request of SigV4 for S3 (no path normalisation, each segment encoded once). */
function canonicalRequest(req: http.IncomingMessage, auth: Authorization, payloadHash: string): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const uri = rawPath
    .split('/')
    .map((seg) => uriEncode(decode(seg, false)))
    .join('/');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const k = i < 0 ? pair : pair.slice(0, i);
      const v = i < 0 ? '' : pair.slice(i + 1);
      return [uriEncode(decode(k, true)), uriEncode(decode(v, true))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = auth.signedHeaders
    .map((name) => {
      const v = req.headers[name];
      if (v === undefined) throw new Refusal(403, 'SignatureDoesNotMatch', `The signed header ${name} is missing from the request.`);
      return `${name}:${(Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  return [req.method ?? 'GET', uri, query, headers, auth.signedHeaders.join(';'), payloadHash].join('\n');
}

/**
 * Checks the request's SigV4 signature; returns what the chunk signatures
 * (if any) chain from. The region in the credential is taken as given:
 * clients sign with whichever region they were told, as Spaces allows.
 */
function verifySignature(req: http.IncomingMessage, o: S3StandinOptions, url: string) {
  const auth = parseAuthorization(req.headers.authorization, url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (auth.accessKey !== o.accessKey) throw new Refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!when) throw new Refusal(403, 'AccessDenied', 'AWS authentication requires a valid x-amz-date header.');
  const t = Date.UTC(+when[1]!, +when[2]! - 1, +when[3]!, +when[4]!, +when[5]!, +when[6]!);
  if (Math.abs(Date.now() - t) > MAX_SKEW_MS)
    throw new Refusal(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
  if (auth.date !== amzDate.slice(0, 8) || auth.service !== 's3')
    throw new Refusal(400, 'AuthorizationHeaderMalformed', 'The credential scope does not match the request date or the s3 service.');
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (typeof payloadHash !== 'string') throw new Refusal(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest(req, auth, payloadHash))].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${o.secretKey}`, auth.date), auth.region), auth.service), 'aws4_request');
  if (!sameHex(hmac(key, stringToSign).toString('hex'), auth.signature))
    throw new Refusal(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  return { key, amzDate, scope, seed: auth.signature, payloadHash };
}

/** Decodes an aws-chunked body, checking every chunk's signature against the chain from the seed signature. */
function dechunk(raw: Buffer, s: ReturnType<typeof verifySignature>): Buffer {
  const bad = (why: string) => new Refusal(400, 'IncompleteBody', `The aws-chunked body is malformed: ${why}.`);
  const out: Buffer[] = [];
  let prev = s.seed;
  let pos = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) throw bad('a chunk header has no end');
    const m = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/.exec(raw.subarray(pos, eol).toString('latin1'));
    if (!m) throw bad('a chunk header is not "<hex size>;chunk-signature=<signature>"');
    const size = parseInt(m[1]!, 16);
    const start = eol + 2;
    const end = start + size;
    if (end + 2 > raw.length || raw[end] !== 0x0d || raw[end + 1] !== 0x0a) throw bad('a chunk is shorter than its header says');
    const data = raw.subarray(start, end);
    const expected = hmac(s.key, ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, prev, EMPTY_SHA256, sha256(data)].join('\n')).toString('hex');
    if (!sameHex(expected, m[2]!)) throw new Refusal(403, 'SignatureDoesNotMatch', 'A chunk signature does not match the chunk it signs.');
    prev = m[2]!;
    pos = end + 2;
    if (size === 0) break;
    out.push(data);
  }
  if (pos !== raw.length) throw bad('there are bytes after the final chunk');
  return Buffer.concat(out);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        reject(new Refusal(400, 'EntityTooLarge', `This stand-in takes request bodies up to ${MAX_BODY} bytes.`));
      } else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    // The client went away mid-upload: nothing reaches s3rver (a settled promise ignores the later calls).
    req.on('error', reject);
    req.on('close', () => reject(new Error('the client closed the connection before the body ended')));
  });
}

/** Checks the body against what the signed headers say it is; returns the bytes to store. */
function checkedBody(req: http.IncomingMessage, raw: Buffer, s: ReturnType<typeof verifySignature>): Buffer {
  let body: Buffer;
  if (s.payloadHash === STREAMING) {
    body = dechunk(raw, s);
    const declared = req.headers['x-amz-decoded-content-length'];
    if (declared === undefined || Number(declared) !== body.length)
      throw new Refusal(400, 'IncompleteBody', 'The decoded body does not have the length x-amz-decoded-content-length declares.');
  } else if (s.payloadHash.startsWith('STREAMING-')) {
    throw new Refusal(501, 'NotImplemented', `This stand-in does not take ${s.payloadHash} bodies.`);
  } else if (s.payloadHash === 'UNSIGNED-PAYLOAD') {
    body = raw;
  } else if (/^[0-9a-f]{64}$/.test(s.payloadHash)) {
    if (sha256(raw) !== s.payloadHash)
      throw new Refusal(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    body = raw;
  } else {
    throw new Refusal(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.');
  }
  const md5 = req.headers['content-md5'];
  if (typeof md5 === 'string' && createHash('md5').update(body).digest('base64') !== md5)
    throw new Refusal(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  return body;
}

/** What s3rver gets: the request as the client meant it, decoded, with the authentication the gate has done taken off. */
function forwardHeaders(req: http.IncomingMessage, body: Buffer): http.OutgoingHttpHeaders {
  const drop = new Set(['authorization', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'expect', 'x-amz-decoded-content-length']);
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !drop.has(k)) out[k] = v;
  const encodings = String(req.headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked');
  if (encodings.length) out['content-encoding'] = encodings.join(', ');
  else delete out['content-encoding'];
  out['x-amz-content-sha256'] = sha256(body);
  out['content-length'] = String(body.length);
  return out;
}

const xmlEscape = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Where PublicReads keeps its marks: in the store, under a name that is not a valid bucket name (s3rver lists only directories as buckets). */
export const PUBLIC_READS_FILE = '_lab_public-read.jsonl';

/**
 * Query parameters that make a request to an object's path something other
 * than a read or write of the object itself (S3's sub-resources, s3rver's
 * among them), or sign it in the URL. Any other parameter (a cache-buster)
 * is ignored, as S3 ignores it.
 */
const SUBRESOURCE = new RegExp(
  '^(acl|analytics|attributes|cors|delete|encryption|inventory|legal-hold|lifecycle|location|logging|metrics|notification|object-lock|' +
    'partNumber|policy|policyStatus|publicAccessBlock|replication|requestPayment|restore|retention|select|tagging|torrent|uploadId|uploads|' +
    'versionId|versioning|versions|website|response-.+|x-amz-.+)$',
  'i',
);

interface ObjectRef {
  bucket: string;
  key: string;
}

/** The request's path and the names of its query parameters, decoded. */
function splitUrl(url: string): { rawPath: string; params: string[] } {
  const q = url.indexOf('?');
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const params = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => decode(pair.split('=')[0]!, true));
  return { rawPath: q < 0 ? url : url.slice(0, q), params };
}

/** The object a path-style path names (`/bucket/key`), or undefined for the service or a bucket. */
function objectOf(rawPath: string): ObjectRef | undefined {
  const m = /^\/([^/]+)\/(.+)$/s.exec(rawPath);
  return m ? { bucket: decode(m[1]!, false), key: decode(m[2]!, false) } : undefined;
}

const xmlUnescape = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-f]+);/gi, (_m, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );

/**
 * The objects a checked, signed request stores or deletes: their public-read
 * mark goes before s3rver sees the request. `makePublic`: what it stores is
 * public-read (a PUT, or a copy, with `x-amz-acl: public-read`; Spaces has
 * no other public canned ACL). An object completed from a multipart upload
 * is private here whatever its initiation said (no client of the lab uses
 * multipart with an ACL).
 */
function writtenObjects(req: http.IncomingMessage, url: string, body: Buffer): { objects: ObjectRef[]; makePublic: boolean } {
  const { rawPath, params } = splitUrl(url);
  const object = objectOf(rawPath);
  const has = (name: string) => params.includes(name);
  if (object && req.method === 'PUT' && !params.some((p) => SUBRESOURCE.test(p)))
    return { objects: [object], makePublic: req.headers['x-amz-acl'] === 'public-read' };
  if (object && req.method === 'DELETE' && !has('uploadId') && !has('tagging')) return { objects: [object], makePublic: false };
  if (object && req.method === 'POST' && has('uploadId')) return { objects: [object], makePublic: false };
  const bucket = /^\/([^/]+)\/?$/.exec(rawPath)?.[1];
  if (bucket && req.method === 'POST' && has('delete')) {
    const keys = [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => xmlUnescape(m[1]!));
    return { objects: keys.map((key) => ({ bucket: decode(bucket, false), key })), makePublic: false };
  }
  return { objects: [], makePublic: false };
}

/**
 * Which objects are public-read. s3rver keeps no ACL (an object's metadata
 * is a fixed list of headers, x-amz-acl not among them), so the gate keeps
 * the marks: a set in memory, and a log in the store (one JSON line per
 * change, replayed and compacted at start) so they outlive a restart as the
 * objects do. Only changes are logged: restic's private uploads write
 * nothing here.
 *
 * A request that stores or deletes an object takes its mark off before
 * s3rver runs it (an object being overwritten is never served with the new
 * bytes under the old mark) and, once s3rver has stored it, marks it
 * public-read if it asked to; a request s3rver refuses puts the old mark
 * back. Of two requests writing one object at once, only the later may
 * mark it: a mixed race ends private, never public.
 */
class PublicReads {
  private readonly marked = new Set<string>();
  /** Per object (while a request changes it), the request that last began to. */
  private readonly changing = new Map<string, symbol>();
  private appends: Promise<unknown> = Promise.resolve();

  private constructor(private readonly file: string) {}

  static async open(directory: string, log: (line: string) => void): Promise<PublicReads> {
    const p = new PublicReads(path.join(directory, PUBLIC_READS_FILE));
    let text = '';
    try {
      text = await fs.readFile(p.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let torn = 0;
    for (const line of text.split('\n').filter(Boolean)) {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = undefined;
      }
      // A line cut short by a crash mid-append: that change never finished, and its request got no answer.
      if (!Array.isArray(entry) || entry.length !== 3 || !entry.every((e) => typeof e === 'string')) {
        torn++;
        continue;
      }
      const [acl, bucket, key] = entry as [string, string, string];
      if (acl === 'public-read') p.marked.add(`${bucket}/${key}`);
      else p.marked.delete(`${bucket}/${key}`);
    }
    if (torn) log(`${PUBLIC_READS_FILE}: ${torn} unreadable line(s) left out`);
    const compact = [...p.marked].map((id) => PublicReads.line(true, id)).join('');
    if (compact !== text) {
      await fs.writeFile(`${p.file}.tmp`, compact, { mode: 0o600 });
      await fs.rename(`${p.file}.tmp`, p.file);
    }
    return p;
  }

  /** A bucket name holds no "/": the id splits at the first one. */
  private static line(isPublic: boolean, id: string): string {
    const i = id.indexOf('/');
    return `${JSON.stringify([isPublic ? 'public-read' : 'private', id.slice(0, i), id.slice(i + 1)])}\n`;
  }

  isPublic(o: ObjectRef): boolean {
    return this.marked.has(`${o.bucket}/${o.key}`);
  }

  /** The memory changes at once (a refusal takes effect before the log is written); the log lines keep their order. */
  private set(id: string, isPublic: boolean): Promise<void> {
    if (this.marked.has(id) === isPublic) return Promise.resolve();
    if (isPublic) this.marked.add(id);
    else this.marked.delete(id);
    const written = this.appends.then(() => fs.appendFile(this.file, PublicReads.line(isPublic, id), { mode: 0o600 }));
    this.appends = written.catch(() => undefined);
    return written.catch((err: Error) => {
      // Not recorded: not public either (the safe side of a failed write).
      if (isPublic) this.marked.delete(id);
      throw err;
    });
  }

  /** Takes the objects' marks off; end() says whether s3rver did it. */
  async begin(objects: ObjectRef[], makePublic: boolean): Promise<{ end: (stored: boolean) => Promise<void> }> {
    const me = Symbol('request');
    const ids = [...new Set(objects.map((o) => `${o.bucket}/${o.key}`))];
    const wasPublic = ids.filter((id) => this.marked.has(id));
    for (const id of ids) this.changing.set(id, me);
    const release = () => ids.forEach((id) => this.changing.get(id) === me && this.changing.delete(id));
    try {
      await Promise.all(ids.map((id) => this.set(id, false)));
    } catch (err) {
      release();
      throw err;
    }
    return {
      end: async (stored) => {
        const mine = (id: string) => this.changing.get(id) === me;
        try {
          if (stored && makePublic) await Promise.all(ids.filter(mine).map((id) => this.set(id, true)));
          else if (!stored) await Promise.all(wasPublic.filter(mine).map((id) => this.set(id, true)));
        } finally {
          release();
        }
      },
    };
  }
}

export async function startS3Standin(o: S3StandinOptions): Promise<S3Standin> {
  const log = o.log ?? (() => undefined);
  if (!o.accessKey || !o.secretKey) throw new Error('the S3 stand-in needs an access key and a secret key');
  for (const b of o.buckets ?? []) {
    const why = bucketNameError(b);
    if (why) throw new Error(`bucket name "${b}" ${why}`);
  }
  await fs.mkdir(o.directory, { recursive: true, mode: 0o700 });
  const publicReads = await PublicReads.open(o.directory, log);
  // s3rver is reached only through this socket; the directory is 0700, so nothing else on the host gets past the gate.
  const socketDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ha-wordpress-s3-'));
  const socketPath = path.join(socketDir, 's3rver.sock');
  const s3 = new S3rver({
    directory: o.directory,
    silent: true,
    vhostBuckets: false,
    resetOnClose: false,
    configureBuckets: (o.buckets ?? []).map((name) => ({ name })),
  });
  let inner: http.Server;
  try {
    await s3.configureBuckets();
    inner = await s3.listen(socketPath);
  } catch (err) {
    await fs.rm(socketDir, { recursive: true, force: true });
    throw err;
  }
  const agent = new http.Agent({ keepAlive: true });
  // Requests handed to s3rver and not yet answered: close() lets them finish, so a stop never cuts s3rver mid-write.
  const inFlight = new Set<Promise<void>>();

  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, r: Refusal) => {
    const resource = (req.url ?? '/').split('?')[0] ?? '/';
    const text =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${r.code}</Code><Message>${xmlEscape(r.message)}</Message><Resource>${xmlEscape(resource)}</Resource><RequestId>lab</RequestId></Error>`;
    // An unread body stays on the socket: close the connection rather than read what was refused.
    res.writeHead(r.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), connection: 'close' });
    res.end(req.method === 'HEAD' ? undefined : text);
  };

  /** For an unsigned GET or HEAD of a public-read object, the path to hand s3rver; otherwise undefined (the request must be signed). */
  const publicRead = (req: http.IncomingMessage, url: string): string | undefined => {
    if (req.headers.authorization !== undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return undefined;
    const { rawPath, params } = splitUrl(url);
    const object = objectOf(rawPath);
    return object && !params.some((p) => SUBRESOURCE.test(p)) && publicReads.isPublic(object) ? rawPath : undefined;
  };

  const front = http.createServer((req, res) => {
    const started = Date.now();
    const url = req.url ?? '/';
    const line = (status: number, extra = '') => log(`${req.method} ${url.split('?')[0]} → ${status}${extra} (${Date.now() - started} ms)`);
    void (async () => {
      if (req.method === 'GET' && url === HEALTH_PATH) {
        const text = JSON.stringify({ service: 's3', pid: process.pid, config: o.configHash ?? null });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
      let body: Buffer = Buffer.alloc(0);
      // s3rver gets an anonymous read without its query: nothing but the object itself is served unsigned.
      let anonymousPath: string | undefined;
      let change: Awaited<ReturnType<PublicReads['begin']>> | undefined;
      try {
        anonymousPath = publicRead(req, url);
        if (anonymousPath === undefined) {
          const signed = verifySignature(req, o, url);
          body = checkedBody(req, await readBody(req), signed);
          const written = writtenObjects(req, url, body);
          if (written.objects.length)
            change = await publicReads.begin(written.objects, written.makePublic).catch((err: Error) => {
              log(`${PUBLIC_READS_FILE}: ${err.message}`);
              throw new Refusal(500, 'InternalError', 'We encountered an internal error. Please try again.');
            });
        }
      } catch (err) {
        if (!(err instanceof Refusal)) {
          // The client is gone: there is nobody to answer.
          log(`${req.method} ${url.split('?')[0]} dropped: ${(err as Error).message}`);
          return req.destroy();
        }
        line(err.status, ` ${err.code}`);
        return refuse(req, res, err);
      }
      let done = () => {};
      const finished = new Promise<void>((resolve) => (done = resolve));
      inFlight.add(finished);
      void finished.then(() => inFlight.delete(finished));
      const up = http.request({ socketPath, agent, method: req.method, path: anonymousPath ?? url, headers: forwardHeaders(req, body) }, (answer) => {
        const status = answer.statusCode ?? 500;
        // The mark is in place before the client hears the object is stored.
        void (change?.end(status < 300) ?? Promise.resolve()).then(
          () => {
            const headers = { ...answer.headers };
            delete headers.connection;
            delete headers['keep-alive'];
            delete headers['transfer-encoding'];
            res.writeHead(status, headers);
            answer.pipe(res);
            answer.on('end', () => {
              line(status, anonymousPath === undefined ? '' : ' (public-read, anonymous)');
              done();
            });
            answer.on('error', done);
          },
          (err: Error) => {
            // The mark could not be logged: the client is told the request failed (and the object is private).
            answer.resume();
            done();
            line(500, ` ${PUBLIC_READS_FILE}: ${err.message}`);
            refuse(req, res, new Refusal(500, 'InternalError', 'We encountered an internal error. Please try again.'));
          },
        );
      });
      up.on('error', (err) => {
        done();
        void change?.end(false).catch(() => undefined);
        line(500, ` s3rver: ${err.message}`);
        if (!res.headersSent) refuse(req, res, new Refusal(500, 'InternalError', 'We encountered an internal error. Please try again.'));
        else res.destroy();
      });
      up.end(body);
    })();
  });

  await new Promise<void>((resolve, reject) => {
    front.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'EADDRINUSE' ? `${o.address}:${o.port} is already in use` : `cannot listen on ${o.address}:${o.port}: ${err.message}`));
    });
    front.listen(o.port, o.address, () => resolve());
  }).catch(async (err: Error) => {
    inner.close();
    agent.destroy();
    await fs.rm(socketDir, { recursive: true, force: true });
    throw err;
  });
  const port = (front.address() as { port: number }).port;
  let closing: Promise<void> | undefined;
  return {
    address: o.address,
    port,
    url: `http://${o.address.includes(':') ? `[${o.address}]` : o.address}:${port}`,
    close: () =>
      (closing ??= (async () => {
        // Clients are cut at once (an upload not yet checked is dropped whole), but what s3rver already has is let finish.
        await new Promise<void>((resolve) => {
          front.close(() => resolve());
          front.closeAllConnections();
        });
        await Promise.race([Promise.all(inFlight), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
        agent.destroy();
        await new Promise<void>((resolve) => {
          inner.close(() => resolve());
          inner.closeAllConnections();
        });
        await fs.rm(socketDir, { recursive: true, force: true });
      })()),
  };
}
