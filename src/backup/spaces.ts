/**
 * The DigitalOcean side of backups, run by `up` before the cluster's
 * terraform (docs/backups.md):
 *  1. a full-access Spaces key for terraform, made through the API when the
 *     workspace has none (creating a bucket and reading its versioning and
 *     lifecycle on every plan needs full access), kept in terraform/vault.yml;
 *  2. the backup bucket, applied in terraform/backup/ with that key in
 *     terraform's environment (never in argv); destroy never runs there;
 *  3. a readwrite key scoped to the backup and media buckets for the
 *     database nodes, kept in ansible/group_vars/all/vault.yml.
 * A key is kept while the account still lists it with exactly its grants;
 * otherwise a new one is made, stored, and only then the old one deleted.
 */
import path from 'node:path';
import { UsageError, UserError } from '../errors.js';
import type { DoApi, SpacesGrant, SpacesKey } from '../digitalocean/client.js';
import { StepFailure } from '../runners/process.js';
import * as tf from '../runners/terraform.js';
import { BACKUP_S3_KEY, BACKUP_S3_SECRET, MEDIA_S3_KEY, MEDIA_S3_SECRET } from '../secrets/catalog.js';
import { readWorkspaceSecrets, setVaultEntries, TF_SPACES_ID, TF_SPACES_SECRET, TF_VAULT, vaultRel } from '../workspace/workspace.js';
import { phase, resumeCommand, terraformEnv, type OpContext, type Workspace } from '../commands/operate.js';

/** The backup bucket's own terraform root, relative to the workspace. */
export const BACKUP_TF_DIR = 'terraform/backup';

export interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface BackupStorageDeps {
  api: Pick<DoApi, 'spacesKeys' | 'createSpacesKey' | 'deleteSpacesKey'>;
  /** Stores terraform's key (terraform/vault.yml); called before an old key is deleted. */
  saveTerraformKey: (k: KeyPair) => Promise<void>;
  /** Stores the nodes' key (the `all` vault); called before an old key is deleted. */
  saveNodeKey: (k: KeyPair) => Promise<void>;
  /** Stores the web nodes' key to the media bucket (the `wp_node` vault); called before an old key is deleted. */
  saveMediaKey: (k: KeyPair) => Promise<void>;
  /** Applies terraform/backup with this key in terraform's environment. */
  applyBucket: (k: KeyPair) => Promise<void>;
  note: (line: string) => void;
}

export interface BackupStorageState {
  project: string;
  bucket: string;
  terraformKey?: KeyPair;
  nodeKey?: KeyPair;
  /** The media bucket (uploads), in the same terraform root. */
  mediaBucket: string;
  /** The web nodes' key to it: one `up` made, or the user's own (--spaces-key). */
  mediaKey?: KeyPair;
}

export const terraformKeyName = (project: string) => `${project}-terraform`;
export const nodeKeyName = (project: string) => `${project}-backup`;
export const mediaKeyName = (project: string) => `${project}-media`;

/**
 * The database nodes' key: the backup bucket, and the media bucket, which
 * every backup mirrors and a restore writes back (docs/backups.md#the-uploads).
 */
export const nodeGrants = (s: Pick<BackupStorageState, 'bucket' | 'mediaBucket'>): SpacesGrant[] => [
  { bucket: s.bucket, permission: 'readwrite' },
  ...(s.mediaBucket ? [{ bucket: s.mediaBucket, permission: 'readwrite' as const }] : []),
];

const grantKey = (g: SpacesGrant) => `${g.permission}\u0000${g.bucket}`;
const showGrants = (grants: SpacesGrant[]) => grants.map((g) => (g.permission === 'fullaccess' ? 'full access' : `${g.permission} on ${g.bucket}`)).join(', ');
const sameGrants = (a: SpacesGrant[], b: SpacesGrant[]) => a.map(grantKey).sort().join('\n') === b.map(grantKey).sort().join('\n');

/**
 * Keeps `current` when the account lists it with exactly `grants`; else
 * makes a key, saves it, and deletes the one it replaces.
 */
