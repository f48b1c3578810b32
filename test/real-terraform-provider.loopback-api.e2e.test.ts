/// <reference path="./support/fake-do-api.d.ts" />
/**
 * Real terraform + the real DigitalOcean provider against the stand-in
 * DigitalOcean API on loopback. The built CLI runs as a user would: `init`
 * writes a workspace against the stand-in (--api-url), `up --only terraform`
 * lets real terraform and the provider build the cluster through the API,
 * `up` again must find nothing to change (also after keepalived moved the
 * reserved IP), and `destroy` must leave nothing of the project behind.
 *
 * Two accounts: one whose region already has a default VPC (the usual case),
 * and one whose region has none, so the cluster's VPC becomes the region's
 * default, which DigitalOcean never deletes.
 *
 * Both sites are HTTPS, the two ways init can pick (docs/https.md): `shop`
 * is shop.example.com in an account whose DigitalOcean DNS holds example.com,
 * so a Let's Encrypt certificate and the site's A record; `lab` is
 * blog.example.net with the user's own certificate and key (made here with
 * src/secrets/pki.ts), whose key must reach terraform only through its
 * environment (TF_VAR_tls_private_key, from terraform/vault.yml).
 *
 * `up` first applies the backup bucket's own root (terraform/backup/), where
 * the provider speaks S3 over HTTPS to <bucket>.<region>.digitaloceanspaces.com.
 * The CLI runs with HTTPS_PROXY and SSL_CERT_FILE (which it passes to
 * terraform, as for any user behind a proxy) pointing at the Spaces stand-in
 * (test/support/fake-spaces.ts): it tunnels only to Spaces endpoints, answers
 * with a certificate from a CA made for this run, and keeps the buckets in
 * s3rver. Destroy must leave the bucket where it is.
 *
 * The provider comes from a filesystem mirror (test/support/terraform-provider.ts);
 * its build cannot match the hashes of the shipped lock files, so each
 * workspace's lock files (the cluster's and the bucket's) are removed before
 * `up` (terraform writes its own).
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOKEN, defaultKeys, startFakeDoApi, type CloudSnapshot, type FakeDoApi } from './support/fake-do-api.mjs';
import { homeWithKey, runCli, tempDir, type CliResult } from './support/cli.js';
import { REQUIRE_ENV, REQUIRED, SKIP as NO_PROVIDER, terraformEnv, writeCliConfig } from './support/terraform-provider.js';
import { missing } from './support/tools.js';
import { dropletAddress } from '../src/commands/replace.js';
import { beyondChange } from '../src/commands/up.js';
import { summarisePlan } from '../src/runners/terraform.js';
import { startFakeSpaces, type FakeSpaces } from './support/fake-spaces.js';
import { md5Fingerprint } from '../src/ssh/keys.js';
import { issue, newCa, type KeyPair } from '../src/secrets/pki.js';

const VAULT_PASSWORD = 'a long vault password';

/**
 * terraform run directly, asynchronously: the stand-in API answers from this
 * process, so a synchronous child would wait on a server that cannot answer.
 */
