/**
 * The cluster's monthly droplet cost from the live size prices (init's
 * region list and summary, up's plan summary). The load balancer is not in
 * the sizes API, so callers say "plus the load balancer".
 */
import type { Size } from './client.js';

export interface ClusterShape {
  webSize: string;
  dbSize: string;
  lbSize: string;
  webNodes: number;
  dbNodes: number;
}

/** HAProxy nodes are always a pair. */
export const DB_LB_NODES = 2;

export const dropletCount = (c: Pick<ClusterShape, 'webNodes' | 'dbNodes'>) => c.webNodes + c.dbNodes + DB_LB_NODES;

/** Sizes that can be ordered in `region`, cheapest first. */
export function sizesIn(sizes: Size[], region: string): Size[] {
  return sizes.filter((z) => z.available && z.regions.includes(region)).sort((a, b) => a.priceMonthly - b.priceMonthly);
}

/** Dollars per month for the droplets, or undefined when a size is not offered in the region. */
export function monthlyCost(sizes: Size[], region: string, c: ClusterShape): number | undefined {
  const offered = new Map(sizesIn(sizes, region).map((z) => [z.slug, z.priceMonthly]));
  const web = offered.get(c.webSize);
  const db = offered.get(c.dbSize);
  const lb = offered.get(c.lbSize);
  if (web === undefined || db === undefined || lb === undefined) return undefined;
  return web * c.webNodes + db * c.dbNodes + lb * DB_LB_NODES;
}
