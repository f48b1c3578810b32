/**
 * What `ha-wordpress drill` breaks, and what each break may cost. The
 * cluster's promise is that losing any one node, or one node of each tier at
 * once, keeps the site up: a single loss may cost under 5 s of outage, one of
 * each tier at once under 10 s; no acknowledged write may be lost; and
 * `status` must report the failure within 10 s.
 */
import { UsageError, UserError } from '../errors.js';

/** One node lost: the site may be down for less than this. */
export const SINGLE_MS = 5000;
/** One node of each tier lost at once. */
export const COMBINED_MS = 10_000;
/** `status` must report a break within this many seconds of it. */
export const DETECT_BUDGET_S = 10;

/** The lab's nodes by tier, in their order (HAProxy's first choice of writer is the first database node). */
export interface Cluster {
  web: string[];
  db: string[];
}

/** What the victims are chosen from, besides the tiers: who holds the reserved IP and which database node takes the writes, as `status` last saw it. */
export interface Seen {
  reserved_ip: { holder: string | null };
  galera?: { writer: string | null };
}

export interface Victim {
  name: string;
  /**
   * 'stop': a clean shutdown; 'kill': every process at once, like pulling the plug;
   * 'kill-php-fpm': the node stays up and only its PHP-FPM dies (SIGKILL, as the OOM killer does).
   */
  how: 'stop' | 'kill' | 'kill-php-fpm';
  why: string;
}

export interface Scenario {
  name: string;
  what: string;
  /** The longest outage allowed, ms; null: the site is expected down (the whole database tier) and only the recovery is judged. */
  budgetMs: number | null;
  /** Which nodes break, and how, given the cluster as status last saw it. */
  victims(c: Cluster, s: Seen): Victim[];
  /** Break the victims in turn, a few seconds apart (writes go on in between), rather than at once. */
  oneByOne?: boolean;
  /** The whole database tier: the restore is `up`, the recovery path a user takes. */
  restoreWithUp?: boolean;
  /** The lab's reserved-IP API behaves so while the scenario runs (docs/lab.md#the-reserved-ip): a slower assign, or busy. */
  reservedIpApi?: { delay_ms?: number; refuse_next?: number };
  /**
   * A planned change instead of a break (docs/operations.md#changing-the-cluster): the command it runs
   * under the same traffic and writes. Nothing breaks, so there is nothing for `status` to see; the
   * budget is what the change may cost.
   */
  operation?: Operation;
}

/** The changes to a live cluster a drill can run (drill.ts says how each one is run). */
export type Operation = 'rolling-upgrade' | 'scale-web' | 'scale-db' | 'replace-db' | 'resize-db';

/** A change's budget of 0: not one request may fail (web and HAProxy nodes are taken out before they are touched). */
export const NO_FAILED_REQUEST = 0;

const holder = (s: Seen): Victim => {
  if (!s.reserved_ip.holder) throw new UserError('no HAProxy node holds the reserved IP; run `ha-wordpress status`, then `ha-wordpress up`');
  return { name: s.reserved_ip.holder, how: 'stop', why: 'the HAProxy node holding the reserved IP' };
};
// With haproxy_single_writer (the default) HAProxy sends every query to one database node, and keeps it
// there after a failover (docs/cluster.md#one-writer-that-stays): the one status saw, else the first.
const writerDb = (c: Cluster, s: Seen): Victim => {
  const name = s.galera?.writer && c.db.includes(s.galera.writer) ? s.galera.writer : c.db[0]!;
  return { name, how: 'kill', why: 'the database node HAProxy sends queries to' };
};
const firstWeb = (c: Cluster): Victim => ({ name: c.web[0]!, how: 'stop', why: 'a web node' });

