/**
 * Which secret lives in which vault file, under the guide's variable names
 * (docs/architecture.md#secrets), and where each value comes from: a setting the user can give,
 * the existing workspace, or the generator. Pure: the caller passes in what
 * exists and what the user gave.
 */
import type { SettingKey, Target } from '../settings/table.js';
import * as gen from './generate.js';
import { UsageError } from '../errors.js';
import type { DbTls } from './db-tls.js';

/** A setting's flag: its key in kebab case (backupPassword → backup-password), as table.ts names them. */
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export type VaultGroup = 'all' | 'galera_cluster_node' | 'galera_loadbalancer' | 'wp_node';
export const VAULT_GROUPS: readonly VaultGroup[] = ['all', 'galera_cluster_node', 'galera_loadbalancer', 'wp_node'];

export type VaultValue = string | number | Record<string, string>;
export type Vaults = Record<VaultGroup, Record<string, VaultValue>>;

export interface SecretSpec {
  group: VaultGroup;
  name: string;
  /** The setting a user can give it through, if any. */
  setting?: SettingKey;
  /** Name for --rotate. */
  rotateName: string;
  /** What the summary calls it. */
  label: string;
  generate: (target: Target) => VaultValue;
  /** Changing it on a running cluster needs the roles to apply it everywhere. */
  live?: boolean;
  /** Why --rotate must not regenerate it (then neither --rotate <name> nor --rotate all does). */
  notRotatable?: string;
}

export const SECRET_SPECS: readonly SecretSpec[] = [
  {
    group: 'all',
    name: 'vault_wp_db_pass',
    setting: 'wpDbPassword',
    rotateName: 'wp-db-password',
    label: 'WordPress database password',
    generate: gen.password,
    live: true,
  },
  {
    group: 'galera_cluster_node',
    name: 'vault_galera_root_password',
    setting: 'galeraRootPassword',
    rotateName: 'galera-root-password',
    label: 'MariaDB root password',
    generate: gen.password,
    live: true,
  },
  {
    group: 'galera_cluster_node',
    name: 'vault_galera_clustercheck_password',
    setting: 'galeraClustercheckPassword',
    rotateName: 'galera-clustercheck-password',
    label: 'Galera health-check password',
    generate: gen.password,
    live: true,
  },
  {
    group: 'galera_cluster_node',
    name: 'vault_galera_sst_password',
    rotateName: 'galera-sst-password',
    label: 'Galera state-transfer password',
    generate: gen.password,
    live: true,
  },
  {
    group: 'galera_loadbalancer',
    name: 'vault_haproxy_stats_pass',
    setting: 'haproxyStatsPassword',
    rotateName: 'haproxy-stats-password',
    label: 'HAProxy stats password',
    generate: gen.password,
  },
  {
    group: 'galera_loadbalancer',
    name: 'vault_keepalived_auth_pass',
    rotateName: 'keepalived-password',
    label: 'keepalived VRRP password',
    generate: gen.keepalivedPass,
  },
  {
    group: 'wp_node',
    name: 'vault_wp_admin_password',
    setting: 'wpAdminPassword',
    rotateName: 'wp-admin-password',
    label: 'WordPress admin password',
    generate: gen.password,
  },
  { group: 'wp_node', name: 'vault_wp_salt', rotateName: 'wp-salts', label: 'WordPress keys and salts', generate: () => gen.wpSalts() },
  {
    group: 'all',
    name: 'vault_backup_restic_password',
    setting: 'backupPassword',
    rotateName: 'backup-restic-password',
    label: 'backup repository password',
    generate: gen.password,
    notRotatable:
      'the backup repository password cannot be rotated by init: the backups are encrypted with it, and a new one must first be ' +
      'added to the repository (`restic key add`, then `restic key remove` of the old one) or every existing backup becomes unreadable',
  },
];

/** The Spaces key the nodes back up with: a readwrite key scoped to the backup bucket. */
export const BACKUP_S3_KEY = 'vault_backup_s3_access_key_id';
export const BACKUP_S3_SECRET = 'vault_backup_s3_secret_access_key';
/** The web nodes' key to the media bucket (the wp_node vault). */
export const MEDIA_S3_KEY = 'vault_spaces_access_key';
export const MEDIA_S3_SECRET = 'vault_spaces_secret_key';
/** The password of the mail server WordPress sends through (--smtp-password). */
export const SMTP_PASSWORD = 'vault_wordpress_smtp_password';

/**
 * Secrets earlier versions wrote that nothing reads any more. An existing
 * vault that holds one still opens; the next init leaves it out and says so.
 */
export const RETIRED_SECRETS: readonly { group: VaultGroup; name: string; why: string }[] = [
  {
    group: 'galera_cluster_node',
    name: 'vault_galera_sys_maint_password',
    why: "no role used it: Debian's MariaDB does its maintenance as root over the unix socket",
  },
  { group: 'wp_node', name: 'vault_sys_user', why: 'no role used it; the admin user is admin-user in ha-wordpress.yml' },
];