function terraform(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('terraform', args, { cwd, env, timeout: 5 * 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}
const MINUTES = 60_000;
const ran: string[] = [];
/** How long the slow steps took, for the summary line. */
const took: string[] = [];
const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)} s`;
// The Spaces stand-in makes its certificate authority with the openssl CLI.
const NO_OPENSSL = missing('openssl');
const SKIP = NO_PROVIDER ?? (NO_OPENSSL && `skipped: ${NO_OPENSSL}`);

// One line either way: what ran, or why nothing could.
if (SKIP) console.log(`real terraform apply/re-plan/destroy against the loopback API ${SKIP}`);
afterAll(() => {
  if (!SKIP) console.log(`real terraform apply/re-plan/destroy against the loopback API: ${ran.length} checks ran (${ran.join('; ')}); ${took.join(', ')}`);
});

if (SKIP && REQUIRED) it(`${REQUIRE_ENV}=1: the real provider must be usable here`, () => expect.fail(SKIP));

describe.skipIf(SKIP)(
  SKIP ? `real terraform apply/re-plan/destroy against the loopback API ${SKIP}` : 'real terraform + provider against a stand-in API on loopback',
  () => {
    let root: string;
    let home: string;
    let pwFile: string;
    let cliConfig: string;
    /** fra1 already has its default VPC. */
    let api: FakeDoApi;
    /** ams3 has no VPC yet: the cluster's becomes its default. */
    let bare: FakeDoApi;
    /** Spaces in every region, for both accounts. */
    let spaces: FakeSpaces;
    let shop: string;
    let lab: string;
    let shopUp: CliResult;
    let labUp: CliResult;
    /** lab's own certificate (blog.example.net), its CA, and the init that was given them. */
    let labCert: KeyPair;
    let labCa: KeyPair;
    let labInit: CliResult;

    const env = () => ({
      HOME: home,
      TF_CLI_CONFIG_FILE: cliConfig,
      CHECKPOINT_DISABLE: '1',
      // Spaces through the stand-in; the API on loopback stays direct.
      HTTPS_PROXY: spaces.proxyUrl,
      NO_PROXY: '127.0.0.1,localhost',
      SSL_CERT_FILE: spaces.caFile,
    });
    const cli = (args: string[], timeoutMs = 6 * MINUTES) => runCli([...args, '--vault-password-file', pwFile], { env: env(), timeoutMs });
    const up = (ws: string) => cli(['up', '--only', 'terraform', '--yes', '--non-interactive', '--dir', ws]);

    async function workspace(name: string, region: string, on: FakeDoApi, extra: string[]): Promise<{ ws: string; init: CliResult }> {
      const ws = path.join(root, name);
      const r = await runCli(
        ['init', '--non-interactive', '--project', name, '--region', region, '--dir', ws, '--vault-password-file', pwFile, '--api-url', on.url, ...extra],
        {
          env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
        },
      );
      expect(r.stderr).toContain('Workspace ready');
      rmSync(path.join(ws, 'terraform', '.terraform.lock.hcl'));
      rmSync(path.join(ws, 'terraform', 'backup', '.terraform.lock.hcl'));
      return { ws, init: r };
    }

    /**
     * Every file of a workspace, as text, but the provider terraform init
     * copied from the mirror into .terraform/providers (a 100 MB binary
     * that was there before any key).
     */
    const workspaceFiles = (ws: string) =>
      readdirSync(ws, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && !e.parentPath.includes(`${path.sep}.terraform${path.sep}providers`))
        .map((e) => path.join(e.parentPath, e.name));
    /** A line from the middle of lab's private key: what a copy of it anywhere would hold. */
    const keyLine = () => labCert.key.trim().split('\n')[1]!;

    /** What the stand-in's API holds, droplets by name. */
    const byName = (s: CloudSnapshot) => new Map(s.droplets.map((d) => [d.name, d]));
    const address = (d: CloudSnapshot['droplets'][number], type: 'public' | 'private') => d.networks.v4.find((n) => n.type === type)?.ip_address;
    const changesSince = (on: FakeDoApi, mark: number) =>
      on.requests
        .slice(mark)
        .filter((r) => r.method !== 'GET')
        .map((r) => `${r.method} ${r.path}`);
    /** The bucket init named for a project (`<project>-backups-<6 letters and digits>`), as Spaces holds it. */
    const backupBucket = (project: string) => {
      const named = spaces.buckets().filter((b) => new RegExp(`^${project}-backups-[a-z0-9]{6}$`).test(b));
      expect(named, `the buckets in Spaces: ${spaces.buckets().join(', ')}`).toHaveLength(1);
      return named[0]!;
    };
    /** What was sent to Spaces since `mark` that is not a read. */
    const s3ChangesSince = (mark: number) =>
      spaces.requests
        .slice(mark)
        .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')
        .map((r) => `${r.method} ${r.host}${r.key}${r.sub ? `?${r.sub}` : ''}`);

    beforeAll(async () => {
      root = tempDir('hawp-realtf-');
      const made = await homeWithKey(root);
      home = made.home;
      pwFile = path.join(root, 'vault-pass.txt');
      writeFileSync(pwFile, VAULT_PASSWORD + '\n');
      cliConfig = writeCliConfig(root);
      const keys = [...defaultKeys(), { id: 4242, name: 'laptop', fingerprint: md5Fingerprint(made.publicKey), public_key: made.publicKey }];
      // A certificate stays in use for a second after its load balancer is deleted (the provider retries the 403).
      api = await startFakeDoApi({
        keys,
        domains: ['example.com'],
        cloud: { actionMs: 1000, certificateReleaseMs: 1000, vpcs: [{ region: 'fra1', ip_range: '10.110.0.0/20' }] },
      });
      bare = await startFakeDoApi({ keys, cloud: { actionMs: 1000, certificateReleaseMs: 1000 } });
      // Only full-access keys may create buckets: the key terraform was given, not the nodes' bucket-scoped one.
      spaces = await startFakeSpaces({
        accessKeys: () => [...api.spacesKeys, ...bare.spacesKeys].filter((k) => k.grants.some((g) => g.permission === 'fullaccess')).map((k) => k.access_key),
      });
      // lab's own certificate, as a user would have it: a fullchain.pem (the site's certificate, then its CA) and the key.
      labCa = await newCa('Loopback Test CA', 30);
      labCert = await issue(labCa, { commonName: 'blog.example.net', dns: ['blog.example.net'], usage: ['serverAuth'] }, 30);
      const certs = path.join(root, 'certs');
      mkdirSync(certs, { mode: 0o700 });
      writeFileSync(path.join(certs, 'fullchain.pem'), labCert.cert + labCa.cert);
      writeFileSync(path.join(certs, 'blog.key'), labCert.key, { mode: 0o600 });

      shop = (await workspace('shop', 'fra1', api, ['--domain', 'shop.example.com'])).ws;
      ({ ws: lab, init: labInit } = await workspace('lab', 'ams3', bare, [
        '--domain',
        'blog.example.net',
        '--tls-certificate',
        path.join(certs, 'fullchain.pem'),
        '--tls-key',
        path.join(certs, 'blog.key'),
      ]));
      // Both clusters at once: terraform spends most of its time waiting on the provider's polling.
      const started = Date.now();
      [shopUp, labUp] = await Promise.all([up(shop), up(lab)]);
      took.push(`two ups from nothing in ${seconds(started)}`);
    }, 8 * MINUTES);

    afterAll(async () => {
      await api?.close();
      await bare?.close();
      await spaces?.close();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('real terraform apply: up --only terraform builds the cluster through the API and writes the inventory from what the API reports', () => {
      // 18 for the cluster, and HTTPS: the certificate and the site's A record.
      expect(shopUp.stderr).toContain('terraform plan: 20 to add, 0 to change, 0 to destroy');
      expect(shopUp.stderr).toContain('terraform apply: the infrastructure is in place');
      expect(shopUp.code, shopUp.stderr).toBe(0);

      const s = api.cloud.snapshot();
      const droplets = byName(s);
      const names = [...droplets.keys()].sort();
      expect(names).toEqual(['shop-db-01', 'shop-db-02', 'shop-db-03', 'shop-dblb-01', 'shop-dblb-02', 'shop-wp-01', 'shop-wp-02', 'shop-wp-03']);

      const inv = yaml.load(readFileSync(path.join(shop, 'ansible/inventory/hosts.yml'), 'utf8')) as {
        all: { vars: Record<string, string>; children: Record<string, { hosts: Record<string, { ansible_host: string; private_ip: string }> }> };
      };
      const groups = { wp_node: 'shop-wp-', galera_cluster_node: 'shop-db-0', galera_loadbalancer: 'shop-dblb-' };
      for (const [group, prefix] of Object.entries(groups)) {
        const hosts = inv.all.children[group]!.hosts;
        expect(Object.keys(hosts).sort(), group).toEqual(names.filter((n) => n.startsWith(prefix)));
        for (const [name, h] of Object.entries(hosts)) {
          expect(h.ansible_host, name).toBe(address(droplets.get(name)!, 'public'));
          expect(h.private_ip, name).toBe(address(droplets.get(name)!, 'private'));
        }
      }
      const [reserved] = s.reservedIps;
      const [lb] = s.loadBalancers;
      expect(inv.all.vars.db_reserved_ip).toBe(reserved!.ip);
      expect(inv.all.vars.load_balancer_ip).toBe(lb!.ip);
      ran.push('apply');
    });

    it('real terraform apply: DigitalOcean holds the designed cluster (VPC, backends and firewalls by tag, reserved IP on HAProxy node 1, one project)', () => {
      const s = api.cloud.snapshot();
      const droplets = byName(s);
      const vpc = s.vpcs.find((v) => v.name === 'shop-vpc')!;
      expect(vpc).toMatchObject({ region: 'fra1', default: false });
      for (const d of droplets.values()) {
        expect(d.vpc_uuid, d.name).toBe(vpc.id);
        expect(d.status, d.name).toBe('active');
      }
      const web = [...droplets.values()]
        .filter((d) => d.name.startsWith('shop-wp-'))
        .map((d) => d.id)
        .sort();
      expect(s.loadBalancers).toHaveLength(1);
      expect(s.loadBalancers[0]).toMatchObject({ name: 'shop-lb', status: 'active', tag: 'shop-wp', vpc_uuid: vpc.id });
      expect([...s.loadBalancers[0]!.droplet_ids].sort()).toEqual(web);
      expect(s.firewalls.map((f) => `${f.name}:${f.tags.join(',')}`).sort()).toEqual(['shop-db-fw:shop-db', 'shop-wp-fw:shop-wp']);
      expect(s.reservedIps).toHaveLength(1);
      expect(s.reservedIps[0]!.droplet?.name).toBe('shop-dblb-01');
      const project = s.projects.find((p) => p.name === 'shop')!;
      expect(project.purpose).toBe('Web Application');
      expect([...project.resources].sort()).toEqual(
        [
          ...[...droplets.values()].map((d) => `do:droplet:${d.id}`),
          `do:loadbalancer:${s.loadBalancers[0]!.id}`,
          `do:floatingip:${s.reservedIps[0]!.ip}`,
        ].sort(),
      );
      expect(s.projects.find((p) => p.is_default)!.resources).toEqual([]);
      ran.push('the cluster on the API');
    });

    it("real terraform apply, Let's Encrypt (loopback stand-in): a certificate for exactly shop.example.com on 443, HTTP redirected, the A record", () => {
      const s = api.cloud.snapshot();
      expect(s.certificates).toHaveLength(1);
      const [cert] = s.certificates;
      expect(cert).toMatchObject({ type: 'lets_encrypt', state: 'verified', dns_names: ['shop.example.com'] });
      expect(cert!.name).toMatch(/^shop-[0-9a-f]{8}$/);
      const [lb] = s.loadBalancers;
      const rules = lb!.forwarding_rules.map((r) => `${r.entry_protocol}:${r.entry_port} → ${r.target_protocol}:${r.target_port} ${r.certificate_id || '-'}`);
      expect(rules.sort()).toEqual(['http:80 → http:80 -', `https:443 → http:80 ${cert!.id}`]);
      expect(lb!.redirect_http_to_https).toBe(true);
      // The one A record of the zone is the site's: terraform makes it, so DigitalOcean must not add one at the apex of example.com.
      expect(lb!.disable_lets_encrypt_dns_records).toBe(true);
      expect(s.records.filter((r) => r.type === 'A').map((r) => ({ domain: r.domain, name: r.name, data: r.data, ttl: r.ttl }))).toEqual([
        { domain: 'example.com', name: 'shop', data: lb!.ip, ttl: 300 },
      ]);
      const inv = yaml.load(readFileSync(path.join(shop, 'ansible/inventory/hosts.yml'), 'utf8')) as { all: { vars: Record<string, string> } };
      expect(inv.all.vars.site_url).toBe('https://shop.example.com/');
      // terraform's dns_record output: the provider's fqdn of the record.
      expect(shopUp.stderr).toMatch(
        new RegExp(`DNS\\s+shop\\.example\\.com → ${lb!.ip.replace(/\./g, '\\.')} \\(an A record up keeps in your DigitalOcean DNS\\)`),
      );
      expect(shopUp.stderr).toMatch(/site\s+https:\/\/shop\.example\.com\/$/m);
      ran.push("Let's Encrypt");
    });

    it("real terraform apply, your own certificate (loopback stand-in): the API got it with chain and key, the key via terraform's environment only", () => {
      expect(labUp.stderr).toContain('terraform plan: 19 to add, 0 to change, 0 to destroy');
      expect(labUp.code, labUp.stderr).toBe(0);
      const posted = bare.requests.filter((r) => r.method === 'POST' && r.path === '/v2/certificates');
      expect(posted.map((r) => r.status)).toEqual([201]);
      expect(posted[0]!.body).toEqual({
        name: expect.stringMatching(/^lab-[0-9a-f]{8}$/),
        type: 'custom',
        private_key: labCert.key,
        leaf_certificate: labCert.cert.trim() + '\n',
        certificate_chain: labCa.cert.trim() + '\n',
      });
      const s = bare.cloud.snapshot();
      const x509 = new X509Certificate(labCert.cert);
      expect(s.certificates).toEqual([
        expect.objectContaining({
          type: 'custom',
          state: 'verified',
          dns_names: ['blog.example.net'],
          sha1_fingerprint: x509.fingerprint.replace(/:/g, '').toLowerCase(),
        }),
      ]);
      const [lb] = s.loadBalancers;
      expect(lb!.forwarding_rules.find((r) => r.entry_port === 443)).toMatchObject({ entry_protocol: 'https', certificate_id: s.certificates[0]!.id });
      expect(lb!.redirect_http_to_https).toBe(true);
      // blog.example.net's DNS is elsewhere: no record, and up says where to point it.
      expect(s.records).toEqual([]);
      expect(labUp.stderr).toMatch(/DNS\s+point blog\.example\.net \(an A record\) at 198\.51\.100\.\d+$/m);
      const inv = yaml.load(readFileSync(path.join(lab, 'ansible/inventory/hosts.yml'), 'utf8')) as { all: { vars: Record<string, string> } };
      expect(inv.all.vars.site_url).toBe('https://blog.example.net/');

      // The key is in terraform's vault (encrypted) and nowhere else in the workspace, the state included (the provider keeps a hash).
      const holding = workspaceFiles(lab).filter((f) => readFileSync(f, 'utf8').includes(keyLine()));
      expect(holding).toEqual([]);
      expect(readFileSync(path.join(lab, 'terraform', 'vault.yml'), 'utf8')).toMatch(/^\$ANSIBLE_VAULT;1\.1;AES256/);
      expect(readFileSync(path.join(lab, 'terraform', 'terraform.tfstate'), 'utf8')).toContain('"private_key": "');
      // Nor in any child's argv (terraform's included), nor in what init and up printed.
      expect(labUp.children.map((argv) => path.basename(argv[0]!))).toContain('terraform');
      for (const r of [labInit, labUp]) {
        for (const argv of r.children) expect(argv.join(' ')).not.toContain(keyLine());
        expect(r.stdout + r.stderr).not.toContain(keyLine());
      }
      ran.push('own certificate');
    });

    it('real terraform apply: up made each backup bucket in Spaces, in its backup region, versioned, with the rule that expires old versions', () => {
      // The backups in another region than the cluster's, the uploads in the cluster's.
      for (const [ws, project, region, mediaRegion, upped] of [
        [shop, 'shop', 'ams3', 'fra1', shopUp],
        [lab, 'lab', 'fra1', 'ams3', labUp],
      ] as const) {
        const bucket = backupBucket(project);
        expect(readFileSync(path.join(ws, 'ha-wordpress.yml'), 'utf8')).toContain(bucket);
        expect(upped.stderr).toMatch(
          new RegExp(
            `buckets: ${bucket} \\(backups, ${region}\\) and ${project}-media-[a-z0-9]{6} \\(uploads, ${mediaRegion}\\) \\(destroy never deletes them\\)`,
          ),
        );
        const created = spaces.requests.filter((r) => r.method === 'PUT' && r.bucket === bucket && r.key === '/' && r.sub === '');
        expect(created.map((r) => `${r.host} ${r.status}`)).toEqual([`${bucket}.${region}.digitaloceanspaces.com 200`]);
        const held = spaces.bucket(bucket)!;
        expect(held.versioning).toBe('Enabled');
        expect(held.acl).toBe('private');
        const rule = /<Rule>(.*)<\/Rule>/s.exec(held.lifecycle ?? '')?.[1] ?? '';
        expect(rule).toContain('<ID>backup-versions</ID>');
        expect(rule).toContain('<Status>Enabled</Status>');
        expect(rule).toContain('<NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration>');
        expect(rule).toContain('<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>');
      }
      // Every S3 request was signed with a full-access key of the account, and nothing was tunnelled anywhere else.
      expect(spaces.requests.filter((r) => r.by === 'refused')).toEqual([]);
      expect(spaces.refused).toEqual([]);
      ran.push('backup buckets');
    });

    it(
      'real terraform re-plan: a second up finds nothing to change and sends DigitalOcean no change',
      async () => {
        const mark = api.requests.length;
        const labMark = bare.requests.length;
        const s3mark = spaces.requests.length;
        // lab too (its certificate's key, certificate and chain are kept as hashes in the state): in parallel, it costs little.
        const [again, labAgain] = await Promise.all([up(shop), up(lab)]);
        expect(again.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
        expect(again.stderr).not.toContain('terraform apply');
        expect(again.code, again.stderr).toBe(0);
        expect(changesSince(api, mark)).toEqual([]);
        expect(labAgain.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
        expect(labAgain.code, labAgain.stderr).toBe(0);
        expect(changesSince(bare, labMark)).toEqual([]);
        for (const argv of labAgain.children) expect(argv.join(' ')).not.toContain(keyLine());
        // The bucket was read (its versioning and lifecycle too) and found as it should be: nothing written.
        expect(again.stderr).toMatch(
          new RegExp(`buckets: ${backupBucket('shop')} \\(backups, ams3\\) and shop-media-[a-z0-9]{6} \\(uploads, fra1\\), as they should be`),
        );
        expect(again.stderr).not.toContain('buckets: apply');
        expect(spaces.requests.slice(s3mark).map((r) => r.sub)).toEqual(expect.arrayContaining(['versioning', 'lifecycle']));
        expect(s3ChangesSince(s3mark)).toEqual([]);
        // terraform itself agrees: plan -detailed-exitcode exits 0 (no changes).
        const plan = await terraform(
          ['plan', '-detailed-exitcode', '-input=false', '-no-color', '-lock=false'],
          path.join(shop, 'terraform'),
          terraformEnv(cliConfig, { DIGITALOCEAN_TOKEN: DEFAULT_TOKEN, DIGITALOCEAN_API_URL: api.url }),
        );
        expect(plan.out).toContain('No changes.');
        expect(plan.code).toBe(0);
        ran.push('re-plan');
      },
      6 * MINUTES,
    );

    it(
      'real terraform re-plan after a failover: keepalived moved the reserved IP to the other HAProxy node, and up does not move it back',
      async () => {
        const before = api.cloud.snapshot();
        const peer = byName(before).get('shop-dblb-02')!;
        const ip = before.reservedIps[0]!.ip;
        // What the keepalived notify script sends on the node that takes over.
        const res = await fetch(`${api.url}/v2/reserved_ips/${ip}/actions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${DEFAULT_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'assign', droplet_id: peer.id }),
        });
        expect(res.status).toBe(201);
        const { action } = (await res.json()) as { action: { id: number; status: string } };
        expect(action.status).toBe('in-progress');
        for (let i = 0; i < 50 && api.cloud.snapshot().actions.find((a) => a.id === action.id)?.status !== 'completed'; i++)
          await new Promise((r) => setTimeout(r, 100));
        expect(api.cloud.snapshot().reservedIps[0]!.droplet?.name).toBe('shop-dblb-02');

        const mark = api.requests.length;
        const again = await up(shop);
        expect(again.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
        expect(again.code, again.stderr).toBe(0);
        expect(changesSince(api, mark)).toEqual([]);
        expect(api.cloud.snapshot().reservedIps[0]!.droplet?.name).toBe('shop-dblb-02');
        ran.push('re-plan after failover');
      },
      6 * MINUTES,
    );

    it(
      'real terraform resize (loopback stand-in): a new --lb-size resizes the HAProxy droplets one at a time, never both off at once',
      async () => {
        const r = await runCli(['init', '--non-interactive', '--dir', shop, '--lb-size', 's-2vcpu-2gb', '--vault-password-file', pwFile], {
          env: { HOME: home, DIGITALOCEAN_TOKEN: DEFAULT_TOKEN },
        });
        expect(r.code, r.stderr).toBe(0);
        const mark = api.cloud.snapshot().power.length;
        const started = Date.now();
        const resized = await up(shop);
        took.push(`two resizes in ${seconds(started)}`);
        expect(resized.code, resized.stderr).toBe(0);
        for (const n of ['shop-dblb-01', 'shop-dblb-02']) {
          expect(resized.stderr).toContain(`${n} will be RESIZED (s-1vcpu-1gb → s-2vcpu-2gb)`);
          expect(resized.stderr).toContain(`resizing ${n}: s-1vcpu-1gb → s-2vcpu-2gb`);
        }
        const s = api.cloud.snapshot();
        // By name: the stand-in's list order is not the droplets' (the power log below holds the order that matters).
        const dblb = s.droplets.filter((d) => d.name.startsWith('shop-dblb-')).sort((a, b) => a.name.localeCompare(b.name));
        expect(dblb.map((d) => [d.name, d.size_slug, d.status])).toEqual([
          ['shop-dblb-01', 's-2vcpu-2gb', 'active'],
          ['shop-dblb-02', 's-2vcpu-2gb', 'active'],
        ]);
        // Each droplet went off and on again, the second only after the first was back.
        expect(s.power.slice(mark).map((e) => `${e.droplet} ${e.status}`)).toEqual([
          'shop-dblb-01 off',
          'shop-dblb-01 active',
          'shop-dblb-02 off',
          'shop-dblb-02 active',
        ]);
        // The next up finds nothing left to do.
        const again = await up(shop);
        expect(again.stderr).toContain('terraform plan: 0 to add, 0 to change, 0 to destroy');
        ran.push('resize one at a time');
      },
      8 * MINUTES,
    );

    it(
      'real terraform plans for scale and replace (loopback stand-in): one web node more or less, and shop-db-02 made anew, ' +
        'hold exactly what the commands confirm, and the guard names anything beyond',
      async () => {
        const dir = path.join(shop, 'terraform');
        const env = terraformEnv(cliConfig, { DIGITALOCEAN_TOKEN: DEFAULT_TOKEN, DIGITALOCEAN_API_URL: api.url });
        const mark = api.requests.length;
        const planOf = async (args: string[]) => {
          const made = await terraform(['plan', '-input=false', '-no-color', '-lock=false', '-out=check.tfplan', ...args], dir, env);
          expect(made.code, made.out).toBe(0);
          const shown = await terraform(['show', '-json', '-no-color', 'check.tfplan'], dir, env);
          expect(shown.code, shown.out).toBe(0);
          return summarisePlan(shown.out);
        };
        try {
          const more = await planOf(['-var', 'web_count=4']);
          expect(more.newDroplets).toEqual(['shop-wp-04']);
          expect(beyondChange(more, { add: ['shop-wp-04'], remove: [] })).toBeUndefined();
          const fewer = await planOf(['-var', 'web_count=2']);
          expect(fewer.deletedDroplets).toEqual(['shop-wp-03']);
          expect(beyondChange(fewer, { add: [], remove: ['shop-wp-03'] })).toBeUndefined();
          const address = dropletAddress('shop', { name: 'shop-db-02', group: 'galera_cluster_node' });
          const anew = await planOf([`-replace=${address}`]);
          expect(anew.replaced).toEqual([address]);
          expect(beyondChange(anew, { add: ['shop-db-02'], remove: [], replace: [address] })).toBeUndefined();
          // A plan that replaces a droplet is not what a scale confirmed.
          expect(beyondChange(anew, { add: ['shop-wp-04'], remove: [] })).toBe(
            'digitalocean_droplet.db[1] replaced, shop-db-02 created, shop-wp-04 not created',
          );
        } finally {
          rmSync(path.join(dir, 'check.tfplan'), { force: true });
        }
        // Plans only: DigitalOcean was asked, never told.
        expect(changesSince(api, mark)).toEqual([]);
        ran.push('scale and replace plans');
      },
      6 * MINUTES,
    );

    describe('destroy', () => {
      let shopDown: CliResult;
      let labDown: CliResult;
      let labVpc: CloudSnapshot['vpcs'][number];
      let s3mark: number;

      beforeAll(async () => {
        labVpc = bare.cloud.snapshot().vpcs.find((v) => v.name === 'lab-vpc')!;
        s3mark = spaces.requests.length;
        const started = Date.now();
        [shopDown, labDown] = await Promise.all([
          cli(['destroy', '--yes', '--non-interactive', '--dir', shop]),
          cli(['destroy', '--yes', '--non-interactive', '--dir', lab]),
        ]);
        took.push(`two destroys in ${seconds(started)}`);
      }, 8 * MINUTES);

      it('real terraform destroy: destroy --yes removes every resource of the project from DigitalOcean', () => {
        expect(shopDown.stderr).toContain('destroyed 20 resources of shop');
        expect(shopDown.stderr).not.toContain('left the VPC');
        expect(shopDown.code, shopDown.stderr).toBe(0);
        const s = api.cloud.snapshot();
        expect(s.droplets).toEqual([]);
        expect(s.loadBalancers).toEqual([]);
        expect(s.reservedIps).toEqual([]);
        expect(s.firewalls).toEqual([]);
        expect(s.tags).toEqual([]);
        // The certificate (once the load balancer had let go of it) and the site's record; the zone keeps what DigitalOcean made with it.
        expect(s.certificates).toEqual([]);
        expect(s.records.map((r) => `${r.domain} ${r.type} ${r.name}`)).toEqual(['example.com SOA @', ...Array(3).fill('example.com NS @')]);
        expect(api.requests.filter((r) => r.method === 'DELETE' && r.path.startsWith('/v2/certificates/')).at(-1)?.status).toBe(204);
        expect(s.projects.map((p) => ({ name: p.name, resources: p.resources }))).toEqual([{ name: 'first-project', resources: [] }]);
        // The account's own default VPC stays; the cluster's is gone.
        expect(s.vpcs.map((v) => v.name)).toEqual(['default-fra1']);
        ran.push('destroy');
      });

      it("real terraform destroy where the cluster's VPC became the region's default: destroy finishes, leaves that VPC and says why", () => {
        expect(labVpc).toMatchObject({ region: 'ams3', default: true });
        expect(labUp.code, labUp.stderr).toBe(0);
        expect(labDown.stderr).toContain(
          `left the VPC lab-vpc (${labVpc.id}) in ams3: DigitalOcean keeps a region's default VPC; ` +
            'delete it in the control panel once another VPC is the default',
        );
        expect(labDown.stderr).toContain('destroyed 18 resources of lab');
        expect(labDown.code, labDown.stderr).toBe(0);
        const s = bare.cloud.snapshot();
        expect([s.droplets, s.loadBalancers, s.reservedIps, s.firewalls, s.tags, s.certificates]).toEqual([[], [], [], [], [], []]);
        // destroy had the key too (terraform reads every variable), from the environment only.
        for (const argv of labDown.children) expect(argv.join(' ')).not.toContain(keyLine());
        expect(workspaceFiles(lab).filter((f) => readFileSync(f, 'utf8').includes(keyLine()))).toEqual([]);
        expect(s.projects.map((p) => p.name)).toEqual(['first-project']);
        expect(s.vpcs.map((v) => v.id)).toEqual([labVpc.id]);
        // Left out up front: no DELETE of it (the provider would retry the 403 for two minutes).
        expect(bare.requests.filter((r) => r.method === 'DELETE' && r.path.startsWith('/v2/vpcs/'))).toEqual([]);
        ran.push('destroy with a default VPC');
      });

      it("real terraform destroy: the backup and media buckets outlive the clusters, untouched in Spaces and still in terraform/backup's state", async () => {
        expect(shopDown.code, shopDown.stderr).toBe(0);
        expect(labDown.code, labDown.stderr).toBe(0);
        expect(s3ChangesSince(s3mark)).toEqual([]);
        for (const [ws, project] of [
          [shop, 'shop'],
          [lab, 'lab'],
        ] as const) {
          const bucket = backupBucket(project);
          expect(spaces.bucket(bucket)?.versioning, bucket).toBe('Enabled');
          expect(spaces.bucket(bucket)?.lifecycle, bucket).toContain('<ID>backup-versions</ID>');
          const list = await terraform(['state', 'list', '-no-color'], path.join(ws, 'terraform', 'backup'), terraformEnv(cliConfig));
          expect(list.out.trim().split('\n')).toEqual(['digitalocean_spaces_bucket.backup', 'digitalocean_spaces_bucket.media']);
          expect(list.code).toBe(0);
        }
        ran.push('backup buckets kept');
      });

      it(
        'real terraform destroy: afterwards terraform manages nothing, and a second destroy has nothing to do',
        async () => {
          const again = await cli(['destroy', '--yes', '--non-interactive', '--dir', lab]);
          expect(again.stderr).toContain('Nothing to destroy: terraform manages no resources for lab.');
          expect(again.code, again.stderr).toBe(0);
          const list = await terraform(['state', 'list', '-no-color'], path.join(shop, 'terraform'), terraformEnv(cliConfig));
          expect(list.out.trim()).toBe('');
          expect(list.code).toBe(0);
          ran.push('nothing left');
        },
        6 * MINUTES,
      );
    });
  },
);
