/**
 * `ha-wordpress status`: every node asked at once over SSH (the host keys
 * `up` recorded), the site asked through the public entry, one verdict.
 * Exit code 0 when healthy, 3 when degraded (1 and 2 stay "status itself
 * could not run" and "bad usage"), so scripts and monitors can use it.
 */
import { promises as fs } from 'node:fs';
import { checkSchedule } from '../backup/schedule.js';
import { packagePath } from '../paths.js';
import { HostKeyRejected, keysFor, sshExec } from '../ssh/exec.js';
import { peerCertificate, type PeerCertificate } from '../net/http-probe.js';
import { readInventory, readInventoryVars, recordedHostKeys, siteUrlOf, type Host } from '../workspace/inventory.js';
import { lastLine, locateWorkspace, siteAnswers, siteCa, sshCredentials, type OpContext, type Workspace } from './operate.js';

export const DEGRADED_EXIT = 3;

type StatusContext = OpContext;

interface Probe {
  services?: Record<string, string>;
  healthz?: number;
  galera?: Record<string, string>;
  reserved_ip_active?: boolean;
  backends?: { proxy: string; server: string; status: string }[];
  /** HAProxy nodes: the Galera node its writer table holds (null: none chosen yet). */
  writer?: string | null;
  /** The configuration fingerprint the playbook last recorded here (workspace/converged.ts); null: none. */
  converged?: string | null;
  /** Galera nodes: what this node's backup program last did (state.json of the backup role). */
  backup?: { last_backup?: BackupRun | null; last_verify?: BackupRun | null } | null;
  /** Galera nodes: the backup program runs here now (it desyncs the node while it dumps). */
  backup_running?: boolean;
  /** A reboot is pending here: the packages that asked for it (none named: the flag file only). */
  reboot_required?: string[];
  /** Updates waiting for `ha-wordpress upgrade` (the common role's pending-updates file); absent: none. */
  pending_updates?: PendingUpdates;
}

/** What a node's last apt run found to upgrade. */
export interface PendingUpdates {
  packages: string[];
  /** Those from a -security archive. */
  security: string[];
  /** When the package lists were last read against what is installed. */
  checked?: string | null;
}

/** One run of the node's backup program, as its state file records it. */
export interface BackupRun {
  time: string;
  ok: boolean;
  snapshot?: string;
  error?: string;
  /** The backup is good, but the keep-policy could not be applied after it (old snapshots pile up). */
  retention_error?: string;
  node?: string;
}

export interface NodeStatus {
  name: string;
  group: string;
  address: string;
  reachable: boolean;
  error?: string;
  services: Record<string, string>;
  /** `backup_running`: this node's backup program runs (a node desynced for a backup is out on purpose). */
  galera?: { state: string; cluster_size: number; primary: boolean; backup_running?: boolean };
  healthz?: number;
  holds_reserved_ip?: boolean;
  backends?: { server: string; status: string }[];
  /** HAProxy nodes: the Galera node it sends the writes to (null: none chosen yet). */
  writer?: string | null;
  /** The configuration fingerprint `up`'s playbook last recorded on this node (null: none; `up` reads it). */
  converged?: string | null;
  backup?: { last_backup?: BackupRun | null; last_verify?: BackupRun | null };
  /** Installed updates that take effect only after a reboot (a kernel, say): the packages that asked. Not a problem: reboots are the operator's. */
  reboot_required?: string[];
  /** Updates waiting for `ha-wordpress upgrade`. Not a problem: the operator chooses when (the cluster's services are held back from unattended-upgrades). */
  pending_updates?: PendingUpdates;
}

export interface ClusterStatus {
  healthy: boolean;
  problems: string[];
  nodes: NodeStatus[];
  /** writer: the Galera node the reserved IP's HAProxy sends the writes to (null: unknown, or none chosen yet). */
  galera: { cluster_size: number; synced: string[]; primary: string[]; writer: string | null };
  reserved_ip: { address: string; holder: string | null };
  /** With HTTPS, the certificate the load balancer presents (expires: ISO time), or null when no TLS handshake completed. */
  site: { url: string; answers: boolean; certificate?: { expires: string; days: number; verified: boolean; problem?: string } | null };
  /** The newest backup and verification any database node recorded. */
  backup: { last_backup: BackupRun | null; last_verify: BackupRun | null };
}

