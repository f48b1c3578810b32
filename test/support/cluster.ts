/**
 * What `status` learns from each node (NodeStatus), for tests that give its
 * verdict a picture of the cluster: `s-wp-0N`, `s-db-0N` and `s-dblb-0N`,
 * healthy unless told otherwise.
 */
import type { NodeStatus } from '../../src/commands/status.js';

export const webNode = (i: number, over: Partial<NodeStatus> = {}): NodeStatus => ({
  name: `s-wp-0${i}`,
  group: 'wp_node',
  address: `10.0.0.1${i}`,
  reachable: true,
  services: { nginx: 'active', 'php8.2-fpm': 'active' },
  healthz: 200,
  ...over,
});

/** A Galera node in a cluster of `size`. */
export const dbNode = (i: number, size = 3, over: Partial<NodeStatus> = {}): NodeStatus => ({
  name: `s-db-0${i}`,
  group: 'galera_cluster_node',
  address: `10.0.0.2${i}`,
  reachable: true,
  services: { mariadb: 'active' },
  galera: { state: 'Synced', cluster_size: size, primary: true },
  ...over,
});

/** An HAProxy node with these Galera nodes UP as its backends; node 1 holds the reserved IP. */
export const lbNode = (i: number, dbs = [1, 2, 3], writer = 's-db-01'): NodeStatus => ({
  name: `s-dblb-0${i}`,
  group: 'galera_loadbalancer',
  address: `10.0.0.3${i}`,
  reachable: true,
  services: { haproxy: 'active', keepalived: 'active' },
  holds_reserved_ip: i === 1,
  backends: dbs.map((j) => ({ server: `s-db-0${j}`, status: 'UP' })),
  writer,
});
