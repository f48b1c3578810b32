/**
 * The local target's lab (src/lab): the pure layout everywhere; the real
 * thing — containers, bridge, nftables, the services daemon — on a Linux
 * machine where the tests run as root (skipped elsewhere, saying why).
 * The real part uses the machine's caches (/var/cache/ha-wordpress); a cold
 * first run also builds them (debootstrap + package download, ~2 minutes).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerPaths, expireAptLists, inContainer, running } from '../src/lab/containers.js';
import { ensureS3Daemon, s3Config, s3Files, S3_HEALTH_PATH, type S3Keys } from '../src/lab/daemon.js';
import { CGROUP_DIR, labDir, S3_ROOT, s3DataDir, STATE_ROOT } from '../src/lab/dirs.js';
import { cluster as labCluster, type LabCluster, type LabOptions } from '../src/lab/index.js';
import {
  checkShape,
  DEFAULT_PACKAGES,
  debianMirrors,
  labHash,
  labNetNames,
  makePlan,
  networkdUnits,
  nftRuleset,
  parseAptSimulation,
  parseAptSources,
  parseMountinfo,
  parsePackageList,
  type LabNode,
  type LabPlan,
} from '../src/lab/plan.js';
import { packageList } from '../src/lab/repo.js';
import { HEALTH_PATH } from '../src/lab/s3.js';
import type { Logger } from '../src/ui/logger.js';
import { homeWithKey, ROOT, tempDir } from './support/cli.js';
import { budget, missing, runTool, skipWhen } from './support/tools.js';

/** Whether `child` lies inside `parent` (or is it). */
const inside = (parent: string, child: string) => {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

describe('lab layout (pure)', () => {
  const plan = makePlan({ workspace: '/w', project: 'hawp', webNodes: 3, dbNodes: 5, octet: 77 });

  it('names hosts like terraform and gives each a public and a VPC address, as a droplet has', () => {
    expect(plan.nodes.map((n) => n.name)).toEqual([
      'hawp-wp-01',
      'hawp-wp-02',
      'hawp-wp-03',
      'hawp-db-01',
      'hawp-db-02',
      'hawp-db-03',
      'hawp-db-04',
      'hawp-db-05',
      'hawp-dblb-01',
      'hawp-dblb-02',
      'hawp-lb',
    ]);
    expect(new Set(plan.nodes.map((n) => n.ip)).size).toBe(plan.nodes.length);
    for (const n of plan.nodes) expect(n.ip).toMatch(/^10\.213\.77\.\d+$/);
    for (const n of plan.nodes) expect(n.vpcIp).toBe(n.ip.replace(/^10\.213\./, '10.214.'));
    expect(plan.subnet).toBe('10.213.77.0/24');
    expect(plan.nodes.filter((n) => n.anchorIp).map((n) => n.name)).toEqual(['hawp-dblb-01', 'hawp-dblb-02']);
    // veth names are vb-<machine> and vp-<machine>: must fit IFNAMSIZ (15) and differ between labs.
    for (const n of plan.nodes) expect(`vb-${n.machine}`.length).toBeLessThanOrEqual(15);
    for (const b of [plan.bridge, plan.vpcBridge]) expect(b.length).toBeLessThanOrEqual(15);
    expect(plan.bridge).not.toBe(plan.vpcBridge);
    expect(makePlan({ workspace: '/other', project: 'hawp', webNodes: 3, dbNodes: 3, octet: 77 }).nodes[0]!.machine).not.toBe(plan.nodes[0]!.machine);
    expect(new Set(plan.nodes.filter((n) => n.dropletId).map((n) => n.dropletId)).size).toBe(10);
  });

  it('checks the shape like the CLI does', () => {
    const ok = { project: 'hawp', webNodes: 3, dbNodes: 3, adminUser: 'deploy' };
    expect(checkShape(ok)).toBeUndefined();
    expect(checkShape({ ...ok, webNodes: 1 })).toMatch(/^--web-nodes \(from ha-wordpress.yml\): give a whole number from 2 to 10/);
    expect(checkShape({ ...ok, dbNodes: 4 })).toMatch(/^--db-nodes .*odd/);
    expect(checkShape({ ...ok, project: 'Ha_wp' })).toMatch(/^--project .*lowercase/);
    expect(checkShape({ ...ok, adminUser: 'root' })).toMatch(/^--admin-user .*other than root/);
  });

  it('finds the Debian mirror in deb822 and one-line sources, and ignores other archives', () => {
    const deb822 = parseAptSources(
      [
        'Types: deb',
        '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://deb.debian.org/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Types: deb',
        'URIs: https://deb.nodesource.com/node_20.x',
        'Suites: nodistro',
        'Components: main',
        'Enabled: no',
      ].join('\n'),
      true,
    );
    expect(deb822).toHaveLength(2);
    expect(debianMirrors(deb822)).toEqual({
      main: 'http://deb.debian.org/debian',
      security: 'http://deb.debian.org/debian-security',
      keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
    });
    const oneLine = parseAptSources(
      'deb [arch=amd64] http://mirror.example/debian/ bookworm main # comment\ndeb https://packages.cloud.google.com/apt cloud-sdk main\n',
      false,
    );
    expect(debianMirrors(oneLine).main).toBe('http://mirror.example/debian');
    expect(debianMirrors(parseAptSources('deb http://archive.ubuntu.com/ubuntu noble main\n', false)).main).toBe('http://deb.debian.org/debian');
  });

  it('parses the package list, apt simulations and mountinfo', () => {
    expect(parsePackageList('# roles\nnginx\n\nmariadb-server  # db\nnginx\n')).toEqual(['mariadb-server', 'nginx']);
    const sim = parseAptSimulation(
      'Inst libfoo1 (1:1.2-3+b1 Debian:12.10/stable [amd64])\n' +
        'Inst libc6 [2.36-9] (2.36-9+deb12u10 Debian-Security:12/stable-security [amd64])\n' +
        'Conf libfoo1 (1:1.2-3+b1 Debian:12.10/stable [amd64])\n',
    );
    expect(sim.map((p) => p.file)).toEqual(['libfoo1_1%3a1.2-3+b1_amd64.deb', 'libc6_2.36-9+deb12u10_amd64.deb']);
    expect(parseMountinfo('36 35 98:0 / /var/lib/x\\040y rw,noatime master:1 - overlay overlay rw\n')).toEqual([
      { mountPoint: '/var/lib/x y', fsType: 'overlay' },
    ]);
  });

  it('keeps forwarding bridge-only and DNATs the reserved IP to the holder, with no SNAT (the holder sees the client)', () => {
    const rules = nftRuleset(plan, '10.213.77.51', 'stamp');
    expect(rules).toContain(`iifname "${plan.bridge}" oifname "${plan.bridge}" accept`);
    expect(rules).toContain(`iifname "${plan.bridge}" drop`);
    expect(rules).toContain(`oifname "${plan.bridge}" drop`);
    expect(rules).toContain(`elements = { ${plan.reservedIp} : 10.213.77.51 }`);
    expect(rules).not.toMatch(/snat|masquerade/);
  });

  it("routes each node's public traffic through the host and keeps the VPC a plain /24 (networkd files)", () => {
    const dblb = plan.nodes.find((n) => n.name === 'hawp-dblb-01')!;
    const units = networkdUnits(plan, dblb);
    expect(Object.keys(units)).toEqual(['10-eth0.network', '20-eth1.network']);
    const eth0 = units['10-eth0.network']!;
    expect(eth0).toMatch(/^Name=eth0$/m);
    // A /32: no other node is on-link, so what it sends to one goes to the host (where the reserved IP is translated).
    expect(eth0.match(/^Address=.*$/gm)).toEqual([`Address=${dblb.ip}/32`, `Address=${dblb.anchorIp}/32`]);
    expect(eth0).toContain(`Destination=${plan.subnet}\nGateway=${plan.bridgeIp}\nGatewayOnLink=yes\nPreferredSource=${dblb.ip}\n`);
    expect(eth0).not.toMatch(/0\.0\.0\.0|Gateway=.*\n(?!GatewayOnLink)/);
    const eth1 = units['20-eth1.network']!;
    expect(eth1).toMatch(/^Name=eth1$/m);
    expect(eth1.match(/^Address=.*$/gm)).toEqual([`Address=${dblb.vpcIp}/24`]);
    expect(eth1).not.toMatch(/Gateway|Route/);
  });

  it("lets the containers reach the S3 stand-in's port on the bridge address as they reach the services' ports", () => {
    expect(plan.s3Port).toBe(8057);
    expect(new Set([plan.apiPort, plan.metadataPort, plan.s3Port]).size).toBe(3);
    const rules = nftRuleset(plan, '10.213.77.51', 'stamp');
    // The daemons are the host's own: packets to them go through the input hook, which the table leaves alone,
    // and no NAT rule touches the bridge address (only the metadata address and the reserved IP are DNATed).
    expect(rules).not.toMatch(/hook input/);
    expect(rules).not.toContain(String(plan.s3Port));
    expect(rules.split('\n').filter((l) => l.includes('dnat to'))).toEqual([
      `    iifname "${plan.bridge}" ip daddr 169.254.169.254 tcp dport 80 dnat to ${plan.bridgeIp}:${plan.metadataPort}`,
      `    iifname "${plan.bridge}" ip daddr ${plan.reservedIp} dnat to ip daddr map @reserved`,
      `    ip daddr ${plan.reservedIp} dnat to ip daddr map @reserved`,
    ]);
  });

  it("gives the inventory the S3 endpoint next to the API URL, and sizes PHP-FPM for the web size's vCPUs (one without a size)", () => {
    const c = labCluster(plan, {});
    expect(c.extraVars).toEqual({
      lab_api_url: 'http://10.213.77.1:8055',
      lab_s3_endpoint: 'http://10.213.77.1:8057',
      wordpress_fpm_cpus: 1,
    });
    const sized = makePlan({
      workspace: '/tmp/ws',
      project: 'shop',
      webNodes: 3,
      dbNodes: 3,
      octet: 77,
      sizes: { web: 's-2vcpu-4gb', db: 's-2vcpu-4gb', lb: 's-1vcpu-1gb' },
    });
    expect(labCluster(sized, {}).extraVars.wordpress_fpm_cpus).toBe(2);
    // A size the lab cannot read is refused where the plan is made, naming its flag.
    expect(() =>
      makePlan({ workspace: '/tmp/ws', project: 'shop', webNodes: 3, dbNodes: 3, octet: 77, sizes: { web: 's-1vcpu-2gb', db: 'c-2', lb: 's-1vcpu-1gb' } }),
    ).toThrow(/^--db-size c-2: the lab cannot tell/);
    expect(sized.nodes.map((n) => [n.role, n.limits?.slug])).toEqual([
      ...[1, 2, 3].map(() => ['web', 's-2vcpu-4gb']),
      ...[1, 2, 3].map(() => ['db', 's-2vcpu-4gb']),
      ['dblb', 's-1vcpu-1gb'],
      ['dblb', 's-1vcpu-1gb'],
      ['lb', undefined],
    ]);
  });

  it("keeps the S3 stand-in's buckets outside the lab's directory, which destroy removes", () => {
    const keys = { accessKeyId: 'DO00LABKEY', secretAccessKey: 'lab/secret+0123456789' };
    const cfg = s3Config(plan, keys, 'code-1');
    expect(cfg).toMatchObject({ address: plan.bridgeIp, port: 8057, accessKey: keys.accessKeyId, secretKey: keys.secretAccessKey });
    expect(cfg.directory).toBe(`/var/lib/ha-wordpress/s3/${plan.labId}`);
    expect(cfg.directory).toBe(s3DataDir(plan.labId));
    expect(inside(labDir(plan.labId), cfg.directory)).toBe(false);
    expect(inside(STATE_ROOT, cfg.directory)).toBe(false);
    expect(inside(S3_ROOT, cfg.directory)).toBe(true);
    // Config, pid and log are the lab's (they go with it); the config holds the secret.
    for (const f of Object.values(s3Files(plan.labId))) expect(inside(labDir(plan.labId), f)).toBe(true);
    // Other keys or other code: another configuration, so labUp restarts the stand-in; the same: the same one.
    expect(s3Config(plan, keys, 'code-1').configHash).toBe(cfg.configHash);
    expect(s3Config(plan, { ...keys, secretAccessKey: 'other' }, 'code-1').configHash).not.toBe(cfg.configHash);
    expect(s3Config(plan, { ...keys, accessKeyId: 'DO00OTHER' }, 'code-1').configHash).not.toBe(cfg.configHash);
    expect(s3Config(plan, keys, 'code-2').configHash).not.toBe(cfg.configHash);
    expect(S3_HEALTH_PATH).toBe(HEALTH_PATH);
  });

  it("serves restic to the containers from the lab's repository", async () => {
    expect(DEFAULT_PACKAGES).toContain('restic');
    const ws = tempDir('hawp-pkg-');
    try {
      // No list in the workspace: the package's own ansible/debian-packages.txt.
      const list = await packageList(ws, ROOT);
      expect(list.source).toBe(path.join(ROOT, 'ansible', 'debian-packages.txt'));
      expect(list.names).toContain('restic');
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------

const asRoot = skipWhen(process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'not root' : undefined);

asRoot.it("a new package repository makes a container's apt lists look old, so the roles' next apt task reads it", async () => {
  const labId = `hawp-test-${randomBytes(4).toString('hex')}`;
  const root = containerPaths(labId, 'hawp-db-01').root;
  try {
    await fs.mkdir(path.join(root, 'var/lib/apt/periodic'), { recursive: true });
    await fs.mkdir(path.join(root, 'var/lib/apt/lists'), { recursive: true });
    writeFileSync(path.join(root, 'var/lib/apt/periodic/update-success-stamp'), '');
    writeFileSync(path.join(root, 'var/lib/apt/lists/lab_repo_._Packages'), 'Package: x\n');
    await expireAptLists(labId, 'hawp-db-01');
    // What Ansible's apt module dates the lists by: the stamp, else the lists directory.
    expect(existsSync(path.join(root, 'var/lib/apt/periodic/update-success-stamp'))).toBe(false);
    expect(statSync(path.join(root, 'var/lib/apt/lists')).mtimeMs).toBe(0);
    expect(existsSync(path.join(root, 'var/lib/apt/lists/lab_repo_._Packages'))).toBe(true);
  } finally {
    rmSync(labDir(labId), { recursive: true, force: true });
  }
});

/**
 * The S3 stand-in as labUp and labDestroy run it, without a lab: its daemon on
 * loopback (a lab's plan with 127.0.0.1 for the bridge address and a free
 * port), the real restic against it, and labDestroy (which finds no
 * containers or network for this lab and removes only what exists).
 */
const s3Lab = skipWhen(process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'not root' : missing('restic', 'nft', 'ip'));

s3Lab.describe("the lab's S3 stand-in daemon on loopback, with restic", () => {
  const lines: string[] = [];
  const log: Logger = {
    info: (m) => lines.push(`info ${m}`),
    success: (m) => lines.push(`ok ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    out: (m) => lines.push(m),
  };
  const ctx = { log, status: () => undefined };
  let dir: string;
  let ws: string;
  let plan: LabPlan;
  let env: NodeJS.ProcessEnv;
  let lab: typeof import('../src/lab/index.js');
  const project = 'hs3';
  const keys: S3Keys = { accessKeyId: `DO00${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(32).toString('base64') };

  const restic = (args: string[], k: S3Keys = keys, allowFailure = false) =>
    runTool('restic', ['-r', `s3:http://127.0.0.1:${plan.s3Port}/lab-backups/${project}`, ...args], {
      env: { ...env, AWS_ACCESS_KEY_ID: k.accessKeyId, AWS_SECRET_ACCESS_KEY: k.secretAccessKey },
      allowFailure,
    });
  const daemonPids = async () => {
    const out: number[] = [];
    for (const e of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const cl = await fs.readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
      if (cl.includes('s3-standin.js') && cl.includes(s3Files(plan.labId).config)) out.push(Number(e));
    }
    return out;
  };

  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'lab', 's3-standin.js'))) throw new Error('dist/lab/s3-standin.js is missing: run `npm run build` first');
    lab = await import('../src/lab/index.js');
    dir = tempDir('hawp-s3lab-');
    ws = path.join(dir, 'ws');
    await fs.mkdir(ws);
    // The lab labDestroy will find for this workspace, on loopback and a free port.
    const real = makePlan({ workspace: realpathSync(ws), project, webNodes: 2, dbNodes: 3, octet: 1 });
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    plan = { ...real, bridgeIp: '127.0.0.1', s3Port: port };
    await fs.mkdir(labDir(plan.labId), { recursive: true, mode: 0o700 });
    const password = path.join(dir, 'restic-password');
    writeFileSync(password, `${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
    env = { PATH: process.env.PATH, HOME: dir, TMPDIR: dir, RESTIC_PASSWORD_FILE: password, RESTIC_CACHE_DIR: path.join(dir, 'cache') };
  });

  afterAll(async () => {
    if (plan) await lab.labDestroy({ workspace: ws, project, log, purge: true }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it(
    "starts with the vault's keys only, is left alone when unchanged, restarts on new keys, keeps its data through destroy and loses it only to a purge",
    async () => {
      expect(await ensureS3Daemon(ctx, plan, keys)).toBe(true);
      const [pid] = await daemonPids();
      expect(pid).toBeGreaterThan(1);
      // The secret is in the 0600 config, never in argv.
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(keys.secretAccessKey);
      expect(statSync(s3Files(plan.labId).config).mode & 0o777).toBe(0o600);
      expect(statSync(s3DataDir(plan.labId)).mode & 0o077).toBe(0);

      await restic(['init']);
      await restic(['backup', path.join(ROOT, 'ansible', 'debian-packages.txt')]);
      const wrong = await restic(['snapshots'], { ...keys, secretAccessKey: 'not-the-secret' }, true);
      expect(wrong.code, wrong.report).not.toBe(0);
      expect(wrong.stderr).toMatch(/SignatureDoesNotMatch|signature we calculated does not match/i);

      // The same keys and code: the running stand-in is kept.
      expect(await ensureS3Daemon(ctx, plan, keys)).toBe(false);
      expect(await daemonPids()).toEqual([pid]);

      // New keys in the vault: a new stand-in that takes only those, over the same buckets.
      const rotated = { ...keys, secretAccessKey: randomBytes(32).toString('base64') };
      expect(await ensureS3Daemon(ctx, plan, rotated)).toBe(true);
      const pids = await daemonPids();
      expect(pids).toHaveLength(1);
      expect(pids[0]).not.toBe(pid);
      expect((await restic(['snapshots'], keys, true)).code).not.toBe(0);
      expect(JSON.parse((await restic(['snapshots', '--json'], rotated)).stdout)).toHaveLength(1);

      // destroy: the stand-in stops and the lab's dir goes, the buckets stay.
      await lab.labDestroy({ workspace: ws, project, log });
      expect(await daemonPids()).toEqual([]);
      expect(existsSync(labDir(plan.labId))).toBe(false);
      expect(existsSync(path.join(s3DataDir(plan.labId), 'lab-backups', project, 'config._S3rver_object'))).toBe(true);
      expect(lines).toContain(`info The lab's backups are kept in ${s3DataDir(plan.labId)} for the next lab of this workspace (destroy --purge removes them).`);

      // The next lab of this workspace finds the backups where they were.
      await fs.mkdir(labDir(plan.labId), { recursive: true, mode: 0o700 });
      expect(await ensureS3Daemon(ctx, plan, rotated)).toBe(true);
      await restic(['check'], rotated);
      expect(JSON.parse((await restic(['snapshots', '--json'], rotated)).stdout)).toHaveLength(1);

      // destroy --purge: they go too.
      await lab.labDestroy({ workspace: ws, project, log, purge: true });
      expect(await daemonPids()).toEqual([]);
      expect(existsSync(s3DataDir(plan.labId))).toBe(false);
      expect(lines).toContain(`info Removed the lab's backups (${s3DataDir(plan.labId)}).`);
    },
    budget({ restic: 8 }),
  );
});

// ---------------------------------------------------------------------------

const whyNot = process.platform !== 'linux' ? 'not Linux' : process.getuid?.() !== 0 ? 'not root' : undefined;

describe.skipIf(whyNot !== undefined)(`the local lab on this machine${whyNot ? ` (skipped: ${whyNot})` : ''}`, () => {
  const lines: string[] = [];
  const log: Logger = {
    info: (m) => lines.push(`info ${m}`),
    success: (m) => lines.push(`ok ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    out: (m) => lines.push(m),
  };
  let lab: typeof import('../src/lab/index.js');
  let opts: LabOptions;
  let privateKey: string;
  let cluster: LabCluster;
  let plan: LabPlan;
  const timings: Record<string, number> = {};
  const TOKEN = 'lab-test-token-0123456789';
  // Like a generated Spaces key pair, '/' and '+' included.
  const S3_KEYS: S3Keys = { accessKeyId: `DO00${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(32).toString('base64') };

  const node = (name: string) => plan.nodes.find((n) => n.name === name)!;
  const sh = (n: LabNode, script: string, timeoutMs = 20_000) =>
    inContainer({ log, status: () => undefined }, plan.labId, n, ['/bin/sh', '-c', script], { timeoutMs });
  const py = (n: LabNode, code: string) =>
    inContainer({ log, status: () => undefined }, plan.labId, n, ['python3', '-c', code], { timeoutMs: 20_000 }).then((r) => r.stdout.trim());
  const metadata = (n: LabNode, p: string) =>
    py(
      n,
      `import urllib.request, urllib.error\ntry:\n print(urllib.request.urlopen('http://169.254.169.254/metadata/v1/${p}', timeout=5).read().decode())\nexcept urllib.error.HTTPError as e:\n print('HTTP', e.code)`,
    );
  /** Connects to host:port from inside a container and returns the first line the far end sends. */
  const greet = (n: LabNode, host: string, port: number) =>
    py(n, `import socket\ns = socket.create_connection(('${host}', ${port}), timeout=5)\nprint(s.recv(200).decode().strip())`);

  const api = (method: string, p: string, body?: unknown, token = TOKEN) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        `${cluster.apiUrl}${p}`,
        {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(data ? { 'content-length': Buffer.byteLength(data) } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const httpGet = (host: string, p: string) =>
    new Promise<number>((resolve) => {
      const req = http.get({ host, port: 80, path: p, timeout: 3000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });

  /** Runs a command over SSH; with `until`, returns as soon as the output matches (root's refusal sleeps 10 s, like cloud-init's). */
  const sshRun = async (host: string, user: string, command: string, until?: RegExp) => {
    const { Client } = (await import('ssh2')).default;
    return new Promise<{ out: string; hostKey: string }>((resolve, reject) => {
      const c = new Client();
      let out = '';
      let hostKey = '';
      c.on('ready', () =>
        c.exec(command, (err, stream) => {
          if (err) return reject(err);
          stream.on('data', (d: Buffer) => {
            out += d.toString();
            if (until?.test(out)) {
              c.end();
              resolve({ out, hostKey });
            }
          });
          stream.stderr.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', () => {
            c.end();
            resolve({ out, hostKey });
          });
        }),
      );
      c.on('error', reject);
      c.connect({ host, username: user, privateKey, readyTimeout: 10_000, hostVerifier: (key: Buffer) => ((hostKey = key.toString('base64')), true) });
    });
  };

  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'lab', 'services.js')))
      throw new Error('dist/lab/services.js is missing: run `npm run build` first (the lab runs its services daemon from dist/)');
    const dir = tempDir('hawp-lab-');
    const ws = path.join(dir, 'ws');
    await fs.mkdir(ws);
    const { home, publicKey } = await homeWithKey(dir);
    privateKey = readFileSync(path.join(home, '.ssh', 'id_ed25519'), 'utf8');
    lab = await import('../src/lab/index.js');
    opts = {
      workspace: ws,
      project: 'hwt',
      webNodes: 2,
      dbNodes: 3,
      adminUser: 'deploy',
      publicKey,
      apiToken: TOKEN,
      s3Keys: S3_KEYS,
      log,
      yes: true,
      interactive: false,
      confirm: async () => true,
    };
  });

  afterAll(async () => {
    if (opts) await lab.labDestroy({ ...opts, purge: true }).catch(() => undefined);
    if (Object.keys(timings).length) process.stderr.write(`lab timings (ms): ${JSON.stringify(timings)}\n`);
    if (opts) rmSync(path.dirname(opts.workspace), { recursive: true, force: true });
  }, 120_000);

  it('labCheck finds nothing that stops the lab here', async () => {
    expect(await lab.labCheck()).toEqual([]);
  });

  it('labUp builds a fresh lab and returns terraform-shaped outputs', async () => {
    const t = Date.now();
    cluster = await lab.labUp(opts);
    timings.firstUp = Date.now() - t;
    for (const [k, v] of Object.entries(cluster.timings)) timings[`first.${k}`] = v;
    plan = (await lab.labPlan(opts))!;

    expect(Object.keys(cluster.inventory.wp_node)).toEqual(['hwt-wp-01', 'hwt-wp-02']);
    expect(Object.keys(cluster.inventory.galera_cluster_node)).toEqual(['hwt-db-01', 'hwt-db-02', 'hwt-db-03']);
    expect(Object.keys(cluster.inventory.galera_loadbalancer)).toEqual(['hwt-dblb-01', 'hwt-dblb-02']);
    for (const g of Object.values(cluster.inventory))
      for (const h of Object.values(g))
        expect(h).toEqual({ ansible_host: expect.stringMatching(/^10\.213\.\d+\.\d+$/), private_ip: h.ansible_host.replace(/^10\.213\./, '10.214.') });
    expect(cluster.loadBalancerIp).toBe(node('hwt-lb').ip);
    expect(cluster.dbReservedIp).toBe(plan.reservedIp);
    expect(cluster.apiUrl).toBe(`http://${plan.bridgeIp}:8055`);
    expect(cluster.extraVars).toMatchObject({ lab_api_url: cluster.apiUrl });
    expect(cluster.extraVars.lab_s3_endpoint).toBe(`http://${plan.bridgeIp}:8057`);
    expect(lines.filter((l) => l.startsWith('warn '))).toEqual([]);
  }, 600_000);

  it("a database node installs restic from the lab's repository and backs up to the S3 stand-in with the vault's keys only", async () => {
    const db = node('hwt-db-01');
    const t = Date.now();
    await sh(db, 'apt-get -q update && apt-get -q -y install restic', 180_000);
    const endpoint = String(cluster.extraVars.lab_s3_endpoint);
    // The keys through stdin, never argv, as the backup role keeps them out of argv.
    const restic = (k: S3Keys, commands: string) =>
      inContainer({ log, status: () => undefined }, plan.labId, db, ['/bin/sh', '-s'], {
        timeoutMs: 120_000,
        okCodes: [0, 1],
        input:
          `export AWS_ACCESS_KEY_ID='${k.accessKeyId}' AWS_SECRET_ACCESS_KEY='${k.secretAccessKey}'\n` +
          'export RESTIC_PASSWORD=lab-test RESTIC_CACHE_DIR=/var/tmp/restic\n' +
          `R=s3:${endpoint}/lab-backups/hwt\nset -e\n${commands}\n`,
      });
    const made = await restic(S3_KEYS, 'restic -r "$R" init\nrestic -r "$R" backup --json /etc/hostname | tail -n 1\nrestic -r "$R" snapshots --json');
    expect(made.code, made.stdout + made.stderr).toBe(0);
    expect(made.stdout).toContain('"message_type":"summary"');
    expect(made.stdout).toContain('"hostname":"hwt-db-01"');
    const wrong = await restic({ ...S3_KEYS, secretAccessKey: 'not-the-secret' }, 'restic -r "$R" snapshots');
    expect(wrong.code).toBe(1);
    expect(wrong.stdout + wrong.stderr).toMatch(/SignatureDoesNotMatch|signature we calculated does not match/i);
    expect(existsSync(path.join(s3DataDir(plan.labId), 'lab-backups', 'hwt', 'config._S3rver_object'))).toBe(true);
    timings.resticInstallAndBackup = Date.now() - t;
  }, 300_000);

  it('cloud-init makes every node: the admin user accepts SSH with the project key, with passwordless sudo and its own host key; root is refused', async () => {
    const keys = new Set<string>();
    for (const n of plan.nodes.filter((x) => x.dropletId)) {
      // The droplets' cloud-config, from the NoCloud seed (src/lab/cloud-init.ts), as the wait phase waits for it.
      const ci = await sh(n, 'cloud-init status --wait --long; grep -c "^deploy:" /etc/passwd', 300_000);
      expect(ci.stdout, ci.stdout + ci.stderr).toMatch(/status: done/);
      expect(ci.stdout).toMatch(/DataSourceNoCloud/);
      expect(ci.stdout.trim().split('\n').at(-1)).toBe('1');
      const r = await sshRun(n.ip, 'deploy', 'hostname && sudo -n true && echo SUDO-OK && cat /etc/apt/sources.list');
      expect(r.out).toContain(n.name);
      expect(r.out).toContain('SUDO-OK');
      expect(r.out).toContain(`deb [trusted=yes] http://${plan.bridgeIp}:8055/repo/ ./`);
      keys.add(r.hostKey);
    }
    expect(keys.size).toBe(7);
    const root = await sshRun(node('hwt-db-01').ip, 'root', 'id', /Please login/);
    // cloud-init's disable_root refusal, as on a droplet with this cloud-config (it names cloud-init's default user, which it has none of).
    expect(root.out).toMatch(/Please login as the user "[^"]*" rather than the user "root"/);
  }, 120_000);

  it('the metadata service answers each droplet about itself', async () => {
    const wp = node('hwt-wp-01');
    expect(await metadata(wp, 'id')).toBe(String(wp.dropletId));
    expect(await metadata(wp, 'hostname')).toBe('hwt-wp-01');
    expect(await metadata(wp, 'interfaces/public/0/ipv4/address')).toBe(wp.ip);
    expect(await metadata(wp, 'interfaces/private/0/ipv4/address')).toBe(wp.vpcIp);
    expect(await metadata(wp, 'interfaces/public/0/anchor_ipv4/address')).toBe('HTTP 404');
    expect(await metadata(wp, 'reserved_ip/ipv4/active')).toBe('false');
    for (const name of ['hwt-dblb-01', 'hwt-dblb-02']) {
      const b = node(name);
      expect(await metadata(b, 'id')).toBe(String(b.dropletId));
      expect(await metadata(b, 'interfaces/public/0/anchor_ipv4/address')).toBe(b.anchorIp);
    }
    // terraform puts the reserved IP on dblb-01.
    expect(await metadata(node('hwt-dblb-01'), 'reserved_ip/ipv4/active')).toBe('true');
    expect(await metadata(node('hwt-dblb-01'), 'reserved_ip/ipv4/ip_address')).toBe(plan.reservedIp);
    expect(await metadata(node('hwt-dblb-02'), 'reserved_ip/ipv4/active')).toBe('false');
    expect(await metadata(node('hwt-dblb-02'), 'reserved_ip/ipv4/ip_address')).toBe('HTTP 404');
  }, 120_000);

  it("each container has a droplet's two interfaces: eth0 public, eth1 on the VPC bridge, which the host has no address on", async () => {
    type Addr = { ifname: string; addr_info: { local: string; prefixlen: number }[] };
    for (const n of [node('hwt-wp-01'), node('hwt-dblb-01'), node('hwt-lb')]) {
      const addrs = JSON.parse((await sh(n, 'ip -j -4 addr show')).stdout) as Addr[];
      const of = (i: string) => addrs.find((a) => a.ifname === i)?.addr_info.map((x) => `${x.local}/${x.prefixlen}`);
      expect(of('eth0'), n.name).toEqual([`${n.ip}/32`, ...(n.anchorIp ? [`${n.anchorIp}/32`] : [])]);
      expect(of('eth1'), n.name).toEqual([`${n.vpcIp}/24`]);
    }
    const host = await runTool('ip', ['-4', '-o', 'addr', 'show', 'dev', plan.vpcBridge]);
    expect(host.code).toBe(0);
    expect(host.stdout.trim()).toBe('');
  }, 60_000);

  it('the API moves the reserved IP like DigitalOcean and traffic to it follows; a wrong token gets 401', async () => {
    // A listener on each HAProxy node that says who it is and who it sees (in /var/tmp: nspawn gives /tmp a tmpfs).
    const listener =
      'import socket, os\n' +
      `s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 3306)); s.listen(8)\n` +
      'while True:\n' +
      `  c, a = s.accept(); c.sendall((os.uname().nodename + ' ' + a[0] + '\\n').encode()); c.close()\n`;
    await fs.writeFile(path.join(labDir(plan.labId), 'containers', 'hwt-dblb-01', 'root', 'var', 'tmp', 'listen.py'), listener);
    await fs.writeFile(path.join(labDir(plan.labId), 'containers', 'hwt-dblb-02', 'root', 'var', 'tmp', 'listen.py'), listener);
    for (const name of ['hwt-dblb-01', 'hwt-dblb-02']) await sh(node(name), 'setsid python3 /var/tmp/listen.py </dev/null >/dev/null 2>&1 &');
    const web = node('hwt-wp-01');
    // The holder sees the web node's own public address, as on DigitalOcean (no NAT of the source on the way).
    await expect.poll(() => greet(web, plan.reservedIp, 3306).catch(() => ''), { timeout: 30_000 }).toBe(`hwt-dblb-01 ${web.ip}`);
    // And on the VPC, the HAProxy node's own private address answers from the web node's private address.
    expect(await greet(web, node('hwt-dblb-02').vpcIp, 3306)).toBe(`hwt-dblb-02 ${web.vpcIp}`);

    const wrong = await api(
      'POST',
      `/v2/reserved_ips/${plan.reservedIp}/actions`,
      { type: 'assign', droplet_id: node('hwt-dblb-02').dropletId },
      'not-the-token',
    );
    expect(wrong).toEqual({ status: 401, json: { id: 'unauthorized', message: 'Unable to authenticate you' } });
    expect((await api('POST', `/v2/reserved_ips/${plan.reservedIp}/actions`, { type: 'assign', droplet_id: 12345 })).status).toBe(422);

    const t = Date.now();
    const actions = `/v2/reserved_ips/${plan.reservedIp}/actions`;
    const moved = await api('POST', actions, { type: 'assign', droplet_id: node('hwt-dblb-02').dropletId });
    expect(moved.status).toBe(201);
    // As on DigitalOcean: in progress first; meanwhile a second action is refused, and the metadata service still names the old holder.
    expect(moved.json.action).toMatchObject({ status: 'in-progress', type: 'assign_ip', resource_type: 'reserved_ip', completed_at: null });
    expect(await api('POST', actions, { type: 'assign', droplet_id: node('hwt-dblb-01').dropletId })).toEqual({
      status: 422,
      json: { id: 'unprocessable_entity', message: 'Droplet already has a pending event.' },
    });
    expect(await metadata(node('hwt-dblb-02'), 'reserved_ip/ipv4/active')).toBe('false');
    const status = async () => (await api('GET', `/v2/actions/${moved.json.action.id}`)).json.action.status as string;
    expect(await status()).toBe('in-progress');
    await expect.poll(status, { timeout: 15_000, interval: 200 }).toBe('completed');
    timings.reservedIpAction = Date.now() - t;
    expect(await greet(web, plan.reservedIp, 3306)).toBe(`hwt-dblb-02 ${web.ip}`);
    timings.reservedIpMove = Date.now() - t;

    const got = await api('GET', `/v2/reserved_ips/${plan.reservedIp}`);
    expect(got.json.reserved_ip).toMatchObject({ ip: plan.reservedIp, droplet: { id: node('hwt-dblb-02').dropletId, name: 'hwt-dblb-02' } });
    expect((await api('GET', `/v2/actions/${moved.json.action.id}`)).json.action).toMatchObject({ id: moved.json.action.id, status: 'completed' });
    expect(await metadata(node('hwt-dblb-02'), 'reserved_ip/ipv4/active')).toBe('true');
    expect(await metadata(node('hwt-dblb-01'), 'reserved_ip/ipv4/active')).toBe('false');

    // The lab's knobs (the drill's): the next assign refused as busy, then assigns that complete at once.
    expect((await api('POST', '/lab/reserved-ip', { refuse_next: 1, delay_ms: 0 })).json).toEqual({ delay_ms: 0, refuse_next: 1, pending: null });
    const again = () => api('POST', actions, { type: 'assign', droplet_id: node('hwt-dblb-02').dropletId });
    expect((await again()).status).toBe(422);
    const quick = await again();
    expect(quick.status).toBe(201);
    await expect
      .poll(async () => (await api('GET', `/v2/actions/${quick.json.action.id}`)).json.action.status, { timeout: 5000, interval: 100 })
      .toBe('completed');
    expect(await greet(web, plan.reservedIp, 3306)).toBe(`hwt-dblb-02 ${web.ip}`);
    // Back to the daemon's own settings, as the drill puts them back after a scenario (through the lab's control).
    expect(await (await lab.labControl(opts))!.reservedIpApi({ reset: true })).toMatchObject({ delay_ms: 3000, refuse_next: 0 });
    expect((await api('POST', '/lab/reserved-ip', { delay_ms: -1 })).status).toBe(422);
  }, 120_000);

  it('the stand-in load balancer answers 503 without healthy web nodes, then serves through the one that passes /healthz', async () => {
    expect(await httpGet(cluster.loadBalancerIp, '/')).toBe(503);
    await sh(
      node('hwt-wp-01'),
      'mkdir -p /tmp/www && echo ok > /tmp/www/healthz && cd /tmp/www && setsid python3 -m http.server 80 </dev/null >/dev/null 2>&1 &',
    );
    await expect.poll(() => httpGet(cluster.loadBalancerIp, '/healthz'), { timeout: 30_000, interval: 250 }).toBe(200);
  }, 120_000);

  it('refuses a lab made before the nodes had two interfaces, saying how to rebuild it, and changes nothing of it', async () => {
    const ws = path.join(path.dirname(opts.workspace), 'old-ws');
    await fs.mkdir(ws, { recursive: true });
    const project = 'hwo';
    const labId = `${project}-${labHash(realpathSync(ws), project)}`;
    const dir = labDir(labId);
    // What an earlier ha-wordpress left: a state without `networks`, and a container.
    const state = { version: 1, labId, project, workspace: realpathSync(ws), octet: 250, image: '', imageDir: '', repoKey: '', nodes: [], created: 'x' };
    await fs.mkdir(path.join(dir, 'containers', `${project}-db-01`), { recursive: true });
    await fs.writeFile(path.join(dir, 'state.json'), JSON.stringify(state));
    try {
      await expect(lab.labUp({ ...opts, workspace: ws, project })).rejects.toThrow(
        /made by an earlier ha-wordpress, with one network interface per node.*`ha-wordpress destroy --yes`.*`ha-wordpress up --restore latest`/,
      );
      expect(JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'))).toEqual(state);
      expect(execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })).not.toContain(labNetNames(labHash(realpathSync(ws), project)).bridge);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a second labUp is quick and changes nothing', async () => {
    const pids = await Promise.all(plan.nodes.map((n) => running(plan.labId, n).then((r) => r?.nspawn)));
    const daemon = readFileSync(path.join(labDir(plan.labId), 'services.pid'), 'utf8');
    const s3 = readFileSync(path.join(labDir(plan.labId), 's3.pid'), 'utf8');
    const t = Date.now();
    const again = await lab.labUp(opts);
    timings.secondUp = Date.now() - t;
    expect(timings.secondUp).toBeLessThan(10_000);
    expect({ ...again, timings: {} }).toEqual({ ...cluster, timings: {} });
    expect(await Promise.all(plan.nodes.map((n) => running(plan.labId, n).then((r) => r?.nspawn)))).toEqual(pids);
    expect(readFileSync(path.join(labDir(plan.labId), 'services.pid'), 'utf8')).toBe(daemon);
    expect(readFileSync(path.join(labDir(plan.labId), 's3.pid'), 'utf8')).toBe(s3);
  }, 60_000);

  it('labUp recovers after the services daemon, the S3 stand-in and a container were killed', async () => {
    const victim = node('hwt-wp-02');
    const nspawn = (await running(plan.labId, victim))!.nspawn;
    const daemon = Number(readFileSync(path.join(labDir(plan.labId), 'services.pid'), 'utf8'));
    const s3 = Number(readFileSync(path.join(labDir(plan.labId), 's3.pid'), 'utf8'));
    process.kill(daemon, 'SIGKILL');
    process.kill(s3, 'SIGKILL');
    process.kill(nspawn, 'SIGKILL');
    const t = Date.now();
    await lab.labUp(opts);
    timings.recoverUp = Date.now() - t;
    const r = await sshRun(victim.ip, 'deploy', 'hostname');
    expect(r.out.trim()).toBe('hwt-wp-02');
    // The reserved IP stays where the API put it.
    expect((await api('GET', `/v2/reserved_ips/${plan.reservedIp}`)).json.reserved_ip.droplet.id).toBe(node('hwt-dblb-02').dropletId);
    expect(await metadata(victim, 'hostname')).toBe('hwt-wp-02');
    const health = await new Promise<string>((resolve, reject) =>
      http.get(`http://${plan.bridgeIp}:8057${S3_HEALTH_PATH}`, (res) => res.setEncoding('utf8').on('data', resolve)).on('error', reject),
    );
    expect(JSON.parse(health).pid).toBe(Number(readFileSync(path.join(labDir(plan.labId), 's3.pid'), 'utf8')));
  }, 180_000);

  it('labDestroy leaves no process, mount, cgroup, link, address, route, nft table, but the backups; is idempotent; purge removes them', async () => {
    const dir = labDir(plan.labId);
    const t = Date.now();
    await lab.labDestroy(opts);
    timings.destroy = Date.now() - t;

    const procs: string[] = [];
    for (const e of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const cl = await fs.readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
      if (cl.includes(dir) || cl.includes(plan.bridge)) procs.push(cl.replace(/\0/g, ' '));
    }
    expect(procs).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'])
      expect(existsSync(path.join(root, CGROUP_DIR, plan.labId))).toBe(false);
    const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' });
    for (const name of [plan.bridge, plan.vpcBridge, ...plan.nodes.flatMap((n) => [`vb-${n.machine}`, `vp-${n.machine}`])]) expect(links).not.toContain(name);
    expect(execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' })).not.toContain(`10.213.${plan.octet}.`);
    expect(execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' })).not.toContain(`10.213.${plan.octet}.`);
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(plan.nftTable);
    expect(existsSync(dir)).toBe(false);
    // The caches stay for the next lab.
    expect(existsSync('/var/cache/ha-wordpress/images')).toBe(true);
    // The backups outlive the lab, like a bucket outlives the droplets.
    const backups = path.join(s3DataDir(plan.labId), 'lab-backups', 'hwt', 'config._S3rver_object');
    expect(existsSync(backups)).toBe(true);

    await lab.labDestroy(opts);
    expect(existsSync(backups)).toBe(true);
    await lab.labDestroy({ ...opts, purge: true });
    expect(existsSync(s3DataDir(plan.labId))).toBe(false);
  }, 120_000);
});