export const SCENARIOS: Scenario[] = [
  { name: 'haproxy-holder-stop', what: 'stop the HAProxy node that holds the reserved IP', budgetMs: SINGLE_MS, victims: (_c, s) => [holder(s)] },
  { name: 'galera-node-kill', what: 'hard-kill the Galera node taking the writes', budgetMs: SINGLE_MS, victims: (c, s) => [writerDb(c, s)] },
  { name: 'web-node-stop', what: 'stop one web node', budgetMs: SINGLE_MS, victims: (c) => [firstWeb(c)] },
  { name: 'one-of-each', what: 'one node of each tier at once', budgetMs: COMBINED_MS, victims: (c, s) => [holder(s), writerDb(c, s), firstWeb(c)] },
  // On request: the same single losses as a crash (no clean shutdown: the peer must notice missing VRRP adverts, the load balancer a dead backend).
  {
    name: 'haproxy-holder-kill',
    what: 'hard-kill the HAProxy node that holds the reserved IP',
    budgetMs: SINGLE_MS,
    victims: (_c, s) => [{ ...holder(s), how: 'kill' }],
  },
  // The same crash while DigitalOcean's API is slow, or busy: the failover script waits for the action, or asks again.
  {
    name: 'haproxy-holder-kill-slow-assign',
    what: 'hard-kill the HAProxy node that holds the reserved IP, with the assign action taking 5 s to complete',
    budgetMs: SINGLE_MS,
    victims: (_c, s) => [{ ...holder(s), how: 'kill' }],
    reservedIpApi: { delay_ms: 5000 },
  },
  {
    name: 'haproxy-holder-kill-busy-api',
    what: 'hard-kill the HAProxy node that holds the reserved IP, with the first assign refused ("pending event")',
    budgetMs: SINGLE_MS,
    victims: (_c, s) => [{ ...holder(s), how: 'kill' }],
    reservedIpApi: { refuse_next: 1 },
  },
  { name: 'web-node-kill', what: 'hard-kill one web node', budgetMs: SINGLE_MS, victims: (c) => [{ ...firstWeb(c), how: 'kill' }] },
  // The node still answers (nginx: 502) and only the health check, which goes through PHP-FPM, takes it out;
  // systemd starts PHP-FPM again by itself after a few seconds (the wordpress role's Restart=on-failure).
  {
    name: 'web-php-kill',
    what: "kill PHP-FPM on one web node (the node stays up; the load balancer's health check takes it out)",
    budgetMs: SINGLE_MS,
    victims: (c) => [{ name: c.web[0]!, how: 'kill-php-fpm', why: "a web node's PHP-FPM" }],
  },
  // Every database node down. Crashed all at once, Galera rebuilds its primary component by itself
  // when they all come back (pc.recovery, from each node's gvwstate.dat): starting the nodes is the
  // whole recovery, no `up`. Shut down one after another, as in maintenance or a staged power-off,
  // no node may start the cluster alone: the last to leave is marked safe_to_bootstrap, and `up`
  // (the galera role's recover mode) must pick it.
  {
    name: 'full-stop',
    what: 'shut every Galera node down, one after another, then recover with `up`',
    budgetMs: null,
    victims: (c) => c.db.map((name) => ({ name, how: 'stop', why: 'every database node' })),
    oneByOne: true,
    restoreWithUp: true,
  },
  {
    name: 'full-crash',
    what: 'hard-kill every Galera node at once, then start them again: the cluster re-forms by itself (no `up`)',
    budgetMs: null,
    victims: (c) => c.db.map((name) => ({ name, how: 'kill', why: 'every database node' })),
  },
  // Planned changes, on request (each takes minutes: they run up or upgrade): what an operator's change costs
  // under the same traffic and writes. Web and HAProxy nodes are taken out before they are touched, so no
  // request may fail; a Galera change may cost what losing one node costs, at most.
  {
    name: 'rolling-upgrade',
    what: "publish a point release (nftables, on every node) in the lab's updates channel, then `upgrade`: every node, one at a time",
    budgetMs: SINGLE_MS,
    victims: () => [],
    operation: 'rolling-upgrade',
  },
  {
    name: 'scale-web',
    what: '`scale --web-nodes N+1`, then back to N: a new web node joins, then leaves drained',
    budgetMs: NO_FAILED_REQUEST,
    victims: () => [],
    operation: 'scale-web',
  },
  {
    name: 'scale-db',
    what: '`scale --db-nodes N+2`, then back to N: two Galera nodes join by state transfer, then leave one at a time',
    budgetMs: SINGLE_MS,
    victims: () => [],
    operation: 'scale-db',
  },
  {
    name: 'replace-db',
    what: '`replace` of a Galera node that does not take the writes: taken out, made anew, joined again by state transfer',
    budgetMs: SINGLE_MS,
    victims: () => [],
    operation: 'replace-db',
  },
  {
    name: 'resize-db',
    what: "every Galera node resized (the lab: its container's limits) to half or twice its memory, then back, as up resizes: one at a time",
    budgetMs: SINGLE_MS,
    victims: () => [],
    operation: 'resize-db',
  },
];

/** What `drill` runs without --scenario: the four losses the cluster must survive by itself (the others on request). */
export const DEFAULT_SCENARIOS = ['haproxy-holder-stop', 'galera-node-kill', 'web-node-stop', 'one-of-each'];

/** --scenario's values (each may be a comma-separated list, or `all`) → the scenarios, in the order given. */
export function parseScenarios(given: string[] | undefined): Scenario[] {
  if (!given || given.length === 0) return SCENARIOS.filter((s) => DEFAULT_SCENARIOS.includes(s.name));
  const names = given
    .flatMap((g) => g.split(','))
    .map((n) => n.trim())
    .filter(Boolean);
  const choices = `choose from ${SCENARIOS.map((x) => x.name).join(', ')}, or all (every break)`;
  // An empty list would run nothing and report a pass.
  if (names.length === 0) throw new UsageError(`--scenario: no scenario named; ${choices}`);
  // `all`: every break; the planned changes (minutes each, and they change the cluster) only when named.
  if (names.includes('all')) return SCENARIOS.filter((s) => !s.operation);
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (!s) throw new UsageError(`--scenario: no scenario "${n}"; ${choices}`);
    return s;
  });
}
