/** What init tells the user at the end: where, what was generated, kept or changed, and the next command. */
import path from 'node:path';
import type { ApplyResult } from '../workspace/workspace.js';
import { SETTINGS_FILE } from '../settings/stored.js';
import { SECRET_SPECS, VAULT_GROUPS, type SecretResult } from '../secrets/catalog.js';
import type { Target, Values } from '../settings/table.js';
import type { KeyInfo } from '../ssh/keys.js';
import type { Logger } from '../ui/logger.js';
import { shellQuote } from '../render/escape.js';
import { sshOpenWarning } from '../validation/rules.js';
import { dropletCount } from '../digitalocean/cost.js';
import { monthly, type Live } from './account.js';
import type { HttpsPlan } from './https.js';
import { VAULT_PASS_FILE } from '../workspace/workspace.js';
import type { PasswordFrom } from '../workspace/vault-password.js';

export interface Summary {
  cwd: string;
  dir: string;
  target: Target;
  values: Values;
  secrets: SecretResult;
  /** The HTTPS choice (digitalocean). */
  https?: HttpsPlan;
  result: ApplyResult;
  key: KeyInfo;
  keyNote: string;
  live?: Live;
  /** The vault password was saved in the workspace this run. */
  saved: boolean;
  /** Where this run's vault password came from. */
  passwordFrom: PasswordFrom;
  /** A .vault-pass from before is there although this run did not save one. */
  oldPassFile: boolean;
  /** The workspace existed before this run. */
  updated: boolean;
  /** Say which command comes next. */
  next: boolean;
}

export function printSummary(log: Logger, s: Summary): void {
  const pad = (t: string) => t.padEnd(16);
  log.success(`Workspace ready in ${s.dir}`);
  const lines: string[] = [];
  lines.push(`  ${pad('settings')}${SETTINGS_FILE}`);
  if (s.target === 'digitalocean') lines.push(`  ${pad('terraform')}terraform/terraform.tfvars (no secrets), terraform/vault.yml (API token, encrypted)`);
  lines.push(`  ${pad('ansible')}ansible/group_vars/{${VAULT_GROUPS.join(',')}}/{vars,vault}.yml (vault files encrypted)`);
  if (s.secrets.generated.length) lines.push(`  ${pad('generated')}${s.secrets.generated.join(', ')}`);
  if (s.secrets.kept) lines.push(`  ${pad('kept')}${s.secrets.kept} existing secret${s.secrets.kept === 1 ? '' : 's'}`);
  if (s.secrets.changed.length) lines.push(`  ${pad('changed')}${s.secrets.changed.join(', ')}`);
  for (const r of s.secrets.retired) lines.push(`  ${pad('left out')}${r}`);
  if (s.live) {
    const cost = monthly(s.live, s.values.region!, s.values);
    const nodes = dropletCount({ webNodes: Number(s.values.webNodes), dbNodes: Number(s.values.dbNodes) });
    if (cost !== undefined) lines.push(`  ${pad('estimated cost')}$${cost}/month for ${nodes} droplets in ${s.values.region}, plus the load balancer`);
  }
  if (s.https && !s.https.say.warn) lines.push(`  ${pad('HTTPS')}${s.https.say.line.replace(/^HTTPS: /, '')}`);
  lines.push(`  ${pad('media')}${mediaLine(s)}`);
  if (s.values.smtpHost) lines.push(`  ${pad('mail')}through ${s.values.smtpHost}:${s.values.smtpPort}${s.values.smtpUser ? ` as ${s.values.smtpUser}` : ''}`);
  lines.push(`  ${pad('SSH key')}${s.key.path} (MD5 ${s.key.fingerprint}), ${s.keyNote}`);
  lines.push(`  ${pad('vault password')}${vaultPasswordLine(s)}`);
  lines.push(`  ${pad('files')}${s.result.written.length} written, ${s.result.unchanged.length} unchanged`);
  for (const line of lines) log.info(line);
  for (const f of s.result.keptEdited) log.warn(`${f} was edited by hand and is kept; the new version is ${f}.new: merge it, then delete the .new file`);
  const liveChanges = SECRET_SPECS.filter((x) => x.live && s.secrets.changed.includes(x.label));
  if (s.updated && liveChanges.length)
    log.warn(`changed on a workspace that may be running: ${liveChanges.map((x) => x.label).join(', ')}; run \`ha-wordpress up --only ansible\` to apply`);
  if (s.target === 'digitalocean' && s.secrets.failoverFollowsApiToken) log.warn(FULL_TOKEN_ON_NODES);
  if (s.https?.say.warn) log.warn(s.https.say.line);
  if (s.https?.expiryWarning) log.warn(s.https.expiryWarning);
  if (s.target === 'digitalocean' && !s.values.smtpHost) log.warn(NO_MAIL);
  const sshOpen = s.target === 'digitalocean' ? sshOpenWarning(s.values.sshAllow ?? '') : undefined;
  if (sshOpen) log.warn(sshOpen);
  if (s.key.encrypted) log.warn(`${s.key.path} has a passphrase: run \`ssh-add ${s.key.path}\` before \`ha-wordpress up\`, which connects through ssh-agent`);
  if (!s.next) return;
  log.info('');
  const relDir = path.relative(s.cwd, s.dir);
  const rel = relDir === '' ? '.' : relDir.startsWith('..') ? s.dir : relDir;
  log.info(`Next: ${rel === '.' ? '' : `cd ${shellQuote(rel)} && `}ha-wordpress up`);
}

