/**
 * The Debian 12 base image every container starts from: debootstrap minbase
 * plus what a DigitalOcean image has (systemd, sshd, python3, sudo and
 * cloud-init), prepared once and cached. It is the read-only lower
 * layer of every container's overlay, so it is never modified after it is
 * built: a changed recipe makes a new image under a new name, and labs keep
 * the image they were created on.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { CLOUD_CFG } from './cloud-init.js';
import { CACHE_LOCK, IMAGES } from './dirs.js';
import type { Mirrors } from './plan.js';
import { alive, exists, findProcesses, killProcesses, removeTree, run, runLong, withLock, type Ctx } from './sys.js';

export const SUITE = 'bookworm';
const INCLUDE = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'python3',
  'iproute2',
  'sudo',
  'iputils-ping',
  'ca-certificates',
  'libpam-systemd',
  'procps',
];
/**
 * Installed with apt after debootstrap, whose own dependency resolution
 * cannot follow theirs (virtual packages, alternatives). cloud-init makes
 * the admin user from the droplets' own cloud-config (cloud-init.ts).
 */
const APT_INSTALL = ['cloud-init'];
/** Bump when the preparation below changes: a new image is built beside the old one. */
const RECIPE = 5;
export const IMAGE_MARKER = 'etc/ha-wordpress-image';

export function imageName(): string {
  const h = createHash('sha256')
    .update(`${SUITE} ${RECIPE} ${INCLUDE.join(',')} ${APT_INSTALL.join(',')}`)
    .digest('hex')
    .slice(0, 8);
  return `debian-12-${h}`;
}

/**
 * Removes build dirs of killed runs (`.build-<name>-<pid>`, `.work-<key>-<pid>`)
 * whose pid is gone; a live pid means someone is building right now.
 */
export async function sweepBuilds(ctx: Ctx, dir: string): Promise<void> {
  for (const e of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = e.match(/^\.(?:build|work)-.*-(\d+)$/);
    if (!m || alive(Number(m[1]))) continue;
    // A run killed with SIGKILL leaves its debootstrap or apt-get running, still writing there.
    const target = path.join(dir, e);
    for (let i = 0; i < 5; i++) {
      const left = await findProcesses([target]);
      if (!left.length) break;
      await killProcesses(left, 2000);
    }
    await removeTree(ctx, target);
  }
}

export async function ensureImage(ctx: Ctx, mirrors: Mirrors): Promise<{ name: string; dir: string; built: boolean; ms: number }> {
  const name = imageName();
  const dir = path.join(IMAGES, name);
  if (await exists(path.join(dir, IMAGE_MARKER))) return { name, dir, built: false, ms: 0 };
  return withLock(ctx, CACHE_LOCK, "the lab's cache (/var/cache/ha-wordpress)", async () => {
    if (await exists(path.join(dir, IMAGE_MARKER))) return { name, dir, built: false, ms: 0 };
    const start = Date.now();
    await fs.mkdir(IMAGES, { recursive: true });
    // Half-built images of killed runs (we hold the lock, so nobody is building them).
    await sweepBuilds(ctx, IMAGES);
    // A final dir without the marker cannot come from us (we rename only complete builds); do not trust it.
    if (await exists(dir)) await removeTree(ctx, dir);

    const tmp = path.join(IMAGES, `.build-${name}-${process.pid}`);
    ctx.log.info(`Building the Debian 12 base image for the lab (once; cached in ${IMAGES})…`);
    ctx.status('debootstrap: Debian 12 base image…');
    const keyring =
      mirrors.keyring ?? ((await exists('/usr/share/keyrings/debian-archive-keyring.gpg')) ? '/usr/share/keyrings/debian-archive-keyring.gpg' : undefined);
    let n = 0;
    try {
      await runLong(
        ctx,
        'debootstrap',
        ['--variant=minbase', `--include=${INCLUDE.join(',')}`, '--components=main', ...(keyring ? [`--keyring=${keyring}`] : []), SUITE, tmp, mirrors.main],
        {
          timeoutMs: 20 * 60_000,
          onLine: (line) => {
            const m = line.match(/^I: (Retrieving|Validating|Unpacking|Configuring|Extracting|Installing)/);
            if (m) ctx.status(`debootstrap: ${m[1]!.toLowerCase()} packages (${++n})…`);
          },
        },
      );
    } catch (err) {
      await removeTree(ctx, tmp).catch(() => undefined);
      throw new UserError(
        `debootstrap of Debian 12 from ${mirrors.main} failed (${(err as Error).message.slice(0, 200)}); ` +
          `check that this machine reaches that mirror (see ${ctx.logFile ?? 'the lab log'}), then run the command again`,
      );
    }
    try {
      ctx.status(`installing ${APT_INSTALL.join(', ')} into the base image…`);
      await aptInstall(ctx, tmp, mirrors);
    } catch (err) {
      await removeTree(ctx, tmp).catch(() => undefined);
      throw new UserError(
        `installing ${APT_INSTALL.join(', ')} into the lab's base image from ${mirrors.main} failed (${(err as Error).message.slice(0, 200)}); ` +
          `see ${ctx.logFile ?? 'the lab log'}, then run the command again`,
      );
    }
    ctx.status('preparing the base image…');
    await prepare(ctx, tmp);
    await fs.writeFile(path.join(tmp, IMAGE_MARKER), `${name}\nbuilt ${new Date().toISOString()} from ${mirrors.main}\n`);
    await fs.rename(tmp, dir);
    return { name, dir, built: true, ms: Date.now() - start };
  });
}

