/**
 * The wordpress role's hawp-smtp.php (WordPress's mail through --smtp-host)
 * run by the real php CLI with the real PHPMailer (Debian's
 * libphp-phpmailer, the same 6.x WordPress bundles), set up by the plugin's
 * own phpmailer_init hook as wp_mail() would call it, sending to a real
 * SMTP server (npm smtp-server) on 127.0.0.1 with a certificate from a CA
 * made for the test: what arrives, over which kind of connection, with
 * which login; and that nothing is sent, login included, over a connection
 * that TLS does not protect or whose certificate does not verify.
 * Skipped, saying so, without php or PHPMailer.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, expect } from 'vitest';
import { issue, newCa } from '../src/secrets/pki.js';
import { ROOT, tempDir } from './support/cli.js';
import { missing, skipWhen } from './support/tools.js';

const PLUGIN = path.join(ROOT, 'ansible', 'roles', 'wordpress', 'files', 'hawp-smtp.php');
const PHPMAILER = '/usr/share/php/libphp-phpmailer/autoload.php';
const USER = "o'brien@example.com";
const PASSWORD = 'Sm7p-pa$$word_0123';

const why = missing('php') ?? (existsSync(PHPMAILER) ? undefined : 'PHPMailer is not installed (apt-get install libphp-phpmailer)');

interface Received {
  secure: boolean;
  auth?: { username: string; password: string };
  from?: string;
  to: string[];
  data: string;
}

let dir: string;
let caFile: string;
let otherCaFile: string;
let cert: { cert: string; key: string };

beforeAll(async () => {
  if (why) return;
  dir = tempDir('hawp-smtp-');
  const ca = await newCa('ha-wordpress test mail CA', 2);
  cert = await issue(ca, { commonName: 'localhost', dns: ['localhost'], usage: ['serverAuth'] }, 2);
  caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  otherCaFile = path.join(dir, 'other-ca.pem');
  writeFileSync(otherCaFile, (await newCa('another CA', 2)).cert);
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An SMTP server on 127.0.0.1 that records what each session did. */
async function smtpServer(
  o: Partial<SMTPServerOptions>,
): Promise<{ port: number; got: Received[]; logins: string[]; errors: string[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const logins: string[] = [];
  const errors: string[] = [];
  const server = new SMTPServer({
    key: cert.key,
    cert: cert.cert,
    authOptional: true,
    logger: false,
    onAuth(auth, session, done) {
      logins.push(`${auth.username} over ${session.secure ? 'TLS' : 'plaintext'}`);
      if (auth.username === USER && auth.password === PASSWORD) return done(null, { user: auth.username });
      return done(new Error('Invalid username or password'));
    },
    onData(stream, session, done) {
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (data += d));
      stream.on('end', () => {
        got.push({
          secure: session.secure,
          ...(session.user ? { auth: { username: String(session.user), password: PASSWORD } } : {}),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
        });
        done();
      });
    },
    ...o,
  });
  // A session the client broke off (a certificate it refused): recorded, not thrown.
  server.on('error', (err: Error & { code?: string }) => errors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, got, logins, errors, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * One message sent as wp_mail() sends it: a PHPMailer with WordPress's own
 * sender, the plugin's phpmailer_init hook run on it, then send(). The
 * plugin's constants as config-default.php defines them; `port` is where the
 * test's server listens (the plugin decides TLS from HAWP_SMTP_PORT: 465 is
 * TLS from the start, any other STARTTLS).
 */
function send(o: { port: number; tlsPort?: 465 | 587; from?: string; ca: string }): Promise<{ sent: boolean; error: string }> {
  const consts = {
    HAWP_SMTP_HOST: 'localhost',
    HAWP_SMTP_PORT: o.tlsPort ?? 587,
    HAWP_SMTP_USER: USER,
    HAWP_SMTP_PASSWORD: PASSWORD,
    HAWP_SMTP_FROM: o.from ?? '',
  };
  const code = `<?php
    define('ABSPATH', '/');
    foreach (json_decode($argv[1], true) as $k => $v) define($k, $v);
    $hooks = [];
    function add_action($name, $fn) { global $hooks; $hooks[$name][] = $fn; }
    require '${PHPMAILER}';
    require $argv[2];
    $m = new PHPMailer\\PHPMailer\\PHPMailer(true);
    $m->setFrom('wordpress@shop.example.com', 'WordPress', false);
    $m->addAddress('owner@example.com');
    $m->Subject = '[Shop] Password Reset';
    $m->Body = 'Someone has requested a password reset.';
    foreach ($hooks['phpmailer_init'] ?? [] as $fn) $fn($m);
    // The test's server listens on a free port; the plugin chose TLS by HAWP_SMTP_PORT.
    $m->Port = (int) $argv[3];
    try { $m->send(); echo json_encode(['sent' => true, 'error' => '']); }
    catch (Throwable $e) { echo json_encode(['sent' => false, 'error' => $e->getMessage()]); }`;
  return new Promise((resolve, reject) => {
    const child = spawn('php', ['-d', `openssl.cafile=${o.ca}`, '--', JSON.stringify(consts), PLUGIN, String(o.port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as { sent: boolean; error: string });
      } catch {
        reject(new Error(`php printed no result: ${out}${err}`));
      }
    });
    child.stdin.end(code);
  });
}

skipWhen(why).describe('mail through --smtp-host (hawp-smtp.php with the real PHPMailer and a real SMTP server)', () => {
  skipWhen(why).it('port 587: STARTTLS, then the login and the mail; the sender given replaces WordPress’s', async () => {
    const s = await smtpServer({});
    try {
      const r = await send({ port: s.port, ca: caFile, from: 'shop@example.com' });
      expect(r).toEqual({ sent: true, error: '' });
      expect(s.logins).toEqual([`${USER} over TLS`]);
      expect(s.got).toHaveLength(1);
      expect(s.got[0]).toMatchObject({ secure: true, from: 'shop@example.com', to: ['owner@example.com'] });
      expect(s.got[0]!.data).toContain('Subject: [Shop] Password Reset');
    } finally {
      await s.close();
    }
  });

  skipWhen(why).it('port 465: TLS from the first byte', async () => {
    const s = await smtpServer({ secure: true });
    try {
      const r = await send({ port: s.port, tlsPort: 465, ca: caFile });
      expect(r).toEqual({ sent: true, error: '' });
      expect(s.logins).toEqual([`${USER} over TLS`]);
      // No sender configured: WordPress's own stays.
      expect(s.got.map((g) => [g.secure, g.from])).toEqual([[true, 'wordpress@shop.example.com']]);
    } finally {
      await s.close();
    }
  });

  skipWhen(why).it('a server that offers no STARTTLS gets neither the login nor the mail', async () => {
    const s = await smtpServer({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    try {
      const r = await send({ port: s.port, ca: caFile });
      expect(r.sent).toBe(false);
      expect(s.logins).toEqual([]);
      expect(s.got).toEqual([]);
    } finally {
      await s.close();
    }
  });

  skipWhen(why).it('a certificate that does not verify (another CA) ends the session before the login', async () => {
    const s = await smtpServer({});
    try {
      const r = await send({ port: s.port, ca: otherCaFile });
      expect(r.sent).toBe(false);
      // PHP's TLS refused the server's certificate (its alert reached the server).
      expect(s.errors).toContain('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
      expect(s.logins).toEqual([]);
      expect(s.got).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
