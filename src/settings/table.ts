/**
 * Every setting, defined once. commander's options and --help, the wizard's
 * prompts, the non-interactive "missing flags" check and the validation of
 * flag, env and typed values are all derived from this table (see
 * settings/resolve.ts and cli.ts). Pure data and pure functions: no I/O.
 */
import { bucketName, backupRegion, defaultBackupRegion, defaultMediaRegion, spacesRegion, SPACES_REGIONS } from '../backup/regions.js';
import { backupRetention, DEFAULT_RETENTION } from '../backup/retention.js';
import { backupSchedule } from '../backup/schedule.js';
import { pathLength } from '../validation/paths.js';
import * as rules from '../validation/rules.js';
import { secretCheck } from '../validation/secrets.js';
import { OPTIONS, TARGETS, type Target } from './commands.js';

export { TARGETS, type Target };

export type SettingKey =
  | 'target'
  | 'token'
  | 'apiUrl'
  | 'project'
  | 'region'
  | 'domain'
  | 'sshKey'
  | 'sshAllow'
  | 'webNodes'
  | 'dbNodes'
  | 'webSize'
  | 'dbSize'
  | 'lbSize'
  | 'image'
  | 'tls'
  | 'tlsCertificate'
  | 'tlsKey'
  | 'tlsChain'
  | 'hsts'
  | 'siteTitle'
  | 'allowXmlrpc'
  | 'adminUser'
  | 'wpAdminUser'
  | 'wpAdminEmail'
  | 'wpDbPassword'
  | 'galeraRootPassword'
  | 'galeraClustercheckPassword'
  | 'haproxyStatsUser'
  | 'haproxyStatsPassword'
  | 'wpAdminPassword'
  | 'smtpHost'
  | 'smtpPort'
  | 'smtpUser'
  | 'smtpPassword'
  | 'failoverToken'
  | 'spacesKey'
  | 'spacesSecret'
  | 'spacesBucket'
  | 'spacesRegion'
  | 'mediaCdn'
  | 'backupSchedule'
  | 'backupRetention'
  | 'backupRegion'
  | 'backupBucket'
  | 'backupPassword'
  | 'vaultPasswordFile'
  | 'saveVaultPassword'
  | 'dir';

/** Values as the program holds them: strings throughout, parsed at the edges. */
export type Values = Partial<Record<SettingKey, string>>;

/**
 * When the wizard asks:
 * - 'always': every interactive run;
 * - 'customise': only after the user says yes to "Customise …?";
 * - 'never': flag/env/default only (e.g. --api-url, --dir).
 */
export type PromptWhen = 'always' | 'customise' | 'never';

export interface Setting {
  key: SettingKey;
  /** Long flag without dashes, e.g. 'web-nodes'. */
  flag: string;
  /** commander's argument placeholder; absent for booleans. */
  arg?: string;
  env?: readonly string[];
  description: string;
  /** Help group heading. */
  group: 'Cluster' | 'DigitalOcean' | 'Access' | 'HTTPS' | 'WordPress' | 'Credentials' | 'Mail' | 'Media (Spaces)' | 'Backups' | 'Workspace';
  kind: 'text' | 'secret' | 'number' | 'select' | 'boolean' | 'path' | 'list';
  /** Targets the setting applies to; absent = every target. */
  targets?: readonly Target[];
  /** Choices for 'select' settings with a fixed list (region and sizes come from the API). */
  choices?: readonly string[];
  /**
   * Default given the other values, or undefined for none. A setting with no
   * default that is `required` must be given (non-interactive) or asked.
   */
  default?: (v: Values) => string | undefined;
  /** Shown in --help when the default is computed. */
  defaultHelp?: string;
  required?: boolean;
  /** Secrets: the value is generated when absent; never printed. */
  generated?: boolean;
  validate?: rules.Check;
  prompt: { when: PromptWhen; message: string; hint?: string };
}

const DO: readonly Target[] = ['digitalocean'];

/** A boolean setting's check: flags give true or false; this catches a hand-edited ha-wordpress.yml ("yes", "on"). */
const trueOrFalse =
  (flag: string): rules.Check =>
  (v) =>
    v === 'true' || v === 'false' ? undefined : `use true or false (the flags: --${flag}, --no-${flag})`;