/** `--rotate tls`: a new database CA and both certificates (docs/cluster.md#rotating-the-database-certificates). */
export const DB_TLS_ROTATE = 'tls';

/** Where the database path's CA and certificates live (src/secrets/db-tls.ts makes them). */
export const DB_TLS_VAULT = {
  ca: { group: 'all', name: 'vault_db_tls_ca', label: 'database CA' },
  server: { group: 'galera_cluster_node', name: 'vault_db_tls_server', label: 'database server certificate' },
  client: { group: 'wp_node', name: 'vault_db_tls_client', label: 'database client certificate' },
} as const satisfies Record<keyof DbTls, { group: VaultGroup; name: string; label: string }>;

export const ROTATE_NAMES = ['all', ...SECRET_SPECS.filter((s) => !s.notRotatable).map((s) => s.rotateName), DB_TLS_ROTATE];

/** Why `--rotate <name>` is refused for a secret that has a rotate name but cannot be rotated, or undefined. */
export function rotateRefusal(name: string): string | undefined {
  return SECRET_SPECS.find((s) => s.rotateName === name)?.notRotatable;
}

export interface SecretInputs {
  target: Target;
  /** Values given this run (flags, env, answers), already validated. */
  given: Partial<Record<SettingKey, string>>;
  /** The non-secret setting the vaults carry under the guide's name. */
  haproxyStatsUser: string;
  /** Decrypted vaults of the existing workspace, if any. */
  existing?: Partial<Vaults>;
  rotate: ReadonlySet<string>;
  /** DigitalOcean: the API token (for the failover token default). */
  apiToken?: string;
  /** The failover token followed the API token last time. */
  failoverFollowsApiToken: boolean;
  /** The database path's CA and certificates, and whether they replace the workspace's (init makes or keeps them: they need openssl). */
  dbTls: { material: DbTls; state: 'kept' | 'new' | 'rotated' };
}

/** A secret that had a value and gets a different one this run: where it lives, and what asked for it. */
export interface SecretChange {
  group: VaultGroup;
  label: string;
  /** The setting given with a new value, or --rotate. */
  via: SettingKey | 'rotate';
}

export interface SecretResult {
  vaults: Vaults;
  generated: string[];
  changed: string[];
  changes: SecretChange[];
  kept: number;
  /** Retired secrets the existing vaults held, now left out (with why). */
  retired: string[];
  failoverFollowsApiToken: boolean;
}

export const HAPROXY_STATS_PORT = 8404;
export const WP_DB_NAME = 'wordpress';
export const WP_DB_USER = 'wordpress';