/** How old the newest backup and verification may be (twice their schedules), and the time now. */
export interface BackupExpectation {
  backupMaxAgeS: number;
  verifyMaxAgeS: number;
  now: number;
}

export async function runStatus(ctx: StatusContext): Promise<void> {
  const ws = await locateWorkspace(ctx);
  const status = await (await statusProbe(ctx, ws))();
  if (ctx.options.json) ctx.log.out(JSON.stringify(status, null, 2));
  else for (const line of table(status)) ctx.log.out(line);
  if (!status.healthy) process.exitCode = DEGRADED_EXIT;
}

/** How long one node may take to answer: the login, and the whole exchange (ms). */
export interface NodeTimeouts {
  readyMs: number;
  totalMs: number;
}

// A busy node can take seconds to finish an SSH handshake: calling it
// unreachable too soon makes a healthy cluster look degraded.
const STATUS_TIMEOUTS: NodeTimeouts = { readyMs: 8000, totalMs: 15_000 };

/**
 * Reads what every probe needs once (inventory, recorded host keys, SSH
 * credentials, the probe script) and returns the probe: one call asks every
 * node and the public entry at once and gives the verdict. `drill` calls it
 * over and over while it breaks and mends the cluster.
 */
export async function statusProbe(
  ctx: OpContext,
  ws: Pick<Workspace, 'dir' | 'settings' | 'target'>,
  timeouts: NodeTimeouts = STATUS_TIMEOUTS,
): Promise<() => Promise<ClusterStatus>> {
  const hosts = await readInventory(ws.dir);
  const credentials = await sshCredentials(ctx, ws);
  const known = await recordedHostKeys(ws.dir);
  const script = await fs.readFile(packagePath('libexec', 'node-probe.py'), 'utf8');
  const vars = await readInventoryVars(ws.dir);
  const ca = await siteCa(ws);
  const site = vars.load_balancer_ip ? { ip: vars.load_balancer_ip, url: siteUrlOf(vars, ws), ...(ca ? { ca } : {}) } : undefined;
  // Worked out once: the schedule's longest gap takes a walk over years of runs, and drill probes every second.
  const backupLimits = backupExpectation(ws.settings.backupSchedule);

  return async () => {
    const tls = site?.url.startsWith('https:') ? site : undefined;
    const [nodes, answers, certificate] = await Promise.all([
      Promise.all(hosts.map((h) => probeNode(h, credentials, known, script, timeouts))),
      site ? siteAnswers(site, 5000) : Promise.resolve(false),
      tls ? peerCertificate({ host: tls.ip, servername: new URL(tls.url).hostname, ...(ca ? { ca } : {}), timeoutMs: 5000 }).then((x) => x ?? null) : undefined,
    ]);
    return assess(nodes, {
      backups: { ...backupLimits, now: Date.now() },
      dbNodes: hosts.filter((h) => h.group === 'galera_cluster_node').length,
      reservedIp: vars.db_reserved_ip ?? '',
      url: site?.url ?? 'http://?/',
      siteAnswers: answers,
      ...(certificate !== undefined ? { certificate } : {}),
    });
  };
}

/**
 * Twice the longest gap between two scheduled backups, and twice a day for
 * the daily verification (the backup role's backup_verify_schedule). A
 * schedule that no longer parses (a hand edit) falls back to hourly: the
 * settings check names it on every other command.
 */
export function backupExpectation(schedule: string | undefined, now = Date.now()): BackupExpectation {
  const parsed = checkSchedule(schedule ?? 'hourly');
  const gapMinutes = parsed.ok ? parsed.schedule.maxGapMinutes : 60;
  return { backupMaxAgeS: 2 * gapMinutes * 60, verifyMaxAgeS: 2 * 86400, now };
}

