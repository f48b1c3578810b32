/**
 * The backup settings: the schedule's OnCalendar subset (cross-checked with
 * systemd's own parser where there is one), the keep-policy, the backup
 * region and bucket, and what they make of ha-wordpress.yml and the flags.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  bucketName as backupBucket,
  backupRegion,
  BACKUP_REGION_PAIRS,
  defaultBackupRegion,
  newBackupBucket,
  sameRegionWarning,
  SPACES_REGIONS,
} from '../src/backup/regions.js';
import { DEFAULT_RETENTION, parseRetention, retentionMap } from '../src/backup/retention.js';
import { checkSchedule, MIN_INTERVAL_MINUTES } from '../src/backup/schedule.js';
import { UsageError } from '../src/errors.js';
import { readSettings } from '../src/settings/stored.js';
import { precheck } from '../src/settings/resolve.js';
import { SETTING } from '../src/settings/table.js';
import { buildSecrets, ROTATE_NAMES, rotateRefusal } from '../src/secrets/catalog.js';

const ACCEPTED: [string, number, number][] = [
  // expression, shortest gap, longest gap (minutes)
  ['hourly', 60, 60],
  ['daily', 1440, 1440],
  ['weekly', 10080, 10080],
  ['monthly', 28 * 1440, 31 * 1440],
  ['*:0/15', 15, 15],
  ['*:0/30', 30, 30],
  ['*-*-* *:00/30:00', 30, 30],
  ['*:00,30', 30, 30],
  ['*-*-* 02:30', 1440, 1440],
  ['02:30:00', 1440, 1440],
  ['0/6:00', 360, 360],
  ['*-*-* 00/6:15', 360, 360],
  ['*-*-* 1..5:00', 60, 20 * 60],
  ['Mon..Fri 02:00', 1440, 3 * 1440],
  ['Mon,Fri *-*-* 02:00', 3 * 1440, 4 * 1440],
  ['*-*-01 03:00', 28 * 1440, 31 * 1440],
  ['Sat *-*-1..7 04:00', 28 * 1440, 35 * 1440],
  ['*:10,25,40,55', 15, 15],
];

const TOO_OFTEN = ['*:0/5', '*:*', '*:0/14', '*:00,10', '*-*-* *:0/1:00', '*:05,55'];
const REFUSED: [string, RegExp][] = [
  ['', /hourly, daily/],
  ['every hour', /not a weekday/],
  ['*:*/15', /write 0\/15/],
  ['*-*-* 24:00', /hour 24 is out of range/],
  ['*-*-* 02:60', /minute 60 is out of range/],
  ['*-*-* 02:00:30', /seconds as 00/],
  ['2030-*-* 02:00', /year as \*/],
  ['*-02-30 02:00', /never runs/],
  ['*-*-* 5..2:00', /smaller value to the larger/],
  ['Funday 02:00', /not a weekday/],
  ['*-*-* 02:00 extra', /not understood/],
  ['*:0/0', /step after \/ must be a whole number of at least 1/],
];

const HAVE_SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0;
const NO_SYSTEMD = HAVE_SYSTEMD_ANALYZE ? '' : ' (skipped: no systemd-analyze on PATH)';

/** systemd's own idea of the next runs (UTC), or an error. */
function systemdRuns(expr: string, n: number): { ok: true; times: number[] } | { ok: false } {
  const r = spawnSync('systemd-analyze', ['calendar', `--iterations=${n}`, expr], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  if (r.status !== 0) return { ok: false };
  const times = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/g)].map(
    (m) => Date.parse(`${m[1]!.replace(' ', 'T')}Z`) / 60_000,
  );
  return { ok: true, times };
}