async function ensureKey(
  deps: BackupStorageDeps,
  listed: SpacesKey[],
  name: string,
  grants: SpacesGrant[],
  current: KeyPair | undefined,
  save: (k: KeyPair) => Promise<void>,
  what: string,
): Promise<{ key: KeyPair; made: boolean }> {
  const onAccount = current ? listed.find((k) => k.accessKey === current.accessKeyId) : undefined;
  if (current && onAccount && sameGrants(onAccount.grants, grants)) return { key: current, made: false };
  const made = await deps.api.createSpacesKey(name, grants);
  const key = { accessKeyId: made.accessKey, secretAccessKey: made.secretKey };
  await save(key);
  if (onAccount) {
    await deps.api.deleteSpacesKey(onAccount.accessKey);
    deps.note(`${what}: the Spaces key ${name} had other grants than ${showGrants(grants)}; made a new one and deleted the old`);
  } else if (current) {
    deps.note(`${what}: the Spaces key in the vault is no longer on the account; made a new ${name} (${showGrants(grants)})`);
  } else {
    deps.note(`${what}: made the Spaces key ${name} (${showGrants(grants)})`);
  }
  return { key, made: true };
}

/**
 * Terraform's key, the buckets, then the nodes' keys scoped to them (a
 * bucket must exist before a key can name it): the database nodes' to the
 * backup bucket, the web nodes' to the media bucket. A media key the user
 * gave (--spaces-key) is listed under another name than ours: it is theirs
 * to scope, and kept as it is.
 */
export async function ensureBackupStorage(
  deps: BackupStorageDeps,
  s: BackupStorageState,
): Promise<{ terraformKey: KeyPair; nodeKey: KeyPair; mediaKey: KeyPair }> {
  const listed = await deps.api.spacesKeys();
  const terraformKey = (
    await ensureKey(deps, listed, terraformKeyName(s.project), [{ bucket: '', permission: 'fullaccess' }], s.terraformKey, deps.saveTerraformKey, 'terraform')
  ).key;
  await deps.applyBucket(terraformKey);
  const nodeKey = (await ensureKey(deps, listed, nodeKeyName(s.project), nodeGrants(s), s.nodeKey, deps.saveNodeKey, 'backups')).key;
  const own = s.mediaKey && listed.some((k) => k.accessKey === s.mediaKey!.accessKeyId && k.name !== mediaKeyName(s.project));
  const mediaKey = own
    ? s.mediaKey!
    : (await ensureKey(deps, listed, mediaKeyName(s.project), [{ bucket: s.mediaBucket, permission: 'readwrite' }], s.mediaKey, deps.saveMediaKey, 'media'))
        .key;
  return { terraformKey, nodeKey, mediaKey };
}

/** A bucket of terraform/backup: the setting that names it, its name, its resource address. */
export interface BucketRef {
  flag: 'backup-bucket' | 'spaces-bucket';
  name: string;
  resource: string;
}

/**
 * The one-line error for an apply of terraform/backup that failed because
 * another account holds a bucket's name (Spaces: 409 BucketAlreadyExists;
 * names are unique across every account), from terraform's output; else
 * undefined. terraform names the resource in its diagnostic ("with
 * digitalocean_spaces_bucket.media,").
 */
export function takenBucketError(output: string, buckets: BucketRef[]): string | undefined {
  if (!output.includes('BucketAlreadyExists')) return undefined;
  const b = buckets.find((x) => output.includes(`with ${x.resource},`));
  if (!b) return undefined;
  return (
    `--${b.flag} ${b.name}: another DigitalOcean account has a bucket of that name (bucket names are unique across all of Spaces); ` +
    `choose another with \`ha-wordpress init --${b.flag} <name>\`, then run \`ha-wordpress up\``
  );
}

