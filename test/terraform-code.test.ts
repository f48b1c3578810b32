/**
 * The Terraform code shipped in terraform/: read through HashiCorp's HCL
 * parser (hcl2json) for its structure, and through real terraform where that
 * needs no provider (fmt, templatefile, variable validation, lock file).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getReferencesInExpression, parse as parseHcl } from '@cdktf/hcl2json';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { hclValue } from '../src/render/escape.js';
import { budget, needs, runToolSync, TF_ENV, terraformEval, terraformPlan } from './support/tools.js';

// Most tests here run terraform (init + plan is two runs, the lock file test
// four); on a busy CI machine one run takes seconds to tens of seconds.
vi.setConfig({ testTimeout: budget({ terraform: 4 }) });

const ROOT = path.resolve(__dirname, '..');
const TF_DIR = path.join(ROOT, 'terraform');
const TFVARS_TEMPLATE = path.join(ROOT, 'templates', 'terraform', 'terraform.tfvars.hbs');
const PROVIDER = 'registry.terraform.io/digitalocean/digitalocean';

// hcl2json returns untyped JSON; these aliases only document intent.
type Json = any;
type Rule = Record<string, Json>;

const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** Every .tf file of terraform/, parsed; blocks merged the way terraform merges files. */
interface Config {
  files: Record<string, Json>;
  variables: Record<string, Json>;
  outputs: Record<string, Json>;
  locals: Record<string, Json>;
  resources: Record<string, Record<string, Json>>;
}

async function loadConfig(): Promise<Config> {
  const cfg: Config = { files: {}, variables: {}, outputs: {}, locals: {}, resources: {} };
  for (const f of readdirSync(TF_DIR)
    .filter((n) => n.endsWith('.tf'))
    .sort()) {
    const j = await parseHcl(f, readFileSync(path.join(TF_DIR, f), 'utf8'));
    cfg.files[f] = j;
    for (const [name, blocks] of Object.entries(j.variable ?? {})) cfg.variables[name] = (blocks as Json[])[0];
    for (const [name, blocks] of Object.entries(j.output ?? {})) cfg.outputs[name] = (blocks as Json[])[0];
    for (const block of (j.locals ?? []) as Json[]) Object.assign(cfg.locals, block);
    for (const [type, byName] of Object.entries(j.resource ?? {}))
      for (const [name, blocks] of Object.entries(byName as Record<string, Json[]>)) {
        cfg.resources[type] ??= {};
        cfg.resources[type][name] = blocks[0];
      }
  }
  return cfg;
}

/** Every string in a parsed block (hcl2json writes expressions as "${...}" strings). */
function strings(node: Json): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(strings);
  if (node && typeof node === 'object') return Object.values(node).flatMap(strings);
  return [];
}

/** References (var.x, local.y, resource.name.attr, …) in a parsed block, found by the HCL parser, so comments never count. */
async function references(node: Json): Promise<string[]> {
  const out: string[] = [];
  for (const s of strings(node)) if (s.includes('${')) for (const r of await getReferencesInExpression('x.tf', s)) out.push(r.value);
  return out;
}

/** "${user_data}" → "user_data": the bare names hcl2json wraps in ignore_changes. */
const bare = (s: string) => s.replace(/^\$\{(.*)\}$/s, '$1');

/** Whether `version` satisfies a Terraform/Go-style constraint list such as "~> 2.68" or ">= 2.0, < 3.0". */
function satisfies(version: string, constraint: string): boolean {
  const num = (v: string) => v.split('.').map((p) => Number(p));
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = (a[i] ?? 0) - (b[i] ?? 0);
      if (d !== 0) return Math.sign(d);
    }
    return 0;
  };
  const v = num(version);
  return constraint.split(',').every((part) => {
    const m = /^\s*(~>|>=|<=|!=|=|>|<)?\s*(\d+(?:\.\d+){0,2})\s*$/.exec(part);
    if (!m) throw new Error(`unparsed constraint ${part}`);
    const op = m[1] ?? '=';
    const c = num(m[2]!);
    switch (op) {
      case '~>': {
        // ~> 2.68 allows 2.68 up to (not including) 3.0; ~> 2.68.0 allows 2.68.x.
        const upper = c.slice(0, Math.max(1, c.length - 1));
        upper[upper.length - 1]! += 1;
        return cmp(v, c) >= 0 && cmp(v.slice(0, upper.length), upper) < 0;
      }
      case '>=':
        return cmp(v, c) >= 0;
      case '<=':
        return cmp(v, c) <= 0;
      case '>':
        return cmp(v, c) > 0;
      case '<':
        return cmp(v, c) < 0;
      case '!=':
        return cmp(v, c) !== 0;
      default:
        return cmp(v, c) === 0;
    }
  });
}