describe('--backup-schedule: a checked subset of systemd OnCalendar', () => {
  it.each(ACCEPTED)('accepts %s (gaps %i to %i minutes)', (expr, min, max) => {
    const r = checkSchedule(expr);
    expect(r).toEqual({ ok: true, schedule: { minGapMinutes: min, maxGapMinutes: max } });
  });

  it.each(TOO_OFTEN)('refuses %s: more often than every 15 minutes, and says so', (expr) => {
    const r = checkSchedule(expr);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(new RegExp(`at most every ${MIN_INTERVAL_MINUTES} minutes`));
  });

  it.each(REFUSED)('refuses %j with what to write instead', (expr, why) => {
    const r = checkSchedule(expr);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toMatch(why);
      expect(r.problem).not.toMatch(/\n/);
    }
  });

  it.skipIf(!HAVE_SYSTEMD_ANALYZE)(`systemd-analyze calendar accepts every accepted expression and agrees on the shortest gap${NO_SYSTEMD}`, () => {
    for (const [expr, min] of ACCEPTED) {
      const r = systemdRuns(expr, 60);
      expect(r.ok, expr).toBe(true);
      if (!r.ok) continue;
      const gaps = r.times.slice(1).map((t, i) => t - r.times[i]!);
      // 60 runs of a sparse schedule may not include its tightest pair; a dense one must.
      expect(Math.min(...gaps), expr).toBeGreaterThanOrEqual(min);
      if (min < 1440) expect(Math.min(...gaps), expr).toBe(min);
    }
  });

  it.skipIf(!HAVE_SYSTEMD_ANALYZE)(`systemd itself would run each refused-as-too-often expression more often than every 15 minutes${NO_SYSTEMD}`, () => {
    for (const expr of TOO_OFTEN) {
      const r = systemdRuns(expr, 10);
      expect(r.ok, expr).toBe(true);
      if (!r.ok) continue;
      const gaps = r.times.slice(1).map((t, i) => t - r.times[i]!);
      expect(Math.min(...gaps), expr).toBeLessThan(MIN_INTERVAL_MINUTES);
    }
  });

  it.skipIf(!HAVE_SYSTEMD_ANALYZE)(`what systemd refuses as syntax is refused here too${NO_SYSTEMD}`, () => {
    for (const expr of ['*:*/15', '*-*-* 24:00', '*-*-* 02:60', 'Funday 02:00', '*-*-* 02:00 extra']) {
      expect(systemdRuns(expr, 1).ok, expr).toBe(false);
      expect(checkSchedule(expr).ok, expr).toBe(false);
    }
  });
});

