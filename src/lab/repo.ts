/**
 * The lab's own apt repository. The containers have no route out, so every
 * package the roles install must be on the host already: the full dependency
 * closure (Recommends included, as apt and Ansible's apt module install them
 * by default) of ansible/debian-packages.txt, resolved against the base
 * image's installed set. Built with the host's apt pointed at private state
 * (the image's dpkg status, our own lists and archive dir), so it needs no
 * chroot, no mounts, and never touches the host's apt state or locks.
 * Rebuilt only when the list, the image or the mirrors change.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { UserError } from '../errors.js';
import { APT_DIR, CACHE_LOCK, POOL, REPOS, STATE_ROOT, labUpdatesDir } from './dirs.js';
import { SUITE, sweepBuilds } from './image.js';
import { DEFAULT_PACKAGES, parseAptSimulation, parsePackageList, type Mirrors } from './plan.js';
import { exists, removeTree, run, runLong, withLock, type Ctx } from './sys.js';

export const PACKAGE_LIST = 'ansible/debian-packages.txt';
/** The updates channel, empty but valid (an index of no package) until something is published there. */
export async function ensureUpdatesChannel(ctx: Ctx, dir: string): Promise<void> {
  if (await exists(path.join(dir, 'Release'))) return;
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await indexRepo(ctx, dir);
}

/** The stand-in load balancer installs HAProxy from the same repo. */
const LAB_PACKAGES = ['haproxy'];

/** The package list from the workspace (what its site.yml installs), else the package's own, else the built-in default. */
export async function packageList(workspace: string, packageRoot: string): Promise<{ names: string[]; source: string }> {
  for (const file of [path.join(workspace, PACKAGE_LIST), path.join(packageRoot, PACKAGE_LIST)]) {
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return { names: parsePackageList([text, ...LAB_PACKAGES].join('\n')), source: file };
  }
  return { names: parsePackageList([...DEFAULT_PACKAGES, ...LAB_PACKAGES].join('\n')), source: 'the built-in list' };
}

export function repoKey(image: string, names: string[], mirrors: Mirrors): string {
  return createHash('sha256').update(JSON.stringify({ image, names, mirrors })).digest('hex').slice(0, 12);
}

export async function ensureRepo(
  ctx: Ctx,
  o: { image: string; imageDir: string; names: string[]; mirrors: Mirrors; keepKeys?: string[] },
): Promise<{ key: string; dir: string; built: boolean; ms: number; count: number }> {
  const key = repoKey(o.image, o.names, o.mirrors);
  const dir = path.join(REPOS, key);
  const done = async () => ({ key, dir, built: false, ms: 0, count: await countDebs(dir) });
  if (await exists(path.join(dir, 'Release'))) return done();
  return withLock(ctx, CACHE_LOCK, "the lab's cache (/var/cache/ha-wordpress)", async () => {
    if (await exists(path.join(dir, 'Release'))) return done();
    const start = Date.now();
    await fs.mkdir(REPOS, { recursive: true });
    await sweepBuilds(ctx, REPOS);
    if (await exists(dir)) await removeTree(ctx, dir);

    const tmp = path.join(REPOS, `.build-${key}-${process.pid}`);
    const work = path.join(REPOS, `.work-${key}-${process.pid}`);
    ctx.log.info(`Downloading ${o.names.length} packages and their dependencies for the lab's repository (cached in ${REPOS})…`);
    try {
      const files = await download(ctx, o, work);
      ctx.status(`indexing ${files.length} packages…`);
      await fs.mkdir(tmp, { recursive: true });
      for (const f of files) await fs.link(path.join(POOL, f), path.join(tmp, f));
      await indexRepo(ctx, tmp);
      await fs.rename(tmp, dir);
      await removeTree(ctx, work);
      await prune(ctx, key, o.keepKeys ?? []);
      return { key, dir, built: true, ms: Date.now() - start, count: files.length };
    } catch (err) {
      await removeTree(ctx, tmp).catch(() => undefined);
      await removeTree(ctx, work).catch(() => undefined);
      throw err;
    }
  });
}

async function countDebs(dir: string): Promise<number> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.deb')).length;
}

