/**
 * The lab's layout, computed from the workspace and project alone: names,
 * addresses, droplet ids, and the text of every file and ruleset the lab
 * writes. Pure (no I/O), so the layout is unit-tested on any machine and
 * labUp, labDestroy and the services daemon agree on it without asking
 * each other.
 */
import { createHash } from 'node:crypto';
import { problemLine, SETTING, type Setting } from '../settings/table.js';
import { UserError } from '../errors.js';
import { limitsOf, type Limits } from './limits.js';

export type Role = 'web' | 'db' | 'dblb' | 'lb';
export type Group = 'wp_node' | 'galera_cluster_node' | 'galera_loadbalancer';

export interface LabNode {
  /** Host name, exactly as terraform names the droplet (`hawp-wp-01`). */
  name: string;
  role: Role;
  group?: Group;
  /** systemd-nspawn machine name: lab-unique so two labs' veths (`vb-<machine>`) never collide, and ≤ 12 chars so that name fits IFNAMSIZ. */
  machine: string;
  /** Its public address (eth0, on the lab's public bridge): SSH, the metadata service, and what a reserved-IP connection comes from. */
  ip: string;
  /** Its VPC address (eth1, on the lab's VPC bridge): the inventory's private_ip, as on a droplet. */
  vpcIp: string;
  /** HAProxy nodes only: the address reserved-IP traffic is delivered to. */
  anchorIp?: string;
  /** Stand-in droplet id; the public load balancer is not a droplet. */
  dropletId?: number;
  /** The droplet size it stands for, as its container's memory and CPU limits (limits.ts); none for the load balancer. */
  limits?: Limits;
}

/** The droplet sizes of a workspace's tiers (web-size, db-size, lb-size). */
export interface LabSizes {
  web: string;
  db: string;
  lb: string;
}

export interface LabPlan {
  labId: string;
  hash: string;
  project: string;
  workspace: string;
  /** The public network's bridge (the host is on it, as `bridgeIp`). */
  bridge: string;
  /** The VPC network's bridge: the nodes' private addresses, and nothing of the host's (docs/lab.md#network). */
  vpcBridge: string;
  nftTable: string;
  octet: number;
  subnet: string;
  bridgeIp: string;
  reservedIp: string;
  apiPort: number;
  metadataPort: number;
  /** The S3 stand-in for Spaces (lab/s3.ts), where the backups go. */
  s3Port: number;
  nodes: LabNode[];
}

/** Where the services daemon listens on the bridge address (API + apt repo; metadata behind a DNAT from 169.254.169.254:80). */
export const API_PORT = 8055;
export const METADATA_PORT = 8056;
/** The S3 stand-in's own daemon, on the same bridge address (`lab_s3_endpoint`). */
export const S3_PORT = 8057;
export const METADATA_IP = '169.254.169.254';

/** The first two octets of the lab's networks: 10.213.X.0/24 public, 10.214.X.0/24 VPC (X per lab). */
export const PUBLIC_PREFIX = '10.213';
export const VPC_PREFIX = '10.214';

/** The names of a lab's bridges and nftables table, from its hash alone (destroy needs no plan). */
export const labNetNames = (hash: string) => ({ bridge: `hw-${hash}`, vpcBridge: `hv-${hash}`, nftTable: `ha_wordpress_${hash}` });

export function labHash(workspace: string, project: string): string {
  return createHash('sha256').update(`${workspace}\0${project}`).digest('hex').slice(0, 8);
}

/** First-choice third octet of 10.213.X.0/24; labUp moves on to the next free one if another lab or interface holds it. */
export function preferredOctet(hash: string): number {
  return (parseInt(hash.slice(0, 4), 16) % 254) + 1;
}

/** The lab's shape, checked by the settings' own validators (the flag named, as init would). */
export function checkShape(o: { project: string; webNodes: number; dbNodes: number; adminUser: string }): string | undefined {
  const checks: [Setting, string][] = [
    [SETTING.project, o.project],
    [SETTING.webNodes, String(o.webNodes)],
    [SETTING.dbNodes, String(o.dbNodes)],
    [SETTING.adminUser, o.adminUser],
  ];
  for (const [s, v] of checks) {
    const problem = s.validate?.(v);
    if (problem) return problemLine(s, problem, 'ha-wordpress.yml');
  }
  return undefined;
}

