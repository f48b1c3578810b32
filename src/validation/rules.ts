/**
 * Pure validators. Each returns an error message (what is wrong and how to
 * fix it, without naming the flag — the caller adds that) or undefined.
 * No I/O here: checks against the live API live in digitalocean/.
 */
import { isIPv4 } from 'node:net';

export type Check<T = string> = (value: T) => string | undefined;

/** Runs checks in order, returning the first failure. */
export const all =
  <T>(...checks: Check<T>[]): Check<T> =>
  (value) => {
    for (const check of checks) {
      const problem = check(value);
      if (problem) return problem;
    }
    return undefined;
  };

// A hostname label is at most 63 characters; the longest name we derive is
// "<project>-lb-01" (6 more), and DigitalOcean tags and load balancer names
// accept the same characters, so one rule covers all three uses.
export const projectName: Check = (v) => {
  if (!/^[a-z][a-z0-9-]*$/.test(v))
    return 'use lowercase letters, digits and hyphens, starting with a letter (it becomes droplet hostnames, tags and the load balancer name)';
  if (v.length < 2 || v.length > 40) return 'use 2 to 40 characters';
  if (v.endsWith('-') || v.includes('--')) return 'must not end with a hyphen or contain "--"';
  return undefined;
};

export const domain: Check = (v) => {
  if (v === '') return undefined;
  const labels = v.toLowerCase().replace(/\.$/, '').split('.');
  if (v.length > 253 || labels.length < 2) return 'give a full domain name such as www.example.com (or leave it empty)';
  for (const l of labels) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) return `"${l}" is not a valid domain label: use letters, digits and inner hyphens`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'give a domain name, not an IP address';
  return undefined;
};

/** A mail server: a host name, or an IPv4 address (empty: none). */
export const mailHost: Check = (v) => {
  if (v === '' || isIPv4(v)) return undefined;
  return domain(v) ? 'give a host name such as smtp.example.com, or an IPv4 address' : undefined;
};

/** An SMTP login: often an email address or an API key name; one line, as PHPMailer sends it. */
export const mailLogin: Check = (v) =>
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f]/.test(v) ? 'must not contain control characters' : v.length > 255 ? 'use at most 255 characters' : undefined;

export const integerIn =
  (min: number, max: number, extra?: (n: number) => string | undefined): Check =>
  (v) => {
    if (!/^[0-9]+$/.test(v.trim())) return `give a whole number from ${min} to ${max}`;
    const n = Number(v.trim());
    if (n < min || n > max) return `give a whole number from ${min} to ${max}`;
    return extra?.(n);
  };

/** The most web and Galera nodes a cluster may have (drill's scale scenarios go down and back from there). */
export const MAX_WEB_NODES = 10;
export const MAX_DB_NODES = 9;
export const webNodes = integerIn(2, MAX_WEB_NODES);
// Galera needs a majority to stay primary: an even count survives no more
// failures than the odd count below it and risks split brain at 50/50.
export const dbNodes = integerIn(3, MAX_DB_NODES, (n) =>
  n % 2 === 0 ? 'use an odd number (3, 5, 7 or 9) so the cluster keeps a majority after a node failure' : undefined,
);

export const slug: Check = (v) =>
  /^[a-z0-9][a-z0-9-]*$/.test(v) && v.length <= 64 ? undefined : 'use a DigitalOcean slug such as s-2vcpu-4gb (lowercase letters, digits, hyphens)';

export const imageSlug: Check = (v) => (/^[a-z0-9][a-z0-9._-]*$/.test(v) && v.length <= 64 ? undefined : 'use an image slug such as debian-12-x64');

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

function isIpv6(addr: string): boolean {
  if (!/^[0-9a-fA-F:]+$/.test(addr) || !addr.includes(':')) return false;
  const parts = addr.split('::');
  if (parts.length > 2) return false;
  const groups = parts.flatMap((p) => (p === '' ? [] : p.split(':')));
  if (groups.some((g) => g.length === 0 || g.length > 4)) return false;
  return parts.length === 2 ? groups.length < 8 : groups.length === 8;
}

