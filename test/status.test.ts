/**
 * The verdict of `ha-wordpress status` (assess): which pictures of the
 * cluster are healthy and which are degraded, and what each problem says.
 * The real probe runs against the lab in test/lab.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { assess, table, type NodeStatus } from '../src/commands/status.js';
import { dbNode, lbNode, webNode } from './support/cluster.js';

function healthy(): NodeStatus[] {
  return [webNode(1), webNode(2), webNode(3), dbNode(1), dbNode(2), dbNode(3), lbNode(1), lbNode(2)];
}
const ctx = { dbNodes: 3, reservedIp: '203.0.113.50', url: 'http://shop.example.com/', siteAnswers: true };

describe('status: the verdict', () => {
  it('is healthy when every node is up, Galera is Synced with 3, backends are UP, one node holds the reserved IP and the site answers', () => {
    const s = assess(healthy(), ctx);
    expect(s.problems).toEqual([]);
    expect(s.healthy).toBe(true);
    expect(s.reserved_ip).toEqual({ address: '203.0.113.50', holder: 's-dblb-01' });
    expect(s.galera).toEqual({
      cluster_size: 3,
      synced: ['s-db-01', 's-db-02', 's-db-03'],
      primary: ['s-db-01', 's-db-02', 's-db-03'],
      writer: 's-db-01',
    });
  });

  it("names the writer from the reserved-IP holder's HAProxy, and HAProxy nodes that disagree on it (their peers connection is down)", () => {
    const moved = healthy();
    for (const i of [6, 7]) moved[i]!.writer = 's-db-02';
    expect(assess(moved, ctx).galera.writer).toBe('s-db-02');
    expect(assess(moved, ctx).healthy).toBe(true);

    const split = healthy();
    split[7]!.writer = 's-db-02';
    const s = assess(split, ctx);
    expect(s.galera.writer).toBe('s-db-01');
    expect(s.problems).toEqual([
      'the HAProxy nodes send writes to different database nodes (s-dblb-01: s-db-01, s-dblb-02: s-db-02): ' +
        "their peers connection (tcp 10000 between their private addresses) is down; check both nodes' HAProxy log",
    ]);

    // A stopped HAProxy has no table to compare (its service is the problem named); the running one still names the writer.
    const stopped = healthy();
    stopped[6]!.services.haproxy = 'inactive';
    stopped[6]!.writer = null;
    stopped[6]!.holds_reserved_ip = false;
    stopped[7]!.holds_reserved_ip = true;
    expect(assess(stopped, ctx).problems).toEqual(['s-dblb-01: haproxy is inactive']);
    expect(assess(stopped, ctx).galera.writer).toBe('s-db-01');
  });

  it('a node desynced by its running backup is out on purpose: not a problem, nor its DOWN backend until HAProxy has it back; desynced without one is', () => {
    const nodes = healthy();
    nodes[4]!.galera = { ...nodes[4]!.galera!, state: 'Donor/Desynced', backup_running: true };
    for (const i of [6, 7]) nodes[i]!.backends![1]!.status = 'DOWN';
    const s = assess(nodes, ctx);
    expect(s.problems).toEqual([]);
    expect(s.galera.synced).toEqual(['s-db-01', 's-db-03']);

    // Synced again, the backup still holds its lock while HAProxy's rise checks pass: the backend rising is not a problem yet.
    const rising = healthy();
    rising[4]!.galera = { ...rising[4]!.galera!, backup_running: true };
    rising[6]!.backends![1]!.status = 'DOWN 1/2';
    rising[7]!.backends![1]!.status = 'DOWN';
    expect(assess(rising, ctx).problems).toEqual([]);
    // The lock released, a backend still DOWN is one.
    rising[4]!.galera!.backup_running = false;
    expect(assess(rising, ctx).problems).toEqual(['s-dblb-01: backend s-db-02 is DOWN 1/2', 's-dblb-02: backend s-db-02 is DOWN']);

    // The backup ended but left the node desynced (or something else did): that is a problem again.
    const left = healthy();
    left[4]!.galera!.state = 'Donor/Desynced';
    left[6]!.backends![1]!.status = 'DOWN';
    expect(assess(left, ctx).problems).toEqual(['s-db-02: Galera is Donor/Desynced', 's-dblb-01: backend s-db-02 is DOWN']);

    // A backup running on a node that is not Synced for another reason (joining, say) excuses nothing.
    const joining = healthy();
    joining[4]!.galera = { ...joining[4]!.galera!, state: 'Joined', backup_running: true };
    expect(assess(joining, ctx).problems).toEqual(['s-db-02: Galera is Joined']);
  });

  it('a pending reboot is shown on its node and in a line of its own, and is not a problem', () => {
    const nodes = healthy();
    nodes[3]!.reboot_required = ['linux-image-6.1.0-31-amd64'];
    nodes[7]!.reboot_required = [];
    const s = assess(nodes, ctx);
    expect(s.healthy).toBe(true);
    const out = table(s);
    expect(out.find((l) => l.startsWith('s-db-01'))).toContain('reboot pending (linux-image-6.1.0-31-amd64)');
    expect(out.find((l) => l.startsWith('s-dblb-02'))).toMatch(/reboot pending$/);
    expect(out).toContain('reboot pending   s-db-01, s-dblb-02: installed updates take effect after a reboot; one node at a time, status healthy in between');
    expect(table(assess(healthy(), ctx)).some((l) => l.includes('reboot'))).toBe(false);
  });

  it('names a dead Galera node, the smaller cluster and the backend HAProxy marks DOWN', () => {
    const nodes = healthy();
    nodes[4] = { ...nodes[4]!, reachable: false, services: {}, galera: undefined, error: 'timed out' };
    for (const i of [3, 5]) nodes[i]!.galera!.cluster_size = 2;
    for (const i of [6, 7]) nodes[i]!.backends![1]!.status = 'DOWN';
    const s = assess(nodes, ctx);
    expect(s.healthy).toBe(false);
    expect(s.problems).toEqual([
      's-db-02: unreachable (timed out)',
      'Galera cluster size is 2, expected 3',
      's-dblb-01: backend s-db-02 is DOWN',
      's-dblb-02: backend s-db-02 is DOWN',
    ]);
  });

  it('names a stopped service, a failing health path, a Donor node, a lost or doubled reserved IP and a site that does not answer', () => {
    const nodes = healthy();
    nodes[0]!.services.nginx = 'inactive';
    nodes[1]!.healthz = 502;
    nodes[3]!.galera!.state = 'Donor/Desynced';
    nodes[6]!.holds_reserved_ip = false;
    expect(assess(nodes, { ...ctx, siteAnswers: false }).problems).toEqual([
      's-wp-01: nginx is inactive',
      's-wp-02: /healthz answers 502',
      's-db-01: Galera is Donor/Desynced',
      'no HAProxy node holds the reserved IP',
      'the site does not answer at http://shop.example.com/',
    ]);
    const both = healthy();
    both[7]!.holds_reserved_ip = true;
    expect(assess(both, ctx).problems).toEqual(['the reserved IP is claimed by s-dblb-01 and s-dblb-02']);
    expect(assess(both, ctx).reserved_ip.holder).toBeNull();
  });
});

describe('status: backups', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const hourly = { ...ctx, backups: { backupMaxAgeS: 2 * 3600, verifyMaxAgeS: 2 * 86400, now } };
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();

  it('reports the newest backup and verification any database node made, and none yet is not a problem', () => {
    const nodes = healthy();
    expect(assess(nodes, hourly).healthy).toBe(true);
    expect(assess(nodes, hourly).backup).toEqual({ last_backup: null, last_verify: null });
    nodes[3]!.backup = { last_backup: { time: at(90), ok: true, snapshot: 'aaaa1111' }, last_verify: { time: at(600), ok: true } };
    nodes[5]!.backup = { last_backup: { time: at(30), ok: true, snapshot: 'bbbb2222' }, last_verify: null };
    const s = assess(nodes, hourly);
    expect(s.problems).toEqual([]);
    expect(s.backup.last_backup).toEqual({ time: at(30), ok: true, snapshot: 'bbbb2222', node: 's-db-03' });
    expect(s.backup.last_verify?.node).toBe('s-db-01');
  });

  it('a failed newest backup or verification, or one older than twice its schedule, degrades the cluster with what to do', () => {
    const nodes = healthy();
    nodes[4]!.backup = {
      last_backup: { time: at(10), ok: false, error: 'Fatal: unable to open repository: 403 Forbidden' },
      last_verify: { time: at(60), ok: false, error: 'CHECK TABLE wp_posts: corrupt' },
    };
    nodes[5]!.backup = { last_backup: { time: at(70), ok: true, snapshot: 'bbbb2222' }, last_verify: null };
    expect(assess(nodes, hourly).problems).toEqual([
      'the last backup failed on s-db-02 (10 min ago): Fatal: unable to open repository: 403 Forbidden; fix it, then `ha-wordpress backup`',
      'the last backup verification failed on s-db-02 (60 min ago): CHECK TABLE wp_posts: corrupt; ' +
        'run `ha-wordpress backup --verify` to see it again, and take a new backup',
    ]);
    const stale = healthy();
    stale[3]!.backup = { last_backup: { time: at(121), ok: true, snapshot: 'aaaa1111' }, last_verify: { time: at(3 * 24 * 60), ok: true } };
    expect(assess(stale, hourly).problems).toEqual([
      'the last backup is 121 min old (the schedule allows 120 min): ' +
        'check `systemctl status ha-wordpress-backup.timer` on the database nodes, then `ha-wordpress backup`',
      'the last backup verification is 3 days old: run `ha-wordpress backup --verify`',
    ]);
    // A good backup whose keep-policy failed is named too.
    stale[3]!.backup = { last_backup: { time: at(5), ok: true, retention_error: 'restic forget: repository is already locked' }, last_verify: null };
    expect(assess(stale, hourly).problems).toEqual([
      'the last backup is good, but old snapshots were not removed on s-db-01: restic forget: repository is already locked; ' +
        'the next scheduled backup tries again (the bucket grows until one succeeds)',
    ]);
    // Just inside twice the schedule is fine.
    stale[3]!.backup = { last_backup: { time: at(119), ok: true }, last_verify: { time: at(47 * 60), ok: true } };
    expect(assess(stale, hourly).problems).toEqual([]);
  });
});

describe('status: how late a backup may be', () => {
  it('is twice the longest gap of the schedule (a weekday schedule allows for the weekend), the verification two days', async () => {
    const { backupExpectation } = await import('../src/commands/status.js');
    expect(backupExpectation('hourly', 0)).toEqual({ backupMaxAgeS: 2 * 3600, verifyMaxAgeS: 2 * 86400, now: 0 });
    expect(backupExpectation('*:0/30', 0).backupMaxAgeS).toBe(3600);
    expect(backupExpectation('*-*-* 02:30', 0).backupMaxAgeS).toBe(2 * 86400);
    // Friday 18:00 to Monday 00:00 is the longest gap: 54 h.
    expect(backupExpectation('Mon..Fri 0/6:00', 0).backupMaxAgeS).toBe(2 * 54 * 3600);
    // A hand edit that no longer parses: hourly, not no limit at all.
    expect(backupExpectation('every now and then', 0).backupMaxAgeS).toBe(2 * 3600);
  });

  it("with HTTPS, shows the load balancer's certificate and calls one that does not verify, expires within 14 days or is missing a problem", () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    const at = (days: number) => new Date(now + days * 86_400_000 + 3_600_000);
    const https = { ...ctx, url: 'https://shop.example.com/', now };
    const good = assess(healthy(), { ...https, certificate: { notAfter: at(60), verified: true } });
    expect(good.problems.filter((p) => /certificate|TLS/.test(p))).toEqual([]);
    expect(good.site.certificate).toEqual({ expires: at(60).toISOString(), days: 60, verified: true });

    const soon = assess(healthy(), { ...https, certificate: { notAfter: at(13), verified: true } }).problems.filter((p) => /certificate/.test(p));
    expect(soon).toHaveLength(1);
    expect(soon[0]).toMatch(/^the site's certificate expires in 13 days \(2026-12-14\): your own certificate: run `ha-wordpress init --tls-certificate/);
    expect(assess(healthy(), { ...https, certificate: { notAfter: at(14), verified: true } }).problems.filter((p) => /certificate/.test(p))).toEqual([]);

    const bad = assess(healthy(), { ...https, certificate: { notAfter: at(-1), verified: false, problem: 'CERT_HAS_EXPIRED' } });
    expect(bad.problems.filter((p) => /certificate/.test(p))[0]).toMatch(/^the site's certificate does not verify \(CERT_HAS_EXPIRED\)/);
    expect(assess(healthy(), { ...https, certificate: null }).problems).toContain('the load balancer completes no TLS handshake for https://shop.example.com/');
    expect(assess(healthy(), ctx).site.certificate).toBeUndefined();
  });
});