export function makePlan(o: { workspace: string; project: string; webNodes: number; dbNodes: number; octet: number; sizes?: LabSizes }): LabPlan {
  const hash = labHash(o.workspace, o.project);
  const net = `${PUBLIC_PREFIX}.${o.octet}`;
  const vpc = `${VPC_PREFIX}.${o.octet}`;
  // Droplet ids look like DigitalOcean's (nine digits), stable for the lab, distinct between labs in practice.
  const idBase = 300_000_000 + (parseInt(hash, 16) % 6_000_000) * 100;
  const two = (n: number) => String(n).padStart(2, '0');
  const nodes: LabNode[] = [];
  // Ids and addresses follow the node's name, not its position, so changing web-nodes or db-nodes
  // never gives an existing node (or the reserved IP's holder record) another identity.
  const host = (ip: string) => Number(ip.split('.')[3]);
  const add = (node: Omit<LabNode, 'dropletId' | 'vpcIp'>) => nodes.push({ ...node, vpcIp: `${vpc}.${host(node.ip)}`, dropletId: idBase + host(node.ip) });
  // Each size read once, here: a slug the lab cannot turn into limits stops whoever asked, naming its flag.
  const limits = o.sizes && { web: limitsOf(o.sizes.web, 'web-size'), db: limitsOf(o.sizes.db, 'db-size'), lb: limitsOf(o.sizes.lb, 'lb-size') };
  for (let i = 1; i <= o.webNodes; i++)
    add({ name: `${o.project}-wp-${two(i)}`, role: 'web', group: 'wp_node', machine: `${hash}-w${two(i)}`, ip: `${net}.${10 + i}`, limits: limits?.web });
  for (let i = 1; i <= o.dbNodes; i++)
    add({
      name: `${o.project}-db-${two(i)}`,
      role: 'db',
      group: 'galera_cluster_node',
      machine: `${hash}-d${two(i)}`,
      ip: `${net}.${30 + i}`,
      limits: limits?.db,
    });
  for (let i = 1; i <= 2; i++)
    add({
      name: `${o.project}-dblb-${two(i)}`,
      role: 'dblb',
      group: 'galera_loadbalancer',
      machine: `${hash}-b${two(i)}`,
      ip: `${net}.${40 + i}`,
      anchorIp: `${net}.${50 + i}`,
      limits: limits?.lb,
    });
  nodes.push({ name: `${o.project}-lb`, role: 'lb', machine: `${hash}-lb`, ip: `${net}.2`, vpcIp: `${vpc}.2` });
  return {
    labId: `${o.project}-${hash}`,
    hash,
    project: o.project,
    workspace: o.workspace,
    ...labNetNames(hash),
    octet: o.octet,
    subnet: `${net}.0/24`,
    bridgeIp: `${net}.1`,
    reservedIp: `${net}.3`,
    apiPort: API_PORT,
    metadataPort: METADATA_PORT,
    s3Port: S3_PORT,
    nodes,
  };
}

export const droplets = (p: LabPlan) => p.nodes.filter((n) => n.dropletId !== undefined);
export const loadBalancer = (p: LabPlan) => p.nodes.find((n) => n.role === 'lb')!;

/** The reserved IP's first holder, as terraform assigns it: dblb-01. */
export const firstHolder = (p: LabPlan) => p.nodes.find((n) => n.role === 'dblb')!;

/** Where traffic to the reserved IP goes while `node` holds it: its anchor, like DigitalOcean (a droplet without one gets it on its own address). */
export const deliveryAddress = (node: LabNode) => node.anchorIp ?? node.ip;

// ---------------------------------------------------------------------------
// Files written into each container before its first boot (what cloud-init does on a droplet)

/**
 * The droplet's two interfaces, as systemd-networkd files (name → text):
 * eth0 on the public bridge, eth1 on the VPC bridge.
 *
 * The public address is a /32 with the rest of the public network behind
 * the host, which stands in for DigitalOcean's hypervisor: every packet
 * between droplets' public addresses passes it, so the reserved IP's
 * translation sees both directions, and the HAProxy node sees the web
 * node's own public address as the client, as on a droplet (a shared /24
 * would let the reply skip the translation). The VPC is a plain /24 with
 * nothing of the host's on it.
 */
