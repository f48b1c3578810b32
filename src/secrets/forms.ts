/**
 * The forms a secret takes in a child's output, so that scrubbing hides
 * each of them and not only the exact string. terraform prints values as
 * JSON, ansible as JSON or YAML, curl and the API client URL-encode, HTTP
 * Basic auth and Kubernetes-style secrets are base64, shells and YAML quote.
 * One place computes the forms (here); the logger's scrub() hides every
 * form of every registered secret, and every scrubber goes through it.
 * Pure: no I/O.
 *
 * Base64 is the subtle one. A secret encoded on its own is one string (with
 * or without its `=` padding). Inside a longer encoded string (say
 * base64("user:" + password)), the secret's bytes start at one of three
 * offsets modulo 3, and the characters at its two ends mix its bits with
 * its neighbours'. What is the same whatever the neighbours are is the run
 * of characters made only of the secret's own bits; that run, for each of
 * the three offsets, is a form. It leaves at most two characters at each end
 * visible (under 12 bits of the secret), and it is only used when it is long
 * enough (MIN_CORE) not to hide unrelated text by chance.
 */

/** The shortest aligned base64 run used as a form: 12 characters are 72 bits of the secret. */
export const MIN_CORE = 12;

const b64 = (buf: Buffer) => buf.toString('base64');
const b64url = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');
const stripPad = (s: string) => s.replace(/=+$/, '');

/**
 * The characters of base64(pad + secret + anything) that depend on the
 * secret's bytes alone, for a secret starting `offset` (0, 1 or 2) bytes into
 * a 3-byte group.
 */
export function alignedBase64(secret: Buffer, offset: 0 | 1 | 2): string {
  const enc = b64(Buffer.concat([Buffer.alloc(offset), secret]));
  const startBit = offset * 8;
  const endBit = startBit + secret.length * 8;
  const first = Math.ceil(startBit / 6);
  const last = Math.floor(endBit / 6); // exclusive: the character holding bit endBit mixes in what follows
  return enc.slice(first, last);
}

/** JSON's escapes, as JSON.stringify writes them, without the quotes. */
const json = (s: string) => JSON.stringify(s).slice(1, -1);
/** Every non-ASCII character as \uXXXX, as Python's json.dumps (ensure_ascii) and PHP's json_encode write it. */
const jsonAscii = (s: string) => json(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** application/x-www-form-urlencoded, as URLSearchParams (and HTML forms) write it: space as "+". */
const formEncoded = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);
/** RFC 3986 strict: encodeURIComponent plus !'()*. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase());

/** Every form of `secret` to hide, longest first, without duplicates. */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret]);
  const add = (f: string) => {
    if (f.length > 0) forms.add(f);
  };

  // JSON and YAML double-quoted strings (YAML also reads and some encoders write \/).
  for (const j of [json(secret), jsonAscii(secret)]) {
    add(j);
    add(j.replace(/\//g, '\\/'));
  }
  // YAML single-quoted: ' doubled.
  add(secret.replace(/'/g, "''"));
  // Shells: inside '…' a ' is written '\'' (or '"'"', Python's shlex.quote);
  // inside "…" \ " $ ` are backslashed; bash's printf %q backslashes every
  // special character.
  add(secret.replace(/'/g, "'\\''"));
  add(secret.replace(/'/g, `'"'"'`));
  add(secret.replace(/[\\"$`]/g, '\\$&'));
  add(secret.replace(/[^A-Za-z0-9_./:=@%+,-]/g, '\\$&'));

  // URL encodings, with upper- and lower-case hex.
  for (const u of [encodeURIComponent(secret), rfc3986(secret), formEncoded(secret), encodeURIComponent(secret).replace(/%20/g, '+')]) {
    add(u);
    add(lowerHex(u));
  }

  // Base64, standard and URL-safe: the whole value (with and without its
  // padding), and the runs that survive any neighbours at each alignment.
  const bytes = Buffer.from(secret, 'utf8');
  const whole = b64(bytes);
  for (const w of [whole, stripPad(whole)]) {
    add(w);
    add(b64url(w));
  }
  for (const offset of [0, 1, 2] as const) {
    const core = alignedBase64(bytes, offset);
    if (core.length < MIN_CORE) continue;
    add(core);
    add(b64url(core));
  }

  return [...forms].sort((a, b) => b.length - a.length);
}