export const DEFAULTS = {
  project: 'hawp',
  apiUrl: 'https://api.digitalocean.com',
  webSize: 's-1vcpu-2gb',
  dbSize: 's-2vcpu-4gb',
  lbSize: 's-1vcpu-1gb',
  image: 'debian-12-x64',
  sshAllow: '0.0.0.0/0,::/0',
  adminUser: 'deploy',
  haproxyStatsUser: 'haproxy-stats',
} as const;

// `as const`: the literal kinds and keys let settings/stored.ts derive the
// typed workspace settings from this one table.
const TABLE = [
  {
    key: 'target',
    flag: 'target',
    arg: '<target>',
    description: 'where the cluster runs: digitalocean, or local (system containers on this Linux machine, no cloud account)',
    group: 'Cluster',
    kind: 'select',
    choices: TARGETS,
    default: () => 'digitalocean',
    validate: (v) => (TARGETS.includes(v as Target) ? undefined : 'use digitalocean or local'),
    prompt: { when: 'always', message: 'Where should the cluster run?' },
  },
  {
    key: 'token',
    flag: 'token',
    arg: '<token>',
    env: ['DIGITALOCEAN_TOKEN', 'DIGITALOCEAN_ACCESS_TOKEN'],
    description: 'DigitalOcean API token with read and write scope (prefer the env variable: flags show in `ps`)',
    group: 'DigitalOcean',
    kind: 'secret',
    targets: DO,
    required: true,
    validate: rules.doToken,
    prompt: { when: 'always', message: 'DigitalOcean API token', hint: 'create one under API → Tokens; it is stored only in the encrypted vault' },
  },
  {
    key: 'apiUrl',
    flag: 'api-url',
    arg: '<url>',
    env: ['DIGITALOCEAN_API_URL'],
    description: 'DigitalOcean API base URL: https (http only on loopback); any other than the default is confirmed before the token is sent to it (or --yes)',
    group: 'DigitalOcean',
    kind: 'text',
    targets: DO,
    default: () => DEFAULTS.apiUrl,
    validate: rules.apiUrl,
    prompt: { when: 'never', message: 'API base URL' },
  },
  {
    key: 'project',
    flag: 'project',
    arg: '<name>',
    description: 'project name: prefix of droplet names, tags and the load balancer',
    group: 'Cluster',
    kind: 'text',
    default: () => DEFAULTS.project,
    validate: rules.projectName,
    prompt: { when: 'always', message: 'Project name' },
  },
  {
    key: 'region',
    flag: 'region',
    arg: '<slug>',
    description: 'DigitalOcean region slug, e.g. fra1 (must offer the droplet sizes)',
    group: 'DigitalOcean',
    kind: 'select',
    targets: DO,
    required: true,
    validate: rules.slug,
    prompt: { when: 'always', message: 'Region' },
  },
  {
    key: 'domain',
    flag: 'domain',
    arg: '<fqdn>',
    description:
      "domain the site answers on, over HTTPS (docs/https.md); empty: plain HTTP on the load balancer's IP. " +
      'The local lab makes up <project>.test, served with the lab CA',
    group: 'WordPress',
    kind: 'text',
    // The lab is HTTPS like a droplet cluster with a domain: a name only the lab's load balancer serves.
    default: (v) => (v.target === 'local' ? `${v.project ?? DEFAULTS.project}.test` : ''),
    defaultHelp: 'none; <project>.test on the local target',
    validate: rules.domain,
    prompt: { when: 'always', message: 'Domain name for the site', hint: 'leave empty to use the load balancer IP' },
  },
  {
    key: 'sshKey',
    flag: 'ssh-key',
    arg: '<path>',
    description: 'private SSH key for the admin user (its .pub is uploaded to DigitalOcean when absent)',
    defaultHelp: '~/.ssh/id_ed25519, else ~/.ssh/id_rsa, else a new ed25519 key',
    group: 'Access',
    kind: 'path',
    validate: pathLength,
    prompt: { when: 'customise', message: 'Private SSH key' },
  },
  {
    key: 'sshAllow',
    flag: 'ssh-allow',
    arg: '<cidrs>',
    description: 'comma-separated addresses/CIDR blocks allowed to SSH to the droplets',
    group: 'Access',
    kind: 'list',
    targets: DO,
    default: () => DEFAULTS.sshAllow,
    validate: rules.cidrList,
    prompt: { when: 'customise', message: 'Addresses allowed to SSH (comma-separated CIDR blocks)' },
  },
  {
    key: 'adminUser',
    flag: 'admin-user',
    arg: '<name>',
    description: 'Linux admin user created on every node (SSH as root is disabled)',
    group: 'Access',
    kind: 'text',
    default: () => DEFAULTS.adminUser,
    validate: (v) => (v === 'root' ? 'choose a user other than root' : rules.loginName(v)),
    prompt: { when: 'customise', message: 'Linux admin user on the nodes' },
  },
  {
    key: 'webNodes',
    flag: 'web-nodes',
    arg: '<n>',
    description: 'number of WordPress nodes (2-10)',
    group: 'Cluster',
    kind: 'number',
    default: () => '3',
    validate: rules.webNodes,
    prompt: { when: 'customise', message: 'WordPress nodes' },
  },
  {
    key: 'dbNodes',
    flag: 'db-nodes',
    arg: '<n>',
    description: 'number of Galera database nodes (odd, 3-9)',
    group: 'Cluster',
    kind: 'number',
    default: () => '3',
    validate: rules.dbNodes,
    prompt: { when: 'customise', message: 'Galera database nodes' },
  },
  {
    key: 'webSize',
    flag: 'web-size',
    arg: '<slug>',
    description: 'droplet size of the WordPress nodes (lab: its vCPUs and memory, as limits)',
    group: 'DigitalOcean',
    kind: 'select',
    default: () => DEFAULTS.webSize,
    validate: rules.slug,
    prompt: { when: 'customise', message: 'Droplet size for WordPress nodes' },
  },
  {
    key: 'dbSize',
    flag: 'db-size',
    arg: '<slug>',
    description: 'droplet size of the Galera nodes (lab: its vCPUs and memory, as limits)',
    group: 'DigitalOcean',
    kind: 'select',
    default: () => DEFAULTS.dbSize,
    validate: rules.slug,
    prompt: { when: 'customise', message: 'Droplet size for Galera nodes' },
  },
  {
    key: 'lbSize',
    flag: 'lb-size',
    arg: '<slug>',
    description: 'droplet size of the two HAProxy nodes (lab: its vCPUs and memory, as limits)',
    group: 'DigitalOcean',
    kind: 'select',
    default: () => DEFAULTS.lbSize,
    validate: rules.slug,
    prompt: { when: 'customise', message: 'Droplet size for HAProxy nodes' },
  },
  {
    key: 'image',
    flag: 'image',
    arg: '<slug>',
    description: 'droplet image (the roles target Debian 12)',
    group: 'DigitalOcean',
    kind: 'text',
    targets: DO,
    default: () => DEFAULTS.image,
    validate: rules.imageSlug,
    prompt: { when: 'customise', message: 'Droplet image' },
  },
  {
    key: 'tls',
    flag: 'tls',
    arg: '<how>',
    description:
      "HTTPS at the load balancer (docs/https.md): auto picks lets_encrypt when --domain is in the account's DigitalOcean DNS, " +
      'custom when --tls-certificate is given; none serves HTTP only',
    group: 'HTTPS',
    kind: 'select',
    targets: DO,
    choices: ['auto', 'lets_encrypt', 'custom', 'none'],
    default: () => 'auto',
    validate: (v) => (['auto', 'lets_encrypt', 'custom', 'none'].includes(v) ? undefined : 'use auto, lets_encrypt, custom or none'),
    prompt: { when: 'customise', message: 'HTTPS certificate' },
  },
  {
    key: 'tlsCertificate',
    flag: 'tls-certificate',
    arg: '<file>',
    description: 'your certificate for --domain (PEM; a fullchain.pem with the chain after the certificate is fine): uploaded to the load balancer',
    group: 'HTTPS',
    kind: 'path',
    targets: DO,
    validate: pathLength,
    prompt: { when: 'never', message: 'Certificate file (PEM)' },
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    arg: '<file>',
    description: "the certificate's private key (PEM, without a passphrase); kept in the terraform vault only",
    group: 'HTTPS',
    kind: 'path',
    targets: DO,
    validate: pathLength,
    prompt: { when: 'never', message: 'Private key file (PEM)' },
  },
  {
    key: 'tlsChain',
    flag: 'tls-chain',
    arg: '<file>',
    description: "the certificate's chain (PEM), from its issuer up, when --tls-certificate holds the certificate alone",
    group: 'HTTPS',
    kind: 'path',
    targets: DO,
    validate: pathLength,
    prompt: { when: 'never', message: 'Certificate chain file (PEM)' },
  },
  {
    key: 'hsts',
    flag: 'hsts',
    description: 'with HTTPS, tell browsers to use nothing else for a year (Strict-Transport-Security); --no-hsts to leave it out',
    group: 'HTTPS',
    kind: 'boolean',
    targets: DO,
    default: () => 'true',
    validate: trueOrFalse('hsts'),
    prompt: { when: 'customise', message: 'Send HSTS (browsers refuse plain HTTP to the site for a year)?' },
  },
  {
    key: 'siteTitle',
    flag: 'site-title',
    arg: '<title>',
    description: 'WordPress site title',
    defaultHelp: 'the project name',
    group: 'WordPress',
    kind: 'text',
    default: (v) => v.project,
    validate: rules.siteTitle,
    prompt: { when: 'customise', message: 'Site title' },
  },
  {
    key: 'allowXmlrpc',
    flag: 'allow-xmlrpc',
    description:
      "answer on WordPress's XML-RPC endpoint (xmlrpc.php: the old mobile apps, Jetpack, pingbacks); " +
      'off, it answers 403, which stops the password guessing and pingback floods aimed at it',
    group: 'WordPress',
    kind: 'boolean',
    default: () => 'false',
    validate: trueOrFalse('allow-xmlrpc'),
    prompt: { when: 'customise', message: 'Open XML-RPC (xmlrpc.php) for apps and pingbacks?' },
  },
  {
    key: 'wpAdminUser',
    flag: 'wp-admin-user',
    arg: '<name>',
    description: 'WordPress administrator login',
    defaultHelp: '<project>-admin',
    group: 'WordPress',
    kind: 'text',
    default: (v) => (v.project ? `${v.project}-admin`.slice(0, 32) : undefined),
    validate: (v) => (v === 'admin' ? '"admin" is the first name brute-force attacks try; choose another' : rules.loginName(v)),
    prompt: { when: 'customise', message: 'WordPress admin login' },
  },
  {
    key: 'wpAdminEmail',
    flag: 'wp-admin-email',
    arg: '<email>',
    description: 'WordPress administrator email',
    defaultHelp: 'admin@<domain>, else admin@example.com',
    group: 'WordPress',
    kind: 'text',
    default: (v) => `admin@${v.domain ? v.domain.replace(/\.$/, '') : 'example.com'}`,
    validate: rules.email,
    prompt: { when: 'customise', message: 'WordPress admin email' },
  },
  {
    key: 'smtpHost',
    flag: 'smtp-host',
    arg: '<host>',
    description:
      "mail server WordPress sends through (password resets, notifications): a mail provider's SMTP relay; " +
      'without one no mail leaves the cluster, as DigitalOcean blocks outbound port 25',
    group: 'Mail',
    kind: 'text',
    default: () => '',
    defaultHelp: 'none: WordPress mail is not delivered',
    validate: rules.mailHost,
    prompt: { when: 'customise', message: 'SMTP server for WordPress mail', hint: 'empty: no mail is delivered' },
  },
  {
    key: 'smtpPort',
    flag: 'smtp-port',
    arg: '<port>',
    description: 'its port: 587 (STARTTLS) or 465 (TLS from the start); 25 is blocked on DigitalOcean',
    group: 'Mail',
    kind: 'number',
    default: () => '587',
    validate: rules.integerIn(1, 65535),
    prompt: { when: 'customise', message: 'SMTP port' },
  },
  {
    key: 'smtpUser',
    flag: 'smtp-user',
    arg: '<user>',
    description: 'login at the mail server (its password: --smtp-password, kept in the vault)',
    group: 'Mail',
    kind: 'text',
    default: () => '',
    validate: rules.mailLogin,
    prompt: { when: 'customise', message: 'SMTP login', hint: 'empty: the server takes mail without a login' },
  },
  {
    key: 'smtpPassword',
    flag: 'smtp-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_SMTP_PASSWORD'],
    description: 'password of --smtp-user (prefer the env variable: flags show in `ps`)',
    group: 'Mail',
    kind: 'secret',
    validate: secretCheck(['yaml', 'jinja', 'php']),
    prompt: { when: 'customise', message: 'SMTP password', hint: 'empty: keep the current one' },
  },
  {
    key: 'wpAdminPassword',
    flag: 'wp-admin-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_WP_ADMIN_PASSWORD'],
    description: 'WordPress administrator password',
    group: 'Credentials',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja', 'php']),
    prompt: { when: 'customise', message: 'WordPress admin password', hint: 'empty: generate one' },
  },
  {
    key: 'wpDbPassword',
    flag: 'wp-db-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_WP_DB_PASSWORD'],
    description: 'password of the WordPress database user',
    group: 'Credentials',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja', 'php', 'option-file']),
    prompt: { when: 'customise', message: 'WordPress database password', hint: 'empty: generate one' },
  },
  {
    key: 'galeraRootPassword',
    flag: 'galera-root-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_GALERA_ROOT_PASSWORD'],
    description: 'MariaDB root password',
    group: 'Credentials',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja', 'galera-check', 'option-file']),
    prompt: { when: 'customise', message: 'MariaDB root password', hint: 'empty: generate one' },
  },
  {
    key: 'galeraClustercheckPassword',
    flag: 'galera-clustercheck-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_GALERA_CLUSTERCHECK_PASSWORD'],
    description: 'password of the user the HAProxy health check uses',
    group: 'Credentials',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja', 'galera-check', 'option-file']),
    prompt: { when: 'customise', message: 'Galera health-check password', hint: 'empty: generate one' },
  },
  {
    key: 'haproxyStatsUser',
    flag: 'haproxy-stats-user',
    arg: '<name>',
    description: 'login of the HAProxy stats page (private network only)',
    group: 'Credentials',
    kind: 'text',
    default: () => DEFAULTS.haproxyStatsUser,
    validate: rules.loginName,
    prompt: { when: 'customise', message: 'HAProxy stats login' },
  },
  {
    key: 'haproxyStatsPassword',
    flag: 'haproxy-stats-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_HAPROXY_STATS_PASSWORD'],
    description: 'password of the HAProxy stats page',
    group: 'Credentials',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja', 'haproxy']),
    prompt: { when: 'customise', message: 'HAProxy stats password', hint: 'empty: generate one' },
  },
  {
    key: 'failoverToken',
    flag: 'failover-token',
    arg: '<token>',
    env: ['HA_WORDPRESS_FAILOVER_TOKEN'],
    description:
      'token the HAProxy nodes use to move the reserved IP (default: the API token). Safer: a custom-scoped token with ' +
      'reserved_ip:update and the read scopes it requires (reserved_ip, droplet, regions, sizes, actions, image)',
    group: 'DigitalOcean',
    kind: 'secret',
    targets: DO,
    validate: rules.doToken,
    prompt: { when: 'customise', message: 'Token for reserved-IP failover', hint: 'empty: use the API token' },
  },
  {
    key: 'spacesBucket',
    flag: 'spaces-bucket',
    arg: '<name>',
    description:
      "bucket WordPress's uploads go to, so every web node serves every upload (created by `up`, never deleted by `destroy`); " +
      'the local lab keeps it in its S3 stand-in',
    defaultHelp: '<project>-media-<6 random letters and digits>, made once and kept',
    group: 'Media (Spaces)',
    kind: 'text',
    validate: bucketName,
    prompt: { when: 'never', message: 'Media bucket' },
  },
  {
    key: 'spacesRegion',
    flag: 'spaces-region',
    arg: '<slug>',
    description: `Spaces region of the media bucket (${SPACES_REGIONS.join(' ')})`,
    defaultHelp: "the cluster's region, or the nearest with Spaces (nyc3 for nyc1, nyc2 and ric1)",
    group: 'Media (Spaces)',
    // Checked by spacesRegion, not by a choice list: its error names the nearest region that has Spaces.
    kind: 'text',
    targets: DO,
    default: (v) => defaultMediaRegion(v.region),
    validate: spacesRegion,
    prompt: { when: 'customise', message: 'Region for the media bucket (Spaces)' },
  },
  {
    key: 'mediaCdn',
    flag: 'media-cdn',
    description: "serve the uploads through the media bucket's CDN endpoint (DigitalOcean's CDN for Spaces) instead of the bucket itself",
    group: 'Media (Spaces)',
    kind: 'boolean',
    targets: DO,
    default: () => 'false',
    validate: trueOrFalse('media-cdn'),
    prompt: { when: 'customise', message: "Serve the uploads through the bucket's CDN endpoint?" },
  },
  {
    key: 'spacesKey',
    flag: 'spaces-key',
    arg: '<key>',
    env: ['SPACES_ACCESS_KEY_ID'],
    description: 'your own Spaces access key for the media bucket, with --spaces-secret (default: `up` makes one that reaches only that bucket)',
    group: 'Media (Spaces)',
    // In the vault, like its secret: the pair is one credential.
    kind: 'secret',
    targets: DO,
    validate: rules.spacesKey,
    prompt: { when: 'never', message: 'Spaces access key' },
  },
  {
    key: 'spacesSecret',
    flag: 'spaces-secret',
    arg: '<secret>',
    env: ['SPACES_SECRET_ACCESS_KEY'],
    description: 'the secret of --spaces-key',
    group: 'Media (Spaces)',
    kind: 'secret',
    targets: DO,
    validate: rules.spacesSecret,
    prompt: { when: 'never', message: 'Spaces secret key' },
  },
  {
    key: 'backupSchedule',
    flag: 'backup-schedule',
    arg: '<when>',
    description:
      'when the cluster backs itself up: a systemd OnCalendar expression, at most every 15 minutes ' +
      '(hourly, daily, weekly, monthly, "*:0/30" every 30 minutes, "*-*-* 02:30" nightly, "Mon..Fri 0/6:00")',
    group: 'Backups',
    kind: 'text',
    default: () => 'hourly',
    validate: backupSchedule,
    prompt: { when: 'customise', message: 'Backup schedule (systemd OnCalendar)' },
  },
  {
    key: 'backupRetention',
    flag: 'backup-retention',
    arg: '<rules>',
    description:
      'which snapshots to keep: rule=count pairs, rules hourly, daily, weekly, monthly (0 or left out: none by that rule); ' +
      `e.g. ${DEFAULT_RETENTION} keeps the last 24 hourly, 7 daily, 4 weekly and 6 monthly snapshots`,
    group: 'Backups',
    kind: 'text',
    default: () => DEFAULT_RETENTION,
    validate: backupRetention,
    prompt: { when: 'customise', message: 'Backups to keep (e.g. hourly=24,daily=7,weekly=4,monthly=6)' },
  },
  {
    key: 'backupRegion',
    flag: 'backup-region',
    arg: '<slug>',
    description: `Spaces region of the backup bucket (${SPACES_REGIONS.join(' ')}); another than the cluster's, so one outage cannot take both`,
    defaultHelp: 'the nearest other region with Spaces, e.g. ams3 for fra1, tor1 for nyc3',
    group: 'Backups',
    kind: 'select',
    targets: DO,
    choices: SPACES_REGIONS,
    default: (v) => defaultBackupRegion(v.region),
    validate: backupRegion,
    prompt: { when: 'customise', message: 'Region for the backups (Spaces)' },
  },
  {
    key: 'backupBucket',
    flag: 'backup-bucket',
    arg: '<name>',
    description: 'bucket the backups go to (created by `up`, never deleted by `destroy`); name an existing one to restore from it into a new workspace',
    defaultHelp: '<project>-backups-<6 random letters and digits>, made once and kept',
    group: 'Backups',
    kind: 'text',
    validate: bucketName,
    prompt: { when: 'never', message: 'Backup bucket' },
  },
  {
    key: 'backupPassword',
    flag: 'backup-password',
    arg: '<password>',
    env: ['HA_WORDPRESS_BACKUP_PASSWORD'],
    description:
      "the backup repository's password (restic encrypts every backup with it); give the old workspace's to restore its bucket into a new one. " +
      'Fixed once the workspace has one',
    group: 'Backups',
    kind: 'secret',
    generated: true,
    validate: secretCheck(['yaml', 'jinja']),
    prompt: { when: 'never', message: 'Backup repository password' },
  },
  {
    key: 'vaultPasswordFile',
    ...OPTIONS.vaultPasswordFile,
    description: 'file holding the ansible-vault password (the env variable holds the password itself)',
    group: 'Workspace',
    kind: 'secret',
    required: true,
    validate: rules.vaultPassword,
    prompt: { when: 'always', message: 'Vault password (encrypts every secret in the workspace)' },
  },
  {
    key: 'saveVaultPassword',
    flag: 'save-vault-password',
    description:
      'keep the vault password in <dir>/.vault-pass (mode 0600, git-ignored) so `up` needs no password; ' +
      'default: yes for a typed password, no for one from --vault-password-file or HA_WORDPRESS_VAULT_PASSWORD (you keep it already)',
    group: 'Workspace',
    kind: 'boolean',
    // init sets the default from where the password came from (workspace/vault-password.ts saveByDefault).
    default: () => 'true',
    prompt: { when: 'always', message: 'Keep the vault password in the workspace (.vault-pass, mode 0600, git-ignored)?' },
  },
  {
    key: 'dir',
    ...OPTIONS.dir,
    description: 'workspace directory',
    defaultHelp: './<project>',
    group: 'Workspace',
    kind: 'path',
    default: (v) => (v.project ? `./${v.project}` : undefined),
    prompt: { when: 'never', message: 'Workspace directory' },
  },
] as const satisfies readonly Setting[];