export function networkdUnits(p: Pick<LabPlan, 'bridgeIp' | 'subnet'>, node: LabNode): Record<string, string> {
  const eth0 = [
    "# Written by ha-wordpress (local lab): the droplet's public interface.",
    '[Match]',
    'Name=eth0',
    '',
    '[Network]',
    `Address=${node.ip}/32`,
    // A /32 anchor adds no prefix route, and the route below names the public address as the source of
    // everything the node sends; only reserved-IP traffic arrives on the anchor.
    ...(node.anchorIp ? [`Address=${node.anchorIp}/32`] : []),
    'LinkLocalAddressing=no',
    'IPv6AcceptRA=no',
    '',
    '# The public network, through the host. There is deliberately no default route.',
    '[Route]',
    `Destination=${p.subnet}`,
    `Gateway=${p.bridgeIp}`,
    'GatewayOnLink=yes',
    `PreferredSource=${node.ip}`,
    '',
    '# The metadata service, like on a droplet.',
    '[Route]',
    `Destination=${METADATA_IP}/32`,
    'Scope=link',
    `PreferredSource=${node.ip}`,
    '',
  ];
  const eth1 = [
    "# Written by ha-wordpress (local lab): the droplet's VPC interface.",
    '[Match]',
    'Name=eth1',
    '',
    '[Network]',
    `Address=${node.vpcIp}/24`,
    'LinkLocalAddressing=no',
    'IPv6AcceptRA=no',
    '',
  ];
  return { '10-eth0.network': eth0.join('\n'), '20-eth1.network': eth1.join('\n') };
}

export function hostsFile(node: LabNode): string {
  // What cloud-init's manage_etc_hosts writes on a DigitalOcean droplet.
  return [
    '127.0.0.1 localhost',
    `127.0.1.1 ${node.name} ${node.name}`,
    '',
    '::1 localhost ip6-localhost ip6-loopback',
    'ff02::1 ip6-allnodes',
    'ff02::2 ip6-allrouters',
    '',
  ].join('\n');
}

export function aptSources(p: LabPlan): string {
  return [
    "# Written by ha-wordpress (local lab): the lab's package repository, served from the host,",
    '# and its updates channel (empty until a newer package is published there).',
    `deb [trusted=yes] http://${p.bridgeIp}:${p.apiPort}/repo/ ./`,
    `deb [trusted=yes] http://${p.bridgeIp}:${p.apiPort}/updates/ ./`,
    '',
  ].join('\n');
}

/** The headers DigitalOcean's load balancer adds: how the visitor came in. */
const forwarded = (proto: string, port: number) => [
  `    http-request set-header X-Forwarded-Proto ${proto}`,
  `    http-request set-header X-Forwarded-Port ${port}`,
];

/** Where the stand-in load balancer's container keeps the site's certificate and key (lab/tls.ts), read by HAProxy. */
export const LB_SITE_PEM = '/etc/haproxy/site.pem';
/** Where the stand-in keeps its web nodes' check states across a reload (HAProxy's server-state-file). */
export const LB_SERVER_STATE = '/var/lib/haproxy/server-state';

/** The load balancer's health check as terraform/lb-healthcheck.json gives it to DigitalOcean (loadbalancer.tf). */
export interface LbHealthcheck {
  protocol: 'http';
  port: number;
  path: string;
  check_interval_seconds: number;
  response_timeout_seconds: number;
  unhealthy_threshold: number;
  healthy_threshold: number;
}

export const LB_HEALTHCHECK_FILE = 'terraform/lb-healthcheck.json';

/** Parses lb-healthcheck.json; a value DigitalOcean would refuse (or HAProxy could not take) is an error naming the file. */
export function parseLbHealthcheck(text: string, file = LB_HEALTHCHECK_FILE): LbHealthcheck {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`${file} is not JSON (${(err as Error).message}); reinstall ha-wordpress`);
  }
  const int = (k: string, min: number, max: number) => {
    const n = v[k];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new UserError(`${file}: ${k} must be a whole number from ${min} to ${max}`);
    return n;
  };
  if (v.protocol !== 'http') throw new UserError(`${file}: protocol must be "http" (the lab's stand-in checks over HTTP)`);
  if (typeof v.path !== 'string' || !/^\/[A-Za-z0-9/_.-]*$/.test(v.path)) throw new UserError(`${file}: path must be an absolute URL path such as /healthz`);
  return {
    protocol: 'http',
    port: int('port', 1, 65535),
    path: v.path,
    // DigitalOcean's API limits.
    check_interval_seconds: int('check_interval_seconds', 3, 300),
    response_timeout_seconds: int('response_timeout_seconds', 3, 300),
    unhealthy_threshold: int('unhealthy_threshold', 2, 10),
    healthy_threshold: int('healthy_threshold', 2, 10),
  };
}

