/**
 * Nodes that leave the cluster leave it cleanly first (docs/operations.md#scale-down).
 *
 * A lower `--web-nodes` or `--db-nodes` deletes the highest-numbered
 * droplets (or lab containers). Deleted as they run, a web node drops the
 * requests it is serving and a Galera node vanishes from the cluster
 * without a word. So before the deletion `up` takes each leaving node out
 * the way a clean stop does, one at a time: a web node drains (its
 * /healthz fails while it waits, twice as long as a clean stop does, for
 * the load balancer to take it out; then nginx stops), a Galera node
 * desyncs (HAProxy sends new connections elsewhere), then leaves the
 * cluster as MariaDB stops; the writer last. After each, the cluster
 * without the leaving nodes must be healthy before the next.
 */
import { CancelledError, UserError } from '../errors.js';
import { stopRequested } from '../runners/process.js';
import type { Host } from '../workspace/inventory.js';
import { problemSummary as problem, untilHealthy } from '../util/problems.js';
import { assess, type ClusterStatus, type NodeStatus } from './status.js';
import { leastCostOrder, TAKE_OUT } from './tiers.js';
import { lastLine } from './operate.js';

/** How a leaving node is taken out, by its group (tiers.ts). */
const LEAVE: Record<string, string> = {
  // The drain (docs/cluster.md#a-clean-stop-drains), once more before the one nginx's stop runs: a node
  // that leaves for good can give the load balancer twice the time to take it out. Cron runs on the others.
  wp_node: `sudo -n /usr/local/lib/ha-wordpress/drain && ${TAKE_OUT.wp_node}`,
  galera_cluster_node: TAKE_OUT.galera_cluster_node,
};

export interface RetireRun {
  leaving: Host[];
  /** The whole cluster's status, leaving nodes included. */
  probe: () => Promise<ClusterStatus>;
  /** Runs a command on a node over SSH; its exit code. */
  exec: (h: Host, command: string) => Promise<{ code: number | null; stderr: string }>;
  resume: string;
  progress: (line: string) => void;
  /** How long the rest may take to be healthy after one node left. */
  settleWithinMs?: number;
  everyMs?: number;
}

/**
 * The status as it will be once these nodes are gone: they are left out,
 * and so are HAProxy's backends for them and the cluster size they made.
 */
export function without(s: ClusterStatus, gone: Set<string>): ClusterStatus {
  const nodes = s.nodes.filter((n) => !gone.has(n.name)).map((n) => (n.backends ? { ...n, backends: n.backends.filter((b) => !gone.has(b.server)) } : n));
  return assess(nodes, {
    dbNodes: nodes.filter((n) => n.group === 'galera_cluster_node').length,
    reservedIp: s.reserved_ip.address,
    url: s.site.url,
    siteAnswers: s.site.answers,
  });
}

/** Takes the leaving nodes out one at a time; returns their names in that order. */
export async function retireNodes(r: RetireRun): Promise<string[]> {
  const first = await r.probe();
  // Leaving nodes that are out already (unreachable, or taken out by an up that stopped after it) are skipped;
  // the rest of the cluster must be healthy before anything leaves.
  const out = new Map(
    r.leaving.flatMap((h) => {
      const why = outAlready(first.nodes.find((n) => n.name === h.name));
      return why ? [[h.name, why] as const] : [];
    }),
  );
  const gone = new Set(out.keys());
  const before = without(first, gone);
  if (!before.healthy) throw new UserError(`no node was removed: the cluster is not healthy (${problem(before)}); fix that first, then run \`${r.resume}\``);
  const writer = first.galera.writer;
  const order = leastCostOrder(r.leaving, (h) => ({ tier: h.group, name: h.name }), { writer });
  for (const h of order) {
    const leave = LEAVE[h.group];
    if (!leave) throw new UserError(`${h.name} cannot be removed: only web and database nodes can`);
    if (out.has(h.name)) {
      r.progress(`${h.name}: already out (${out.get(h.name)})`);
      continue;
    }
    r.progress(`${h.name}: ${h.group === 'wp_node' ? 'draining from the load balancer' : 'leaving the Galera cluster'}`);
    const done = await r.exec(h, leave);
    if (done.code !== 0)
      throw new UserError(`${h.name} could not be taken out cleanly (${lastLine(done)}); nothing was deleted: ` + `fix it, then run \`${r.resume}\``);
    gone.add(h.name);
    // The rest, judged without the nodes that left.
    await untilHealthy(
      () => r.probe().then((x) => without(x, gone)),
      { withinMs: r.settleWithinMs ?? 5 * 60_000, everyMs: r.everyMs ?? 3000 },
      (s) =>
        new UserError(
          `${h.name} is out, but the rest of the cluster is not healthy (${problem(s)}); nothing was deleted: ` +
            `once \`ha-wordpress status\` shows the rest healthy, run \`${r.resume}\``,
        ),
    );
    // A Ctrl-C meanwhile (scale, replace): this node is out and the rest healthy, a safe point to stop at.
    const next = order.slice(order.indexOf(h) + 1).filter((x) => !out.has(x.name));
    if (stopRequested() && next.length)
      throw new CancelledError(
        `stopped at Ctrl-C after ${h.name} left (the rest is healthy without it); ` +
          `${next.map((x) => x.name).join(', ')} still serve${next.length === 1 ? 's' : ''}, and nothing was deleted: run \`${r.resume}\` to go on`,
      );
  }
  return order.map((h) => h.name);
}

/** Why a node is out of its tier already, or undefined while it serves. */
function outAlready(n: NodeStatus | undefined): string | undefined {
  if (!n) return 'not in the status';
  if (!n.reachable) return 'unreachable';
  if (n.group === 'wp_node' && n.services.nginx !== 'active') return `nginx is ${n.services.nginx ?? 'unknown'}`;
  if (n.group === 'galera_cluster_node' && n.services.mariadb !== 'active') return `mariadb is ${n.services.mariadb ?? 'unknown'}`;
  return undefined;
}
