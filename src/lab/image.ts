/**
 * The Debian 12 base image every container starts from: debootstrap minbase
 * plus what a DigitalOcean image gives cloud-init to work with (systemd,
 * sshd, python3, sudo), prepared once and cached. It is the read-only lower
 * layer of every container's overlay, so it is never modified after it is
 * built: a changed recipe makes a new image under a new name, and labs keep
 * the image they were created on.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
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
/** Bump when the preparation below changes: a new image is built beside the old one. */
const RECIPE = 3;
export const IMAGE_MARKER = 'etc/ha-wordpress-image';

export function imageName(): string {
  const h = createHash('sha256')
    .update(`${SUITE} ${RECIPE} ${INCLUDE.join(',')}`)
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
    ctx.status('preparing the base image…');
    await prepare(ctx, tmp);
    await fs.writeFile(path.join(tmp, IMAGE_MARKER), `${name}\nbuilt ${new Date().toISOString()} from ${mirrors.main}\n`);
    await fs.rename(tmp, dir);
    return { name, dir, built: true, ms: Date.now() - start };
  });
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
  // Keys are generated at provisioning; this drop-in only repairs a container whose keys went missing.
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
  await run(ctx, 'chroot', [root, 'systemctl', 'enable', 'systemd-networkd.service', 'systemd-networkd.socket', 'ssh.service']);
  // wait-online would hold boot for two minutes on a network it cannot judge; the apt timers would race the roles' apt.
  await run(ctx, 'chroot', [root, 'systemctl', 'mask', 'systemd-networkd-wait-online.service', 'apt-daily.timer', 'apt-daily-upgrade.timer']);
}
