/**
 * Scrubbing hides a secret in every form a child's output may give it
 * (src/secrets/forms.ts computes the forms, src/ui/logger.ts scrub() hides
 * them): JSON-escaped, URL-encoded (component and form encoding), base64
 * (standard and URL-safe, whole or inside a longer encoded string at any
 * alignment), shell- and YAML-quoted. Every scrubber goes through it: the
 * logger, a phase's log file, the lab's log.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { alignedBase64, MIN_CORE, secretForms } from '../src/secrets/forms.js';
import { logLine } from '../src/lab/sys.js';
import { PhaseLog } from '../src/runners/process.js';
import { logger, redact, scrub } from '../src/ui/logger.js';
import { tempDir } from './support/cli.js';

// A user-given secret may hold any of these (the vault password may even hold a space).
const SECRET = `pa$s/w0rd+"q'uo te\\back&x=1%é~~?!`;
// A generated one: letters and digits only.
const GENERATED = 'Zq7RkX2mVb9LtP4sWc8NyH3dJf6GaE1u';
redact(SECRET);
redact(GENERATED);

const R = '[redacted]';

/** The scrubbed text keeps no trace of `form` and shows the redaction. */
function hidden(text: string, form: string): void {
  expect(text).toContain(form); // the test's own input really holds the form
  const out = scrub(text);
  expect(out).not.toContain(form);
  expect(out).toContain(R);
}