async function probeNode(h: Host, credentials: Parameters<typeof sshExec>[1], known: string, script: string, timeouts: NodeTimeouts): Promise<NodeStatus> {
  const base: NodeStatus = { name: h.name, group: h.group, address: h.address, reachable: false, services: {} };
  const knownKeys = keysFor(known, h.address, h.port);
  if (knownKeys.length === 0) return { ...base, error: `no host key recorded for ${h.address}` };
  try {
    const r = await sshExec(h, credentials, `sudo -n python3 - ${h.group}`, {
      input: script,
      timeoutMs: timeouts.totalMs,
      readyTimeoutMs: timeouts.readyMs,
      acceptKey: (k) => knownKeys.includes(k),
    });
    let p: Probe;
    try {
      p = JSON.parse(r.stdout) as Probe;
    } catch {
      return {
        ...base,
        reachable: true,
        error: `the probe failed: ${lastLine(r)}`,
      };
    }
    const n: NodeStatus = { ...base, reachable: true, services: p.services ?? {} };
    if (p.galera)
      n.galera = {
        state: p.galera.wsrep_local_state_comment ?? 'down',
        cluster_size: Number(p.galera.wsrep_cluster_size ?? 0),
        primary: p.galera.wsrep_cluster_status === 'Primary',
        ...(p.backup_running ? { backup_running: true } : {}),
      };
    if (p.healthz !== undefined) n.healthz = p.healthz;
    if (p.reserved_ip_active !== undefined) n.holds_reserved_ip = p.reserved_ip_active;
    if (p.backends) n.backends = p.backends.map((b) => ({ server: b.server, status: b.status }));
    if (p.writer !== undefined) n.writer = p.writer;
    if (p.converged !== undefined) n.converged = p.converged;
    if (p.reboot_required) n.reboot_required = p.reboot_required;
    if (p.pending_updates?.packages.length) n.pending_updates = p.pending_updates;
    if (p.backup) n.backup = { last_backup: p.backup.last_backup ?? null, last_verify: p.backup.last_verify ?? null };
    return n;
  } catch (err) {
    return { ...base, error: err instanceof HostKeyRejected ? 'the host key does not match the one up recorded' : (err as Error).message };
  }
}

/** Days a certificate may have left before status calls it a problem: DigitalOcean renews Let's Encrypt ones 30 days ahead. */
export const CERT_WARN_DAYS = 14;

function certificateStatus(p: PeerCertificate, now: number) {
  const days = Math.floor((p.notAfter.getTime() - now) / 86_400_000);
  return { expires: p.notAfter.toISOString(), days, verified: p.verified, ...(p.problem ? { problem: p.problem } : {}) };
}

function certificateProblems(c: NonNullable<ClusterStatus['site']['certificate']>): string[] {
  const renew =
    'your own certificate: run `ha-wordpress init --tls-certificate <file> --tls-key <file>` with the renewed one, then `ha-wordpress up`; ' +
    "Let's Encrypt: DigitalOcean renews it while the domain's DNS is at DigitalOcean, see Networking → Certificates";
  if (!c.verified) return [`the site's certificate does not verify (${c.problem}): ${renew}`];
  if (c.days < CERT_WARN_DAYS) return [`the site's certificate expires in ${c.days} days (${c.expires.slice(0, 10)}): ${renew}`];
  return [];
}

