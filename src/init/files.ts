/**
 * Every file of a workspace, rendered in memory from init's checked values
 * and secrets: the shipped terraform/ and ansible/ trees, ha-wordpress.yml,
 * terraform.tfvars, group_vars and the vaults. Nothing is written here;
 * workspace/workspace.ts applies the plan.
 */
import { isDeepStrictEqual } from 'node:util';
import yaml from 'js-yaml';
import { UsageError } from '../errors.js';
import { LAB_BACKUP_REGION } from '../backup/regions.js';
import { retentionMap } from '../backup/retention.js';
import { toolVersion } from '../paths.js';
import { renderTemplate } from '../render/render.js';
import { dbClientSubject, dbHostName } from '../secrets/db-tls.js';
import { VAULT_GROUPS, type SecretChange, type Vaults } from '../secrets/catalog.js';
import { SETTINGS_FILE, settingsFileText, templateSettings } from '../settings/stored.js';
import { SETTING, type Target, type Values } from '../settings/table.js';
import type { KeyInfo } from '../ssh/keys.js';
import type { HttpsPlan } from './https.js';
import { shippedFiles } from '../workspace/shipped.js';
import { TF_SPACES_ID, TF_SPACES_SECRET, TF_TLS_KEY, TF_VAULT, vaultRel, type PlannedFile, type TerraformSpacesKey } from '../workspace/workspace.js';

export interface PlanInput {
  target: Target;
  values: Values;
  key: KeyInfo;
  vaults: Vaults;
  token?: string;
  /** The Spaces key `up` made for terraform, kept as it is. */
  terraformSpaces?: TerraformSpacesKey;
  failoverFollows: boolean;
  /** init's HTTPS choice (digitalocean only; docs/https.md). */
  https?: HttpsPlan;
}

export async function planFiles(p: PlanInput): Promise<PlannedFile[]> {
  const doTarget = p.target === 'digitalocean';
  const s = templateSettings(p.target, p.values);
  const bookkeeping: Record<string, unknown> = { 'tool-version': toolVersion(), 'ssh-key-fingerprint': p.key.fingerprint };
  if (doTarget) bookkeeping['failover-token-follows-api-token'] = p.failoverFollows;
  const settingsText = settingsFileText(p.target, p.values, bookkeeping);
  const model = {
    tool: { version: toolVersion() },
    target: p.target,
    s: {
      ...s,
      sshKeyFingerprints: [p.key.fingerprint],
      adminSshKeys: [p.key.publicKey],
    },
    media: mediaModel(p.target, p.values),
    backup: backupModel(p.target, p.values, settingsText),
    https: {
      tls: p.https?.tls ?? 'none',
      zone: p.https?.zone ?? '',
      certificate: p.https?.bundle?.leaf ?? '',
      chain: p.https?.bundle?.chain ?? '',
      hsts: p.values.hsts !== 'false',
    },
    db: { hostName: dbHostName(p.values.project!), clientSubject: dbClientSubject(p.values.project!) },
  };
  // The shipped infrastructure code, as the installed package has it.
  const files: PlannedFile[] = await shippedFiles(p.target);

  files.push({ rel: SETTINGS_FILE, content: settingsText, mode: 0o644, policy: 'owned' });
  files.push({ rel: '.gitignore', content: await renderTemplate('gitignore', model), mode: 0o644, policy: 'managed' });
  if (doTarget) {
    files.push({ rel: 'terraform/terraform.tfvars', content: await renderTemplate('terraform/terraform.tfvars', model), mode: 0o644, policy: 'managed' });
    files.push({ rel: 'terraform/backup/terraform.tfvars', content: await renderTemplate('terraform/backup.tfvars', model), mode: 0o644, policy: 'managed' });
    const spaces = p.terraformSpaces;
    const tlsKey = p.https?.bundle?.key;
    const tfVault = await renderTemplate('terraform/vault.yml', { token: p.token, spaces, tlsKey });
    const tfValues = {
      do_token: p.token,
      ...(spaces ? { [TF_SPACES_ID]: spaces.accessKeyId, [TF_SPACES_SECRET]: spaces.secretAccessKey } : {}),
      ...(tlsKey ? { [TF_TLS_KEY]: tlsKey } : {}),
    };
    assertRoundTrip(tfVault, tfValues, TF_VAULT);
    files.push({ rel: TF_VAULT, content: tfVault, mode: 0o600, vault: true, policy: 'managed' });
  }
  for (const group of VAULT_GROUPS) {
    files.push({
      rel: `ansible/group_vars/${group}/vars.yml`,
      content: await renderTemplate(`ansible/group_vars/${group}/vars.yml`, model),
      mode: 0o644,
      policy: 'managed',
    });
    const vault = await renderTemplate(`ansible/group_vars/${group}/vault.yml`, { ...model, v: p.vaults[group] });
    assertRoundTrip(vault, p.vaults[group], vaultRel(group));
    files.push({ rel: vaultRel(group), content: vault, mode: 0o600, vault: true, policy: 'managed' });
  }
  return files;
}

