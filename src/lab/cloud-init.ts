/**
 * The lab's cloud-init: each container boots with the user data a droplet
 * gets, rendered from the same file (terraform/cloud-init.yaml.tftpl), and
 * reads it through cloud-init's NoCloud datasource (a seed directory), so
 * the admin user is made by cloud-init on both targets (docs/lab.md#cloud-init).
 *
 * The lab needs no terraform, so the template is rendered here. Terraform's
 * template language is larger than this file uses; the renderer takes what
 * the file uses (literal text with `$${`/`%%{` escapes, `${name}` and
 * `${jsonencode(name)}` interpolations, `%{ for x in list }` …
 * `%{ endfor }` with `~` strip markers) and refuses anything else by name,
 * so a new construct in the template fails loudly instead of rendering
 * wrong. test/lab-cloud-init.test.ts compares it with real terraform's
 * templatefile() byte for byte.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { packagePath } from '../paths.js';

export type TemplateValue = string | string[];

type Node = { text: string } | { expr: string } | { each: string; of: string; body: Node[] };

/** Terraform's jsonencode of a string: JSON, with <, >, &, U+2028 and U+2029 as \u escapes (as Go's encoder writes them). */
export function jsonencode(v: TemplateValue): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface Token {
  kind: 'text' | 'interp' | 'directive';
  body: string;
  stripBefore: boolean;
  stripAfter: boolean;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let text = '';
  let i = 0;
  while (i < src.length) {
    if (src.startsWith('$${', i) || src.startsWith('%%{', i)) {
      text += src.slice(i + 1, i + 3);
      i += 3;
      continue;
    }
    if (src.startsWith('${', i) || src.startsWith('%{', i)) {
      const end = src.indexOf('}', i + 2);
      if (end < 0) throw new Error(`unterminated ${src.slice(i, i + 2)} at offset ${i}`);
      let inner = src.slice(i + 2, end);
      const stripBefore = inner.startsWith('~');
      const stripAfter = inner.endsWith('~');
      inner = inner.slice(stripBefore ? 1 : 0, stripAfter ? -1 : undefined).trim();
      out.push({ kind: 'text', body: text, stripBefore: false, stripAfter: false });
      text = '';
      out.push({ kind: src[i] === '$' ? 'interp' : 'directive', body: inner, stripBefore, stripAfter });
      i = end + 1;
      continue;
    }
    text += src[i];
    i++;
  }
  out.push({ kind: 'text', body: text, stripBefore: false, stripAfter: false });
  // A strip marker removes the whitespace on its side of the sequence, as far as HCL's scanner
  // splits literals: into lines, each with its newline. So `~}` removes the rest of its own line
  // and the newline, never the next line's indentation; `{~` removes the blanks before it on its line.
  const lines = (text: string) => text.match(/[^\n]*\n|[^\n]+/g) ?? [];
  for (let k = 0; k < out.length; k++) {
    const t = out[k]!;
    if (t.kind === 'text') continue;
    const before = out[k - 1];
    if (t.stripBefore && before?.kind === 'text') {
      const l = lines(before.body);
      before.body = [...l.slice(0, -1), (l.at(-1) ?? '').replace(/\s+$/, '')].join('');
    }
    const after = out[k + 1];
    if (t.stripAfter && after?.kind === 'text') {
      const l = lines(after.body);
      after.body = [(l[0] ?? '').replace(/^\s+/, ''), ...l.slice(1)].join('');
    }
  }
  return out;
}