/**
 * The stand-in for DigitalOcean's load balancer, with the rules terraform/
 * loadbalancer.tf gives it: HTTP on :80 to every web node's VPC address (a
 * load balancer in the VPC reaches droplets there), health-checked
 * with the values terraform gives DigitalOcean (lb-healthcheck.json: every
 * 3 s, a 3 s timeout, out after 2 failures, back after 2 passes); with a domain (`tls`), also HTTPS on :443 terminated with
 * the lab's certificate and sent to the web nodes as plain HTTP, and :80
 * answered with a redirect to HTTPS (redirect_http_to_https).
 */
export function haproxyConfig(p: LabPlan, check: LbHealthcheck, tls?: { domain: string }): string {
  const web = p.nodes.filter((n) => n.role === 'web');
  const https = tls
    ? ['frontend public_https', `    bind :443 ssl crt ${LB_SITE_PEM}`, '    option forwardfor', ...forwarded('https', 443), '    default_backend web', '']
    : [];
  return [
    '# Written by ha-wordpress (local lab): stands in for the DigitalOcean load balancer.',
    'global',
    '    log stdout format raw local0 notice',
    // What the tests ask about the web nodes' state (root only; the service's runtime directory).
    '    stats socket /run/haproxy/admin.sock mode 600 level user',
    '    maxconn 4096',
    // Each node's check state survives a reload, and a node new to the set starts DOWN (lbServerState).
    `    server-state-file ${LB_SERVER_STATE}`,
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option httplog',
    '    timeout connect 1s',
    '    timeout client 60s',
    '    timeout server 60s',
    `    timeout check ${check.response_timeout_seconds}s`,
    '    load-server-state-from-file global',
    // A reload (a web node added or gone) must not cost a visitor a request. The old worker would close its idle
    // keep-alive connections at once, racing a request the client is sending on one (a reset it sees as an error).
    // With this it answers that next request, then closes; a managed load balancer drops no connection either.
    '    option idle-close-on-response',
    '',
    'frontend public',
    '    bind :80',
    ...(tls ? ['    http-request redirect scheme https code 301'] : ['    option forwardfor', ...forwarded('http', 80), '    default_backend web']),
    '',
    ...https,
    'backend web',
    '    balance roundrobin',
    `    option httpchk GET ${check.path}`,
    `    default-server inter ${check.check_interval_seconds}s fall ${check.unhealthy_threshold} rise ${check.healthy_threshold}`,
    ...web.map((n) => `    server ${n.name} ${n.vpcIp}:80 check port ${check.port}`),
    '',
  ].join('\n');
}

/**
 * A program run in the stand-in's container before HAProxy starts or reloads
 * with a new backend set: it writes the server-state file from the running
 * HAProxy's own states (`show servers state`), plus a DOWN line for every web
 * node it does not know yet. So a node that is down stays down across the
 * reload, and a new node (a scale-up, a fresh lab) gets traffic only after
 * its health check has passed `healthy_threshold` times, as on DigitalOcean;
 * HAProxy alone would count a new server UP until its first check fails.
 * Argument per node: name,address,port,check port.
 */