describe('scrub() hides every form of a registered secret', () => {
  it.each([SECRET, GENERATED])('the exact string (%#)', (s) => hidden(`token=${s} done`, s));

  it('JSON-escaped, as terraform and ansible print values', () => {
    const json = JSON.stringify({ password: SECRET });
    hidden(json, JSON.stringify(SECRET).slice(1, -1));
    expect(scrub(json)).toBe(`{"password":"${R}"}`);
  });

  it('JSON with "/" escaped and non-ASCII as \\u (PHP json_encode, Python json.dumps)', () => {
    const php = JSON.stringify(SECRET).slice(1, -1).replace(/\//g, '\\/').replace('é', '\\u00e9');
    hidden(`{"p":"${php}"}`, php);
  });

  it('URL-encoded with encodeURIComponent, in upper- or lower-case hex', () => {
    const u = encodeURIComponent(SECRET);
    hidden(`https://x.example/?p=${u}&q=1`, u);
    const lower = u.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase());
    hidden(`https://x.example/?p=${lower}&q=1`, lower);
  });

  it('form-encoded (application/x-www-form-urlencoded: space as "+")', () => {
    const body = new URLSearchParams({ user: 'admin', pass: SECRET }).toString();
    const form = body.split('pass=')[1]!;
    expect(form).toContain('+'); // the space
    hidden(body, form);
    expect(scrub(body)).toBe(`user=admin&pass=${R}`);
  });

  it('base64 of the whole value, standard and URL-safe, with and without padding', () => {
    const std = Buffer.from(SECRET).toString('base64');
    const url = Buffer.from(SECRET).toString('base64url');
    expect(std).not.toBe(url); // the secret's bytes give "+" or "/" here
    hidden(`secret: ${std}`, std);
    hidden(`secret: ${url}`, url);
    hidden(`secret: ${std.replace(/=+$/, '')}.`, std.replace(/=+$/, ''));
    expect(scrub(`data: ${std}\n`)).toBe(`data: ${R}\n`);
  });

  it('base64 inside a longer encoded string, at every alignment: every character made of the secret’s bits alone is hidden', () => {
    for (const secret of [SECRET, GENERATED]) {
      const bytes = Buffer.from(secret);
      for (let before = 0; before < 6; before++) {
        for (let after = 0; after < 4; after++) {
          const whole = Buffer.concat([randomBytes(before), bytes, randomBytes(after)]);
          for (const enc of [whole.toString('base64'), whole.toString('base64url')]) {
            const first = Math.ceil((before * 8) / 6);
            const last = Math.floor(((before + bytes.length) * 8) / 6);
            const out = scrub(enc);
            // Up to the character where the secret starts, all visible; from where its last
            // bits mix with what follows, visible too (unless a whole-value form took it).
            expect(out.startsWith(enc.slice(0, first) + R), `${before}+secret+${after}: ${out}`).toBe(true);
            const rest = out.slice(first + R.length);
            expect(enc.endsWith(rest) && rest.length <= enc.length - last, `${before}+secret+${after}: ${out}`).toBe(true);
            // What stays visible decodes to no 3 bytes in a row of the secret.
            for (const piece of out.split(R)) {
              const decoded = Buffer.from(piece, 'base64').toString('latin1');
              for (let i = 0; i + 3 <= bytes.length; i++) expect(decoded).not.toContain(bytes.subarray(i, i + 3).toString('latin1'));
            }
          }
        }
      }
    }
  });

  it('HTTP Basic authorization, the common case of the above', () => {
    const header = `Authorization: Basic ${Buffer.from(`admin:${GENERATED}`).toString('base64')}`;
    const out = scrub(header);
    expect(out).toContain(R);
    expect(Buffer.from(out.split(' ').pop()!.replace(R, ''), 'base64').toString('latin1')).not.toContain(GENERATED.slice(0, 4));
  });

  it("shell-quoted: '…' with '\\'' (sh) or '\"'\"' (Python's shlex.quote), \"…\" with backslashes, bash's printf %q", () => {
    hidden(`mysql -p'${SECRET.replace(/'/g, "'\\''")}'`, SECRET.replace(/'/g, "'\\''"));
    hidden(`mysql -p'${SECRET.replace(/'/g, `'"'"'`)}'`, SECRET.replace(/'/g, `'"'"'`));
    hidden(`export P="${SECRET.replace(/[\\"$`]/g, '\\$&')}"`, SECRET.replace(/[\\"$`]/g, '\\$&'));
    const q = SECRET.replace(/[^A-Za-z0-9_./:=@%+,-]/g, '\\$&');
    hidden(`P=${q}`, q);
  });

  it("YAML-quoted: '…' with '' and \"…\" with escapes, as js-yaml writes them", () => {
    hidden(`password: '${SECRET.replace(/'/g, "''")}'`, SECRET.replace(/'/g, "''"));
    for (const style of ["'", '"'] as const) {
      const text = yaml.dump({ password: SECRET }, { quotingType: style, forceQuotes: true });
      expect(text.startsWith(`password: ${style}`), text).toBe(true);
      expect(scrub(text), text).toBe(`password: ${style}${R}${style}\n`);
    }
  });

  it('leaves text without a secret alone, and does not hide short base64 runs that could be anything', () => {
    const line = 'Apply complete! Resources: 18 added, 0 changed, 0 destroyed. aGVsbG8gd29ybGQ=';
    expect(scrub(line)).toBe(line);
    // A 4-character secret: its whole base64 is a form, no aligned run is (too short to be its alone).
    const forms = secretForms('abcd');
    expect(forms).toContain('YWJjZA==');
    for (const offset of [0, 1, 2] as const) expect(alignedBase64(Buffer.from('abcd'), offset).length).toBeLessThan(MIN_CORE);
  });

  it('computes the forms once per secret: longest first, no duplicates', () => {
    const forms = secretForms(SECRET);
    expect(new Set(forms).size).toBe(forms.length);
    expect([...forms].sort((a, b) => b.length - a.length)).toEqual(forms);
    expect(forms).toContain(SECRET);
    // A generated secret has far fewer distinct forms: most encodings leave it as it is.
    expect(secretForms(GENERATED).length).toBeLessThan(forms.length);
  });
});

describe('every scrubber uses the same forms', () => {
  const dir = tempDir('hawp-scrub-');
  const jsonForm = JSON.stringify(SECRET).slice(1, -1);
  const b64 = Buffer.from(SECRET).toString('base64');
  const urlForm = encodeURIComponent(SECRET);
  afterAll(() => vi.restoreAllMocks());

  it("a phase's log file", async () => {
    const log = new PhaseLog(dir, 'scrub', 'stamp');
    log.line(`{"value":"${jsonForm}"} ${b64} ${urlForm}`);
    await log.close();
    const text = readFileSync(log.file, 'utf8');
    expect(text).toBe(`{"value":"${R}"} ${R} ${R}\n`);
  });

  it("the lab's log", () => {
    const file = path.join(dir, 'lab.log');
    logLine({ log: logger, status: () => undefined, logFile: file }, `curl -d 'p=${urlForm}' ${b64}`);
    expect(readFileSync(file, 'utf8')).toBe(`curl -d 'p=${R}' ${R}\n`);
  });

  it('the terminal (the logger)', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    logger.info(`got ${jsonForm} and ${b64}`);
    vi.restoreAllMocks();
    expect(written.join('')).toBe(`got ${R} and ${R}\n`);
  });
});