/** Said by every init without --smtp-host. */
export const NO_MAIL =
  'WordPress mail (password resets, notifications) will not be delivered: DigitalOcean blocks outbound port 25. ' +
  'Give init --smtp-host, --smtp-user and HA_WORDPRESS_SMTP_PASSWORD to send it through a mail provider';

function mediaLine(s: Summary): string {
  const bucket = s.values.spacesBucket ?? '';
  if (s.target === 'local') return `uploads in the bucket ${bucket} of the lab's S3 stand-in`;
  return `uploads in the Spaces bucket ${bucket} (${s.values.spacesRegion}${s.values.mediaCdn === 'true' ? ', through its CDN' : ''}), made by \`up\``;
}

/**
 * The reserved-IP failover needs one API call (POST /v2/reserved_ips/<ip>/actions,
 * scope reserved_ip:update) and the reads DigitalOcean requires alongside that
 * scope; the account token can do everything else too. docs/cluster.md,
 * "The failover token".
 */
const FAILOVER_SCOPES = 'reserved_ip:update, with reserved_ip:read, droplet:read, regions:read, sizes:read, actions:read and image:read';
const FULL_TOKEN_ON_NODES =
  'the reserved-IP failover uses your full API token, so the two HAProxy nodes hold it (root only, 0600): ' +
  `a token with custom scopes (${FAILOVER_SCOPES}) can move the IP and nothing else; ` +
  'make one under API → Tokens and give it with --failover-token (or HA_WORDPRESS_FAILOVER_TOKEN)';

/** Where the vault password is kept, or that it is not and how to give it next time. */
function vaultPasswordLine(s: Summary): string {
  const rel = path.relative(s.cwd, path.join(s.dir, VAULT_PASS_FILE));
  const file = rel && !rel.startsWith('..') ? rel : path.join(s.dir, VAULT_PASS_FILE);
  if (s.saved) return `saved in ${file} (mode 0600, git-ignored): up, destroy and drill read it from there; --no-save-vault-password to not keep it`;
  if (s.oldPassFile) return `not saved this run; the existing ${file} is left as it is: delete it if it should not be kept`;
  const next =
    'give it to up, destroy and drill the same way (--vault-password-file <file> or HA_WORDPRESS_VAULT_PASSWORD), ' +
    'or --save-vault-password to keep it in the workspace';
  switch (s.passwordFrom.kind) {
    case 'file':
      return `not saved in the workspace (it came from --vault-password-file ${shellQuote(s.passwordFrom.path)}); ${next}`;
    case 'env':
      return `not saved in the workspace (it came from ${s.passwordFrom.name}); ${next}`;
    default:
      return `not saved: give --vault-password-file <file> or HA_WORDPRESS_VAULT_PASSWORD to up, destroy and drill, or type it when asked`;
  }
}