/** APT_INSTALL into the debootstrapped tree, from the mirror debootstrap used (its sources are blanked by prepare). */
async function aptInstall(ctx: Ctx, root: string, mirrors: Mirrors): Promise<void> {
  const at = (p: string) => path.join(root, p);
  // The mirror's key: the one debootstrap was given, else the image's own Debian keyring.
  const keyring = mirrors.keyring ? '/etc/apt/trusted.gpg.d/ha-wordpress-mirror.gpg' : undefined;
  if (mirrors.keyring) await fs.copyFile(mirrors.keyring, at(keyring!));
  await fs.writeFile(at('etc/apt/sources.list'), `deb ${mirrors.main} ${SUITE} main\n`);
  // The host's name service for the mirror (prepare blanks it again); apt's maintainer scripts want /proc.
  await fs.rm(at('etc/resolv.conf'), { force: true });
  await fs.copyFile('/etc/resolv.conf', at('etc/resolv.conf')).catch(() => undefined);
  await run(ctx, 'mount', ['-t', 'proc', 'proc', at('proc')]);
  try {
    await run(ctx, 'chroot', [root, 'apt-get', '-q', 'update'], { timeoutMs: 10 * 60_000 });
    await run(ctx, 'chroot', [root, 'apt-get', '-q', '-y', '--no-install-recommends', 'install', ...APT_INSTALL], { timeoutMs: 20 * 60_000 });
    // The locale cloud-init sets (its default, en_US.UTF-8), generated as on DigitalOcean's image:
    // minbase generates none, and cloud-init's locale module then fails the boot.
    const gen = at('etc/locale.gen');
    const listed = await fs.readFile(gen, 'utf8').catch(() => '');
    if (!/^en_US\.UTF-8 UTF-8$/m.test(listed)) await fs.writeFile(gen, `${listed.replace(/\n?$/, '\n')}en_US.UTF-8 UTF-8\n`);
    await run(ctx, 'chroot', [root, 'locale-gen'], { timeoutMs: 5 * 60_000 });
  } finally {
    await run(ctx, 'umount', [at('proc')]).catch(() => undefined);
    if (keyring) await fs.rm(at(keyring), { force: true });
  }
}

/** Turns a fresh debootstrap into something that boots as many distinct machines (docs/lab.md#the-base-image). */
async function prepare(ctx: Ctx, root: string): Promise<void> {
  const at = (p: string) => path.join(root, p);
  // debootstrap leaves mounts behind only when killed, but be sure before anything copies this tree.
  for (const p of ['proc', 'sys', 'dev/pts']) await run(ctx, 'umount', [at(p)]).catch(() => undefined);
  // Identity is per container: written by provisioning before each first boot.
  await fs.rm(at('etc/hostname'), { force: true });
  await fs.writeFile(at('etc/machine-id'), '');
  for (const f of await fs.readdir(at('etc/ssh'))) if (f.startsWith('ssh_host_')) await fs.rm(at(`etc/ssh/${f}`));
  // cloud-init makes each container's keys at its first boot, before sshd starts (as on a droplet);
  // this drop-in only repairs a container whose keys went missing.
  // `sshd -t` must come after the keys, so the list is reset and rebuilt.
  await fs.mkdir(at('etc/systemd/system/ssh.service.d'), { recursive: true });
  await fs.writeFile(
    at('etc/systemd/system/ssh.service.d/10-ha-wordpress-hostkeys.conf'),
    '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n',
  );
  // The containers have no DNS and no route out; only the lab repo (written per container) is a source.
  await fs.rm(at('etc/resolv.conf'), { force: true });
  await fs.writeFile(at('etc/resolv.conf'), '');
  await fs.writeFile(at('etc/apt/sources.list'), '');
  await run(ctx, 'chroot', [root, 'apt-get', 'clean']);
  for (const f of await fs.readdir(at('var/lib/apt/lists')).catch(() => [] as string[]))
    if (f !== 'partial' && f !== 'lock') await fs.rm(at(`var/lib/apt/lists/${f}`), { force: true, recursive: true });
  await fs.mkdir(at('etc/cloud/cloud.cfg.d'), { recursive: true });
  await fs.writeFile(at('etc/cloud/cloud.cfg.d/90-ha-wordpress-lab.cfg'), CLOUD_CFG);
  await run(ctx, 'chroot', [root, 'systemctl', 'enable', 'systemd-networkd.service', 'systemd-networkd.socket', 'ssh.service']);
  // wait-online would hold boot for two minutes on a network it cannot judge; the apt timers would race the roles' apt.
  await run(ctx, 'chroot', [root, 'systemctl', 'mask', 'systemd-networkd-wait-online.service', 'apt-daily.timer', 'apt-daily-upgrade.timer']);
}