async function download(ctx: Ctx, o: { imageDir: string; names: string[]; mirrors: Mirrors }, work: string): Promise<string[]> {
  const empty = path.join(work, 'empty');
  await fs.mkdir(path.join(work, 'dpkg', 'updates'), { recursive: true });
  await fs.mkdir(path.join(work, 'state'), { recursive: true });
  await fs.mkdir(empty, { recursive: true });
  await fs.mkdir(path.join(APT_DIR, 'lists', 'partial'), { recursive: true });
  await fs.mkdir(path.join(APT_DIR, 'cache'), { recursive: true });
  await fs.mkdir(path.join(POOL, 'partial'), { recursive: true });
  // What the containers have installed: the image's dpkg database.
  await fs.copyFile(path.join(o.imageDir, 'var/lib/dpkg/status'), path.join(work, 'dpkg', 'status'));
  const keyring =
    o.mirrors.keyring ?? ((await exists('/usr/share/keyrings/debian-archive-keyring.gpg')) ? '/usr/share/keyrings/debian-archive-keyring.gpg' : undefined);
  const opt = keyring ? `[signed-by=${keyring}] ` : '';
  const sources = [`deb ${opt}${o.mirrors.main} ${SUITE} main`, `deb ${opt}${o.mirrors.main} ${SUITE}-updates main`];
  if (o.mirrors.security) sources.push(`deb ${opt}${o.mirrors.security} ${SUITE}-security main`);
  await fs.writeFile(path.join(work, 'sources.list'), sources.join('\n') + '\n');

  const aptOpts = [
    `Dir::State=${path.join(work, 'state')}`,
    `Dir::State::status=${path.join(work, 'dpkg', 'status')}`,
    `Dir::State::Lists=${path.join(APT_DIR, 'lists')}`,
    `Dir::Cache=${path.join(APT_DIR, 'cache')}`,
    `Dir::Cache::archives=${POOL}`,
    `Dir::Etc::sourcelist=${path.join(work, 'sources.list')}`,
    `Dir::Etc::sourceparts=${empty}`,
    `Dir::Etc::preferences=${path.join(empty, 'none')}`,
    `Dir::Etc::preferencesparts=${empty}`,
    'APT::Install-Recommends=true',
    'APT::Install-Suggests=false',
    'Acquire::Languages=none',
    'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false',
    'Acquire::Retries=3',
  ].flatMap((x) => ['-o', x]);

  ctx.status("apt: reading the Debian mirror's package lists…");
  await runLong(ctx, 'apt-get', [...aptOpts, 'update'], { timeoutMs: 10 * 60_000 }).catch((err: Error) => {
    throw new UserError(
      `apt-get update against ${o.mirrors.main} failed (${err.message.slice(0, 200)}); ` +
        'check that this machine reaches the Debian mirror, then run the command again',
    );
  });
  const sim = await run(ctx, 'apt-get', [...aptOpts, '-s', 'install', ...o.names], { timeoutMs: 5 * 60_000 }).catch((err: Error) => {
    throw new UserError(
      `the lab's package list cannot be installed on Debian 12 (${err.message.slice(0, 300)}); fix ${PACKAGE_LIST}, then run the command again`,
    );
  });
  const plan = parseAptSimulation(sim.stdout);
  if (plan.length === 0) throw new UserError(`apt resolved no packages for ${o.names.join(' ')}; see ${ctx.logFile ?? 'the lab log'}`);
  let got = 0;
  ctx.status(`apt: downloading ${plan.length} packages…`);
  await runLong(ctx, 'apt-get', [...aptOpts, '-y', '--download-only', 'install', ...o.names], {
    timeoutMs: 30 * 60_000,
    onLine: (line) => {
      if (/^Get:\d+/.test(line)) ctx.status(`apt: downloading packages (${++got}/${plan.length})…`);
    },
  }).catch((err: Error) => {
    throw new UserError(
      `downloading the lab's packages failed (${err.message.slice(0, 200)}); check that this machine reaches the Debian mirror, then run the command again`,
    );
  });
  const missing: string[] = [];
  for (const p of plan) if (!(await exists(path.join(POOL, p.file)))) missing.push(p.file);
  if (missing.length)
    throw new UserError(`apt did not leave ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ' …' : ''} in ${POOL}; see ${ctx.logFile ?? 'the lab log'}`);
  return plan.map((p) => p.file);
}

/**
 * Indexes a directory of .debs as a flat repository apt reads with
 * [trusted=yes]: Packages, Packages.gz and a Release with their sums. The lab
 * repository is indexed once when it is built; the updates channel whenever
 * a package is published there.
 */
