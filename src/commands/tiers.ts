/**
 * How a node is taken out of its tier and brought back, over SSH as the
 * admin user (sudo without a password): the steps `upgrade` runs around a
 * node's packages and `up` runs before a node leaves for good
 * (docs/operations.md#one-node-at-a-time).
 *
 * - A web node: nginx stops, and its stop drains first (the drain script in
 *   nginx's ExecStop: /healthz fails until the load balancer has taken the
 *   node out; docs/cluster.md#a-clean-stop-drains). WordPress's cron timer
 *   stops with it; the other web nodes run the events meanwhile.
 * - An HAProxy node: HAProxy stops, and on the reserved IP's holder its stop
 *   hands the IP over first (haproxy-handover: the peer takes it); then
 *   keepalived. Started again, keepalived comes back as the backup
 *   (nopreempt): the IP stays where it is.
 * - A Galera node: desynced first, so its health check answers 503 and
 *   HAProxy sends new connections (the writes too) elsewhere; then MariaDB
 *   stops, a clean leave. Started again it rejoins by IST. Its backup timers
 *   stop first (a backup that runs is waited for) and start again if they
 *   are enabled.
 */

export type Tier = 'wp_node' | 'galera_loadbalancer' | 'galera_cluster_node';

export const PHP_FPM_UNIT = 'php8.2-fpm.service';

const BACKUP_TIMERS = ['ha-wordpress-backup.timer', 'ha-wordpress-backup-verify.timer'];
/** What the backup program holds while it runs (the backup role's state directory). */
const BACKUP_LOCK = '/var/lib/ha-wordpress-backup/lock';

export const TAKE_OUT: Record<Tier, string> = {
  wp_node: 'sudo -n systemctl stop ha-wordpress-wp-cron.timer nginx.service',
  galera_loadbalancer: 'sudo -n systemctl stop haproxy.service && sudo -n systemctl stop keepalived.service',
  // No backup starts from now on (a glob stops only the timers that are loaded: a cluster without backups has none, and
  // that is no error), and one that runs is waited for (it holds its lock file) rather than cut off and failed.
  galera_cluster_node:
    "sudo -n systemctl stop 'ha-wordpress-backup*.timer' && " +
    `sudo -n sh -c '[ ! -e ${BACKUP_LOCK} ] || flock -w 1800 ${BACKUP_LOCK} true' && ` +
    "sudo -n mariadb -e 'SET GLOBAL wsrep_desync = ON' && sleep 3 && sudo -n systemctl stop mariadb.service",
};

/** The services again, on a node whose packages may be new: every service of its tier restarted, so none runs old code. */
export const BRING_BACK: Record<Tier, string> = {
  wp_node: `sudo -n systemctl restart ${PHP_FPM_UNIT} && sudo -n systemctl start nginx.service ha-wordpress-wp-cron.timer`,
  galera_loadbalancer: 'sudo -n systemctl start haproxy.service && sudo -n systemctl start keepalived.service',
  galera_cluster_node:
    'sudo -n systemctl start mariadb.service && ' +
    `for t in ${BACKUP_TIMERS.join(' ')}; do ! sudo -n systemctl is-enabled -q "$t" || sudo -n systemctl start "$t" || exit 1; done`,
};

/** Who takes the writes and who holds the reserved IP: each goes last in its tier. */
export interface Roles {
  writer?: string | null;
  holder?: string | null;
}

const TIER_RANK: Record<Tier, number> = { wp_node: 0, galera_loadbalancer: 1, galera_cluster_node: 2 };

/**
 * The order a rolling change costs least in: web nodes (the load balancer
 * has the others), then the HAProxy node without the reserved IP before its
 * holder, then the Galera nodes with the writer last (every other node is
 * back and Synced before the writes move); by number within a tier. Resizes,
 * leaving nodes and upgrades all go in it.
 */
export function leastCostOrder<T>(items: T[], of: (t: T) => { tier: string; name: string }, roles: Roles = {}): T[] {
  const rank = (t: T) => {
    const { tier, name } = of(t);
    return (isTier(tier) ? TIER_RANK[tier] : 3) * 10 + (name === roles.holder || name === roles.writer ? 1 : 0);
  };
  return [...items].sort((a, b) => rank(a) - rank(b) || of(a).name.localeCompare(of(b).name, 'en', { numeric: true }));
}

export const isTier = (group: string): group is Tier => group in TAKE_OUT;

export const TIER_NAME: Record<Tier, string> = { wp_node: 'web', galera_loadbalancer: 'haproxy', galera_cluster_node: 'galera' };

/**
 * How a tier's droplets are named and declared (terraform/web.tf, database.tf; the lab's containers alike):
 * `<project>-<prefix>-NN` is `digitalocean_droplet.<resource>[NN-1]`.
 */
export const DROPLET: Record<Tier, { prefix: string; resource: string }> = {
  wp_node: { prefix: 'wp', resource: 'web' },
  galera_cluster_node: { prefix: 'db', resource: 'db' },
  galera_loadbalancer: { prefix: 'dblb', resource: 'dblb' },
};

export const nodeName = (project: string, tier: Tier, i: number) => `${project}-${DROPLET[tier].prefix}-${String(i).padStart(2, '0')}`;
