/**
 * The arithmetic of `ha-wordpress drill` (what counts as an outage and as a
 * lost write), its scenario choice and its verdict, on their own. The drill
 * itself runs against the lab in test/lab.e2e.test.ts; its moving parts
 * (traffic, writer, watch) have their own tests.
 */
import { describe, expect, it } from 'vitest';
import { failures, reportTable, shortfalls, type ScenarioResult } from '../src/drill/report.js';
import { DEFAULT_SCENARIOS, parseScenarios, SCENARIOS, SINGLE_MS } from '../src/drill/scenarios.js';
import { longestOutage, lostWrites, parseIds } from '../src/drill/measure.js';

const every200 = (oks: boolean[], from = 0) => oks.map((ok, i) => ({ at: from + i * 200, ok }));

describe('drill: the longest outage', () => {
  it('is zero when every request succeeded', () => {
    expect(longestOutage(every200([true, true, true, true]), 800)).toBe(0);
  });

  it('runs from the first failed request sent to the first successful one after it', () => {
    // fails sent at 400, 600, 800; the next success is sent at 1000.
    expect(longestOutage(every200([true, true, false, false, false, true, true]), 1400)).toBe(600);
  });

  it('is the longest of several outages, not their sum', () => {
    const s = every200([true, false, true, false, false, false, false, true]);
    expect(longestOutage(s, 1600)).toBe(800);
  });

  it('counts an outage still open at the end up to the end of the window', () => {
    expect(longestOutage(every200([true, true, false, false]), 2000)).toBe(1600);
  });

  it('orders requests by when they were sent, not by when they were recorded (slow answers arrive late)', () => {
    const s = [
      { at: 400, ok: true },
      { at: 0, ok: true },
      { at: 200, ok: false },
    ];
    expect(longestOutage(s, 600)).toBe(200);
  });
});

describe('drill: lost writes', () => {
  it('is nothing when every node has every acknowledged row (extra unacknowledged rows are fine)', () => {
    const all = new Set([1, 2, 3, 4]);
    expect(lostWrites([1, 2, 3], [all, all, all])).toEqual([]);
  });

  it('names a row missing from any one node', () => {
    expect(lostWrites([1, 2, 3], [new Set([1, 2, 3]), new Set([1, 3]), new Set([1, 2, 3])])).toEqual([2]);
  });

  it('counts everything as lost when no node could be read', () => {
    expect(lostWrites([5, 4], [])).toEqual([4, 5]);
  });

  it('reads ids from mariadb -N -B output and refuses anything else', () => {
    expect([...parseIds('1\n2\n10\n')]).toEqual([1, 2, 10]);
    expect(parseIds('').size).toBe(0);
    expect(() => parseIds('1\nERROR 1146 (42S02): Table does not exist\n')).toThrow(/unexpected line/);
  });
});