export async function indexRepo(ctx: Ctx, dir: string): Promise<void> {
  const scan = await run(ctx, 'dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], { cwd: dir, timeoutMs: 10 * 60_000 });
  const packages = Buffer.from(scan.stdout, 'utf8');
  await fs.writeFile(path.join(dir, 'Packages'), packages);
  const gz = gzipSync(packages, { level: 9 });
  await fs.writeFile(path.join(dir, 'Packages.gz'), gz);
  const sum = (algo: string, b: Buffer) => createHash(algo).update(b).digest('hex');
  const files: [string, Buffer][] = [
    ['Packages', packages],
    ['Packages.gz', gz],
  ];
  // A Release file makes apt treat this as an ordinary (if unsigned, hence [trusted=yes]) flat repository.
  const release = [
    'Origin: ha-wordpress',
    'Label: ha-wordpress local lab',
    'Suite: lab',
    'Codename: lab',
    `Date: ${new Date().toUTCString()}`,
    'Description: Debian 12 packages for the ha-wordpress local lab',
    'MD5Sum:',
    ...files.map(([n, b]) => ` ${sum('md5', b)} ${b.length} ${n}`),
    'SHA256:',
    ...files.map(([n, b]) => ` ${sum('sha256', b)} ${b.length} ${n}`),
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'Release'), release);
}

/** Drops repos no lab uses any more, and pool files no repo links to. */
async function prune(ctx: Ctx, current: string, keep: string[]): Promise<void> {
  const used = new Set([current, ...keep]);
  for (const lab of await fs.readdir(STATE_ROOT).catch(() => [] as string[])) {
    const state = await fs.readFile(path.join(STATE_ROOT, lab, 'state.json'), 'utf8').catch(() => '');
    const m = state.match(/"repoKey":\s*"([0-9a-f]+)"/);
    if (m) used.add(m[1]!);
  }
  for (const e of await fs.readdir(REPOS)) if (!e.startsWith('.') && !used.has(e)) await removeTree(ctx, path.join(REPOS, e));
  for (const f of await fs.readdir(POOL)) {
    if (!f.endsWith('.deb')) continue;
    const st = await fs.stat(path.join(POOL, f)).catch(() => undefined);
    if (st && st.nlink === 1) await fs.rm(path.join(POOL, f), { force: true });
  }
}

/**
 * A point release, as Debian publishes one: the lab repository's `.deb` of
 * `pkg` at `version` built again with a higher version (`<version>+hawpN`),
 * put in the lab's updates channel and indexed, so the nodes' next
 * `apt-get update` sees an upgrade. What `drill --scenario rolling-upgrade`
 * (and the lab test of `upgrade`) upgrades. The new version.
 */
export async function publishPointRelease(ctx: Ctx, labId: string, pkg: string, version: string): Promise<string> {
  const debName = (v: string) => `${pkg}_${v.replace(/:/g, '%3a')}_amd64.deb`;
  let deb: string | undefined;
  for (const d of await fs.readdir(REPOS).catch(() => [] as string[]))
    if (await exists(path.join(REPOS, d, debName(version)))) deb = path.join(REPOS, d, debName(version));
  if (!deb) throw new UserError(`the lab's repository (${REPOS}) has no ${debName(version)} to publish a point release of`);
  const updates = labUpdatesDir(labId);
  const taken = new Set(await fs.readdir(updates).catch(() => [] as string[]));
  let n = 1;
  while (taken.has(debName(`${version}+hawp${n}`))) n++;
  const next = `${version}+hawp${n}`;
  const unpacked = await fs.mkdtemp(path.join(updates, '.build-'));
  try {
    await run(ctx, 'dpkg-deb', ['-R', deb, unpacked], { timeoutMs: 5 * 60_000 });
    const control = path.join(unpacked, 'DEBIAN', 'control');
    await fs.writeFile(control, (await fs.readFile(control, 'utf8')).replace(/^Version: .*$/m, `Version: ${next}`));
    await run(ctx, 'dpkg-deb', ['-b', unpacked, path.join(updates, debName(next))], { timeoutMs: 5 * 60_000 });
  } finally {
    await removeTree(ctx, unpacked);
  }
  await indexRepo(ctx, updates);
  return next;
}
