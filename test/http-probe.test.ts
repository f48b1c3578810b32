/**
 * The one HTTP probe (src/net/http-probe.ts) against a server on 127.0.0.1:
 * the status as sent, no redirect followed, the Host header, and 0 for every
 * way of not answering in time; over HTTPS, 0 for a certificate that does
 * not verify.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, httpStatus } from '../src/net/http-probe.js';
import { issue, newCa, type KeyPair } from '../src/secrets/pki.js';
import { missing, skipWhen } from './support/tools.js';

let server: http.Server;
let port: number;
const seen: { path: string; host?: string; connection?: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ path: req.url!, host: req.headers.host, connection: req.headers.connection });
    switch (req.url) {
      case '/ok':
        return res.end('hello');
      case '/down':
        res.statusCode = 503;
        return res.end('no backend');
      case '/moved':
        res.writeHead(302, { location: '/ok' });
        return res.end();
      case '/slow-head':
        return setTimeout(() => res.end('late'), 600);
      case '/slow-body':
        // Headers at once, the rest of the page never in time: not an answer.
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345');
        return setTimeout(() => res.end('67890'), 600);
      case '/cut':
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345');
        return setTimeout(() => res.socket?.destroy(), 20);
      case '/big':
        return res.end('x'.repeat(5000));
      default:
        res.statusCode = 404;
        return res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const probe = (path: string, extra: Partial<Parameters<typeof httpStatus>[0]> = {}) => httpStatus({ host: '127.0.0.1', port, path, timeoutMs: 300, ...extra });

describe('httpStatus', () => {
  it('returns the status the server sent, on a fresh connection it closes', async () => {
    expect(await probe('/ok')).toBe(200);
    expect(await probe('/down')).toBe(503);
    expect(await probe('/nothing-here')).toBe(404);
    expect(seen.find((s) => s.path === '/ok')!.connection).toBe('close');
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    expect(await probe('/moved')).toBe(302);
    expect(seen.slice(before).map((s) => s.path)).toEqual(['/moved']);
  });

  it('sends the Host header asked for, else the address', async () => {
    await probe('/ok', { hostHeader: 'shop.example.com' });
    expect(seen.at(-1)!.host).toBe('shop.example.com');
    await probe('/ok');
    expect(seen.at(-1)!.host).toBe(`127.0.0.1:${port}`);
  });

  it('is 0 when the answer does not come in time, headers or body, and gives up at the deadline', async () => {
    let t = performance.now();
    expect(await probe('/slow-head')).toBe(0);
    expect(performance.now() - t).toBeLessThan(550);
    t = performance.now();
    expect(await probe('/slow-body')).toBe(0);
    expect(performance.now() - t).toBeLessThan(550);
    expect(await probe('/slow-body', { timeoutMs: 2000 })).toBe(200);
  });

  it('is 0 when the connection is cut mid-answer, refused, or never answered', async () => {
    expect(await probe('/cut')).toBe(0);
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await httpStatus({ host: '127.0.0.1', port: closedPort, timeoutMs: 300 })).toBe(0);
    const silent = net.createServer(() => undefined); // accepts, never says a word
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      expect(await httpStatus({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, timeoutMs: 300 })).toBe(0);
    } finally {
      silent.close();
    }
  });

  it('is 0 at once when its signal is aborted', async () => {
    const c = new AbortController();
    const t = performance.now();
    const p = probe('/slow-head', { timeoutMs: 5000, signal: c.signal });
    setTimeout(() => c.abort(), 50);
    expect(await p).toBe(0);
    expect(performance.now() - t).toBeLessThan(500);
  });
});

describe('httpGet', () => {
  it('returns the body with the status, cut at the limit asked for', async () => {
    expect(await httpGet({ host: '127.0.0.1', port, path: '/ok', timeoutMs: 300 })).toEqual({ status: 200, body: 'hello' });
    expect((await httpGet({ host: '127.0.0.1', port, path: '/big', timeoutMs: 300 }, 1000)).body).toHaveLength(1000);
    expect(await httpGet({ host: '127.0.0.1', port, path: '/slow-body', timeoutMs: 300 })).toEqual({ status: 0, body: '' });
  });
});

describe('httpStatus over HTTPS, with certificates from src/secrets/pki.ts', () => {
  const t = skipWhen(missing('openssl'));
  let tlsServer: https.Server;
  let tlsPort: number;
  let ca: KeyPair;
  let otherCa: KeyPair;

  beforeAll(async () => {
    ca = await newCa('probe test CA', 2);
    otherCa = await newCa('another CA', 2);
    const leaf = await issue(ca, { commonName: 'shop.example.com', dns: ['shop.example.com'], usage: ['serverAuth'] }, 2);
    tlsServer = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      res.end(`tls ${req.headers.host}`);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
  }, 30_000);
  afterAll(() => new Promise<void>((r) => (tlsServer ? tlsServer.close(() => r()) : r())));

  const get = (servername: string, caPem: string | undefined) =>
    httpGet({ host: '127.0.0.1', port: tlsPort, hostHeader: servername, tls: { servername, ...(caPem ? { ca: caPem } : {}) }, timeoutMs: 2000 });

  t.it('answers when the certificate chains to the CA given and covers the name', async () => {
    expect(await get('shop.example.com', ca.cert)).toEqual({ status: 200, body: 'tls shop.example.com' });
  });

  t.it('is no answer when the certificate is for another name, from another CA, or from no CA the system trusts', async () => {
    expect((await get('www.example.com', ca.cert)).status).toBe(0);
    expect((await get('shop.example.com', otherCa.cert)).status).toBe(0);
    expect((await get('shop.example.com', undefined)).status).toBe(0);
  });

  t.it('is no answer from a plain-HTTP server', async () => {
    expect(await httpStatus({ host: '127.0.0.1', port, path: '/ok', tls: { servername: 'shop.example.com', ca: ca.cert }, timeoutMs: 500 })).toBe(0);
  });
});
