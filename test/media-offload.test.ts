/**
 * The media offload's PHP (the wordpress role's hawp-s3.php and
 * hawp-media.php) run by the real php CLI against the lab's S3 stand-in
 * (src/lab/s3.ts, which checks every SigV4 signature as Spaces does) on
 * 127.0.0.1:
 * - the S3 client: a public-read PUT that anyone can then GET byte for
 *   byte, HEAD, DELETE, S3's error code when the secret is wrong, TLS
 *   verified against the CA file given;
 * - the WordPress glue, with the few WordPress functions it calls stubbed in
 *   the PHP that loads it (WordPress itself is proven in the lab): which
 *   hooks it registers and when, the URL rewrite, an upload stored or
 *   failed whole, every size stored, names kept unique across nodes, an
 *   attachment's files deleted.
 * Skipped, saying so, without php or its curl extension.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect } from 'vitest';
import { startS3Standin, type S3Standin } from '../src/lab/s3.js';
import { issue, newCa } from '../src/secrets/pki.js';
import { ROOT, tempDir } from './support/cli.js';
import { missing, runTool, skipWhen } from './support/tools.js';

const FILES = path.join(ROOT, 'ansible', 'roles', 'wordpress', 'files');
const BUCKET = 'lab-media';
const SITE_UPLOADS = 'https://shop.example.com/wp-content/uploads';
const MEDIA_URL = 'https://media.example.net';
const MiB = 1024 * 1024;

function phpWithCurl(): string | undefined {
  const why = missing('php');
  if (why) return why;
  const r = spawnSync('php', ['-r', 'echo extension_loaded("curl") ? "yes" : "no";'], { encoding: 'utf8' });
  return r.stdout === 'yes' ? undefined : "php's curl extension is not loaded (apt-get install php-curl)";
}

const php = skipWhen(phpWithCurl());
const phpTls = skipWhen(phpWithCurl() ?? missing('openssl'));

/** GET or HEAD without credentials, as a visitor's browser asks the bucket. */
function anonymous(port: number, method: 'GET' | 'HEAD', key: string): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  const url = `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP pass-through to `port` that keeps each request's head and body, to see what the client really sends. */
async function recording(
  port: number,
): Promise<{ url: string; seen: { method: string; headers: http.IncomingHttpHeaders; body: Buffer }[]; close: () => Promise<void> }> {
  const seen: { method: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      seen.push({ method: req.method!, headers: req.headers, body });
      const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

php.describe('the media offload against the S3 stand-in', () => {
  let dir: string;
  let uploads: string;
  let mu: string;
  let standin: S3Standin;
  const requests: string[] = [];
  const accessKey = `LAB${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(30).toString('base64');
  let scripts = 0;

  beforeAll(async () => {
    dir = tempDir('hawp-media-');
    uploads = path.join(dir, 'uploads');
    mkdirSync(path.join(uploads, '2026', '05'), { recursive: true });
    // Laid out as the wordpress role installs them (tasks/mu-plugins.yml).
    mu = path.join(dir, 'mu-plugins');
    mkdirSync(path.join(mu, 'hawp-media'), { recursive: true });
    copyFileSync(path.join(FILES, 'hawp-media.php'), path.join(mu, 'hawp-media.php'));
    copyFileSync(path.join(FILES, 'hawp-s3.php'), path.join(mu, 'hawp-media', 's3.php'));
    standin = await startS3Standin({
      address: '127.0.0.1',
      port: 0,
      directory: path.join(dir, 'store'),
      accessKey,
      secretKey,
      buckets: [BUCKET],
      log: (l) => requests.push(l),
    });
  });

  afterAll(async () => {
    await standin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const config = (over: Record<string, unknown> = {}) => ({
    endpoint: standin.url,
    region: 'fra1',
    bucket: BUCKET,
    key: accessKey,
    secret: secretKey,
    ...over,
  });

  /**
   * Runs `code` with $in (the JSON `input`) and $s3 (the client, built from
   * $in) and prints what the code returns as JSON. Warnings and notices go
   * to stderr, which the caller checks; so does error_log.
   */
  async function runPhp(prelude: string, code: string, input: Record<string, unknown>): Promise<{ out: unknown; stderr: string }> {
    const file = path.join(dir, `script-${++scripts}.php`);
    writeFileSync(
      file,
      `<?php\ndefine('ABSPATH', '/nonexistent/');\n$in = json_decode(stream_get_contents(STDIN), true);\n${prelude}\n` +
        `$result = (function () use ($in) {\n${code}\n})();\necho json_encode($result, JSON_UNESCAPED_SLASHES);\n`,
    );
    const r = await runTool('php', ['-d', 'error_reporting=-1', '-d', 'display_errors=stderr', '-d', 'error_log=', file], {
      input: JSON.stringify({ mu, ...input }),
    });
    return { out: JSON.parse(r.stdout) as unknown, stderr: r.stderr };
  }

  const CLIENT = `require $in['mu'] . '/hawp-media/s3.php';`;
  const s3 = `$s3 = new HAWP_S3($in['endpoint'], $in['region'], $in['bucket'], $in['key'], $in['secret'], $in['ca'] ?? null);`;
  const client = async <T = Record<string, unknown>>(code: string, input: Record<string, unknown> = {}) => {
    const r = await runPhp(CLIENT, `${s3}\n${code}`, { ...config(), ...input });
    expect(r.stderr).toBe('');
    return r.out as T;
  };

  php.it('put stores a public-read object with its type and cache policy; anyone can GET it; HEAD and DELETE', async () => {
    const file = path.join(dir, 'hello.txt');
    writeFileSync(file, 'hello from a web node\n');
    const key = 'wp-content/uploads/2026/05/hello.txt';
    const proxy = await recording(standin.port);
    let stored: Record<string, unknown>;
    try {
      stored = await client(
        `return ['put' => $s3->put($in['k'], $in['file'], 'text/plain'), 'exists' => $s3->exists($in['k']), 'missing' => $s3->exists($in['k'] . '.nope')];`,
        { k: key, file, endpoint: proxy.url },
      );
    } finally {
      await proxy.close();
    }
    expect(stored).toEqual({ put: null, exists: true, missing: false });
    // The signature covers the body's real SHA-256 (not UNSIGNED-PAYLOAD) and every header that says what the object is.
    const put = proxy.seen.find((r) => r.method === 'PUT')!;
    expect(put.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('hello from a web node\n').digest('hex'));
    expect(put.headers['x-amz-acl']).toBe('public-read');
    const auth = /^AWS4-HMAC-SHA256 Credential=(\w+)\/\d{8}\/(\w+)\/s3\/aws4_request, SignedHeaders=([\w;-]+), Signature=[0-9a-f]{64}$/.exec(
      put.headers.authorization ?? '',
    );
    expect(auth?.slice(1)).toEqual([accessKey, 'fra1', 'cache-control;content-type;host;x-amz-acl;x-amz-content-sha256;x-amz-date']);
    expect(put.headers.expect).toBeUndefined();
    const got = await anonymous(standin.port, 'GET', key);
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe('hello from a web node\n');
    expect(got.headers['content-type']).toBe('text/plain');
    expect(got.headers['cache-control']).toBe('public, max-age=31536000');

    const gone = await client(`return ['delete' => $s3->delete($in['k']), 'again' => $s3->delete($in['k']), 'exists' => $s3->exists($in['k'])];`, { k: key });
    expect(gone).toEqual({ delete: null, again: null, exists: false });
    expect((await anonymous(standin.port, 'GET', key)).status).toBe(403);
  });

  php.it('a 1 MiB binary file under a name with spaces and accents round-trips byte for byte', async () => {
    const bytes = randomBytes(MiB);
    const file = path.join(dir, 'big.bin');
    writeFileSync(file, bytes);
    const key = 'wp-content/uploads/2026/05/Café crème (1)+x.bin';
    expect(await client(`return ['put' => $s3->put($in['k'], $in['file'], 'application/octet-stream')];`, { k: key, file })).toEqual({ put: null });
    const got = await anonymous(standin.port, 'GET', key);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(MiB);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    const head = await anonymous(standin.port, 'HEAD', key);
    expect(head.headers['content-length']).toBe(String(MiB));
  });

  php.it("a wrong secret or key id is S3's refusal, returned with its code and message; nothing is stored", async () => {
    const file = path.join(dir, 'refused.txt');
    writeFileSync(file, 'refused');
    const key = 'wp-content/uploads/2026/05/refused.txt';
    const code = `return [
      'put' => $s3->put($in['k'], $in['file'], 'text/plain'), 'exists' => $s3->exists($in['k']), 'delete' => $s3->delete($in['k']),
    ];`;
    const wrong = await client(code, { k: key, file, secret: `${secretKey}x` });
    const mismatch = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    expect(wrong.put).toBe(`PUT ${key}: 403 SignatureDoesNotMatch: ${mismatch}`);
    // A HEAD answer carries no error document: its status is all there is.
    expect(wrong.exists).toBe(`HEAD ${key}: 403`);
    expect(wrong.delete).toMatch(new RegExp(`^DELETE ${key}: 403 SignatureDoesNotMatch: `));
    const unknown = await client(code, { k: key, file, key: 'LABSOMEONEELSE' });
    expect(unknown.put).toMatch(/: 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records\.$/);
    expect(await client<unknown>(`return $s3->exists($in['k']);`, { k: key })).toBe(false);
    for (const out of [wrong, unknown]) expect(JSON.stringify(out)).not.toContain(secretKey);
  });

  php.it(
    'refused before any request: a file above 100 MiB, an unreadable file, a bad endpoint; an endpoint that does not answer is an error, not a hang',
    async () => {
      const huge = path.join(dir, 'huge.bin');
      writeFileSync(huge, '');
      truncateSync(huge, 100 * MiB + 1);
      const before = requests.length;
      const out = await client(
        `return [
        'huge' => $s3->put('huge.bin', $in['huge'], 'application/octet-stream'),
        'unreadable' => $s3->put('none.bin', $in['huge'] . '.none', 'application/octet-stream'),
        'endpoint' => (new HAWP_S3('ftp://127.0.0.1/x', 'fra1', 'b', 'k', 's'))->exists('a.jpg'),
      ];`,
        { huge },
      );
      expect(out).toEqual({
        huge: `PUT huge.bin: the file is ${100 * MiB + 1} bytes, above the ${100 * MiB} this client stores in one PUT`,
        unreadable: `PUT none.bin: cannot read ${huge}.none`,
        endpoint: 'HEAD a.jpg: the endpoint (HAWP_MEDIA_ENDPOINT) must be http(s)://host[:port]',
      });
      expect(requests.length).toBe(before);

      // A port nobody listens on: a free one, closed again.
      const probe = net.createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const closed = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      const refused = await client<string>(`return $s3->exists('a.jpg');`, { endpoint: `http://127.0.0.1:${closed}` });
      expect(refused).toMatch(/^HEAD a\.jpg: Failed to connect to 127\.0\.0\.1 port \d+/);
    },
  );

  phpTls.it('over https the certificate must chain to HAWP_MEDIA_CA_FILE (or a CA the system trusts) and name the host', async () => {
    const ca = await newCa('media test CA', 2);
    const otherCa = await newCa('another CA', 2);
    const leaf = await issue(ca, { commonName: '127.0.0.1', ips: ['127.0.0.1'], usage: ['serverAuth'] }, 2);
    // TLS in front of the stand-in, as Spaces (or the lab) terminates it.
    const front = tls.createServer({ cert: leaf.cert, key: leaf.key }, (socket) => {
      const back = net.connect(standin.port, '127.0.0.1');
      socket.pipe(back).pipe(socket);
      back.on('error', () => socket.destroy());
      socket.on('error', () => back.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `https://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
      writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
      writeFileSync(path.join(dir, 'other-ca.pem'), otherCa.cert);
      const file = path.join(dir, 'tls.txt');
      writeFileSync(file, 'over tls');
      const code = `return [
        'put' => $s3->put('wp-content/uploads/tls.txt', $in['file'], 'text/plain'), 'exists' => $s3->exists('wp-content/uploads/tls.txt'),
      ];`;
      expect(await client(code, { endpoint, file, ca: path.join(dir, 'ca.pem') })).toEqual({ put: null, exists: true });
      const otherCaAnswer = await client(code, { endpoint, file, ca: path.join(dir, 'other-ca.pem') });
      expect(otherCaAnswer.put).toMatch(/^PUT wp-content\/uploads\/tls\.txt: SSL certificate problem/);
      const noCa = await client(code, { endpoint, file });
      expect(noCa.put).toMatch(/^PUT wp-content\/uploads\/tls\.txt: SSL certificate problem/);
      // The certificate names 127.0.0.1, not localhost.
      const wrongName = await client(code, { endpoint: endpoint.replace('127.0.0.1', 'localhost'), file, ca: path.join(dir, 'ca.pem') });
      expect(wrongName.put).toMatch(/^PUT wp-content\/uploads\/tls\.txt: SSL: no alternative certificate subject name matches target host name 'localhost'$/);
    } finally {
      await new Promise<void>((r) => front.close(() => r()));
    }
  });

  // ---------------------------------------------------------------------------
  // The WordPress glue (hawp-media.php), loaded with stubs of what it calls.

  const WORDPRESS = `
    $GLOBALS['hooks'] = [];
    function add_filter($hook, $callback, $priority = 10, $args = 1) { $GLOBALS['hooks'][] = "$hook $callback $args"; }
    function add_action($hook, $callback, $priority = 10, $args = 1) { add_filter($hook, $callback, $priority, $args); }
    function wp_get_upload_dir() { return ['basedir' => $GLOBALS['in']['uploads'], 'baseurl' => $GLOBALS['in']['baseurl']]; }
    function wp_check_filetype($file) {
      $ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
      return ['ext' => $ext, 'type' => ['jpg' => 'image/jpeg', 'png' => 'image/png', 'pdf' => 'application/pdf'][$ext] ?? false];
    }
    function get_post_meta($id, $key, $single) { return $GLOBALS['in']['posts'][$id][$key] ?? ''; }
    function wp_get_attachment_metadata($id, $unfiltered = false) { return $GLOBALS['in']['posts'][$id]['_wp_attachment_metadata'] ?? false; }
    $GLOBALS['in'] = $in;
    foreach ($in['constants'] ?? [] as $name => $value) { define($name, $value); }
    ob_start();
    require $in['mu'] . '/hawp-media.php';
    $GLOBALS['output'] = ob_get_clean();
  `;
  const constants = (over: Record<string, string> = {}) => ({
    HAWP_MEDIA_ENDPOINT: standin.url,
    HAWP_MEDIA_REGION: 'fra1',
    HAWP_MEDIA_BUCKET: BUCKET,
    HAWP_MEDIA_KEY: accessKey,
    HAWP_MEDIA_SECRET: secretKey,
    HAWP_MEDIA_URL: MEDIA_URL,
    ...over,
  });
  const wordpress = (code: string, input: Record<string, unknown> = {}) =>
    runPhp(WORDPRESS, code, { uploads, baseurl: SITE_UPLOADS, constants: constants(), ...input }) as Promise<{ out: Record<string, unknown>; stderr: string }>;
  const local = (relative: string, bytes: Buffer | string) => {
    writeFileSync(path.join(uploads, relative), bytes);
    return path.join(uploads, relative);
  };
  const inBucket = async (relative: string) => (await anonymous(standin.port, 'GET', `wp-content/uploads/${relative}`)).status;

  php.it('registers its hooks only when every required constant is defined, and prints nothing', async () => {
    const code = `return ['hooks' => $GLOBALS['hooks'], 'output' => $GLOBALS['output']];`;
    const all = await wordpress(code);
    expect(all.stderr).toBe('');
    expect(all.out).toEqual({
      hooks: [
        'wp_handle_upload hawp_media_handle_upload 1',
        'wp_generate_attachment_metadata hawp_media_offload_metadata 2',
        'wp_update_attachment_metadata hawp_media_offload_metadata 2',
        'wp_unique_filename hawp_media_unique_filename 6',
        'wp_get_attachment_url hawp_media_url 1',
        'wp_calculate_image_srcset hawp_media_srcset 1',
        'delete_attachment hawp_media_delete_attachment 1',
      ],
      output: '',
    });
    for (const name of Object.keys(constants())) {
      const some = Object.fromEntries(Object.entries(constants()).filter(([k]) => k !== name));
      expect((await wordpress(code, { constants: some })).out, `without ${name}`).toEqual({ hooks: [], output: '' });
    }
    expect((await wordpress(code, { constants: {} })).out).toEqual({ hooks: [], output: '' });
  });

  php.it('rewrites URLs under the uploads URL (either scheme) to the media URL and prefix, and nothing else', async () => {
    const { out, stderr } = await wordpress(`
      $r = fn ($url, $prefix = 'wp-content/uploads') => hawp_media_rewrite($url, $in['baseurl'], 'https://media.example.net', $prefix);
      return [
        $r('https://shop.example.com/wp-content/uploads/2026/05/photo.jpg'),
        $r('http://shop.example.com/wp-content/uploads/2026/05/photo-150x150.jpg'),
        $r('https://shop.example.com/wp-content/uploads/2026/05/photo.jpg', ''),
        $r('https://shop.example.com/wp-content/uploads/2026/05/photo.jpg', '/site/media/'),
        $r('https://shop.example.com/wp-content/uploads-old/photo.jpg'),
        $r('https://shop.example.com/wp-content/themes/twentytwentyfour/style.css'),
        $r('https://elsewhere.example.org/wp-content/uploads/2026/05/photo.jpg'),
        hawp_media_url('https://shop.example.com/wp-content/uploads/2026/05/a.pdf'),
        hawp_media_url(false),
        hawp_media_srcset([
          300 => ['url' => 'https://shop.example.com/wp-content/uploads/2026/05/photo-300x200.jpg', 'descriptor' => 'w', 'value' => 300],
          1024 => ['url' => 'https://shop.example.com/wp-content/uploads/2026/05/photo-1024x683.jpg', 'descriptor' => 'w', 'value' => 1024],
        ]),
      ];`);
    expect(stderr).toBe('');
    expect(out).toEqual([
      'https://media.example.net/wp-content/uploads/2026/05/photo.jpg',
      'https://media.example.net/wp-content/uploads/2026/05/photo-150x150.jpg',
      'https://media.example.net/2026/05/photo.jpg',
      'https://media.example.net/site/media/2026/05/photo.jpg',
      'https://shop.example.com/wp-content/uploads-old/photo.jpg',
      'https://shop.example.com/wp-content/themes/twentytwentyfour/style.css',
      'https://elsewhere.example.org/wp-content/uploads/2026/05/photo.jpg',
      `${MEDIA_URL}/wp-content/uploads/2026/05/a.pdf`,
      false,
      {
        300: { url: `${MEDIA_URL}/wp-content/uploads/2026/05/photo-300x200.jpg`, descriptor: 'w', value: 300 },
        1024: { url: `${MEDIA_URL}/wp-content/uploads/2026/05/photo-1024x683.jpg`, descriptor: 'w', value: 1024 },
      },
    ]);
  });

  php.it('an upload is in the bucket before WordPress records it; every size and the scaled-down original follow', async () => {
    const original = randomBytes(50_000);
    const file = local('2026/05/photo.jpg', original);
    const upload = { file, url: `${SITE_UPLOADS}/2026/05/photo.jpg`, type: 'image/jpeg' };
    const handled = await wordpress(`return hawp_media_handle_upload($in['upload'], 'upload');`, { upload });
    expect(handled).toEqual({ out: upload, stderr: '' });
    const got = await anonymous(standin.port, 'GET', 'wp-content/uploads/2026/05/photo.jpg');
    expect(got.body.equals(original)).toBe(true);
    expect(got.headers['content-type']).toBe('image/jpeg');

    // What wp_generate_attachment_metadata gives for a big image: scaled down, the upload kept as original_image.
    for (const f of ['photo-scaled.jpg', 'photo-150x150.jpg', 'photo-1024x683.jpg']) local(`2026/05/${f}`, randomBytes(2000));
    const meta = {
      width: 2560,
      height: 1707,
      file: '2026/05/photo-scaled.jpg',
      sizes: {
        thumbnail: { file: 'photo-150x150.jpg', width: 150, height: 150, 'mime-type': 'image/jpeg' },
        large: { file: 'photo-1024x683.jpg', width: 1024, height: 683, 'mime-type': 'image/jpeg' },
      },
      original_image: 'photo.jpg',
    };
    const generated = await wordpress(`return hawp_media_offload_metadata($in['meta'], 7);`, { meta });
    expect(generated).toEqual({ out: meta, stderr: '' });
    for (const f of ['photo-scaled.jpg', 'photo-150x150.jpg', 'photo-1024x683.jpg', 'photo.jpg']) {
      const a = await anonymous(standin.port, 'HEAD', `wp-content/uploads/2026/05/${f}`);
      expect(a.status, f).toBe(200);
      expect(a.headers['content-type'], f).toBe('image/jpeg');
    }
    // A size another node made (not on this disk) is left to that node, quietly.
    const elsewhere = await wordpress(`return hawp_media_offload_metadata($in['meta'], 7);`, {
      meta: { ...meta, sizes: { ...meta.sizes, medium: { file: 'photo-300x200.jpg', 'mime-type': 'image/jpeg' } } },
    });
    expect(elsewhere.stderr).toBe('');
    expect(await inBucket('2026/05/photo-300x200.jpg')).toBe(403);
  });

  php.it('HAWP_MEDIA_PREFIX puts the keys and the URLs under another prefix, or none', async () => {
    const file = local('2026/05/prefixed.png', randomBytes(700));
    const upload = { file, url: `${SITE_UPLOADS}/2026/05/prefixed.png`, type: 'image/png' };
    const code = `return [hawp_media_handle_upload($in['upload']), hawp_media_url($in['upload']['url'])];`;
    const site = await wordpress(code, { upload, constants: constants({ HAWP_MEDIA_PREFIX: '/sites/shop/' }) });
    expect(site).toEqual({ out: [upload, `${MEDIA_URL}/sites/shop/2026/05/prefixed.png`], stderr: '' });
    expect((await anonymous(standin.port, 'GET', 'sites/shop/2026/05/prefixed.png')).status).toBe(200);
    const root = await wordpress(code, { upload, constants: constants({ HAWP_MEDIA_PREFIX: '' }) });
    expect(root).toEqual({ out: [upload, `${MEDIA_URL}/2026/05/prefixed.png`], stderr: '' });
    expect((await anonymous(standin.port, 'GET', '2026/05/prefixed.png')).status).toBe(200);
  });

  php.it('an upload the bucket refuses fails whole (the local file removed); a size it refuses is logged and the metadata kept', async () => {
    const file = local('2026/05/refused.jpg', randomBytes(1000));
    const bad = constants({ HAWP_MEDIA_SECRET: `${secretKey}x` });
    const handled = await wordpress(`return hawp_media_handle_upload($in['upload'], 'upload');`, {
      constants: bad,
      upload: { file, url: `${SITE_UPLOADS}/2026/05/refused.jpg`, type: 'image/jpeg' },
    });
    expect(handled.out).toEqual({
      error: 'The file could not be stored in the media storage, so it was not uploaded. Please try again; the PHP error log says why.',
    });
    expect(handled.stderr).toContain('hawp-media: PUT wp-content/uploads/2026/05/refused.jpg: 403 SignatureDoesNotMatch');
    expect(existsSync(file)).toBe(false);
    expect(await inBucket('2026/05/refused.jpg')).toBe(403);

    // An upload WordPress already failed is passed on untouched.
    const failed = { error: 'Sorry, you are not allowed to upload this file type.' };
    expect((await wordpress(`return hawp_media_handle_upload($in['upload'], 'upload');`, { constants: bad, upload: failed })).out).toEqual(failed);

    local('2026/05/kept-150x150.jpg', randomBytes(1000));
    const meta = { file: '2026/05/kept.jpg', sizes: { thumbnail: { file: 'kept-150x150.jpg', 'mime-type': 'image/jpeg' } } };
    const generated = await wordpress(`return hawp_media_offload_metadata($in['meta'], 8);`, { constants: bad, meta });
    expect(generated.out).toEqual(meta);
    expect(generated.stderr).toContain('hawp-media: PUT wp-content/uploads/2026/05/kept-150x150.jpg: 403 SignatureDoesNotMatch');
  });

  php.it('a name another node already stored in the bucket is numbered on, as WordPress numbers it', async () => {
    // sunset.jpg and sunset-1.jpg came through another node: not on this disk, in the bucket.
    const other = path.join(dir, 'other-node.jpg');
    writeFileSync(other, randomBytes(500));
    for (const f of ['sunset.jpg', 'sunset-1.jpg', 'beach-1.jpg'])
      expect(await client<unknown>(`return $s3->put($in['k'], $in['file'], 'image/jpeg');`, { k: `wp-content/uploads/2026/05/${f}`, file: other })).toBeNull();
    // sunset-2.jpg is on this disk only (WordPress's own check would have seen it).
    local('2026/05/sunset-2.jpg', 'local');
    const folder = path.join(uploads, '2026', '05');
    const before = requests.length;
    const { out, stderr } = await wordpress(
      `$u = fn ($name, $number = '', $dir = null) =>
        hawp_media_unique_filename($name, '.' . pathinfo($name, PATHINFO_EXTENSION), $dir ?? $in['folder'], null, [], $number);
      return [
        $u('sunset.jpg'),
        $u('beach-1.jpg', 1),
        $u('new.jpg'),
        $u('sunset.jpg', '', $in['outside']),
      ];`,
      { folder, outside: path.join(dir, 'elsewhere') },
    );
    expect(stderr).toBe('');
    expect(out).toEqual(['sunset-3.jpg', 'beach-2.jpg', 'new.jpg', 'sunset.jpg']);
    // HEADs only for names under the uploads folder: sunset, -1, -3; beach-1, -2; new.
    expect(requests.slice(before).filter((l) => l.startsWith('HEAD '))).toHaveLength(6);

    // A bucket that cannot answer keeps the name (the upload itself will then fail, saying why).
    const down = await wordpress(`return hawp_media_unique_filename('sunset.jpg', '.jpg', $in['folder']);`, {
      folder,
      constants: constants({ HAWP_MEDIA_ENDPOINT: 'http://127.0.0.1:1' }),
    });
    expect(down.out).toBe('sunset.jpg');
    expect(down.stderr).toMatch(/hawp-media: HEAD wp-content\/uploads\/2026\/05\/sunset\.jpg: Failed to connect/);
  });

  php.it('deleting an attachment deletes the original, its sizes, the scaled-down original and the editor’s kept copies from the bucket', async () => {
    for (const f of ['cat.jpg', 'cat-scaled.jpg', 'cat-150x150.jpg', 'cat-e1712345678.jpg']) local(`2026/05/${f}`, randomBytes(800));
    const meta = { file: '2026/05/cat-scaled.jpg', sizes: { thumbnail: { file: 'cat-150x150.jpg', 'mime-type': 'image/jpeg' } }, original_image: 'cat.jpg' };
    const posts = {
      9: {
        _wp_attached_file: '2026/05/cat-scaled.jpg',
        _wp_attachment_metadata: meta,
        _wp_attachment_backup_sizes: { 'full-orig': { file: 'cat-e1712345678.jpg' } },
      },
    };
    await wordpress(`return hawp_media_offload_metadata($in['meta'], 9);`, { meta, posts });
    expect(
      (await wordpress(`return hawp_media_offload_metadata($in['meta'], 9);`, { meta: { ...meta, file: '2026/05/cat-e1712345678.jpg', sizes: [] }, posts }))
        .stderr,
    ).toBe('');
    for (const f of ['cat.jpg', 'cat-scaled.jpg', 'cat-150x150.jpg', 'cat-e1712345678.jpg']) expect(await inBucket(`2026/05/${f}`), f).toBe(200);
    const deleted = await wordpress(`hawp_media_delete_attachment(9); return true;`, { posts });
    expect(deleted).toEqual({ out: true, stderr: '' });
    for (const f of ['cat.jpg', 'cat-scaled.jpg', 'cat-150x150.jpg', 'cat-e1712345678.jpg']) {
      expect(await inBucket(`2026/05/${f}`), f).toBe(403);
      expect(await client<unknown>(`return $s3->exists($in['k']);`, { k: `wp-content/uploads/2026/05/${f}` }), f).toBe(false);
    }
  });
});
