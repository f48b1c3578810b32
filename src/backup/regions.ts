/**
 * Where backups go: a Spaces region, by default another one than the
 * cluster's so that a regional outage does not take the backups with the
 * cluster (docs/backups.md). And the bucket's name, made once per workspace.
 */
import { randomString } from '../secrets/generate.js';

/** Regions that offer Spaces (docs/spaces.md#regions-and-endpoints; the provider accepts exactly these). */
export const SPACES_REGIONS = ['ams3', 'atl1', 'blr1', 'fra1', 'lon1', 'nyc3', 'sfo2', 'sfo3', 'sgp1', 'syd1', 'tor1'] as const;

/** The lab's stand-in for Spaces answers to this region name. */
export const LAB_BACKUP_REGION = 'lab1';

/**
 * The nearest other metro with Spaces, for each DigitalOcean region (not the
 * same metro: sfo2 and sfo3, or nyc1 and nyc3, share one).
 */
export const BACKUP_REGION_PAIRS: Readonly<Record<string, (typeof SPACES_REGIONS)[number]>> = {
  ams2: 'fra1',
  ams3: 'fra1',
  fra1: 'ams3',
  lon1: 'ams3',
  nyc1: 'tor1',
  nyc2: 'tor1',
  nyc3: 'tor1',
  ric1: 'nyc3',
  tor1: 'nyc3',
  atl1: 'nyc3',
  sfo1: 'tor1',
  sfo2: 'tor1',
  sfo3: 'tor1',
  blr1: 'sgp1',
  sgp1: 'syd1',
  syd1: 'sgp1',
};

/** The default backup region for a cluster region: its pair, else the first Spaces region that is not it. */
export function defaultBackupRegion(clusterRegion: string | undefined): string | undefined {
  if (!clusterRegion) return undefined;
  return BACKUP_REGION_PAIRS[clusterRegion] ?? SPACES_REGIONS.find((r) => r !== clusterRegion);
}

export const backupRegion = (v: string): string | undefined =>
  (SPACES_REGIONS as readonly string[]).includes(v) ? undefined : `"${v}" has no Spaces: use one of ${SPACES_REGIONS.join(' ')}`;

/** The nearest region with Spaces, for the DigitalOcean regions that have none. */
const NEAREST_SPACES: Readonly<Record<string, (typeof SPACES_REGIONS)[number]>> = {
  nyc1: 'nyc3',
  nyc2: 'nyc3',
  ric1: 'nyc3',
  ams2: 'ams3',
  sfo1: 'sfo3',
};

/** The media bucket's default region: the cluster's own (uploads are fetched on every page view), else the nearest with Spaces. */
export function defaultMediaRegion(clusterRegion: string | undefined): string | undefined {
  if (!clusterRegion) return undefined;
  if ((SPACES_REGIONS as readonly string[]).includes(clusterRegion)) return clusterRegion;
  return NEAREST_SPACES[clusterRegion] ?? BACKUP_REGION_PAIRS[clusterRegion];
}

/** A region given for a bucket: one with Spaces; for one without, the error names the nearest that has. */
export const spacesRegion = (v: string): string | undefined => {
  if ((SPACES_REGIONS as readonly string[]).includes(v)) return undefined;
  const near = NEAREST_SPACES[v];
  return near ? `${v} has no Spaces; use ${near}, the nearest region that has` : `"${v}" has no Spaces: use one of ${SPACES_REGIONS.join(' ')}`;
};

/** The warning when the backups would live in the cluster's own region, or undefined. */
export function sameRegionWarning(clusterRegion: string | undefined, region: string | undefined): string | undefined {
  if (!clusterRegion || region !== clusterRegion) return undefined;
  return (
    `--backup-region ${region} is the cluster's own region: an outage of ${region} takes the cluster and its backups together; ` +
    `--backup-region ${defaultBackupRegion(clusterRegion)} keeps them apart`
  );
}

const BUCKET_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * `<project>-backups-<6 random>`: bucket names are unique across every
 * DigitalOcean account, and a deleted one stays taken for a week or more,
 * so the name needs a random part. A project name is 2-40 characters, so
 * the name is 17-55: within S3's 3-63.
 */
export function newBackupBucket(project: string): string {
  return `${project}-backups-${randomString(6, BUCKET_ALPHABET)}`;
}

/** `<project>-media-<6 random>`, for the same reasons as the backup bucket's name. */
export function newMediaBucket(project: string): string {
  return `${project}-media-${randomString(6, BUCKET_ALPHABET)}`;
}

/** S3's bucket naming rules (as DigitalOcean applies them): 3-63 of [a-z0-9.-], no dots (they break TLS on virtual-host URLs). */
export const bucketName = (v: string): string | undefined => {
  if (v.length < 3 || v.length > 63) return 'use 3-63 characters';
  if (!/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(v)) return 'use lowercase letters, digits and hyphens, starting and ending with a letter or digit';
  if (v.includes('--')) return 'must not contain "--"';
  return undefined;
};
