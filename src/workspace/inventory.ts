/**
 * ansible/inventory/hosts.yml: written by `up` from terraform's outputs
 * (terraform/outputs.tf), read back by the wait phase and by ansible-playbook.
 *
 * Connection settings live in the inventory itself (not in flags `up` adds),
 * so running `ansible-playbook -i inventory/hosts.yml site.yml` by hand from
 * ansible/ reaches the hosts exactly as `up` does: the project's key, and only
 * the host keys the wait phase recorded (.ha-wordpress/known_hosts).
 *
 * The workspace's own path appears nowhere in what Ansible reads: ssh parses
 * its -o options (quotes, backslashes), expands `%` tokens and `${VAR}` in
 * file options, and Ansible templates every inventory string, so a directory
 * named `My Projects`, `{{ x }}` or ` -o ProxyCommand=…` would break the
 * connection or run a command. Both files are named relative to ansible/
 * (ansible-playbook's and therefore ssh's working directory), and the key,
 * which lives wherever the user keeps it, is reached through a symlink in
 * the workspace with a fixed name. See docs/architecture.md, "Paths".
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { UserError } from '../errors.js';
import { readIfExists, writeAtomic } from './files.js';

export const INVENTORY_FILE = 'ansible/inventory/hosts.yml';
export const KNOWN_HOSTS_FILE = '.ha-wordpress/known_hosts';
/** The local lab's CA certificate (lab/tls.ts): what verifies the lab site's HTTPS, for curl --cacert or a browser. */
export const LAB_CA_FILE = '.ha-wordpress/lab-ca.pem';
/** A symlink to the project's private key (ssh follows it; the key's own mode is what ssh checks). */
export const KEY_LINK = '.ha-wordpress/ssh-key';
/** How ssh, started by ansible-playbook in ansible/, names the workspace's files: fixed strings, nothing to quote. */
const fromAnsibleDir = (rel: string) => `../${rel}`;
export const GROUPS = ['wp_node', 'galera_cluster_node', 'galera_loadbalancer'] as const;
export type Group = (typeof GROUPS)[number];

export interface Host {
  name: string;
  group: Group;
  address: string;
  port: number;
  privateIp?: string;
}

export interface ClusterOutputs {
  inventory: Record<Group, Record<string, Record<string, unknown>>>;
  loadBalancerIp: string;
  dbReservedIp: string;
  /** Where the site answers (https://<domain>/ with HTTPS); terraform's site_url, or the lab's. */
  siteUrl: string;
  /** The A record up made in DigitalOcean DNS, "" when the user points the domain. */
  dnsRecord?: string;
}

const stale = "the workspace's terraform/ may be older than this ha-wordpress: run `ha-wordpress init` in it to update it, then `ha-wordpress up`";

/** Checks terraform's outputs have the shape terraform/outputs.tf promises. */
export function checkOutputs(out: Record<string, unknown>): ClusterOutputs {
  const inv = out.inventory as Record<string, unknown> | undefined;
  if (!inv || typeof inv !== 'object') throw new UserError(`terraform has no output "inventory"; ${stale}`);
  for (const g of GROUPS) {
    const hosts = inv[g] as Record<string, unknown> | undefined;
    if (!hosts || typeof hosts !== 'object' || Object.keys(hosts).length === 0)
      throw new UserError(`terraform's output "inventory" has no hosts in group ${g}; ${stale}`);
    for (const [name, vars] of Object.entries(hosts)) {
      const h = vars as Record<string, unknown>;
      if (!h || typeof h.ansible_host !== 'string' || h.ansible_host === '')
        throw new UserError(`terraform's output "inventory" gives host ${name} no ansible_host address; ${stale}`);
    }
  }
  const ip = (k: string) => {
    const v = out[k];
    if (typeof v !== 'string' || v === '') throw new UserError(`terraform has no output "${k}"; ${stale}`);
    return v;
  };
  const loadBalancerIp = ip('load_balancer_ip');
  return {
    inventory: inv as ClusterOutputs['inventory'],
    loadBalancerIp,
    dbReservedIp: ip('db_reserved_ip'),
    // A state written before HTTPS existed has neither: the site was plain HTTP on the IP or the domain.
    siteUrl: typeof out.site_url === 'string' && out.site_url ? out.site_url : `http://${loadBalancerIp}/`,
    ...(typeof out.dns_record === 'string' ? { dnsRecord: out.dns_record } : {}),
  };
}

export interface ConnectionSettings {
  adminUser: string;
  /** The private key, unless the key has a passphrase (then ssh-agent serves it). */
  keyFile?: string;
}

