/**
 * Every command and every option that is not a cluster setting, defined
 * once. cli.ts builds commander's commands, their options and their --help
 * from these definitions, and checks option values through the same
 * validators; a flag that several commands take is one definition here, so
 * it means the same everywhere. The cluster settings (init's flags) are in
 * table.ts. Pure data and pure functions, light enough for the start-up path
 * (it imports only the validators).
 */
import { pathLength } from '../validation/paths.js';
import { dbNodes, integerIn, webNodes, type Check } from '../validation/rules.js';

export interface OptionDef {
  /** Long flag without dashes. */
  flag: string;
  short?: string;
  /** commander's argument placeholder; absent for booleans. */
  arg?: string;
  env?: readonly string[];
  description: string;
  choices?: readonly string[];
  /** Applied when the option is absent (commander shows it in --help). */
  default?: string;
  validate?: Check;
}

export type Target = 'digitalocean' | 'local';
export const TARGETS: readonly Target[] = ['digitalocean', 'local'];

/** Where `up --target local` makes a lab workspace when there is none. */
export const LAB_DIR = 'lab';

/** A restic snapshot id, or its start (4 hex characters at least), or `latest`. */
function snapshotId(v: string): string | undefined {
  return v === 'latest' || /^[0-9a-f]{4,64}$/.test(v)
    ? undefined
    : 'not a snapshot id: give the id `ha-wordpress backups` shows (hex, e.g. 4f3a2b1c) or latest';
}

/** The options commands share. A command may word the description for itself; the meaning stays. */
export const OPTIONS = {
  dir: { flag: 'dir', arg: '<path>', description: 'the workspace (default: the current directory)', validate: pathLength },
  vaultPasswordFile: {
    flag: 'vault-password-file',
    arg: '<path>',
    env: ['HA_WORDPRESS_VAULT_PASSWORD'],
    description: "file holding the vault password (the env variable holds the password itself; default: the workspace's .vault-pass)",
    validate: pathLength,
  },
  yes: { flag: 'yes', short: 'y', description: 'accept defaults and confirmations' },
  nonInteractive: { flag: 'non-interactive', description: 'never prompt, even on a terminal (the default without one)' },
  verbose: { flag: 'verbose', description: "stream terraform's and ansible's output (it is always in .ha-wordpress/logs/)" },
  json: { flag: 'json', description: 'print the result as JSON' },
  only: {
    flag: 'only',
    arg: '<phase>',
    description: 'run one side: terraform (and the inventory), or ansible (wait for SSH, then the playbook)',
    choices: ['terraform', 'ansible'],
  },
  waitTimeout: {
    flag: 'wait-timeout',
    arg: '<seconds>',
    description: 'how long hosts get to accept SSH and finish cloud-init',
    default: '600',
    validate: (v: string) => (integerIn(1, 7200)(v) ? 'give whole seconds from 1 to 7200, e.g. --wait-timeout 900' : undefined),
  },
  target: {
    flag: 'target',
    arg: '<target>',
    description:
      `the workspace's target; with local and no workspace here, a lab workspace is made in ./${LAB_DIR} first ` +
      '(generated secrets, the vault password kept in it)',
    choices: TARGETS,
  },
  acceptNewHostKeys: {
    flag: 'accept-new-host-keys',
    description:
      "trust hosts whose SSH host key changed although up did not replace their droplets (check the new fingerprints on the droplets' consoles first)",
  },
  purge: { flag: 'purge', description: 'also delete the workspace directory after a successful destroy' },
  scenario: { flag: 'scenario', arg: '<names>', description: 'comma-separated scenarios to run, or all breaks (default: the four single-failure ones)' },
  verify: {
    flag: 'verify',
    description: 'instead of a backup, restore the latest snapshot (or --snapshot) into a scratch database on one node and check it',
  },
  snapshot: {
    flag: 'snapshot',
    arg: '<id>',
    description: 'a snapshot id (or the start of one, as `ha-wordpress backups` shows it), or latest',
    validate: snapshotId,
  },
  finalBackup: { flag: 'no-final-backup', description: 'skip the backup destroy takes first (asked for again in the confirmation)' },
  restore: {
    flag: 'restore',
    arg: '<id>',
    description: 'after the playbook, restore this snapshot (or latest) from the backup bucket: a new cluster for a destroyed one',
    validate: snapshotId,
  },
  allowEmptyDatabase: {
    flag: 'allow-empty-database',
    description: 'let a workspace whose cluster held data start over with an empty database (otherwise up refuses and names the latest backup)',
  },
  rotate: { flag: 'rotate', arg: '<names>', description: 'comma-separated secrets to regenerate on an existing workspace, or "all"' },
  // init's --web-nodes and --db-nodes (settings/table.ts), checked by the same rules.
  force: {
    flag: 'force',
    description: 'go on although the cluster is not healthy, when the node named is what is wrong with it (the rest must be healthy)',
  },
  webNodes: { flag: 'web-nodes', arg: '<n>', description: 'WordPress nodes wanted (2-10)', validate: webNodes },
  dbNodes: { flag: 'db-nodes', arg: '<n>', description: 'Galera database nodes wanted (odd, 3-9)', validate: dbNodes },
} satisfies Record<string, OptionDef>;