export function lbServerState(p: LabPlan, check: LbHealthcheck): { argv: string[] } {
  const script = [
    'import socket, sys',
    'lines = []',
    'try:',
    '    s = socket.socket(socket.AF_UNIX)',
    '    s.settimeout(5)',
    "    s.connect('/run/haproxy/admin.sock')",
    "    s.sendall(b'show servers state web\\n')",
    "    out = b''",
    '    while True:',
    '        d = s.recv(65536)',
    '        if not d:',
    '            break',
    '        out += d',
    "    lines = [l for l in out.decode().splitlines() if l.strip() and not l.startswith('#') and len(l.split()) > 20]",
    'except OSError:',
    '    pass',
    'known = {l.split()[3] for l in lines}',
    'for node in sys.argv[1:]:',
    "    name, addr, port, cport = node.split(',')",
    '    if name not in known:',
    // be_id and srv_id 0: HAProxy matches the line by backend and server name. Stopped, health 0: `rise` passes to go UP.
    "        lines.append('0 web 0 %s %s 0 0 1 1 0 1 0 0 6 0 0 0 - %s - 0 %s - - 0' % (name, addr, port, cport))",
    `with open('${LB_SERVER_STATE}.new', 'w') as f:`,
    "    f.write('1\\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight '",
    "            'srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state '",
    "            'bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr '",
    "            'srv_agent_addr srv_agent_port\\n' + ''.join(l + '\\n' for l in lines))",
    'import os',
    `os.replace('${LB_SERVER_STATE}.new', '${LB_SERVER_STATE}')`,
  ].join('\n');
  const web = p.nodes.filter((n) => n.role === 'web');
  return { argv: ['python3', '-c', script, ...web.map((n) => `${n.name},${n.vpcIp},80,${check.port}`)] };
}

// ---------------------------------------------------------------------------
// The host side

/**
 * The lab's nftables table. Everything the lab needs from netfilter is here,
 * so deleting this one table removes it all:
 * - 169.254.169.254:80 from the bridge → the daemon's metadata port (a DNAT
 *   rather than a listener on 169.254.169.254:80, so two labs on one host, or
 *   another lab that does listen there, never fight over that socket);
 * - the reserved IP → its holder's anchor (a one-element map the daemon
 *   swaps on "assign"). No SNAT: the nodes reach each other's public
 *   addresses through the host (networkdUnits), so the replies pass the
 *   translation on their way back, and the holder sees the client's own
 *   public address, as on DigitalOcean;
 * - forwarding only from the public bridge to itself (the VPC bridge has no
 *   address of the host's: nothing is routed there);
 * - no ICMP redirects out of the bridge: the traffic the host forwards
 *   leaves the interface it came in on, and a redirect would teach the
 *   sender to skip the host (and with it the DNAT's way back).
 *
 * There is no input chain: what the containers send to the host's daemons
 * on the bridge address (services on apiPort and metadataPort, the S3
 * stand-in on s3Port) is the host's own traffic, which the forward chain
 * never sees, so nothing here stands in its way (a host firewall that drops
 * input would have to let the bridge in).
 */
export function nftRuleset(p: LabPlan, holderAddress: string | undefined, stamp: string): string {
  const br = p.bridge;
  return [
    `table ip ${p.nftTable}`,
    `delete table ip ${p.nftTable}`,
    `table ip ${p.nftTable} {`,
    `  comment "ha-wordpress lab ${p.labId} ${stamp}"`,
    '  map reserved {',
    '    type ipv4_addr : ipv4_addr',
    ...(holderAddress ? [`    elements = { ${p.reservedIp} : ${holderAddress} }`] : []),
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    iifname "${br}" ip daddr ${METADATA_IP} tcp dport 80 dnat to ${p.bridgeIp}:${p.metadataPort}`,
    `    iifname "${br}" ip daddr ${p.reservedIp} dnat to ip daddr map @reserved`,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ip daddr ${p.reservedIp} dnat to ip daddr map @reserved`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname "${br}" oifname "${br}" accept`,
    `    iifname "${br}" drop`,
    `    oifname "${br}" drop`,
    '  }',
    '  chain noredirect {',
    '    type filter hook output priority filter; policy accept;',
    `    oifname "${br}" icmp type redirect drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The command the daemon runs to move the reserved IP (one nft transaction). */
export function nftAssign(p: LabPlan, holderAddress: string | undefined): string {
  return [
    `flush map ip ${p.nftTable} reserved`,
    ...(holderAddress ? [`add element ip ${p.nftTable} reserved { ${p.reservedIp} : ${holderAddress} }`] : []),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------
// Parsing what the host says

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  signedBy?: string;
}

/** apt sources from one-line `.list` text or deb822 `.sources` text; only `deb` (binary) entries that are enabled. */
export function parseAptSources(text: string, deb822: boolean): AptSource[] {
  const out: AptSource[] = [];
  if (!deb822) {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      const m = line.match(/^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/);
      if (!m) continue;
      const opts = m[1] ?? '';
      const signed = opts.match(/signed-by=(\S+)/)?.[1];
      out.push({ uri: m[2]!, suites: [m[3]!], components: (m[4] ?? '').split(/\s+/).filter(Boolean), signedBy: signed });
    }
    return out;
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let key = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && key) {
        fields[key] += '\n' + raw.trim();
        continue;
      }
      const m = raw.match(/^([A-Za-z0-9-]+):\s*(.*)$/);
      if (m) {
        key = m[1]!.toLowerCase();
        fields[key] = m[2]!;
      }
    }
    if (!fields.types?.split(/\s+/).includes('deb')) continue;
    if (fields.enabled && /^(no|false|0)$/i.test(fields.enabled.trim())) continue;
    const words = (k: string) => (fields[k] ?? '').split(/\s+/).filter(Boolean);
    // Signed-By may hold an inline key block; only a file path is useful to us.
    const signed = fields['signed-by']?.trim();
    for (const uri of words('uris'))
      out.push({
        uri,
        suites: words('suites'),
        components: words('components'),
        signedBy: signed && signed.startsWith('/') && !signed.includes('\n') ? signed : undefined,
      });
  }
  return out;
}