describe('constraint check used below', () => {
  it('reads ~> the way terraform does', () => {
    expect(satisfies('2.68.0', '~> 2.68')).toBe(true);
    expect(satisfies('2.99.1', '~> 2.68')).toBe(true);
    expect(satisfies('3.0.0', '~> 2.68')).toBe(false);
    expect(satisfies('2.67.9', '~> 2.68')).toBe(false);
    expect(satisfies('2.68.4', '~> 2.68.0')).toBe(true);
    expect(satisfies('2.69.0', '~> 2.68.0')).toBe(false);
    expect(satisfies('2.5.0', '>= 2.0, < 3.0')).toBe(true);
  });
});

needs('terraform').describe('terraform fmt', () => {
  it('finds nothing to change in terraform/', () => {
    const r = runToolSync('terraform', ['fmt', '-check', '-recursive', '-diff', '-no-color', TF_DIR], { env: TF_ENV, allowFailure: true });
    expect(r.stdout + r.stderr, r.report).toBe('');
    expect(r.code, r.report).toBe(0);
  });
});

describe('the configuration, read by the HCL parser', () => {
  let cfg: Config;
  beforeAll(async () => {
    cfg = await loadConfig();
  });

  const resource = (type: string, name: string): Json => {
    const r = cfg.resources[type]?.[name];
    if (!r) throw new Error(`no resource ${type}.${name}`);
    return r;
  };

  it('declares every variable it uses, and uses every variable it declares', async () => {
    const declared = Object.keys(cfg.variables).sort();
    const used = new Set<string>();
    // Everything but the variable blocks themselves (their validations name their own variable).
    for (const j of Object.values(cfg.files))
      for (const ref of await references({ ...j, variable: undefined })) if (ref.startsWith('var.')) used.add(ref.split('.')[1]!);
    expect([...used].filter((v) => !declared.includes(v))).toEqual([]);
    expect(declared.filter((v) => !used.has(v))).toEqual([]);
    expect(declared).toEqual(expect.arrayContaining(['admin_ssh_keys']));
  });

  it('passes cloud-init.yaml.tftpl exactly the variables the template uses', async () => {
    const userData = cfg.locals.user_data as string;
    const call = /templatefile\("\$\{path\.module\}\/cloud-init\.yaml\.tftpl",\s*\{([^}]*)\}\s*\)/.exec(userData);
    expect(call, userData).not.toBeNull();
    const passed = [...call![1]!.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]).sort();
    expect(passed).toEqual(['admin_user', 'ssh_keys']);
    // A heredoc body is a template exactly like a templatefile() source; loop variables are not references.
    const template = readFileSync(path.join(TF_DIR, 'cloud-init.yaml.tftpl'), 'utf8');
    const used = [...new Set((await getReferencesInExpression('t', `<<EOT\n${template}EOT\n`)).map((r) => r.value.split('.')[0]))].sort();
    expect(used).toEqual(passed);
    expect(await references(userData)).toEqual(expect.arrayContaining(['var.admin_user', 'var.admin_ssh_keys']));
  });

  it('has a tfvars template that sets every variable without a default, and only declared ones', () => {
    const set = [...readFileSync(TFVARS_TEMPLATE, 'utf8').matchAll(/^([a-z_][a-z0-9_]*)\s*=/gm)].map((m) => m[1]!);
    const required = Object.entries(cfg.variables)
      .filter(([, v]) => !('default' in v))
      .map(([k]) => k);
    expect(required.filter((v) => !set.includes(v))).toEqual([]);
    expect(set.filter((v) => !(v in cfg.variables))).toEqual([]);
    expect(set).toEqual(expect.arrayContaining(['admin_ssh_keys']));
  });

  it('describes each variable, in the order type, description, default, validation', () => {
    for (const [name, v] of Object.entries(cfg.variables)) {
      expect(typeof v.description, name).toBe('string');
      expect(v.description.length, name).toBeGreaterThan(10);
      expect(v.type, name).toBeDefined();
    }
    // Order is a style rule; check it on the raw text of the new variables.
    const text = readFileSync(path.join(TF_DIR, 'variables.tf'), 'utf8');
    for (const name of ['admin_ssh_keys']) {
      const block = text.slice(text.indexOf(`variable "${name}"`));
      const at = (k: string) => block.search(new RegExp(`^\\s*${k}\\b`, 'm'));
      expect(at('type')).toBeLessThan(at('description'));
      expect(at('description')).toBeLessThan(at('validation'));
    }
  });

  it('outputs exactly inventory, load_balancer_ip, db_reserved_ip, site_url and dns_record, each described, none sensitive', () => {
    expect(Object.keys(cfg.outputs).sort()).toEqual(['db_reserved_ip', 'dns_record', 'inventory', 'load_balancer_ip', 'site_url']);
    for (const [name, o] of Object.entries(cfg.outputs)) {
      expect(typeof o.description, name).toBe('string');
      expect(o.description.length, name).toBeGreaterThan(10);
      expect(o.sensitive, name).toBeUndefined();
    }
  });

  it('builds the inventory as group → droplet name → { ansible_host, private_ip } for the three groups', async () => {
    const value = cfg.outputs.inventory.value as Record<string, string>;
    const tiers: Record<string, string> = { wp_node: 'web', galera_cluster_node: 'db', galera_loadbalancer: 'dblb' };
    expect(Object.keys(value).sort()).toEqual(Object.keys(tiers).sort());
    for (const [group, tier] of Object.entries(tiers)) {
      const expr = value[group]!;
      expect(expr.replace(/\s+/g, ' ')).toMatch(
        new RegExp(
          `^\\$\\{\\{ for (\\w+) in digitalocean_droplet\\.${tier} : \\1\\.name => ` +
            `\\{ ansible_host = \\1\\.ipv4_address private_ip = \\1\\.ipv4_address_private \\} \\}\\}$`,
        ),
      );
      expect(await references(expr)).toEqual([`digitalocean_droplet.${tier}`]);
    }
    expect(await references(cfg.outputs.load_balancer_ip.value)).toEqual(['digitalocean_loadbalancer.public.ip']);
    expect(await references(cfg.outputs.db_reserved_ip.value)).toEqual(['digitalocean_reserved_ip.db.ip_address']);
  });

  it('pins the provider with ~> and reads credentials only from the environment', () => {
    const tf = cfg.files['terraform.tf'].terraform[0];
    expect(tf.required_version).toBe('>= 1.5');
    const p = tf.required_providers[0].digitalocean;
    expect(p.source).toBe('digitalocean/digitalocean');
    expect(p.version).toMatch(/^~> 2\.\d+$/);
    const providers = cfg.files['providers.tf'].provider.digitalocean;
    expect(providers).toHaveLength(1);
    expect(Object.keys(providers[0])).toEqual([]); // no token, endpoint or keys in a file
  });

  it('has no resource that would move the reserved IP back after a failover', async () => {
    const types = Object.keys(cfg.resources);
    expect(types.filter((t) => t === 'digitalocean_reserved_ip_assignment' || t.startsWith('digitalocean_floating_ip'))).toEqual([]);
    const ips = cfg.resources.digitalocean_reserved_ip ?? {};
    expect(Object.keys(ips)).toEqual(['db']);
    const ip = ips.db;
    expect(ip.lifecycle[0].ignore_changes.map(bare)).toContain('droplet_id');
    expect(ip.droplet_id).toBe('${digitalocean_droplet.dblb[0].id}');
    expect(await references(ip.region)).toEqual(['var.region']);
  });

  it('creates the droplets per tier with names, tags, VPC and first-boot settings that never replace them', async () => {
    const tiers: Record<string, { suffix: string; size: string; count: string }> = {
      web: { suffix: 'wp', size: 'var.web_size', count: 'var.web_count' },
      db: { suffix: 'db', size: 'var.db_size', count: 'var.db_count' },
      dblb: { suffix: 'dblb', size: 'var.lb_size', count: 'local.dblb_count' },
    };
    expect(Object.keys(cfg.resources.digitalocean_droplet ?? {}).sort()).toEqual(Object.keys(tiers).sort());
    expect(cfg.locals.dblb_count).toBe(2);
    for (const [name, t] of Object.entries(tiers)) {
      const d = resource('digitalocean_droplet', name);
      expect(bare(d.count), name).toBe(t.count);
      expect(d.name, name).toBe(`\${format("%s-${t.suffix}-%02d", var.project, count.index + 1)}`);
      expect(await references(d.size), name).toEqual([t.size]);
      expect(await references(d.image), name).toEqual(['var.image']);
      expect(await references(d.region), name).toEqual(['var.region']);
      expect(await references(d.vpc_uuid), name).toEqual(['digitalocean_vpc.cluster.id']);
      expect(await references(d.ssh_keys), name).toEqual(['var.ssh_key_fingerprints']);
      expect(await references(d.user_data), name).toEqual(['local.user_data']);
      expect([d.monitoring, d.ipv6, d.graceful_shutdown], name).toEqual([true, false, true]);
      expect(d.tags, name).toEqual(['${digitalocean_tag.project.id}', `\${digitalocean_tag.${name}.id}`]);
      expect(resource('digitalocean_tag', name).name).toBe(`\${var.project}-${t.suffix}`);
      expect(d.lifecycle[0].ignore_changes.map(bare), name).toEqual(expect.arrayContaining(['user_data', 'ssh_keys', 'image']));
    }
    expect(resource('digitalocean_tag', 'project').name).toBe('${var.project}');
    const vpc = resource('digitalocean_vpc', 'cluster');
    expect(vpc.name).toBe('${var.project}-vpc');
    expect(vpc.ip_range).toBeUndefined();
  });

  it('sends public HTTP to the web tier by tag, health-checked on the static path', async () => {
    const lb = resource('digitalocean_loadbalancer', 'public');
    expect(lb.name).toBe('${var.project}-lb');
    expect(lb.droplet_tag).toBe('${digitalocean_tag.web.name}');
    expect(lb.droplet_ids).toBeUndefined();
    expect(lb.size_unit).toBe(1);
    expect(await references(lb.vpc_uuid)).toEqual(['digitalocean_vpc.cluster.id']);
    expect(lb.forwarding_rule).toEqual([{ entry_protocol: 'http', entry_port: 80, target_protocol: 'http', target_port: 80 }]);
    expect(lb.healthcheck).toHaveLength(1);
    // Every value from lb-healthcheck.json, which the lab's stand-in load balancer reads too.
    expect(lb.healthcheck[0]).toEqual({
      protocol: '${local.health.protocol}',
      port: '${local.health.port}',
      path: '${local.health_path}',
      check_interval_seconds: '${local.health.check_interval_seconds}',
      response_timeout_seconds: '${local.health.response_timeout_seconds}',
      unhealthy_threshold: '${local.health.unhealthy_threshold}',
      healthy_threshold: '${local.health.healthy_threshold}',
    });
    expect(cfg.locals.health).toBe('${jsondecode(file("${path.module}/lb-healthcheck.json"))}');
    expect(cfg.locals.health_path).toBe('${local.health.path}');
    // Within DigitalOcean's limits (the API refuses less than 3 s, or thresholds outside 2-10).
    const health = JSON.parse(readFileSync(path.join(TF_DIR, 'lb-healthcheck.json'), 'utf8')) as Record<string, unknown>;
    expect(health).toMatchObject({ protocol: 'http', port: 80, path: '/healthz' });
    expect(health.check_interval_seconds).toBeGreaterThanOrEqual(3);
    expect(health.response_timeout_seconds).toBeGreaterThanOrEqual(3);
    for (const k of ['unhealthy_threshold', 'healthy_threshold']) expect(health[k]).toSatisfy((n: number) => n >= 2 && n <= 10);
  });

  describe('cloud firewalls', () => {
    const firewallFor = (tag: string): Json[] =>
      Object.values(cfg.resources.digitalocean_firewall ?? {}).filter((f: Json) => strings(f.tags ?? []).some((s) => s.includes(`digitalocean_tag.${tag}.`)));
    const key = (r: Rule) => `${r.protocol}/${r.port_range ?? '-'}`;
    const anywhere = () => cfg.locals.anywhere as string[];
    const resolveLocal = (v: Json) => (typeof v === 'string' && /^\$\{local\.\w+\}$/.test(v) ? cfg.locals[v.slice(8, -1)] : v);

    const expectOpenOutbound = (fw: Json) => {
      expect(anywhere()).toEqual(['0.0.0.0/0', '::/0']);
      const out = (fw.outbound_rule as Rule[]).map((r) => ({ key: key(r), to: resolveLocal(r.destination_addresses) }));
      expect(out).toEqual([
        { key: 'tcp/1-65535', to: ['0.0.0.0/0', '::/0'] },
        { key: 'udp/1-65535', to: ['0.0.0.0/0', '::/0'] },
        { key: 'icmp/-', to: ['0.0.0.0/0', '::/0'] },
      ]);
    };

    it('let HTTP reach the web tier only from the load balancer, SSH only from ssh_allow', () => {
      const fws = firewallFor('web');
      expect(fws).toHaveLength(1);
      const inbound = fws[0].inbound_rule as Rule[];
      expect(inbound.map(key).sort()).toEqual(['tcp/22', 'tcp/80']);
      const http = inbound.find((r) => key(r) === 'tcp/80')!;
      expect(http).toEqual({ protocol: 'tcp', port_range: '80', source_load_balancer_uids: ['${digitalocean_loadbalancer.public.id}'] });
      const ssh = inbound.find((r) => key(r) === 'tcp/22')!;
      expect(ssh).toEqual({ protocol: 'tcp', port_range: '22', source_addresses: '${var.ssh_allow}' });
      expectOpenOutbound(fws[0]);
    });

    it('let the Galera ports and the health endpoint be reached only from inside the VPC', () => {
      const fws = firewallFor('db');
      expect(fws).toHaveLength(1);
      const inbound = fws[0].inbound_rule as Rule[];
      expect(inbound.map(key).sort()).toEqual(['tcp/22', 'tcp/3306', 'tcp/4444', 'tcp/4567', 'tcp/4568', 'tcp/9200', 'udp/4567']);
      for (const r of inbound.filter((x) => x.port_range !== '22'))
        expect(r, key(r)).toEqual({ protocol: r.protocol, port_range: r.port_range, source_addresses: ['${digitalocean_vpc.cluster.ip_range}'] });
      expect(inbound.find((r) => key(r) === 'tcp/22')).toEqual({ protocol: 'tcp', port_range: '22', source_addresses: '${var.ssh_allow}' });
      expectOpenOutbound(fws[0]);
    });

    it('leave the HAProxy pair without a cloud firewall (it would drop VRRP), and attach only by tag', () => {
      const all = Object.values(cfg.resources.digitalocean_firewall ?? {}) as Json[];
      expect(all).toHaveLength(2);
      expect(firewallFor('dblb')).toEqual([]);
      expect(firewallFor('project')).toEqual([]);
      for (const f of all) expect(f.droplet_ids).toBeUndefined();
      expect(readFileSync(path.join(TF_DIR, 'firewall.tf'), 'utf8')).toMatch(/VRRP[\s\S]*protocol 112/);
    });
  });

  it('lists every droplet, the load balancer and the reserved IP (by its do:floatingip URN) in the project', async () => {
    const p = resource('digitalocean_project', 'cluster');
    expect(p.name).toBe('${var.project}');
    expect(p.purpose).toBe('Web Application');
    expect(strings(p.description).join()).toContain('Highly available WordPress (ha-wordpress)');
    const refs = await references(p.resources);
    expect(refs).toEqual(
      expect.arrayContaining([
        'digitalocean_droplet.web',
        'digitalocean_droplet.db',
        'digitalocean_droplet.dblb',
        'digitalocean_loadbalancer.public.urn',
        'digitalocean_reserved_ip.db.ip_address',
      ]),
    );
    expect(refs).not.toContain('digitalocean_reserved_ip.db.urn');
    const code = (p.resources as string).replace(/#[^\n]*/g, '');
    expect(code).toMatch(/format\("do:floatingip:%s", digitalocean_reserved_ip\.db\.ip_address\)/);
    for (const tier of ['web', 'db', 'dblb']) expect(code).toContain(`digitalocean_droplet.${tier}[*].urn`);
  });

  it('manages no bucket: the media bucket of an older state is forgotten here, never deleted (it lives in terraform/backup/ now)', () => {
    expect(Object.keys(cfg.resources).filter((k) => k.startsWith('digitalocean_spaces_bucket'))).toEqual([]);
    const project = readFileSync(path.join(TF_DIR, 'project.tf'), 'utf8').replace(/#[^\n]*/g, '');
    expect(project).toMatch(/removed\s*\{\s*from\s*=\s*digitalocean_spaces_bucket\.media\s*lifecycle\s*\{\s*destroy\s*=\s*false\s*\}\s*\}/);
  });
});