/** The verdict, from what the nodes said: pure, so tests can give it any picture. */
export function assess(
  nodes: NodeStatus[],
  c: {
    dbNodes: number;
    reservedIp: string;
    url: string;
    siteAnswers: boolean;
    certificate?: PeerCertificate | null;
    now?: number;
    backups?: BackupExpectation;
  },
): ClusterStatus {
  const problems: string[] = [];
  for (const n of nodes) {
    if (!n.reachable) problems.push(`${n.name}: unreachable (${n.error ?? 'no answer'})`);
    else if (n.error) problems.push(`${n.name}: ${n.error}`);
    for (const [unit, state] of Object.entries(n.services)) if (state !== 'active') problems.push(`${n.name}: ${unit} is ${state}`);
    if (n.group === 'wp_node' && n.reachable && n.healthz !== 200) problems.push(`${n.name}: /healthz answers ${n.healthz || 'nothing'}`);
  }
  const db = nodes.filter((n) => n.group === 'galera_cluster_node');
  const synced = db.filter((n) => n.galera?.state === 'Synced').map((n) => n.name);
  const primary = db.filter((n) => n.galera?.primary).map((n) => n.name);
  const size = Math.max(0, ...db.map((n) => n.galera?.cluster_size ?? 0));
  // A backup desyncs the node it dumps (never the writer) and HAProxy takes it out meanwhile: on purpose, not a problem.
  // Synced again, the node is still DOWN in HAProxy until its check has passed `rise` times; the backup holds its lock
  // (and so counts as running) until then.
  const backingUp = new Set(db.filter((n) => n.galera?.backup_running && ['Donor/Desynced', 'Synced'].includes(n.galera.state)).map((n) => n.name));
  for (const n of db)
    if (n.reachable && n.galera?.state !== 'Synced' && !backingUp.has(n.name)) problems.push(`${n.name}: Galera is ${n.galera?.state ?? 'down'}`);
  if (size !== c.dbNodes) problems.push(`Galera cluster size is ${size}, expected ${c.dbNodes}`);
  for (const n of nodes.filter((x) => x.group === 'galera_loadbalancer' && x.reachable)) {
    const down = (n.backends ?? []).filter((b) => b.status !== 'UP' && !backingUp.has(b.server));
    if ((n.backends ?? []).length === 0) problems.push(`${n.name}: HAProxy reports no backends`);
    for (const b of down) problems.push(`${n.name}: backend ${b.server} is ${b.status}`);
  }
  const holders = nodes.filter((n) => n.holds_reserved_ip).map((n) => n.name);
  if (holders.length !== 1)
    problems.push(holders.length === 0 ? 'no HAProxy node holds the reserved IP' : `the reserved IP is claimed by ${holders.join(' and ')}`);
  // The two HAProxy share the writer over their peers connection: running HAProxy that disagree
  // would send writes to two nodes once the reserved IP moves.
  const running = nodes.filter((n) => n.group === 'galera_loadbalancer' && n.reachable && n.services.haproxy === 'active' && n.writer !== undefined);
  if (new Set(running.map((n) => n.writer ?? null)).size > 1)
    problems.push(
      `the HAProxy nodes send writes to different database nodes (${running.map((n) => `${n.name}: ${n.writer ?? 'none yet'}`).join(', ')}): ` +
        "their peers connection (tcp 10000 between their private addresses) is down; check both nodes' HAProxy log",
    );
  const writer = (nodes.find((n) => n.name === holders[0] && holders.length === 1) ?? running[0])?.writer ?? null;
  if (!c.siteAnswers) problems.push(`the site does not answer at ${c.url}`);
  const cert = c.certificate ? certificateStatus(c.certificate, c.now ?? c.backups?.now ?? Date.now()) : c.certificate;
  if (cert === null) problems.push(`the load balancer completes no TLS handshake for ${c.url}`);
  else if (cert) problems.push(...certificateProblems(cert));
  const newest = (k: 'last_backup' | 'last_verify') =>
    db.flatMap((n): BackupRun[] => (n.backup?.[k] ? [{ ...n.backup[k]!, node: n.name }] : [])).sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0] ??
    null;
  const backup = { last_backup: newest('last_backup'), last_verify: newest('last_verify') };
  if (c.backups) problems.push(...backupProblems(backup, c.backups));
  return {
    healthy: problems.length === 0,
    problems,
    nodes,
    galera: { cluster_size: size, synced, primary, writer },
    reserved_ip: { address: c.reservedIp, holder: holders.length === 1 ? holders[0]! : null },
    site: { url: c.url, answers: c.siteAnswers, ...(cert !== undefined ? { certificate: cert } : {}) },
    backup,
  };
}

/**
 * A failed newest run, or one older than twice its schedule, is a problem
 * with what to do. No run at all is not: a new cluster's first scheduled
 * backup is still to come (its timer is watched like a service).
 */
export function backupProblems(b: ClusterStatus['backup'], e: BackupExpectation): string[] {
  const problems: string[] = [];
  const age = (r: BackupRun) => (e.now - Date.parse(r.time)) / 1000;
  const ago = (s: number) => (s < 3 * 3600 ? `${Math.round(s / 60)} min` : s < 2 * 86400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`);
  if (b.last_backup && !b.last_backup.ok)
    problems.push(
      `the last backup failed on ${b.last_backup.node} (${ago(age(b.last_backup))} ago): ${b.last_backup.error ?? 'no reason recorded'}; ` +
        'fix it, then `ha-wordpress backup`',
    );
  else if (b.last_backup && age(b.last_backup) > e.backupMaxAgeS)
    problems.push(
      `the last backup is ${ago(age(b.last_backup))} old (the schedule allows ${ago(e.backupMaxAgeS)}): ` +
        'check `systemctl status ha-wordpress-backup.timer` on the database nodes, then `ha-wordpress backup`',
    );
  if (b.last_backup?.ok && b.last_backup.retention_error)
    problems.push(
      `the last backup is good, but old snapshots were not removed on ${b.last_backup.node}: ${b.last_backup.retention_error}; ` +
        'the next scheduled backup tries again (the bucket grows until one succeeds)',
    );
  if (b.last_verify && !b.last_verify.ok)
    problems.push(
      `the last backup verification failed on ${b.last_verify.node} (${ago(age(b.last_verify))} ago): ${b.last_verify.error ?? 'no reason recorded'}; ` +
        'run `ha-wordpress backup --verify` to see it again, and take a new backup',
    );
  else if (b.last_verify && age(b.last_verify) > e.verifyMaxAgeS)
    problems.push(`the last backup verification is ${ago(age(b.last_verify))} old: run \`ha-wordpress backup --verify\``);
  return problems;
}

