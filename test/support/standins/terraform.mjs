#!/usr/bin/env node
// A stand-in for the `terraform` executable, put first on PATH by the up/
// destroy tests (the real terraform cannot download the DigitalOcean provider
// here). It records every call (argv, cwd, environment) to $STANDIN_RECORD
// and plays terraform's part realistically enough for `up` to be tested end
// to end: `init` makes .terraform/, `plan -out` writes a plan file from the
// difference between terraform.tfvars and a JSON state file, `show -json`
// prints the plan in terraform's JSON format, `apply <plan>` changes the
// state (or fails, or waits for Ctrl-C), `output -json` prints the outputs
// of terraform/outputs.tf.
//
// Knobs (environment): STANDIN_TF_FAIL_APPLY=1 fails an apply after creating
// the VPC; STANDIN_TF_SLOW_APPLY=1 makes apply wait for SIGINT and then exit
// like terraform does after releasing its lock (it writes .standin-lock-released);
// STANDIN_SSH_PORT adds ansible_port to every host of the inventory output
// (all hosts are 127.0.0.1, where the test's SSH server listens), and
// STANDIN_SSH_PORTS ({"<host>": port}, JSON) gives single hosts their own;
// STANDIN_TF_REPLACE (comma-separated addresses) makes the plan replace those
// resources, as a forced replacement or `-replace=` does. The load
// balancer and reserved IPs are loopback addresses too (STANDIN_LB_IP, default
// 127.0.0.10, and 127.0.0.50), so up's check of the site never sends traffic
// off the machine.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const cwd = process.cwd();
if (process.env.STANDIN_RECORD) appendFileSync(process.env.STANDIN_RECORD, JSON.stringify({ tool: 'terraform', argv, cwd, env: process.env }) + '\n');

const LB_IP = process.env.STANDIN_LB_IP ?? '127.0.0.10';
const out = (s) => process.stdout.write(s + '\n');
const err = (s) => process.stderr.write(s + '\n');
const STATE = path.join(cwd, 'terraform.tfstate');
// terraform/backup/: the backup bucket's own root (one bucket, credentials
// from SPACES_* as the provider reads them). The apply knobs act on the
// cluster's root only.
const BACKUP_ROOT = path.basename(cwd) === 'backup' && existsSync(path.join(cwd, 'bucket.tf'));

function tfvars() {
  const text = readFileSync(path.join(cwd, 'terraform.tfvars'), 'utf8');
  const get = (k) => text.match(new RegExp(`^${k}\\s*=\\s*(.+)$`, 'm'))?.[1]?.trim();
  const str = (k) => (get(k) ? JSON.parse(get(k)) : '');
  return {
    project: JSON.parse(get('project')),
    webCount: Number(get('web_count')),
    dbCount: Number(get('db_count')),
    domain: str('domain'),
    tls: str('tls') || 'none',
    dnsZone: str('dns_zone'),
  };
}

function desired() {
  if (BACKUP_ROOT) return ['digitalocean_spaces_bucket.backup'];
  const v = tfvars();
  const r = ['digitalocean_vpc.cluster', 'digitalocean_tag.project', 'digitalocean_tag.web', 'digitalocean_tag.db', 'digitalocean_tag.dblb'];
  for (let i = 0; i < v.webCount; i++) r.push(`digitalocean_droplet.web[${i}]`);
  for (let i = 0; i < v.dbCount; i++) r.push(`digitalocean_droplet.db[${i}]`);
  for (let i = 0; i < 2; i++) r.push(`digitalocean_droplet.dblb[${i}]`);
  r.push(
    'digitalocean_loadbalancer.public',
    'digitalocean_reserved_ip.db',
    'digitalocean_firewall.web',
    'digitalocean_firewall.db',
    'digitalocean_project.cluster',
  );
  if (v.tls !== 'none') r.push('digitalocean_certificate.site[0]');
  if (v.dnsZone) r.push('digitalocean_record.site[0]');
  return r;
}