export const cidr: Check = (v) => {
  const [addr, bits, ...rest] = v.split('/');
  if (rest.length > 0 || addr === undefined) return `"${v}" is not an address or CIDR block`;
  if (IPV4.test(addr)) {
    if (bits !== undefined && !(/^[0-9]+$/.test(bits) && Number(bits) <= 32)) return `"${v}": an IPv4 prefix length is 0-32`;
    return undefined;
  }
  if (isIpv6(addr)) {
    if (bits !== undefined && !(/^[0-9]+$/.test(bits) && Number(bits) <= 128)) return `"${v}": an IPv6 prefix length is 0-128`;
    return undefined;
  }
  return `"${v}" is not an IPv4/IPv6 address or CIDR block (e.g. 203.0.113.7/32)`;
};

export const cidrList: Check = (v) => {
  const items = splitList(v);
  if (items.length === 0) return 'give at least one address or CIDR block, comma-separated';
  for (const item of items) {
    const problem = cidr(item);
    if (problem) return problem;
  }
  return undefined;
};

export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The DigitalOcean API base URL (--api-url, DIGITALOCEAN_API_URL): every
 * command that reads it sends the API token there as a Bearer header, and
 * init writes it into the HAProxy nodes' failover script. So it is held to
 * one plain shape, scheme://host[:port][/path], written the way the URL
 * parser reads it (no "127.1" that one parser reads as 127.0.0.1 and
 * another as a name), https unless the host is this machine.
 */