function parse(tokens: Token[]): Node[] {
  let k = 0;
  const block = (inFor: boolean): Node[] => {
    const nodes: Node[] = [];
    while (k < tokens.length) {
      const t = tokens[k++]!;
      if (t.kind === 'text') {
        if (t.body) nodes.push({ text: t.body });
      } else if (t.kind === 'interp') nodes.push({ expr: t.body });
      else {
        const loop = /^for\s+([A-Za-z_]\w*)\s+in\s+([A-Za-z_]\w*)$/.exec(t.body);
        if (loop) nodes.push({ each: loop[1]!, of: loop[2]!, body: block(true) });
        else if (t.body === 'endfor' && inFor) return nodes;
        else throw new Error(`template directive %{ ${t.body} } is not supported by the lab's renderer`);
      }
    }
    if (inFor) throw new Error('%{ for } without %{ endfor }');
    return nodes;
  };
  return block(false);
}

function evaluate(expr: string, vars: Record<string, TemplateValue>): string {
  const m = /^(?:jsonencode\(\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*))$/.exec(expr);
  if (!m) throw new Error(`template expression \${${expr}} is not supported by the lab's renderer`);
  const name = (m[1] ?? m[2])!;
  const v = vars[name];
  if (v === undefined) throw new Error(`template variable ${name} is not given`);
  if (m[1]) return jsonencode(v);
  if (typeof v !== 'string') throw new Error(`template variable ${name} is a list: only jsonencode() can print it`);
  return v;
}

/** A Terraform template (the subset above) with these variables, as templatefile() renders it. */
export function renderTemplate(src: string, vars: Record<string, TemplateValue>): string {
  const walk = (nodes: Node[], scope: Record<string, TemplateValue>): string =>
    nodes
      .map((n) => {
        if ('text' in n) return n.text;
        if ('expr' in n) return evaluate(n.expr, scope);
        const list = scope[n.of];
        if (!Array.isArray(list)) throw new Error(`%{ for ${n.each} in ${n.of} }: ${n.of} is not a list`);
        return list.map((item) => walk(n.body, { ...scope, [n.each]: item })).join('');
      })
      .join('');
  return walk(parse(tokenize(src)), vars);
}

/** The terraform code's cloud-config template, as shipped with this package. */
export const CLOUD_INIT_TEMPLATE = (): string => packagePath('terraform', 'cloud-init.yaml.tftpl');

/**
 * The NoCloud seed a container boots with: the user data rendered from the
 * droplets' template with the workspace's admin user and key, and meta-data
 * naming the instance (cloud-init runs its once-per-instance modules again
 * only for a new instance id: a container made anew gets one) with the
 * droplet's keys.
 */
export async function writeSeed(root: string, o: { instanceId: string; hostname: string; adminUser: string; publicKey: string }): Promise<void> {
  const userData = renderTemplate(await fs.readFile(CLOUD_INIT_TEMPLATE(), 'utf8'), { admin_user: o.adminUser, ssh_keys: [o.publicKey.trim()] });
  const seed = path.join(root, 'var/lib/cloud/seed/nocloud');
  await fs.mkdir(seed, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(seed, 'user-data'), userData, { mode: 0o600 });
  // The droplet's keys (terraform's ssh_keys) reach cloud-init through the metadata: root's, which
  // disable_root turns into a refusal that names the admin user. JSON strings are YAML scalars.
  const meta = { 'instance-id': o.instanceId, 'local-hostname': o.hostname, 'public-keys': [o.publicKey.trim()] };
  await fs.writeFile(
    path.join(seed, 'meta-data'),
    Object.entries(meta)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`)
      .join(''),
    { mode: 0o600 },
  );
}

/**
 * cloud-init's settings in the image: only the NoCloud seed is looked for
 * (the lab has no cloud metadata in cloud-init's sense: the metadata service
 * it runs is for the roles), and the network stays as the lab writes it, as
 * a droplet's stays as DigitalOcean's metadata says.
 */
export const CLOUD_CFG = [
  '# Written by ha-wordpress (local lab): user data from the NoCloud seed in',
  '# /var/lib/cloud/seed/nocloud, rendered from terraform/cloud-init.yaml.tftpl.',
  'datasource_list: [NoCloud, None]',
  'network:',
  '  config: disabled',
  '',
].join('\n');