const readState = () => (existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')).resources : []);
const writeState = (resources) => writeFileSync(STATE, JSON.stringify({ version: 4, resources }, null, 2));
const optValue = (name) => argv.find((a) => a.startsWith(`-${name}=`))?.slice(name.length + 2);

function needInit() {
  if (!existsSync(path.join(cwd, '.terraform'))) {
    err(
      '╷\n│ Error: Inconsistent dependency lock file\n│\n│ To make the initial dependency selections that will initialize the dependency lock file, run:\n│   terraform init\n╵',
    );
    process.exit(1);
  }
}

function needSpaces() {
  if (BACKUP_ROOT && !(process.env.SPACES_ACCESS_KEY_ID && process.env.SPACES_SECRET_ACCESS_KEY)) {
    err('╷\n│ Error: Spaces credentials not configured\n│\n│   with digitalocean_spaces_bucket.backup,\n│   on bucket.tf line 1\n╵');
    process.exit(1);
  }
}

function needToken() {
  if (!process.env.DIGITALOCEAN_TOKEN && !process.env.DIGITALOCEAN_ACCESS_TOKEN) {
    err(
      '╷\n│ Error: Unable to authenticate you\n│\n│   with provider["registry.terraform.io/digitalocean/digitalocean"],\n│   on providers.tf line 1, in provider "digitalocean":\n╵',
    );
    process.exit(1);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

switch (argv[0]) {
  case 'version':
    out(
      argv.includes('-json')
        ? JSON.stringify({ terraform_version: '1.11.4', platform: 'linux_amd64', provider_selections: {}, terraform_outdated: false })
        : 'Terraform v1.11.4\non linux_amd64',
    );
    break;

  case 'init':
    if (!existsSync(path.join(cwd, 'terraform.tf'))) {
      err('╷\n│ Error: No configuration files\n╵');
      process.exit(1);
    }
    mkdirSync(path.join(cwd, '.terraform', 'providers'), { recursive: true });
    out(
      '\nInitializing the backend...\nInitializing provider plugins...\n- Reusing previous version of digitalocean/digitalocean from the dependency lock file\n- Installing digitalocean/digitalocean v2.55.0...\n- Installed digitalocean/digitalocean v2.55.0 (signed by a HashiCorp partner, key ID F82037E524B9C0E8)\n\nTerraform has been successfully initialized!',
    );
    break;

  case 'plan': {
    needInit();
    needToken();
    needSpaces();
    const file = optValue('out');
    const destroy = argv.includes('-destroy');
    const state = readState();
    const want = destroy ? [] : desired();
    const replace = (process.env.STANDIN_TF_REPLACE ?? '').split(',').filter(Boolean);
    const changes = [
      ...want.filter((a) => !state.includes(a)).map((address) => ({ address, actions: ['create'] })),
      ...state.filter((a) => !want.includes(a)).map((address) => ({ address, actions: ['delete'] })),
      ...state.filter((a) => want.includes(a)).map((address) => ({ address, actions: replace.includes(address) ? ['delete', 'create'] : ['no-op'] })),
    ];
    for (const a of state) out(`${a}: Refreshing state... [id=${Math.abs(hash(a))}]`);
    const verb = (actions) => (actions.length === 2 ? 'replaced' : actions[0] === 'create' ? 'created' : 'destroyed');
    for (const c of changes) if (c.actions[0] !== 'no-op') out(`\n  # ${c.address} will be ${verb(c.actions)}`);
    const add = changes.filter((c) => c.actions.includes('create')).length;
    const del = changes.filter((c) => c.actions.includes('delete')).length;
    out(add + del === 0 ? '\nNo changes. Your infrastructure matches the configuration.' : `\nPlan: ${add} to add, 0 to change, ${del} to destroy.`);
    if (file) {
      writeFileSync(path.join(cwd, file), JSON.stringify({ standin: true, destroy, changes }));
      out(`\nSaved the plan to: ${file}`);
    }
    break;
  }

  case 'show': {
    const file = argv[argv.length - 1];
    const plan = JSON.parse(readFileSync(path.join(cwd, file), 'utf8'));
    // A droplet's name is known at plan time (terraform/*.tf: format() of the project and the index).
    const v = plan.destroy || BACKUP_ROOT ? undefined : tfvars();
    const named = (address) => {
      const m = address.match(/^digitalocean_droplet\.(web|db|dblb)\[(\d+)\]$/);
      return m && v ? { name: dropletName(v.project, m[1], Number(m[2])) } : {};
    };
    out(
      JSON.stringify({
        format_version: '1.2',
        terraform_version: '1.11.4',
        resource_changes: plan.changes.map((c) => ({
          address: c.address,
          mode: 'managed',
          type: c.address.split('.')[0],
          name: c.address.split('.')[1].replace(/\[.*/, ''),
          provider_name: 'registry.terraform.io/digitalocean/digitalocean',
          change: {
            actions: c.actions,
            before: c.actions[0] === 'create' ? null : named(c.address),
            after: c.actions.includes('create') ? named(c.address) : null,
          },
        })),
      }),
    );
    break;
  }

  case 'apply': {
    needInit();
    needToken();
    const file = argv[argv.length - 1];
    const plan = JSON.parse(readFileSync(path.join(cwd, file), 'utf8'));
    let state = readState();
    const creates = plan.changes.filter((c) => c.actions.includes('create')).map((c) => c.address);
    const deletes = plan.changes.filter((c) => c.actions.includes('delete')).map((c) => c.address);
    needSpaces();
    if (process.env.STANDIN_TF_SLOW_APPLY && !BACKUP_ROOT) {
      out('digitalocean_vpc.cluster: Creating...');
      writeFileSync(path.join(cwd, '.terraform.tfstate.lock.info'), '{"ID":"standin"}');
      let interrupts = 0;
      await new Promise((resolve) => {
        process.on('SIGINT', async () => {
          interrupts += 1;
          if (interrupts > 1) return; // terraform would now exit at once, leaving the lock
          out('Interrupt received.\nPlease wait for Terraform to exit or data loss may occur.\nGracefully shutting down...');
          await sleep(500);
          writeFileSync(path.join(cwd, '.standin-lock-released'), `interrupts=${interrupts}`);
          err('╷\n│ Error: execution halted\n╵');
          resolve();
        });
        setTimeout(resolve, 60_000);
      });
      process.exit(1);
    }
    if (process.env.STANDIN_TF_FAIL_APPLY && !BACKUP_ROOT && creates.length > 1) {
      out('digitalocean_vpc.cluster: Creating...\ndigitalocean_vpc.cluster: Creation complete after 2s [id=5b3a6c0e]');
      writeState([...state, 'digitalocean_vpc.cluster']);
      out('digitalocean_droplet.web[0]: Creating...');
      err(
        '╷\n│ Error: Error creating droplet: POST https://api.digitalocean.com/v2/droplets: 422 (request "4c1d2b3a") You specified an invalid size for Droplet creation.\n│\n│   with digitalocean_droplet.web[0],\n│   on web.tf line 1, in resource "digitalocean_droplet" "web":\n│    1: resource "digitalocean_droplet" "web" {\n╵',
      );
      process.exit(1);
    }
    for (const a of creates) out(`${a}: Creating...\n${a}: Creation complete after 1s [id=${Math.abs(hash(a))}]`);
    for (const a of deletes) out(`${a}: Destroying... [id=${Math.abs(hash(a))}]\n${a}: Destruction complete after 1s`);
    state = [...state.filter((a) => !deletes.includes(a) || creates.includes(a)), ...creates.filter((a) => !state.includes(a))];
    writeState(state);
    if (BACKUP_ROOT) {
      out(`\nApply complete! Resources: ${creates.length} added, 0 changed, 0 destroyed.`);
      break;
    }
    out(
      plan.destroy
        ? `\nDestroy complete! Resources: ${deletes.length} destroyed.`
        : `\nApply complete! Resources: ${creates.length} added, 0 changed, ${deletes.length} destroyed.\n\nOutputs:\n\ndb_reserved_ip = "127.0.0.50"\ninventory = <sensitive-free map>\nload_balancer_ip = "${LB_IP}"`,
    );
    break;
  }

  case 'output': {
    const state = readState();
    if (state.length === 0) {
      out('{}');
      break;
    }
    const v = tfvars();
    const ports = JSON.parse(process.env.STANDIN_SSH_PORTS ?? '{}');
    const port = (name) => {
      const p = ports[name] ?? process.env.STANDIN_SSH_PORT;
      return p ? { ansible_port: Number(p) } : {};
    };
    const group = (tier, n, base) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => {
          const name = dropletName(v.project, tier, i);
          return [name, { ansible_host: '127.0.0.1', private_ip: `10.110.0.${base + i}`, ...port(name) }];
        }),
      );
    const inventory = { wp_node: group('wp', v.webCount, 10), galera_cluster_node: group('db', v.dbCount, 20), galera_loadbalancer: group('dblb', 2, 30) };
    const o = (value, type) => ({ sensitive: false, type, value });
    // site_url and dns_record as terraform/outputs.tf computes them.
    const siteUrl = `${v.tls !== 'none' ? 'https' : 'http'}://${v.domain || LB_IP}/`;
    const outputs = {
      db_reserved_ip: o('127.0.0.50', 'string'),
      dns_record: o(v.dnsZone ? v.domain : '', 'string'),
      inventory: o(inventory, ['object', {}]),
      load_balancer_ip: o(LB_IP, 'string'),
      site_url: o(siteUrl, 'string'),
    };
    out(JSON.stringify(outputs, null, 2));
    break;
  }

  default:
    err(`stand-in terraform: unsupported command ${argv.join(' ')}`);
    process.exit(64);
}

/** As terraform/*.tf names droplets: <project>-wp-01 for digitalocean_droplet.web[0]. */
function dropletName(project, tier, index) {
  return `${project}-${tier === 'web' ? 'wp' : tier}-${String(index + 1).padStart(2, '0')}`;
}

function hash(s) {
  let h = 7;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
