/**
 * The lab's cloud-init seed (src/lab/cloud-init.ts): the user data a
 * container boots with is terraform/cloud-init.yaml.tftpl rendered as real
 * terraform's templatefile() renders it for a droplet, byte for byte, and
 * the renderer refuses template constructs it does not implement. The lab
 * tests boot containers with it (test/lab.test.ts: the admin user, sudo and
 * root's refusal made by cloud-init).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOUD_CFG, CLOUD_INIT_TEMPLATE, jsonencode, renderTemplate } from '../src/lab/cloud-init.js';
import { budget, needs, terraformEval } from './support/tools.js';

/** Key lines whose comments carry what breaks naive rendering: quotes, template and YAML syntax, HTML-escaped characters, line separators. */
const KEYS = [
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKt7cLs8Vq9mHhE8H2Y0sZl8C3uXbM2R1rQy9dFzP0aA "Ann O\'Neil" #x: ${y} %{ if true }z%{ endif } $${w} <&> \\ end',
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 - [flow] {map: x} *alias &anchor !tag |lit >fold \u2028\u2029 ünïcode',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=',
];
const template = readFileSync(CLOUD_INIT_TEMPLATE(), 'utf8');

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** What real terraform's templatefile() makes of the shipped template with these values. */
function terraformRender(admin: string, keys: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-lab-ci-'));
  dirs.push(dir);
  copyFileSync(CLOUD_INIT_TEMPLATE(), path.join(dir, 'cloud-init.yaml.tftpl'));
  // base64 keeps the values out of HCL quoting: only the template decides what survives.
  const vars = Buffer.from(JSON.stringify({ admin_user: admin, ssh_keys: keys })).toString('base64');
  const r = terraformEval(dir, `templatefile("cloud-init.yaml.tftpl", jsondecode(base64decode("${vars}")))`);
  if (!r.ok) throw new Error(r.report);
  return r.value as string;
}

needs('terraform').describe("the lab's user data against real terraform's templatefile()", () => {
  it(
    'is the same bytes for one key and for several hostile ones',
    () => {
      for (const [admin, keys] of [
        ['deploy', [KEYS[2]!]],
        ['ops_1', KEYS],
      ] as const) {
        const ours = renderTemplate(template, { admin_user: admin, ssh_keys: [...keys] });
        expect(ours).toBe(terraformRender(admin, [...keys]));
        const doc = yaml.load(ours) as { users: { name: string; ssh_authorized_keys: string[] }[] };
        expect(doc.users[0]!.name).toBe(admin);
        expect(doc.users[0]!.ssh_authorized_keys).toEqual(keys);
      }
    },
    budget({ terraform: 2 }),
  );
});

describe("the lab's template renderer", () => {
  it('writes jsonencode as terraform does: <, >, &, U+2028 and U+2029 as \\u escapes', () => {
    expect(jsonencode('a<b>&\u2028\u2029"\\')).toBe('"a\\u003cb\\u003e\\u0026\\u2028\\u2029\\"\\\\"');
    expect(jsonencode(['x', 'y'])).toBe('["x","y"]');
  });

  it('keeps $${ and %%{ literal, strips whitespace at ~ markers, and loops', () => {
    expect(renderTemplate('a $${x} %%{y}\n', {})).toBe('a ${x} %{y}\n');
    expect(renderTemplate('l:\n%{ for k in ks ~}\n  - ${k}\n%{ endfor ~}\nend\n', { ks: ['1', '2'] })).toBe('l:\n  - 1\n  - 2\nend\n');
    expect(renderTemplate('a   ${~ v ~}   b', { v: 'V' })).toBe('aVb');
    // What terraform 1.11 renders for the same template: a marker strips up to its line's end, not the next line's indentation.
    const tricky = 'A${v}x  \n  %{~ for k in ks ~}  \n\n y${k}\t \n%{~ endfor ~}\t\n\tz ${~v~} \n q';
    expect(renderTemplate(tricky, { v: 'V', ks: ['1', '2'] })).toBe('AVx  \n\n y1\n y2\tzV q');
  });

  it('refuses what it does not implement, by name, instead of rendering it wrong', () => {
    expect(() => renderTemplate('%{ if x }y%{ endif }', { x: 'a' })).toThrow('template directive %{ if x } is not supported');
    expect(() => renderTemplate('${upper(x)}', { x: 'a' })).toThrow('template expression ${upper(x)} is not supported');
    expect(() => renderTemplate('${x}', {})).toThrow('template variable x is not given');
    expect(() => renderTemplate('${ks}', { ks: ['a'] })).toThrow('only jsonencode() can print it');
    expect(() => renderTemplate('%{ for k in ks }', { ks: [] })).toThrow('without %{ endfor }');
  });

  it("tells cloud-init to read the NoCloud seed and to leave the lab's network alone", () => {
    const cfg = yaml.load(CLOUD_CFG) as Record<string, unknown>;
    expect(cfg.datasource_list).toEqual(['NoCloud', 'None']);
    expect(cfg.network).toEqual({ config: 'disabled' });
  });
});