export function buildSecrets(inp: SecretInputs): SecretResult {
  const vaults: Vaults = { all: {}, galera_cluster_node: {}, galera_loadbalancer: {}, wp_node: {} };
  const generated: string[] = [];
  const changes: SecretChange[] = [];
  let kept = 0;
  const old = (group: VaultGroup, name: string) => inp.existing?.[group]?.[name];

  for (const spec of SECRET_SPECS) {
    const given = spec.setting ? inp.given[spec.setting] : undefined;
    const previous = old(spec.group, spec.name);
    const rotate = !spec.notRotatable && (inp.rotate.has('all') || inp.rotate.has(spec.rotateName));
    let value: VaultValue;
    if (given !== undefined) {
      // The backups already made are encrypted with the old one: a new one would lock them away.
      if (spec.notRotatable && previous !== undefined && previous !== given)
        throw new UsageError(`--${kebab(spec.setting!)}: this workspace already has one, and its backups need it; ${spec.notRotatable} (nothing was changed)`);
      value = given;
      if (previous !== undefined && previous !== given) changes.push({ group: spec.group, label: spec.label, via: spec.setting! });
    } else if (previous !== undefined && !rotate) {
      value = previous;
      kept++;
    } else {
      value = spec.generate(inp.target);
      if (previous !== undefined) changes.push({ group: spec.group, label: spec.label, via: 'rotate' });
      else generated.push(spec.label);
    }
    vaults[spec.group][spec.name] = value;
  }

  // The guide's non-secret entries that live in the vaults.
  vaults.all.vault_wp_db_name = WP_DB_NAME;
  vaults.all.vault_wp_db_user = WP_DB_USER;
  vaults.galera_loadbalancer.vault_haproxy_stats_user = inp.haproxyStatsUser;
  vaults.galera_loadbalancer.vault_haproxy_stats_port = HAPROXY_STATS_PORT;

  // The token the HAProxy nodes use to move the reserved IP. On DigitalOcean
  // it defaults to the API token (a narrowly scoped one is safer, and can be
  // given with --failover-token); the lab's stand-in API gets its own.
  let follows = inp.failoverFollowsApiToken;
  const prevFailover = old('galera_loadbalancer', 'vault_galera_ha_do_token');
  let failover: string;
  if (inp.given.failoverToken !== undefined) {
    failover = inp.given.failoverToken;
    follows = false;
  } else if (inp.target === 'digitalocean' && (follows || prevFailover === undefined)) {
    failover = inp.apiToken ?? String(prevFailover ?? '');
    follows = true;
  } else if (typeof prevFailover === 'string' && !inp.rotate.has('all')) {
    failover = prevFailover;
  } else {
    failover = gen.labToken();
  }
  if (prevFailover !== undefined && prevFailover !== failover) {
    const via = inp.given.failoverToken !== undefined ? 'failoverToken' : follows ? 'token' : 'rotate';
    changes.push({ group: 'galera_loadbalancer', label: 'reserved-IP failover token', via });
  }
  vaults.galera_loadbalancer.vault_galera_ha_do_token = failover;

  // The nodes' key to the backup bucket. The lab's stand-in for Spaces takes
  // whatever the workspace holds, so init makes one up; on DigitalOcean only
  // the API can make a key, and `up` does (backup/spaces.ts): until then empty.
  for (const [name, make] of [
    [BACKUP_S3_KEY, gen.s3AccessKeyId],
    [BACKUP_S3_SECRET, gen.s3SecretKey],
  ] as const) {
    const prev = old('all', name);
    vaults.all[name] = typeof prev === 'string' && prev !== '' ? prev : inp.target === 'local' ? make() : '';
    if (inp.target === 'local' && vaults.all[name] !== prev && name === BACKUP_S3_KEY) generated.push('backup bucket key (lab)');
  }

  // The web nodes' key to the media bucket: the user's own pair (given, or
  // kept), else the one `up` made for the bucket (kept; until then empty).
  // The lab's S3 stand-in has one key for everything, the backups' above.
  const media = [
    ['spacesKey', MEDIA_S3_KEY, BACKUP_S3_KEY],
    ['spacesSecret', MEDIA_S3_SECRET, BACKUP_S3_SECRET],
  ] as const;
  for (const [setting, name, lab] of media) {
    const prev = old('wp_node', name);
    const value = inp.target === 'local' ? String(vaults.all[lab]) : (inp.given[setting] ?? (typeof prev === 'string' && prev !== '' ? prev : ''));
    if (typeof prev === 'string' && prev !== '' && prev !== value && setting === 'spacesKey')
      changes.push({ group: 'wp_node', label: 'media bucket key', via: setting });
    vaults.wp_node[name] = value;
  }

  // The mail server's password: given, else kept (none without a login).
  const smtpPrev = old('wp_node', SMTP_PASSWORD);
  vaults.wp_node[SMTP_PASSWORD] = inp.given.smtpPassword ?? (typeof smtpPrev === 'string' ? smtpPrev : '');
  if (typeof smtpPrev === 'string' && smtpPrev !== '' && inp.given.smtpPassword !== undefined && inp.given.smtpPassword !== smtpPrev)
    changes.push({ group: 'wp_node', label: 'SMTP password', via: 'smtpPassword' });

  // The database path's certificates: made or kept by init (see SecretInputs.dbTls).
  for (const part of ['ca', 'server', 'client'] as const) {
    const where = DB_TLS_VAULT[part];
    const value = inp.dbTls.material[part];
    vaults[where.group][where.name] = typeof value === 'string' ? value : { ...value };
    if (inp.dbTls.state === 'rotated') changes.push({ group: where.group, label: where.label, via: 'rotate' });
  }
  if (inp.dbTls.state === 'new') generated.push('database CA and certificates');
  else if (inp.dbTls.state === 'kept') kept++;

  const retired = RETIRED_SECRETS.filter((r) => old(r.group, r.name) !== undefined).map((r) => `${r.name} (${r.why})`);
  return { vaults, generated, changed: changes.map((c) => c.label), changes, kept, retired, failoverFollowsApiToken: follows };
}

/** The secret strings in the vaults (not the guide's plain entries such as the database name), for the logger's redaction list. */
export function secretStrings(vaults: Partial<Vaults>): string[] {
  const out: string[] = [];
  const names: [VaultGroup, string][] = [
    ...SECRET_SPECS.map((s) => [s.group, s.name] as [VaultGroup, string]),
    ['galera_loadbalancer', 'vault_galera_ha_do_token'],
    ['wp_node', MEDIA_S3_KEY],
    ['wp_node', MEDIA_S3_SECRET],
    ['wp_node', SMTP_PASSWORD],
    ['all', BACKUP_S3_KEY],
    ['all', BACKUP_S3_SECRET],
    // The private keys only: the certificates are public.
    [DB_TLS_VAULT.server.group, DB_TLS_VAULT.server.name],
    [DB_TLS_VAULT.client.group, DB_TLS_VAULT.client.name],
  ];
  for (const [group, name] of names) {
    const v = vaults[group]?.[name];
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object')
      out.push(
        ...Object.entries(v)
          .filter(([k]) => k !== 'cert')
          .map(([, s]) => s),
      );
  }
  return out;
}
