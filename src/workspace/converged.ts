/**
 * Whether `up` can leave the playbook out: every node already has this
 * workspace's configuration, and the cluster is healthy
 * (docs/architecture.md#nothing-to-change).
 *
 * The configuration is everything under the workspace's ansible/: the roles,
 * site.yml, group_vars with the vault files, and the inventory `up` writes
 * from terraform's outputs or the lab. Its fingerprint is passed to the
 * playbook, whose last play records it on every node it configured
 * (/var/lib/ha-wordpress-converged, root only): a run that stops half-way
 * records nothing new, so its nodes still show the configuration before it.
 * `status`'s probe reads it back; PHP-FPM's drained reload (the wordpress
 * role) takes a node without it for one that serves nothing yet.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ClusterStatus } from '../commands/status.js';
import { problemSummary } from '../util/problems.js';

/** Where the playbook records the fingerprint on each node. */
export const CONVERGED_FILE = '/var/lib/ha-wordpress-converged';

/**
 * SHA-256 over every file under `<workspace>/ansible`, by path relative to
 * it, in a fixed order. Python's byte-code caches (Ansible compiles the
 * plugins it loads) and dot-files are not configuration.
 */
export async function configFingerprint(workspace: string): Promise<string> {
  const root = path.join(workspace, 'ansible');
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === '__pycache__' || e.name.endsWith('.pyc')) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() || e.isSymbolicLink()) {
        const body = await fs.readFile(path.join(root, p));
        // Length-prefixed: no two different trees hash the same bytes.
        hash.update(`${Buffer.byteLength(p)}:${p}:${body.length}:`).update(body);
      }
    }
  };
  await walk('');
  return hash.digest('hex');
}

/**
 * Why the playbook must run, or undefined when it need not: the cluster is
 * healthy and every node recorded this fingerprint. A node that cannot say
 * (unreachable, or an older probe) counts as not configured.
 */
export function whyConfigure(status: Pick<ClusterStatus, 'healthy' | 'problems' | 'nodes'>, fingerprint: string): string | undefined {
  const behind = status.nodes.filter((n) => n.converged !== fingerprint).map((n) => n.name);
  if (behind.length === status.nodes.length) return 'no node has this configuration yet';
  if (behind.length) return `${behind.join(', ')} ${behind.length === 1 ? 'does' : 'do'} not have this configuration yet`;
  if (!status.healthy) return `the cluster is not healthy (${problemSummary(status)})`;
  return undefined;
}