/** Where the media bucket answers (templates/ansible/group_vars/wp_node/vars.yml.hbs): Spaces' endpoints are known from the name and region. */
function mediaModel(target: Target, values: Values) {
  if (target === 'local') return { region: LAB_BACKUP_REGION };
  const region = values.spacesRegion!;
  const host = values.mediaCdn === 'true' ? `${region}.cdn.digitaloceanspaces.com` : `${region}.digitaloceanspaces.com`;
  return { endpoint: `https://${region}.digitaloceanspaces.com`, region, url: `https://${values.spacesBucket!}.${host}` };
}

/** What the backup role's variables are made of (templates/ansible/group_vars/all/vars.yml.hbs). */
function backupModel(target: Target, values: Values, settingsText: string) {
  const region = target === 'local' ? LAB_BACKUP_REGION : values.backupRegion!;
  return {
    // The lab's endpoint is known only once the lab runs: the template refers to the inventory's lab_s3_endpoint.
    endpoint: target === 'local' ? undefined : `https://${region}.digitaloceanspaces.com`,
    region,
    retention: retentionMap(values.backupRetention!),
    // Each backup carries the workspace's non-secret settings, so a lost workspace can be made again from the bucket.
    settingsText,
  };
}

/**
 * A rendered vault must read back as exactly the values it was given, or the
 * template is wrong: fail before anything is written rather than deploy a
 * cluster with a mangled password.
 */
function assertRoundTrip(text: string, expected: unknown, where: string): void {
  const parsed = yaml.load(text);
  if (!isDeepStrictEqual(parsed, expected)) throw new Error(`internal error: ${where} does not read back as the values it was rendered from`);
}

/**
 * A secret changed this run must reach the vault that holds it. A vault
 * edited by hand is kept and the new version goes to `<vault>.new`: the new
 * secret would then live only there, the cluster would never get it, and the
 * summary would report a change that was not made. So applyPlan is stopped
 * before it writes anything, with what to do instead. (`tokenChanged`: the
 * API token, in terraform's vault.)
 */
export function changedSecretsMustLand(changes: readonly SecretChange[], tokenChanged: boolean): (keptEdited: string[]) => void {
  const landing = changes.map((c) => ({ rel: vaultRel(c.group), label: c.label, via: c.via }));
  if (tokenChanged) landing.push({ rel: TF_VAULT, label: 'API token', via: 'token' });
  return (keptEdited) => {
    for (const rel of keptEdited) {
      const lost = landing.filter((c) => c.rel === rel);
      if (!lost.length) continue;
      const via = lost[0]!.via;
      const flag = via === 'rotate' ? '--rotate' : `--${SETTING[via].flag}`;
      throw new UsageError(
        `${flag}: ${rel} was edited by hand, so init would keep it and the new ${lost.map((c) => c.label).join(', ')} would only reach ` +
          `its .new file, not the cluster; nothing was changed. Set it yourself with \`ansible-vault edit ${rel}\`, ` +
          `or run init without ${flag}, move the ${rel}.new it writes over ${rel}, then run this again`,
      );
    }
  };
}