const DEBIAN_SUITE_NAMES = ['buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid', 'oldoldstable', 'oldstable', 'stable', 'testing', 'unstable'];
const DEBIAN_SUITE_POCKETS = ['-updates', '-security', '-backports', '-proposed-updates'];
const DEBIAN_SUITES = new RegExp(`^(${DEBIAN_SUITE_NAMES.join('|')})(${DEBIAN_SUITE_POCKETS.join('|')})?$|^(buster|bullseye)\\/updates$`);

export interface Mirrors {
  main: string;
  security?: string;
  keyring?: string;
}

/** The host's Debian mirror (and security mirror), or Debian's own when the host does not use Debian's archive (e.g. Ubuntu). */
export function debianMirrors(sources: AptSource[]): Mirrors {
  const debian = sources.filter((s) => s.suites.some((x) => DEBIAN_SUITES.test(x)));
  const security = debian.find((s) => s.suites.some((x) => /-security$|\/updates$/.test(x)));
  const main = debian.find((s) => s.suites.some((x) => !/-security$|\/updates$/.test(x)));
  return {
    main: (main?.uri ?? 'http://deb.debian.org/debian').replace(/\/+$/, ''),
    security: security?.uri.replace(/\/+$/, ''),
    keyring: main?.signedBy,
  };
}

/** The package list file: one package per line, `#` comments. */
export function parsePackageList(text: string): string[] {
  const names = text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .flatMap((l) => l.split(/\s+/));
  return [...new Set(names)].sort();
}

export const DEFAULT_PACKAGES = [
  'mariadb-server',
  'mariadb-client',
  'galera-4',
  'mariadb-backup',
  'rsync',
  'socat',
  'haproxy',
  'keepalived',
  'nginx',
  'php8.2-fpm',
  'php8.2-mysql',
  'php8.2-curl',
  'php8.2-gd',
  'php8.2-mbstring',
  'php8.2-xml',
  'php8.2-zip',
  'php8.2-intl',
  'wordpress',
  'wordpress-theme-twentytwentythree',
  'curl',
  'nftables',
  'unattended-upgrades',
  'python3-apt',
  'ca-certificates',
  'sudo',
  'restic',
];

/** `apt-get -s install` output → the packages it would install, as pool file names. */
export function parseAptSimulation(text: string): { name: string; version: string; arch: string; file: string }[] {
  const out: { name: string; version: string; arch: string; file: string }[] = [];
  for (const line of text.split('\n')) {
    // Inst libfoo1 (1.2-3 Debian:12.10/stable [amd64])   or, for an upgrade,   Inst libc6 [2.36-9] (2.36-9+deb12u10 Debian:… [amd64])
    const m = line.match(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/);
    if (!m) continue;
    const [, name, version, arch] = m as unknown as [string, string, string, string];
    out.push({ name, version, arch, file: `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb` });
  }
  return out;
}

export interface Mount {
  mountPoint: string;
  fsType: string;
}

/** /proc/self/mountinfo → mounts (mount points unescaped), in mount order. */
export function parseMountinfo(text: string): Mount[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (f.length < 7 || dash < 0) continue;
    out.push({ mountPoint: unescape(f[4]!), fsType: f[dash + 1] ?? '' });
  }
  return out;
}

/** An IPv4 address as DigitalOcean's action `resource_id` for reserved IPs: the address as an unsigned 32-bit integer. */
export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