export type OptionKey = keyof typeof OPTIONS;

/** What a command's action receives: every option, parsed and checked. */
export interface CommandFlags {
  dir?: string;
  vaultPasswordFile?: string;
  yes: boolean;
  nonInteractive: boolean;
  verbose: boolean;
  json: boolean;
  only?: 'terraform' | 'ansible';
  target?: Target;
  waitTimeout: number;
  acceptNewHostKeys: boolean;
  purge: boolean;
  scenario?: string;
  rotate?: string;
  verify: boolean;
  snapshot?: string;
  /** false with --no-final-backup. */
  finalBackup: boolean;
  restore?: string;
  allowEmptyDatabase: boolean;
  webNodes?: number;
  dbNodes?: number;
  force: boolean;
}

export interface CommandDef {
  name: string;
  description: string;
  /** Its options, in --help order; a pair rewords the description for this command. */
  options: readonly (OptionKey | readonly [OptionKey, string])[];
  /** init also takes every cluster setting of table.ts. */
  settings?: boolean;
  /** Its one argument, e.g. `<node>` (commander's syntax: required in angle brackets). */
  argument?: { name: string; description: string };
  examples: string;
}

export const COMMANDS: readonly CommandDef[] = [
  {
    name: 'init',
    description: 'create or update a workspace: settings, secrets, files',
    settings: true,
    options: [['yes', 'accept defaults and confirmations (e.g. creating an SSH key)'], 'nonInteractive', 'rotate'],
    examples: `
Examples:
  $ npx ha-wordpress init
      the wizard: asks, checks against your DigitalOcean account, writes ./<project>

  $ DIGITALOCEAN_TOKEN=dop_v1_… ha-wordpress init --non-interactive \\
      --project shop --region fra1 --domain shop.example.com \\
      --vault-password-file ~/.config/shop.vault-pass
      scripted (CI): every missing value is reported at once, nothing is asked

  $ ha-wordpress init --target local --non-interactive --yes --dir lab --vault-password-file pw.txt
      a local lab of system containers: no cloud account needed

  $ ha-wordpress init --dir shop --rotate haproxy-stats-password
      run again on a workspace: keeps every secret except the ones named

Without a terminal (or with --non-interactive) init never prompts. Secrets
are generated unless given; prefer the HA_WORDPRESS_* environment variables
to flags for secrets, because flags are visible to other users in \`ps\`.`,
  },
  {
    name: 'up',
    description: 'build or update the cluster: terraform, then ansible',
    options: [
      'dir',
      'target',
      ['yes', 'apply the terraform plan without asking (and install what the lab needs)'],
      'nonInteractive',
      'only',
      'waitTimeout',
      'acceptNewHostKeys',
      'restore',
      'allowEmptyDatabase',
      'vaultPasswordFile',
      'verbose',
    ],
    examples: `
Examples:
  $ sudo npx ha-wordpress up --target local --yes
      a lab of system containers on this machine, from nothing: makes the
      workspace ./lab (or reuses it) and brings the cluster up

  $ cd shop && ha-wordpress up
      plan, confirm, apply; then wait for the droplets and run the playbook

  $ ha-wordpress up --dir shop --yes --non-interactive --vault-password-file ~/.config/shop.vault-pass
      scripted (CI): applies the plan without asking

  $ ha-wordpress up --only ansible
      configure again (after editing group_vars, or to resume a failed playbook)

A host whose SSH host key changed stops up before any secret is sent, unless
up itself replaced its droplet (or lab container); after checking the new
fingerprint on the droplet's console, --accept-new-host-keys records it.

A failed phase names itself, shows terraform's or ansible's last lines and
the command that resumes; the full output is in .ha-wordpress/logs/.
Ctrl-C stops terraform gracefully, so its state lock is released.`,
  },
  {
    name: 'destroy',
    description: 'remove the cloud resources; the workspace stays',
    options: [
      'dir',
      ['yes', 'destroy without asking for the project name'],
      ['nonInteractive', 'never prompt; without --yes this refuses and changes nothing'],
      'purge',
      'finalBackup',
      'vaultPasswordFile',
      ['verbose', "stream terraform's output (it is always in .ha-wordpress/logs/)"],
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress destroy
      shows what goes, then asks you to type the project name

  $ ha-wordpress destroy --dir shop --yes --purge
      scripted: no question, and the workspace is deleted afterwards

A final backup is taken first, and the backup bucket is never deleted: the
last lines say where the backups are and how to restore them into a new
cluster (\`init\` a new workspace, then \`up --restore latest\`).`,
  },
  {
    name: 'backup',
    description: 'take a backup of the database now (or --verify the latest)',
    options: [
      'dir',
      'verify',
      ['snapshot', 'with --verify: the snapshot to check (default: latest)'],
      ['json', 'print the result as JSON'],
      'nonInteractive',
      'vaultPasswordFile',
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress backup
      a consistent dump from a database node that is not taking the writes,
      encrypted by restic into the backup bucket; prints its id, size, time

  $ ha-wordpress backup --verify --dir shop
      restores the latest snapshot into a scratch database on one node,
      checks every table and counts the rows, then drops it

The cluster also backs itself up on the schedule init set (--backup-schedule)
and verifies daily; \`ha-wordpress status\` reports both. Exit code 1 when
the backup or the check failed, with the reason in one line.`,
  },
  {
    name: 'backups',
    description: 'list the snapshots in the backup bucket',
    options: ['dir', ['json', 'print the snapshots as JSON'], 'nonInteractive', 'vaultPasswordFile'],
    examples: `
Examples:
  $ cd shop && ha-wordpress backups
      time, id, size, kind (scheduled, manual, final), contents, verified`,
  },
  {
    name: 'restore',
    description: 'put a snapshot back into the running cluster',
    options: [
      'dir',
      ['snapshot', 'the snapshot to restore: an id from `ha-wordpress backups`, or latest (the default)'],
      ['yes', 'restore without asking for the project name'],
      ['json', 'print the result as JSON'],
      ['nonInteractive', 'never prompt; without --yes this refuses and changes nothing'],
      'vaultPasswordFile',
      ['verbose', "stream ansible's output (it is always in .ha-wordpress/logs/)"],
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress restore
      the latest snapshot; asks you to type the project name first

  $ ha-wordpress restore --dir shop --snapshot 4f3a2b1c --yes
      scripted: a chosen snapshot, no question

The site shows a maintenance page while the database is restored on one node;
the cluster is rebuilt from it and the other nodes rejoin by a full state
transfer. Ctrl-C before the maintenance page goes up changes nothing; after
it, the error line names the command that finishes the restore.`,
  },
  {
    name: 'status',
    description: 'the health of every node; exit code 3 when degraded',
    options: [
      'dir',
      ['json', 'print the report as JSON'],
      'nonInteractive',
      ['vaultPasswordFile', 'accepted like every command takes it; status opens no secret'],
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress status
      a table: each node's services, Galera state, HAProxy backends, who holds the reserved IP

  $ ha-wordpress status --dir shop --json || alert-someone
      for scripts and monitors: exit code 0 healthy, 3 degraded, 1 or 2 when status itself failed

Every node is asked at once over SSH with the project key, trusting only the
host keys that up recorded; the site is asked through the load balancer.`,
  },
  {
    name: 'upgrade',
    description: 'apply pending package updates, one node at a time',
    options: [
      'dir',
      ['yes', 'upgrade without asking (the plan is still printed)'],
      ['json', 'print what each node got as JSON'],
      ['nonInteractive', 'never prompt; without --yes this prints the plan, refuses and changes nothing'],
      'vaultPasswordFile',
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress upgrade
      reads every node's package lists, shows what each would get, asks, then
      upgrades them one at a time: web nodes, HAProxy (the reserved IP's
      holder last), Galera (the writer last)

  $ ha-wordpress upgrade --dir shop --yes --json
      scripted: no question; each node's packages, restart or reboot, seconds

Each node is taken out of its tier first (drained, the reserved IP handed
over, or desynced), upgraded, its services restarted (rebooted when an update
asks for it), and the whole cluster must be healthy again before the next.
The first node that is not stops it; Ctrl-C stops after the node in progress.
unattended-upgrades still installs the other security updates daily; it
leaves the cluster's own services to this command.`,
  },
  {
    name: 'scale',
    description: 'add or remove web or database nodes on a running cluster',
    options: [
      'dir',
      'webNodes',
      'dbNodes',
      ['yes', 'scale without asking (the plan is still printed)'],
      ['json', 'print what came and went as JSON'],
      ['nonInteractive', 'never prompt; without --yes this prints the plan, refuses and changes nothing'],
      'waitTimeout',
      'verbose',
      'vaultPasswordFile',
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress scale --web-nodes 4
      one more WordPress node: created, configured, then served by the load
      balancer once its health check passes

  $ ha-wordpress scale --dir shop --db-nodes 5 --yes
      two more Galera nodes, each joining by a state transfer from a member
      other than the writer; no running node is restarted

  $ ha-wordpress scale --web-nodes 3 --db-nodes 3 --yes --json
      back down: each leaving node drained or desynced first, one at a time

The cluster must be healthy first, and is healthy again when scale ends.
Leaving nodes are the highest-numbered ones. On DigitalOcean, terraform's plan
may hold only the droplets named in the question (and the load balancer's
and firewalls' lists that follow), or nothing is applied.`,
  },
  {
    name: 'replace',
    description: 'make one node anew (dead, or on request), back in its tier',
    argument: { name: '<node>', description: "the node's name, as `ha-wordpress status` shows it (e.g. shop-db-02)" },
    options: [
      'dir',
      'force',
      ['yes', 'replace without asking (the plan is still printed)'],
      ['json', 'print what was done as JSON'],
      ['nonInteractive', 'never prompt; without --yes this prints the plan, refuses and changes nothing'],
      'waitTimeout',
      'verbose',
      'vaultPasswordFile',
    ],
    examples: `
Examples:
  $ cd shop && ha-wordpress replace shop-db-02
      takes the node out (a Galera node desyncs and leaves cleanly), deletes its
      droplet, creates it again from the image and configures it; it rejoins
      by a state transfer from a member other than the writer

  $ ha-wordpress replace shop-wp-03 --force --yes
      the node is dead and status says DEGRADED for it: --force goes on as long
      as the rest of the cluster is healthy without it

The cluster must be healthy first (or, with --force, without this node), and is
healthy again when replace ends. Nothing on the node is kept: a Galera node's
data comes back from the others, a web node's from the playbook and the media
bucket. On DigitalOcean, terraform's plan may hold only this droplet's
replacement (and the in-place changes that follow), or nothing is applied.`,
  },
  {
    name: 'drill',
    description: 'break lab nodes under load; measure outages, lost writes',
    options: [
      'dir',
      'scenario',
      ['json', 'print the results as JSON'],
      'nonInteractive',
      'vaultPasswordFile',
      ['verbose', "stream ansible's output when full-stop recovers with up"],
    ],
    examples: `
Examples:
  $ cd lab && ha-wordpress drill
      the four losses the cluster must survive by itself, one after another,
      under steady requests and writes; a table of outages and lost writes

  $ ha-wordpress drill --dir lab --json --scenario galera-node-kill,full-stop
      chosen scenarios; full-stop shuts every database node down and recovers
      with up (full-crash kills them all at once; starting them is enough)

  $ ha-wordpress drill --scenario rolling-upgrade,scale-web,scale-db,replace-db,resize-db
      planned changes under the same load: upgrade, scale up and back, replace
      a Galera node, resize the Galera nodes and back; what each cost, and how
      long it took

Scenarios: haproxy-holder-stop, galera-node-kill, web-node-stop, one-of-each
(the default set); haproxy-holder-kill, web-node-kill, web-php-kill,
full-stop, full-crash on request (all: every one of these). Planned changes,
only when named: rolling-upgrade, scale-web, scale-db, replace-db, resize-db.
Exit code 0 when every outage is within budget (5 s for one node, 10 s for
one of each tier, no failed request for scale-web), no acknowledged write is
lost, every scenario healed and status saw each failure within 10 s; 3
otherwise.
Local target only: it breaks nodes on purpose.`,
  },
];

/** The options of a command, each with the description it shows there. */
export function commandOptions(cmd: CommandDef): (OptionDef & { key: OptionKey })[] {
  return cmd.options.map((o) => {
    const [key, description] = typeof o === 'string' ? [o, undefined] : o;
    const def: OptionDef = OPTIONS[key];
    return { ...def, key, description: description ?? def.description };
  });
}

/**
 * commander's parsed options → CommandFlags, every value checked by its
 * option's validator: a bad value is one line naming the flag.
 */
export function parseFlags(cmd: CommandDef, raw: Record<string, unknown>): { flags: CommandFlags; problems: string[] } {
  const problems: string[] = [];
  const str = (k: OptionKey): string | undefined => {
    const v = raw[k];
    return typeof v === 'string' ? v : undefined;
  };
  for (const o of commandOptions(cmd)) {
    const v = str(o.key);
    const p = v === undefined ? undefined : o.validate?.(v);
    if (p) problems.push(`--${o.flag}: ${p}`);
  }
  const flags: CommandFlags = {
    dir: str('dir'),
    vaultPasswordFile: str('vaultPasswordFile'),
    yes: raw.yes === true,
    nonInteractive: raw.nonInteractive === true,
    verbose: raw.verbose === true,
    json: raw.json === true,
    only: str('only') as CommandFlags['only'],
    target: str('target') as Target | undefined,
    waitTimeout: Number(str('waitTimeout') ?? OPTIONS.waitTimeout.default),
    acceptNewHostKeys: raw.acceptNewHostKeys === true,
    purge: raw.purge === true,
    scenario: str('scenario'),
    rotate: str('rotate'),
    verify: raw.verify === true,
    snapshot: str('snapshot'),
    // commander sets finalBackup: false for --no-final-backup, true otherwise.
    finalBackup: raw.finalBackup !== false,
    restore: str('restore'),
    allowEmptyDatabase: raw.allowEmptyDatabase === true,
    webNodes: str('webNodes') === undefined ? undefined : Number(str('webNodes')),
    dbNodes: str('dbNodes') === undefined ? undefined : Number(str('dbNodes')),
    force: raw.force === true,
  };
  return { flags, problems };
}