describe('drill: scenarios', () => {
  it('runs the four losses the cluster must survive by itself by default, and full-stop only when asked', () => {
    expect(parseScenarios(undefined).map((s) => s.name)).toEqual(['haproxy-holder-stop', 'galera-node-kill', 'web-node-stop', 'one-of-each']);
    expect(DEFAULT_SCENARIOS).not.toContain('full-stop');
    expect(DEFAULT_SCENARIOS).not.toContain('full-crash');
    expect(parseScenarios(['full-stop,web-node-stop']).map((s) => s.name)).toEqual(['full-stop', 'web-node-stop']);
    expect(parseScenarios(['all'])).toHaveLength(SCENARIOS.filter((s) => !s.operation).length);
  });

  it('holds single losses to 5 s and one of each tier to 10 s, and judges the whole database tier by its recovery only', () => {
    const budget = Object.fromEntries(SCENARIOS.map((s) => [s.name, s.budgetMs]));
    expect(budget).toEqual({
      'haproxy-holder-stop': 5000,
      'galera-node-kill': 5000,
      'web-node-stop': 5000,
      'one-of-each': 10_000,
      'haproxy-holder-kill': 5000,
      'haproxy-holder-kill-slow-assign': 5000,
      'haproxy-holder-kill-busy-api': 5000,
      'web-node-kill': 5000,
      'web-php-kill': 5000,
      'full-stop': null,
      'full-crash': null,
      'rolling-upgrade': 5000,
      'scale-web': 0,
      'scale-db': 5000,
      'replace-db': 5000,
      'resize-db': 5000,
    });
  });

  it('picks its victims from the cluster: the reserved-IP holder, the database node taking writes, the first web node', () => {
    const cluster = { web: ['s-wp-01', 's-wp-02', 's-wp-03'], db: ['s-db-01', 's-db-02', 's-db-03'] };
    const status = { reserved_ip: { address: '10.0.0.3', holder: 's-dblb-02' } } as Parameters<(typeof SCENARIOS)[number]['victims']>[1];
    const each = SCENARIOS.find((s) => s.name === 'one-of-each')!.victims(cluster, status);
    expect(each.map((v) => [v.name, v.how])).toEqual([
      ['s-dblb-02', 'stop'],
      ['s-db-01', 'kill'],
      ['s-wp-01', 'stop'],
    ]);
    // After a failover the writer stays where HAProxy moved it: the node status saw taking the writes is the one killed.
    const moved = { ...status, galera: { writer: 's-db-02' } };
    expect(
      SCENARIOS.find((s) => s.name === 'galera-node-kill')!
        .victims(cluster, moved)
        .map((v) => v.name),
    ).toEqual(['s-db-02']);
    expect(SCENARIOS.find((s) => s.name === 'one-of-each')!.victims(cluster, moved)[1]!.name).toBe('s-db-02');
    const noHolder = { reserved_ip: { address: '10.0.0.3', holder: null } } as typeof status;
    expect(() => SCENARIOS[0]!.victims(cluster, noHolder)).toThrow(/no HAProxy node holds the reserved IP/);
  });

  it('has crash variants of the single losses on request: the holder and the web node killed rather than shut down, or only its PHP-FPM', () => {
    const cluster = { web: ['s-wp-01', 's-wp-02'], db: ['s-db-01', 's-db-02', 's-db-03'] };
    const status = { reserved_ip: { address: '10.0.0.3', holder: 's-dblb-01' } } as Parameters<(typeof SCENARIOS)[number]['victims']>[1];
    const of = (name: string) =>
      SCENARIOS.find((s) => s.name === name)!
        .victims(cluster, status)
        .map((v) => `${v.how} ${v.name}`);
    expect(of('haproxy-holder-kill')).toEqual(['kill s-dblb-01']);
    // The same crash while the lab's reserved-IP API is slow (an assign in progress for 5 s) or busy (the first refused).
    expect(of('haproxy-holder-kill-slow-assign')).toEqual(['kill s-dblb-01']);
    expect(SCENARIOS.find((s) => s.name === 'haproxy-holder-kill-slow-assign')!.reservedIpApi).toEqual({ delay_ms: 5000 });
    expect(of('haproxy-holder-kill-busy-api')).toEqual(['kill s-dblb-01']);
    expect(SCENARIOS.find((s) => s.name === 'haproxy-holder-kill-busy-api')!.reservedIpApi).toEqual({ refuse_next: 1 });
    expect(of('web-node-kill')).toEqual(['kill s-wp-01']);
    expect(DEFAULT_SCENARIOS).not.toContain('haproxy-holder-kill');
    // Only PHP-FPM dies; the node stays up.
    expect(of('web-php-kill')).toEqual(['kill-php-fpm s-wp-01']);
    expect(DEFAULT_SCENARIOS).not.toContain('web-php-kill');
  });

  it('full-stop: one node after another (one left safe to bootstrap), recovered by up; full-crash: all at once, only started again', () => {
    const cluster = { web: ['s-wp-01'], db: ['s-db-01', 's-db-02', 's-db-03'] };
    const status = { reserved_ip: { address: '10.0.0.3', holder: 's-dblb-01' } } as Parameters<(typeof SCENARIOS)[number]['victims']>[1];
    const stop = SCENARIOS.find((s) => s.name === 'full-stop')!;
    const crash = SCENARIOS.find((s) => s.name === 'full-crash')!;
    expect(stop.victims(cluster, status).map((v) => `${v.how} ${v.name}`)).toEqual(['stop s-db-01', 'stop s-db-02', 'stop s-db-03']);
    expect(stop.oneByOne).toBe(true);
    expect(crash.victims(cluster, status).map((v) => v.how)).toEqual(['kill', 'kill', 'kill']);
    expect(crash.oneByOne).toBeFalsy();
    expect(stop.restoreWithUp).toBe(true);
    // After a crash of every node Galera re-forms the cluster from its saved view: starting the nodes is the recovery.
    expect(crash.restoreWithUp).toBeFalsy();
  });

  it('runs planned changes (upgrade, scale, replace, resize) only when named: all is every break, none of them', () => {
    const changes = ['rolling-upgrade', 'scale-web', 'scale-db', 'replace-db', 'resize-db'];
    expect(parseScenarios(['all']).every((s) => !s.operation)).toBe(true);
    const named = parseScenarios([changes.join(',')]);
    expect(named.map((s) => [s.name, s.operation])).toEqual(changes.map((c) => [c, c]));
    // No request may fail while web nodes come and go; a Galera change may cost what losing one node does.
    expect(named.map((s) => s.budgetMs)).toEqual([SINGLE_MS, 0, SINGLE_MS, SINGLE_MS, SINGLE_MS]);
    for (const s of named) expect(s.victims({ web: ['w1'], db: ['d1'] }, { reserved_ip: { holder: 'h1' } })).toEqual([]);
  });

  it('refuses an unknown scenario with the flag and the choices', () => {
    expect(() => parseScenarios(['web-node-stop,reboot-everything'])).toThrow(
      new RegExp(
        '--scenario: no scenario "reboot-everything"; choose from haproxy-holder-stop, .*web-php-kill, full-stop, full-crash, ' +
          'rolling-upgrade, scale-web, scale-db, replace-db, resize-db, or all \\(every break\\)',
      ),
    );
  });

  it('refuses a --scenario that names nothing (it would run nothing and pass)', () => {
    expect(() => parseScenarios([' , '])).toThrow(/--scenario: no scenario named; choose from haproxy-holder-stop, .*, or all/);
  });
});

