/**
 * Droplet resizes, one droplet at a time (docs/operations.md#resize).
 *
 * The provider resizes a droplet in place by shutting it down, resizing and
 * powering it on again, and terraform applies every droplet of a tier in
 * parallel: a changed `--db-size` would stop all three Galera nodes at once,
 * a full crash of the cluster. `up` instead plans and applies each resized
 * droplet on its own (`terraform plan -target`), in an order that costs the
 * least (web nodes, then the HAProxy node without the reserved IP, then its
 * holder, then the Galera nodes with the writer last), and once the cluster
 * has held data, gates every droplet: the cluster healthy before it, the
 * node taken out of its tier (drained, the reserved IP handed over,
 * desynced) so the shutdown costs nothing, and the cluster healthy again
 * after it, before the next. The first droplet that does not
 * come back stops it; `up` again resizes the rest. The lab's resizes (a
 * container's limits, lab/limits.ts) take the same path: rollResizes.
 */
import { CancelledError, UserError } from '../errors.js';
import * as tf from '../runners/terraform.js';
import { problemSummary as problem, untilHealthy } from '../util/problems.js';
import type { ClusterStatus } from './status.js';
import { leastCostOrder, type Roles, type Tier } from './tiers.js';

/** The terraform resource of each tier's droplets. */
const TIER_OF: Record<string, Tier> = { web: 'wp_node', dblb: 'galera_loadbalancer', db: 'galera_cluster_node' };

/** The tier of a droplet address: `digitalocean_droplet.db[1]` → the Galera nodes. */
const tierOf = (address: string) => TIER_OF[/digitalocean_droplet\.(\w+)/.exec(address)?.[1] ?? ''] ?? '';

/**
 * The order to resize in: the cheapest loss first. Web nodes (the load
 * balancer has the others), the HAProxy node without the reserved IP before
 * its holder, the Galera nodes with the writer last (every other node is
 * resized and Synced before the writes move).
 */
export function resizeOrder(resized: tf.Resize[], roles: Roles = {}): tf.Resize[] {
  return leastCostOrder(resized, (r) => ({ tier: tierOf(r.address), name: r.name }), roles);
}

/** The cluster's health, asked again for each gate; undefined when the cluster has no data to protect yet. */
export type Probe = () => Promise<Pick<ClusterStatus, 'healthy' | 'problems' | 'galera' | 'reserved_ip'>>;

/** What the gates need, on either target. */
interface Gates {
  probe?: Probe;
  /** How long a resized node may take to be healthy again. */
  backWithinMs?: number;
  /** How often the gate asks meanwhile. */
  everyMs?: number;
  /** The command that continues after a stop (`ha-wordpress up`). */
  resume: string;
  progress: (line: string) => void;
  /**
   * Whether a Ctrl-C asked to stop at the next safe point (runners/process.ts stopRequested): after a node is resized
   * and the cluster healthy again, before the next.
   */
  stopRequested?: () => boolean;
  /**
   * Takes a node out of its tier before it is shut down (tiers.ts TAKE_OUT: drained, the reserved IP handed over,
   * desynced), once the cluster holds data; it fails when the node could not be taken out cleanly. The node's
   * services start again at its boot.
   */
  takeOut?: (name: string) => Promise<void>;
}

export interface ResizeRun extends Gates {
  run: tf.TerraformRun;
  resized: tf.Resize[];
  /** terraform's plan and apply (tests give their own). */
  terraform?: Pick<typeof tf, 'plan' | 'apply'>;
}