describe('--backup-retention', () => {
  it('reads rule=count pairs, any subset, in any order', () => {
    expect(parseRetention(DEFAULT_RETENTION)).toEqual({ ok: true, retention: { hourly: 24, daily: 7, weekly: 4, monthly: 6 } });
    expect(parseRetention('daily=30')).toEqual({ ok: true, retention: { daily: 30 } });
    expect(parseRetention(' monthly = 12 , hourly=0')).toEqual({ ok: true, retention: { monthly: 12, hourly: 0 } });
    expect(retentionMap('daily=30')).toEqual({ hourly: 0, daily: 30, weekly: 0, monthly: 0 });
  });

  it.each([
    ['', /rule=count pairs/],
    ['24h,7d', /"24h" is not a rule/],
    ['yearly=2', /"yearly" is not a rule: use hourly, daily, weekly, monthly/],
    ['daily=7,daily=8', /daily is given twice/],
    ['daily=-1', /whole number from 0 to 1000/],
    ['daily=7.5', /whole number/],
    ['hourly=100000', /whole number from 0 to 1000/],
    ['hourly=0,daily=0', /every snapshot would be deleted/],
  ])('refuses %j', (text, why) => {
    const r = parseRetention(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(why);
  });
});

describe('--backup-region and the backup bucket', () => {
  it('pairs every DigitalOcean region with a Spaces region in another metro', () => {
    for (const [region, backup] of Object.entries(BACKUP_REGION_PAIRS)) {
      expect(SPACES_REGIONS).toContain(backup);
      expect(backup.slice(0, 3), region).not.toBe(region.slice(0, 3));
    }
    expect(defaultBackupRegion('fra1')).toBe('ams3');
    expect(defaultBackupRegion('nyc1')).toBe('tor1');
    // A region this version does not know still gets another one.
    expect(defaultBackupRegion('xyz9')).toBe('ams3');
    expect(defaultBackupRegion(undefined)).toBeUndefined();
  });

  it('takes only regions with Spaces', () => {
    for (const r of SPACES_REGIONS) expect(backupRegion(r)).toBeUndefined();
    expect(backupRegion('nyc1')).toMatch(/"nyc1" has no Spaces: use one of ams3 atl1/);
    expect(backupRegion('lab1')).toMatch(/has no Spaces/);
  });

  it("warns, naming the outage, when the backups would share the cluster's region", () => {
    expect(sameRegionWarning('fra1', 'fra1')).toMatch(/outage of fra1 takes the cluster and its backups together; --backup-region ams3/);
    expect(sameRegionWarning('fra1', 'ams3')).toBeUndefined();
    expect(sameRegionWarning(undefined, 'ams3')).toBeUndefined();
  });

  it('names buckets <project>-backups-<6 random>, within the S3 rules, different each time', () => {
    const longest = 'a'.repeat(40);
    const names = Array.from({ length: 50 }, () => newBackupBucket('shop'));
    for (const n of [...names, newBackupBucket(longest)]) {
      expect(n).toMatch(/^[a-z0-9-]+-backups-[a-z0-9]{6}$/);
      expect(backupBucket(n)).toBeUndefined();
    }
    expect(newBackupBucket(longest).length).toBeLessThanOrEqual(63);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each([
    ['ab', /3-63/],
    ['a'.repeat(64), /3-63/],
    ['Shop-backups', /lowercase/],
    ['shop.backups', /lowercase letters, digits and hyphens/],
    ['-shop', /starting and ending/],
    ['shop--backups', /"--"/],
  ])('refuses the bucket name %j', (name, why) => {
    expect(backupBucket(name)).toMatch(why);
  });
});

describe('the backup settings in ha-wordpress.yml and on the command line', () => {
  const doFile = { target: 'digitalocean', project: 'shop', region: 'fra1' };

  it('defaults: hourly, the default keep-policy, the paired region; the bucket only when stored', () => {
    const { settings } = readSettings({ ...doFile, 'backup-bucket': 'shop-backups-abc123' });
    expect(settings).toMatchObject({
      backupSchedule: 'hourly',
      backupRetention: DEFAULT_RETENTION,
      backupRegion: 'ams3',
      backupBucket: 'shop-backups-abc123',
    });
    // An older workspace has no bucket: up says to run init (backup/spaces.ts), not a made-up name per read.
    expect(readSettings(doFile).settings.backupBucket).toBeUndefined();
    // The lab has no region flag: its stand-in is always lab1.
    expect(readSettings({ target: 'local', project: 'shop' }).settings.backupRegion).toBeUndefined();
  });

  it("a hand edit that breaks a rule gets the flag's one-line error", () => {
    const bad: [string, string, RegExp][] = [
      ['backup-schedule', '*:0/5', /^--backup-schedule \(from ha-wordpress\.yml\): .*at most every 15 minutes.*; fix ha-wordpress\.yml/],
      ['backup-retention', 'daily=0', /^--backup-retention \(from ha-wordpress\.yml\): every rule is 0/],
      ['backup-region', 'nyc1', /^--backup-region \(from ha-wordpress\.yml\): "nyc1" has no Spaces/],
      ['backup-bucket', 'Bad_Name', /^--backup-bucket \(from ha-wordpress\.yml\): use lowercase/],
    ];
    for (const [key, value, why] of bad) {
      let message = '';
      try {
        readSettings({ ...doFile, [key]: value });
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        message = (err as Error).message;
      }
      expect(message).toMatch(why);
      expect(message).not.toMatch(/\n/);
    }
  });

  it('flags are checked before anything runs, each bad one named at once', () => {
    const problems = precheck(
      'digitalocean',
      { backupSchedule: 'every minute', backupRetention: '24h', backupRegion: 'nyc1', backupBucket: 'x' },
      {},
      { region: 'fra1', project: 'shop' },
      new Set(['token', 'vaultPasswordFile']),
    );
    expect(problems.filter((p) => p.startsWith('--backup-'))).toHaveLength(4);
    for (const flag of ['schedule', 'retention', 'region', 'bucket']) expect(problems.join('\n')).toMatch(new RegExp(`^--backup-${flag}: `, 'm'));
  });

  it('--help explains the keep-policy with an example, and the schedule limit', () => {
    expect(SETTING.backupRetention.description).toContain('e.g. hourly=24,daily=7,weekly=4,monthly=6 keeps the last 24 hourly');
    expect(SETTING.backupSchedule.description).toContain('at most every 15 minutes');
    const help = execFileSync(process.execPath, ['bin/ha-wordpress.js', 'init', '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/Backups:\n\s+--backup-schedule <when>/);
    expect(help).toMatch(/--backup-retention <rules>[\s\S]*\(default:\s+hourly=24,daily=7,weekly=4,monthly=6\)/);
  });
});

describe('the backup secrets', () => {
  // buildSecrets only places the database certificates (init makes them with openssl).
  const dbTls = { material: { ca: 'CA', server: { cert: 'S', key: 'SK' }, client: { cert: 'C', key: 'CK' } }, state: 'new' as const };
  const base = { given: {}, haproxyStatsUser: 'haproxy-stats', rotate: new Set<string>(), failoverFollowsApiToken: true, dbTls };

  it('the lab gets a made-up bucket key at once; DigitalOcean waits for up to make one through the API', () => {
    const lab = buildSecrets({ ...base, target: 'local' }).vaults.all;
    expect(lab.vault_backup_s3_access_key_id).toMatch(/^[A-Z0-9]{20}$/);
    expect(lab.vault_backup_s3_secret_access_key).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(lab.vault_backup_restic_password).toMatch(/^[A-Za-z0-9]{32}$/);
    const cloud = buildSecrets({ ...base, target: 'digitalocean', apiToken: 'dop_v1_x' }).vaults.all;
    expect(cloud.vault_backup_s3_access_key_id).toBe('');
    expect(cloud.vault_backup_s3_secret_access_key).toBe('');
  });

  it('keeps them on re-init, --rotate all included: the restic password encrypts every backup', () => {
    const first = buildSecrets({ ...base, target: 'local' }).vaults;
    const again = buildSecrets({ ...base, target: 'local', existing: first, rotate: new Set(['all']) }).vaults;
    expect(again.all.vault_backup_restic_password).toBe(first.all.vault_backup_restic_password);
    expect(again.all.vault_backup_s3_access_key_id).toBe(first.all.vault_backup_s3_access_key_id);
    expect(again.all.vault_wp_db_pass).not.toBe(first.all.vault_wp_db_pass);
    const upMade = {
      ...first,
      all: { ...first.all, vault_backup_s3_access_key_id: 'DO00ABCDEFGHIJKLMNOP', vault_backup_s3_secret_access_key: 's'.repeat(43) },
    };
    const cloud = buildSecrets({ ...base, target: 'digitalocean', apiToken: 'dop_v1_x', existing: upMade }).vaults.all;
    expect(cloud.vault_backup_s3_access_key_id).toBe('DO00ABCDEFGHIJKLMNOP');
  });

  it("--backup-password: a new workspace takes an old one's (to read its bucket); a workspace that has one keeps it and refuses another", () => {
    const old = 'Old-Workspace-Pass-1234';
    const taken = buildSecrets({ ...base, target: 'local', given: { backupPassword: old } }).vaults;
    expect(taken.all.vault_backup_restic_password).toBe(old);
    // The same one again is no change.
    expect(buildSecrets({ ...base, target: 'local', existing: taken, given: { backupPassword: old } }).vaults.all.vault_backup_restic_password).toBe(old);
    expect(() => buildSecrets({ ...base, target: 'local', existing: taken, given: { backupPassword: 'Another-Pass-56789' } })).toThrow(
      /^--backup-password: this workspace already has one, and its backups need it; .*restic key add.*\(nothing was changed\)$/,
    );
  });

  it('--rotate backup-restic-password is refused with why and what to do', () => {
    expect(ROTATE_NAMES).not.toContain('backup-restic-password');
    expect(rotateRefusal('backup-restic-password')).toMatch(/restic key add.*restic key remove/);
    expect(rotateRefusal('wp-db-password')).toBeUndefined();
  });
});