describe('drill: the verdict and the report', () => {
  const ok: ScenarioResult = {
    name: 'galera-node-kill',
    requests: 140,
    failed: 3,
    longest_outage_ms: 600,
    healed_s: 12.4,
    writes_acknowledged: 130,
    writes_lost: 0,
    writes_failed: 2,
    detected_s: 4.1,
    broken: ['s-db-01'],
    budget_ms: 5000,
    passed: true,
  };

  it('passes a scenario that healed, lost nothing, stayed under its budget and was seen by status within 10 s', () => {
    expect(shortfalls(ok)).toEqual([]);
    expect(shortfalls({ ...ok, budget_ms: null, longest_outage_ms: 90_000 })).toEqual([]);
    expect(shortfalls({ ...ok, detected_s: 10 })).toEqual([]);
  });

  it('names each shortfall: not healed, lost writes, over budget (the budget itself is over), status late or blind', () => {
    expect(shortfalls({ ...ok, healed_s: null })).toEqual(['galera-node-kill did not heal']);
    expect(shortfalls({ ...ok, writes_lost: 2 })).toEqual(['galera-node-kill lost 2 acknowledged writes']);
    expect(shortfalls({ ...ok, longest_outage_ms: 5000 })).toEqual(['galera-node-kill: 5.0 s outage (budget 5 s)']);
    expect(shortfalls({ ...ok, detected_s: 10.1 })).toEqual(['galera-node-kill: status did not report the failure within 10 s']);
    expect(shortfalls({ ...ok, detected_s: null })).toEqual(['galera-node-kill: status did not report the failure within 10 s']);
  });

  it('judges a planned change without a break to see: a budget of 0 means not one failed request', () => {
    const change: ScenarioResult = { ...ok, name: 'scale-web', failed: 0, longest_outage_ms: 0, detected_s: null, budget_ms: 0, change: { duration_s: 312.4 } };
    expect(shortfalls(change)).toEqual([]);
    expect(shortfalls({ ...change, failed: 1, longest_outage_ms: 200 })).toEqual(['scale-web: 1 requests failed (none may)']);
    expect(shortfalls({ ...change, name: 'replace-db', budget_ms: 5000, failed: 3, longest_outage_ms: 600 })).toEqual([]);
    expect(shortfalls({ ...change, writes_lost: 1 })).toEqual(['scale-web lost 1 acknowledged writes']);
    const lines = reportTable([ok, change]);
    expect(lines[0]!.split(/\s{2,}/).at(-1)).toBe('DURATION');
    expect(lines[1]!.split(/\s{2,}/).slice(-2)).toEqual(['-', 'ok']);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['scale-web', '140', '0', '0.0 s', 'none fails', '-', '12.4 s', '130', '0', '312.4 s', 'ok']);
  });

  it('counts the scenarios that never ran as a failure', () => {
    expect(failures([ok], 3)).toEqual(['2 scenarios not run']);
    expect(failures([{ ...ok, healed_s: null, passed: false }], 1)).toEqual(['galera-node-kill did not heal']);
  });

  it('prints one aligned row per scenario, "never" for what did not happen and "-" for no budget', () => {
    const lines = reportTable([ok, { ...ok, name: 'full-stop', budget_ms: null, healed_s: null, detected_s: null, passed: false }]);
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      'SCENARIO',
      'REQUESTS',
      'FAILED',
      'LONGEST OUTAGE',
      'BUDGET',
      'STATUS SAW IT',
      'HEALED AFTER',
      'WRITES ACKED',
      'LOST',
    ]);
    expect(lines[1]!.split(/\s{2,}/)).toEqual(['galera-node-kill', '140', '3', '0.6 s', '< 5 s', '4.1 s', '12.4 s', '130', '0', 'ok']);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['full-stop', '140', '3', '0.6 s', '-', 'never', 'never', '130', '0', 'FAILED']);
    // Aligned: every column starts at the same offset on every line.
    const at = (line: string, cell: string) => line.indexOf(cell);
    expect(at(lines[1]!, '140')).toBe(at(lines[0]!, 'REQUESTS'));
    expect(at(lines[2]!, 'never')).toBe(at(lines[0]!, 'STATUS SAW IT'));
  });
});
