/**
 * Renders the workspace's generated files from templates/ with handlebars.
 * Templates never concatenate raw values: every value goes through a sink
 * helper ({{ansible x}}, {{yaml x}}, {{hcl x}}, {{yamlBlock x 2}}), and handlebars' HTML
 * escaping is off because those helpers do the escaping each sink needs.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { ansibleValue, hclValue, yamlBlock, yamlValue } from './escape.js';
import { packagePath } from '../paths.js';

const hb = Handlebars.create();
hb.registerHelper('yaml', (v: unknown) => new hb.SafeString(yamlValue(v)));
hb.registerHelper('ansible', (v: unknown) => new hb.SafeString(ansibleValue(v)));
hb.registerHelper('hcl', (v: unknown) => new hb.SafeString(hclValue(v)));
hb.registerHelper('yamlBlock', (v: unknown, indent: unknown) => new hb.SafeString(yamlBlock(v, typeof indent === 'number' ? indent : 2)));

const cache = new Map<string, HandlebarsTemplateDelegate>();
let partialsLoaded = false;

async function loadPartials(): Promise<void> {
  if (partialsLoaded) return;
  const dir = path.join(packagePath('templates'), 'ansible', 'group_vars');
  hb.registerPartial('header', await fs.readFile(path.join(dir, 'vault-header.hbs'), 'utf8'));
  hb.registerPartial('varsheader', await fs.readFile(path.join(dir, 'vars-header.hbs'), 'utf8'));
  partialsLoaded = true;
}

/** Renders templates/<name>.hbs. `strict` makes a missing variable an error rather than an empty string. */
export async function renderTemplate(name: string, model: object): Promise<string> {
  await loadPartials();
  let template = cache.get(name);
  if (!template) {
    const source = await fs.readFile(path.join(packagePath('templates'), `${name}.hbs`), 'utf8');
    template = hb.compile(source, { noEscape: true, strict: true });
    cache.set(name, template);
  }
  const out = template(model);
  return out.endsWith('\n') ? out : out + '\n';
}