export type SettingsTable = typeof TABLE;

/**
 * Flags of settings earlier versions had. init still accepts them (hidden
 * from --help) and says they are ignored, so a script that passes one keeps
 * working.
 */
export const RETIRED_FLAGS: readonly { flag: string; env: string; why: string }[] = [
  {
    flag: 'galera-sys-maint-password',
    env: 'HA_WORDPRESS_GALERA_SYS_MAINT_PASSWORD',
    why: "no role used it: Debian's MariaDB does its maintenance as root over the unix socket",
  },
];
export const SETTINGS: readonly Setting[] = TABLE;

export const SETTING = Object.fromEntries(SETTINGS.map((s) => [s.key, s])) as Record<SettingKey, Setting>;

export function appliesTo(s: Setting, target: Target): boolean {
  return !s.targets || s.targets.includes(target);
}

/** How a setting is named in an error: the flag, and the env variables that can stand for it. */
export function flagName(s: Setting): string {
  const env = s.env?.length ? ` (or ${s.env.join(' / ')})` : '';
  return `--${s.flag}${env}`;
}

/** The one-line error for a bad value: which flag, what is wrong, how to fix. */
export function problemLine(s: Setting, problem: string, source?: string): string {
  const from = source && source !== `--${s.flag}` ? ` (from ${source})` : '';
  return `--${s.flag}${from}: ${oneLine(problem)}`;
}

/**
 * A message that quotes what the user typed stays one line on the terminal:
 * line breaks and other control characters (C0, DEL, C1, U+2028/9) are shown
 * as escapes, never output as themselves.
 */
export function oneLine(text: string): string {
  // Control characters are exactly what this replaces.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
