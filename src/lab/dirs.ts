/**
 * Where the lab keeps things on the machine. Labs live outside the workspace
 * (container upper dirs grow to gigabytes, and the workspace may sit on a
 * filesystem that cannot hold overlay upper dirs); caches are shared by every
 * lab on the machine and survive labDestroy.
 */
import path from 'node:path';

export const STATE_ROOT = '/var/lib/ha-wordpress/labs';
export const CACHE_ROOT = '/var/cache/ha-wordpress';
export const IMAGES = path.join(CACHE_ROOT, 'images');
export const REPOS = path.join(CACHE_ROOT, 'repos');
/** Every .deb downloaded for any repo; repos hard-link into it. */
export const POOL = path.join(CACHE_ROOT, 'pool');
/** apt's lists and binary caches for the downloads (never the host's own). */
export const APT_DIR = path.join(CACHE_ROOT, 'apt');
export const CACHE_LOCK = path.join(CACHE_ROOT, '.lock');
/** The per-lab locks live beside (not in) the lab dirs, which labDestroy removes. */
export const LOCKS = '/var/lib/ha-wordpress/locks';
/** cgroup directory (under each hierarchy root) holding one cgroup per container. */
export const CGROUP_DIR = 'ha-wordpress';

/**
 * The S3 stand-in's buckets, one directory per lab: beside the labs, not in
 * one, because labDestroy removes the lab's directory and a backup must
 * outlive the lab the way a Spaces bucket outlives the droplets. Only
 * `destroy --purge` removes a lab's.
 */
export const S3_ROOT = '/var/lib/ha-wordpress/s3';

export const labDir = (labId: string) => path.join(STATE_ROOT, labId);
/**
 * The lab's updates channel: a second flat repository, empty until someone
 * puts newer .debs there and indexes them (repo.ts's indexRepo), as Debian
 * publishes a point release; `ha-wordpress upgrade` then finds them
 * (docs/lab.md#updates).
 */
export const labUpdatesDir = (labId: string) => path.join(labDir(labId), 'updates');
export const s3DataDir = (labId: string) => path.join(S3_ROOT, labId);
export const labLock = (labId: string) => path.join(LOCKS, `${labId}.lock`);
