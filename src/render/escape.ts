/**
 * Per-sink encoders used by the templates. Each turns a value into text that
 * the sink's own parser reads back as exactly that value.
 */
import yaml from 'js-yaml';

/**
 * An HCL quoted string. Besides the JSON-like escapes, "${" and "%{" open
 * template sequences inside quoted strings, and are written "$${" / "%%{".
 */
export function hclString(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  // Replacer functions, not strings: in a replacement string "$$" means "$".
  return `"${out.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{')}"`;
}

export function hclValue(value: unknown): string {
  if (typeof value === 'string') return hclString(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(hclValue).join(', ')}]`;
  throw new Error(`cannot write ${typeof value} as HCL`);
}

/** A YAML value on one line (flow style), quoted by the YAML library wherever plain would change its meaning. */
export function yamlValue(value: unknown): string {
  return yaml.dump(value, { flowLevel: 0, lineWidth: -1, noRefs: true, quotingType: '"' }).trimEnd();
}

/**
 * A YAML double-quoted scalar that every YAML 1.1/1.2 reader (PyYAML for
 * Ansible, js-yaml here) reads back as exactly `value`. Besides `\` and `"`,
 * everything outside printable ASCII that a reader may treat specially is
 * escaped: C0/C1 controls and DEL (PyYAML refuses most of them raw), NEL,
 * U+2028/U+2029 (line breaks to YAML 1.1, folded inside quotes), BOM and
 * non-characters, lone surrogates. Printable Unicode stays as it is.
 */
export function yamlDoubleQuoted(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else if (code < 0xa0 || code === 0x2028 || code === 0x2029 || code === 0xfeff || (code >= 0xd800 && code <= 0xdfff) || code === 0xfffe || code === 0xffff)
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `"${out}"`;
}

/**
 * A plain (non-secret) setting for Ansible's group_vars: strings tagged
 * `!unsafe`, so Ansible never templates them (`{{ vault_x }}` in a site
 * title stays those characters) and never reads them as a list, dict or
 * bool; lists element by element; numbers and booleans as YAML's own.
 * The roles use these variables directly, never through a `"{{ var }}"`
 * default: Ansible 2.14 turns the *result* of such a template into a
 * bool/list/dict when it reads "True", "[1, 2]" or "{...}", unsafe or not
 * (docs/architecture.md, "Settings into Ansible").
 */
export function ansibleValue(value: unknown): string {
  if (typeof value === 'string') return `!unsafe ${yamlDoubleQuoted(value)}`;
  if (Array.isArray(value)) return `[${value.map(ansibleValue).join(', ')}]`;
  if (typeof value === 'number' || typeof value === 'boolean') return yamlValue(value);
  throw new Error(`cannot write ${typeof value} as an Ansible value`);
}

/** A YAML block (block style, indented by `indent` spaces), for maps such as the WordPress salts. */
export function yamlBlock(value: unknown, indent: number): string {
  const pad = ' '.repeat(indent);
  return yaml
    .dump(value, { lineWidth: -1, noRefs: true, quotingType: '"' })
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** A string as one word for a POSIX shell, quoted only when it needs to be (for commands we print). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