export const apiUrl: Check = (v) => {
  if (/\{[{%#]/.test(v)) return 'must not contain "{{", "{%" or "{#" (Ansible would read them as template syntax)';
  // Control characters are exactly what this looks for.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(v)) return 'give a full URL such as https://api.digitalocean.com, with no spaces or control characters';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'give a full URL such as https://api.digitalocean.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `use an https:// URL such as https://api.digitalocean.com (${LOOPBACK_HTTP})`;
  if (v.includes('@')) return 'must not contain credentials (user:password@): the API token is sent on its own';
  if (v.includes('?') || v.includes('#')) return 'must not contain a query or fragment';
  const m = API_URL_SHAPE.exec(v);
  if (!m || url.hostname !== m[2]!.toLowerCase() || url.pathname !== (m[4] || '/'))
    return 'give it as https://host[:port][/path], the host written in full (a name, four-part IPv4 address or [IPv6]), e.g. https://api.digitalocean.com';
  if (url.protocol === 'http:' && !isLoopbackUrl(v)) return `use https:// (${LOOPBACK_HTTP})`;
  return undefined;
};

const LOOPBACK_HTTP = 'plain http:// only for a loopback address: 127.0.0.0/8, [::1] or localhost';

// scheme, host (a name or dotted quad, or an IPv6 literal), port, path: no
// userinfo, query, fragment, backslash or percent-encoding.
const API_URL_SHAPE = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(\/[A-Za-z0-9._~/-]*)?$/;

/**
 * Whether an API URL names this machine: localhost, 127.0.0.0/8 written as
 * four numbers, or [::1]. Decided on the host as written, which apiUrl
 * checks is the host the URL parser reads.
 */
export function isLoopbackUrl(v: string): boolean {
  const host = API_URL_SHAPE.exec(v)?.[2]?.toLowerCase();
  if (host === undefined) return false;
  if (host === 'localhost') return true;
  if (host.startsWith('[')) {
    try {
      return new URL(`http://${host}`).hostname === '[::1]';
    } catch {
      return false;
    }
  }
  return IPV4.test(host) && host.split('.')[0] === '127';
}

// Personal access tokens are "dop_v1_" + 64 hex digits since 2021; OAuth
// tokens use "doo_v1_", refresh tokens "dor_v1_"; tokens from before 2021 are
// the bare 64 hex digits.
export const doToken: Check = (v) =>
  /^(do[opr]_v1_)?[0-9a-f]{64}$/.test(v)
    ? undefined
    : 'does not look like a DigitalOcean API token (dop_v1_ followed by 64 hex digits); create one under API → Tokens in the control panel';

export const email: Check = (v) =>
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/.test(v) &&
  v.length <= 100
    ? undefined
    : 'give an email address such as admin@example.com';

/** Login names that land in haproxy.cfg (`stats auth user:pass`), WordPress and Linux. */
export const loginName: Check = (v) =>
  /^[a-z_][a-z0-9_-]{1,31}$/.test(v) ? undefined : 'use 2-32 characters: lowercase letters, digits, "_" and "-", starting with a letter or "_"';

// Spaces access keys are 20 upper-case letters/digits (DO00…); secrets are
// 43 base64 characters. Allow a little slack in length.
export const spacesKey: Check = (v) => (/^[A-Z0-9]{16,32}$/.test(v) ? undefined : 'does not look like a Spaces access key (20 upper-case letters and digits)');
export const spacesSecret: Check = (v) =>
  /^[A-Za-z0-9/+=]{30,64}$/.test(v) ? undefined : 'does not look like a Spaces secret key (about 43 characters of A-Z a-z 0-9 / +)';
// "{{" and the like are fine: group_vars carry the title as an !unsafe
// string, which Ansible never templates (test/hostile-settings.test.ts).
export const siteTitle: Check = (v) => {
  if (v.trim() === '') return 'must not be empty';
  if (v.length > 100) return 'use at most 100 characters';
  // Control characters are exactly what this looks for.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'must not contain control characters';
  return undefined;
};

export const vaultPassword: Check = (v) => {
  if (v.length < 8) return 'use at least 8 characters';
  // ansible-vault strips surrounding whitespace when it reads a password file.
  if (v.trim() !== v) return 'must not start or end with whitespace (ansible-vault strips it from password files)';
  if (/[\r\n]/.test(v)) return 'must be a single line';
  return undefined;
};

/** The first and last address of a CIDR block (or a single address), as integers; undefined when it does not parse. */
function addressRange(item: string): { v6: boolean; first: bigint; last: bigint } | undefined {
  if (cidr(item)) return undefined;
  const [addr, bits] = item.split('/') as [string, string | undefined];
  const v6 = !IPV4.test(addr);
  const width = v6 ? 128 : 32;
  let n = 0n;
  if (!v6) for (const part of addr.split('.')) n = (n << 8n) | BigInt(part);
  else {
    const [head, tail] = addr.split('::') as [string, string | undefined];
    const groups = (s: string | undefined) => (s ? s.split(':').map((g) => BigInt(parseInt(g, 16))) : []);
    const h = groups(head);
    const t = groups(tail);
    const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0n), ...t];
    for (const g of all) n = (n << 16n) | g;
  }
  const prefix = BigInt(bits === undefined ? width : Number(bits));
  const hostBits = BigInt(width) - prefix;
  const first = (n >> hostBits) << hostBits;
  return { v6, first, last: first + (1n << hostBits) - 1n };
}

/**
 * Whether a list of addresses and CIDR blocks lets in every IPv4 or every
 * IPv6 address, however it is split up (0.0.0.0/1,128.0.0.0/1 is the whole
 * internet as much as 0.0.0.0/0 is).
 */
export function allAddresses(list: string): boolean {
  const ranges = splitList(list)
    .map(addressRange)
    .filter((r) => r !== undefined);
  return [false, true].some((v6) => {
    const end = (1n << (v6 ? 128n : 32n)) - 1n;
    let next = 0n;
    for (const r of ranges.filter((x) => x.v6 === v6).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0))) {
      if (r.first > next) return false;
      if (r.last >= next) next = r.last + 1n;
      if (next > end) return true;
    }
    return false;
  });
}

/** The warning init and every up give when SSH is open to the whole internet, or undefined. */
export function sshOpenWarning(sshAllow: string): string | undefined {
  return allAddresses(sshAllow)
    ? 'SSH to the droplets is open to the whole internet; restrict it with `init --ssh-allow <your address>/32`, then `up`'
    : undefined;
}