/** `extraVars`: what the local lab adds for its stand-ins (lab_api_url, …). */
export function renderInventory(c: ClusterOutputs, conn: ConnectionSettings, extraVars: Record<string, unknown> = {}): string {
  const vars: Record<string, unknown> = {
    ansible_user: conn.adminUser,
    ...(conn.keyFile ? { ansible_ssh_private_key_file: fromAnsibleDir(KEY_LINK) } : {}),
    ansible_ssh_common_args: `-o UserKnownHostsFile=${fromAnsibleDir(KNOWN_HOSTS_FILE)} -o StrictHostKeyChecking=yes`,
    load_balancer_ip: c.loadBalancerIp,
    db_reserved_ip: c.dbReservedIp,
    site_url: c.siteUrl,
    ...(c.dnsRecord ? { dns_record: c.dnsRecord } : {}),
    ...extraVars,
  };
  const children: Record<string, unknown> = {};
  for (const g of GROUPS) children[g] = { hosts: c.inventory[g] };
  const header = [
    '# Written by `ha-wordpress up` from `terraform output -json`; rewritten on every up.',
    '# Hosts are reached with the project key, and only with the host keys that up',
    `# recorded in ${KNOWN_HOSTS_FILE} when it first reached them.`,
  ].join('\n');
  return `${header}\n${yaml.dump({ all: { vars, children } }, { lineWidth: -1, quotingType: '"' })}`;
}

/** Writes the inventory, and points KEY_LINK at the key it names (replaced atomically; removed when ssh-agent serves the key). */
export async function writeInventory(workspace: string, text: string, conn: ConnectionSettings): Promise<void> {
  const link = path.join(workspace, KEY_LINK);
  if (conn.keyFile) {
    await fs.mkdir(path.dirname(link), { recursive: true, mode: 0o755 });
    const tmp = path.join(path.dirname(link), `.ssh-key.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    await fs.symlink(path.resolve(conn.keyFile), tmp);
    await fs.rename(tmp, link).catch(async (err: unknown) => {
      await fs.rm(tmp, { force: true });
      throw err;
    });
  } else await fs.rm(link, { force: true });
  await writeAtomic(path.join(workspace, INVENTORY_FILE), text, 0o644);
}

/** The inventory's variables for all hosts (load_balancer_ip, site_url, …); empty when there is no inventory yet. */
export async function readInventoryVars(workspace: string): Promise<Record<string, string>> {
  const text = (await readIfExists(path.join(workspace, INVENTORY_FILE))) ?? '';
  const data = yaml.load(text) as { all?: { vars?: Record<string, unknown> } } | undefined;
  const vars = data?.all?.vars ?? {};
  return Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * The site's URL as up recorded it (site_url). An inventory written before
 * HTTPS has none: the site was plain HTTP on the domain (DigitalOcean) or on
 * the load balancer's IP.
 */
export function siteUrlOf(vars: Record<string, string>, ws: { target: string; settings: { domain?: string } }): string {
  return vars.site_url || `http://${(ws.target === 'digitalocean' && ws.settings.domain) || vars.load_balancer_ip}/`;
}

/** The hosts of the workspace's inventory, in group order. */
export async function readInventory(workspace: string): Promise<Host[]> {
  const file = path.join(workspace, INVENTORY_FILE);
  const text = await readIfExists(file);
  if (text === undefined) throw new UserError(`there is no ${INVENTORY_FILE} yet: run \`ha-wordpress up\` (or \`up --only terraform\`) first`);
  let data: { all?: { children?: Record<string, { hosts?: Record<string, Record<string, unknown>> }> } };
  try {
    data = yaml.load(text) as typeof data;
  } catch (err) {
    throw new UserError(`${INVENTORY_FILE} is not valid YAML (${(err as Error).message.split('\n')[0]}); delete it and run \`ha-wordpress up\``);
  }
  const hosts: Host[] = [];
  for (const g of GROUPS) {
    for (const [name, v] of Object.entries(data?.all?.children?.[g]?.hosts ?? {})) {
      hosts.push({
        name,
        group: g,
        address: String(v?.ansible_host ?? name),
        port: Number(v?.ansible_port ?? 22),
        privateIp: typeof v?.private_ip === 'string' ? v.private_ip : undefined,
      });
    }
  }
  if (hosts.length === 0) throw new UserError(`${INVENTORY_FILE} lists no hosts; delete it and run \`ha-wordpress up\``);
  return hosts;
}

/** The host keys `up` recorded (known_hosts text), for the commands that log in to the nodes themselves (status, backup). */
export async function recordedHostKeys(workspace: string): Promise<string> {
  const known = (await readIfExists(path.join(workspace, KNOWN_HOSTS_FILE))) ?? '';
  if (!known) throw new UserError(`${KNOWN_HOSTS_FILE} is missing: run \`ha-wordpress up --only ansible\` once so the nodes' host keys are recorded`);
  return known;
}