describe('the lock file', () => {
  const lockText = () => readFileSync(path.join(TF_DIR, '.terraform.lock.hcl'), 'utf8');
  const pin = async () =>
    (await parseHcl('terraform.tf', readFileSync(path.join(TF_DIR, 'terraform.tf'), 'utf8'))).terraform[0].required_providers[0].digitalocean.version as string;

  it('locks a provider version that the ~> pin allows, with its hashes', async () => {
    const lock = await parseHcl('.terraform.lock.hcl', lockText());
    expect(Object.keys(lock.provider)).toEqual([PROVIDER]);
    const entry = lock.provider[PROVIDER][0];
    const constraint = await pin();
    expect(entry.constraints).toBe(constraint);
    expect(satisfies(entry.version, constraint)).toBe(true);
    expect(entry.version).toMatch(/^2\.\d+\.\d+$/);
    const hashes = entry.hashes as string[];
    expect(hashes.filter((h) => /^h1:[A-Za-z0-9+/]{43}=$/.test(h)).length).toBeGreaterThanOrEqual(1);
    expect(hashes.filter((h) => /^zh:[0-9a-f]{64}$/.test(h)).length).toBeGreaterThanOrEqual(5);
    expect(hashes.filter((h) => !/^(h1:[A-Za-z0-9+/]{43}=|zh:[0-9a-f]{64})$/.test(h))).toEqual([]);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  // An empty filesystem mirror keeps terraform off the network: init reads the
  // lock file, checks it against required_providers, then fails to find the
  // package. A mismatch fails earlier, with its own message.
  needs('terraform').it('is accepted by real terraform against required_providers (and a mismatch is not)', async () => {
    const initWith = (terraformTf: string) => {
      const dir = tmp('hawp-lock-');
      const mirror = path.join(dir, 'mirror');
      mkdirSync(mirror);
      const rc = path.join(dir, 'cli.tfrc');
      writeFileSync(rc, `provider_installation {\n  filesystem_mirror {\n    path = ${JSON.stringify(mirror)}\n  }\n}\n`);
      const work = path.join(dir, 'work');
      mkdirSync(work);
      writeFileSync(path.join(work, 'terraform.tf'), terraformTf);
      writeFileSync(path.join(work, '.terraform.lock.hcl'), lockText());
      // Fails either way (the mirror is empty): what matters is which error.
      const r = runToolSync('terraform', ['init', '-backend=false', '-input=false', '-no-color'], {
        cwd: work,
        env: { ...TF_ENV, TF_CLI_CONFIG_FILE: rc },
        allowFailure: true,
      });
      return (r.stdout + r.stderr).replace(/\s+/g, ' ');
    };
    const terraformTf = readFileSync(path.join(TF_DIR, 'terraform.tf'), 'utf8');
    const ok = initWith(terraformTf);
    expect(ok).toContain('Reusing previous version of digitalocean/digitalocean from the dependency lock file');
    expect(ok).not.toContain('does not match configured version constraint');
    const constraint = await pin();
    const tooNew = constraint.replace(/\d+$/, (n) => String(Number(n) + 1));
    const bad = initWith(terraformTf.replace(constraint, tooNew));
    expect(bad).toContain('does not match configured version constraint');
  });
});

/** Keys chosen to break naive YAML or template rendering in their comments. */
const ADVERSARIAL_KEYS = [
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKt7cLs8Vq9mHhE8H2Y0sZl8C3uXbM2R1rQy9dFzP0aA "Ann O\'Neil" #admin: key: ${x} %{ if true }y%{ endif } $${z} <&> \\ end',
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 - [flow, seq] {map: x} *alias &anchor !tag |literal >folded',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=',
  'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t yes',
];

needs('terraform').describe('cloud-init.yaml.tftpl rendered by real terraform', () => {
  it('is #cloud-config data with the admin user, the sudo rule and exactly the given keys', () => {
    const dir = tmp('hawp-ci-');
    copyFileSync(path.join(TF_DIR, 'cloud-init.yaml.tftpl'), path.join(dir, 'cloud-init.yaml.tftpl'));
    // base64 keeps the keys out of HCL quoting entirely: the template alone decides what survives.
    const keys = Buffer.from(JSON.stringify(ADVERSARIAL_KEYS)).toString('base64');
    const r = terraformEval(dir, `templatefile("cloud-init.yaml.tftpl", { admin_user = "deploy", ssh_keys = jsondecode(base64decode("${keys}")) })`);
    expect(r.ok ? '' : r.report).toBe('');
    const text = (r as { value: unknown }).value as string;
    expect(text.split('\n')[0]).toBe('#cloud-config');
    const doc = yaml.load(text) as Record<string, Json>;
    expect(doc.users).toHaveLength(1);
    const user = doc.users[0];
    expect(user.name).toBe('deploy');
    expect(user.sudo).toBe('ALL=(ALL) NOPASSWD:ALL');
    expect(user.shell).toBe('/bin/bash');
    expect(user.ssh_authorized_keys).toEqual(ADVERSARIAL_KEYS);
    expect(doc.disable_root).toBe(true);
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.packages).toEqual(expect.arrayContaining(['python3', 'sudo']));
  });

  it('renders a single key as a one-item list', () => {
    const dir = tmp('hawp-ci-');
    copyFileSync(path.join(TF_DIR, 'cloud-init.yaml.tftpl'), path.join(dir, 'cloud-init.yaml.tftpl'));
    const r = terraformEval(dir, 'templatefile("cloud-init.yaml.tftpl", { admin_user = "ops_1", ssh_keys = ["ssh-ed25519 AAAAC3Nz"] })');
    expect(r.ok ? '' : r.report).toBe('');
    const doc = yaml.load((r as { value: unknown }).value as string) as Record<string, Json>;
    expect(doc.users[0].name).toBe('ops_1');
    expect(doc.users[0].ssh_authorized_keys).toEqual(['ssh-ed25519 AAAAC3Nz']);
  });
});

needs('terraform').describe('validation of the new variables by real terraform (no provider needed)', () => {
  const GOOD_KEYS = [
    ...ADVERSARIAL_KEYS,
    'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDx+/9z==',
    'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ= me@laptop',
    'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjE=',
    'sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNh',
  ];
  const KEYS_ERROR = 'admin_ssh_keys: give at least one OpenSSH public key line';

  function plan(vars: { admin_ssh_keys?: unknown }) {
    const dir = tmp('hawp-vars-');
    copyFileSync(path.join(TF_DIR, 'variables.tf'), path.join(dir, 'variables.tf'));
    const all: Record<string, unknown> = {
      project: 'shop',
      region: 'fra1',
      ssh_key_fingerprints: ['3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa'],
      admin_ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host'],
      ...vars,
    };
    const tfvars = Object.entries(all)
      .map(([k, v]) => `${k} = ${hclValue(v)}\n`)
      .join('');
    writeFileSync(path.join(dir, 'terraform.tfvars'), tfvars);
    return terraformPlan(dir);
  }

  it('accepts every supported key type, with and without comments', () => {
    const r = plan({ admin_ssh_keys: GOOD_KEYS });
    expect(r.output).not.toContain('Invalid value for variable');
    expect(r.code, r.report).toBe(0);
  });

  it.each([
    ['no keys', []],
    ['an unsupported type', ['ssh-dss AAAAB3NzaC1kc3MAAACBAP user@host']],
    ['a type without key data', ['ssh-ed25519']],
    ['key data that is not base64', ['ssh-ed25519 not-base64!']],
    ['no type', ['AAAAC3NzaC1lZDI1NTE5AAAAIK user@host']],
    ['two lines in one entry', ['ssh-ed25519 AAAAC3Nz a\nssh-rsa AAAAB3Nz b']],
    ['a carriage return in the comment', ['ssh-ed25519 AAAAC3Nz a\rb']],
    ['a private key', ['-----BEGIN OPENSSH PRIVATE KEY-----']],
  ])('rejects admin_ssh_keys with %s', (_label, keys) => {
    const r = plan({ admin_ssh_keys: keys });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(KEYS_ERROR);
  });

  it('requires admin_ssh_keys', () => {
    const dir = tmp('hawp-vars-');
    copyFileSync(path.join(TF_DIR, 'variables.tf'), path.join(dir, 'variables.tf'));
    writeFileSync(
      path.join(dir, 'terraform.tfvars'),
      'project = "shop"\nregion = "fra1"\nssh_key_fingerprints = ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]\n',
    );
    const r = terraformPlan(dir);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('admin_ssh_keys');
  });
});
