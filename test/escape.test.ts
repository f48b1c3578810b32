import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { hclString, hclValue, yamlBlock, yamlValue } from '../src/render/escape.js';
import { budget, needs, terraformEval } from './support/tools.js';

/** Values chosen to break naive quoting in HCL or YAML. */
const ADVERSARIAL = [
  'plain',
  '',
  'with "double" quotes',
  "with 'single' quotes",
  'back\\slash and \\" escaped quote',
  'template ${var.x} and ${', // HCL interpolation
  'directive %{ if true }x%{ endif } and %{',
  'already escaped $${x} %%{y}',
  'dollar $ alone, percent % alone, $$ and %%',
  'new\nline and\ttab and \r return',
  'unicode ✓ ünïcødé 日本',
  '# not a comment',
  '- not a list item',
  ': colon',
  '*alias &anchor !tag %directive @reserved `backtick`',
  'yes',
  'null',
  '~',
  '0x1F',
  '1e3',
  '0777',
  '  leading and trailing spaces  ',
  '{{ jinja }} {% block %} {# comment #}',
  '[flow, seq] {flow: map}',
  '>folded |literal',
  '\u0001control\u007f',
];

/** Terraform's JSON syntax (what hcl2json returns) still treats "$${" and "%%{" as escapes. */
const unescapeTemplate = (s: string) => s.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');

describe('HCL strings', () => {
  it('read back unchanged through HashiCorp’s HCL parser (hcl2json)', async () => {
    const body = ADVERSARIAL.map((v, i) => `v${i} = ${hclString(v)}`).join('\n') + `\nlist = ${hclValue(ADVERSARIAL)}\nn = ${hclValue(3)}\n`;
    const parsed = (await parseHcl('test.tfvars', body)) as Record<string, unknown>;
    ADVERSARIAL.forEach((v, i) => expect(unescapeTemplate(parsed[`v${i}`] as string)).toBe(v));
    expect((parsed.list as string[]).map(unescapeTemplate)).toEqual(ADVERSARIAL);
    expect(parsed.n).toBe(3);
  });

  needs('terraform').it(
    'read back unchanged by real terraform (tfvars evaluated against a variable declaration)',
    () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'hawp-hcl-'));
      writeFileSync(path.join(dir, 'variables.tf'), 'variable "values" {\n  type = list(string)\n}\n');
      writeFileSync(path.join(dir, 'terraform.tfvars'), `values = ${hclValue(ADVERSARIAL)}\n`);
      const r = terraformEval(dir, 'var.values');
      expect(r.ok ? '' : r.report).toBe('');
      expect(r.ok && r.value).toEqual(ADVERSARIAL);
    },
    budget({ terraform: 1 }),
  );
});

describe('YAML values', () => {
  it('read back unchanged, inline and as a block', () => {
    for (const v of ADVERSARIAL) {
      expect(yaml.load(`key: ${yamlValue(v)}\n`)).toEqual({ key: v });
    }
    const map = Object.fromEntries(ADVERSARIAL.map((v, i) => [`k${i}`, v]));
    expect(yaml.load(`outer:\n${yamlBlock(map, 2)}\n`)).toEqual({ outer: map });
  });
});