function pair(id: unknown, secret: unknown): KeyPair | undefined {
  return typeof id === 'string' && id && typeof secret === 'string' && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

/**
 * `up`'s step on the DigitalOcean target, before the cluster's terraform:
 * the keys and the bucket, each terraform step shown as a phase.
 */
export async function upBackupStorage(ctx: OpContext, ws: Workspace): Promise<void> {
  const { backupBucket: bucket, spacesBucket: mediaBucket } = ws.settings;
  if (!bucket || !mediaBucket)
    throw new UsageError(
      `ha-wordpress.yml has no ${bucket ? 'media' : 'backup'} bucket: run \`ha-wordpress init\` in ${ws.dir} again (it adds one and keeps everything else)`,
    );
  // Loaded here: the API client costs ~400 ms to load.
  const { connect } = await import('../digitalocean/client.js');
  const api = await connect({ token: ws.token!, apiUrl: ws.settings.apiUrl, log: ctx.log });
  const dir = path.join(ws.dir, BACKUP_TF_DIR);
  const { terraformSpaces } = await readWorkspaceSecrets(ws.dir, ws.vaultPassword);
  const all = ws.vaults.all ?? {};
  const web = ws.vaults.wp_node ?? {};
  const env = terraformEnv(ctx, ws);
  await ensureBackupStorage(
    {
      api,
      note: (line) => ctx.log.info(`  ${line}`),
      saveTerraformKey: (k) => setVaultEntries(ws.dir, TF_VAULT, ws.vaultPassword, { [TF_SPACES_ID]: k.accessKeyId, [TF_SPACES_SECRET]: k.secretAccessKey }),
      saveNodeKey: async (k) => {
        await setVaultEntries(ws.dir, vaultRel('all'), ws.vaultPassword, { [BACKUP_S3_KEY]: k.accessKeyId, [BACKUP_S3_SECRET]: k.secretAccessKey });
        ws.vaults.all = { ...all, [BACKUP_S3_KEY]: k.accessKeyId, [BACKUP_S3_SECRET]: k.secretAccessKey };
      },
      saveMediaKey: async (k) => {
        await setVaultEntries(ws.dir, vaultRel('wp_node'), ws.vaultPassword, { [MEDIA_S3_KEY]: k.accessKeyId, [MEDIA_S3_SECRET]: k.secretAccessKey });
        ws.vaults.wp_node = { ...web, [MEDIA_S3_KEY]: k.accessKeyId, [MEDIA_S3_SECRET]: k.secretAccessKey };
      },
      // Only through terraform's environment: never argv, never a file.
      applyBucket: (k) => applyBucket(ctx, ws, dir, { ...env, SPACES_ACCESS_KEY_ID: k.accessKeyId, SPACES_SECRET_ACCESS_KEY: k.secretAccessKey }),
    },
    {
      project: ws.project,
      bucket,
      terraformKey: terraformSpaces,
      nodeKey: pair(all[BACKUP_S3_KEY], all[BACKUP_S3_SECRET]),
      mediaBucket,
      mediaKey: pair(web[MEDIA_S3_KEY], web[MEDIA_S3_SECRET]),
    },
  );
}

/** The buckets terraform/backup makes. */
function storageBuckets(ws: Workspace): BucketRef[] {
  return [
    { flag: 'backup-bucket', name: ws.settings.backupBucket ?? '', resource: 'digitalocean_spaces_bucket.backup' },
    { flag: 'spaces-bucket', name: ws.settings.spacesBucket ?? '', resource: 'digitalocean_spaces_bucket.media' },
  ];
}

async function applyBucket(ctx: OpContext, ws: Workspace, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { backupBucket: bucket, backupRegion: region, spacesBucket: media, spacesRegion: mediaRegion } = ws.settings;
  const both = `${bucket} (backups, ${region}) and ${media} (uploads, ${mediaRegion})`;
  const resume = resumeCommand(ctx, 'up');
  const planned = await phase(
    ctx,
    ws,
    'backup-bucket',
    'buckets: terraform init and plan',
    resume,
    async (p) => {
      const run = tf.inPhase(dir, env, p);
      await tf.init(run);
      return tf.plan(run);
    },
    (s) => (tf.hasChanges(s) ? `buckets: ${s.add} to add, ${s.change} to change` : `buckets: ${both}, as they should be`),
  );
  if (!tf.hasChanges(planned)) return;
  // prevent_destroy makes terraform refuse a plan that deletes the bucket; this is the belt to those braces.
  if (planned.destroy > 0) throw new UserError(`terraform/backup: the plan would delete a bucket (${both}); nothing was changed (see docs/backups.md)`);
  if (!ctx.yes) {
    const what = `${planned.add ? 'create' : 'update'} the buckets ${both}`;
    if (!ctx.interactive)
      throw new UsageError(
        `terraform: the plan has changes and up is not interactive; it would ${what} (Spaces: $5/month for the first 250 GiB); ` +
          `review it (${path.relative(ctx.cwd, ws.logDir) || ws.logDir}), then run \`${resumeCommand(ctx, 'up --yes')}\` to apply it`,
      );
    if (!(await ctx.prompts.confirm({ message: `${what[0]!.toUpperCase()}${what.slice(1)} (Spaces: $5/month for the first 250 GiB)?`, default: true })))
      throw new UserError('up stopped: the cluster is not set up without its backup and media buckets; nothing else was changed');
  }
  await phase(
    ctx,
    ws,
    'backup-bucket',
    'buckets: apply',
    resume,
    async (p) => {
      try {
        await tf.apply(tf.inPhase(dir, env, p), tf.PLAN_FILE);
      } catch (err) {
        const taken = err instanceof StepFailure ? takenBucketError(err.tail.join('\n'), storageBuckets(ws)) : undefined;
        if (taken) throw new UsageError(taken);
        throw err;
      }
    },
    () => `buckets: ${both} (destroy never deletes them)`,
  );
}