/** Resizes each droplet on its own, gated; returns the names in the order they were resized. */
export async function applyResizes(r: ResizeRun): Promise<string[]> {
  const terraform = r.terraform ?? tf;
  const address = new Map(r.resized.map((x) => [x.name, x.address]));
  return rollResizes({
    ...r,
    resized: r.resized.map((x) => ({ name: x.name, from: x.from, to: x.to, tier: tierOf(x.address) })),
    what: 'droplet',
    // Only this droplet, and nothing lost: a targeted plan that would replace or delete anything is not a resize.
    prepare: async (one) => {
      const at = address.get(one.name)!;
      const planned = await terraform.plan(r.run, { target: [at] });
      const others = planned.resized.filter((x) => x.address !== at);
      if (planned.replaced.length || planned.deleted.length || others.length || !planned.resized.some((x) => x.address === at))
        throw new UserError(`${one.name} was not resized: its plan (terraform plan -target=${at}) is not just its resize; run \`${r.resume}\` to plan again`);
    },
    // A Ctrl-C does not cut a droplet's resize short: it is shut down, resized and started by then.
    apply: () => terraform.apply({ ...r.run, holdFirstInterrupt: true }, tf.RESIZE_PLAN_FILE),
  });
}

/** One node to resize: a droplet on DigitalOcean, a container's limits in the lab. */
export interface Resizing {
  name: string;
  from: string;
  to: string;
  tier: Tier | '';
}

export interface RollingResize extends Gates {
  resized: Resizing[];
  /** What is shut down for a resize, for the messages: "droplet" or "container". */
  what: string;
  /** Before the node is taken out: a check that may still refuse it, with nothing changed. */
  prepare?: (one: Resizing) => Promise<void>;
  /** The resize itself: the node is shut down, resized and started again. */
  apply: (one: Resizing) => Promise<void>;
}

/**
 * The rolling path either target's resize takes: in the order that costs least, each node prepared, taken out (once
 * the cluster holds data), resized, and the cluster healthy again before the next; returns the names in that order.
 */
export async function rollResizes(r: RollingResize): Promise<string[]> {
  const backWithin = r.backWithinMs ?? 15 * 60_000;
  let roles: Roles = {};
  if (r.probe) {
    const s = await r.probe();
    if (!s.healthy)
      throw new UserError(
        `nothing was resized: the cluster is not healthy (${problem(s)}); a resize takes a node out, so fix that first, then run \`${r.resume}\``,
      );
    roles = { writer: s.galera.writer, holder: s.reserved_ip.holder };
  }
  const done: string[] = [];
  // Healthy before the first; each later one follows a gate that waited for healthy again.
  const order = leastCostOrder(r.resized, (x) => x, roles);
  for (const one of order) {
    r.progress(`${one.name}: ${one.from} → ${one.to} (the ${r.what} is shut down for it)`);
    await r.prepare?.(one);
    if (r.probe && r.takeOut) {
      r.progress(`${one.name}: taking it out of its tier first`);
      await r.takeOut(one.name).catch((err: Error) => {
        throw new UserError(
          `${one.name} was not resized: it could not be taken out of its tier cleanly (${err.message}); ` +
            `nothing else was resized: see \`ha-wordpress status\`, then run \`${r.resume}\``,
        );
      });
    }
    await r.apply(one);
    if (r.probe)
      await untilHealthy(
        r.probe,
        { withinMs: backWithin, everyMs: r.everyMs ?? 5000 },
        (s) =>
          new UserError(
            `${one.name} was resized but the cluster is not healthy ${Math.round(backWithin / 60_000)} min later (${problem(s)}); ` +
              `nothing else was resized: once \`ha-wordpress status\` says healthy, run \`${r.resume}\` to resize the rest`,
          ),
      );
    done.push(one.name);
    const rest = order.filter((x) => !done.includes(x.name)).map((x) => x.name);
    if (rest.length && r.stopRequested?.()) {
      const [keeps, them] = rest.length === 1 ? ['keeps its', 'it'] : ['keep their', 'them'];
      throw new CancelledError(
        `resize stopped at Ctrl-C after ${one.name}, which is resized${r.probe ? ' and the cluster healthy again' : ''}; ` +
          `${rest.join(', ')} ${keeps} size: run \`${r.resume}\` to resize ${them}`,
      );
    }
  }
  return done;
}