function runLine(r: BackupRun | null): string {
  if (!r) return 'none yet';
  const when = r.time.replace('T', ' ').replace(/\.\d+/, '');
  return r.ok ? `${when}, ${r.snapshot ? r.snapshot.slice(0, 8) : 'ok'} on ${r.node}` : `${when} FAILED on ${r.node}`;
}

const ROLE: Record<string, string> = { wp_node: 'web', galera_cluster_node: 'galera', galera_loadbalancer: 'haproxy' };

/** Nodes where installed updates wait for a reboot: not a problem (reboots are the operator's to time), but worth a line. */
function rebootLine(s: ClusterStatus): string[] {
  const waiting = s.nodes.filter((n) => n.reboot_required).map((n) => n.name);
  return waiting.length
    ? [`reboot pending   ${waiting.join(', ')}: installed updates take effect after a reboot; one node at a time, status healthy in between`]
    : [];
}

/** Nodes with updates waiting: not a problem either, but the command that applies them. */
function updatesLine(s: ClusterStatus): string[] {
  const waiting = s.nodes.filter((n) => n.pending_updates);
  if (!waiting.length) return [];
  const security = waiting.some((n) => n.pending_updates!.security.length);
  const nodes = waiting.map((n) => `${n.name} (${n.pending_updates!.packages.length})`).join(', ');
  return [`updates pending  ${nodes}${security ? ', security updates among them' : ''}: \`ha-wordpress upgrade\` applies them one node at a time`];
}

export function table(s: ClusterStatus): string[] {
  const rows = s.nodes.map((n) => {
    const services = Object.entries(n.services).map(([u, st]) => (st === 'active' ? u : `${u} ${st.toUpperCase()}`));
    const detail: string[] = [...services];
    if (n.galera)
      detail.push(
        `${n.galera.state}${n.galera.backup_running ? ' (taking a backup)' : ''}${n.galera.primary ? '' : ' NON-PRIMARY'}, size ${n.galera.cluster_size}`,
      );
    if (n.healthz !== undefined) detail.push(`/healthz ${n.healthz}`);
    if (n.backends) detail.push(`backends ${n.backends.filter((b) => b.status === 'UP').length}/${n.backends.length} UP`);
    if (n.holds_reserved_ip) detail.push('holds the reserved IP');
    if (n.reboot_required) detail.push(`reboot pending${n.reboot_required.length ? ` (${n.reboot_required.join(', ')})` : ''}`);
    if (n.pending_updates) {
      const u = n.pending_updates;
      detail.push(`${u.packages.length} update${u.packages.length === 1 ? '' : 's'} pending${u.security.length ? ` (${u.security.length} security)` : ''}`);
    }
    return [n.name, ROLE[n.group] ?? n.group, n.reachable ? 'yes' : 'NO', n.reachable ? detail.join(', ') : (n.error ?? '')];
  });
  const header = ['NODE', 'ROLE', 'REACHABLE', 'STATE'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
  return [
    line(header),
    ...rows.map(line),
    '',
    `site             ${s.site.url} ${s.site.answers ? 'answers' : 'DOES NOT ANSWER'}`,
    ...(s.site.certificate ? [`certificate      valid until ${s.site.certificate.expires.slice(0, 10)} (${s.site.certificate.days} days)`] : []),
    `reserved IP      ${s.reserved_ip.address} on ${s.reserved_ip.holder ?? 'NO NODE'}`,
    `galera           ${s.galera.synced.length} Synced, cluster size ${s.galera.cluster_size}${s.galera.writer ? `, writes go to ${s.galera.writer}` : ''}`,
    ...rebootLine(s),
    ...updatesLine(s),
    `last backup      ${runLine(s.backup.last_backup)}`,
    `last verified    ${runLine(s.backup.last_verify)}`,
    s.healthy ? 'cluster          healthy' : `cluster          DEGRADED:\n${s.problems.map((p) => `  - ${p}`).join('\n')}`,
  ];
}
