/// <reference path="./support/fake-do-api.d.ts" />
/**
 * `up`'s Spaces keys and bucket for backups (src/backup/spaces.ts), driven
 * through the real client against the stand-in API: which keys are made,
 * with which grants, in which order with the bucket, what is kept on the
 * next run and what is replaced. And the vault entries `up` writes: init's
 * next run must see them as its own (no .new), and keep them.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureBackupStorage, mediaKeyName, nodeKeyName, terraformKeyName, type KeyPair } from '../src/backup/spaces.js';
import { connect } from '../src/digitalocean/client.js';
import { readWorkspaceSecrets, setVaultEntries, TF_VAULT, vaultRel } from '../src/workspace/workspace.js';
import { DEFAULT_TOKEN, startFakeDoApi, type FakeDoApi } from './support/fake-do-api.mjs';
import { homeWithKey, runCli, tempDir } from './support/cli.js';
import { budget } from './support/tools.js';

let api: FakeDoApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const BUCKET = 'shop-backups-a1b2c3';
const MEDIA = 'shop-media-d4e5f6';
const STATE = { project: 'shop', bucket: BUCKET, mediaBucket: MEDIA };

async function setup() {
  api = await startFakeDoApi();
  const client = await connect({ token: DEFAULT_TOKEN, apiUrl: api.url, policy: { attempts: 1 } });
  const events: string[] = [];
  const saved: { terraform?: KeyPair; node?: KeyPair; media?: KeyPair } = {};
  const deps = {
    api: client,
    note: () => {},
    saveTerraformKey: async (k: KeyPair) => {
      events.push(`save terraform ${k.accessKeyId}`);
      saved.terraform = k;
    },
    saveNodeKey: async (k: KeyPair) => {
      events.push(`save node ${k.accessKeyId}`);
      saved.node = k;
    },
    saveMediaKey: async (k: KeyPair) => {
      events.push(`save media ${k.accessKeyId}`);
      saved.media = k;
    },
    applyBucket: async (k: KeyPair) => {
      // The bucket is made with the full-access key, before any key names it.
      const listed = api!.spacesKeys.find((x) => x.access_key === k.accessKeyId);
      events.push(`bucket with ${listed?.grants.map((g) => g.permission).join(',')}`);
    },
  };
  return { deps, events, saved, fake: api };
}

describe('the backup keys and bucket, through the client, against the stand-in API', () => {
  it("first up: terraform's full-access key, the buckets, the database nodes' key on both, the web nodes' on media; each stored at once", async () => {
    const { deps, events, saved, fake } = await setup();
    const r = await ensureBackupStorage(deps, STATE);
    expect(fake.spacesKeys.map((k) => [k.name, k.grants])).toEqual([
      [terraformKeyName('shop'), [{ bucket: '', permission: 'fullaccess' }]],
      // The database nodes back the uploads up and restore them: the media bucket too.
      [
        nodeKeyName('shop'),
        [
          { bucket: BUCKET, permission: 'readwrite' },
          { bucket: MEDIA, permission: 'readwrite' },
        ],
      ],
      [mediaKeyName('shop'), [{ bucket: MEDIA, permission: 'readwrite' }]],
    ]);
    expect(events).toEqual([
      `save terraform ${r.terraformKey.accessKeyId}`,
      'bucket with fullaccess',
      `save node ${r.nodeKey.accessKeyId}`,
      `save media ${r.mediaKey.accessKeyId}`,
    ]);
    expect(fake.spacesSecret(saved.media!.accessKeyId)).toBe(saved.media!.secretAccessKey);
    // The secrets stored are the ones DigitalOcean issued.
    expect(fake.spacesSecret(saved.terraform!.accessKeyId)).toBe(saved.terraform!.secretAccessKey);
    expect(fake.spacesSecret(saved.node!.accessKeyId)).toBe(saved.node!.secretAccessKey);
  });

  it('next up: both keys still listed with their grants are kept; nothing is created or deleted', async () => {
    const { deps, events, fake } = await setup();
    const first = await ensureBackupStorage(deps, STATE);
    events.length = 0;
    const before = fake.requests.length;
    const again = await ensureBackupStorage(deps, { ...STATE, terraformKey: first.terraformKey, nodeKey: first.nodeKey, mediaKey: first.mediaKey });
    expect(again).toEqual(first);
    expect(fake.requests.slice(before).filter((q) => q.method !== 'GET')).toEqual([]);
    expect(events).toEqual(['bucket with fullaccess']);
  });

  it('a key deleted in the control panel is made again; one whose grants changed is replaced, stored before the old one is deleted', async () => {
    const { deps, events, fake } = await setup();
    const first = await ensureBackupStorage(deps, STATE);
    // The terraform key is gone; the node key was widened by hand to another bucket as well.
    fake.spacesKeys.splice(
      fake.spacesKeys.findIndex((k) => k.access_key === first.terraformKey.accessKeyId),
      1,
    );
    fake.spacesKeys.find((k) => k.access_key === first.nodeKey.accessKeyId)!.grants.push({ bucket: 'other', permission: 'read' });
    events.length = 0;
    const again = await ensureBackupStorage(deps, { ...STATE, terraformKey: first.terraformKey, nodeKey: first.nodeKey, mediaKey: first.mediaKey });
    expect(again.terraformKey.accessKeyId).not.toBe(first.terraformKey.accessKeyId);
    expect(again.nodeKey.accessKeyId).not.toBe(first.nodeKey.accessKeyId);
    const deletes = fake.requests.filter((q) => q.method === 'DELETE').map((q) => q.path);
    expect(deletes).toEqual([`/v2/spaces/keys/${first.nodeKey.accessKeyId}`]);
    expect(fake.spacesKeys.map((k) => k.access_key).sort()).toEqual(
      [again.terraformKey.accessKeyId, again.nodeKey.accessKeyId, again.mediaKey.accessKeyId].sort(),
    );
    expect(events.indexOf(`save node ${again.nodeKey.accessKeyId}`)).toBeGreaterThan(-1);
  });

  it("a media key of the user's own (another name than ours) is kept as it is, whatever its grants; ours is never made", async () => {
    const { deps, events, fake } = await setup();
    const theirs = await deps.api.createSpacesKey('my-own-key', [{ bucket: '', permission: 'fullaccess' }]);
    const own = { accessKeyId: theirs.accessKey, secretAccessKey: theirs.secretKey };
    const r = await ensureBackupStorage(deps, { ...STATE, mediaKey: own });
    expect(r.mediaKey).toEqual(own);
    expect(fake.spacesKeys.map((k) => k.name)).not.toContain(mediaKeyName('shop'));
    expect(events.filter((e) => e.startsWith('save media'))).toEqual([]);
  });

  it('a refused create (no API access to Spaces keys) stops before the bucket, with a one-line error', async () => {
    const { deps, events } = await setup();
    await api!.close();
    api = await startFakeDoApi({ failOnce: { path: '/v2/spaces/keys', status: 403, method: 'POST' } });
    const client = await connect({ token: DEFAULT_TOKEN, apiUrl: api.url, policy: { attempts: 1 } });
    await expect(ensureBackupStorage({ ...deps, api: client }, STATE)).rejects.toThrow(
      /^the API token may not manage Spaces keys \(403\) while [^\n]*spaces_key scopes[^\n]*$/,
    );
    expect(events).toEqual([]);
  });
});

describe("the vault entries up writes, and init's next run", () => {
  it(
    'init keeps the keys up stored, takes both vaults for its own (no .new), and leaves the all vault byte for byte as up wrote it',
    { timeout: budget({ cli: 3 }) },
    async () => {
      api = await startFakeDoApi();
      const parent = tempDir('hawp-backup-vault-');
      const { home } = await homeWithKey(parent);
      const ws = path.join(parent, 'shop');
      const password = 'a long vault password';
      const env = { HOME: home, HA_WORDPRESS_VAULT_PASSWORD: password, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN };
      const args = ['init', '--non-interactive', '--yes', '--project', 'shop', '--region', 'fra1', '--dir', ws, '--api-url', api.url];
      const init = await runCli(args, { env });
      expect(init.code, init.stderr).toBe(0);
      await expect(readWorkspaceSecrets(ws, password)).resolves.toMatchObject({ vaults: { all: { vault_backup_s3_access_key_id: '' } } });

      const node = { vault_backup_s3_access_key_id: 'DO00ABCDEFGHIJKLMNOP', vault_backup_s3_secret_access_key: 'Zm9vYmFy' + 'a'.repeat(35) };
      const tfKey = { accessKeyId: 'DO00TERRAFORMKEY0001', secretAccessKey: 'b'.repeat(43) };
      await setVaultEntries(ws, vaultRel('all'), password, node);
      await setVaultEntries(ws, TF_VAULT, password, { spaces_access_key_id: tfKey.accessKeyId, spaces_secret_access_key: tfKey.secretAccessKey });
      const allVault = readFileSync(path.join(ws, vaultRel('all')), 'utf8');
      expect(allVault).toMatch(/^\$ANSIBLE_VAULT;1\.1;AES256/);

      const again = await runCli(args, { env });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr + again.stdout).not.toMatch(/edited by hand|\.new/);
      for (const rel of [vaultRel('all'), TF_VAULT]) expect(existsSync(path.join(ws, `${rel}.new`)), rel).toBe(false);
      const secrets = await readWorkspaceSecrets(ws, password);
      expect(secrets.vaults.all).toMatchObject(node);
      expect(secrets.terraformSpaces).toEqual(tfKey);
      expect(secrets.token).toBe(DEFAULT_TOKEN);
      // Unchanged content is not rewritten: the lines up set are exactly the ones init renders.
      expect(readFileSync(path.join(ws, vaultRel('all')), 'utf8')).toBe(allVault);
    },
  );
});
